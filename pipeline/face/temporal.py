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
    status: str  # detected | tracked | interpolated | missing | rejected


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


class Persistence:
    """Drops faces that do not persist: episodes with fewer than ``min_run`` face frames.

    A face "found" on a texture or on lettering is typically seen for a frame or three; a
    real subject stays. An *episode* is a stretch of frames with a face in which no gap is
    longer than ``bridge`` frames (so a detector that flickers does not split a real face
    into short pieces). Items go in frame order with a flag "has a face"; :meth:`push`
    returns ``(item, keep)`` pairs, final and in order — an episode is held back until it
    has ``min_run`` face frames (memory: at most ``min_run * (bridge + 1)`` items), then it
    and the rest of it pass straight through; an episode that ends short is returned with
    ``keep=False``. An episode that spans the whole video (a clip shorter than ``min_run``)
    is kept.
    """

    def __init__(self, min_run: int, bridge: int = 5):
        self.min_run, self.bridge = min_run, bridge
        self._held: list[tuple[object, bool]] = []  # the open episode (+ its trailing gap)
        self._faces = 0  # face frames in the held episode
        self._open = False  # the current episode is long enough
        self._gap = 0  # frames without a face since the episode's last face
        self._n = 0  # items seen
        self._before = False  # any item before the held episode
        self.dropped = 0  # face frames dropped

    def push(self, item, face: bool) -> list[tuple[object, bool]]:
        self._n += 1
        if self.min_run <= 1:
            return [(item, face)]
        if not face:
            if not self._held and not self._open:
                self._before = True
                return [(item, False)]
            self._gap += 1
            if self._gap > self.bridge:  # the episode is over
                return self._close() + [(item, False)]
            if self._open:
                self._held.append((item, False))
                return []
            self._held.append((item, False))
            return []
        self._gap = 0
        if self._open:
            out, self._held = self._held + [(item, True)], []
            return out
        self._held.append((item, True))
        self._faces += 1
        if self._faces >= self.min_run:
            out, self._held, self._open = self._held, [], True
            return out
        return []

    def _close(self) -> list[tuple[object, bool]]:
        held, keep = self._held, self._open
        if not keep:
            self.dropped += sum(f for _, f in held)
        self._held, self._faces, self._open, self._gap = [], 0, False, 0
        self._before = True
        return [(it, f and keep) for it, f in held]

    def finish(self) -> list[tuple[object, bool]]:
        if (
            self._held
            and not self._open
            and not self._before
            and not any(not f for _, f in self._held)
        ):
            out, self._held = self._held, []  # the whole (short) video is one run: keep it
            return out
        return self._close() if self._held else []


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
