"""``affwild import-checkpoint``: the authors' four TF1 networks, built in ``tf.compat.v1`` with
their scopes and random weights and saved as real TF1 checkpoints, give the same outputs once
imported (max |Δ| ≤ 1e-4, the GRU over 80 frames included); checkpoints that do not fit are
refused with every offending variable named."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli import import_checkpoint as cli_command
from pipeline.cli import main
from pipeline.models.saved import load_model
from pipeline.models.tf1_import import (
    ARCHS,
    SEQ_LEN,
    CheckpointError,
    _expected_shapes,
    build_network,
    gru_weights,
    match_variables,
)
from tests.helpers import tf1 as ref

TOL = 1e-4
pytestmark = [  # TensorFlow's own TF1 RNN cells, the reference, warn that they are TF1
    pytest.mark.filterwarnings("ignore:.*tf.nn.rnn_cell.GRUCell. is deprecated:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*layer.add_variable. is deprecated:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*layer.apply. is deprecated:UserWarning"),  # tf-slim
]


def _import(ckpt, arch, out):
    r = CliRunner().invoke(main, ["import-checkpoint", str(ckpt), "--arch", arch, "--out",
                                  str(out)], catch_exceptions=False)  # fmt: skip
    return r


def _features(keras_model, images):
    """The imported network's backbone output on raw crops (its own preprocess layer)."""
    names = [layer.name for layer in keras_model.layers]
    backbone = (
        keras_model.get_layer("backbone_td").layer if "backbone_td" in names
        else keras_model.get_layer("vggface")  # the CNNs
    )  # fmt: skip
    pre = keras_model.get_layer("preprocess")
    return np.asarray(backbone(pre(images), training=False))


def test_the_cli_offers_exactly_the_registry():
    assert list(cli_command.params[1].type.choices) == list(ARCHS)


def test_gru_cell_import_equals_tf1_gru_cell_over_80_steps():
    """TF1's own MultiRNNCell of GRUCells (dynamic_rnn, zero state) against the Keras GRUs
    with the converted kernels; the same weights without the gate swap give other outputs
    (so the comparison can fail)."""
    import keras
    import tensorflow as tf
    from tensorflow.python.keras.layers.legacy_rnn import rnn_cell_impl as cells
    from tensorflow.python.ops import rnn

    tf1 = tf.compat.v1
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, SEQ_LEN, 24)).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default(), tf1.Session() as sess:
        tf1.set_random_seed(0)  # seeded initial weights (required once op determinism is on)
        ph = tf1.placeholder(tf1.float32, x.shape)
        with tf1.variable_scope("rnn_1"):
            cell = cells.MultiRNNCell([cells.GRUCell(16) for _ in range(2)])
            y, _ = rnn.dynamic_rnn(cell, ph, dtype=tf1.float32)
        sess.run(tf1.global_variables_initializer())
        values = {}
        for v in tf1.global_variables():
            values[v.op.name] = ref.random_value(v.op.name, v.shape, rng)
            v.load(values[v.op.name], sess)
        want = sess.run(y, {ph: x})

    def keras_out(swap: bool):
        inp = keras.Input(x.shape[1:])
        h, grus = inp, []
        for _ in range(2):
            grus.append(keras.layers.GRU(16, reset_after=False, return_sequences=True))
            h = grus[-1](h)
        model = keras.Model(inp, h)
        for k, gru in enumerate(grus):
            base = f"rnn_1/rnn/multi_rnn_cell/cell_{k}/gru_cell"
            a = [values[f"{base}/{p}/{v}"] for p in ("gates", "candidate") for v in ("kernel",
                                                                                      "bias")]  # fmt: skip
            if not swap:  # TF1's [r, u] taken as Keras' [z, r]: the common mistake
                a[0], a[1] = a[0][:, ::-1].copy(), a[1][::-1].copy()
            gru.set_weights(gru_weights(*a))
        return np.asarray(model(x))

    got = keras_out(swap=True)
    assert np.abs(got - want).max() <= TOL
    assert np.abs(keras_out(swap=False) - want).max() > 100 * TOL
    assert want[:, -1].std() > 0.05  # not saturated: the last steps still depend on the input


ARCH_CASES = {  # arch: (frames, outer scope): ResNet's checkpoint under an extra scope
    "affwildnet-vggface-gru": (SEQ_LEN, None),
    "affwildnet-resnet-gru": (SEQ_LEN, "model"),
    "vggface-4096x2000x2": (3, None),
    "vggface-4096x4096x2": (3, None),
}


@pytest.mark.parametrize(  # ~15 s for a CNN, ~45 s for a CNN-RNN over 80 frames (2 CPUs)
    "arch",
    [a if a == "vggface-4096x2000x2" else pytest.param(a, marks=pytest.mark.slow)
     for a in ARCH_CASES],
)  # fmt: skip
def test_imported_network_gives_the_tf1_graphs_outputs(arch, tmp_path):
    frames, scope = ARCH_CASES[arch]
    images = ref.crops(frames, seed=3)
    # A training script's bookkeeping beside the network: left out, and said so.
    s = f"{scope}/" if scope else ""
    first = "resnet_v1_50/conv1/weights" if "resnet" in arch else "conv_1/weights"
    extra = {f"{s}global_step": (), f"{s}{first}/Adam": (3, 3, 3, 64)}
    if "resnet" in arch:
        extra = {f"{s}global_step": (), f"{s}{first}/Adam": (7, 7, 3, 64)}
    prefix, want = ref.make_checkpoint(arch, tmp_path / "ckpt", images, outer_scope=scope,
                                       extra=extra)  # fmt: skip
    out = tmp_path / "model"
    r = _import(prefix, arch, out)
    assert r.exit_code == 0, r.output
    assert "left out (training bookkeeping)" in r.output and f"{s}global_step" in r.output

    tm = load_model(out)
    x = images[None] if tm.kind == "cnn_rnn" else images
    lead = x.shape[:-3]
    got = np.asarray(tm.keras_model.predict_on_batch(
        {"image": x, "landmarks": np.zeros((*lead, 136), np.float32)}))  # fmt: skip
    assert got.shape == (*lead, 2)
    got = got.reshape(-1, 2)
    assert np.abs(got - want["out"]).max() <= TOL
    assert want["out"].std(axis=0).min() > 1e-3  # outputs that depend on the crops
    feats = _features(tm.keras_model, images)
    scale = np.abs(want["features"]).max()
    assert np.abs(feats.reshape(len(images), -1) - want["features"]).max() <= TOL * max(1, scale)

    meta = json.loads((out / "meta.json").read_text())
    assert meta["kind"] == ARCHS[arch].kind and meta["image_size"] == 96
    assert meta["normalization"] == "symmetric" and meta["landmarks"] is False
    assert meta["seq_len"] == (SEQ_LEN if tm.kind == "cnn_rnn" else None)
    assert meta["data"]["demo"] is False
    rec = meta["imported"]
    assert rec["arch"] == arch and rec["scope_prefix"] == s
    assert sorted(rec["ignored"]) == sorted(extra)
    files = sorted(p for p in prefix.parent.iterdir() if p.name.startswith(prefix.name + "."))
    assert rec["sha256"] == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    import tensorflow as tf

    in_ckpt = {n for n, _ in tf.train.list_variables(str(prefix))}
    assert set(rec["variables"]) | set(rec["ignored"]) == in_ckpt  # every variable accounted


@pytest.fixture(scope="module")
def vgg_cnn():
    model, slots = build_network(ARCHS["vggface-4096x2000x2"])
    return slots, _expected_shapes(slots)


def test_a_checkpoint_that_does_not_fit_names_every_offending_variable(vgg_cnn):
    slots, want = vgg_cnn
    shapes = {f"outer/{k}": v for k, v in want.items()}
    ok = match_variables(slots, dict(shapes), want, "x.ckpt")
    assert ok.prefix == "outer/" and len(ok.used) == len(want) == 2 * 16

    bad = dict(shapes)
    del bad["outer/conv_7/biases"]
    bad["outer/conv_14/weights"] = (3, 3, 512, 512)  # a layer the architecture does not have
    bad["outer/linear2_1/weights"] = (4096, 4096)  # the other CNN's FC
    bad["outer/conv_1/weights/Adam"] = (3, 3, 3, 64)  # bookkeeping: not an error
    with pytest.raises(CheckpointError) as err:
        match_variables(slots, bad, want, "x.ckpt")
    msg = str(err.value)
    assert msg.startswith("x.ckpt: ") and "outer scope 'outer/'" in msg
    assert "missing 1: outer/conv_7/biases" in msg
    assert "unexpected 1: outer/conv_14/weights" in msg
    assert "wrong shape 1: outer/linear2_1/weights [4096, 4096] (expected [4096, 2000])" in msg
    assert "Adam" not in msg


def test_wrong_arch_or_not_a_checkpoint_is_one_line(tmp_path):
    import tensorflow as tf

    tf1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default(), tf1.Session() as sess:
        tf1.set_random_seed(0)
        tf1.get_variable("dense/kernel", [4, 2])
        sess.run(tf1.global_variables_initializer())
        prefix = tf1.train.Saver().save(sess, str(tmp_path / "other.ckpt"))
    r = _import(prefix, "affwildnet-vggface-gru", tmp_path / "m")
    assert r.exit_code == 1
    assert "none of the architecture's variables" in r.output and "dense/kernel" in r.output
    assert "wrong --arch?" in r.output and not (tmp_path / "m").exists()
    for same in (tmp_path, tmp_path / "other.ckpt.index"):  # its folder, one of its files
        r = _import(same, "affwildnet-vggface-gru", tmp_path / "m")
        assert r.exit_code == 1 and f"{prefix}: none of the architecture's" in r.output

    r = _import(tmp_path / "nothing.ckpt", "vggface-4096x2000x2", tmp_path / "m")
    assert r.exit_code == 1 and "nothing.ckpt: not a TF checkpoint" in r.output
    (tmp_path / "broken.ckpt.index").write_bytes(b"not an index")
    r = _import(tmp_path / "broken.ckpt.index", "vggface-4096x2000x2", tmp_path / "m")
    assert r.exit_code == 1 and "broken.ckpt: cannot be read as a TF checkpoint" in r.output
