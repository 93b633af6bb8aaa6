"""The feature cache: the frozen CNN's features computed once, FC + RNN trained on them, and
a saved full CNN-RNN that gives on images what the feature-path model gives on the cache."""

from __future__ import annotations

import json
import shutil

import keras
import numpy as np
import pytest

from pipeline.artifacts import FeaturesSummary
from pipeline.config import ModelConfig, Params
from pipeline.models import create_model
from pipeline.models.layers import preprocess_layer
from pipeline.models.saved import load_model
from pipeline.records.reader import make_dataset, shard_files
from pipeline.training import features as cache
from pipeline.training.run import train_stage
from tests.helpers.records import tiny_records
from tests.helpers.training import TINY_MODEL

SEQ = 8
VIDEOS = {"a": ("train", 50), "b": ("train", 40), "v": ("val", 30), "t": ("test", 20)}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    return tiny_records(tmp_path_factory.mktemp("feat"), VIDEOS, seq_len=SEQ)


def params(**rnn) -> Params:
    common = {"batch_size": 8, "epochs": 2, "patience": 0, "learning_rate": 3e-3}
    return Params.model_validate(
        {
            "model": {**TINY_MODEL, "heads": "joint", "landmarks": True},
            "train_cnn": {**common, "epochs": 1, "batch_size": 16},
            "train_rnn": {**common, "freeze_cnn": True, "augment": False, **rnn},
        }
    )


@pytest.fixture(scope="module")
def cnn_dir(records, tmp_path_factory):
    root = tmp_path_factory.mktemp("cnn")
    train_stage("cnn", params(), records, root / "cnn", root / "ck", root / "live")
    return root / "cnn"


def _val_images(records, image_size):
    ds = make_dataset(
        shard_files(records, "val", "sequences"),
        "sequences",
        batch_size=64,
        training=False,
        seq_len=SEQ,
        image_size=image_size,
    )
    return next(iter(ds))[0]


def test_features_then_rnn_on_them_saves_an_equivalent_full_model(records, cnn_dir, tmp_path):
    p = params()
    feats = tmp_path / "features"
    s = cache.compute_features(cnn_dir, records, feats, p.train_rnn)
    summary = json.loads((records / "summary.json").read_text())
    n_train = summary["splits"]["train"]["sequences"]["records"]
    n_val = summary["splits"]["val"]["sequences"]["records"]
    assert s.used and s.splits == {"train": {"records": n_train}, "val": {"records": n_val}}
    assert s.dim == 8 * 4  # small backbone: 8 x its width channels, pooled
    train_f = np.load(feats / "train.features.npy")
    assert train_f.shape == (n_train, SEQ, s.dim) and np.isfinite(train_f).all()
    assert not (feats / "test.features.npy").exists()  # evaluation runs the saved model

    # The cached features are the CNN's backbone on the records' images, in record order.
    cnn, meta = _loaded(cnn_dir)
    images = _val_images(records, meta.image_size)
    flat = np.reshape(images["image"], (-1, *images["image"].shape[2:]))
    normalised = preprocess_layer(cnn)(flat)  # the records hold raw crops; the model normalises
    direct = cnn.get_layer("backbone")(normalised, training=False).numpy()
    val_f = np.load(feats / "val.features.npy")
    np.testing.assert_allclose(val_f.reshape(-1, s.dim), direct, rtol=1e-5, atol=1e-5)

    out = tmp_path / "rnn"
    meta = train_stage(
        "cnn_rnn", p, records, out, tmp_path / "ck", tmp_path / "live",
        cnn_dir=cnn_dir, features_dir=feats,
    )  # fmt: skip
    assert (meta.features.dim, meta.features.frames) == (s.dim, s.frames)
    assert meta.run.epochs_run == 2
    full, _ = _loaded(out)
    assert full.input["image"].shape[1:] == (SEQ, meta.image_size, meta.image_size, 3)
    # The backbone is the CNN's, untouched.
    for a, b in zip(full.get_layer("backbone_td").layer.weights, cnn.get_layer("backbone").weights,
                    strict=True):  # fmt: skip
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    on_images = full.predict_on_batch(images)
    head = cache.head_model(p.model, full, s)
    on_features = head.predict_on_batch(
        {"features": val_f[: len(on_images)], "landmarks": np.asarray(images["landmarks"])}
    )
    np.testing.assert_allclose(on_images, on_features, rtol=1e-4, atol=1e-4)
    # It learnt: the trained FC + RNN differ from the CNN-RNN's initialisation.
    init = create_model(p.model, meta.image_size, "cnn_rnn", SEQ)
    assert not np.allclose(init.get_layer("rnn1").weights[0], full.get_layer("rnn1").weights[0])


def test_augment_or_finetune_leave_nothing_to_cache(records, cnn_dir, tmp_path):
    for rnn, word in (({"augment": True}, "augment"), ({"freeze_cnn": False}, "freeze_cnn")):
        feats = tmp_path / word
        s = cache.compute_features(cnn_dir, records, feats, params(**rnn).train_rnn)
        assert not s.used and word in s.reason
        assert sorted(f.name for f in feats.iterdir()) == ["summary.json"]
    # train_rnn then trains on images, as before.
    meta = train_stage(
        "cnn_rnn", params(augment=True, epochs=1), records, tmp_path / "rnn", tmp_path / "ck",
        tmp_path / "live", cnn_dir=cnn_dir, features_dir=tmp_path / "augment",
    )  # fmt: skip
    assert meta.features is None


def test_features_of_another_cnn_are_refused(records, cnn_dir, tmp_path):
    p = params()
    feats = tmp_path / "features"
    cache.compute_features(cnn_dir, records, feats, p.train_rnn)
    other = tmp_path / "other_cnn"
    shutil.copytree(cnn_dir, other)
    meta = json.loads((other / "meta.json").read_text())
    meta["run"]["epochs_run"] += 1  # another training run
    (other / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(cache.FeaturesError, match="stale"):
        train_stage(
            "cnn_rnn", p, records, tmp_path / "rnn", tmp_path / "ck", tmp_path / "live",
            cnn_dir=other, features_dir=feats,
        )  # fmt: skip
    assert not (tmp_path / "rnn").exists()


@pytest.mark.parametrize("heads,rnn,layers_", [("joint", "lstm", 2), ("separate", "gru", 1)])
def test_head_model_equals_the_full_model_after_the_backbone(heads, rnn, layers_):
    cfg = ModelConfig(backbone={"name": "small", "width": 4}, fc_units=(16, 8), rnn_units=6,
                      rnn_layers=layers_, rnn=rnn, heads=heads, landmarks=True)  # fmt: skip
    keras.utils.set_random_seed(1)
    full = create_model(cfg, 32, "cnn_rnn", 5)
    rng = np.random.default_rng(0)
    x = {"image": rng.normal(size=(3, 5, 32, 32, 3)).astype(np.float32),
         "landmarks": rng.random((3, 5, 136)).astype(np.float32)}  # fmt: skip
    extract, nb = cache.feature_extractor(full, 32)
    assert nb == (2 if heads == "separate" else 1)
    f = extract(x["image"].reshape(-1, 32, 32, 3)).numpy().reshape(3, 5, -1)
    shape = FeaturesSummary(used=True, source={}, seq_len=5, dim=f.shape[-1], backbones=nb)
    head = cache.head_model(cfg, full, shape)
    np.testing.assert_allclose(
        head.predict_on_batch({"features": f, "landmarks": x["landmarks"]}),
        full.predict_on_batch(x),
        rtol=1e-5,
        atol=1e-5,
    )
    # ... and weights trained in the head go back into the full model.
    for w in head.trainable_weights:
        w.assign(w + 0.01)
    cache.copy_head_weights(head, full)
    np.testing.assert_allclose(
        head.predict_on_batch({"features": f, "landmarks": x["landmarks"]}),
        full.predict_on_batch(x),
        rtol=1e-5,
        atol=1e-5,
    )


def test_separate_heads_train_on_features_too(records, tmp_path):
    base = params().model_dump(mode="json")
    base["model"]["heads"] = "separate"
    p = Params.model_validate(base)
    train_stage("cnn", p, records, tmp_path / "cnn", tmp_path / "ck", tmp_path / "live")
    feats = tmp_path / "features"
    s = cache.compute_features(tmp_path / "cnn", records, feats, p.train_rnn)
    assert s.backbones == 2 and s.dim == 2 * 8 * 4  # valence's, then arousal's
    meta = train_stage(
        "cnn_rnn", p, records, tmp_path / "rnn", tmp_path / "ck2", tmp_path / "live2",
        cnn_dir=tmp_path / "cnn", features_dir=feats,
    )  # fmt: skip
    assert meta.features is not None
    full, _ = _loaded(tmp_path / "rnn")
    cnn, cnn_meta = _loaded(tmp_path / "cnn")
    images = _val_images(records, cnn_meta.image_size)
    head = cache.head_model(p.model, full, s)
    val_f = np.load(feats / "val.features.npy")
    on_images = full.predict_on_batch(images)
    on_features = head.predict_on_batch(
        {"features": val_f[: len(on_images)], "landmarks": np.asarray(images["landmarks"])}
    )
    np.testing.assert_allclose(on_images, on_features, rtol=1e-4, atol=1e-4)


def _loaded(folder):
    tm = load_model(folder)
    return tm.keras_model, tm.meta
