"""The whole DAG for real, in a throw-away copy of the repository, with tiny params:
`dvc repro` (the session's shared run, ``tiny_run``), then stages forced to run again, the
seed runs and an experiment, as a user would run them."""

from __future__ import annotations

import json
import sys

import pytest

from tests.helpers.repo import first_lock_difference, native_log_lines

FORCED = ("train_rnn", "train_svr", "evaluate")
FLAT = {"ccc_valence", "ccc_arousal", "ccc_mean", "mse_valence", "mse_arousal", "ccc_mean_lo",
        "ccc_mean_hi"}  # fmt: skip


@pytest.mark.slow
def test_dvc_repro_whole_dag_then_an_experiment(tiny_run, tiny_copy):
    # The whole `dvc repro` with tiny params ran once for the session (conftest.tiny_run).
    assert native_log_lines((tiny_run / "repro.log").read_text()) == []  # the stages' own lines
    repo_copy = tiny_copy
    root = repo_copy.root

    for model in ("cnn", "cnn_rnn", "svr"):
        m = json.loads((root / "metrics" / f"{model}.json").read_text())
        assert set(m) == FLAT, m  # flat: one narrow row of `dvc metrics show` per model
        for dim in ("valence", "arousal"):
            assert -1 <= m[f"ccc_{dim}"] <= 1 and m[f"mse_{dim}"] >= 0
        assert m["ccc_mean_lo"] <= m["ccc_mean_hi"]
    report = json.loads((root / "reports/evaluate.json").read_text())
    assert report["frames"]["labelled"] >= report["frames"]["with_face"] > 0
    assert {"with_face", "all_frames", "intervals"} <= set(report["models"]["cnn"])
    kept = json.loads((root / "dvclive/train_cnn/metrics.json").read_text())
    assert kept["epoch"] == 0 and "val_loss" not in kept  # the kept epoch, flat keys
    for name in (
        "fig_traces.png",
        "fig_histogram.png",
        "fig_va_density.png",
        "trace_valence.csv",
        "trace_arousal.csv",
    ):
        assert (root / "plots" / name).stat().st_size > 0, name
    assert (root / "data/predictions/test.parquet").exists()
    assert (root / "dvclive/train_cnn/plots/metrics/val_ccc.tsv").exists()

    shown = repo_copy.run(
        "env", "COLUMNS=160", sys.executable, "-m", "dvc", "metrics", "show"
    ).stdout
    assert "metrics/cnn_rnn.json" in shown and "ccc_valence" in shown
    assert max(len(line) for line in shown.splitlines()) <= 160, shown
    assert "per_video" not in shown and "val_loss" not in shown
    plots = repo_copy.dvc("plots", "show", "-o", "dvc_plots").stdout
    assert (root / "dvc_plots" / "index.html").exists(), plots

    # Nothing changed: nothing is stale, nothing runs again (no output is written anew).
    assert repo_copy.stale("dvc.yaml") == set()
    assert repo_copy.repro() == set()
    # A stage forced to run again gives the same bytes: dvc.lock does not change (no timing,
    # date or host name in any output; seeded training on one machine). The data stages are
    # checked against the committed hashes (test_reproducibility.py), train_cnn, features and
    # a train_rnn on cached features by the kill-anywhere runs (test_kill_anywhere.py): here
    # the others, train_rnn end to end with augmentation among them.
    lock = (root / "dvc.lock").read_text()
    for stage in FORCED:
        repo_copy.dvc("repro", "-f", "-s", stage)
    assert first_lock_difference(lock, (root / "dvc.lock").read_text()) is None

    # The seed runs, one command: seed 1 beside the main run's seed 0, collected.
    repo_copy.dvc("repro", "seeds/dvc.yaml")
    summary = json.loads((root / "seeds/report.json").read_text())
    assert summary["seeds"] == [0, 1] and summary["models"]["cnn"]["seeds"] == [0, 1]
    assert summary["models"]["svr"]["seeds"] == [0]
    assert set(json.loads((root / "seeds/mean/cnn_rnn.json").read_text())) == FLAT
    assert "±" in (root / "seeds/report.md").read_text()
    shown = repo_copy.run(
        "env", "COLUMNS=160", sys.executable, "-m", "dvc", "metrics", "show"
    ).stdout
    assert "seeds/mean/cnn.json" in shown
    assert max(len(line) for line in shown.splitlines()) <= 160, shown

    repo_copy.commit("the seed runs")
    repo_copy.dvc(
        "exp",
        "run",
        "-n",
        "demo-t9-lstm",
        "-S",
        "model.rnn=lstm",
        "-S",
        "model.rnn_units=8",
        "-S",
        "model.rnn_layers=2",
    )
    exps = repo_copy.dvc("exp", "show", "--json").stdout
    assert "demo-t9-lstm" in exps
    assert "demo-t9-lstm" in repo_copy.dvc("exp", "show", "--csv").stdout

    report = repo_copy.run(
        "affwild", "ablations", "report", "--profile", "demo", "--out", "ablations.md"
    )
    text = (root / "ablations.md").read_text()
    lstm_row = next(line for line in text.splitlines() if line.startswith("| LSTM (peephole)"))
    assert lstm_row.split("|")[2].strip() == "1", lstm_row  # one run (no seed suffix)
    assert "–" not in lstm_row.split("|")[3], (report.stdout, lstm_row)
