"""Custom layers of the models (registered for ``.keras`` loading)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="affwild")
class FoldTime(keras.layers.TimeDistributed):
    """``TimeDistributed`` that folds time into the batch: (B, T, ...) → (B·T, ...) → layer
    → (B, T, ...), one call for all frames.

    Keras 3's ``TimeDistributed`` calls the wrapped layer once per time step (a Python
    loop over a static T, or ``vectorized_map``): for a CNN backbone that means T copies
    of its graph (minutes of tracing at T = 50), small per-step convolutions, and batch
    norm statistics over B frames at a time. Here the backbone sees B·T frames at once,
    as the CNN saw its batches.
    """

    def call(self, inputs, training=None, mask=None):
        shape = ops.shape(inputs)
        frames = ops.reshape(inputs, (-1, *inputs.shape[2:]))
        kwargs = {"training": training} if self.layer._call_has_training_arg else {}
        out = self.layer(frames, **kwargs)
        return ops.reshape(out, (shape[0], shape[1], *out.shape[1:]))


# Per-backbone input normalisation of RGB images in [0, 1]: an affine map of the channels.
NORMALIZATIONS = ("unit", "symmetric", "caffe_imagenet", "caffe_vggface")
_BGR_MEANS = {
    "caffe_imagenet": (103.939, 116.779, 123.68),
    "caffe_vggface": (93.5940, 104.7624, 129.1863),
}


def normalization_affine(method: str) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) float32 with ``normalised = x @ W + b`` for RGB images ``x`` in [0, 1].

    ``unit``: [0, 1]; ``symmetric``: [-1, 1] ((x - 128) / 128 on 0-255, the authors'
    release); ``caffe_imagenet`` / ``caffe_vggface``: BGR, 0-255, mean subtracted (Keras
    VGG-16 / ResNet-50 and the VGG-Face weights)."""
    if method == "unit":
        return np.eye(3, dtype=np.float32), np.zeros(3, np.float32)
    if method == "symmetric":
        return np.eye(3, dtype=np.float32) * np.float32(255.0 / 128.0), -np.ones(3, np.float32)
    if method not in _BGR_MEANS:
        raise ValueError(f"unknown normalisation {method!r} (allowed: {', '.join(NORMALIZATIONS)})")
    to_bgr = np.array([[0, 0, 255.0], [0, 255.0, 0], [255.0, 0, 0]], np.float32)
    return to_bgr, -np.array(_BGR_MEANS[method], np.float32)


@keras.saving.register_keras_serializable(package="affwild")
class Preprocess(keras.layers.Layer):
    """A model's first layer: raw crops (RGB, 0-255, any leading axes) → the backbone's
    input, normalised as the backbone's weights expect (:func:`normalization_affine`).

    The normalisation travels with the model: ``model(crops)`` on plain 0-255 pixels, and
    so does an exported SavedModel / TFLite file. Computed in float32 whatever the mixed
    precision policy (the backbone casts its own input)."""

    def __init__(self, normalization: str, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.normalization = normalization
        self._w, self._b = normalization_affine(normalization)

    def call(self, images):
        x = ops.cast(images, "float32") / 255.0
        if self.normalization == "unit":
            return x
        return ops.tensordot(x, self._w, axes=[[-1], [0]]) + self._b

    def compute_output_shape(self, shape):
        return shape

    def get_config(self):
        return {**super().get_config(), "normalization": self.normalization}


def preprocess_layer(model) -> Preprocess | None:
    """The :class:`Preprocess` layer of ``model`` (searched in nested models too), or None."""
    for layer in model.layers:
        if isinstance(layer, Preprocess):
            return layer
        if isinstance(layer, keras.Model):
            found = preprocess_layer(layer)
            if found is not None:
                return found
    return None
