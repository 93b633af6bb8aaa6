"""What every face stage shares per video: the job, its report, and the frame stream.

Each stage's ``*_video`` function (``pipeline.face.detect`` / ``landmarks`` / ``crop``) streams
one video (and the previous stages' tables for it) and writes exactly one output row per
source frame (``job.n_frames``, the manifest's decoded count), whatever happens: frames that
do not decode, or are missing because decoding stopped early, become "no face" rows and are
counted in the returned :class:`~pipeline.artifacts.VideoReport`. Memory does not grow with the video's length.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

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
