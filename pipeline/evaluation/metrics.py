"""Evaluation metrics as small numpy functions, registered in :data:`pipeline.registry.METRICS`.

Metrics are computed over **all scored frames concatenated** (population statistics), per
dimension, as the authors' released evaluation script computes them (the paper gives only the
CCC's formula); "total" is the mean of the valence and arousal CCCs. NaN in either input
marks a frame without a label or a prediction and is ignored.

A metric is a :class:`Metric` registered by name: the evaluation reports ``<name>_valence``,
``<name>_arousal`` (and per video) for every registered one; ``flat`` ones also go into
``metrics/<model>.json`` and the printed table, and those with ``from_stats`` get bootstrap
intervals over test videos (:mod:`pipeline.evaluation.spread`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pipeline.registry import METRICS

DIMENSIONS = ("valence", "arousal")
# The paper's measure: its mean over the dimensions is "ccc_mean", and models are compared on it.
PRIMARY = "ccc"


@dataclass(frozen=True)
class Metric:
    # (truth, pred) -> float over the frames where both are finite
    fn: Callable[[np.ndarray, np.ndarray], float]
    # Column head in printed tables ("CCC").
    label: str
    # Summed per-video statistics (..., 6) -> the metric (...,): what the bootstrap resamples.
    # The statistics are n, Σx, Σy, Σx², Σy², Σxy (truth x, prediction y), see
    # pipeline.evaluation.spread.video_stats. None: no interval for this metric.
    from_stats: Callable[[np.ndarray], np.ndarray] | None = None
    # In metrics/<model>.json (one narrow row of `dvc metrics show`) and the printed table.
    flat: bool = False


def jump_means(video_id, face, pred: np.ndarray, starts: np.ndarray) -> tuple[float, float]:
    """Mean |Δ prediction| (both dimensions) into the frames where ``starts`` (a CNN-RNN
    window's kept part begins), and the mean into every other frame; only steps between two
    consecutive frames of one video that both have a face (NaN where there is no such step).
    Their ratio is the window check's jump ratio (about 1: no trace of the seams)."""
    video_id, face = np.asarray(video_id), np.asarray(face, bool)
    same = video_id[1:] == video_id[:-1]
    both = face[1:] & face[:-1] & same
    step = np.abs(np.diff(pred, axis=0)).mean(axis=1)
    ok = both & np.isfinite(step)
    at, rest = ok & starts[1:], ok & ~starts[1:]
    nan = float("nan")
    return (float(step[at].mean()) if at.any() else nan,
            float(step[rest].mean()) if rest.any() else nan)  # fmt: skip


def concordance(cov, var_x, var_y, mean_x, mean_y):
    """ρc = 2 s_xy / (s_x² + s_y² + (x̄ − ȳ)²) from the moments: the one CCC formula (numpy)."""
    return 2 * cov / (var_x + var_y + (mean_x - mean_y) ** 2)


def _valid(truth, pred) -> tuple[np.ndarray, np.ndarray]:
    truth = np.asarray(truth, np.float64).ravel()
    pred = np.asarray(pred, np.float64).ravel()
    if truth.shape != pred.shape:
        raise ValueError(f"truth has {truth.size} values, predictions {pred.size}")
    keep = np.isfinite(truth) & np.isfinite(pred)
    return truth[keep], pred[keep]


def ccc(truth, pred) -> float:
    """Concordance correlation coefficient, ρc = 2 s_xy / (s_x² + s_y² + (x̄ − ȳ)²).

    NaN when no frame has both values. When the denominator is 0 (both constant and
    equal — e.g. a single frame predicted exactly) the agreement is perfect: 1.
    """
    x, y = _valid(truth, pred)
    if x.size == 0:
        return float("nan")
    mx, my = x.mean(), y.mean()
    sxy = np.mean((x - mx) * (y - my))
    vx, vy = x.var(), y.var()
    if vx + vy + (mx - my) ** 2 == 0 or (np.ptp(x) == 0 and np.ptp(y) == 0 and mx == my):
        return 1.0
    return float(concordance(sxy, vx, vy, mx, my))


def mse(truth, pred) -> float:
    x, y = _valid(truth, pred)
    return float(np.mean((x - y) ** 2)) if x.size else float("nan")


def pcc(truth, pred) -> float:
    """Pearson correlation (NaN when either side is constant)."""
    x, y = _valid(truth, pred)
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def ccc_from_stats(s: np.ndarray) -> np.ndarray:
    """CCC (population statistics) from summed stats (..., 6)."""
    n = s[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = s[..., 1] / n, s[..., 2] / n
        vx = s[..., 3] / n - mx**2
        vy = s[..., 4] / n - my**2
        cov = s[..., 5] / n - mx * my
        return concordance(cov, vx, vy, mx, my)


def mse_from_stats(s: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return (s[..., 3] - 2 * s[..., 5] + s[..., 4]) / s[..., 0]


def _keys(names: list[str]) -> tuple[str, ...]:
    keys: list[str] = []
    for name in names:
        keys += [f"{name}_{dim}" for dim in DIMENSIONS]
        if name == PRIMARY:
            keys.append(f"{PRIMARY}_mean")
    return tuple(keys)


def flat_keys() -> tuple[str, ...]:
    """The keys of metrics/<model>.json (besides ccc_mean_lo / _hi, its 95 % interval; the
    other intervals are in the reports): ccc_valence, ccc_arousal, ccc_mean, mse_valence, ..."""
    return _keys([n for n in METRICS.names() if METRICS.get(n).flat])


def interval_keys() -> tuple[str, ...]:
    """The keys that get bootstrap intervals (metrics with ``from_stats``)."""
    return _keys([n for n in METRICS.names() if METRICS.get(n).from_stats is not None])


def primary_keys() -> tuple[str, ...]:
    """What models are compared on: ccc_valence, ccc_arousal, ccc_mean."""
    return _keys([PRIMARY])


METRICS.register("ccc", Metric(ccc, "CCC", ccc_from_stats, flat=True), "concordance correlation")
METRICS.register("mse", Metric(mse, "MSE", mse_from_stats, flat=True), "mean squared error")
METRICS.register("pcc", Metric(pcc, "PCC"), "Pearson correlation")
