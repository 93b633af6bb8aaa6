"""The ablation queue: one experiment per table row, overrides as the paper's rows need."""

from __future__ import annotations

from pipeline.evaluation.ablations import TABLES, experiments, queue_commands, report


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
