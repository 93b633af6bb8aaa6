"""The ``detect`` stage for one video: every face in every frame, the subject followed.

The per-frame work is :class:`SubjectDetector` (streaming, no IO), which ``affwild predict``
reuses; :func:`detect_video` runs it over a video and writes the table. MediaPipe is imported
inside :class:`SubjectDetector`, so importing this module is cheap.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from operator import attrgetter

import cv2
import numpy as np

from pipeline.artifacts import VideoReport
from pipeline.face import tables
from pipeline.face.jobs import FaceStage, Frames, Progress, VideoJob, finish
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
    Used by :func:`detect_video` and by ``affwild predict``'s streaming pass.
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


def detect_video(job: VideoJob, cfg, progress: Progress | None = None) -> VideoReport:
    """Detect every face in every frame; follow the subject; write the boxes table."""
    t0 = time.perf_counter()
    report = VideoReport(video_id=job.video_id, frames=job.n_frames)
    frames = Frames(job.source, job.n_frames)
    nan4 = (math.nan,) * 4

    def emit(writer, decided: list[SubjectFace]):
        for d in decided:
            if d.box is None:
                x, y, w, h = nan4
                score, kps = math.nan, None
            else:
                x, y, w, h = (float(v) for v in d.box)
                score, kps = d.score, d.keypoints.reshape(-1)
                report.faces += 1
            report.multi_face_frames += d.n_faces > 1
            writer.add(frame=d.frame, x=x, y=y, w=w, h=h, score=score, n_faces=d.n_faces,
                       keypoints=kps)  # fmt: skip

    with (
        SubjectDetector(cfg, job.subject) as detector,
        tables.table_writer(job.out, tables.BOXES) as writer,
    ):
        for i, rgb in enumerate(frames):
            emit(writer, detector.push(i, rgb))
            if progress:
                progress(1)
        emit(writer, detector.finish())
    report.missing = report.frames - report.faces
    if detector.persistence.dropped:
        report.extra["faces_dropped_short_runs"] = detector.persistence.dropped
    return finish(report, frames, t0, "face of the subject")


def empty_boxes(job: VideoJob) -> None:
    with tables.table_writer(job.out, tables.BOXES) as w:
        for i in range(job.n_frames):
            nan = math.nan
            w.add(frame=i, x=nan, y=nan, w=nan, h=nan, score=nan, n_faces=-1, keypoints=None)


DETECT = FACE_STAGES.register(
    "detect",
    FaceStage("detect", detect_video, empty_boxes, attrgetter("detect")),
    "the labelled subject's face box per frame (MediaPipe detector)",
)
