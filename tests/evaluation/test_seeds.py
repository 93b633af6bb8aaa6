"""Collecting the seed runs: mean ± sd over seeds, bootstrap intervals over test videos,
claims only where the intervals support them; the stage on real parquet files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from pipeline.artifacts import FillRule, SeedsReport
from pipeline.errors import InputError
from pipeline.evaluation import seeds as sd
from pipeline.evaluation.evaluate import predictions_table, score
from pipeline.evaluation.metrics import ccc
from pipeline.io import write_parquet

N_VIDEOS, N = 6, 50


def _grid(seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(N)
    val = np.concatenate([np.sin(t / 7 + v) * 0.6 for v in range(N_VIDEOS)])
    aro = np.concatenate([np.cos(t / 5 + v) * 0.5 for v in range(N_VIDEOS)])
    g = {
        "video_id": np.repeat([f"v{v}" for v in range(N_VIDEOS)], N).astype(object),
        "frame": np.tile(t, N_VIDEOS),
        "valence": val,
        "arousal": aro,
        "face": rng.uniform(size=N * N_VIDEOS) > 0.1,
    }
    g["mask"] = g["face"].copy()
    g["labelled"] = np.ones(N * N_VIDEOS, bool)
    return g


def _write(path, g, noise: dict[str, float], seed: int):
    rng = np.random.default_rng(100 + seed)
    truth = np.stack([g["valence"], g["arousal"]], 1)
    preds = {
        m: (truth + rng.normal(0, s, truth.shape)).astype(np.float32) for m, s in noise.items()
    }
    write_parquet(predictions_table(g, preds, np.zeros(len(truth), bool)), path)
    return preds


def test_collect_mean_sd_interval_and_claims(tmp_path):
    g = _grid()
    runs, preds = {}, {}
    for s in (0, 1, 2):
        # cnn_rnn clearly better than cnn; "twin" as good as cnn_rnn (not distinguishable)
        preds[s] = _write(
            tmp_path / f"{s}.parquet", g, {"cnn": 0.5, "cnn_rnn": 0.1, "twin": 0.1}, s
        )
        runs[s] = sd.load_run(tmp_path / f"{s}.parquet")
    out = sd.collect(runs, n_boot=300, seed=0)
    assert out.seeds == [0, 1, 2] and out.frames == N * N_VIDEOS and out.videos == N_VIDEOS
    per_seed = [ccc(g["valence"], preds[s]["cnn"][:, 0]) for s in (0, 1, 2)]
    row = out.models["cnn"]
    assert row.metrics["ccc_valence"] == pytest.approx(np.mean(per_seed), abs=1e-4)
    assert row.sd["ccc_valence"] == pytest.approx(np.std(per_seed, ddof=1), abs=1e-4)
    assert row.per_seed["1"]["ccc_valence"] == pytest.approx(per_seed[1], abs=1e-4)
    f = row.metrics
    lo, hi = row.intervals["ccc_valence"]
    assert lo < f["ccc_valence"] < hi and f["ccc_mean_lo"] < f["ccc_mean"] < f["ccc_mean_hi"]
    c = out.comparisons
    assert c["cnn_rnn vs cnn"]["ccc_mean"].verdict == "higher"
    assert c["twin vs cnn_rnn"]["ccc_mean"].verdict == "not distinguishable here"
    text = sd.markdown(out)
    assert "± " in text and "not distinguishable here" in text and "CNN-RNN" in text
    assert f"{f['ccc_mean']:.3f} ± {row.sd['ccc_mean']:.3f}" in text

    # seeds/report.json: each sd beside the other keys as <metric>_sd; read back the same
    out.write_file(tmp_path / "report.json")
    raw = json.loads((tmp_path / "report.json").read_text())
    assert list(raw["models"]["cnn"]) == [
        "seeds", "per_seed", "ccc_valence_sd", "ccc_arousal_sd", "ccc_mean_sd", "mse_valence_sd",
        "mse_arousal_sd", "intervals", "metrics",
    ]  # fmt: skip
    assert raw["models"]["cnn"]["ccc_valence_sd"] == row.sd["ccc_valence"]
    assert SeedsReport.read_file(tmp_path / "report.json") == out


def test_the_window_check_over_seeds(tmp_path):
    # A CNN-RNN whose prediction jumps by 1 into every 10th frame of each video, and moves
    # by the run's step elsewhere: the ratio per run, its mean and sd; the markdown says it.
    g = _grid()
    g["face"][:] = True
    starts = (g["frame"] % 10 == 0) & (g["frame"] > 0)
    runs = {}
    for s, step in ((0, 0.1), (1, 0.2)):
        trace = np.cumsum(np.where(starts, 1.0, step)) * np.ones((2, 1))
        pred = {"cnn_rnn": trace.T.astype(np.float32)}
        write_parquet(predictions_table(g, pred, starts), tmp_path / f"{s}.parquet")
        runs[s] = sd.load_run(tmp_path / f"{s}.parquet")
    w = sd.collect(runs, n_boot=100, seed=0).cnn_rnn_windows
    # the step into each video's first frame is not counted (another video)
    assert w.per_seed["0"] == pytest.approx({"jump_ratio": 10.0, "at_start": 1.0,
                                             "elsewhere": 0.1}, rel=1e-3)  # fmt: skip
    assert w.per_seed["1"]["jump_ratio"] == pytest.approx(5.0, rel=1e-3)
    assert w.jump_ratio == pytest.approx(7.5) and w.jump_ratio_sd == pytest.approx(3.536, abs=1e-3)
    text = sd.markdown(sd.collect(runs, n_boot=100, seed=0))
    assert "CNN-RNN window-start jump ratio: 7.500 ± 3.536" in text
    # runs without window starts (a table of the CNN alone, or none marked): no check
    write_parquet(predictions_table(g, pred, np.zeros(len(starts), bool)), tmp_path / "n.parquet")
    assert sd.collect({0: sd.load_run(tmp_path / "n.parquet")}, 100, 0).cnn_rnn_windows is None


def test_runs_on_other_frames_are_refused(tmp_path):
    g = _grid()
    _write(tmp_path / "0.parquet", g, {"cnn": 0.3}, 0)
    h = {k: v[N:] for k, v in g.items()}  # one video fewer
    _write(tmp_path / "1.parquet", h, {"cnn": 0.3}, 1)
    runs = {s: sd.load_run(tmp_path / f"{s}.parquet") for s in (0, 1)}
    with pytest.raises(InputError, match="other test frames"):
        sd.collect(runs, n_boot=100, seed=0)
    with pytest.raises(InputError, match="no such predictions table"):
        sd.load_run(tmp_path / "missing.parquet")


def test_seeds_report_stage(tmp_path, monkeypatch):
    from stages.seeds_report import main

    g = _grid()
    _write(tmp_path / "main.parquet", g, {"svr": 0.6, "cnn": 0.4, "cnn_rnn": 0.2}, 0)
    for s in (1, 2):
        (tmp_path / "runs" / str(s)).mkdir(parents=True)
        _write(tmp_path / "runs" / str(s) / "test.parquet", g, {"cnn": 0.4, "cnn_rnn": 0.2}, s)
    main_report = score(g, {"cnn": np.stack([g["valence"], g["arousal"]], 1)}, n_boot=100)
    fill = FillRule(rule="nearest", max_gap=12, fallback=(0.1, -0.2))
    main_report.model_copy(update={"fill": fill}).write_file(tmp_path / "main.json")
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump({"evaluate": {"seeds": [1, 2], "bootstrap": 200}})
    )
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(
        main,
        ["--main-predictions", "main.parquet", "--main-report", "main.json", "--runs", "runs",
         "--metrics", "mean", "--report", "report.json", "--markdown", "report.md"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "mean").iterdir()) == [
        "cnn.json",
        "cnn_rnn.json",
        "svr.json",
    ]
    rep = SeedsReport.read_file(tmp_path / "report.json")
    assert rep.models["cnn"].seeds == [0, 1, 2] and rep.models["svr"].seeds == [0]
    assert rep.models["svr"].sd["ccc_mean"] is None  # one run: no sd
    assert rep.fill == fill and rep.main_run.seed == 0  # the main run's fill rule
    assert json.loads((tmp_path / "mean" / "cnn.json").read_text()) == rep.models["cnn"].metrics
    assert "SIFT + SVR (baseline) (one run)" in (tmp_path / "report.md").read_text()
    (tmp_path / "bad.json").write_text(json.dumps({"fill": {"rule": "nearest"}}))
    r = CliRunner().invoke(
        main,
        ["--main-predictions", "main.parquet", "--main-report", "bad.json", "--runs", "runs",
         "--metrics", "mean3", "--report", "r3.json", "--markdown", "r3.md"],
    )  # fmt: skip
    assert r.exit_code == 1 and "bad.json: frames: Field required" in r.output
    (tmp_path / "runs" / "2" / "test.parquet").unlink()
    r = CliRunner().invoke(
        main,
        ["--main-predictions", "main.parquet", "--main-report", "main.json", "--runs", "runs",
         "--metrics", "mean2", "--report", "r2.json", "--markdown", "r2.md"],
    )  # fmt: skip
    assert r.exit_code == 1 and "runs/2/test.parquet" in r.output
    assert not (tmp_path / "mean2").exists()


def test_committed_seed_report_is_written_the_same():
    """seeds/report.md is the markdown of seeds/report.json (the built-in metrics' table)."""
    root = Path(__file__).resolve().parents[2]
    summary = SeedsReport.read_file(root / "seeds" / "report.json")
    assert sd.markdown(summary) == (root / "seeds" / "report.md").read_text()


def test_a_registered_metric_gets_its_columns_in_the_seed_report(tmp_path):
    from pipeline.evaluation.metrics import Metric
    from pipeline.registry import METRICS

    def mae(truth, pred):
        ok = np.isfinite(truth) & np.isfinite(pred)
        return float(np.abs(truth[ok] - pred[ok]).mean())

    METRICS.register("mae_toy", Metric(mae, "MAE", flat=True), "mean absolute error")
    try:
        g = _grid()
        runs = {}
        for s in (0, 1):
            _write(tmp_path / f"{s}.parquet", g, {"cnn": 0.3}, s)
            runs[s] = sd.load_run(tmp_path / f"{s}.parquet")
        out = sd.collect(runs, n_boot=100, seed=0)
        text = sd.markdown(out)
    finally:
        METRICS.unregister("mae_toy")
    head = next(line for line in text.splitlines() if line.startswith("| model"))
    assert head == (
        "| model | CCC valence | CCC arousal | MSE valence | MSE arousal | MAE valence | "
        "MAE arousal | CCC mean | 95 % interval of CCC mean |"
    )
    row = next(line for line in text.splitlines() if line.startswith("| CNN |"))
    assert row.count("|") == head.count("|")
    assert f"{out.models['cnn'].metrics['mae_toy_valence']:.3f} ± " in row
