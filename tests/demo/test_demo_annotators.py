"""The demo's annotator panels alone (no rendering): delayed, scaled, noisy readings whose
rounded mean is the label."""

from __future__ import annotations

import numpy as np

from pipeline.demo.annotators import (
    GAIN,
    LAG_SPREAD,
    N_ANNOTATORS,
    Panel,
    draw_panel,
    mean_label,
)
from pipeline.demo.traces import expression_trace


def test_a_panel_without_noise_is_the_trace_delayed_scaled_and_clipped():
    trace = np.stack([np.linspace(-1, 1, 20), np.linspace(0.9, -0.9, 20)], axis=1)
    panel = Panel(np.array([2, 0, 5]), np.array([1.0, 1.5, 0.5]), np.zeros((3, 15, 2)))
    out = panel.read(trace, lead=4)  # frame t shows trace[t + 4]
    shown = trace[4:19]
    np.testing.assert_allclose(out[0], np.round(trace[2:17], 4))  # 2 frames late
    np.testing.assert_allclose(out[1], np.round(np.clip(1.5 * shown, -1, 1), 4))
    assert out[1].max() == 1.0 and out[1].min() == -1.0  # clipped
    # lag 5 > lead 4: before the trace starts, the expression is held at its first value
    np.testing.assert_allclose(out[2, 0], np.round(0.5 * trace[0], 4))
    np.testing.assert_allclose(out[2, 1:], np.round(0.5 * trace[0:14], 4))


def test_panels_are_3_to_6_annotators_with_their_own_lag_and_gain():
    counts = set()
    for seed in range(40):
        p = draw_panel(np.random.default_rng(seed), 90, 30.0, delay=6)
        k = len(p.lags)
        counts.add(k)
        assert p.noise.shape == (k, 90, 2) and p.gains.shape == (k,)
        assert np.all((p.lags >= 6 - LAG_SPREAD) & (p.lags <= 6 + LAG_SPREAD))
        assert np.all((p.gains >= GAIN[0]) & (p.gains <= GAIN[1]))
        assert 0.03 < p.noise.std() < 0.2
    assert counts == set(range(N_ANNOTATORS[0], N_ANNOTATORS[1] + 1))
    assert np.all(draw_panel(np.random.default_rng(0), 90, 30.0, delay=1).lags >= 0)
    a = draw_panel(np.random.default_rng(3), 50, 30.0, 6)
    b = draw_panel(np.random.default_rng(3), 50, 30.0, 6)
    assert np.array_equal(a.noise, b.noise) and np.array_equal(a.lags, b.lags)


def test_the_label_is_the_rounded_mean_of_the_rounded_readings():
    readings = np.round(np.random.default_rng(0).uniform(-1, 1, (4, 30, 2)), 4)
    label = mean_label(readings)
    assert np.array_equal(label, np.round(label, 4))
    assert np.abs(readings.mean(axis=0) - label).max() <= 5e-5 + 1e-12


def test_the_mean_trails_the_expression_by_about_the_label_delay():
    rng = np.random.default_rng(0)
    d, n = 6, 3000
    trace = expression_trace(rng, n + d, 30.0, (0.3, 0.3))
    shown = trace[d:]
    label = mean_label(draw_panel(rng, n, 30.0, d).read(trace, d))
    err = {lag: np.abs(label[20:, 0] - shown[20 - lag : n - lag, 0]).mean() for lag in range(13)}
    assert abs(min(err, key=err.get) - d) <= 1, err
    assert err[0] > 1.1 * err[d]  # undelayed fits clearly worse
