"""One place turns bad input into a message and an exit status: the stages and the CLI alike."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.errors import InputError, friendly_errors


def test_input_error_is_one_line_and_status_1(capsys):
    @friendly_errors
    def stage(path):
        raise InputError(f"{path}: line 3: expected 2 columns")

    with pytest.raises(SystemExit) as exit_:
        stage("labels.csv")
    assert exit_.value.code == 1
    assert capsys.readouterr().err == "error: labels.csv: line 3: expected 2 columns\n"


def test_other_errors_are_bugs_and_keep_their_traceback():
    @friendly_errors
    def stage():
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        stage()


def test_the_cli_reports_bad_input_the_same_way():
    r = CliRunner().invoke(main, ["predict", "--model", "."])
    assert r.exit_code == 1
    assert "error: predict: give VIDEOS" in r.output and "Traceback" not in r.output
