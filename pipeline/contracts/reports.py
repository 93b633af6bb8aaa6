"""What a face step did with one video: the per-video entry of a face stage's summary
(:class:`pipeline.artifacts.FaceStageSummary`), filled by the step as it goes. Here, below
the face steps and the artifacts alike, so that neither imports the other for it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class VideoReport(BaseModel):
    """What a face stage did with one video (one entry of a summary's ``videos_detail``).

    The stage's ``*_video`` function fills it as it goes; :meth:`timed` sets the seconds
    (timings are not written into the summary: :meth:`FaceStageSummary.timings`)."""

    model_config = ConfigDict(extra="allow")
    video_id: str
    frames: int = Field(ge=0)
    decoded: int = Field(0, ge=0)
    faces: int = Field(0, ge=0)  # frames with the subject's face (box / landmarks / valid crop)
    missing: int = Field(0, ge=0)
    seconds: float = Field(0.0, exclude=True)
    statuses: dict[str, int] = {}
    multi_face_frames: int = 0
    error: str | None = None  # why the video failed (it then has an all-"no face" table)
    warnings: list[str] = []
    extra: dict[str, Any] = {}
    frames_per_s: float | None = Field(None, exclude=True)

    def timed(self, seconds: float) -> VideoReport:
        self.seconds = seconds
        self.frames_per_s = round(self.frames / seconds, 1) if seconds > 0 else None
        return self
