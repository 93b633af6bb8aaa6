"""A few optimisation steps on tiny random data reduce the loss (small backbone)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pipeline.models import create_model
from pipeline.training.losses import make_loss, make_metrics
from tests.helpers.models import inputs, small_cfg


@pytest.mark.parametrize(
    ("kind", "rnn", "loss"),
    [
        ("cnn", "gru", "ccc"),
        ("cnn", "gru", "mse"),
        ("cnn_rnn", "gru", "ccc+mse"),
        pytest.param("cnn_rnn", "lstm", "ccc", marks=pytest.mark.slow),
    ],
)
def test_a_few_steps_reduce_the_loss(kind, rnn, loss):
    lead = (16,) if kind == "cnn" else (4, 6)
    x = inputs(lead, 32, seed=1)
    rng = np.random.default_rng(2)
    # Labels that depend on the inputs (image brightness, one landmark), some steps masked.
    # Raw crops (0-255), each darkened by its own factor so that brightness varies.
    x["image"] = np.round(x["image"] * rng.uniform(0.2, 1.0, (*lead, 1, 1, 1))).astype("float32")
    v = np.tanh(3 * (x["image"].mean(axis=(-3, -2, -1)) / 255 - 0.3))
    a = np.tanh(4 * (x["landmarks"][..., 0] - 0.5))
    mask = (rng.uniform(size=lead) > 0.2).astype("float32")
    y = np.stack([v, a, mask], axis=-1).astype("float32")
    model = create_model(
        small_cfg(rnn=rnn, dropout=0.0), 32, kind=kind, seq_len=6 if kind == "cnn_rnn" else None
    )
    model.compile(keras.optimizers.Adam(3e-3), make_loss(loss), metrics=make_metrics())
    # One step per epoch on the whole set: the first epoch's loss is that of the initial
    # weights (computed before the update), in training mode like the last one.
    history = model.fit(x, y, batch_size=lead[0], epochs=25, verbose=0).history
    first, last = history["loss"][0], history["loss"][-1]
    assert np.isfinite(last)
    assert last < 0.7 * first, history["loss"]
    assert history["ccc_valence"][-1] > history["ccc_valence"][0]
