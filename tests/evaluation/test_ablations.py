"""The ablation queue: one experiment per table row, overrides as the paper's rows need."""

from __future__ import annotations

from pipeline.evaluation.ablations import (
    TABLES,
    collect_metrics,
    experiments,
    queue_commands,
    report,
)


def test_rows_become_experiments_with_their_overrides():
    exps = experiments(["8", "9"], {})
    assert len(exps) == 6 + 2
    assert exps["t8-gru-150x1"] == {
        "model.rnn": "gru",
        "model.rnn_units": "150",
        "model.rnn_layers": "1",
    }
    assert exps["t9-lstm"]["model.rnn"] == "lstm"


def test_extra_overrides_do_not_replace_a_rows_own_setting():
    exps = experiments(["4"], {"model.init": "/w/vgg_face.h5", "data.root": "/d"})
    assert exps["t4-vgg-face"]["model.init"] == "/w/vgg_face.h5"
    assert exps["t4-vgg16"]["model.init"] == "imagenet"
    assert all(e["data.root"] == "/d" for e in exps.values())


def test_queue_commands_and_empty_report():
    cmds = queue_commands(["7"], {})
    assert cmds == [["dvc", "exp", "run", "--queue", "-n", "t7-cnn-rnn"]]
    text = report({})
    for t in TABLES:
        assert f"## Table {t.key}:" in text
    assert "Not run yet:" in text


def test_table_4_is_the_papers_setting():
    """Scenario 2 (landmarks) at 224 px, as the paper's Table 4 ran."""
    for name, o in experiments(["4"], {}).items():
        assert o["model.landmarks"] == "true", name
        assert o["crop.size"] == o["train_cnn.image_size"] == "224", name


def test_seeds_become_experiments_and_the_report_shows_mean_sd_and_interval():
    exps = experiments(["5"], {}, seeds=[0, 1, 2])
    assert sorted(exps) == [
        f"t5-{r}-s{s}" for r in ("landmarks", "no-landmarks") for s in (0, 1, 2)
    ]
    assert (
        exps["t5-landmarks-s2"]["train_cnn.seed"]
        == exps["t5-landmarks-s2"]["train_rnn.seed"]
        == "2"
    )
    cmds = queue_commands(["7"], {}, seeds=[4])
    assert cmds == [["dvc", "exp", "run", "--queue", "-n", "t7-cnn-rnn-s4",
                     "-S", "train_cnn.seed=4", "-S", "train_rnn.seed=4"]]  # fmt: skip

    def flat(v, lo, hi):
        return {"ccc_valence": v, "ccc_arousal": 0.5, "ccc_mean": (v + 0.5) / 2,
                "mse_valence": 0.1, "mse_arousal": 0.2, "ccc_mean_lo": lo, "ccc_mean_hi": hi}  # fmt: skip

    # what `dvc exp show --json` gives: the main metrics files, the seed runs' and the
    # training logs (which must not be mistaken for the evaluation's)
    show = [{"rev": "workspace", "data": {}, "experiments": [
        {"name": f"t5-landmarks-s{s}", "data": {"metrics": {
            "metrics/cnn.json": {"data": flat(v, 0.3, 0.7)},
            "seeds/runs/1/metrics/cnn.json": {"data": flat(0.0, 0.0, 0.0)},
            "dvclive/train_cnn/metrics.json": {"data": {"ccc_valence": 0.99}},
        }}}
        for s, v in ((0, 0.4), (1, 0.6), (2, 0.5))
    ]}]  # fmt: skip
    measured = collect_metrics(show)
    assert measured["t5-landmarks-s1"]["cnn"]["ccc_valence"] == 0.6
    assert set(measured["t5-landmarks-s1"]) == {"cnn"}
    text = report(measured)
    row = next(line for line in text.splitlines() if line.startswith("| with landmarks |"))
    assert "| 3 | 0.50 ± 0.10 | 0.50 ± 0.00 |" in row and "[0.30, 0.70]" in row
    assert "t5-landmarks" not in text.split("Not run yet:")[-1]
