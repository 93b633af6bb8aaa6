"""A trained model folder, loaded for inference, with what it was trained on.

Everything ``affwild predict`` needs comes from the folder's ``meta.json`` (written by
``pipeline.training.run.train_stage``): the model kind, its input side, the crop size and
face-stage params its crops were made with, the normalisation and whether it takes
landmarks, and (CNN-RNN) the window length. Nothing is repeated on the command line.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import CropConfig, DetectConfig, LandmarksConfig
from pipeline.errors import InputError

log = logging.getLogger(__name__)

KINDS = ("cnn", "cnn_rnn")


@dataclass(frozen=True)
class FaceParams:
    """The face stages' params a model's crops were made with."""

    detect: DetectConfig
    landmarks: LandmarksConfig
    crop: CropConfig


@dataclass
class TrainedModel:
    folder: Path
    keras_model: object  # keras.Model (kept untyped: importing keras is slow)
    meta: dict
    kind: str
    image_size: int
    normalization: str
    landmarks: bool
    seq_len: int | None
    face: FaceParams


def setup_device(device: str) -> str:
    """``cpu``: hide every GPU from TensorFlow; ``gpu``: require one; ``auto``: use one if any.

    Must run before TensorFlow first touches a device (before a model is loaded). Returns the
    device actually used ("cpu" or "gpu").
    """
    import tensorflow as tf

    if device not in ("cpu", "gpu", "auto"):
        raise InputError(f"--device {device!r}: expected cpu, gpu or auto")
    gpus = tf.config.list_physical_devices("GPU")
    if device == "cpu":
        try:
            tf.config.set_visible_devices([], "GPU")
        except RuntimeError as exc:  # devices already initialised in this process
            if tf.config.get_visible_devices("GPU"):
                raise InputError(f"--device cpu: too late to hide the GPUs ({exc})") from None
        return "cpu"
    if device == "gpu" and not gpus:
        raise InputError(
            "--device gpu: TensorFlow sees no GPU on this machine (install the `gpu` extra, "
            "tensorflow[and-cuda], and check `nvidia-smi`), or use --device cpu"
        )
    return "gpu" if gpus else "cpu"


def _face_params(meta: dict, folder: Path) -> FaceParams:
    face = meta.get("face")
    crop_size = int(meta.get("records_crop_size") or meta["image_size"])
    if not isinstance(face, dict):
        log.warning(
            "%s/meta.json: no `face` params (model trained before they were recorded); "
            "using the defaults with %d px crops",
            folder,
            crop_size,
        )
        return FaceParams(DetectConfig(), LandmarksConfig(), CropConfig(size=crop_size))
    try:
        return FaceParams(
            DetectConfig.model_validate(face.get("detect", {})),
            LandmarksConfig.model_validate(face.get("landmarks", {})),
            CropConfig.model_validate({"size": crop_size, **face.get("crop", {})}),
        )
    except ValueError as exc:
        raise InputError(f"{folder}/meta.json: face params not valid: {exc}") from None


def load_model(folder: str | Path) -> TrainedModel:
    """Load and check a trained model folder; every problem is an :class:`InputError`
    (a :class:`~pipeline.training.run.ModelFolderError`) naming the folder."""
    from pipeline.training.run import META_FILE, MODEL_FILE, ModelFolderError, load_trained

    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"{folder}: no such model folder")
    try:
        model, meta = load_trained(folder)
    except ModelFolderError:
        raise
    except json.JSONDecodeError as exc:
        raise ModelFolderError(f"{folder}/{META_FILE}: not valid JSON ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - Keras raises many kinds for a bad file
        raise ModelFolderError(
            f"{folder}/{MODEL_FILE}: cannot be loaded as a Keras model "
            f"({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(meta, dict):
        raise ModelFolderError(f"{folder}/{META_FILE}: expected a JSON object")
    missing = [k for k in ("kind", "image_size", "normalization", "landmarks") if k not in meta]
    if missing:
        raise ModelFolderError(f"{folder}/{META_FILE}: lacks {missing} (not a trained model?)")
    kind = meta["kind"]
    if kind not in KINDS:
        raise ModelFolderError(f"{folder}/{META_FILE}: kind {kind!r}, expected one of {KINDS}")
    seq_len = meta.get("seq_len")
    if kind == "cnn_rnn":
        time_steps = model.inputs[0].shape[1] if model.inputs else None
        seq_len = int(seq_len or time_steps or 0)
        if seq_len < 1:
            raise ModelFolderError(f"{folder}/{META_FILE}: a cnn_rnn model needs seq_len")
    from pipeline.records.ops import NORMALIZATIONS

    if meta["normalization"] not in NORMALIZATIONS:
        raise ModelFolderError(
            f"{folder}/{META_FILE}: normalization {meta['normalization']!r}, "
            f"expected one of {NORMALIZATIONS}"
        )
    return TrainedModel(
        folder=folder,
        keras_model=model,
        meta=meta,
        kind=kind,
        image_size=int(meta["image_size"]),
        normalization=meta["normalization"],
        landmarks=bool(meta["landmarks"]),
        seq_len=seq_len if kind == "cnn_rnn" else None,
        face=_face_params(meta, folder),
    )
