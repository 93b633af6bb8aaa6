"""Evaluation metrics as small numpy functions, in one dict (:data:`METRICS`).

Aff-Wild results are reported over **all test frames concatenated** (population statistics),
per dimension; "total" is the mean of the valence and arousal CCCs. NaN in either input
marks a frame without a label or a prediction and is ignored.
"""

from __future__ import annotations

import numpy as np


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
    den = x.var() + y.var() + (mx - my) ** 2
    if den == 0 or (np.ptp(x) == 0 and np.ptp(y) == 0 and mx == my):
        return 1.0
    return float(2 * sxy / den)


def mse(truth, pred) -> float:
    x, y = _valid(truth, pred)
    return float(np.mean((x - y) ** 2)) if x.size else float("nan")


def pcc(truth, pred) -> float:
    """Pearson correlation (NaN when either side is constant)."""
    x, y = _valid(truth, pred)
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


METRICS = {"ccc": ccc, "mse": mse, "pcc": pcc}
DIMENSIONS = ("valence", "arousal")
# The flat keys of metrics/<model>.json, with ccc_mean_lo / ccc_mean_hi (its 95 % interval);
# the other intervals are in the reports (a narrow `dvc metrics show`).
FLAT_KEYS = ("ccc_valence", "ccc_arousal", "ccc_mean", "mse_valence", "mse_arousal")
