"""The normalisation travels with the model: its first layer takes raw 0-255 crops and gives
the same predictions as normalising in the input pipeline with the same weights."""

from __future__ import annotations

from typing import get_args

import keras
import numpy as np
import pytest

from pipeline.artifacts import FaceParams, ModelFolderError, ModelMeta
from pipeline.config import ModelConfig
from pipeline.models import build_model
from pipeline.models.layers import (
    NORMALIZATIONS,
    Preprocess,
    preprocess_layer,
)
from pipeline.models.saved import load_model

TINY = dict(backbone={"name": "small", "width": 4}, fc_units=(16, 8), rnn_units=8, rnn_layers=1)


def by_hand(px: np.ndarray, method: str) -> np.ndarray:
    """Each backbone's normalisation of 0-255 RGB pixels, written out (what the records
    reader applied before the models took raw crops)."""
    px = np.asarray(px, np.float64)
    return {
        "unit": lambda: px / 255,
        "symmetric": lambda: (px - 128) / 128,
        "caffe_imagenet": lambda: px[..., ::-1] - [103.939, 116.779, 123.68],
        "caffe_vggface": lambda: px[..., ::-1] - [93.5940, 104.7624, 129.1863],
    }[method]().astype(np.float32)


def crops(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.float32)


@pytest.mark.parametrize("method", NORMALIZATIONS)
def test_each_normalisation(method):
    px = crops((4, 4, 3))
    out = keras.ops.convert_to_numpy(Preprocess(method)(px))
    np.testing.assert_allclose(out, by_hand(px, method), rtol=1e-5, atol=1e-4)
    assert set(get_args(ModelMeta.model_fields["normalization"].annotation)) == set(NORMALIZATIONS)


def test_unknown_normalisation():
    with pytest.raises(ValueError, match="allowed: unit, symmetric"):
        Preprocess("imagenet")


@pytest.mark.parametrize(
    "kind, heads, landmarks", [("cnn", "joint", True), ("cnn", "separate", False),
                               ("cnn_rnn", "joint", True), ("cnn_rnn", "separate", True)]
)  # fmt: skip
def test_model_on_raw_crops_equals_old_path(kind, heads, landmarks, tmp_path):
    keras.utils.set_random_seed(0)
    cfg = ModelConfig(**TINY, heads=heads, landmarks=landmarks)
    seq = 4 if kind == "cnn_rnn" else None
    new = build_model(cfg, 16, kind, seq)
    old = build_model(cfg, 16, kind, seq, preprocess=False)
    old.set_weights(new.get_weights())  # the layer has no weights: same list
    assert preprocess_layer(new).normalization == "symmetric" and preprocess_layer(old) is None
    lead = (3, seq) if seq else (3,)
    x = crops((*lead, 16, 16, 3))
    lm = np.random.default_rng(1).random((*lead, 136)).astype(np.float32)
    want = old.predict_on_batch({"image": by_hand(x, "symmetric"), "landmarks": lm})
    got = new.predict_on_batch({"image": x, "landmarks": lm})
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    # and after a save / load round trip
    new.save(tmp_path / "m.keras")
    back = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(back.predict_on_batch({"image": x, "landmarks": lm}), got, atol=1e-6)


def test_model_folder_without_the_layer_is_one_clear_error(tmp_path):
    """A network that takes normalised images (no ``preprocess`` layer) is not used as if it
    took raw crops: one error naming the file and the command that writes the folder anew."""
    keras.utils.set_random_seed(0)
    cfg = ModelConfig(**TINY)
    folder = tmp_path / "old"
    folder.mkdir()
    build_model(cfg, 16, "cnn_rnn", 4, preprocess=False).save(folder / "model.keras")
    ModelMeta(kind="cnn_rnn", image_size=16, normalization="symmetric", landmarks=True,
              seq_len=4, model=cfg, face=FaceParams()).write(folder)  # fmt: skip
    with pytest.raises(ModelFolderError, match=r"old/model.keras: no preprocess layer .*"
                       r"write it anew with `dvc repro train_rnn`"):  # fmt: skip
        load_model(folder)


def test_model_folder_whose_meta_disagrees_with_the_layer(tmp_path):
    keras.utils.set_random_seed(0)
    cfg = ModelConfig(**TINY)
    folder = tmp_path / "m"
    folder.mkdir()
    build_model(cfg, 16, "cnn").save(folder / "model.keras")
    ModelMeta(kind="cnn", image_size=16, normalization="caffe_vggface", landmarks=True,
              model=cfg, face=FaceParams()).write(folder)  # fmt: skip
    with pytest.raises(ModelFolderError, match="m/meta.json: normalization 'caffe_vggface'"):
        load_model(folder)
