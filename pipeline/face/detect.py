"""The ``detect`` stage for one video: every face in every frame, the subject followed.

The per-frame work is :class:`SubjectDetector` (streaming, no IO); :class:`DetectStep` gives
its decisions as rows of the boxes table (``tables.BOXES``), and :data:`DETECT` is the
registered face step (:mod:`pipeline.face.jobs`) that the table driver and ``affwild
predict``'s in-memory driver run. MediaPipe is imported inside :class:`SubjectDetector`, so
importing this module is cheap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.contracts.face_params import DetectConfig
from pipeline.contracts.reports import VideoReport
from pipeline.face import tables
from pipeline.face.jobs import FaceStep, Row, Video
from pipeline.face.subject import Face, SubjectTracker, appearance, colour_histogram
from pipeline.face.temporal import Persistence
from pipeline.registry import FACE_STAGES


@dataclass
class SubjectFace:
    """The followed subject in one frame: its box, key points and score (None / NaN where the
    subject is not seen), and how many faces the frame had (-1: the frame did not decode)."""

    frame: int
    box: np.ndarray | None  # (4,) float32 x, y, w, h in source pixels
    keypoints: np.ndarray | None  # (6, 2) float32, source pixels
    score: float
    n_faces: int


class SubjectDetector:
    """Detection and subject following, one frame at a time (the ``detect`` stage's core).

    :meth:`push` frames in order (``None`` for a frame that did not decode); it returns the
    :class:`SubjectFace` of every frame whose decision is final now, in frame order — possibly
    none while the tracker is still choosing whom to follow; :meth:`finish` returns the rest.
    Used by :class:`DetectStep` and by the landmark tools (``pipeline.face.annotated``).
    """

    def __init__(self, cfg, subject: str = ""):
        from pipeline.face.mediapipe_models import face_detector

        self.detector = face_detector(cfg.model, cfg.min_confidence, reuse=True)
        self.tracker = SubjectTracker(
            subject, cfg.init_frames, cfg.max_shift, cfg.max_scale_change, cfg.min_similarity
        )
        self._pending: dict[int, tuple[list[Face], int]] = {}
        self.persistence = Persistence(cfg.min_run, cfg.max_gap_in_run)

    def push(self, frame: int, rgb: np.ndarray | None) -> list[SubjectFace]:
        faces: list[Face] = []
        n = -1  # -1: the frame did not decode
        if rgb is not None:
            dets = self.detector(rgb)
            n = len(dets)
            if n:
                gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
                faces = [
                    Face(dets.boxes[k], dets.keypoints[k], float(dets.scores[k]),
                         appearance(gray, dets.boxes[k]), colour_histogram(rgb, dets.boxes[k]))
                    for k in range(n)
                ]  # fmt: skip
        self._pending[frame] = (faces, n)
        return self._decided(self.tracker.push(frame, faces))

    def finish(self) -> list[SubjectFace]:
        # _decided has already passed its faces through the persistence filter: only the run
        # it still holds is left (passing them through again sent frames out of order)
        return self._decided(self.tracker.finish()) + self._persistent([], last=True)

    def _decided(self, decisions) -> list[SubjectFace]:
        out = []
        for frame, idx in decisions:
            faces, n = self._pending.pop(frame)
            if idx is None:
                out.append(SubjectFace(frame, None, None, math.nan, n))
            else:
                f = faces[idx]
                out.append(SubjectFace(frame, f.box, f.keypoints, f.score, n))
        return self._persistent(out)

    def _persistent(self, faces: list[SubjectFace], last: bool = False) -> list[SubjectFace]:
        """Faces that persist (``min_run``); the subject's face in a short blip is dropped."""
        pairs = []
        for f in faces:
            pairs += self.persistence.push(f, f.box is not None)
        if last:
            pairs += self.persistence.finish()
        out = []
        for f, keep in pairs:
            if f.box is not None and not keep:
                f = SubjectFace(f.frame, None, None, math.nan, f.n_faces)
            out.append(f)
        return out

    def close(self) -> None:
        self.detector.close()

    def __enter__(self) -> SubjectDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class DetectStep:
    """The ``detect`` step on one video: :class:`SubjectDetector`'s decisions as rows of the
    boxes table (NaN where the subject is not seen), counted for the video's report."""

    def __init__(self, cfg: DetectConfig, video: Video):
        self.detector = SubjectDetector(cfg, video.subject)
        self.faces = self.multi_face_frames = 0

    def push(self, frame: int, rgb: np.ndarray | None, inputs: Mapping[str, Row]) -> list[Row]:
        return self._rows(self.detector.push(frame, rgb))

    def finish(self) -> list[Row]:
        return self._rows(self.detector.finish())

    def _rows(self, decided: list[SubjectFace]) -> list[Row]:
        rows = []
        for d in decided:
            if d.box is None:
                row = _no_box(d.frame) | {"n_faces": d.n_faces}
            else:
                x, y, w, h = (float(v) for v in d.box)
                row = dict(frame=d.frame, x=x, y=y, w=w, h=h, score=d.score, n_faces=d.n_faces,
                           keypoints=d.keypoints.reshape(-1))  # fmt: skip
                self.faces += 1
            self.multi_face_frames += d.n_faces > 1
            rows.append(row)
        return rows

    def note(self, report: VideoReport) -> None:
        report.faces = self.faces
        report.multi_face_frames = self.multi_face_frames
        report.missing = report.frames - report.faces
        if self.detector.persistence.dropped:
            report.extra["faces_dropped_short_runs"] = self.detector.persistence.dropped

    def close(self) -> None:
        self.detector.close()


def _no_box(frame: int) -> Row:
    nan = math.nan
    return dict(frame=frame, x=nan, y=nan, w=nan, h=nan, score=nan, n_faces=-1, keypoints=None)


DETECT = FACE_STAGES.register(
    "detect",
    FaceStep(
        name="detect",
        params=DetectConfig,
        start=DetectStep,
        writes="boxes",
        schema=tables.BOXES,
        blank=_no_box,
        what="face of the subject",
    ),
    "the labelled subject's face box per frame (MediaPipe detector)",
)
