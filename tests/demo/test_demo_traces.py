"""The valence/arousal trace generator alone (no rendering): smooth, in range, skewed."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.demo.traces import (
    QUADRANTS,
    draw_offsets,
    expression_trace,
    quadrant_shares,
    smooth_noise,
    split_traces,
)

PAPER_BALANCED = {"V+A+": 0.43, "V-A+": 0.24, "V+A-": 0.19, "V-A-": 0.14}


def test_smooth_noise_has_unit_std_and_is_smooth():
    x = smooth_noise(np.random.default_rng(0), 200_000, 15)
    assert abs(x.std() - 1) < 0.05
    assert np.abs(np.diff(x)).max() < 0.3  # white noise would step by ~1.1 on average


def test_traces_in_range_and_smooth():
    rng = np.random.default_rng(1)
    for offset in draw_offsets(rng, 50):
        tr = expression_trace(rng, 300, 30.0, tuple(offset))
        assert tr.shape == (300, 2)
        assert np.all(np.abs(tr) < 1)
        # annotations of real behaviour move slowly: < 0.05 per frame at 30 fps
        assert np.abs(np.diff(tr, axis=0)).max() < 0.05


def test_set_is_skewed_positive_more_than_the_papers_balanced_set():
    rng = np.random.default_rng(2)
    va = np.concatenate(
        [expression_trace(rng, 300, 30.0, tuple(o)) for o in draw_offsets(rng, 1000)]
    )
    s = quadrant_shares(va)
    assert s["V+A+"] > s["V-A+"] > s["V+A-"] > s["V-A-"] > 0.05
    # more skewed than after the paper's balancing, so balancing has work to do
    assert s["V+A+"] > PAPER_BALANCED["V+A+"] + 0.08
    assert s["V-A-"] < PAPER_BALANCED["V-A-"]


@pytest.mark.parametrize("seed", range(20))
def test_every_split_covers_all_quadrants(seed):
    rng = np.random.default_rng(seed)
    traces = split_traces(rng, [int(n) for n in rng.integers(246, 367, 4)], 30.0)
    s = quadrant_shares(np.concatenate(traces))
    assert min(s.values()) >= 0.02, s
    assert s["V+A+"] == max(s.values())


def test_split_traces_deterministic():
    a = split_traces(np.random.default_rng(5), [100, 120], 30.0)
    b = split_traces(np.random.default_rng(5), [100, 120], 30.0)
    c = split_traces(np.random.default_rng(6), [100, 120], 30.0)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])
    assert set(quadrant_shares(a[0])) == set(QUADRANTS)
