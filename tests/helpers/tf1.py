"""The authors' four networks built in ``tf.compat.v1`` with their variable scopes (as their
public TF 1.8 code names them), random weights, saved as real TF1 checkpoints
(``tf.compat.v1.train.Saver``), and run on the same crops: the reference the importer's Keras
models must reproduce.

* VGG-Face: ``conv_1`` … ``conv_13`` (``weights``, ``biases``; conv2d 3x3 SAME + ReLU),
  max pools 2x2/2 SAME, NHWC flatten, ``linear_1`` (ReLU), then ``linear2_1`` (ReLU) and
  ``linear3_1`` (the CNNs) or the GRU under ``rnn_1`` with ``weights_rnn`` / ``biases_rnn``.
* ResNet-50-GRU: tf-slim's ``resnet_v1_50`` in ``resnet_arg_scope`` (``is_training=False``,
  no logits), the GRU under ``rnn`` with ``weights_output`` / ``biases_output``.
* The GRU: TF1's own ``MultiRNNCell`` of ``GRUCell`` s through ``dynamic_rnn`` (TensorFlow's
  legacy RNN module; ``tf.compat.v1.nn.rnn_cell`` is not exported beside Keras 3).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

VGG = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
CNN_FC = {"vggface-4096x2000x2": 2000, "vggface-4096x4096x2": 4096}


def crops(n: int, size: int = 96, seed: int = 0) -> np.ndarray:
    """(n, size, size, 3) float32 0-255 crops: smooth random images (not flat noise)."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (n, 12, 12, 3)).astype(np.uint8)
    return np.stack([cv2.resize(s, (size, size)) for s in small]).astype(np.float32)


def _var(tf1, name, shape):
    return tf1.get_variable(name, shape, tf1.float32, tf1.zeros_initializer())


def _vgg(tf1, x, fc: tuple[tuple[str, int, bool], ...], taps: dict):
    k = 0
    for b, block in enumerate(VGG):
        for ch in block:
            k += 1
            with tf1.variable_scope(f"conv_{k}"):
                w = _var(tf1, "weights", [3, 3, int(x.shape[-1]), ch])
                x = tf1.nn.conv2d(x, w, [1, 1, 1, 1], padding="SAME")
                x = tf1.nn.relu(tf1.nn.bias_add(x, _var(tf1, "biases", [ch])))
        x = tf1.nn.max_pool(x, [1, 2, 2, 1], [1, 2, 2, 1], padding="SAME", name=f"pool_{b + 1}")
    x = taps["features"] = tf1.reshape(x, [-1, int(np.prod(x.shape[1:]))])
    for scope, units, relu in fc:
        with tf1.variable_scope(scope):
            w = _var(tf1, "weights", [int(x.shape[-1]), units])
            b = _var(tf1, "biases", [units])
            x = (tf1.nn.relu_layer if relu else tf1.nn.xw_plus_b)(x, w, b)
    return x


def _gru(tf1, x, seq_len: int, scope: str, w_name: str, b_name: str):
    from tensorflow.python.keras.layers.legacy_rnn import rnn_cell_impl as cells
    from tensorflow.python.ops import rnn

    with tf1.variable_scope(scope):
        x = tf1.reshape(x, [-1, seq_len, int(x.shape[-1])])
        cell = cells.MultiRNNCell([cells.GRUCell(128) for _ in range(2)])
        out, _ = rnn.dynamic_rnn(cell, x, dtype=tf1.float32)
        out = tf1.reshape(out, [-1, 128])
        return tf1.nn.xw_plus_b(out, _var(tf1, w_name, [128, 2]), _var(tf1, b_name, [2]))


def _network(tf1, arch: str, x, seq_len: int, taps: dict):
    if arch in CNN_FC:
        fc = (("linear_1", 4096, True), ("linear2_1", CNN_FC[arch], True),
              ("linear3_1", 2, False))  # fmt: skip
        return _vgg(tf1, x, fc, taps)
    if arch == "affwildnet-vggface-gru":
        x = _vgg(tf1, x, (("linear_1", 4096, True),), taps)
        return _gru(tf1, x, seq_len, "rnn_1", "weights_rnn", "biases_rnn")
    if arch == "affwildnet-resnet-gru":
        import tf_slim as slim
        from tensorflow.python.framework import ops
        from tf_slim.nets import resnet_v1

        if not hasattr(ops, "Tensor"):  # tf-slim 1.1 predates TF 2.14's move of the class
            ops.Tensor = tf1.Tensor

        scope = resnet_v1.resnet_arg_scope()
        bn = dict(scope[slim.arg_scope_func_key(slim.conv2d)]["normalizer_params"])
        # updates_collections=None takes slim's fused batch norm (the other path needs the
        # tf_keras package); is_training=False: the same variables and the same inference
        # arithmetic, gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta.
        bn["updates_collections"] = None
        with slim.arg_scope(scope), slim.arg_scope([slim.conv2d], normalizer_params=bn):
            net, _ = resnet_v1.resnet_v1_50(x, num_classes=None, is_training=False)
        taps["features"] = tf1.reshape(net, [-1, 2048])
        return _gru(tf1, net, seq_len, "rnn", "weights_output", "biases_output")
    raise ValueError(arch)


def random_value(name: str, shape, rng) -> np.ndarray:
    """Weights that keep activations of order one through the deep nets (He-scaled kernels,
    small biases, batch-norm statistics near but not at the identity)."""
    shape = tuple(shape)
    leaf = name.rsplit("/", 1)[-1]
    if leaf in ("weights", "kernel", "weights_rnn", "weights_output"):
        fan_in = int(np.prod(shape[:-1]))
        gain = 1.0 if leaf == "kernel" or len(shape) == 2 and shape[-1] == 2 else 2.0
        v = rng.standard_normal(shape) * np.sqrt(gain / fan_in)
    elif leaf == "gamma":
        v = rng.uniform(0.6, 1.2, shape)
    elif leaf == "moving_variance":
        v = rng.uniform(0.5, 2.0, shape)
    else:  # biases, bias, beta, moving_mean
        v = rng.standard_normal(shape) * 0.1
    return v.astype(np.float32)


def make_checkpoint(arch: str, folder: Path, images: np.ndarray | None, seq_len: int = 80,
                    outer_scope: str | None = None, seed: int = 0,
                    extra: dict[str, tuple[int, ...]] | None = None,
                    ) -> tuple[Path, dict[str, np.ndarray]]:  # fmt: skip
    """Build ``arch`` in a TF1 graph (under ``outer_scope`` if given), give it random
    weights, save ``folder/model.ckpt-0`` and return (prefix, {"out": the graph's output,
    "features": its backbone's output (flattened)}) on ``images``, raw 0-255 crops
    normalised as the authors do: (x - 128) / 128.

    ``extra`` adds variables (name -> shape) to the checkpoint. With ``images`` None the
    graph is not run ({} returned)."""
    import tensorflow as tf

    tf1 = tf.compat.v1
    rng = np.random.default_rng(seed)
    graph = tf.Graph()
    with graph.as_default():
        # A graph seed: the cells' own initialisers (overwritten below) need one in a process
        # where training turned op determinism on (tests share processes).
        tf1.set_random_seed(0)
        x = tf1.placeholder(tf1.float32, [None, 96, 96, 3] if images is None else
                            [None, *images.shape[1:]])  # fmt: skip
        taps: dict = {}
        if outer_scope:
            with tf1.variable_scope(outer_scope):
                taps["out"] = _network(tf1, arch, x, seq_len, taps)
        else:
            taps["out"] = _network(tf1, arch, x, seq_len, taps)
        for name, shape in (extra or {}).items():
            _var(tf1, name, list(shape))
        variables = tf1.global_variables()
        with tf1.Session(graph=graph) as sess:
            sess.run(tf1.global_variables_initializer())
            for v in variables:
                v.load(random_value(v.op.name, v.shape, rng), sess)
            out = {} if images is None else sess.run(taps, {x: (images - 128.0) / 128.0})
            folder.mkdir(parents=True, exist_ok=True)
            saver = tf1.train.Saver(var_list=variables)
            prefix = Path(saver.save(sess, str(folder / "model.ckpt"), global_step=0,
                                     write_meta_graph=False))  # fmt: skip
    return prefix, out
