"""Valence and arousal for every frame of a video: face pass -> model -> one row per frame.

**Inputs as in training.** A face crop (the crop stage's JPEG) is decoded and resized with
the records reader's own code (:func:`pipeline.records.reader.decode_images`) and given to the
model as 0-255 floats (the model's first layer normalises, as in training); landmarks are the crop-normalised 68 points, zeros where the crop came from the box alone
(as the records carry them).

**CNN.** Frames with a face are batched (``batch_size`` crops per call, the last batch
padded so the model keeps one input shape); frames without a face are not shown to it (it
never saw one in training) and get NaN.

**CNN-RNN.** Windows of the model's ``seq_len`` frames overlap and only each window's tail
is kept (:mod:`pipeline.contracts.windows`, the plan evaluation uses): every frame is
predicted exactly once and with at least ``context`` preceding frames (half a window by
default), so the prediction does not jump where a window starts from a zero state; the
``blend`` frames before each seam are crossfaded as evaluation does (default none: the
windows already agree there, docs/results-and-choices.md#cnn-rnn-windows), those rows coming
one window later. The last window is padded with black, landmark-less steps. Frames without
a face are in the window as a black image with zero landmarks (as no-face steps were in
training), so the recurrence runs on; their output is still reported as NaN, for
consistency with the CNN and because the label of a frame whose face is not seen is not
defined.

**Rows.** ``frame`` (0-based), ``time_s`` (the container's time stamp, so variable frame
rates are honoured), ``valence``, ``arousal`` (NaN where no face), ``face`` (bool), then the
columns registered face steps add (``FaceStep.predict_columns``; the built-in ones add none) —
one per decoded frame, written to .csv or .parquet by the one table writer (:class:`pipeline.io.RowWriter`;
a CSV spells them as Arrow's CSV writer does: ``nan``, ``true`` / ``false``).

**Streaming.** Frames are decoded once; the face pass holds a bounded number of frames
(see :mod:`pipeline.face.tracker`), the model at most one batch / a few windows of crops.
The rows stream to a temporary file that replaces the output only when the whole video is
done (``pipeline.io.atomic_path``); the overlay video reads the input a second time, in
lock-step with the rows, so no frame is held for it either.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pyarrow as pa

from pipeline.contracts import windows
from pipeline.contracts.points68 import N_VALUES
from pipeline.errors import InputError
from pipeline.face.tracker import FaceFrame, FaceTracker, predict_fields
from pipeline.io import RowWriter
from pipeline.video.reader import VideoError, iter_frames, iter_timed_frames, probe

if TYPE_CHECKING:
    from pipeline.models.saved import TrainedModel

log = logging.getLogger(__name__)


# -- model inputs ---------------------------------------------------------------------------
class InputMaker:
    """Crops (JPEG) -> the model's input arrays, exactly as the records reader makes them."""

    def __init__(self, tm: TrainedModel):
        import tensorflow as tf

        from pipeline.records.reader import decode_images

        self.size = tm.image_size
        self.names = {t.name.split(":")[0] for t in tm.keras_model.inputs}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def decode(jpegs):
            return tf.map_fn(
                lambda j: decode_images({"image": j}, "frames", self.size)["image"],
                jpegs,
                fn_output_signature=tf.TensorSpec([self.size, self.size, 3], tf.uint8),
            )

        self._decode = decode

    def images(self, crops: list[bytes | np.ndarray | None]) -> np.ndarray:
        """(n, S, S, 3) float32 crops, 0-255 (the model normalises); black where a crop is
        None. A crop is a JPEG (the crop step's) or an (H, W, 3) uint8 RGB array (resized as
        the records reader resizes a decoded JPEG)."""
        out = np.zeros((len(crops), self.size, self.size, 3), np.uint8)
        idx = [k for k, c in enumerate(crops) if isinstance(c, bytes)]
        if idx:
            out[idx] = self._decode(np.array([crops[k] for k in idx], dtype=object)).numpy()
        for k, c in enumerate(crops):
            if isinstance(c, np.ndarray):
                out[k] = self.resized(c)
        return out.astype(np.float32)

    def resized(self, rgb: np.ndarray) -> np.ndarray:
        """An (H, W, 3) uint8 crop at the model's size, as the records reader resizes."""
        if rgb.shape[:2] == (self.size, self.size):
            return rgb
        import tensorflow as tf

        img = tf.image.resize(rgb, [self.size, self.size], antialias=True)
        return tf.cast(tf.round(tf.clip_by_value(img, 0, 255)), tf.uint8).numpy()

    @staticmethod
    def landmarks(frames: list[FaceFrame | None]) -> np.ndarray:
        out = np.zeros((len(frames), N_VALUES), np.float32)
        for k, ff in enumerate(frames):
            if ff is not None and ff.face and ff.crop_landmarks is not None:
                lm = ff.crop_landmarks
                if np.isfinite(lm).all():
                    out[k] = lm
        return out

    def inputs(self, image: np.ndarray, landmarks: np.ndarray) -> dict:
        x = {"image": image, "landmarks": landmarks}
        return {k: v for k, v in x.items() if k in self.names} or x


@dataclass
class Prediction:
    face: FaceFrame
    valence: float
    arousal: float
    # the first frame whose input this prediction depends on (CNN: the frame itself; CNN-RNN:
    # its window's first frame in a file, the frame the carried state started at live); -1
    # where there is no prediction (no face)
    window_start: int = -1


class ModelPass:
    """Push :class:`FaceFrame` s in order, get :class:`Prediction` s back in order (see the
    module docstring for how CNN and CNN-RNN inputs are formed)."""

    def __init__(self, tm: TrainedModel, batch_size: int = 64, context: int | None = None,
                 blend: int | None = None):  # fmt: skip
        self.tm = tm
        self.make = InputMaker(tm)
        self.batch_size = max(1, int(batch_size))
        self.seq_len = tm.seq_len
        self.windows_per_call = max(1, self.batch_size // (self.seq_len or 1))
        if self.seq_len and context is None:
            context = windows.default_context(self.seq_len)
        if self.seq_len:
            windows.check_context(self.seq_len, context)
            blend = windows.default_blend(context) if blend is None else blend
            windows.check_blend(context, blend)
        self.context, self.blend = context or 0, blend or 0
        # the last `context` frames, predicted; the last len(_held) of them not yet emitted:
        # their prediction (the earlier window's) waits for the next window's crossfade
        self._history: list[FaceFrame] = []
        self._held = np.zeros((0, 2), np.float32)
        self._held_starts = np.zeros(0, np.int64)
        self._pending: list[FaceFrame] = []
        self._n_faces = 0
        self.model_seconds = 0.0
        self.model_calls = 0

    def _run(self, inputs: dict) -> np.ndarray:
        t0 = time.perf_counter()
        out = self.tm.keras_model.predict_on_batch(inputs)
        self.model_seconds += time.perf_counter() - t0
        self.model_calls += 1
        return np.asarray(out, np.float32)

    def push(self, ff: FaceFrame) -> list[Prediction]:
        self._pending.append(ff)
        self._n_faces += ff.face
        if self.seq_len is None:
            # Bounded too when faces are rare: no-face frames need no model call.
            if self._n_faces >= self.batch_size or len(self._pending) >= 8 * self.batch_size:
                return self._flush()
        elif len(self._pending) >= self.seq_len * self.windows_per_call:
            return self._flush_windows(final=False)
        return []

    def finish(self) -> list[Prediction]:
        if self.seq_len is not None:
            return self._flush_windows(final=True)
        return self._flush()

    def _flush(self) -> list[Prediction]:
        pending, self._pending, self._n_faces = self._pending, [], 0
        if not pending:
            return []
        va = np.full((len(pending), 2), np.nan, np.float32)
        if self.seq_len is None:
            faces = [k for k, ff in enumerate(pending) if ff.face]
            if faces:
                n = self.batch_size  # padded: one input shape, one trace
                chosen = [pending[k] for k in faces] + [None] * (n - len(faces))
                crops = [None if ff is None else ff.crop for ff in chosen]
                out = self._run(
                    self.make.inputs(self.make.images(crops), self.make.landmarks(chosen))
                )
                va[faces] = out[: len(faces), :2]
        return [
            Prediction(ff, float(v), float(a), ff.frame if ff.face else -1)
            for ff, (v, a) in zip(pending, va, strict=True)
        ]

    def _flush_windows(self, final: bool) -> list[Prediction]:
        """Overlapping windows over (history + pending), tails kept and the ``blend`` frames
        before each seam crossfaded (:func:`pipeline.contracts.windows.place`, as evaluation
        does). Before the end of the video only complete windows run (the rest waits), so the
        windows fall where the whole-video plan puts them, whatever the batch size; the last
        ``blend`` predicted frames are held back until the next window has blended them."""
        t = self.seq_len
        frames = self._history + self._pending
        head, n_held = len(self._history), len(self._held)
        plan = windows.plan(len(frames), t, self.context, covered=head)
        if not final:
            plan = [w for w in plan if w.start + t <= len(frames)]
            if not plan:
                return []
        done = plan[-1].keep_to if plan else head
        out = np.full((done, 2), np.nan, np.float32)
        starts = np.full(done, -1, np.int64)
        out[head - n_held : head], starts[head - n_held : head] = self._held, self._held_starts
        if any(ff.face for ff in frames[head - n_held : done]):
            for k in range(0, len(plan), self.windows_per_call):
                self._run_windows(plan[k : k + self.windows_per_call], frames, out, starts)
        hold = 0 if final else self.blend
        first, last = head - n_held, done - hold
        emitted = frames[first:last]
        self._held, self._held_starts = out[last:done], starts[last:done]
        self._pending = frames[done:]
        self._n_faces = sum(ff.face for ff in self._pending)
        self._history = frames[max(0, done - self.context) : done] if self.context else []
        va = out[first:last]
        va[~np.array([ff.face for ff in emitted], bool)] = np.nan
        return [
            Prediction(ff, float(v), float(a), int(s) if ff.face else -1)
            for ff, (v, a), s in zip(emitted, va, starts[first:last], strict=True)
        ]

    def _run_windows(self, group: list, frames: list, out: np.ndarray, starts: np.ndarray):
        """One model call on the windows ``group``, each placed on ``out`` in turn; a kept
        frame's ``starts`` is its window's first frame (a blended frame keeps the earlier
        window's)."""
        t, size = self.seq_len, self.tm.image_size
        steps: list[FaceFrame | None] = []
        for w in group:
            part = frames[w.start : w.start + t]
            steps += part + [None] * (t - len(part))
        crops = [None if ff is None or not ff.face else ff.crop for ff in steps]
        image = self.make.images(crops).reshape(len(group), t, size, size, 3)
        lms = self.make.landmarks(steps).reshape(len(group), t, N_VALUES)
        res = self._run(self.make.inputs(image, lms))
        for w, r in zip(group, res, strict=True):
            at = np.arange(w.start, w.start + t)
            windows.place(out, at, r[:, :2], w.keep_from - w.start, w.keep_to - w.start,
                          self.blend)  # fmt: skip
            starts[w.keep_from : w.keep_to] = frames[w.start].frame


# -- the output table -----------------------------------------------------------------------
ROWS = pa.schema(
    [("frame", pa.int32()), ("time_s", pa.float64()), ("valence", pa.float32()),
     ("arousal", pa.float32()), ("face", pa.bool_())]
)  # fmt: skip
COLUMNS = tuple(ROWS.names)


def row_writer(
    path: Path, rows_per_batch: int = 4096, fields: list[tuple[str, pa.Field]] = ()
) -> RowWriter:
    """The prediction rows' streaming writer: a temporary .csv / .parquet that becomes ``path``
    only when the block exits without an error (never a partial file that looks complete).
    ``fields``: the face steps' columns after :data:`ROWS` (:func:`predict_fields`)."""
    if Path(path).suffix.lower() not in (".csv", ".parquet"):
        raise InputError(f"{path}: output must end in .csv or .parquet")
    return RowWriter(path, pa.schema([*ROWS, *(f for _, f in fields)]), rows_per_batch)


# -- one video --------------------------------------------------------------------------------
@dataclass
class VideoResult:
    video: Path
    out: Path | None = None
    overlay: Path | None = None
    frames: int = 0
    faces: int = 0
    fps: float = 0.0
    seconds: float = 0.0
    model_seconds: float = 0.0
    face_pass_held_max: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    declared: int = -1  # the container's frame count (-1: none declared)
    expected: int = -1  # the frame count known before decoding (-1: unknown)

    @property
    def no_face(self) -> bool:
        return self.error is None and self.frames > 0 and self.faces == 0


def _frames(
    source: Path, result: VideoResult, fps: float, times: dict[int, float]
) -> Iterator[np.ndarray]:
    """Decoded frames; a decoding error after the first frame ends the video (reported).
    Each frame's container time stamp goes to ``times`` (variable frame rates honoured)."""
    n = 0
    try:
        for t, rgb in iter_timed_frames(source, fps):
            times[n] = t
            n += 1
            yield rgb
    except (VideoError, cv2.error, OSError) as exc:
        if n == 0:
            raise VideoError(f"{source}: not a readable video ({exc})") from None
        result.warnings.append(f"{source}: decoding stopped after {n} frames: {exc}")
    if n == 0:
        raise VideoError(f"{source}: holds no decodable frame (not a video?)")


def start_video(source: str | Path) -> VideoResult:
    """A video's result before its first frame: the rate from the container (the frame count
    too, without decoding it all). :class:`VideoError` (an :class:`InputError`) for a file
    that is not a video."""
    source = Path(source)
    info = probe(source, count=False)
    result = VideoResult(video=source, fps=info.fps)
    result.declared = info.declared_frames
    result.expected = info.n_frames if info.n_frames >= 0 else info.declared_frames
    return result


def progress_bar(result: VideoResult, progress: bool | None):
    """tqdm over a video's frames (``progress`` None: only on a terminal)."""
    from tqdm import tqdm

    total = result.expected if result.expected > 0 else None
    disable = None if progress is None else not progress
    return tqdm(total=total, unit="frame", desc=result.video.name, leave=False, disable=disable)


class FilePass:
    """The file rule on frames in order: every face step (:class:`FaceTracker`), then the
    model's batches or windows (:class:`ModelPass`); predictions in frame order."""

    def __init__(self, tm: TrainedModel, fps: float, subject: str = "", batch_size: int = 64):
        self.tm, self.fps, self.subject = tm, fps, subject
        self.model = ModelPass(tm, batch_size)
        self.held_max = 0

    def run(self, frames: Iterable[np.ndarray | None]) -> Iterator[Prediction]:
        with FaceTracker(self.tm.face, self.fps, self.subject) as tracker:
            try:
                for ff in tracker.track(frames):
                    yield from self.model.push(ff)
                yield from self.model.finish()
            finally:
                self.held_max = tracker.held_max


def video_predictions(
    result: VideoResult,
    tm: TrainedModel,
    *,
    batch_size: int = 64,
    subject: str = "",
    progress: bool | None = False,
) -> Iterator[tuple[Prediction, float]]:
    """Every decoded frame of ``result.video`` as (prediction, time in seconds), in order,
    streaming; the counts, the model's time and the warnings go to ``result``."""
    t0 = time.perf_counter()
    fpass = FilePass(tm, result.fps, subject, batch_size)
    times: dict[int, float] = {}
    with progress_bar(result, progress) as bar:
        for p in fpass.run(_frames(result.video, result, result.fps, times)):
            result.frames += 1
            result.faces += p.face.face
            bar.update(1)
            yield p, times.pop(p.face.frame, p.face.frame / result.fps)
    result.face_pass_held_max = fpass.held_max
    result.model_seconds = fpass.model.model_seconds
    result.seconds = time.perf_counter() - t0
    _final_warnings(result)


def _final_warnings(result: VideoResult) -> None:
    source = result.video
    if result.declared > 0 and result.frames < result.declared:
        result.warnings.append(  # as ingest reports it: a cut-off download, a damaged file
            f"{source}: container declares {result.declared} frames, "
            f"{result.frames} decode (the file may be truncated)"
        )
    if result.no_face:
        where = f"; {result.out} holds {result.frames} rows of NaN" if result.out else ""
        result.warnings.append(
            f"{source}: no face found in any of its {result.frames} frames{where}"
        )
    for w in result.warnings:
        log.warning(w)


def base_row(p: Prediction, time_s: float, fields: list[tuple[str, pa.Field]]) -> dict:
    """The columns of ``affwild predict``'s rows (:data:`ROWS`, then ``fields``)."""
    ff = p.face
    return dict(
        frame=ff.frame,
        time_s=round(time_s, 6),  # microseconds: what a container's stamp resolves
        valence=p.valence,
        arousal=p.arousal,
        face=ff.face,
        **ff.columns(fields),
    )


def predict_video(
    source: str | Path,
    tm: TrainedModel,
    out: str | Path,
    overlay: str | Path | None = None,
    batch_size: int = 64,
    subject: str = "",
    progress: bool | None = None,
) -> VideoResult:
    """Predict every frame of ``source`` with ``tm``; write the rows to ``out`` (and the overlay
    video to ``overlay``). Raises :class:`InputError` (nothing written) for a file that is not
    a video; a video with no face at all gets its all-NaN rows (``result.no_face``)."""
    result = start_video(source)
    result.out = Path(out)
    result.overlay = Path(overlay) if overlay is not None else None
    fields = predict_fields()
    with ExitStack() as stack:
        rows = stack.enter_context(row_writer(Path(out), fields=fields))
        draw = _overlay(stack, result) if overlay is not None else None
        preds = video_predictions(
            result, tm, batch_size=batch_size, subject=subject, progress=progress
        )
        for p, t in preds:
            rows.add(**base_row(p, t, fields))
            if draw is not None:
                draw(p)
    return result


def _overlay(stack: ExitStack, result: VideoResult):
    """The overlay video's writer, fed one prediction at a time; it reads the input a second
    time, one frame per row, so no frame is held for it."""
    from pipeline.inference.overlay import OverlayWriter

    ov = stack.enter_context(OverlayWriter(result.overlay, result.fps).open())
    lagging = iter_frames(result.video)
    stack.callback(lagging.close)
    return lambda p: ov.add(next(lagging, None), p)
