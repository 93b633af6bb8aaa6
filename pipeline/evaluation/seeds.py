"""Seed runs → one table: mean ± sd over training seeds, bootstrap 95 % intervals over test
videos, and which differences the intervals support (``dvc repro seeds/dvc.yaml``).

Every run is the same configuration trained under another seed and evaluated on the same
test frames (``evaluate``'s predictions table, one per run). For each model:

- ``ccc_valence`` … ``mse_arousal``: the mean over the runs, with the sample sd;
- ``ccc_*_lo`` / ``_hi``: a bootstrap 95 % interval of that seed mean over test videos
  (every resample draws videos, every run is scored on them, the runs are averaged);
- comparisons: the interval of the paired difference of two models' seed means; a model
  "beats" another only when it lies above 0, else they are "not distinguishable here".

A model that only the main run has (the SIFT+SVR baseline: no training seed) enters with
its single run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from pipeline.artifacts import BootstrapInfo, Comparison, SeedScores, SeedsReport, SeedWindows
from pipeline.errors import InputError
from pipeline.evaluation import spread
from pipeline.evaluation.metrics import (
    DIMENSIONS,
    PRIMARY,
    flat_keys,
    interval_keys,
    jump_means,
    primary_keys,
)
from pipeline.registry import METRICS

MODEL_LABELS = {
    "svr": "SIFT + SVR (baseline)",
    "cnn": "CNN",
    "cnn_rnn": "CNN-RNN",
}


def load_run(path: str | Path) -> dict:
    """A predictions table (``evaluate --predictions``) → arrays; models from its columns."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such predictions table (run `dvc repro seeds/dvc.yaml`)")
    t = pq.read_table(path)
    cols = t.column_names
    models = [c.removesuffix("_valence") for c in cols if c.endswith("_valence") and c != "valence"]
    run = {
        "video_id": np.array(t.column("video_id").to_pylist(), dtype=object),
        "frame": t.column("frame").to_numpy(),
        "labelled": t.column("labelled").to_numpy(zero_copy_only=False),
        "models": {},
    }
    for dim in DIMENSIONS:
        run[dim] = t.column(dim).to_numpy(zero_copy_only=False).astype(np.float64)
    for m in models:
        run["models"][m] = np.stack(
            [t.column(f"{m}_{d}").to_numpy(zero_copy_only=False) for d in DIMENSIONS], axis=1
        )
    for col in ("face", "window_start"):  # the CNN-RNN's window check (older tables: none)
        if col in cols:
            run[col] = t.column(col).to_numpy(zero_copy_only=False).astype(bool)
    return run


def window_check(runs: dict[int, dict]) -> SeedWindows | None:
    """The CNN-RNN's jump ratio at its window starts (:func:`pipeline.evaluation.metrics.
    jump_means`) in each run, with the seed mean and sd; None unless every run has the
    CNN-RNN's predictions, the face flags and window starts with a step into one."""
    model = "cnn_rnn"
    if not all(model in r["models"] and "window_start" in r and "face" in r for r in runs.values()):
        return None
    per_seed = {}
    for s, r in sorted(runs.items()):
        at, rest = jump_means(r["video_id"], r["face"], r["models"][model], r["window_start"])
        if not np.isfinite(at / rest):
            return None
        per_seed[str(s)] = {"jump_ratio": round(at / rest, 3), "at_start": round(at, 5),
                            "elsewhere": round(rest, 5)}  # fmt: skip
    ratio, ratio_sd = spread.mean_sd([v["jump_ratio"] for v in per_seed.values()])
    return SeedWindows(
        per_seed=per_seed,
        jump_ratio=round(ratio, 3),
        jump_ratio_sd=None if np.isnan(ratio_sd) else round(ratio_sd, 3),
        at_start=round(float(np.mean([v["at_start"] for v in per_seed.values()])), 5),
        elsewhere=round(float(np.mean([v["elsewhere"] for v in per_seed.values()])), 5),
    )


def collect(runs: dict[int, dict], n_boot: int, seed: int) -> SeedsReport:
    """``runs``: training seed → :func:`load_run` result (same frames in each). Returns the
    summary (see the module docstring)."""
    if not runs:
        raise InputError("no seed runs to collect")
    seeds = sorted(runs)
    ref = runs[seeds[0]]
    for s in seeds[1:]:
        r = runs[s]
        if not (
            np.array_equal(r["video_id"], ref["video_id"])
            and np.array_equal(r["frame"], ref["frame"])
        ):
            raise InputError(
                f"seed {s}: its predictions cover other test frames than seed {seeds[0]}'s"
            )
    sel = ref["labelled"]
    truth = {d: ref[d][sel] for d in DIMENSIONS}
    models = [m for m in MODEL_LABELS if any(m in r["models"] for r in runs.values())]
    models += sorted({m for r in runs.values() for m in r["models"]} - set(models))
    stacked, per_run = {}, {}
    for m in models:
        have = [s for s in seeds if m in runs[s]["models"]]
        stacked[m] = np.stack([runs[s]["models"][m][sel] for s in have])
        per_run[m] = {s: _point(truth, runs[s]["models"][m][sel]) for s in have}
    boot = spread.bootstrap(ref["video_id"][sel], truth, stacked, n_boot, seed)
    return SeedsReport(
        seeds=seeds,
        frames=int(sel.sum()),
        videos=len(np.unique(ref["video_id"][sel])),
        bootstrap=BootstrapInfo(resamples=n_boot, seed=seed),
        models={m: _seed_scores(per_run[m], boot[m]) for m in models},
        cnn_rnn_windows=window_check(runs),
        comparisons={  # each model against the simpler ones before it
            f"{a} vs {b}": {
                key: Comparison(**spread.compare(boot[a][key], boot[b][key]))
                for key in primary_keys()
            }
            for i, a in enumerate(models)
            for b in models[:i]
        },
    )


def _seed_scores(runs: dict[int, dict], boot: dict) -> SeedScores:
    """One model: the mean and sd over its runs of each flat metric, and the intervals."""
    flat: dict[str, float] = {}
    sds: dict[str, float | None] = {}
    for key in flat_keys():
        mean, sd = spread.mean_sd([v[key] for v in runs.values()])
        flat[key] = round(mean, 4)
        sds[key] = None if np.isnan(sd) else round(sd, 4)
    intervals = {key: spread.interval(boot[key]) for key in interval_keys()}
    intervals = {key: (round(lo, 4), round(hi, 4)) for key, (lo, hi) in intervals.items()}
    flat[f"{PRIMARY}_mean_lo"], flat[f"{PRIMARY}_mean_hi"] = intervals[f"{PRIMARY}_mean"]
    return SeedScores(
        seeds=sorted(runs),
        per_seed={str(s): v for s, v in runs.items()},
        sd=sds,
        intervals=intervals,
        metrics=flat,
    )


def _point(truth: dict, pred: np.ndarray) -> dict:
    """One run's flat metrics (those of metrics/<model>.json), dimension by dimension."""
    res = {}
    flat = [n for n in METRICS.names() if METRICS.get(n).flat]
    for d, dim in enumerate(DIMENSIONS):
        for n in flat:
            res[f"{n}_{dim}"] = round(METRICS.get(n).fn(truth[dim], pred[:, d]), 4)
    res[f"{PRIMARY}_mean"] = round((res[f"{PRIMARY}_valence"] + res[f"{PRIMARY}_arousal"]) / 2, 4)
    return res


def _pm(row: SeedScores, key: str) -> str:
    mean, sd = row.metrics[key], row.sd.get(key)
    return f"{mean:.3f}" if sd is None else f"{mean:.3f} ± {sd:.3f}"


def claims(summary: SeedsReport) -> list[str]:
    """One sentence per comparison, stated only as far as the intervals support it."""
    lines = []
    for pair, by_key in summary.comparisons.items():
        a, b = pair.split(" vs ")
        la, lb = MODEL_LABELS.get(a, a), MODEL_LABELS.get(b, b)
        parts = []
        for key, res in by_key.items():
            what = key.removeprefix("ccc_").replace("mean", "mean CCC")
            what = what if what == "mean CCC" else f"CCC {what}"
            if res.verdict == "not distinguishable here":
                verdict = "not distinguishable here"
            else:
                verdict = f"{la} {res.verdict}"
            parts.append(f"{what}: {verdict} (difference {res.diff_lo:+.3f} to {res.diff_hi:+.3f})")
        lines.append(f"- {la} vs {lb} — " + "; ".join(parts))
    return lines


def _columns(summary: SeedsReport) -> list[tuple[str, str]]:
    """(key, head) of the table's columns: each flat metric of the registry per dimension (in
    registration order, those the report holds), then the primary metric's mean."""
    keys = [
        (f"{name}_{dim}", f"{METRICS.get(name).label} {dim}")
        for name in METRICS.names()
        if METRICS.get(name).flat
        for dim in DIMENSIONS
    ]
    keys.append((f"{PRIMARY}_mean", f"{METRICS.get(PRIMARY).label} mean"))
    return [(k, h) for k, h in keys if all(k in row.metrics for row in summary.models.values())]


def markdown(summary: SeedsReport) -> str:
    n = len(summary.seeds)
    columns = _columns(summary)
    primary = f"{METRICS.get(PRIMARY).label} mean"
    lines = [
        f"Test split: {summary.frames:,} labelled frames of {summary.videos} videos. "
        f"Mean ± sd over {n} training seeds ({', '.join(map(str, summary.seeds))}); "
        "95 % interval: bootstrap over test videos of the seed mean "
        f"({summary.bootstrap.resamples} resamples).",
        "",
        "| model | " + " | ".join(h for _, h in columns) + f" | 95 % interval of {primary} |",
        "|---|" + "---|" * (len(columns) + 1),
    ]
    for m, row in summary.models.items():
        f = row.metrics
        label = MODEL_LABELS.get(m, m)
        if len(row.seeds) == 1:
            label += " (one run)"
        cells = [_pm(row, key) for key, _ in columns]
        cells.append(f"[{f[f'{PRIMARY}_mean_lo']:.3f}, {f[f'{PRIMARY}_mean_hi']:.3f}]")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if summary.cnn_rnn_windows is not None:
        w = summary.cnn_rnn_windows
        sd = "" if w.jump_ratio_sd is None else f" ± {w.jump_ratio_sd:.3f}"
        lines += [
            "",
            f"CNN-RNN window-start jump ratio: {w.jump_ratio:.3f}{sd} (mean |Δ prediction| "
            f"{w.at_start:.4f} into a window's kept part, {w.elsewhere:.4f} elsewhere; "
            "~1: no trace of the seams).",
        ]
    lines += [
        "",
        "Paired bootstrap over the same resampled videos (95 % interval of the difference):",
        "",
    ]
    lines += claims(summary)
    return "\n".join(lines) + "\n"
