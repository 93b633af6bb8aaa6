"""The paper's networks as ``profiles/paper.yaml`` builds them: every layer's output shape and
parameter count against Tables 1-3, computed here from the tables (not from Keras), for joint
and separate heads, with and without landmarks; and one training step of the CNN and of the
end-to-end CNN-RNN at 224 px.

The layer-by-layer checks run at 32 px (fast) and, marked slow, at the paper's 224 px (a
VGG-Face pair with separate heads is 291 M parameters: ~25 s to build on 2 cores)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pipeline.config import ModelConfig
from pipeline.models import build_model
from pipeline.profiles import validate
from pipeline.training.fit import make_optimizer
from pipeline.training.losses import make_loss
from tests.helpers.models import inputs

LM = 136
VGG = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))  # Table 2, blocks 1-5


def dense(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def gru_tf1(n_in: int, units: int) -> int:
    """TensorFlow 1's GRUCell: gates [x; h] -> 2u, candidate [x; r*h] -> u, one bias each."""
    return (n_in + units) * 2 * units + 2 * units + (n_in + units) * units + units


@pytest.fixture(scope="module")
def paper():
    return validate("paper")


def cfg_of(paper, **kw) -> ModelConfig:
    """The profile's model section with ``kw`` changed (validated)."""
    return ModelConfig.model_validate({**paper.model.model_dump(), **kw})


def vgg_backbone_rows(size: int) -> list[tuple[str, tuple, int]]:
    """Table 2 blocks 1-5: 3x3 convs (stride 1, same) and 2x2 max-pools, then flatten."""
    rows, c_in, s = [], 3, size
    for b, (c, n) in enumerate(VGG, start=1):
        for i in range(1, n + 1):
            rows.append((f"conv{b}_{i}", (None, s, s, c), 9 * c_in * c + c))
            c_in = c
        s //= 2
        rows.append((f"pool{b}", (None, s, s, c), 0))
    rows.append(("flatten", (None, s * s * 512), 0))
    return rows


def flat_size(size: int) -> int:
    return (size // 32) ** 2 * 512


def vgg_head_rows(size: int, landmarks: bool, n_out: int) -> list[tuple[str, tuple, int]]:
    """Table 2 blocks 6-9: FC 4096 · FC 4096 (+ 136 landmarks in, scenario 2) · FC 2622
    (scenario 2 only) · FC out, linear; dropout after each hidden FC."""
    rows = [("backbone", (None, flat_size(size)), None)]
    rows += [("fc6", (None, 4096), dense(flat_size(size), 4096)), ("fc6_dropout", (None, 4096), 0)]
    if landmarks:
        rows += [("join_landmarks", (None, 4096 + LM), 0)]
    rows += [("fc7", (None, 4096), dense(4096 + LM * landmarks, 4096))]
    rows += [("fc7_dropout", (None, 4096), 0)]
    last = 4096
    if landmarks:
        rows += [("fc8", (None, 2622), dense(4096, 2622)), ("fc8_dropout", (None, 2622), 0)]
        last = 2622
    return rows + [("out", (None, n_out), dense(last, n_out))]


def cnn_rnn_rows(size: int, landmarks: bool, n_out: int, t: int) -> list[tuple[str, tuple, int]]:
    """Table 3: the conv part per frame · FC 4096 (conv features + 136 landmarks in) ·
    2 x GRU 128 (TF1's cell) · FC out at every step; dropout after FC and each RNN layer."""
    f = flat_size(size)
    rows = [("backbone_td", (None, t, f), None)]
    if landmarks:
        rows += [("join_landmarks", (None, t, f + LM), 0)]
    rows += [("fc6", (None, t, 4096), dense(f + LM * landmarks, 4096))]
    rows += [("fc6_dropout", (None, t, 4096), 0)]
    n_in = 4096
    for k in (1, 2):
        rows += [(f"rnn{k}", (None, t, 128), gru_tf1(n_in, 128)), (f"rnn{k}_dropout", (None, t, 128), 0)]  # fmt: skip
        n_in = 128
    return rows + [("out", (None, t, n_out), dense(128, n_out))]


def layer_rows(net: keras.Model) -> list[tuple[str, tuple, int]]:
    return [
        (layer.name, tuple(layer.output.shape), layer.count_params())
        for layer in net.layers
        if not isinstance(layer, keras.layers.InputLayer) and layer.name != "preprocess"
    ]


def check(rows: list, expected: list, conv_params: int) -> None:
    expected = [(n, s, conv_params if p is None else p) for n, s, p in expected]
    assert rows == expected


def networks(model: keras.Model, heads: str) -> list[tuple[keras.Model, int]]:
    if heads == "joint":
        return [(model, 2)]
    assert [layer.name for layer in model.layers][-1] == "valence_arousal"
    return [(model.get_layer("valence"), 1), (model.get_layer("arousal"), 1)]


def check_cnn(paper, size: int, heads: str, landmarks: bool) -> None:
    model = build_model(cfg_of(paper, heads=heads, landmarks=landmarks), size)
    conv = sum(p for _, _, p in vgg_backbone_rows(size))
    total = 0
    for net, n_out in networks(model, heads):
        check(layer_rows(net), vgg_head_rows(size, landmarks, n_out), conv)
        check(layer_rows(net.get_layer("backbone")), vgg_backbone_rows(size), 0)
        total += conv + sum(p for _, _, p in vgg_head_rows(size, landmarks, n_out)[1:])
    assert model.count_params() == total
    assert model.output_shape == (None, 2)


def check_cnn_rnn(paper, size: int, heads: str, landmarks: bool, t: int = 3) -> None:
    model = build_model(cfg_of(paper, heads=heads, landmarks=landmarks), size, "cnn_rnn", t)
    conv = sum(p for _, _, p in vgg_backbone_rows(size))
    for net, n_out in networks(model, heads):
        check(layer_rows(net), cnn_rnn_rows(size, landmarks, n_out, t), conv)
        grus = [layer for layer in net.layers if isinstance(layer, keras.layers.GRU)]
        assert [g.cell.reset_after for g in grus] == [False, False]  # model.gru: tf1
    assert model.output_shape == (None, t, 2)


MATRIX = [("joint", True), ("joint", False), ("separate", True), ("separate", False)]


@pytest.mark.parametrize(("heads", "landmarks"), MATRIX)
def test_paper_cnn_layers_at_32_px(paper, heads, landmarks):
    check_cnn(paper, 32, heads, landmarks)


@pytest.mark.parametrize(("heads", "landmarks"), MATRIX)
def test_paper_cnn_rnn_layers_at_32_px(paper, heads, landmarks):
    check_cnn_rnn(paper, 32, heads, landmarks)


@pytest.mark.slow
@pytest.mark.parametrize(("heads", "landmarks"), MATRIX)
def test_paper_cnn_layers_at_224_px(paper, heads, landmarks):
    check_cnn(paper, 224, heads, landmarks)


@pytest.mark.slow
@pytest.mark.parametrize(("heads", "landmarks"), [("separate", True), ("joint", False)])
def test_paper_cnn_rnn_layers_at_224_px(paper, heads, landmarks):
    check_cnn_rnn(paper, 224, heads, landmarks)


@pytest.mark.parametrize("landmarks", [True, False], ids=["scenario2", "scenario1"])
def test_table_1_resnet_head(paper, landmarks):
    """Table 1 blocks 6-9: average pool 2048 · FC 1500 (+ 136 landmarks in) · FC 256
    (scenario 2 only) · FC 2; the paper's other settings as the profile's."""
    cfg = cfg_of(paper, backbone="resnet50", heads="joint", landmarks=landmarks)
    model = build_model(cfg, 64)
    rows = [r for r in layer_rows(model) if r[0] != "backbone"]
    expected = [("join_landmarks", (None, 2048 + LM), 0)] if landmarks else []
    expected += [("fc1", (None, 1500), dense(2048 + LM * landmarks, 1500))]
    expected += [("fc1_dropout", (None, 1500), 0)]
    last = 1500
    if landmarks:
        expected += [("fc2", (None, 256), dense(1500, 256)), ("fc2_dropout", (None, 256), 0)]
        last = 256
    assert rows == expected + [("out", (None, 2), dense(last, 2))]


def _one_step(model, x, y, train_cfg) -> float:
    model.compile(make_optimizer(train_cfg), make_loss(train_cfg.loss))
    before = [w.numpy().copy() for w in model.trainable_weights[-2:]]
    loss = float(model.train_on_batch(x, y))
    after = [w.numpy() for w in model.trainable_weights[-2:]]
    assert np.isfinite(loss)
    assert any(not np.array_equal(a, b) for a, b in zip(after, before, strict=True))
    return loss


@pytest.mark.slow
def test_one_training_step_of_the_papers_cnn_and_end_to_end_cnn_rnn_at_224(paper):
    """Batch 2 at 224 px: the CNN (separate heads, landmarks), then the CNN-RNN on sequences
    of 2 frames with every layer trainable (train_rnn.freeze_cnn: false)."""
    assert paper.train_cnn.image_size == paper.train_rnn.image_size == 224
    assert not paper.train_rnn.freeze_cnn
    rng = np.random.default_rng(0)
    cnn = build_model(paper.model, 224)
    y = np.concatenate([rng.uniform(-1, 1, (2, 2)), np.ones((2, 1))], -1).astype("float32")
    _one_step(cnn, inputs((2,), 224), y, paper.train_cnn)
    del cnn
    keras.backend.clear_session()
    rnn = build_model(paper.model, 224, "cnn_rnn", 2)
    assert all(layer.trainable for layer in rnn.layers)
    y = np.concatenate([rng.uniform(-1, 1, (2, 2, 2)), np.ones((2, 2, 1))], -1).astype("float32")
    _one_step(rnn, inputs((2, 2), 224), y, paper.train_rnn)
