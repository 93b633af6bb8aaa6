"""params.yaml parsing: the repository's own file is valid, and bad values fail clearly."""

from __future__ import annotations

import pytest
import yaml

from pipeline.config import Params, ParamsError, load_params, parse_params
from tests.helpers.repo import REPO


def test_repository_params_are_valid():
    params = load_params(REPO / "params.yaml")
    assert isinstance(params, Params)
    assert params.data.root == "data/raw/demo"


def test_every_params_section_is_a_known_section():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    assert set(raw) <= set(Params.model_fields)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"data": {"format": "affwild3"}},
            "data.format: unknown data set format 'affwild3' (allowed: afewva, affwild, affwild2)",
        ),
        ({"split": {"val_fraction": 1.5}}, "split.val_fraction: Input should be less than 1"),
        (
            {"parallel": {"n_jobs": 0}},
            "parallel.n_jobs: Input should be greater than or equal to 1",
        ),
        (
            {"ingest": {"length_mismatch": "pad"}},
            "ingest.length_mismatch: Input should be 'error' or 'truncate'",
        ),
        ({"split": {"seeed": 1}}, "split.seeed: unknown key (allowed: seed, "),
        ({"nonsense": {}}, "nonsense: unknown key (allowed: data, split, "),
        ({"demo": {"min_frames": 50, "max_frames": 20}}, "max_frames (20) < min_frames (50)"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(raw, expected):
    with pytest.raises(ParamsError) as info:
        parse_params(raw, "params.yaml")
    assert expected in str(info.value)
    assert str(info.value).startswith("params.yaml: invalid parameters")


def test_all_problems_listed_together():
    with pytest.raises(ParamsError) as info:
        parse_params({"data": {"format": "x"}, "split": {"seed": "abc"}})
    assert "data.format" in str(info.value) and "split.seed" in str(info.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ParamsError, match="no such file"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("data: [unclosed")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(tmp_path / "params.yaml")
