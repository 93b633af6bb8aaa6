from __future__ import annotations

import numpy as np

from pipeline.face.temporal import GapFiller, LandmarkRow, OneEuro


def rows(pattern: str) -> list[LandmarkRow]:
    """'x' = a face at x = frame index, '.' = missing."""
    out = []
    for i, c in enumerate(pattern):
        pts = np.full((68, 2), float(i)) if c == "x" else None
        out.append(
            LandmarkRow(
                i,
                pts,
                1.0 if pts is not None else np.nan,
                "detected" if pts is not None else "missing",
            )
        )
    return out


def fill(pattern: str, max_gap: int) -> list[LandmarkRow]:
    g = GapFiller(max_gap)
    out = []
    for r in rows(pattern):
        out += g.push(r)
    return out + g.finish()


def test_short_gaps_interpolated_long_ones_missing():
    out = fill("xx..xx.....x..", max_gap=3)
    assert [r.frame for r in out] == list(range(14))
    status = "".join(r.status[0] for r in out)
    assert status == "ddiidd" + "m" * 5 + "d" + "mm"
    for r in out[2:4]:
        np.testing.assert_allclose(r.points, r.frame)  # linear between frames 1 and 4


def test_max_gap_zero_never_fills():
    out = fill("x.x", max_gap=0)
    assert [r.status for r in out] == ["detected", "missing", "detected"]


def test_leading_missing_not_filled():
    assert [r.status for r in fill("..x", 5)] == ["missing", "missing", "detected"]


def test_one_euro_smooths_jitter_but_follows_motion():
    rng = np.random.default_rng(0)
    f = OneEuro(fps=30, min_cutoff=1.0, beta=0.0)
    still = np.zeros((68, 2))
    out = np.array([f(still + rng.normal(0, 2, still.shape), 100.0) for _ in range(200)])
    assert out[50:].std() < 0.5 * 2
    f = OneEuro(fps=30, min_cutoff=1.0, beta=5.0)
    moved = [f(np.full((68, 2), 3.0 * i), 100.0) for i in range(60)]
    assert abs(moved[-1][0, 0] - 3.0 * 59) < 10  # lag stays small when moving fast
