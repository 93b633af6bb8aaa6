"""Profiles (profiles/*.yaml): composed by DVC's own override code, validated, run as
`dvc exp run -S ...`; the demo profile is params.yaml, the paper profile the paper's setting."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from pipeline import profiles
from pipeline.cli import main
from pipeline.config import load_params
from pipeline.errors import InputError
from tests.helpers.repo import REPO


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def test_the_demo_profile_composes_to_params_yaml():
    raw = profiles.composed("demo")
    assert raw == yaml.safe_load((REPO / "params.yaml").read_text())
    assert profiles.validate("demo") == load_params(REPO / "params.yaml")


def test_the_demo_profile_sets_every_key_the_paper_profile_sets():
    """So that either profile, run after the other, leaves nothing of it behind."""
    demo = profiles.flatten(profiles.load_profile("demo"))
    paper = profiles.flatten(profiles.load_profile("paper"))
    assert set(paper) <= set(demo)


def test_the_paper_profile_is_the_papers_configuration():
    p = profiles.validate("paper")
    assert p.model.backbone.name == "vgg_face" and p.model.backbone.options.model_dump() == {}
    assert profiles.composed("paper")["model"]["backbone"] == {"name": "vgg_face"}  # no width
    assert p.model.init.endswith("vgg_face.h5")  # a placeholder: validates without the file
    assert (p.model.landmarks, p.model.heads, p.model.dropout) == (True, "separate", 0.5)
    assert (p.model.rnn, p.model.gru, p.model.rnn_layers, p.model.rnn_units) == ("gru", "tf1", 2, 128)  # fmt: skip
    assert p.crop.size == p.train_cnn.image_size == p.train_rnn.image_size == 224
    assert p.shard.seq_len == 100
    assert p.balance.method == "paper"
    for t in (p.train_cnn, p.train_rnn):
        assert (t.learning_rate, t.decay_rate, t.decay_steps, t.augment) == (1e-3, 0.97, 400, False)
    assert p.train_cnn.batch_size == 80
    assert p.train_rnn.freeze_cnn is False


def test_the_weights_file_is_checked_when_training_starts(tmp_path):
    from pipeline.training.run import _check_init_file

    with pytest.raises(InputError, match="model.init: /path/to/vgg_face.h5: no such weights file"):
        _check_init_file(profiles.validate("paper").model.init)
    weights = tmp_path / "w.h5"
    weights.write_bytes(b"")
    _check_init_file(str(weights))
    _check_init_file("random")


def test_differences_from_the_paper():
    diff = {k: (a, b) for k, a, b in profiles.differences(profiles.composed("demo"),
                                                            profiles.composed("paper"))}  # fmt: skip
    assert diff["model.backbone"] == ({"name": "small", "width": 16}, {"name": "vgg_face"})
    assert diff["train_rnn.freeze_cnn"] == (True, False)
    assert "parallel.n_jobs" not in diff
    assert profiles.differences(profiles.composed("paper"), profiles.composed("paper")) == []


@pytest.mark.parametrize(
    "value",
    ["/w/vgg face.h5", "null", "a,b", "it's", "C:\\w\\x.h5", "C:\\w\\", "a\\'b", "1e-3", 3, 0.97, None, True,
     [0.43, 0.24], {"name": "small", "width": 8}],
)  # fmt: skip
def test_values_survive_dvcs_override_parser(tmp_path, value):
    base = tmp_path / "params.yaml"
    base.write_text("x:\n  y: 0\nmodel:\n  backbone:\n    name: z\n    other: 1\n")
    key = "model.backbone" if isinstance(value, dict) else "x.y"  # a mapping: replaced whole
    raw = profiles.compose(profiles.set_params({key: value}), base)
    got = raw["model"]["backbone"] if isinstance(value, dict) else raw["x"]["y"]
    assert got == (list(value) if isinstance(value, list) else value)


def test_a_bad_profile_or_override_is_one_clear_error(tmp_path):
    with pytest.raises(InputError, match="profiles/nope.yaml: no such profile"):
        profiles.load_profile("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [1, 2]\n")
    with pytest.raises(InputError, match="bad.yaml: expected a mapping"):
        profiles.load_profile(bad)
    with pytest.raises(InputError, match="model.rnn: Input should be 'gru' or 'lstm'"):
        profiles.validate("paper", ["model.rnn=foo"])


def test_exp_run_dry_prints_the_dvc_command():
    r = CliRunner().invoke(main, ["exp", "run", "--profile", "paper", "--dry",
                                  "-S", "data.root=/data/Aff-Wild"])  # fmt: skip
    assert r.exit_code == 0, r.output
    cmd = r.output.strip().splitlines()[-1]
    assert cmd.startswith("dvc exp run -S crop.size=224 ")
    assert "-S '~model.backbone' -S '+model.backbone={name:vgg_face}'" in cmd
    assert cmd.endswith("-S train_rnn.patience=5 -S data.root=/data/Aff-Wild")
    r = CliRunner().invoke(main, ["exp", "run", "--profile", "paper", "--dry", "-S", "x.y=1"])
    assert r.exit_code == 1 and "Could not override 'x.y'" in r.output


@pytest.mark.slow
def test_exp_run_on_a_real_dvc_repository(tmp_path, monkeypatch):
    """`affwild exp run --profile paper` → `dvc exp run`: the stage sees the composed params
    and `dvc exp show` lists the profile's keys (the demo backbone's width gone)."""
    run = dict(cwd=tmp_path, check=True, capture_output=True, text=True)
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    (tmp_path / "profiles").mkdir()
    for name in ("paper", "demo"):
        (tmp_path / "profiles" / f"{name}.yaml").write_text(profiles.profile_path(name).read_text())
    (tmp_path / "dvc.yaml").write_text(
        'stages:\n  show:\n    cmd: python -c "import yaml; print(yaml.safe_load(open('
        "'params.yaml'))['model'])\" > out.txt\n    params: [model]\n    outs: [out.txt]\n"
    )
    for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "t@t"],
                ["git", "config", "user.name", "t"], [sys.executable, "-m", "dvc", "init", "-q"],
                ["git", "add", "-A"], ["git", "commit", "-qm", "init"]):  # fmt: skip
        subprocess.run(cmd, **run)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["exp", "run", "--profile", "paper", "-n", "p1"])
    assert r.exit_code == 0, r.output
    assert "'backbone': {'name': 'vgg_face'}" in (tmp_path / "out.txt").read_text()
    shown = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--csv"], **run).stdout
    header, *rows = csv.reader(io.StringIO(shown))
    assert "model.backbone.name" in header and "model.backbone.width" in header  # baseline's
    cols = dict(zip(header, next(r for r in rows if r[0] == "p1"), strict=True))
    assert cols["model.backbone.name"] == "vgg_face" and cols["model.backbone.width"] == ""
    assert cols["model.gru"] == "tf1" and cols["train_cnn.image_size"] == "224"
