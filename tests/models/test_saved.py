"""Saved model files depend on the weights only (no save time, no memory addresses), so DVC
sees a re-trained but unchanged model as unchanged."""

from __future__ import annotations

import keras
import numpy as np

from pipeline.config import ModelConfig
from pipeline.models import build_model
from pipeline.models.saved import save_model
from tests.helpers.training import TINY_MODEL


def test_saved_model_file_depends_on_weights_only(tmp_path):
    """Two CNN-RNNs built alike (their TimeDistributed backbone shares objects, which Keras
    numbers by memory address in config.json) give the same file; the loaded one predicts the
    same."""
    cfg = ModelConfig(**TINY_MODEL)
    for name in ("a", "b"):
        keras.utils.set_random_seed(0)
        model = build_model(cfg, 32, "cnn_rnn", 4)
        save_model(model, tmp_path / f"{name}.keras")
    assert (tmp_path / "a.keras").read_bytes() == (tmp_path / "b.keras").read_bytes()
    back = keras.saving.load_model(tmp_path / "b.keras", compile=False)
    x = {
        "image": np.random.default_rng(0).integers(0, 256, (1, 4, 32, 32, 3)).astype(np.float32),
        "landmarks": np.zeros((1, 4, 136), np.float32),
    }
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_a_cnn_rnn_with_the_peephole_lstm_loads_in_a_fresh_process(tmp_path):
    """``load_model`` registers every custom layer itself: a fresh interpreter that imports
    nothing else (as ``affwild evaluate`` / ``predict`` do) loads an LSTM CNN-RNN folder."""
    import subprocess
    import sys

    from tests.helpers.inference import save_model_folder
    from tests.helpers.repo import REPO, tool_env

    folder = save_model_folder(tmp_path / "lstm", "cnn_rnn", rnn="lstm")
    code = (
        "import sys; from pipeline.models.saved import load_model; "
        "m = load_model(sys.argv[1]).keras_model; "
        "print(sorted({type(l.cell).__name__ for l in m._flatten_layers() if hasattr(l, 'cell')}))"
    )
    res = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=REPO, env=tool_env(),
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert "PeepholeLSTMCell" in res.stdout
