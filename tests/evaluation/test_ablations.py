"""The ablation queue: one experiment per table row from a profile (its keys, then --set,
then the row's), and a report that names the profile and how it differs from the paper."""

from __future__ import annotations

import shlex

import pytest
from click.testing import CliRunner

from pipeline import profiles
from pipeline.cli import main
from pipeline.evaluation.ablations import (
    TABLES,
    collect_metrics,
    experiments,
    queue_commands,
    report,
)
from tests.helpers.repo import REPO


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)  # profiles/ and params.yaml


def _sets(cmd: list[str]) -> list[str]:
    return [cmd[i + 1] for i, c in enumerate(cmd) if c == "-S"]


def test_rows_become_experiments_with_the_profiles_keys_then_their_own():
    exps = experiments(["8", "9"], {})
    assert len(exps) == 6 + 2
    paper = profiles.profile_overrides("paper")
    e = exps["paper-t8-gru-150x1"]
    assert {k: e[k] for k in ("model.rnn", "model.rnn_units", "model.rnn_layers")} == {
        "model.rnn": "gru", "model.rnn_units": "150", "model.rnn_layers": "1"}  # fmt: skip
    assert {k: v for k, v in e.items() if k not in ("model.rnn_units", "model.rnn_layers")} == {
        k: v for k, v in paper.items() if k not in ("model.rnn_units", "model.rnn_layers")}  # fmt: skip
    assert exps["paper-t9-lstm"]["model.rnn"] == "lstm"
    assert "demo-t9-lstm" in experiments(["9"], {}, profile="demo")


def test_extra_overrides_do_not_replace_a_rows_own_setting():
    exps = experiments(["4"], {"model.init": "/w/vgg_face.h5", "data.root": "/d"})
    assert exps["paper-t4-vgg-face"]["model.init"] == "/w/vgg_face.h5"
    assert exps["paper-t4-vgg16"]["model.init"] == "imagenet"
    assert all(e["data.root"] == "/d" for e in exps.values())


def test_queued_commands_compose_to_the_papers_setting():
    """Every queued experiment of the paper profile, composed by DVC's override code: the
    paper's configuration with the row's change (Table 4: scenario 2 at 224 px)."""
    cmds = queue_commands(["4", "5", "7", "9"], {}, seeds=[0])
    by_name = {c[c.index("-n") + 1]: c for c in cmds}
    assert all(c[:4] == ["dvc", "exp", "run", "--queue"] for c in cmds)
    for name in ("paper-t4-vgg16-s0", "paper-t5-no-landmarks-s0", "paper-t7-cnn-rnn-s0"):
        p = profiles.compose(_sets(by_name[name]))
        assert p["crop"]["size"] == p["train_cnn"]["image_size"] == 224
        assert p["train_cnn"]["seed"] == p["train_rnn"]["seed"] == 0
        assert p["model"]["heads"] == "separate" and p["model"]["gru"] == "tf1"
        assert p["train_rnn"]["freeze_cnn"] is False
    t4 = profiles.compose(_sets(by_name["paper-t4-vgg16-s0"]))
    assert t4["model"]["backbone"] == "vgg16" and t4["model"]["landmarks"] is True
    t5 = profiles.compose(_sets(by_name["paper-t5-no-landmarks-s0"]))
    assert t5["model"]["landmarks"] is False and t5["model"]["backbone"] == {"name": "vgg_face"}


def test_the_demo_profile_queues_the_demo_setting():
    (cmd,) = queue_commands(["7"], {}, profile="demo")
    assert cmd[:6] == ["dvc", "exp", "run", "--queue", "-n", "demo-t7-cnn-rnn"]
    p = profiles.compose(_sets(cmd))
    assert p == profiles.composed("demo")  # Table 7's row changes nothing


def test_the_queue_command_dry_run_and_a_bad_override():
    r = CliRunner().invoke(main, ["ablations", "queue", "--dry-run", "--tables", "9",
                                  "--seeds", "1"])  # fmt: skip
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    assert [line.split(" -n ")[1].split()[0] for line in lines] == ["paper-t9-gru-s1",
                                                                    "paper-t9-lstm-s1"]  # fmt: skip
    r = CliRunner().invoke(main, ["ablations", "queue", "--dry-run", "--profile", "demo",
                                  "--tables", "9", "--set", "train_cnn.batch_size=0"])  # fmt: skip
    assert r.exit_code == 1 and "train_cnn.batch_size" in r.output and "dvc exp run" not in r.output


def test_the_report_names_its_profile_and_how_it_differs_from_the_paper():
    text = report({}, "demo")
    assert "Profile: `demo` (profiles/demo.yaml)" in text
    assert "- `train_rnn.freeze_cnn`: `true` (paper profile: `false`)" in text
    assert '- `model.backbone`: `{"name": "small", "width": 16}` (paper profile: `{"name": "vgg_face"}`)' in text  # fmt: skip
    assert "parallel." not in text
    assert "paper: CCC V" in text and "the paper's own numbers" in text
    for t in TABLES:
        assert f"## Table {t.key}:" in text
    assert "Not run yet: demo-t4-resnet50" in text
    paper = report({})
    assert "Profile: `paper`" in paper
    assert "differ from the paper's configuration (profiles/paper.yaml): none." in paper


def test_seeds_become_experiments_and_the_report_shows_mean_sd_and_interval():
    exps = experiments(["5"], {}, seeds=[0, 1, 2], profile="demo")
    assert sorted(exps) == [
        f"demo-t5-{r}-s{s}" for r in ("landmarks", "no-landmarks") for s in (0, 1, 2)
    ]
    assert (
        exps["demo-t5-landmarks-s2"]["train_cnn.seed"]
        == exps["demo-t5-landmarks-s2"]["train_rnn.seed"]
        == "2"
    )

    def flat(v, lo, hi):
        return {"ccc_valence": v, "ccc_arousal": 0.5, "ccc_mean": (v + 0.5) / 2,
                "mse_valence": 0.1, "mse_arousal": 0.2, "ccc_mean_lo": lo, "ccc_mean_hi": hi}  # fmt: skip

    # what `dvc exp show --json` gives: the main metrics files, the seed runs' and the
    # training logs (which must not be mistaken for the evaluation's); a paper run too
    show = [{"rev": "workspace", "data": {}, "experiments": [
        {"name": f"demo-t5-landmarks-s{s}", "data": {"metrics": {
            "metrics/cnn.json": {"data": flat(v, 0.3, 0.7)},
            "seeds/runs/1/metrics/cnn.json": {"data": flat(0.0, 0.0, 0.0)},
            "dvclive/train_cnn/metrics.json": {"data": {"ccc_valence": 0.99}},
        }}}
        for s, v in (("0", 0.4), ("1", 0.6), ("2", 0.5))
    ] + [{"name": "paper-t5-landmarks-s0", "data": {"metrics": {
        "metrics/cnn.json": {"data": flat(0.9, 0.8, 0.95)}}}}]}]  # fmt: skip
    measured = collect_metrics(show)
    assert measured["demo-t5-landmarks-s1"]["cnn"]["ccc_valence"] == 0.6
    assert set(measured["demo-t5-landmarks-s1"]) == {"cnn"}
    text = report(measured, "demo")
    row = next(line for line in text.splitlines() if line.startswith("| with landmarks |"))
    assert "| 3 | 0.50 ± 0.10 | 0.50 ± 0.00 |" in row and "[0.30, 0.70]" in row
    assert "demo-t5-landmarks" not in text.split("Not run yet:")[-1]
    paper_row = next(
        line for line in report(measured).splitlines() if line.startswith("| with landmarks |")
    )
    assert "| 1 | 0.90 |" in paper_row


def _queue_t6(root, *more):
    args = ["ablations", "queue", "--dry-run", "--profile", "demo", "--tables", "5,6",
            "--seeds", "0", "--set", f"data.root={root}", *more]  # fmt: skip
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    return r.output.strip().splitlines()


def test_table_6_is_queued_where_the_demo_carries_each_annotators_labels(tmp_path):
    from pipeline.config import DemoConfig
    from pipeline.demo import generate_demo

    demo = tmp_path / "demo"
    generate_demo(demo, DemoConfig(n_train=2, n_test=1, min_frames=12, max_frames=14))
    lines = _queue_t6(demo)
    names = [line.split(" -n ")[1].split()[0] for line in lines]
    assert names == ["demo-t5-landmarks-s0", "demo-t5-no-landmarks-s0",
                     "demo-t6-one-annotator-s0", "demo-t6-mean-s0"]  # fmt: skip
    one, mean = (
        shlex.split(lines[names.index(f"demo-t6-{r}-s0")]) for r in ("one-annotator", "mean")
    )
    assert profiles.compose(_sets(one))["data"]["annotator"] == "best"
    assert profiles.compose(_sets(mean))["data"]["annotator"] is None
    assert profiles.compose(_sets(one))["data"]["root"] == str(demo)
    t6 = next(t for t in TABLES if t.key == "6")
    assert [r.paper for r in t6.rows] == [(0.35, 0.25, 0.18, 0.14), (0.46, 0.35, 0.10, 0.09)]


def test_table_6_is_skipped_with_the_reason_without_per_annotator_labels(tmp_path):
    from tests.helpers.datasets import make_affwild, make_affwild2

    root = make_affwild(tmp_path / "aw", {"a1": ("train", 5), "t1": ("test", 5)})
    lines = _queue_t6(root)
    assert lines[0] == (
        f"# Table 6 not queued: {root} carries no per-annotator labels (none for a1)"
    )
    assert not [line for line in lines if "t6-" in line] and len(lines) == 3  # Table 5 queued
    aw2 = make_affwild2(tmp_path / "aw2")
    lines = _queue_t6(aw2, "--set", "data.format=affwild2")
    assert lines[0] == (
        "# Table 6 not queued: the affwild2 layout ships no per-annotator labels, only their mean"
    )
    lines = _queue_t6(tmp_path / "nowhere")
    assert lines[0].startswith(
        f"# Table 6 not queued: data.root {tmp_path / 'nowhere'} is not here"
    )
