"""A trained model folder, loaded for inference, with what it was trained on.

Everything ``affwild predict`` needs comes from the folder's ``meta.json``
(:class:`pipeline.artifacts.ModelMeta`, written by the training stages): the model kind, its
input side, the crop size and face-stage params its crops were made with, whether it takes
landmarks, and (CNN-RNN) the window length. Nothing is repeated on the command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.artifacts import FaceParams, ModelFolderError
from pipeline.errors import InputError

if TYPE_CHECKING:
    from pipeline.models.saved import TrainedModel

__all__ = ["FaceParams", "ModelFolderError", "load_model", "setup_device"]


def load_model(folder) -> TrainedModel:
    """:func:`pipeline.models.saved.load_model` (Keras is imported here, on first use, so
    that :func:`setup_device` can run before it)."""
    from pipeline.models.saved import load_model as load

    return load(folder)


def setup_device(device: str) -> str:
    """``cpu``: hide every GPU from TensorFlow; ``gpu``: require one; ``auto``: use one if any.

    Must run before TensorFlow first touches a device (before a model is loaded). Returns the
    device actually used ("cpu" or "gpu").
    """
    from pipeline.quiet import load_tensorflow

    tf = load_tensorflow()  # imported and probed without the CUDA wheel's log lines

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
