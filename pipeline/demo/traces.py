"""Valence/arousal traces for the demo videos: smooth, skewed positive, in [-1, 1].

A trace is ``tanh(offset + slow + fast)``: a per-video offset (the video's overall mood)
plus two smooth noise components (Gaussian-filtered white noise, time scales of a few
seconds and about half a second). Filtered noise is differentiable-smooth, like the
joystick annotations of real behaviour, unlike a raw random walk.

The offsets are drawn from a correlated normal whose means are positive, so the raw set is
dominated by the V>0, A>0 quadrant (about 56/19/18/7 % for V+A+ / V-A+ / V+A- / V-A-),
*more* skewed than the paper's balanced training set (43/24/19/14 %), so balancing by
duplication has work to do. A split's traces are redrawn (deterministically) until every
quadrant holds at least ``min_quadrant_share`` of its frames and the shares are close to
:data:`TARGET_SHARES`.

All functions are pure: randomness comes only from the ``rng`` passed in.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import gaussian_filter1d

# Offset distribution (before tanh): means, standard deviations, correlation.
# Within-video variation dominates between-video variation, as in real annotations: with
# large per-video offsets and only a handful of videos, a video's mood is a near-constant
# that a network can read off the identity and scene instead of the expression (measured:
# a per-video-mean predictor reached CCC 0.94 and the CNN learnt "who", not "how").
OFFSET_MEAN = (0.50, 0.55)  # valence, arousal
OFFSET_STD = (0.20, 0.20)
OFFSET_CORR = 0.35
# Within-video fluctuation: (amplitude, time scale in seconds) of the two components.
SLOW = (0.75, 1.5)
FAST = (0.15, 0.4)

QUADRANTS = ("V+A+", "V-A+", "V+A-", "V-A-")
# What the offsets above give over many videos; each split is drawn close to it.
TARGET_SHARES = {"V+A+": 0.56, "V-A+": 0.19, "V+A-": 0.18, "V-A-": 0.07}


def smooth_noise(rng: np.random.Generator, n: int, sigma_frames: float) -> np.ndarray:
    """``n`` samples of Gaussian-filtered white noise, scaled to unit standard deviation."""
    sigma_frames = max(float(sigma_frames), 0.5)
    pad = int(4 * sigma_frames) + 1
    white = rng.standard_normal(n + 2 * pad)
    smooth = gaussian_filter1d(white, sigma_frames, mode="nearest")[pad : pad + n]
    # Theoretical std of filtered unit white noise: 1 / sqrt(2 sqrt(pi) sigma).
    return smooth * np.sqrt(2.0 * np.sqrt(np.pi) * sigma_frames)


def draw_offsets(rng: np.random.Generator, n_videos: int) -> np.ndarray:
    """Per-video (valence, arousal) offsets, shape (n_videos, 2), before squashing."""
    sv, sa = OFFSET_STD
    cov = np.array(
        [[sv * sv, OFFSET_CORR * sv * sa], [OFFSET_CORR * sv * sa, sa * sa]], dtype=np.float64
    )
    return rng.multivariate_normal(np.asarray(OFFSET_MEAN), cov, size=n_videos, method="cholesky")


def expression_trace(
    rng: np.random.Generator, n: int, fps: float, offset: tuple[float, float]
) -> np.ndarray:
    """One video's (valence, arousal) trace, shape (n, 2), float64 in (-1, 1)."""
    out = np.empty((n, 2))
    for k in range(2):
        raw = (
            offset[k]
            + SLOW[0] * smooth_noise(rng, n, SLOW[1] * fps)
            + FAST[0] * smooth_noise(rng, n, FAST[1] * fps)
        )
        out[:, k] = np.tanh(raw)
    return out


def quadrant_shares(va: np.ndarray) -> dict[str, float]:
    """Share of frames per quadrant of the V-A plane (0 counts as positive)."""
    va = np.asarray(va).reshape(-1, 2)
    pv, pa = va[:, 0] >= 0, va[:, 1] >= 0
    n = max(len(va), 1)
    return {
        "V+A+": float(np.sum(pv & pa) / n),
        "V-A+": float(np.sum(~pv & pa) / n),
        "V+A-": float(np.sum(pv & ~pa) / n),
        "V-A-": float(np.sum(~pv & ~pa) / n),
    }


def split_traces(
    rng: np.random.Generator,
    lengths: list[int],
    fps: float,
    min_quadrant_share: float = 0.02,
    tolerance: float = 0.10,
    max_tries: int = 300,
    readout: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None,
) -> list[np.ndarray]:
    """Traces for every video of one split: all four quadrants covered, skewed like the set.

    ``lengths`` are the trace lengths (frames, including the label delay). A split has few
    videos, so its quadrant shares would scatter widely around the set's; the whole split is
    redrawn from the same generator until each quadrant holds at least
    ``min_quadrant_share`` of its frames and the shares are within ``tolerance`` (sum of
    absolute differences) of :data:`TARGET_SHARES`; after ``max_tries`` the closest draw
    that covers every quadrant (or failing that, the closest) is kept. The shares are those
    of ``readout(traces)`` where given (the labels the traces turn into: the demo's mean of
    its annotators), else of the traces. Deterministic: same rng state, same traces.
    """
    target = np.array([TARGET_SHARES[q] for q in QUADRANTS])
    best, best_key = None, None
    for _ in range(max_tries):
        offsets = draw_offsets(rng, len(lengths))
        traces = [
            expression_trace(rng, n, fps, tuple(o)) for n, o in zip(lengths, offsets, strict=True)
        ]
        labels = traces if readout is None else readout(traces)
        shares = quadrant_shares(np.concatenate(labels))
        values = np.array([shares[q] for q in QUADRANTS])
        covered = values.min() >= min_quadrant_share
        distance = float(np.abs(values - target).sum())
        if covered and distance <= tolerance:
            return traces
        key = (not covered, distance)
        if best_key is None or key < best_key:
            best, best_key = traces, key
    return best
