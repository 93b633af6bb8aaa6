"""Weights files loaded by layer name (files written here), transfer CNN → CNN-RNN, freezing."""

from __future__ import annotations

import json

import h5py
import keras
import numpy as np
import pytest

from pipeline.config import ModelConfig
from pipeline.models import (
    WeightsError,
    build_model,
    create_model,
    freeze_backbone,
    load_weights_by_name,
    read_weights_file,
    transfer_cnn_weights,
    weight_layers,
)
from pipeline.training.losses import make_loss
from tests.helpers.models import inputs, small_cfg

VGG_CONVS = [
    (f"conv{b}_{i}", c_in if i == 1 else c, c)
    for b, (c_in, c, n) in enumerate(
        ((3, 64, 2), (64, 128, 2), (128, 256, 3), (256, 512, 3), (512, 512, 3)), start=1
    )
    for i in range(1, n + 1)
]
FC = (64, 64, 32)  # a shrunken head, so the files stay small (32 px crops: 512 features)


def vgg_face_weights(seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """What the public VGG-Face weights hold, at 32 px with a 64-unit fc6/fc7."""
    rng = np.random.default_rng(seed)

    def arr(*shape):
        return rng.standard_normal(shape, dtype=np.float32) * 0.01

    layers = {name: {"kernel": arr(3, 3, a, b), "bias": arr(b)} for name, a, b in VGG_CONVS}
    layers["fc6"] = {"kernel": arr(512, 64), "bias": arr(64)}
    layers["fc7"] = {"kernel": arr(64, 64), "bias": arr(64)}  # no landmark inputs
    layers["fc8"] = {"kernel": arr(64, 2622), "bias": arr(2622)}  # face identities
    return layers


def write_keras2(path, layers):
    """Keras 2 ``model.save`` layout: model_weights/<layer>/<layer>/kernel:0 + attributes."""
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights")
        root.attrs["layer_names"] = [n.encode() for n in ["input_1", *layers, "flatten"]]
        root.create_group("input_1").attrs["weight_names"] = []
        root.create_group("flatten").attrs["weight_names"] = []
        for name, weights in layers.items():
            g = root.create_group(name)
            g.attrs["weight_names"] = [f"{name}/{k}:0".encode() for k in ("kernel", "bias")]
            for k, v in weights.items():
                g.create_dataset(f"{name}/{k}:0", data=v)


def write_plain(path, layers):
    """Plain layout: <layer>/kernel, <layer>/bias (bias first, to test matching by name)."""
    with h5py.File(path, "w") as f:
        for name, weights in layers.items():
            for k in ("bias", "kernel"):
                f.create_dataset(f"{name}/{k}", data=weights[k])


def vgg_cfg(**kw) -> ModelConfig:
    return ModelConfig(**{"backbone": "vgg_face", "heads": "joint", "fc_units": FC, **kw})


@pytest.mark.parametrize("writer", [write_keras2, write_plain], ids=["keras2", "plain"])
def test_vgg_face_weights_load_by_name(tmp_path, writer):
    layers = vgg_face_weights()
    path = tmp_path / "vgg_face.h5"
    writer(path, layers)
    model = build_model(vgg_cfg(), 32)
    report = load_weights_by_name(model, path)

    assert report.loaded == [f"backbone/{n}" for n, _, _ in VGG_CONVS] + ["fc6"]
    skipped = dict(report.skipped)
    assert set(skipped) == {"fc7", "fc8"}  # landmarks join fc7; fc8 = 2622 identities
    assert "(64, 64) vs (200, 64)" in skipped["fc7"] and "2622" in skipped["fc8"]
    assert report.not_in_source == ["out"]
    backbone = model.get_layer("backbone")
    for name in ("conv1_1", "conv5_3"):
        np.testing.assert_array_equal(
            backbone.get_layer(name).kernel.numpy(), layers[name]["kernel"]
        )
        np.testing.assert_array_equal(backbone.get_layer(name).bias.numpy(), layers[name]["bias"])
    np.testing.assert_array_equal(model.get_layer("fc6").kernel.numpy(), layers["fc6"]["kernel"])
    json.dumps(dict(report))  # goes into the model's meta.json
    assert "skipped fc8" in str(report)


def test_scenario_1_takes_fc7_and_separate_heads_load_twice(tmp_path):
    layers = vgg_face_weights()
    path = tmp_path / "vgg_face.h5"
    write_keras2(path, layers)
    model = build_model(vgg_cfg(landmarks=False, heads="separate"), 32)
    report = load_weights_by_name(model, path)
    for dim in ("valence", "arousal"):
        assert f"{dim}/backbone/conv3_2" in report.loaded
        assert f"{dim}/fc7" in report.loaded  # no landmarks: fc7 fits
        kernel = model.get_layer(dim).get_layer("backbone").get_layer("conv3_2").kernel
        np.testing.assert_array_equal(kernel.numpy(), layers["conv3_2"]["kernel"])


def test_create_model_applies_a_weights_file(tmp_path):
    layers = vgg_face_weights(seed=5)
    path = tmp_path / "vgg_face.h5"
    write_plain(path, layers)
    model = create_model(vgg_cfg(init=str(path)), 32)
    kernel = model.get_layer("backbone").get_layer("conv2_1").kernel.numpy()
    np.testing.assert_array_equal(kernel, layers["conv2_1"]["kernel"])


def test_keras3_weights_file_round_trip(tmp_path):
    a = build_model(small_cfg(), 32, kind="cnn_rnn", seq_len=3)
    path = tmp_path / "a.weights.h5"
    a.save_weights(path)
    keras.utils.set_random_seed(1)
    b = build_model(small_cfg(), 32, kind="cnn_rnn", seq_len=3)
    x = inputs((2, 3), 32)
    assert not np.allclose(a(x, training=False), b(x, training=False))
    report = load_weights_by_name(b, path)
    assert not report.skipped and not report.not_in_source
    np.testing.assert_array_equal(a(x, training=False), b(x, training=False))
    assert set(read_weights_file(path)) >= {"conv1", "bn1", "fc1", "rnn1", "rnn2", "out"}


def test_shape_mismatch_in_the_backbone_is_an_error(tmp_path):
    # another width: every conv differs
    other = build_model(small_cfg(backbone={"name": "small", "width": 4}), 32)
    path = tmp_path / "other.weights.h5"
    other.save_weights(path)
    model = build_model(small_cfg(backbone={"name": "small", "width": 8}), 32)
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(WeightsError) as info:
        load_weights_by_name(model, path)
    msg = str(info.value)
    assert "backbone/conv1: shapes differ" in msg and "backbone/bn5" in msg
    assert "(3, 3, 3, 4) vs (3, 3, 3, 8)" in msg
    # Nothing was half-loaded.
    for w, v in zip(model.weights, before, strict=True):
        np.testing.assert_array_equal(w.numpy(), v)


def test_a_file_with_no_matching_layer_is_an_error(tmp_path):
    path = tmp_path / "unrelated.h5"
    write_plain(path, {"dense_7": {"kernel": np.ones((3, 2), "f"), "bias": np.ones(2, "f")}})
    with pytest.raises(WeightsError, match="no layer of the model matches.*dense_7"):
        load_weights_by_name(build_model(small_cfg(), 32), path)
    with pytest.raises(WeightsError, match="no such weights file"):
        load_weights_by_name(build_model(small_cfg(), 32), tmp_path / "missing.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(WeightsError, match="not an HDF5 weights file"):
        load_weights_by_name(build_model(small_cfg(), 32), tmp_path / "text.h5")


def test_imagenet_only_where_keras_has_it():
    with pytest.raises(ValueError, match="imagenet weights exist for backbone vgg16 or resnet50"):
        ModelConfig(backbone="vgg_face", init="imagenet")


# --------------------------------------------------------------------------------------
# Transfer and freezing


def test_transfer_cnn_weights_copies_backbone_and_matching_fc():
    cnn = build_model(small_cfg(), 32, kind="cnn")
    keras.utils.set_random_seed(7)
    rnn = build_model(small_cfg(), 32, kind="cnn_rnn", seq_len=4)
    report = transfer_cnn_weights(cnn, rnn)
    backbone_paths = [p for p, _ in weight_layers(cnn) if p.startswith("backbone/")]
    assert report.loaded == [*backbone_paths, "fc1"]
    assert dict(report.skipped).keys() == {"out"}  # (64, 2) vs (16, 2)
    assert report.not_in_source == ["rnn1", "rnn2"]
    assert report.unused == ["fc2"]
    src = dict(weight_layers(cnn))
    for path, layer in weight_layers(rnn):
        if path in report.loaded:
            for a, b in zip(src[path].weights, layer.weights, strict=True):
                np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_transfer_joint_cnn_into_separate_cnn_rnn_and_mismatch():
    cnn = build_model(small_cfg(), 32)
    rnn = build_model(small_cfg(heads="separate"), 32, kind="cnn_rnn", seq_len=4)
    report = transfer_cnn_weights(cnn, rnn)
    assert "valence/backbone/conv3" in report.loaded and "arousal/fc1" in report.loaded
    other = build_model(small_cfg(backbone={"name": "small", "width": 4}), 32)
    with pytest.raises(WeightsError, match="backbone/conv1"):
        transfer_cnn_weights(other, build_model(small_cfg(), 32, kind="cnn_rnn", seq_len=4))


@pytest.mark.parametrize("kind", ["cnn", "cnn_rnn"])
def test_freeze_backbone(kind):
    model = build_model(small_cfg(), 32, kind=kind, seq_len=4 if kind == "cnn_rnn" else None)
    n_all = len(model.trainable_weights)
    backbone = [p for p, _ in weight_layers(model) if p.startswith("backbone/")]
    assert freeze_backbone(model, True) == 1
    n_frozen = len(model.trainable_weights)
    # Each conv has a kernel, each BN gamma and beta: 5 x 3 trainable weights.
    assert n_all - n_frozen == 15 and len(backbone) == 10

    lead = (4, 4) if kind == "cnn_rnn" else (8,)
    x = inputs(lead, 32)
    rng = np.random.default_rng(0)
    y = np.concatenate([rng.uniform(-1, 1, (*lead, 2)), np.ones((*lead, 1))], -1).astype("f")
    model.compile(keras.optimizers.Adam(1e-2), make_loss("ccc+mse"))
    before = {p: [w.numpy().copy() for w in layer.weights] for p, layer in weight_layers(model)}
    model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    after = dict(weight_layers(model))
    for path, values in before.items():
        same = all(
            np.array_equal(v, w.numpy()) for v, w in zip(values, after[path].weights, strict=True)
        )
        assert same == path.startswith("backbone/"), path  # BN statistics frozen too

    freeze_backbone(model, False)
    assert len(model.trainable_weights) == n_all


def test_freeze_needs_a_backbone():
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no sub-model named 'backbone'"):
        freeze_backbone(plain)


def test_vgg_cnn_rnn_with_landmarks_takes_fc6_image_rows_from_the_cnn():
    # VGG with landmarks: the CNN joins them before fc7, the CNN-RNN before fc6, so the
    # CNN-RNN's fc6 has 136 more input rows than the CNN's (issue 10, point 7).
    cfg = ModelConfig(
        backbone="vgg_face", heads="joint", landmarks=True, fc_units=[16, 8], rnn_units=8
    )
    keras.utils.set_random_seed(1)
    cnn = build_model(cfg, 32, kind="cnn")
    keras.utils.set_random_seed(2)
    rnn = build_model(cfg, 32, kind="cnn_rnn", seq_len=3)
    src, dst = dict(weight_layers(cnn))["fc6"], dict(weight_layers(rnn))["fc6"]
    n_img = src.kernel.shape[0]
    assert dst.kernel.shape[0] == n_img + 136
    report = transfer_cnn_weights(cnn, rnn)
    assert "fc6" in report.loaded and [p for p, _ in report.partial] == ["fc6"]
    assert "fc6" not in dict(report.skipped)
    k = dst.kernel.numpy()
    np.testing.assert_array_equal(k[:n_img], src.kernel.numpy())
    np.testing.assert_array_equal(k[n_img:], 0.0)
    np.testing.assert_array_equal(dst.bias.numpy(), src.bias.numpy())
    # So at the start the CNN-RNN's fc6 is the CNN's, whatever the landmarks say.
    x = inputs((1, 3), 32)
    fc6 = keras.Model(rnn.inputs, rnn.get_layer("fc6").output)
    a = fc6.predict_on_batch(x)
    b = fc6.predict_on_batch({**x, "landmarks": x["landmarks"] * 0 + 0.5})
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    cnn_fc6 = keras.Model(cnn.inputs, cnn.get_layer("fc6").output)
    np.testing.assert_allclose(
        a[0], cnn_fc6.predict_on_batch({k: v[0] for k, v in x.items()}), rtol=1e-4, atol=1e-5
    )
