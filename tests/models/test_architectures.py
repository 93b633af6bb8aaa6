"""Parameter counts and output shapes of every backbone, head and scenario against the
paper's Tables 1-3, computed here from the layer sizes in the tables (not from Keras)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pipeline.config import ModelConfig
from pipeline.models import (
    build_backbone,
    build_model,
    get_backbone,
    head_units,
    list_backbones,
    normalization_for,
)
from pipeline.models.backbones import SmallOptions
from pipeline.models.layers import NORMALIZATIONS
from tests.helpers.models import inputs, small_cfg

LM = 136  # 68 landmarks x 2


def dense(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def conv(k: int, c_in: int, c_out: int, bias: bool = True) -> int:
    return k * k * c_in * c_out + (c_out if bias else 0)


def vgg_conv_params() -> int:
    """Table 2, blocks 1-5: 2x64, 2x128, 3x256, 3x512, 3x512 conv 3x3 (with biases)."""
    total, c_in = 0, 3
    for c_out, n in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for _ in range(n):
            total += conv(3, c_in, c_out)
            c_in = c_out
    return total


def resnet50_conv_params() -> int:
    """Table 1, blocks 1-5: conv 7x7/64 + BN, then bottleneck stacks x3, x4, x6, x3
    (Keras' ResNet-50: convs with biases; BN = 4 values per channel)."""
    bn = 4
    total = conv(7, 3, 64) + bn * 64
    c_in = 64
    for mid, out, blocks in ((64, 256, 3), (128, 512, 4), (256, 1024, 6), (512, 2048, 3)):
        for b in range(blocks):
            total += conv(1, c_in, mid) + bn * mid
            total += conv(3, mid, mid) + bn * mid
            total += conv(1, mid, out) + bn * out
            if b == 0:  # projection shortcut
                total += conv(1, c_in, out) + bn * out
            c_in = out
    return total


def small_conv_params(width: int) -> int:
    total, c_in = 0, 3
    for mult in (1, 2, 4, 8, 8):
        total += conv(3, c_in, width * mult, bias=False) + 4 * width * mult
        c_in = width * mult
    return total


def test_independent_counts_match_the_known_totals():
    # The well-known totals: VGG-16 without top, Keras ResNet-50 without top.
    assert vgg_conv_params() == 14_714_688
    assert resnet50_conv_params() == 23_587_712


@pytest.mark.parametrize("name", list_backbones())
def test_registry_entries_are_complete(name):
    spec = get_backbone(name)
    assert normalization_for(name) in NORMALIZATIONS
    assert spec.fc_units and 0 <= spec.landmarks_before < len(spec.fc_units)


def test_normalizations_follow_the_weights():
    assert normalization_for("vgg_face") == "caffe_vggface"
    assert normalization_for("vgg16") == "caffe_imagenet"
    assert normalization_for("resnet50") == "caffe_imagenet"
    assert normalization_for("small") == "symmetric"
    with pytest.raises(ValueError, match="allowed: resnet50, small, vgg16, vgg_face"):
        normalization_for("vgg19")


BACKBONE_224 = {
    "vgg_face": (vgg_conv_params(), 7 * 7 * 512),
    "vgg16": (vgg_conv_params(), 7 * 7 * 512),
    "resnet50": (resnet50_conv_params(), 2048),
    "small": (small_conv_params(16), 8 * 16),
}


@pytest.mark.parametrize("name", list_backbones())
def test_backbone_params_and_feature_size_at_224(name):
    params, features = BACKBONE_224[name]
    b = build_backbone(name, 224)
    assert b.name == "backbone"
    assert b.count_params() == params
    assert b.output_shape == (None, features)


def test_vgg_face_layer_names_are_the_public_weights_names():
    b = build_backbone("vgg_face", 64)
    convs = [layer.name for layer in b.layers if isinstance(layer, keras.layers.Conv2D)]
    expected = [
        f"conv{blk}_{i}"
        for blk, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
        for i in range(1, n + 1)
    ]
    assert convs == expected
    assert len(convs) == 13
    pools = [layer for layer in b.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert len(pools) == 5


def vgg_head(landmarks: bool, n_out: int) -> int:
    """Table 2 blocks 6-9: FC 4096, FC 4096 (+136 landmarks in), [FC 2622], FC out."""
    flat = 7 * 7 * 512
    if landmarks:
        return dense(flat, 4096) + dense(4096 + LM, 4096) + dense(4096, 2622) + dense(2622, n_out)
    return dense(flat, 4096) + dense(4096, 4096) + dense(4096, n_out)


def resnet_head(landmarks: bool, n_out: int) -> int:
    """Table 1 blocks 7-9: FC 1500 (pooled + 136 landmarks in), [FC 256], FC out."""
    if landmarks:
        return dense(2048 + LM, 1500) + dense(1500, 256) + dense(256, n_out)
    return dense(2048, 1500) + dense(1500, n_out)


def small_head(landmarks: bool, n_out: int, width: int = 16) -> int:
    feat = 8 * width
    if landmarks:
        return dense(feat + LM, 256) + dense(256, 64) + dense(64, n_out)
    return dense(feat, 256) + dense(256, n_out)


HEADS = {
    "vgg_face": (vgg_conv_params(), vgg_head),
    "vgg16": (vgg_conv_params(), vgg_head),
    "resnet50": (resnet50_conv_params(), resnet_head),
    "small": (small_conv_params(16), small_head),
}


@pytest.mark.parametrize("landmarks", [True, False], ids=["scenario2", "scenario1"])
@pytest.mark.parametrize("name", list_backbones())
def test_cnn_params_and_shape_joint_224(name, landmarks):
    conv_part, head = HEADS[name]
    model = build_model(ModelConfig(backbone=name, landmarks=landmarks, heads="joint"), 224)
    assert model.count_params() == conv_part + head(landmarks, 2)
    assert model.output_shape == (None, 2)
    assert set(model.input) == {"image", "landmarks"}


@pytest.mark.parametrize("name", ["vgg_face", "resnet50", "small"])
def test_cnn_params_separate_heads_224(name):
    """Scenario (b): two whole networks with one output each."""
    conv_part, head = HEADS[name]
    model = build_model(ModelConfig(backbone=name, landmarks=True, heads="separate"), 224)
    assert model.count_params() == 2 * (conv_part + head(True, 1))
    assert model.output_shape == (None, 2)
    assert [model.get_layer(d).output_shape for d in ("valence", "arousal")] == [(None, 1)] * 2


def test_paper_totals():
    """The familiar totals: VGG-16 / VGG-Face with a 2-unit top is 134.27 M parameters."""
    assert vgg_conv_params() + vgg_head(False, 2) == 134_268_738
    assert vgg_conv_params() + vgg_head(True, 2) == 145_565_180


@pytest.mark.parametrize(
    ("name", "layer", "n_in"),
    [("vgg_face", "fc7", 4096 + LM), ("vgg16", "fc2", 4096 + LM), ("resnet50", "fc1", 2048 + LM)],
)
def test_landmarks_join_where_the_paper_says(name, layer, n_in):
    model = build_model(ModelConfig(backbone=name, heads="joint"), 64 if "vgg" in name else 224)
    assert model.get_layer(layer).kernel.shape[0] == n_in


def test_vgg_head_names_fit_the_weights_files():
    model = build_model(ModelConfig(backbone="vgg_face", heads="joint"), 32)
    assert [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dense)] == [
        "fc6",
        "fc7",
        "fc8",
        "out",
    ]


def test_landmarks_matter_only_in_scenario_2():
    x = inputs((3,), 32)
    moved = {**x, "landmarks": x["landmarks"] + 0.5}
    with_lm = build_model(small_cfg(landmarks=True), 32)
    without = build_model(small_cfg(landmarks=False), 32)
    assert not np.allclose(with_lm(x, training=False), with_lm(moved, training=False))
    np.testing.assert_array_equal(without(x, training=False), without(moved, training=False))


def test_fc_units_override_and_defaults():
    assert head_units(ModelConfig(backbone="vgg_face")) == (4096, 4096, 2622)
    assert head_units(ModelConfig(backbone="vgg_face", landmarks=False)) == (4096, 4096)
    assert head_units(ModelConfig(backbone="resnet50", landmarks=False)) == (1500,)
    cfg = small_cfg(fc_units=(32,))
    model = build_model(cfg, 32)
    widths = [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert widths == [32, 2]
    # No hidden FC at all: the landmarks join before the output.
    model = build_model(small_cfg(fc_units=()), 32)
    assert model.get_layer("out").kernel.shape == (8 * 8 + LM, 2)


def vgg_rnn(units: int, layers: int, cell: str, fc: int = 4096) -> int:
    """Table 3: VGG conv part, FC 4096 (conv features + 136 landmarks in), RNN layers, FC 2."""
    total = vgg_conv_params() + dense(7 * 7 * 512 + LM, fc)
    n_in = fc
    for _ in range(layers):
        if cell == "gru":  # Keras GRU (reset_after): 3 gates, two bias vectors
            total += 3 * (n_in * units + units * units + 2 * units)
        else:  # LSTM, 4 gates + 3 diagonal peephole vectors
            total += 4 * (n_in * units + units * units + units) + 3 * units
        n_in = units
    return total + dense(units, 2)


@pytest.mark.parametrize(("cell", "layers", "units"), [("gru", 2, 128), ("lstm", 1, 100)])
def test_cnn_rnn_vgg_params_and_shape(cell, layers, units):
    cfg = ModelConfig(
        backbone="vgg_face", heads="joint", rnn=cell, rnn_layers=layers, rnn_units=units
    )
    model = build_model(cfg, 224, kind="cnn_rnn", seq_len=100)
    assert model.count_params() == vgg_rnn(units, layers, cell)
    assert model.output_shape == (None, 100, 2)


def test_cnn_rnn_resnet_and_small_separate():
    cfg = ModelConfig(backbone="resnet50", heads="joint", landmarks=False)
    model = build_model(cfg, 224, kind="cnn_rnn", seq_len=None)
    gru = 3 * (1500 * 128 + 128 * 128 + 256) + 3 * (128 * 128 + 128 * 128 + 256)
    assert model.count_params() == resnet50_conv_params() + dense(2048, 1500) + gru + 258
    assert model.output_shape == (None, None, 2)
    cfg = small_cfg(heads="separate", rnn_fc_units=24, rnn_layers=1)
    model = build_model(cfg, 32, kind="cnn_rnn", seq_len=5)
    one = small_conv_params(8) + dense(64 + LM, 24) + 3 * (24 * 16 + 16 * 16 + 32) + dense(16, 1)
    assert model.count_params() == 2 * one
    out = model(inputs((2, 5), 32), training=False)
    assert out.shape == (2, 5, 2)


def test_cnn_rnn_runs_on_any_length_when_seq_len_is_none():
    model = build_model(small_cfg(), 32, kind="cnn_rnn")
    for t in (3, 7):
        assert model(inputs((2, t), 32), training=False).shape == (2, t, 2)


def test_bad_arguments_fail_clearly():
    with pytest.raises(ValueError, match="allowed: cnn, cnn_rnn"):
        build_model(small_cfg(), 32, kind="rnn")
    with pytest.raises(ValueError, match="image size 16 < 32"):
        build_model(ModelConfig(backbone="vgg16"), 16)


def test_fold_time_equals_the_backbone_frame_by_frame():
    from pipeline.models import FoldTime

    backbone = build_backbone("small", 32, options=SmallOptions(width=8))
    x = inputs((2, 5), 32)["image"]
    folded = FoldTime(backbone)(x, training=False)
    frames = np.stack([backbone(x[:, t], training=False) for t in range(5)], axis=1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(folded), frames, atol=1e-5)
    model = build_model(small_cfg(), 32, kind="cnn_rnn", seq_len=5)
    assert isinstance(model.get_layer("backbone_td"), FoldTime)


def test_the_gru_variants_keras_and_tf1():
    """model.gru: keras = Keras' GRU (reset gate after the recurrent matmul, two bias
    vectors); tf1 = TensorFlow 1's GRUCell (reset before, one bias), the layer the TF1 importer
    builds for the authors' checkpoints."""
    from pipeline.models.tf1_import import ARCHS, build_network

    counts = {}
    for variant in ("keras", "tf1"):
        model = build_model(small_cfg(gru=variant, rnn_layers=1), 32, "cnn_rnn", 3)
        gru = model.get_layer("rnn1")
        assert gru.cell.reset_after is (variant == "keras")
        counts[variant] = gru.count_params()
    n_in, u = 256, 16  # small_cfg: FC 256 before the RNN (the head's first), 16 units
    assert counts["keras"] == 3 * (n_in * u + u * u + 2 * u)
    assert counts["tf1"] == 3 * (n_in * u + u * u + u)
    imported, _ = build_network(ARCHS["affwildnet-vggface-gru"], size=32, seq_len=3)
    config = imported.get_layer("rnn1").get_config()
    keras.backend.clear_session()
    tf1 = build_model(small_cfg(gru="tf1", rnn_units=128), 32, "cnn_rnn", 3).get_layer("rnn1")
    assert {k: v for k, v in config.items() if k != "name"} == {
        k: v for k, v in tf1.get_config().items() if k != "name"
    }
