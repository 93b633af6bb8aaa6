"""The in-memory driver: every registered face step on frames as they come, no table written.

:class:`FaceTracker` chains the steps of :data:`pipeline.registry.FACE_STAGES` in the order
they run (``detect`` → ``landmarks`` → ``crop`` → any plug-in step; each after the steps
whose tables it reads, :func:`pipeline.face.steps.face_steps`): each frame goes
into the first step; each row a step decides goes, with that frame, into the next step that
reads it, as the table driver (:meth:`pipeline.face.jobs.FaceStep.run`) feeds it from the
files. Every row passes through its table's Arrow types on the way
(:func:`pipeline.face.tables.as_read`), so given the same params each frame gets exactly the
rows the DVC stages write. ``affwild predict`` and ``predict --live`` run it.

Steps may hold decisions back for a few frames (the subject tracker while it chooses whom to
follow; the landmark gap filler), so the tracker keeps the frames whose last row is not made
yet: at most about ``10 x detect.init_frames + landmarks.max_gap`` frames (when no face is
seen at the start), usually ``init_frames`` or fewer, plus up to ``detect.min_run x
(detect.max_gap_in_run + 1)`` while a new face has not yet persisted long enough to be
reported. That bound does not grow with the video.

    with FaceTracker(params, fps=30.0) as tracker:
        for ff in tracker.track(frames):   # frames: RGB arrays (None: did not decode)
            ff.box, ff.points, ff.rows["crops"]["image"], ...
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipeline.contracts.points68 import N_POINTS
from pipeline.errors import InputError
from pipeline.face import tables
from pipeline.face.jobs import FaceStep, FrameStep, Row, Video
from pipeline.face.steps import face_steps
from pipeline.registry import FACE_STAGES


@dataclass
class FaceFrame:
    """One frame with the row of every face step's table (``rows``: table name -> row, as
    the table's reader gives it); the built-in steps' values as properties."""

    frame: int
    decoded: bool
    rows: dict[str, Row]

    @property
    def box(self) -> np.ndarray | None:
        """(4,) x, y, w, h of the subject's face in source pixels; None where not seen."""
        b = self.rows["boxes"]
        box = np.array([b["x"], b["y"], b["w"], b["h"]], np.float64)
        return box if np.isfinite(box).all() else None

    @property
    def points(self) -> np.ndarray | None:
        """(68, 2) float32 landmarks in source pixels; None where there are none."""
        pts = self.rows["landmarks"]["landmarks"]
        return pts.reshape(N_POINTS, 2) if np.isfinite(pts).all() else None

    @property
    def status(self) -> str:
        """The landmarks step's: detected | tracked | interpolated | missing | rejected."""
        return self.rows["landmarks"]["status"]

    @property
    def crop(self) -> bytes | None:
        """The face crop (JPEG, ``crop.size`` square, as the crop stage stores it)."""
        return self.rows["crops"]["image"]

    @property
    def crop_landmarks(self) -> np.ndarray | None:
        """(136,) float32 landmarks in [0, 1] of the crop; None where cropped from the box."""
        lm = self.rows["crops"]["landmarks"]
        return lm if np.isfinite(lm).all() else None

    @property
    def face(self) -> bool:
        return self.crop is not None

    def columns(self, fields: list[tuple[str, pa.Field]]) -> Row:
        """Column -> value of ``fields`` ((table, field) pairs: :func:`predict_fields`)."""
        return {f.name: self.rows[table][f.name] for table, f in fields}


class FaceTracker:
    """Push frames in order, get :class:`FaceFrame` s back in order (see the module docstring).

    ``params``: an object with a section per face step (:class:`~pipeline.config.Params`, or a
    model's :class:`~pipeline.artifacts.FaceParams`); ``steps``: names of registered steps to
    run (default: all, in the order they run; each must come after the steps it reads)."""

    def __init__(self, params, fps: float = 25.0, subject: str = "", steps=None):
        self.steps: list[FaceStep] = _in_order(steps)
        video = Video(fps=fps, subject=subject)
        self._states: list[FrameStep] = []
        try:
            for step in self.steps:
                self._states.append(step.start(step.section(params), video))
        except BaseException:
            self.close()
            raise
        self._frames: dict[int, np.ndarray | None] = {}
        self._rows: dict[int, dict[str, Row]] = {}
        self.held_max = 0  # most frames held at once (for tests and benchmarks)

    def push(self, frame: int, rgb: np.ndarray | None) -> list[FaceFrame]:
        self._frames[frame] = rgb
        self._rows[frame] = {}
        self.held_max = max(self.held_max, len(self._frames))
        return self._into(0, [frame])

    def finish(self) -> list[FaceFrame]:
        """The frames still held (every step finishes, in order)."""
        out: list[FaceFrame] = []
        for k, state in enumerate(self._states):
            out += self._decided(k, state.finish())
        return out

    def track(self, frames: Iterable[np.ndarray | None]) -> Iterator[FaceFrame]:
        """Every frame of ``frames`` as a :class:`FaceFrame`, in order, streaming."""
        for i, rgb in enumerate(frames):
            yield from self.push(i, rgb)
        yield from self.finish()

    def _into(self, k: int, frames: list[int]) -> list[FaceFrame]:
        """``frames`` (decided by the steps before step ``k``) through step ``k`` and on."""
        if k == len(self.steps):
            return [self._done(f) for f in frames]
        out: list[FaceFrame] = []
        state, step = self._states[k], self.steps[k]
        for f in frames:
            inputs = {name: self._rows[f][name] for name in step.reads}
            out += self._decided(k, state.push(f, self._frames[f], inputs))
        return out

    def _decided(self, k: int, rows: list[Row]) -> list[FaceFrame]:
        step = self.steps[k]
        for row in rows:
            self._rows[row["frame"]][step.writes] = tables.as_read(row, step.schema)
        return self._into(k + 1, [row["frame"] for row in rows])

    def _done(self, frame: int) -> FaceFrame:
        rgb = self._frames.pop(frame)
        return FaceFrame(frame, rgb is not None, self._rows.pop(frame))

    def close(self) -> None:
        for state in reversed(self._states):
            state.close()
        self._states = []

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _in_order(names) -> list[FaceStep]:
    """The steps to run: each after the steps writing the tables it reads."""
    steps = face_steps() if names is None else [FACE_STAGES.get(n) for n in names]
    written: set[str] = set()
    for step in steps:
        missing = [t for t in step.reads if t not in written]
        if missing:
            raise InputError(
                f"face step {step.name!r} reads {missing}, which no step before it writes"
            )
        written.add(step.writes)
    return steps


def predict_fields(steps: list[FaceStep] | None = None) -> list[tuple[str, pa.Field]]:
    """(table, field) of each column the face steps add to ``affwild predict``'s rows (their
    ``predict_columns``), in step order."""
    steps = face_steps() if steps is None else steps
    return [(s.writes, s.schema.field(c)) for s in steps for c in s.predict_columns]


def face_frames(frames, params, fps: float, subject: str = "") -> Iterator[FaceFrame]:
    """Every frame of ``frames`` (RGB arrays, None where one did not decode) as a
    :class:`FaceFrame`, in order, streaming."""
    with FaceTracker(params, fps, subject) as tracker:
        yield from tracker.track(frames)
