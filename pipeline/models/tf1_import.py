"""The authors' published Aff-Wild networks (TensorFlow 1 checkpoints) as model folders.

``affwild import-checkpoint CKPT --arch NAME --out DIR`` reads a TF1 checkpoint of one of
the architectures in :data:`ARCHS`, builds the same network in Keras with this project's model
contract (inputs ``image`` and ``landmarks``, the latter accepted and unused; first layer
:class:`~pipeline.models.layers.Preprocess` with ``symmetric`` = ``(x - 128) / 128``, so raw
0-255 RGB crops go in; output ``(..., 2)``: valence, arousal) and writes ``model.keras`` +
``meta.json`` like the training stages, so ``predict``, ``predict --live``, ``evaluate`` and
``export`` take it as they take any other folder.

Exact TF1 semantics (the tests compare against the TF1 graph built with the authors' scopes):

* VGG-Face: ``tf.nn.conv2d`` 3x3 stride 1 ``SAME`` + bias + ReLU, ``tf.nn.max_pool`` 2x2
  stride 2 ``SAME``; the 3x3x512 map is flattened in NHWC order before ``linear_1``.
* ResNet-50 (slim ``resnet_v1_50``, ``resnet_arg_scope``): convolutions without bias, each
  followed by batch norm (``gamma``, ``beta``, moving mean / variance, epsilon 1e-5; inference
  statistics); stride-2 convolutions with slim's ``conv2d_same`` (explicit symmetric zero
  padding, then ``VALID``), ``pool1`` 3x3 stride 2 ``SAME``; the stride sits in the last unit
  of blocks 1-3 (v1), whose shortcut is then a 1x1 stride-2 subsampling; global average pool.
* ``GRUCell`` (``MultiRNNCell`` of two, ``dynamic_rnn`` from a zero state): the ``tf1`` GRU of
  :func:`pipeline.models.cells.gru_layer`, Keras ``GRU(reset_after=False)`` (the reset gate
  multiplies the state before the recurrent matmul; ``meta.json``: ``model.gru: tf1``). TF1
  keeps ``gates/kernel`` [x; h] -> [r, u] and ``candidate/kernel`` [x; r*h] -> c; Keras keeps
  ``kernel`` x -> [z, r, h] and ``recurrent_kernel`` h -> [z, r, h] with z = u, so the
  kernels are split by rows (input / state) and their gate columns swapped.

Every variable of the checkpoint is used, or named in the error (missing, unexpected, wrong
shape); an extra outer scope (``model/conv_1/weights``) is found and stripped, and training
bookkeeping (``global_step``, optimiser slots of used variables, Adam's beta powers) is left
out and listed in the record. The record of where the weights came from (checkpoint path,
SHA-256 of its files, arch, every variable and its shape) is ``meta.json``'s ``imported``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from pipeline.errors import InputError
from pipeline.io import glob_escape

IMAGE_SIZE = 96  # the authors' crops: 96x96 RGB
SEQ_LEN = 80  # the authors' training sequences
NORMALIZATION = "symmetric"  # (x - 128) / 128, as the authors' eval_script.py
BN_EPSILON = 1e-5  # slim resnet_arg_scope's batch_norm_epsilon (not stored in a checkpoint)
VGG_CHANNELS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
RESNET50_BLOCKS = ((64, 3, 2), (128, 4, 2), (256, 6, 2), (512, 3, 1))  # base depth, units, stride
# Variables a training script leaves in a checkpoint beside the network's own.
_SLOTS = re.compile(
    r"/(Adam|Adam_1|Momentum|RMSProp|RMSProp_1|Adagrad|Adadelta|Adadelta_1|Ftrl|Ftrl_1|"
    r"ExponentialMovingAverage)$"
)
_BOOKKEEPING = re.compile(r"(^|/)(global_step|beta1_power|beta2_power)$")


class CheckpointError(InputError):
    """A checkpoint that does not hold the architecture asked for; the message says why."""


@dataclass(frozen=True)
class Arch:
    """One of the authors' networks: its backbone, the hidden FC layers after it (TF1 scope,
    units; ReLU), the output layer's two variables (linear, 2 units) and the GRU (scope,
    layers, units) before it, if any."""

    kind: Literal["cnn", "cnn_rnn"]
    backbone: Literal["vggface", "resnet50"]
    fc: tuple[tuple[str, int], ...]  # hidden FC layers, ReLU
    out: tuple[str, str]  # (weights, biases) of the linear output layer, 2 units
    rnn: tuple[str, int, int] | None = None  # (scope, layers, units)
    about: str = ""


ARCHS: dict[str, Arch] = {
    "affwildnet-vggface-gru": Arch(
        "cnn_rnn", "vggface", (("linear_1", 4096),), ("rnn_1/weights_rnn", "rnn_1/biases_rnn"),
        ("rnn_1", 2, 128), "AffWildNet: VGG-Face conv, FC 4096, 2x GRU 128, linear 2",
    ),
    "affwildnet-resnet-gru": Arch(
        "cnn_rnn", "resnet50", (), ("rnn/weights_output", "rnn/biases_output"),
        ("rnn", 2, 128), "AffWildNet: ResNet-50 (global pool), 2x GRU 128, linear 2",
    ),
    "vggface-4096x2000x2": Arch(
        "cnn", "vggface", (("linear_1", 4096), ("linear2_1", 2000)),
        ("linear3_1/weights", "linear3_1/biases"), about="VGG-Face CNN, FC 4096-2000-2",
    ),
    "vggface-4096x4096x2": Arch(
        "cnn", "vggface", (("linear_1", 4096), ("linear2_1", 4096)),
        ("linear3_1/weights", "linear3_1/biases"), about="VGG-Face CNN, FC 4096-4096-2",
    ),
}  # fmt: skip


def get_arch(name: str) -> Arch:
    if name not in ARCHS:
        raise InputError(f"--arch {name!r}: expected one of {', '.join(ARCHS)}")
    return ARCHS[name]


# -- which checkpoint variables go where -------------------------------------------------------
@dataclass
class Slot:
    """One Keras layer's weights from named TF1 variables (``convert`` maps the arrays, in
    the order of ``names``, to the layer's ``set_weights`` list)."""

    layer: object  # keras.layers.Layer
    names: tuple[str, ...]
    convert: Callable[[list[np.ndarray]], list[np.ndarray]] = list
    # the TF1 variables' shapes from the Keras weights' shapes (default: the same)
    tf_shapes: Callable[[list[tuple[int, ...]]], list[tuple[int, ...]]] = list


def gru_weights(gates_k, gates_b, cand_k, cand_b) -> list[np.ndarray]:
    """TF1 ``GRUCell`` variables -> Keras ``GRU(reset_after=False)`` [kernel, recurrent_kernel,
    bias] (see the module docstring)."""
    units = cand_k.shape[1]
    n_in = cand_k.shape[0] - units
    gx, gh = gates_k[:n_in], gates_k[n_in:]
    r, u = slice(0, units), slice(units, 2 * units)
    kernel = np.concatenate([gx[:, u], gx[:, r], cand_k[:n_in]], axis=1)
    recurrent = np.concatenate([gh[:, u], gh[:, r], cand_k[n_in:]], axis=1)
    bias = np.concatenate([gates_b[u], gates_b[r], cand_b])
    return [kernel, recurrent, bias]


def gru_tf_shapes(keras_shapes: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Shapes of the TF1 ``GRUCell`` variables for Keras GRU weights of ``keras_shapes``."""
    n_in, units = keras_shapes[0][0], keras_shapes[1][0]
    return [(n_in + units, 2 * units), (2 * units,), (n_in + units, units), (units,)]


def gru_names(scope: str, k: int) -> tuple[str, ...]:
    base = f"{scope}/rnn/multi_rnn_cell/cell_{k}/gru_cell"
    return tuple(f"{base}/{p}/{v}" for p in ("gates", "candidate") for v in ("kernel", "bias"))


def _bn_names(scope: str) -> tuple[str, ...]:
    return tuple(f"{scope}/BatchNorm/{v}" for v in ("gamma", "beta", "moving_mean",
                                                     "moving_variance"))  # fmt: skip


# -- the Keras networks --------------------------------------------------------------------------
def _vgg_backbone(size: int):
    import keras
    from keras import layers

    image = keras.Input((size, size, 3), name="image")
    x, slots, k = image, [], 0
    for b, block in enumerate(VGG_CHANNELS):
        for ch in block:
            k += 1
            name = f"conv_{k}"
            conv = layers.Conv2D(ch, 3, padding="same", activation="relu", name=name)
            x = conv(x)
            slots.append(Slot(conv, (f"{name}/weights", f"{name}/biases")))
        x = layers.MaxPooling2D(2, 2, padding="same", name=f"pool_{b + 1}")(x)
    x = layers.Flatten(name="flatten")(x)  # NHWC order, as tf.reshape
    return keras.Model(image, x, name="vggface"), slots


def _resnet_backbone(size: int):
    import keras
    from keras import layers

    scope = "resnet_v1_50"
    slots: list[Slot] = []

    def conv_bn(x, filters, k, stride, tf_scope, name, relu=True):
        if stride == 1:
            conv = layers.Conv2D(filters, k, padding="same", use_bias=False, name=name)
        else:  # slim conv2d_same: explicit symmetric padding, then VALID
            total = k - 1
            pad = (total // 2, total - total // 2)
            x = layers.ZeroPadding2D((pad, pad), name=f"{name}_pad")(x)
            conv = layers.Conv2D(filters, k, stride, padding="valid", use_bias=False, name=name)
        bn = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")
        x = bn(conv(x))
        slots.append(Slot(conv, (f"{scope}/{tf_scope}/weights",)))
        slots.append(Slot(bn, _bn_names(f"{scope}/{tf_scope}")))
        return layers.ReLU(name=f"{name}_relu")(x) if relu else x

    image = keras.Input((size, size, 3), name="image")
    x = conv_bn(image, 64, 7, 2, "conv1", "conv1")
    x = layers.MaxPooling2D(3, 2, padding="same", name="pool1")(x)
    depth_in = 64
    for b, (base, units, stride) in enumerate(RESNET50_BLOCKS):
        for u in range(units):
            s = stride if u == units - 1 else 1  # v1: the stride in the block's last unit
            unit = f"block{b + 1}/unit_{u + 1}/bottleneck_v1"
            name = f"block{b + 1}_unit{u + 1}"
            depth = base * 4
            if depth == depth_in:  # slim subsample: 1x1 max pool with the stride
                short = (
                    x if s == 1
                    else layers.MaxPooling2D(1, s, padding="same", name=f"{name}_sub")(x)
                )  # fmt: skip
            else:
                short = conv_bn(x, depth, 1, s, f"{unit}/shortcut", f"{name}_shortcut", False)
            r = conv_bn(x, base, 1, 1, f"{unit}/conv1", f"{name}_conv1")
            r = conv_bn(r, base, 3, s, f"{unit}/conv2", f"{name}_conv2")
            r = conv_bn(r, depth, 1, 1, f"{unit}/conv3", f"{name}_conv3", relu=False)
            x = layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([short, r]))
            depth_in = depth
    x = layers.GlobalAveragePooling2D(name="pool5")(x)
    return keras.Model(image, x, name="resnet_v1_50"), slots


def build_network(arch: Arch, size: int = IMAGE_SIZE, seq_len: int = SEQ_LEN):
    """The Keras model of ``arch`` (random weights) and its :class:`Slot` s."""
    import keras
    from keras import layers

    from pipeline.contracts.points68 import N_VALUES
    from pipeline.models.cells import gru_layer
    from pipeline.models.layers import FoldTime, Preprocess

    backbone, slots = (_vgg_backbone if arch.backbone == "vggface" else _resnet_backbone)(size)
    lead = (seq_len,) if arch.kind == "cnn_rnn" else ()
    inputs = {
        "image": keras.Input((*lead, size, size, 3), name="image"),
        "landmarks": keras.Input((*lead, N_VALUES), name="landmarks"),  # unused, as scenario 1
    }
    x = Preprocess(NORMALIZATION, name="preprocess")(inputs["image"])
    x = FoldTime(backbone, name="backbone_td")(x) if arch.kind == "cnn_rnn" else backbone(x)
    for scope, units in arch.fc:
        dense = layers.Dense(units, activation="relu", name=scope)
        x = dense(x)
        slots.append(Slot(dense, (f"{scope}/weights", f"{scope}/biases")))
    if arch.rnn is not None:
        scope, n_layers, units = arch.rnn
        for k in range(n_layers):
            name = f"rnn{k + 1}"
            gru = gru_layer(units, "tf1", name)
            x = gru(x)
            slots.append(Slot(gru, gru_names(scope, k), lambda a: gru_weights(*a), gru_tf_shapes))
    dense = layers.Dense(2, name="out", dtype="float32")
    slots.append(Slot(dense, arch.out))
    return keras.Model(inputs, dense(x), name=arch.kind), slots


# -- the checkpoint ------------------------------------------------------------------------------
def checkpoint_prefix(path: str | Path) -> Path:
    """The checkpoint's prefix from the prefix itself (``model.ckpt-0``), one of its files
    (``.index``, ``.data-*``, ``.meta``) or its folder (the latest checkpoint there)."""
    path = Path(path)
    if path.is_dir():
        import tensorflow as tf

        latest = tf.train.latest_checkpoint(str(path))
        if latest is None:
            found = sorted(path.glob("*.index"))
            if len(found) != 1:
                raise CheckpointError(
                    f"{path}: {'no' if not found else 'several'} TF checkpoint(s) (*.index) "
                    "here and no `checkpoint` file; give the checkpoint prefix"
                )
            latest = str(found[0].with_suffix(""))
        path = Path(latest)
    m = re.match(r"^(.*?)\.(index|meta|data-\d+-of-\d+)$", path.name)
    if m:
        path = path.with_name(m.group(1))
    if not path.with_name(path.name + ".index").is_file():
        raise CheckpointError(f"{path}: not a TF checkpoint (no {path.name}.index beside it)")
    return path


def checkpoint_files(prefix: Path) -> dict[str, str]:
    """SHA-256 of each file of the checkpoint (index, data shards, graph)."""
    out = {}
    for f in sorted(prefix.parent.glob(f"{glob_escape(prefix.name)}.*")):
        if re.fullmatch(r"\.(index|meta|data-\d+-of-\d+)", f.name[len(prefix.name) :]):
            h = hashlib.sha256()
            with f.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            out[f.name] = h.hexdigest()
    return out


def read_checkpoint(prefix: Path):
    import tensorflow as tf

    try:
        reader = tf.train.load_checkpoint(str(prefix))
        shapes = reader.get_variable_to_shape_map()
    except Exception as exc:  # noqa: BLE001 - TF raises DataLossError, NotFoundError, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{prefix}: cannot be read as a TF checkpoint ({first})") from None
    return reader, {k: tuple(int(d) for d in v) for k, v in shapes.items()}


def find_prefix(expected: list[str], names: set[str], where: str) -> str:
    """The outer scope ``p`` (``""`` or ``"model/"``) under which most of ``expected`` is
    found in ``names``."""
    candidates = {""}
    for e in expected:
        for n in names:
            if n.endswith("/" + e):
                candidates.add(n[: -len(e)])
    best = max(sorted(candidates), key=lambda p: sum(p + e in names for e in expected))
    if not any(best + e in names for e in expected):
        sample = ", ".join(sorted(names)[:6])
        raise CheckpointError(
            f"{where}: none of the architecture's variables (e.g. {expected[0]}) is in the "
            f"checkpoint, which holds {len(names)} variables ({sample}, ...): wrong --arch?"
        )
    return best


@dataclass
class Matched:
    prefix: str
    used: dict[str, tuple[int, ...]]
    ignored: list[str] = field(default_factory=list)


def match_variables(
    slots: list[Slot], shapes: dict[str, tuple[int, ...]], want: dict[str, tuple[int, ...]],
    where: str,
) -> Matched:  # fmt: skip
    """Check the checkpoint's variables against the network's: every expected one present
    with its shape, every other one training bookkeeping; else one error listing them all."""
    expected = [n for s in slots for n in s.names]
    names = set(shapes)
    prefix = find_prefix(expected, names, where)
    missing = [prefix + e for e in expected if prefix + e not in names]
    wrong = [
        f"{prefix + e} {list(shapes[prefix + e])} (expected {list(want[e])})"
        for e in expected
        if prefix + e in names and shapes[prefix + e] != want[e]
    ]
    used = {prefix + e for e in expected}
    ignored, unexpected = [], []
    for n in sorted(names - used):
        m = _SLOTS.search(n)
        if _BOOKKEEPING.search(n) or (m and n[: m.start()] in used):
            ignored.append(n)
        else:
            unexpected.append(n)
    problems = []
    for what, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if items:
            more = f" (and {len(items) - 20} more)" if len(items) > 20 else ""
            problems.append(f"{what} {len(items)}: {', '.join(items[:20])}{more}")
    if problems:
        scope = f" under the outer scope {prefix!r}" if prefix else ""
        raise CheckpointError(f"{where}: does not fit the architecture{scope}; "
                              + "; ".join(problems))  # fmt: skip
    return Matched(prefix, {prefix + e: shapes[prefix + e] for e in expected}, ignored)


def _expected_shapes(slots: list[Slot]) -> dict[str, tuple[int, ...]]:
    """The TF1 shape of every variable the network needs (from the Keras layers' shapes)."""
    out = {}
    for s in slots:
        keras_shapes = [tuple(int(d) for d in w.shape) for w in s.layer.weights]
        out.update(zip(s.names, s.tf_shapes(keras_shapes), strict=True))
    return out


# -- the import ----------------------------------------------------------------------------------
@dataclass
class Imported:
    """What :func:`import_checkpoint` did."""

    out: Path
    arch: str
    checkpoint: Path
    variables: int
    ignored: list[str]
    prefix: str


def load_network(checkpoint: str | Path, arch_name: str):
    """(Keras model with the checkpoint's weights, provenance record)."""
    arch = get_arch(arch_name)
    prefix_path = checkpoint_prefix(checkpoint)
    reader, shapes = read_checkpoint(prefix_path)
    model, slots = build_network(arch)
    want = _expected_shapes(slots)
    m = match_variables(slots, shapes, want, str(prefix_path))
    for s in slots:
        arrays = [np.asarray(reader.get_tensor(m.prefix + n), np.float32) for n in s.names]
        s.layer.set_weights(s.convert(arrays))
    record = {
        "format": "tensorflow-1 checkpoint",
        "arch": arch_name,
        "backbone": arch.backbone,
        "about": arch.about,
        "checkpoint": str(prefix_path.resolve()),
        "sha256": checkpoint_files(prefix_path),
        "scope_prefix": m.prefix,
        "variables": {n: list(v) for n, v in sorted(m.used.items())},
        "ignored": m.ignored,
        **_gru_record(arch),
    }
    return model, record


def _gru_record(arch: Arch) -> dict[str, str]:
    """What the import record says of the recurrent part: TF1's GRUCell (as ``model.gru: tf1``)."""
    return {"gru": "tf1"} if arch.rnn is not None else {}


def import_checkpoint(checkpoint: str | Path, arch_name: str, out: str | Path) -> Imported:
    """Write the model folder ``out`` (``model.keras`` + ``meta.json``) for ``checkpoint``."""
    from pipeline.artifacts import FaceParams, ModelMeta, TrainingData
    from pipeline.config import CropConfig
    from pipeline.io import atomic_dir
    from pipeline.models.saved import save_model

    arch = get_arch(arch_name)
    model, record = load_network(checkpoint, arch_name)
    meta = ModelMeta(
        kind=arch.kind,
        image_size=IMAGE_SIZE,
        records_crop_size=IMAGE_SIZE,
        normalization=NORMALIZATION,
        landmarks=False,
        seq_len=SEQ_LEN if arch.kind == "cnn_rnn" else None,
        # Not published: the neutral point stands in where evaluate needs a training mean.
        train_label_mean=(0.0, 0.0),
        model=None,  # not one of params.yaml's networks: `imported` says which it is
        face=FaceParams(crop=CropConfig(size=IMAGE_SIZE)),
        data=TrainingData(format="affwild", demo=False),
        imported=record,
    )
    out = Path(out)
    with atomic_dir(out) as tmp:
        save_model(model, Path(tmp) / "model.keras")
        meta.write(tmp)
    return Imported(out, arch_name, Path(record["checkpoint"]), len(record["variables"]),
                    record["ignored"], record["scope_prefix"])  # fmt: skip
