"""What every face stage shares per video: the job, its report, and the frame stream.

Each stage's ``*_video`` function (``pipeline.face.detect`` / ``landmarks`` / ``crop``) streams
one video (and the previous stages' tables for it) and writes exactly one output row per
source frame (``job.n_frames``, the manifest's decoded count), whatever happens: frames that
do not decode, or are missing because decoding stopped early, become "no face" rows and are
counted in the returned :class:`~pipeline.artifacts.VideoReport`. Memory does not grow with the video's length.

A stage is a typed :class:`FaceStage`: its per-video function, the function writing an
all-"no face" table, and its params.yaml section; registered by name in
:data:`pipeline.registry.FACE_STAGES`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from pipeline.artifacts import VideoReport
from pipeline.video.reader import VideoError, iter_frames

log = logging.getLogger(__name__)

Progress = Callable[[int], None]


@dataclass(frozen=True)
class VideoJob:
    """One manifest row plus the paths one stage reads and writes for it."""

    video_id: str
    source: str
    n_frames: int
    fps: float
    subject: str
    out: str
    boxes: str = ""
    landmarks: str = ""
    source_landmarks: str = ""  # the data set's own landmarks table (may hold other videos)


class Frames:
    """A video's frames, exactly ``n_frames`` of them: ``None`` where a frame did not decode."""

    def __init__(self, source: str, n_frames: int):
        self.source, self.n_frames = source, n_frames
        self.decoded = 0
        self.error: str | None = None

    def __iter__(self) -> Iterator[np.ndarray | None]:
        try:
            for rgb in iter_frames(self.source, limit=self.n_frames):
                self.decoded += 1
                yield rgb
        except (VideoError, cv2.error, OSError) as exc:
            if self.decoded == 0:  # not a video at all: the video fails (and is reported)
                raise
            self.error = str(exc)
        for _ in range(self.n_frames - self.decoded):
            yield None

    def note(self, report: VideoReport) -> None:
        report.decoded = self.decoded
        if self.decoded < self.n_frames:
            why = f": {self.error}" if self.error else ""
            report.warnings.append(
                f"{self.source}: decoding stopped after {self.decoded} of {self.n_frames} "
                f"frames{why}; frames {self.decoded}-{self.n_frames - 1} are rows without a face"
            )


def finish(report: VideoReport, frames: Frames, t0: float, what: str) -> VideoReport:
    frames.note(report)
    report.timed(time.perf_counter() - t0)
    if report.faces == 0 and report.frames > 0:
        report.warnings.append(f"{report.video_id}: no {what} in any of its {report.frames} frames")
    for w in report.warnings:
        log.warning(w)
    return report


@dataclass(frozen=True)
class FaceStage:
    """One per-video face stage (detect, landmarks, crop), run by an engine
    (:class:`pipeline.parallel.Engine`). Picklable: its functions are module-level."""

    name: str
    # (job, the stage's params section, progress) -> the video's report; writes job.out
    run: Callable[[VideoJob, Any, Progress | None], VideoReport]
    # job -> None: writes job.out with every frame "no face" (a video that failed)
    empty: Callable[[VideoJob], None]
    # params -> this stage's section of params.yaml (an operator.attrgetter: picklable)
    section: Callable[[Any], Any]

    def run_job(self, job: VideoJob, cfg, progress: Progress | None = None) -> VideoReport:
        """Run on one video; never raises: a failure writes "no face" rows and is reported."""
        t0 = time.perf_counter()
        try:
            return self.run(job, cfg, progress)
        except Exception as exc:  # noqa: BLE001 - one bad video must not stop the others
            msg = f"{job.video_id} ({job.source}): {type(exc).__name__}: {exc}"
            log.error("%s failed: %s", self.name, msg)
            try:
                self.empty(job)
            except Exception as exc2:  # noqa: BLE001
                msg += f"; writing its empty table failed too: {exc2}"
            report = VideoReport(
                video_id=job.video_id, frames=job.n_frames, missing=job.n_frames, error=msg
            )
            return report.timed(time.perf_counter() - t0)

    def failed_report(self, job: VideoJob, why: str) -> VideoReport:
        """The report of a video whose worker died: an all-"no face" table is written for it."""
        try:
            self.empty(job)
        except Exception as exc:  # noqa: BLE001
            why += f"; writing its empty table failed too: {exc}"
        return VideoReport(
            video_id=job.video_id, frames=job.n_frames, missing=job.n_frames,
            error=f"{job.video_id} ({job.source}): {why}",
        )  # fmt: skip
