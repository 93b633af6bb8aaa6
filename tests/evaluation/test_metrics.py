"""Evaluation metrics against an independent formula, and their edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.evaluation.metrics import ccc, mse, pcc
from pipeline.registry import METRICS


def ccc_reference(x, y) -> float:
    """Lin (1989) via Pearson's r: rho_c = 2 r s_x s_y / (s_x^2 + s_y^2 + (mean_x - mean_y)^2)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    r = np.corrcoef(x, y)[0, 1]
    sx, sy = x.std(), y.std()
    return 2 * r * sx * sy / (sx**2 + sy**2 + (x.mean() - y.mean()) ** 2)


@pytest.mark.parametrize("seed", range(5))
def test_ccc_and_mse_on_random_data(seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, 500)
    y = 0.6 * x + rng.normal(0.1, 0.3, 500)
    assert ccc(x, y) == pytest.approx(ccc_reference(x, y), abs=1e-12)
    assert mse(x, y) == pytest.approx(float(np.mean((x - y) ** 2)), abs=1e-12)
    assert pcc(x, y) == pytest.approx(float(np.corrcoef(x, y)[0, 1]), abs=1e-12)
    assert ccc(x, y) < pcc(x, y)  # CCC also penalises the shift and the scale


def test_ccc_bounds_and_symmetry():
    x = np.linspace(-1, 1, 50)
    assert ccc(x, x) == pytest.approx(1.0)
    assert ccc(x, -x) == pytest.approx(-1.0)
    assert ccc(x, x + 0.5) < 1.0
    y = np.sin(x * 3)
    assert ccc(x, y) == pytest.approx(ccc(y, x))


def test_constant_prediction_scores_zero():
    x = np.linspace(-1, 1, 50)
    assert ccc(x, np.full_like(x, 0.3)) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(pcc(x, np.full_like(x, 0.3)))


def test_single_frame():
    assert ccc([0.2], [0.2]) == 1.0
    assert ccc([0.2], [0.5]) == 0.0
    assert mse([0.2], [0.5]) == pytest.approx(0.09)


def test_nan_frames_are_ignored():
    x = np.array([0.1, np.nan, 0.5, -0.3, 0.9])
    y = np.array([0.2, 0.4, np.nan, -0.1, 0.7])
    keep = [0, 3, 4]
    for fn in (METRICS.get(name).fn for name in METRICS.names()):
        assert fn(x, y) == pytest.approx(fn(x[keep], y[keep]))
    assert math.isnan(ccc([np.nan], [0.1])) and math.isnan(mse([], []))


def test_shape_mismatch():
    with pytest.raises(ValueError, match="3 values, predictions 2"):
        ccc([1, 2, 3], [1, 2])
