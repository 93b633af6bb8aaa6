"""Uncertainty of a CCC/MSE table: bootstrap intervals over test videos, mean ± sd over
training seeds, and which differences the intervals support.

**Bootstrap over videos.** Frames of one video are strongly correlated, so the unit that
is resampled is the video: a resample draws as many videos as the test split has, with
replacement, and the metric is computed over all frames of the drawn videos concatenated
(as the point estimate is). The 95 % interval is the 2.5th-97.5th percentile of
``n_boot`` resamples, drawn with a fixed seed (same numbers on every run). With few test
videos (the demo has 5) these intervals are wide — that is the honest answer.

**Paired differences.** "A beats B" is claimed only when the 95 % interval of
``metric(A) - metric(B)`` over the SAME resampled videos lies above 0; otherwise the two are
"not distinguishable here".
"""

from __future__ import annotations

import numpy as np

from pipeline.evaluation.metrics import DIMENSIONS, PRIMARY, interval_keys
from pipeline.registry import METRICS

# Sufficient statistics of one video for one dimension: n, Σx, Σy, Σx², Σy², Σxy.
N_STATS = 6


def video_stats(video_id: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """(n_videos, 6) sums per video (in ``np.unique`` order), over frames where both
    values are finite."""
    ok = np.isfinite(truth) & np.isfinite(pred)
    vids, inv = np.unique(video_id[ok], return_inverse=True)
    x, y = truth[ok].astype(np.float64), pred[ok].astype(np.float64)
    cols = [np.ones_like(x), x, y, x * x, y * y, x * y]
    out = np.zeros((len(vids), N_STATS))
    for k, c in enumerate(cols):
        out[:, k] = np.bincount(inv, weights=c, minlength=len(vids))
    return out


def resample_counts(n_videos: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_videos): how often each video is drawn in each resample."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_videos, size=(n_boot, n_videos))
    counts = np.zeros((n_boot, n_videos))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1)
    return counts


def bootstrap(
    video_id: np.ndarray,
    truth: dict[str, np.ndarray],
    preds: dict[str, np.ndarray],
    n_boot: int,
    seed: int,
) -> dict[str, dict[str, np.ndarray]]:
    """Resampled metrics: ``{model: {"ccc_valence": (n_boot,), ..., "ccc_mean": ...}}``, for
    every registered metric with ``from_stats`` (:func:`~pipeline.evaluation.metrics.interval_keys`).

    ``truth[dim]`` is (frames,); ``preds[model]`` (frames, 2) or (runs, frames, 2) — several
    seed runs of one model, whose metric is averaged over the runs inside every resample.
    All models share the same resamples (paired comparisons)."""
    vids = np.unique(video_id)
    counts = resample_counts(len(vids), n_boot, seed)
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, p in preds.items():
        runs = p if p.ndim == 3 else p[None]
        res: dict[str, np.ndarray] = {}
        names = [n for n in METRICS.names() if METRICS.get(n).from_stats is not None]
        for d, dim in enumerate(DIMENSIONS):
            per_run: dict[str, list] = {n: [] for n in names}
            for r in runs:
                s = _aligned_stats(video_id, vids, truth[dim], r[:, d])
                total = counts @ s  # (n_boot, 6)
                for n in names:
                    per_run[n].append(METRICS.get(n).from_stats(total))
            for n in names:
                res[f"{n}_{dim}"] = np.mean(per_run[n], axis=0)
        res[f"{PRIMARY}_mean"] = (res[f"{PRIMARY}_valence"] + res[f"{PRIMARY}_arousal"]) / 2
        assert set(res) == set(interval_keys())
        out[name] = res
    return out


def _aligned_stats(video_id, vids, truth, pred) -> np.ndarray:
    s = video_stats(video_id, truth, pred)
    present = np.unique(video_id[np.isfinite(truth) & np.isfinite(pred)])
    full = np.zeros((len(vids), N_STATS))
    full[np.searchsorted(vids, present)] = s
    return full


def interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    finite = samples[np.isfinite(samples)]
    if not finite.size:
        return float("nan"), float("nan")
    lo, hi = np.percentile(finite, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def compare(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> dict:
    """Paired comparison of two models' resampled metric (same resamples)."""
    lo, hi = interval(a - b, level)
    if lo > 0:
        verdict = "higher"
    elif hi < 0:
        verdict = "lower"
    else:
        verdict = "not distinguishable here"
    return {"diff_lo": round(lo, 4), "diff_hi": round(hi, 4), "verdict": verdict}


def mean_sd(values) -> tuple[float, float]:
    v = np.asarray(values, np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan")
