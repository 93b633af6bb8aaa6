"""What every face step shares: the typed step, its per-video job, and the table driver.

A face step (:class:`FaceStep`, registered by name in :data:`pipeline.registry.FACE_STAGES`)
declares its ``params.yaml`` section (a pydantic type; the section is named after the step),
the tables of earlier steps it reads per frame, the table it writes (name and Arrow schema),
and how to start its per-frame work on one video: a :class:`FrameStep`, which takes frames
in order and gives back each frame's row once it is decided (it may hold a few back).

Two drivers run the registered steps, so the composition is written once:

* the table driver (:meth:`FaceStep.run`, one video; :mod:`pipeline.face.runner`, the
  manifest on an engine; ``python -m stages.face NAME``, the DVC stage) reads the step's input
  tables, streams the video's frames through the step and writes exactly one row per source
  frame (``job.n_frames``, the manifest's decoded count), whatever happens: frames that do not
  decode, or are missing because decoding stopped early, become "no face" rows and are
  counted in the returned :class:`~pipeline.artifacts.VideoReport`;
* the in-memory driver (:class:`pipeline.face.tracker.FaceTracker`) chains every registered
  step on frames as they come, for ``affwild predict`` and ``predict --live``.

Memory does not grow with the video's length.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np
import pyarrow as pa

from pipeline.contracts.reports import VideoReport
from pipeline.face import tables
from pipeline.video.reader import VideoError, iter_frames

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
# One frame's values of a table, by column ("frame" included). A step returns its rows with
# the values it has (None / NaN for "none"); a step reading a table gets each row as the
# table's reader gives it back (float32 scalars, fixed-size lists as float32 arrays with NaN
# for none: :func:`pipeline.face.tables.iter_rows`), from a file or from memory alike.
Row = dict[str, Any]


@dataclass(frozen=True)
class VideoJob:
    """One manifest row plus the paths one step reads and writes for it."""

    video_id: str
    source: str
    n_frames: int
    fps: float
    subject: str
    out: str
    # input name -> path: the video's table of each table the step reads (``FaceStep.reads``)
    # and each whole-data-set file it may read (``FaceStep.files``; may hold other videos)
    inputs: Mapping[str, str] = field(default_factory=dict)
    # input table name -> the schema its writer declares (the driver fills it from the
    # registry: :func:`pipeline.face.steps.table_schemas`); a table not named here is read
    # with the schema it was written with
    schemas: Mapping[str, pa.Schema] = field(default_factory=dict)


@dataclass(frozen=True)
class Video:
    """What a step knows about its video before the first frame."""

    video_id: str = ""
    fps: float = 25.0
    subject: str = ""  # "" | left | right (the manifest's subject)
    files: Mapping[str, str] = field(default_factory=dict)  # FaceStep.files -> path ("": none)


class FrameStep(Protocol):
    """A step's work on one video, one frame at a time.

    :meth:`push` frames in order (``rgb`` None where a frame did not decode) with the rows of
    the tables the step reads for that frame; it returns the rows that are final now, in frame
    order (possibly none while it holds frames back); :meth:`finish` returns the rest, so that
    every frame gets exactly one row. :meth:`note` puts what it counted into the video's
    report; :meth:`close` frees what it holds (models)."""

    def push(self, frame: int, rgb: np.ndarray | None, inputs: Mapping[str, Row]) -> list[Row]: ...

    def finish(self) -> list[Row]: ...

    def note(self, report: VideoReport) -> None: ...

    def close(self) -> None: ...


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


def blank_row(schema: pa.Schema, frame: int) -> Row:
    """A row without a face: NaN floats, null lists / strings / bytes, false, -1 integers."""
    row: Row = {}
    for f in schema:
        if pa.types.is_floating(f.type):
            row[f.name] = math.nan
        elif pa.types.is_boolean(f.type):
            row[f.name] = False
        elif pa.types.is_integer(f.type):
            row[f.name] = -1
        else:
            row[f.name] = None
    return row | {"frame": frame}


@dataclass(frozen=True)
class FaceStep:
    """One face step (see the module docstring). Picklable where its functions are
    module-level: an engine sends it to worker processes."""

    name: str  # its name in FACE_STAGES, its DVC stage's and its params.yaml section's
    params: type  # its section's pydantic type (every field with a default)
    # (its section, the video) -> its per-frame work on that video
    start: Callable[[Any, Video], FrameStep]
    writes: str  # the name of the table it writes (one per video, ``<video_id>.parquet``)
    schema: pa.Schema  # that table's schema; it has a ``frame`` column
    reads: tuple[str, ...] = ()  # tables of earlier steps it reads, frame by frame
    files: tuple[str, ...] = ()  # whole-data-set files it may read (optional)
    # frame -> the row of a frame without a face (a failed video's table); default blank_row
    blank: Callable[[int], Row] | None = None
    what: str = "face"  # what it finds, for the "no ... in any of its frames" warning
    rows_per_group: int = 2048  # Parquet row group size of its table
    # its columns that `affwild predict` adds to each row (the built-in steps add none)
    predict_columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        missing = [c for c in ("frame", *self.predict_columns) if c not in self.schema.names]
        if missing:
            raise ValueError(f"face step {self.name!r}: its schema has no column {missing}")

    def section(self, params) -> Any:
        """Its section of ``params`` (:class:`~pipeline.config.Params` or a model's
        :class:`~pipeline.artifacts.FaceParams`)."""
        return getattr(params, self.name)

    def blank_row(self, frame: int) -> Row:
        return self.blank(frame) if self.blank is not None else blank_row(self.schema, frame)

    def run(self, job: VideoJob, cfg, progress: Progress | None = None) -> VideoReport:
        """The table driver on one video: its input tables and frames in, its table out."""
        t0 = time.perf_counter()
        report = VideoReport(video_id=job.video_id, frames=job.n_frames)
        frames = Frames(job.source, job.n_frames)
        readers = {name: self._reader(job, name) for name in self.reads}
        video = Video(job.video_id, job.fps, job.subject,
                      {f: job.inputs.get(f, "") for f in self.files})  # fmt: skip
        state = self.start(cfg, video)
        try:
            with tables.table_writer(job.out, self.schema, self.rows_per_group) as writer:
                for i, rgb in enumerate(frames):
                    inputs = {name: next(rows) for name, rows in readers.items()}
                    for row in state.push(i, rgb, inputs):
                        writer.add(**row)
                    if progress:
                        progress(1)
                for row in state.finish():
                    writer.add(**row)
        finally:
            state.close()
        state.note(report)
        return finish(report, frames, t0, self.what)

    def _reader(self, job: VideoJob, name: str) -> Iterator[Row]:
        path = job.inputs.get(name)
        if not path:
            raise tables.TableError(f"face step {self.name!r}: no {name!r} table given")
        schema = job.schemas.get(name) or tables.written_schema(path)
        tables.check_table(path, schema, job.n_frames)
        return tables.iter_rows(path, schema)

    def empty(self, job: VideoJob) -> None:
        """Write ``job.out`` with every frame "no face" (a video that failed)."""
        with tables.table_writer(job.out, self.schema) as w:
            for i in range(job.n_frames):
                w.add(**self.blank_row(i))

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
