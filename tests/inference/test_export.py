"""``affwild export``: the exported model (TFLite interpreter / loaded SavedModel) takes raw
0-255 crops and gives the Keras model's outputs on the same inputs, within float tolerance."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from pipeline.artifacts import ModelMeta
from pipeline.cli import main
from pipeline.inference.model import load_model
from pipeline.models import build_model
from tests.helpers.inference import save_model_folder

TOL = 1e-4
pytestmark = pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")


def inputs(model, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for t in model.inputs:
        shape = (batch, *t.shape[1:])
        # raw crops: whole pixel values 0-255 (the model's first layer normalises them)
        x = rng.uniform(0, 1, shape) if t.name == "landmarks" else rng.integers(0, 256, shape)
        out[t.name] = x.astype(np.float32)
    return out


def export(*args: str):
    r = CliRunner().invoke(main, ["export", *args], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r


def run_tflite(path, x: dict[str, np.ndarray]) -> np.ndarray:
    interp = tf.lite.Interpreter(model_path=str(path))
    by_name = {d["name"]: d for d in interp.get_input_details()}
    for name, value in x.items():
        interp.resize_tensor_input(by_name[f"serving_default_{name}:0"]["index"], value.shape)
    interp.allocate_tensors()
    runner = interp.get_signature_runner("serving_default")
    return runner(**x)["output_0"]


@pytest.mark.parametrize("which", ["cnn", "cnn_rnn", "cnn_rnn_lstm"])
def test_tflite_matches_keras(tmp_path, cnn_dir, rnn_dir, which):
    folder = {"cnn": cnn_dir, "cnn_rnn": rnn_dir}.get(which)
    if folder is None:  # the peephole LSTM (a custom cell) converts too
        folder = save_model_folder(tmp_path / "lstm", "cnn_rnn", rnn="lstm")
    out = tmp_path / f"{which}.tflite"
    export("--model", str(folder), "--format", "tflite", "--out", str(out))
    keras_model = load_model(folder).keras_model
    # The CNN keeps a free batch dimension; the CNN-RNN's TFLite model takes one window.
    batches = (1, 5) if which == "cnn" else (1,)
    for batch in batches:
        x = inputs(keras_model, batch, seed=batch)
        ref = keras_model.predict_on_batch(x)
        np.testing.assert_allclose(run_tflite(out, x), ref, atol=TOL)
    meta = json.loads((tmp_path / f"{which}.meta.json").read_text())
    assert meta["kind"] == which.removesuffix("_lstm")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("which", ["cnn", "cnn_rnn"])
def test_savedmodel_matches_keras(tmp_path, cnn_dir, rnn_dir, which):
    folder = cnn_dir if which == "cnn" else rnn_dir
    out = tmp_path / "saved"
    export("--model", str(folder), "--format", "savedmodel", "--out", str(out))
    assert (out / "meta.json").is_file()
    keras_model = load_model(folder).keras_model
    loaded = tf.saved_model.load(str(out))
    x = inputs(keras_model, 3)
    got = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in x.items()})
    np.testing.assert_allclose(got["output_0"].numpy(), keras_model.predict_on_batch(x), atol=TOL)
    np.testing.assert_allclose(loaded.serve(x).numpy(), keras_model.predict_on_batch(x), atol=TOL)
    # The file normalises once, itself: the same network without its first layer, on crops
    # normalised by hand ((x - 128) / 128 for the small backbone), gives the same outputs.
    meta = ModelMeta.read(out)
    assert meta.normalization == "symmetric"
    bare = build_model(meta.model, meta.image_size, meta.kind,
                       keras_model.inputs[0].shape[1] if meta.seq_len else None,
                       preprocess=False)  # fmt: skip
    bare.set_weights(keras_model.get_weights())
    by_hand = bare.predict_on_batch({**x, "image": (x["image"] - 128) / 128})
    np.testing.assert_allclose(got["output_0"].numpy(), by_hand, atol=TOL)
    assert np.abs(by_hand - bare.predict_on_batch(x)).max() > 10 * TOL  # raw ≠ normalised


def test_export_bad_model_folder(tmp_path, cnn_dir):
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(cnn_dir / "meta.json", folder)
    r = CliRunner().invoke(main, ["export", "--model", str(folder), "--format", "tflite",
                                  "--out", str(tmp_path / "m.tflite")])  # fmt: skip
    assert r.exit_code == 1 and "not a trained model folder" in r.output
    assert not (tmp_path / "m.tflite").exists()
