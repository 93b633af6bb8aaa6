"""Live valence and arousal: frames from a camera, a stream or a file, processed as they come.

``affwild predict --live SOURCE --model M --out rows.csv [--show]``

**Source.** A camera index (``0``), a stream URL (``rtsp://``, ``http(s)://``, anything
OpenCV's FFmpeg backend opens; opening and reading give up after ``open_timeout_s``), or a
video file, played at its own frame rate (real-time pacing), so a file behaves like the
camera that recorded it.

**Never queued without bound.** A reader thread takes frames from the source into a queue of
``queue_size`` (1-2) frames; when processing falls behind, the oldest waiting frame is
dropped (the newest is what a live user wants to see), counted, and reported at the end. So
``rows = frames read - frames dropped``, and memory does not grow with the run's length.

**Same face code, same model.** Each processed frame goes through the face steps' own
per-frame code (:class:`~pipeline.face.tracker.FaceTracker`) with the params the model was
trained with, except that missing landmarks are never interpolated from *future* frames
(``landmarks.max_gap = 0``: a live row cannot wait for them). The subject tracker still
looks at its first ``detect.init_frames`` frames with a face before choosing whom to follow,
so the first rows come that much later (their latency says so).

**State carried.** A CNN-RNN runs as a single-step recurrent model built from the saved
model's own layers (:class:`StepModel`): each frame updates the GRU/LSTM state, no windows.
Stepping frame by frame gives what the saved model gives on the whole sequence at once.
A frame without a face is stepped as a black, landmark-less frame (as no-face steps were in
training and in ``predict``); after ``reset_after_s`` seconds without a face the state is
reset (and no longer stepped) until a face returns. A CNN predicts each frame alone.

**Rows** ``frame, time_s, valence, arousal, face, latency_ms`` (then the columns registered
face steps add, as in ``predict``) go to a CSV, one line written
and flushed per frame, so another program can tail it. ``frame`` counts the source's frames
(dropped ones leave gaps); ``time_s`` is the frame's time in a file, the time since the first
frame for a camera or stream; ``latency_ms`` runs from the moment the frame was read to the
moment its row is written. Ctrl-C (SIGINT) or SIGTERM stops the run after the current
frame; the file is then complete, row by row. ``--show`` draws the ``--overlay`` drawing in
a window (``q`` or Esc stops too).
"""

from __future__ import annotations

import logging
import math
import os
import queue
import signal
import sys
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa

from pipeline.errors import InputError
from pipeline.io import RowWriter
from pipeline.video.reader import VideoError, capture_fps, open_capture, read_capture

log = logging.getLogger(__name__)

ROWS = pa.schema(
    [("frame", pa.int32()), ("time_s", pa.float64()), ("valence", pa.float32()),
     ("arousal", pa.float32()), ("face", pa.bool_()), ("latency_ms", pa.float32())]
)  # fmt: skip
COLUMNS = tuple(ROWS.names)
WINDOW = "affwild live"


class LiveError(InputError):
    """A source that cannot be opened or read, or an output that cannot be written."""


# -- the source -----------------------------------------------------------------------------
@dataclass
class Source:
    spec: str
    kind: str  # camera | stream | file
    fps: float
    capture: object  # cv2.VideoCapture


def open_source(spec: str, open_timeout_s: float = 5.0, default_fps: float = 30.0) -> Source:
    """Open a camera index, a stream URL or a video file; :class:`LiveError` (one line)
    if it cannot be opened within ``open_timeout_s`` (streams)."""
    spec = str(spec)
    if spec.isdigit():
        kind, cap = "camera", cv2.VideoCapture(int(spec))
        if not cap.isOpened():
            raise LiveError(f"camera {spec}: cannot be opened (no such camera, or in use)")
    elif "://" in spec:
        kind = "stream"
        ms = int(max(0.1, open_timeout_s) * 1000)
        cap = cv2.VideoCapture(
            spec, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        )  # fmt: skip
        if not cap.isOpened():
            raise LiveError(
                f"{spec}: cannot open the stream within {open_timeout_s:g} s "
                "(unreachable, refused, or not a stream OpenCV's FFmpeg can read)"
            )
    else:
        kind = "file"
        if not Path(spec).is_file():
            raise LiveError(f"{spec}: no such file (and not a camera index or a URL)")
        try:
            cap = open_capture(spec)  # as every reader opens a file: frames upright
        except VideoError as exc:
            raise LiveError(str(exc)) from None
    return Source(spec, kind, capture_fps(cap, default_fps), cap)


@dataclass
class Frame:
    index: int
    time_s: float
    read_at: float  # time.perf_counter() when read
    rgb: np.ndarray


class Reader(threading.Thread):
    """Reads the source into a bounded queue, dropping the oldest waiting frame when full;
    a file is paced at its frame rate. Puts ``None`` at the end of the source."""

    def __init__(self, source: Source, queue_size: int, stop: threading.Event):
        super().__init__(name="live-reader", daemon=True)
        self.source, self.stop = source, stop
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.read = 0
        self.dropped = 0
        self.error: str | None = None
        self._lock = threading.Lock()

    def run(self) -> None:
        src = self.source
        frames = read_capture(src.capture, src.fps)  # the video reader's own frame loop
        t0 = None
        try:
            while not self.stop.is_set():
                if src.kind == "file" and t0 is not None:
                    wait = t0 + self.read / src.fps - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                got = next(frames, None)
                now = time.perf_counter()
                if got is None:
                    if src.kind != "file" and self.read == 0:
                        self.error = f"{src.spec}: opened, but no frame could be read"
                    break
                t0 = now if t0 is None else t0
                t, rgb = got  # a file's own time stamp; a camera's or stream's: since frame 0
                frame = Frame(self.read, t if src.kind == "file" else now - t0, now, rgb)
                self.read += 1
                self._offer(frame)
        except cv2.error as exc:
            self.error = f"{src.spec}: reading failed after {self.read} frames: {exc}"
        finally:
            frames.close()
            self._end()

    def _offer(self, frame: Frame) -> None:
        with self._lock:
            while True:
                try:
                    self.queue.put_nowait(frame)
                    return
                except queue.Full:
                    try:
                        self.queue.get_nowait()  # the oldest waiting frame goes
                        self.dropped += 1
                    except queue.Empty:
                        pass

    def _end(self) -> None:
        while True:  # the end marker is never dropped; the consumer may have stopped
            try:
                self.queue.put(None, timeout=0.1)
                return
            except queue.Full:
                if self.stop.is_set():
                    return


# -- the model, one frame at a time -----------------------------------------------------------
class StepModel:
    """A saved CNN-RNN as a single-step recurrent model: :meth:`step` takes one frame's
    image ``(1, S, S, 3)`` and landmarks ``(1, 136)`` and returns ``(1, 2)``, updating the
    RNN state it carries; :meth:`reset` zeroes it. Built from the saved model's own layers
    (preprocess, backbone, join, FC, each RNN layer's cell, output), so it has exactly its
    weights and takes raw crops like it; dropout is off (inference)."""

    def __init__(self, keras_model):
        import keras
        import tensorflow as tf

        from pipeline.models.layers import Preprocess, preprocess_layer

        preprocess = preprocess_layer(keras_model)  # one, before the heads split

        names = [layer.name for layer in keras_model.layers]
        subnets = (
            [keras_model.get_layer(d) for d in ("valence", "arousal")]
            if "valence" in names and "arousal" in names
            else [keras_model]
        )
        self._chains = []
        for net in subnets:
            chain = []
            for layer in net.layers:
                if isinstance(layer, keras.layers.InputLayer | keras.layers.Dropout | Preprocess):
                    continue
                if isinstance(layer, keras.layers.TimeDistributed):
                    chain.append(("backbone", layer.layer))
                elif isinstance(layer, keras.layers.Concatenate):
                    chain.append(("join", layer))
                elif isinstance(layer, keras.layers.RNN):
                    chain.append(("rnn", layer.cell))
                elif isinstance(layer, keras.layers.Dense):
                    chain.append(("dense", layer))
                else:
                    raise LiveError(f"{net.name}: layer {layer.name!r} ({type(layer).__name__}) "
                                    "has no single-step form")  # fmt: skip
            self._chains.append(chain)
        self.cells = [c for chain in self._chains for kind, c in chain if kind == "rnn"]
        self.state = self._zeros()

        @tf.function(reduce_retracing=True)
        def step(image, landmarks, states):
            outs, new_states, k = [], [], 0
            if preprocess is not None:
                image = preprocess(image)
            for chain in self._chains:
                x = image
                for kind, layer in chain:
                    if kind == "backbone":
                        x = layer(x, training=False)
                    elif kind == "join":
                        x = layer([x, landmarks])
                    elif kind == "dense":
                        x = layer(x)
                    else:
                        x, s = layer(x, states[k], training=False)
                        new_states.append(list(s) if isinstance(s, list | tuple) else [s])
                        k += 1
                outs.append(x)
            return tf.concat(outs, axis=-1), new_states

        self._step = step

    def _zeros(self) -> list:
        import tensorflow as tf

        out = []
        for cell in self.cells:
            size = cell.state_size
            sizes = list(size) if isinstance(size, list | tuple) else [size]
            out.append([tf.zeros((1, int(s))) for s in sizes])
        return out

    def reset(self) -> None:
        self.state = self._zeros()

    def step(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        out, self.state = self._step(image, landmarks, self.state)
        return out.numpy()


class FramePredictor:
    """One :class:`~pipeline.face.tracker.FaceFrame` in, its
    :class:`~pipeline.inference.predict.Prediction` out (NaN without a face); a CNN-RNN
    carries and resets its state (see the module docstring)."""

    def __init__(self, tm, reset_after_frames: int):
        import tensorflow as tf

        from pipeline.inference.predict import InputMaker

        self.tm = tm
        self.make = InputMaker(tm)
        self.reset_after = max(1, int(reset_after_frames))
        self.no_face_run = 0
        self.resets = 0
        self.state_from = -1  # the frame the carried state started at (-1: zero state)
        self.stepper = StepModel(tm.keras_model) if tm.kind == "cnn_rnn" else None
        if self.stepper is None:
            self._cnn = tf.function(lambda x: tm.keras_model(x, training=False),
                                    reduce_retracing=True)  # fmt: skip

    def warm_up(self) -> None:
        """Trace the model once (a black face crop) so the first live frame is not late."""
        from pipeline.contracts.points68 import N_VALUES
        from pipeline.face.tracker import FaceFrame

        ok, jpeg = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
        crops = {"image": jpeg.tobytes(), "landmarks": np.full(N_VALUES, np.nan, np.float32)}
        self(FaceFrame(0, True, {"crops": crops}))
        self._reset()

    def _reset(self) -> None:
        if self.stepper is not None:
            self.stepper.reset()
        self.state_from = -1

    def __call__(self, ff):
        from pipeline.inference.predict import Prediction

        none = Prediction(ff, math.nan, math.nan, -1)
        image = self.make.images([ff.crop if ff.face else None])
        lms = self.make.landmarks([ff])
        if self.stepper is None:
            if not ff.face:
                return none
            out = self._cnn(self.make.inputs(image, lms)).numpy()
            return Prediction(ff, float(out[0, 0]), float(out[0, 1]), ff.frame)
        if ff.face:
            self.no_face_run = 0
        else:
            self.no_face_run += 1
            if self.no_face_run == self.reset_after:
                self._reset()
                self.resets += 1
            if self.no_face_run >= self.reset_after:
                return none
        out = self.stepper.step(image, lms)
        self.state_from = ff.frame if self.state_from < 0 else self.state_from
        if not ff.face:
            return none
        return Prediction(ff, float(out[0, 0]), float(out[0, 1]), self.state_from)


def live_face_params(tm):
    """The model's face params with causal landmarks (``landmarks.max_gap = 0``)."""
    lm = tm.face.landmarks.model_copy(update={"max_gap": 0})
    return tm.face.model_copy(update={"landmarks": lm})


class LivePass:
    """The live rule on frames in order: the face steps with causal landmarks, then
    :class:`FramePredictor` (warmed up) on each frame as soon as its face is settled.
    :meth:`push` / :meth:`finish` return predictions in frame order; a context manager."""

    def __init__(self, tm, fps: float, reset_after_s: float = 1.0, subject: str = ""):
        from pipeline.face.tracker import FaceTracker

        self.predictor = FramePredictor(tm, round(reset_after_s * fps))
        self.predictor.warm_up()
        self.faces = FaceTracker(live_face_params(tm), fps, subject)

    def push(self, frame: int, rgb: np.ndarray | None) -> list:
        return [self.predictor(ff) for ff in self.faces.push(frame, rgb)]

    def finish(self) -> list:
        return [self.predictor(ff) for ff in self.faces.finish()]

    def close(self) -> None:
        self.faces.close()

    def __enter__(self) -> LivePass:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- the run ----------------------------------------------------------------------------------
@dataclass
class LiveResult:
    source: str
    kind: str
    fps: float
    read: int = 0
    dropped: int = 0
    rows: int = 0
    faces: int = 0
    resets: int = 0
    seconds: float = 0.0
    busy_s: float = 0.0  # time spent processing (face pass + model + rows), not waiting
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    stopped: str = "end of source"  # end of source | interrupted | window closed
    error: str | None = None

    @property
    def capacity_fps(self) -> float:
        """Frames per second the processing alone could sustain (waiting excluded)."""
        return self.rows / self.busy_s if self.busy_s > 0 else math.nan

    def line(self) -> str:
        lat = np.asarray(self.latencies_ms or [math.nan])
        rate = self.rows / self.seconds if self.seconds > 0 else math.nan
        return (
            f"live {self.source}: {self.stopped}; {self.read} frames read, {self.dropped} "
            f"dropped, {self.rows} rows ({self.faces} with a face), {rate:.1f} frames/s "
            f"(processing alone: {self.capacity_fps:.1f}), "
            f"latency median {np.median(lat):.0f} ms / p95 {np.percentile(lat, 95):.0f} ms, "
            f"{self.resets} state resets"
        )


def row_file(path: Path, fields: list[tuple[str, pa.Field]] = ()) -> RowWriter:
    """The CSV, one complete line written through per row (tail-able; not atomic: the rows
    written so far are the run so far); ``fields``: the face steps' columns after :data:`ROWS`
    (:func:`pipeline.face.tracker.predict_fields`)."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        raise LiveError(f"{path}: --live writes a .csv (a file another program can tail)")
    if path.is_dir():
        raise LiveError(f"{path}: is a folder; --live writes one .csv file")
    schema = pa.schema([*ROWS, *(f for _, f in fields)])
    return RowWriter(path, schema, rows_per_batch=1, atomic=False)


def _check_display() -> None:
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise LiveError("--show needs a display (no DISPLAY here); leave it out, or use --overlay")


def _check_request(out: str | Path, queue_size: int, show: bool) -> None:
    if not 1 <= queue_size <= 2:
        raise LiveError(f"queue size {queue_size}: 1 or 2 frames (a live run never queues more)")
    if show:
        _check_display()
    if Path(out).suffix.lower() != ".csv":
        raise LiveError(f"{out}: --live writes a .csv (a file another program can tail)")


def _stop_on_signals(result: LiveResult, stop: threading.Event) -> dict:
    """SIGINT / SIGTERM end the run (noted in ``result.stopped``); returns the handlers they
    replaced (none off the main thread, where signals cannot be caught)."""
    handlers = {}

    def on_signal(signum, _frame):
        result.stopped = "interrupted" if signum == signal.SIGINT else "terminated"
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, on_signal)
    return handlers


class _Emitter:
    """Predictions of frames whose face the tracker has settled -> a row, and (with a
    ``history``, i.e. ``show``) the drawn frame in the window."""

    def __init__(self, rows, result: LiveResult, history: deque | None, stop, fields):
        self.rows, self.result, self.fields = rows, result, fields
        self.history, self.stop = history, stop
        self.pending: dict[int, Frame] = {}  # read, waiting for the tracker

    def __call__(self, preds) -> None:
        from pipeline.inference.predict import base_row

        result = self.result
        for p in preds:
            fr = self.pending.pop(p.face.frame)
            lat = (time.perf_counter() - fr.read_at) * 1000
            row = base_row(p, fr.time_s, self.fields)
            self.rows.add(**row, latency_ms=round(lat, 1))
            result.rows += 1
            result.faces += p.face.face
            result.latencies_ms.append(lat)
            if self.history is not None:
                self._show(fr, p)

    def _show(self, fr: Frame, p) -> None:
        from pipeline.inference.overlay import draw

        self.history.append((p.valence, p.arousal))
        bgr = cv2.cvtColor(fr.rgb, cv2.COLOR_RGB2BGR)
        cv2.imshow(WINDOW, draw(bgr, p, self.history))
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self.result.stopped = "window closed"
            self.stop.set()


def _drain(reader: Reader) -> None:
    """Stop the reader thread; frames it read but that were never processed (stopped early)
    are counted with the dropped ones."""
    if reader.ident is not None:  # started
        reader.join(timeout=5)
    while True:
        try:
            left = reader.queue.get_nowait()
        except queue.Empty:
            break
        reader.dropped += left is not None


def run_live(
    spec: str | Source,
    tm,
    out: str | Path,
    *,
    show: bool = False,
    reset_after_s: float = 1.0,
    queue_size: int = 2,
    open_timeout_s: float = 5.0,
    subject: str = "",
    max_frames: int | None = None,
) -> LiveResult:
    """Run live prediction on ``spec`` (a source spec, or a :class:`Source` already opened)
    until the source ends, ``max_frames`` are read, SIGINT/SIGTERM, or (``show``) ``q``/Esc
    in the window. Raises :class:`LiveError` before writing anything when the source or the
    output cannot be opened."""
    _check_request(out, queue_size, show)
    source = spec if isinstance(spec, Source) else open_source(spec, open_timeout_s)
    result = LiveResult(source.spec, source.kind, source.fps)
    stop = threading.Event()
    reader = Reader(source, queue_size, stop)
    try:
        live = LivePass(tm, source.fps, reset_after_s, subject)
    except BaseException:
        source.capture.release()
        raise
    handlers = _stop_on_signals(result, stop)
    t_start = time.perf_counter()
    try:
        with live, _live_rows(out) as (rows, fields):
            emit = _Emitter(rows, result, _history(source) if show else None, stop, fields)
            reader.start()
            _loop(reader, live, emit, stop, max_frames)
    finally:
        stop.set()
        _drain(reader)
        source.capture.release()
        for sig, h in handlers.items():
            signal.signal(sig, h)
        if show:
            cv2.destroyAllWindows()
    return _ended(result, reader, live, t_start, out)


@contextmanager
def _live_rows(out: str | Path):
    from pipeline.face.tracker import predict_fields

    fields = predict_fields()
    rows = row_file(Path(out), fields).open()
    try:
        yield rows, fields
    finally:
        rows.close()


def _history(source: Source) -> deque:
    from pipeline.inference.overlay import TRACE_SECONDS

    return deque(maxlen=max(2, round(TRACE_SECONDS * source.fps)))


def _loop(reader: Reader, live: LivePass, emit: _Emitter, stop, max_frames: int | None) -> None:
    """Frames from the reader's queue through the live pass until the end or a stop; then
    the frames the face steps still hold (a row for each)."""
    result = emit.result
    while not stop.is_set():
        try:
            fr = reader.queue.get(timeout=0.1)
        except queue.Empty:
            continue
        if fr is None:
            break
        emit.pending[fr.index] = fr
        t_busy = time.perf_counter()
        emit(live.push(fr.index, fr.rgb))
        result.busy_s += time.perf_counter() - t_busy
        if max_frames is not None and fr.index + 1 >= max_frames:
            break
    emit(live.finish())


def _ended(result: LiveResult, reader: Reader, live: LivePass, t_start: float, out) -> LiveResult:
    result.read, result.dropped = reader.read, reader.dropped
    result.resets = live.predictor.resets
    result.seconds = time.perf_counter() - t_start
    result.error = reader.error
    if reader.error and result.rows == 0:
        Path(out).unlink(missing_ok=True)  # a header alone would look like a run
        raise LiveError(reader.error)
    return result
