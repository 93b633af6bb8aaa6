"""``affwild evaluate --csv``: any model folder scored on a list of face crops in the authors'
CSV format, under either evaluation protocol (docs/results-and-choices.md#evaluation-protocols).

**The list** (:func:`read_list`) is a CSV of JPEG face crops in order, one frame a line:

- the authors' format, no header: ``image_path,valence,arousal``;
- or with a header line naming the columns: ``image_path``, ``valence``, ``arousal`` and,
  optionally (ours), ``video`` (the video a frame belongs to; default: the image's folder)
  and ``landmarks`` (136 numbers separated by spaces, ``x0 y0 x1 y1 …`` of the 68 iBUG 300-W
  points normalised to the crop, [0, 1], as the records hold them).

Relative image paths are read from the CSV's folder. Labels are finite numbers in [-1, 1].

**The crops** are read as the authors' ``eval_script.py`` reads them (as described in the
project's notes; the script itself was not at hand): ``decode_jpeg(channels=3)``, then a
bilinear resize to the model's input size as TF 1's ``tf.image.resize_images`` does it (no
half-pixel centres, no antialiasing), as float 0-255; the model's first layer normalises
them (an imported AffWildNet's computes the authors' ``(x - 128) / 128``).

**The protocols** (:func:`score_list`):

- ``authors``: the list cut as ONE list, across videos, from its start into back-to-back
  windows of the model's sequence length, each from a zero state, the remainder dropped; a
  CNN scores every listed frame.
- ``all_frames``: every listed frame; a CNN-RNN runs per video over overlapping windows,
  only each one's tail kept (:mod:`pipeline.contracts.windows`), as the ``evaluate`` stage
  does. A video's frames must be listed together, in order.

CCC per dimension over all scored frames concatenated (population variance), its mean over
the two dimensions, MSE per dimension (:mod:`pipeline.evaluation.metrics`).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.artifacts import META_FILE, ModelMeta
from pipeline.contracts.points68 import N_VALUES
from pipeline.errors import InputError

COLUMNS = ("image_path", "valence", "arousal")
OPTIONAL = ("video", "landmarks")


@dataclass(frozen=True)
class FrameList:
    """A CSV list of face crops: paths (resolved), labels (n, 2), videos, landmarks or None."""

    path: Path
    images: list[Path]
    labels: np.ndarray
    videos: np.ndarray
    landmarks: np.ndarray | None


def _number(text: str, where: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: {what} {text!r} is not a number") from None
    if not (np.isfinite(value) and -1.0 <= value <= 1.0):
        raise InputError(f"{where}: {what} {text!r} is not in [-1, 1] (unlabelled frames: "
                         "leave them out of the list)")  # fmt: skip
    return value


def _landmarks(text: str, where: str) -> np.ndarray:
    parts = text.split()
    try:
        values = np.array([float(p) for p in parts], np.float32)
    except ValueError:
        raise InputError(f"{where}: landmarks hold a value that is not a number") from None
    if values.size != N_VALUES or not np.isfinite(values).all():
        raise InputError(f"{where}: landmarks hold {values.size} values, expected {N_VALUES} "
                         "finite numbers (x0 y0 x1 y1 … of the 68 points, normalised to the crop)")  # fmt: skip
    return values


def _columns(first: list[str], path: Path) -> tuple[dict[str, int], bool]:
    """Column positions, and whether the first line is a header."""
    names = [c.strip().lower() for c in first]
    if "image_path" not in names:
        return {c: i for i, c in enumerate(COLUMNS)}, False
    unknown = [c for c in names if c not in COLUMNS + OPTIONAL]
    missing = [c for c in COLUMNS if c not in names]
    if unknown or missing:
        raise InputError(f"{path}:1: header {','.join(first)}: "
                         + "; ".join(f"{w} {', '.join(c)}" for w, c in
                                     (("unknown", unknown), ("missing", missing)) if c)
                         + f" (columns: {', '.join(COLUMNS + OPTIONAL)})")  # fmt: skip
    return {c: names.index(c) for c in names}, True


def read_list(path: str | Path) -> FrameList:
    """The list in ``path`` (see the module docstring); every bad line is an error naming it."""
    path = Path(path)
    try:
        with path.open(newline="") as fh:
            rows = [r for r in csv.reader(fh)]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read as a CSV list ({exc})") from None
    lines = [(i + 1, r) for i, r in enumerate(rows) if r and any(c.strip() for c in r)]
    if not lines:
        raise InputError(f"{path}: empty list (expected lines image_path,valence,arousal)")
    cols, header = _columns(lines[0][1], path)
    lines = lines[1:] if header else lines
    images, labels, videos, marks = [], [], [], []
    for n, r in lines:
        where = f"{path}:{n}"
        if len(r) != len(cols):
            raise InputError(f"{where}: {len(r)} fields, expected {len(cols)} "
                             f"({','.join(cols)})")  # fmt: skip
        image = Path(r[cols["image_path"]].strip())
        image = image if image.is_absolute() else path.parent / image
        if not image.is_file():
            raise InputError(f"{where}: no such image {image}")
        images.append(image)
        labels.append([_number(r[cols[d]].strip(), where, d) for d in ("valence", "arousal")])
        videos.append(r[cols["video"]].strip() if "video" in cols else str(image.parent))
        if "landmarks" in cols:
            marks.append(_landmarks(r[cols["landmarks"]], where))
    videos_arr = np.array(videos, dtype=object)
    _check_grouped(videos_arr, [n for n, _ in lines], path)
    return FrameList(path, images, np.array(labels, np.float64), videos_arr,
                     np.stack(marks) if marks else None)  # fmt: skip


def _check_grouped(videos: np.ndarray, line_numbers: list[int], path: Path) -> None:
    """A video's frames are listed together (all_frames cuts windows per video)."""
    seen: dict[str, int] = {}
    for i, v in enumerate(videos):
        if v in seen and videos[i - 1] != v:
            raise InputError(f"{path}:{line_numbers[i]}: video {v!r} was listed before (line "
                             f"{line_numbers[seen[v]]}) and another in between: list each "
                             "video's frames together, in order")  # fmt: skip
        seen.setdefault(v, i)


# -- the model ----------------------------------------------------------------------------------
@dataclass
class Scorer:
    """A model to score with: its meta and ``call`` (a dict of inputs -> (..., 2) numpy)."""

    path: Path
    meta: ModelMeta
    call: Callable[[dict], np.ndarray]
    form: str  # keras | savedmodel | tflite


def load_scorer(path: str | Path) -> Scorer:
    """A trained or imported model folder (``model.keras``), an exported SavedModel folder
    (``saved_model.pb``; its ``meta.json`` inside) or an exported TFLite file (its meta
    beside it as ``<name>.meta.json``)."""
    path = Path(path)
    if path.is_file() and path.suffix == ".tflite":
        meta = ModelMeta.read_file(path.with_name(f"{path.stem}.{META_FILE}"))
        return Scorer(path, meta, _tflite_call(path), "tflite")
    if (path / "saved_model.pb").is_file():
        return Scorer(path, ModelMeta.read(path), _savedmodel_call(path), "savedmodel")
    from pipeline.evaluation.evaluate import model_call
    from pipeline.models.saved import load_model

    tm = load_model(path)
    return Scorer(path, tm.meta, model_call(tm.keras_model), "keras")


def _savedmodel_call(path: Path):
    import tensorflow as tf

    fn = tf.saved_model.load(str(path)).signatures["serving_default"]
    names = set(fn.structured_input_signature[1])

    def call(x: dict) -> np.ndarray:
        feed = {n: tf.constant(np.asarray(v, np.float32)) for n, v in x.items() if n in names}
        return np.asarray(next(iter(fn(**feed).values())), np.float32)

    return call


def _tflite_call(path: Path):
    """One example at a time (the CNN-RNN's TFLite model takes one window)."""
    import tensorflow as tf

    interp = tf.lite.Interpreter(model_path=str(path))
    ins = {d["name"]: d for d in interp.get_input_details()}
    out = interp.get_output_details()[0]

    def index(name: str) -> int | None:
        hits = [d["index"] for n, d in ins.items() if n.split(":")[0].endswith(name)]
        return hits[0] if hits else None

    def call(x: dict) -> np.ndarray:
        res = []
        for k in range(len(x["image"])):
            feed = {index(n): np.asarray(v[k : k + 1], np.float32) for n, v in x.items()}
            feed.pop(None, None)
            for i, v in feed.items():
                interp.resize_tensor_input(i, v.shape)
            interp.allocate_tensors()
            for i, v in feed.items():
                interp.set_tensor(i, v)
            interp.invoke()
            res.append(interp.get_tensor(out["index"])[0])
        return np.stack(res).astype(np.float32)

    return call


# -- scoring -----------------------------------------------------------------------------------
def read_crop(path: Path, size: int) -> np.ndarray:
    """One listed crop as the authors read it: ``decode_jpeg(channels=3)``, bilinear resize to
    ``size`` as TF 1's ``resize_images`` (``tf.compat.v1``: no half-pixel centres), float32."""
    import tensorflow as tf

    try:
        img = tf.io.decode_jpeg(tf.io.read_file(str(path)), channels=3)
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as exc:
        first = str(exc.message).strip().splitlines()[0] if str(exc.message).strip() else ""
        raise InputError(f"{path}: not a readable JPEG image ({first})") from None
    img = tf.compat.v1.image.resize_images(
        img, [size, size], tf.compat.v1.image.ResizeMethod.BILINEAR
    )
    return np.asarray(tf.cast(img, tf.float32))


def crop_loader(frames: FrameList, size: int):
    """``rows -> (images (k, size, size, 3), landmarks (k, 136))`` of the listed frames; row
    -1 (a CNN-RNN window's padding past a video's end): zeros."""
    n = len(frames.images)
    marks = np.zeros((n + 1, N_VALUES), np.float32)
    if frames.landmarks is not None:
        marks[:n] = frames.landmarks

    def load(rows):
        blank = np.zeros((size, size, 3), np.float32)
        images = [blank if r < 0 else read_crop(frames.images[r], size) for r in rows]
        return np.stack(images), marks[np.asarray(rows)]

    return load


def _per_frame(call, n: int, load, batch_size: int) -> np.ndarray:
    out = np.empty((n, 2), np.float32)
    for a in range(0, n, batch_size):
        images, marks = load(np.arange(a, min(a + batch_size, n)))
        out[a : a + len(images)] = call({"image": images, "landmarks": marks})[:, :2]
    return out


def predict_list(scorer: Scorer, frames: FrameList, protocol: str, batch_size: int = 64,
                 context: int | None = None) -> tuple[np.ndarray, int | None]:  # fmt: skip
    """(n, 2) predictions of the listed frames (NaN where the protocol scores none) and the
    number of CNN-RNN windows run (None for a CNN)."""
    from pipeline.contracts import windows as win
    from pipeline.evaluation import evaluate as ev

    meta, n = scorer.meta, len(frames.images)
    if meta.landmarks and frames.landmarks is None:
        raise InputError(
            f"{scorer.path}: the model takes landmarks (meta.json landmarks: true) and "
            f"{frames.path} has no landmarks column (a header line naming image_path, valence, "
            "arousal, landmarks; 136 values a line, see docs/results-and-choices.md)"
        )
    load = crop_loader(frames, meta.image_size)
    if meta.kind == "cnn":
        return _per_frame(scorer.call, n, load, batch_size), None
    blend = 0  # back-to-back windows: nothing to blend
    if protocol == "authors":
        wins = ev.authors_windows(n, meta.seq_len)
    else:
        ctx = win.default_context(meta.seq_len) if context is None else context
        wins = ev.sequence_windows({"video_id": frames.videos}, meta.seq_len, ctx)
        blend = win.default_blend(ctx)
    return ev.run_windows(scorer.call, wins, n, load, meta.seq_len, batch_size,
                          blend), len(wins)  # fmt: skip


def score_list(scorer: Scorer, frames: FrameList, protocol: str, batch_size: int = 64,
               context: int | None = None) -> dict:  # fmt: skip
    """What ``affwild evaluate --csv`` writes: the protocol, the model, the frames listed,
    scored and dropped, CCC and MSE per dimension and the mean CCC."""
    from pipeline.evaluation.evaluate import PROTOCOLS
    from pipeline.evaluation.metrics import DIMENSIONS, ccc, mse

    if protocol not in PROTOCOLS:
        raise InputError(f"--protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    pred, n_windows = predict_list(scorer, frames, protocol, batch_size, context)
    scored = np.isfinite(pred).all(axis=1)
    meta = scorer.meta
    if not scored.any():
        raise InputError(f"{frames.path}: {len(scored)} frames, fewer than one "
                         f"{meta.seq_len}-frame window: nothing scored")  # fmt: skip
    res = {
        "protocol": protocol,
        "model": str(scorer.path),
        "model_kind": meta.kind,
        "model_form": scorer.form,
        "seq_len": meta.seq_len if meta.kind == "cnn_rnn" else None,
        "csv": str(frames.path),
        "videos": len(np.unique(frames.videos)),
        "frames_listed": int(len(scored)),
        "frames_scored": int(scored.sum()),
        "frames_dropped": int((~scored).sum()),
        "windows": n_windows,
    }
    truth, p = frames.labels[scored], pred[scored].astype(np.float64)
    for d, dim in enumerate(DIMENSIONS):
        res[f"ccc_{dim}"] = ccc(truth[:, d], p[:, d])
    res["ccc_mean"] = (res["ccc_valence"] + res["ccc_arousal"]) / 2
    for d, dim in enumerate(DIMENSIONS):
        res[f"mse_{dim}"] = mse(truth[:, d], p[:, d])
    return res
