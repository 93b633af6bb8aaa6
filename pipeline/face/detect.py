"""The ``detect`` stage for one video: every face in every frame, the subject followed.

MediaPipe is imported inside :func:`detect_video`, so importing this module is cheap.
"""

from __future__ import annotations

import math
import time

import cv2

from pipeline.face import tables
from pipeline.face.jobs import Frames, Progress, VideoJob, VideoReport, finish
from pipeline.face.subject import Face, SubjectTracker, appearance, colour_histogram


def detect_video(job: VideoJob, cfg, progress: Progress | None = None) -> VideoReport:
    """Detect every face in every frame; follow the subject; write the boxes table."""
    from pipeline.face.mediapipe_models import FaceDetector

    t0 = time.perf_counter()
    report = VideoReport(job.video_id, job.n_frames)
    frames = Frames(job.source, job.n_frames)
    tracker = SubjectTracker(
        job.subject, cfg.init_frames, cfg.max_shift, cfg.max_scale_change, cfg.min_similarity
    )
    pending: dict[int, tuple[list[Face], int]] = {}
    nan4 = (math.nan,) * 4

    def emit(writer, decisions):
        for frame, idx in decisions:
            faces, n = pending.pop(frame)
            if idx is None:
                x, y, w, h = nan4
                score, kps = math.nan, None
            else:
                f = faces[idx]
                x, y, w, h = (float(v) for v in f.box)
                score, kps = f.score, f.keypoints.reshape(-1)
                report.faces += 1
            report.multi_face_frames += n > 1
            writer.add(frame=frame, x=x, y=y, w=w, h=h, score=score, n_faces=n, keypoints=kps)

    with (
        FaceDetector(cfg.model, cfg.min_confidence) as detector,
        tables.TableWriter(job.out, tables.BOXES) as writer,
    ):
        for i, rgb in enumerate(frames):
            faces: list[Face] = []
            n = -1  # -1: the frame did not decode
            if rgb is not None:
                dets = detector(rgb)
                n = len(dets)
                if n:
                    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
                    faces = [
                        Face(dets.boxes[k], dets.keypoints[k], float(dets.scores[k]),
                             appearance(gray, dets.boxes[k]), colour_histogram(rgb, dets.boxes[k]))
                        for k in range(n)
                    ]  # fmt: skip
            pending[i] = (faces, n)
            emit(writer, tracker.push(i, faces))
            if progress:
                progress(1)
        emit(writer, tracker.finish())
    report.missing = report.frames - report.faces
    return finish(report, frames, t0, "face of the subject")


def empty_boxes(job: VideoJob) -> None:
    with tables.TableWriter(job.out, tables.BOXES) as w:
        for i in range(job.n_frames):
            nan = math.nan
            w.add(frame=i, x=nan, y=nan, w=nan, h=nan, score=nan, n_faces=-1, keypoints=None)
