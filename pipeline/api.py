"""The Python API: valence/arousal of a trained model, and the face steps alone, as DataFrames.

    from pipeline.api import Predictor, FaceTracker   # or: from pipeline import Predictor

    p = Predictor("models/cnn_rnn")
    df = p.predict_video("clip.mp4", progress=True)    # one row per decoded frame
    for row in p.predict_frames(camera_frames, fps=30):  # live: rows as frames are settled
        ...
    va = p.predict_crops(crops)                        # (N, H, W, 3) uint8 face crops

    faces = FaceTracker().track_video("clip.mp4")      # boxes and 68 points, no model

``affwild predict`` is this API writing files (:meth:`Predictor.write_video`,
:meth:`Predictor.run_live`), so a DataFrame holds the numbers the command writes. Rows and
columns: docs/inference.md ("Python API"). Errors are :class:`~pipeline.errors.InputError` s
(the message names the file, frame or argument): :class:`~pipeline.artifacts.ModelFolderError`
(not a trained model folder), :class:`~pipeline.video.reader.VideoError` (not a readable video),
:class:`~pipeline.config.ParamsError` (bad params), :class:`ArrayError` (an array argument of
the wrong shape or type).

A :class:`Predictor` owns its model and starts fresh face steps (MediaPipe objects) for each
call, so several predictors, with different models, may be used in turn in one process; one
predictor's calls are not to run on several threads at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa

from pipeline.contracts.points68 import N_POINTS, N_VALUES
from pipeline.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from pipeline.face.tracker import FaceFrame
    from pipeline.inference.live import LiveResult, Source
    from pipeline.inference.predict import Prediction, VideoResult
    from pipeline.models.saved import TrainedModel

__all__ = ["ArrayError", "FaceTracker", "Predictor", "Row", "BOX_COLUMNS", "POINT_COLUMNS"]

Row = dict[str, Any]  # one frame's values by column (a DataFrame's row)
PathLike = str | os.PathLike
BOX_COLUMNS = ("box_x", "box_y", "box_w", "box_h")  # source pixels, NaN where no face is seen
POINT_COLUMNS = tuple(f"x_{i}" for i in range(N_POINTS)) + tuple(
    f"y_{i}" for i in range(N_POINTS)
)  # the 68 landmarks in source pixels (iBUG order), NaN where there are none


class ArrayError(InputError):
    """An array argument of the wrong shape or type (names the argument and the frame)."""


# -- rows -------------------------------------------------------------------------------------
def _face_columns(ff: FaceFrame) -> Row:
    box, pts = ff.box, ff.points
    row: Row = dict(zip(BOX_COLUMNS, [np.nan] * 4 if box is None else box.tolist(), strict=True))
    xy = np.full((N_POINTS, 2), np.nan, np.float32) if pts is None else pts
    row.update(zip(POINT_COLUMNS, [*xy[:, 0].tolist(), *xy[:, 1].tolist()], strict=True))
    return row


def _prediction_row(p: Prediction, time_s: float, fields) -> Row:
    from pipeline.inference.predict import base_row

    return {**base_row(p, time_s, fields), **_face_columns(p.face), "window_start": p.window_start}


def _schema(head: list[pa.Field], fields, tail: list[pa.Field]) -> pa.Schema:
    box = [pa.field(c, pa.float64()) for c in BOX_COLUMNS]
    points = [pa.field(c, pa.float32()) for c in POINT_COLUMNS]
    return pa.schema([*head, *(f for _, f in fields), *box, *tail, *points])


def _prediction_schema(fields) -> pa.Schema:
    from pipeline.inference.predict import ROWS

    return _schema(list(ROWS), fields, [pa.field("window_start", pa.int32())])


def _frame(rows: Iterable[Row], schema: pa.Schema) -> pd.DataFrame:
    """Rows -> a DataFrame with the columns and types of ``schema`` (those the CLI writes)."""
    return pa.Table.from_pylist(list(rows), schema).to_pandas()


def _checked(frames: Iterable[np.ndarray | None]) -> Iterator[np.ndarray | None]:
    """``frames`` as given, each an (H, W, 3) uint8 RGB array (or None: did not decode)."""
    for i, rgb in enumerate(frames):
        if rgb is not None:
            rgb = np.asarray(rgb)
            if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
                raise ArrayError(
                    f"frames[{i}]: expected an (H, W, 3) uint8 RGB array, "
                    f"got {rgb.dtype} of shape {rgb.shape}"
                )
        yield rgb


def _times(fps: float) -> float:
    if not fps > 0:
        raise ArrayError(f"fps {fps!r}: expected a positive frame rate")
    return float(fps)


# -- the model --------------------------------------------------------------------------------
class Predictor:
    """A trained model folder (``model.keras`` + ``meta.json``), loaded once, with the face
    params its crops were made with. ``device``: ``cpu``, ``gpu`` or ``auto`` (set before the
    first model is loaded in the process); ``batch_size``: frames per model call (files);
    ``subject``: whom to follow when several people are in view (``""``: the most persistent
    face, ``left``, ``right``). :class:`~pipeline.artifacts.ModelFolderError` for a folder
    that is not a trained model."""

    def __init__(
        self, model_dir: PathLike, *, device: str = "auto", batch_size: int = 64, subject: str = ""
    ) -> None:
        from pipeline.inference.model import load_model, setup_device

        if subject not in ("", "left", "right"):
            raise InputError(f"subject {subject!r}: expected '', 'left' or 'right'")
        self.device: str = setup_device(device)
        self.model: TrainedModel = load_model(model_dir)
        self.batch_size, self.subject = int(batch_size), subject

    @property
    def kind(self) -> str:
        """``cnn`` or ``cnn_rnn``."""
        return self.model.kind

    def predict_video(self, path: PathLike, *, progress: bool = False) -> pd.DataFrame:
        """One row per decoded frame of the video (or frame folder) ``path``, the numbers
        ``affwild predict`` writes; ``progress``: a tqdm bar over the frames.
        :class:`~pipeline.video.reader.VideoError` for a file that is not a video."""
        from pipeline.face.tracker import predict_fields
        from pipeline.inference.predict import start_video, video_predictions

        fields = predict_fields()
        result = start_video(path)
        preds = video_predictions(
            result, self.model, batch_size=self.batch_size, subject=self.subject,
            progress=progress,
        )  # fmt: skip
        rows = (_prediction_row(p, t, fields) for p, t in preds)
        return _frame(rows, _prediction_schema(fields))

    def predict_frames(
        self,
        frames: Iterable[np.ndarray | None],
        *,
        fps: float = 30.0,
        rule: Literal["live", "file"] = "live",
        reset_after_s: float = 1.0,
    ) -> Iterator[Row]:
        """Rows (dicts with :meth:`predict_video`'s columns) of ``frames`` (RGB (H, W, 3)
        uint8 arrays in order, None where one did not decode; ``time_s`` is ``frame / fps``),
        each yielded as soon as it is settled. ``rule="live"``: ``affwild predict --live``'s
        (causal landmarks, the CNN-RNN's state carried frame to frame and reset after
        ``reset_after_s`` without a face); ``"file"``: ``affwild predict``'s (landmark gaps
        filled, CNN batches, CNN-RNN windows; rows come a window or a batch late)."""
        fps = _times(fps)
        if rule == "live":
            if not reset_after_s > 0:
                raise InputError(f"reset_after_s {reset_after_s!r}: expected a positive time")
            preds = self._live(_checked(frames), fps, reset_after_s)
        elif rule == "file":
            preds = self._file(_checked(frames), fps)
        else:
            raise InputError(f"rule {rule!r}: expected 'live' or 'file'")
        fields = _fields()
        return (_prediction_row(p, p.face.frame / fps, fields) for p in preds)

    def _live(self, frames, fps: float, reset_after_s: float) -> Iterator[Prediction]:
        from pipeline.inference.live import LivePass

        with LivePass(self.model, fps, reset_after_s, self.subject) as live:
            for i, rgb in enumerate(frames):
                yield from live.push(i, rgb)
            yield from live.finish()

    def _file(self, frames, fps: float) -> Iterator[Prediction]:
        from pipeline.inference.predict import FilePass

        yield from FilePass(self.model, fps, self.subject, self.batch_size).run(frames)

    def predict_crops(self, crops: np.ndarray, landmarks: np.ndarray | None = None) -> pd.DataFrame:
        """Valence and arousal of face crops already cut: ``crops`` (N, H, W, 3) uint8 RGB,
        resized to the model's side as training's reader resizes; ``landmarks`` (N, 136)
        the 68 points in [0, 1] of each crop (x0, y0, x1, ...), zeros if None (as for crops
        cut from a box alone). A CNN-RNN takes the N crops as one sequence in order (windows
        as in :meth:`predict_video`). Columns: ``crop`` (index), ``valence``, ``arousal``,
        ``window_start``."""
        from pipeline.inference.predict import ModelPass

        faces = _crop_frames(crops, landmarks)
        model = ModelPass(self.model, self.batch_size)
        preds = [p for ff in faces for p in model.push(ff)] + model.finish()
        schema = pa.schema([("crop", pa.int32()), ("valence", pa.float32()),
                            ("arousal", pa.float32()), ("window_start", pa.int32())])  # fmt: skip
        rows = ({"crop": p.face.frame, "valence": p.valence, "arousal": p.arousal,
                 "window_start": p.window_start} for p in preds)  # fmt: skip
        return _frame(rows, schema)

    def write_video(
        self,
        path: PathLike,
        out: PathLike,
        *,
        overlay: PathLike | None = None,
        progress: bool | None = None,
    ) -> VideoResult:
        """``affwild predict`` on one video: its rows to ``out`` (.csv / .parquet, written
        atomically), the overlay video to ``overlay``; counts and warnings returned."""
        from pipeline.inference.predict import predict_video

        return predict_video(path, self.model, out, overlay, self.batch_size, self.subject,
                             progress)  # fmt: skip

    def run_live(
        self,
        source: str | Source,
        out: PathLike,
        *,
        show: bool = False,
        reset_after_s: float = 1.0,
        open_timeout_s: float = 5.0,
        max_frames: int | None = None,
    ) -> LiveResult:
        """``affwild predict --live``: a camera index, stream URL or video file (or a
        :class:`~pipeline.inference.live.Source` opened) to the tail-able CSV ``out``.
        :class:`~pipeline.inference.live.LiveError` when the source or ``out`` cannot work."""
        from pipeline.inference.live import run_live

        return run_live(source, self.model, out, show=show, reset_after_s=reset_after_s,
                        open_timeout_s=open_timeout_s, subject=self.subject,
                        max_frames=max_frames)  # fmt: skip


def _fields():
    from pipeline.face.tracker import predict_fields

    return predict_fields()


def _crop_frames(crops: np.ndarray, landmarks: np.ndarray | None) -> list[FaceFrame]:
    """Crops (and their landmarks) as the face frames the model pass takes."""
    from pipeline.face.tracker import FaceFrame

    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[3] != 3 or crops.dtype != np.uint8 or not len(crops):
        raise ArrayError(f"crops: expected an (N, H, W, 3) uint8 RGB array with N > 0, got "
                         f"{crops.dtype} of shape {crops.shape}")  # fmt: skip
    if landmarks is None:
        lms = np.zeros((len(crops), N_VALUES), np.float32)
    else:
        lms = np.asarray(landmarks, np.float32)
        if lms.shape != (len(crops), N_VALUES):
            raise ArrayError(f"landmarks: expected shape ({len(crops)}, {N_VALUES}), got "
                             f"{lms.shape}")  # fmt: skip
    return [FaceFrame(i, True, {"crops": {"image": c, "landmarks": lm}})
            for i, (c, lm) in enumerate(zip(crops, lms, strict=True))]  # fmt: skip


# -- the face steps alone ---------------------------------------------------------------------
class FaceTracker:
    """Every registered face step (detect -> landmarks -> crop, plug-ins after), the driver
    ``affwild predict`` runs (:class:`pipeline.face.tracker.FaceTracker`), without a model.

    ``params``: a :class:`~pipeline.config.Params` or a model's
    :class:`~pipeline.artifacts.FaceParams`; a path to a ``params.yaml`` file or to a trained
    model folder (the params its crops were made with); None: every step's defaults.
    ``live``: landmarks are never filled in from later frames (``landmarks.max_gap = 0``, as
    ``predict --live``)."""

    def __init__(self, params: Any = None, *, subject: str = "", live: bool = False) -> None:
        params = _face_params(params)
        if live:
            lm = params.landmarks.model_copy(update={"max_gap": 0})
            params = params.model_copy(update={"landmarks": lm})
        self.params, self.subject = params, subject

    def track_frames(
        self, frames: Iterable[np.ndarray | None], *, fps: float = 30.0
    ) -> Iterator[Row]:
        """Rows of ``frames`` (RGB arrays, None where one did not decode) as they are settled:
        ``frame``, ``time_s`` (``frame / fps``), ``face``, the box, ``status`` (of the
        landmarks: detected, tracked, interpolated, missing, rejected), the steps'
        ``predict`` columns and the 68 points."""
        fps = _times(fps)
        return self._rows(_checked(frames), fps, _fields())

    def _rows(self, frames, fps: float, fields) -> Iterator[Row]:
        from pipeline.face.tracker import FaceTracker as Driver

        with Driver(self.params, fps, self.subject) as driver:
            for ff in driver.track(frames):
                yield _face_row(ff, ff.frame / fps, fields)

    def track_video(self, path: PathLike, *, progress: bool = False) -> pd.DataFrame:
        """:meth:`track_frames` over a video file (or frame folder), ``time_s`` from its
        container; :class:`~pipeline.video.reader.VideoError` if it is not a video."""
        from pipeline.face.tracker import FaceTracker as Driver
        from pipeline.inference.predict import progress_bar, start_video
        from pipeline.video.reader import iter_timed_frames

        result, fields = start_video(path), _fields()
        times: dict[int, float] = {}

        def frames():
            for i, (t, rgb) in enumerate(iter_timed_frames(result.video, result.fps)):
                times[i] = t
                yield rgb

        with Driver(self.params, result.fps, self.subject) as driver, \
                progress_bar(result, progress) as bar:  # fmt: skip
            rows = []
            for ff in driver.track(frames()):
                rows.append(_face_row(ff, times.pop(ff.frame), fields))
                bar.update(1)
        return _frame(rows, _face_schema(fields))


def _face_params(params: Any) -> Any:
    from pipeline.artifacts import FaceParams, ModelMeta
    from pipeline.config import load_params, params_model

    if params is None:
        return FaceParams.of(params_model()())
    if isinstance(params, str | os.PathLike):
        path = Path(params)
        if path.is_dir():
            return ModelMeta.read(path).face
        return FaceParams.of(load_params(path))
    return params


def _face_row(ff: FaceFrame, time_s: float, fields) -> Row:
    return {"frame": ff.frame, "time_s": round(time_s, 6), "face": ff.face,
            **ff.columns(fields), **_face_columns(ff), "status": ff.status}  # fmt: skip


def _face_schema(fields) -> pa.Schema:
    head = [pa.field("frame", pa.int32()), pa.field("time_s", pa.float64()),
            pa.field("face", pa.bool_())]  # fmt: skip
    return _schema(head, fields, [pa.field("status", pa.string())])
