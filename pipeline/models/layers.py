"""Custom layers of the models (registered for ``.keras`` loading)."""

from __future__ import annotations

import keras
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
