"""Streaming temporal filters over per-frame landmarks: gap interpolation and smoothing.

Both work frame by frame with bounded memory (:class:`GapFiller` holds at most ``max_gap``
frames back), so a video of any length streams through them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class LandmarkRow:
    frame: int
    points: np.ndarray | None  # (68, 2) source pixels, None where missing
    score: float
    status: str  # detected | tracked | interpolated | missing


class GapFiller:
    """Linearly interpolates missing runs of at most ``max_gap`` frames between two faces.

    :meth:`push` takes rows in frame order and returns the rows that are final (in order);
    a missing row is held back until it is known whether its run is short enough to fill.
    """

    def __init__(self, max_gap: int):
        self.max_gap = max_gap
        self._last: LandmarkRow | None = None
        self._pending: list[LandmarkRow] = []

    def push(self, row: LandmarkRow) -> list[LandmarkRow]:
        if row.points is None:
            if self._last is None or self.max_gap == 0:
                return [row]
            self._pending.append(row)
            if len(self._pending) > self.max_gap:
                out, self._pending, self._last = self._pending, [], None
                return out
            return []
        out = []
        if self._pending:
            a, b = self._last.points, row.points
            n = len(self._pending)
            for k, miss in enumerate(self._pending, start=1):
                t = k / (n + 1)
                out.append(LandmarkRow(miss.frame, (1 - t) * a + t * b, math.nan, "interpolated"))
            self._pending = []
        self._last = row
        out.append(row)
        return out

    def finish(self) -> list[LandmarkRow]:
        out, self._pending = self._pending, []
        return out


class OneEuro:
    """Causal One-Euro filter (Casiez et al., CHI 2012) for a set of 2-D points.

    The speed that opens the cut-off is measured in face sizes per second (``scale`` per
    call), so the same parameters suit small and large faces.
    """

    def __init__(
        self, fps: float, min_cutoff: float = 1.0, beta: float = 0.5, d_cutoff: float = 1.0
    ):
        self.dt = 1.0 / fps
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def _alpha(self, cutoff):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / self.dt)

    def __call__(self, x: np.ndarray, scale: float) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self._x is None:
            self._x, self._dx = x.copy(), np.zeros(len(x))
            return x
        speed = np.linalg.norm(x - self._x, axis=1) / self.dt / max(scale, 1e-6)
        a_d = self._alpha(self.d_cutoff)
        self._dx = a_d * speed + (1 - a_d) * self._dx
        a = self._alpha(self.min_cutoff + self.beta * self._dx)[:, None]
        self._x = a * x + (1 - a) * self._x
        return self._x.copy()
