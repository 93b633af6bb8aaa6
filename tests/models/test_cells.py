"""The peephole LSTM against the equations in numpy, and a .keras save/load round trip."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pipeline.models import PeepholeLSTMCell, build_model
from pipeline.training.losses import make_loss, make_metrics
from tests.helpers.models import inputs, small_cfg


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def peephole_reference(x, kernel, recurrent, bias, w_i, w_f, w_o):
    """Gers & Schmidhuber: i, f see c_{t-1}; o sees c_t. Gate order i, f, c, o."""
    batch, steps, _ = x.shape
    u = recurrent.shape[0]
    h = np.zeros((batch, u))
    c = np.zeros((batch, u))
    outputs = []
    for t in range(steps):
        z = x[:, t] @ kernel + h @ recurrent + bias
        zi, zf, zc, zo = (z[:, k * u : (k + 1) * u] for k in range(4))
        i = sigmoid(zi + w_i * c)
        f = sigmoid(zf + w_f * c)
        c = f * c + i * np.tanh(zc)
        o = sigmoid(zo + w_o * c)
        h = o * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1)


@pytest.mark.parametrize("implementation", [1, 2])
def test_peephole_lstm_matches_numpy(implementation):
    rng = np.random.default_rng(1)
    units, n_in = 5, 3
    layer = keras.layers.RNN(
        PeepholeLSTMCell(units, implementation=implementation), return_sequences=True
    )
    x = rng.normal(size=(2, 6, n_in)).astype("float32")
    layer(x)
    cell = layer.cell
    values = {
        "kernel": rng.normal(size=(n_in, 4 * units)),
        "recurrent_kernel": rng.normal(size=(units, 4 * units)),
        "bias": rng.normal(size=(4 * units,)),
        "input_gate_peephole_weights": rng.normal(size=(units,)),
        "forget_gate_peephole_weights": rng.normal(size=(units,)),
        "output_gate_peephole_weights": rng.normal(size=(units,)),
    }
    assert sorted(w.name for w in cell.weights) == sorted(values)
    for w in cell.weights:
        w.assign(values[w.name].astype("float32"))
    expected = peephole_reference(
        x.astype("float64"),
        values["kernel"],
        values["recurrent_kernel"],
        values["bias"],
        values["input_gate_peephole_weights"],
        values["forget_gate_peephole_weights"],
        values["output_gate_peephole_weights"],
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, atol=1e-5)
    # The peepholes matter: with them zeroed the output differs (the test can fail).
    for name in ("input_gate", "forget_gate", "output_gate"):
        getattr(cell, f"{name}_peephole_weights").assign(np.zeros(units, "float32"))
    assert not np.allclose(keras.ops.convert_to_numpy(layer(x)), expected, atol=1e-3)


def test_keras_round_trip_with_peephole_cell(tmp_path):
    model = build_model(small_cfg(rnn="lstm", rnn_layers=2), 32, kind="cnn_rnn", seq_len=4)
    model.compile("adam", make_loss("ccc+mse"), metrics=make_metrics())
    x = inputs((2, 4), 32)
    y = np.concatenate([np.random.default_rng(0).uniform(-1, 1, (2, 4, 2)), np.ones((2, 4, 1))], -1)
    model.fit(x, y.astype("float32"), epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    keras.backend.clear_session()
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.get_layer("rnn1").cell, PeepholeLSTMCell)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model(x, training=False)),
        keras.ops.convert_to_numpy(loaded(x, training=False)),
    )
    assert loaded.loss.kind == "ccc+mse"
    assert loaded.evaluate(x, y.astype("float32"), verbose=0, return_dict=True).keys() >= {
        "ccc_valence",
        "ccc_arousal",
        "mse_valence",
        "mse_arousal",
    }
