"""A trained model as a deployable artefact: a TensorFlow SavedModel or a TFLite flat buffer.

* ``savedmodel``: ``model.export(..., format="tf_saved_model")`` (Keras 3). A folder; its
  ``serve`` (and ``serving_default``) signature takes ``image`` and ``landmarks`` (batch
  dimension free) and returns ``output_0`` = (..., 2) valence, arousal. The model's
  ``meta.json`` is copied into the folder.
* ``tflite``: the SavedModel converted with TensorFlow Lite's built-in ops only (float32, no
  quantisation, so outputs match Keras to float tolerance). The CNN keeps a free batch
  dimension (``Interpreter.resize_tensor_input``). The CNN-RNN's recurrence (GRU, peephole
  LSTM) converts only with static shapes, so its TFLite model takes exactly one window:
  batch 1, ``seq_len`` frames. ``meta.json`` is written beside it as ``<name>.meta.json``.

The inputs are what :class:`pipeline.inference.predict.InputMaker` makes: the face crop
resized to ``image_size``, RGB, **plain 0-255 values** as float32 (the model's first layer
normalises them as its backbone expects, so no preprocessing is needed beside the file), and
the landmarks normalised to the crop (zeros where there are none).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from pipeline.artifacts import META_FILE
from pipeline.errors import InputError
from pipeline.io import atomic_dir, atomic_path
from pipeline.models.saved import TrainedModel, load_model

log = logging.getLogger(__name__)

FORMATS = ("savedmodel", "tflite")


class ExportError(InputError):
    """A model that cannot be exported in the format asked for; the message says why."""


def _signature(model, batch: int | None):
    import tensorflow as tf

    return [{t.name: tf.TensorSpec((batch, *t.shape[1:]), tf.float32, name=t.name)
             for t in model.inputs}]  # fmt: skip


def _saved_model(model, path: Path, batch: int | None = None) -> None:
    model.export(str(path), format="tf_saved_model", verbose=False,
                 input_signature=_signature(model, batch))  # fmt: skip


def tflite_bytes(tm: TrainedModel) -> bytes:
    """The model converted to TFLite (see the module docstring)."""
    import tensorflow as tf

    batch = 1 if tm.kind == "cnn_rnn" else None
    with tempfile.TemporaryDirectory(prefix="affwild-export-") as tmp:
        sm = Path(tmp) / "saved_model"
        _saved_model(tm.keras_model, sm, batch)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(sm))
        try:
            return converter.convert()
        except Exception as exc:  # noqa: BLE001 - the converter raises ConverterError & co
            first = str(exc).strip().splitlines()[-1][:400] if str(exc).strip() else ""
            extra = (
                " The CNN-RNN's recurrent layers (TensorFlow while loops over tensor lists) need "
                "static shapes and TFLite built-in ops; this model does not convert that way."
                if tm.kind == "cnn_rnn"
                else ""
            )
            raise ExportError(
                f"{tm.folder}: TFLite conversion failed ({type(exc).__name__}: {first}).{extra} "
                "Export it with --format savedmodel instead (TensorFlow Serving / tf.saved_model)."
            ) from None


def export_model(model_dir: str | Path, fmt: str, out: str | Path) -> dict:
    """Export the trained model in ``model_dir`` as ``fmt`` to ``out`` (atomically)."""
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r}: expected one of {FORMATS}")
    tm = load_model(model_dir)
    out = Path(out)
    info = {"model": str(model_dir), "kind": tm.kind, "format": fmt, "out": str(out)}
    if fmt == "savedmodel":
        if out.exists() and not out.is_dir():
            raise InputError(f"{out}: exists and is not a folder (a SavedModel is a folder)")
        with atomic_dir(out) as tmp:
            _saved_model(tm.keras_model, tmp)
            tm.meta.write(tmp)
        info["inputs"] = {t.name: [None, *t.shape[1:]] for t in tm.keras_model.inputs}
    else:
        data = tflite_bytes(tm)
        meta_path = out.with_name(out.stem + "." + META_FILE)
        with atomic_path(out) as tmp:
            tmp.write_bytes(data)
            tm.meta.write_file(meta_path)
        batch = 1 if tm.kind == "cnn_rnn" else None
        info["inputs"] = {t.name: [batch, *t.shape[1:]] for t in tm.keras_model.inputs}
        info["meta"] = str(meta_path)
        info["bytes"] = len(data)
    return info
