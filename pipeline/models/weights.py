"""Initialisation and weight surgery: weights files by layer name, CNN → CNN-RNN transfer,
freezing the backbone.

Weights files (``.h5`` / ``.weights.h5``) are read with h5py in any of three layouts:

- Keras 2 (``model.save`` / ``save_weights``; the common Keras form of the public VGG-Face
  weights): ``[model_weights/]<layer>/<layer>/kernel:0`` with ``layer_names`` /
  ``weight_names`` attributes;
- Keras 3 ``.weights.h5``: ``layers/<…>/vars/<i>`` groups whose ``name`` attribute is the
  layer's name (weights in the layer's own order);
- plain: ``<layer>/kernel``, ``<layer>/bias`` … (any nesting; the dataset's parent group is
  the layer, ``:0`` suffixes are ignored).

Every layer of the model with weights is matched by its (leaf) name. A backbone layer whose
shapes differ from the file's is an error (the file is for another network); a head layer
whose shapes differ (e.g. VGG-Face's ``fc8`` with 2622 classes, or ``fc7`` when the landmarks
join it) is skipped and reported. A file of which no layer matches is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import keras
import numpy as np

from pipeline.config import ModelConfig
from pipeline.errors import InputError
from pipeline.models.backbones import BACKBONE_NAME

SEPARATE_PREFIXES = ("valence/", "arousal/")


class WeightsError(InputError):
    """A weights file that does not fit the model; the message names the layers."""


@dataclass
class WeightsReport(Mapping):
    """What an initialisation or a transfer did, layer by layer (paths like
    ``backbone/conv1_1`` or ``valence/fc6``). A read-only mapping of its fields, so
    ``dict(report)`` / ``json.dumps(dict(report))`` work."""

    source: str
    loaded: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (layer, why)
    not_in_source: list[str] = field(default_factory=list)  # left as they were
    unused: list[str] = field(default_factory=list)  # source layers nothing took
    partial: list[tuple[str, str]] = field(default_factory=list)  # (layer, rule) part-copied

    def __getitem__(self, key: str):
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        value = getattr(self, key)
        return [list(v) for v in value] if key in ("skipped", "partial") else value

    def __iter__(self):
        return iter(self.__dataclass_fields__)

    def __len__(self) -> int:
        return len(self.__dataclass_fields__)

    def __str__(self) -> str:
        lines = [f"weights from {self.source}: {len(self.loaded)} layers loaded"]
        if self.loaded:
            lines.append("  loaded: " + ", ".join(self.loaded))
        for name, rule in self.partial:
            lines.append(f"  partly copied {name}: {rule}")
        for name, why in self.skipped:
            lines.append(f"  skipped {name}: {why}")
        if self.not_in_source:
            lines.append("  not in the source (kept): " + ", ".join(self.not_in_source))
        if self.unused:
            lines.append("  in the source but unused: " + ", ".join(self.unused))
        return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Walking a model's layers


def weight_layers(model: keras.Model, prefix: str = "") -> list[tuple[str, keras.layers.Layer]]:
    """Leaf layers that own weights, as ``(path, layer)``: nested models are descended
    (``valence/backbone/conv1_1``); ``TimeDistributed`` wrappers are transparent."""
    out = []
    for layer in model.layers:
        inner = layer
        while isinstance(inner, keras.layers.TimeDistributed):
            inner = inner.layer
        path = f"{prefix}{inner.name}"
        if isinstance(inner, keras.Model):
            out.extend(weight_layers(inner, path + "/"))
        elif inner.weights:
            out.append((path, inner))
    return out


def _in_backbone(path: str) -> bool:
    return BACKBONE_NAME in path.split("/")[:-1]


def backbones(model: keras.Model) -> list[keras.Model]:
    """Every backbone sub-model (two with separate heads), also inside TimeDistributed."""
    found = []
    for layer in model.layers:
        inner = layer
        while isinstance(inner, keras.layers.TimeDistributed):
            inner = inner.layer
        if isinstance(inner, keras.Model):
            if inner.name == BACKBONE_NAME:
                found.append(inner)
            else:
                found.extend(backbones(inner))
    return found


def freeze_backbone(model: keras.Model, frozen: bool = True) -> int:
    """Make the convolutional part(s) untrainable (or trainable again); returns how many
    backbones were changed. A frozen backbone's batch norm runs in inference mode.
    Compile the model after calling this (Keras reads ``trainable`` at compile time)."""
    found = backbones(model)
    if not found:
        raise ValueError(f"model {model.name!r} has no sub-model named {BACKBONE_NAME!r}")
    for b in found:
        b.trainable = not frozen
    return len(found)


# --------------------------------------------------------------------------------------
# Reading weights files

Entry = list[tuple[str | None, np.ndarray]]  # (variable name or None, value) per weight


def _text(value) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _var_name(dataset_name: str) -> str:
    return dataset_name.rsplit("/", 1)[-1].split(":")[0]


def _read_keras2(root: h5py.Group) -> dict[str, Entry]:
    out: dict[str, Entry] = {}
    for name in (_text(n) for n in root.attrs["layer_names"]):
        group = root[name]
        names = [_text(w) for w in group.attrs.get("weight_names", [])]
        if names:
            out[name] = [(_var_name(w), np.asarray(group[w])) for w in names]
    return out


def _read_keras3(layers_group: h5py.Group, out: dict[str, Entry]) -> None:
    for key, group in layers_group.items():
        if not isinstance(group, h5py.Group):
            continue
        arrays: list[np.ndarray] = []

        def visit(node: h5py.Group, arrays: list[np.ndarray] = arrays) -> None:
            if "vars" in node:
                v = node["vars"]
                arrays.extend(np.asarray(v[k]) for k in sorted(v, key=int))
            for k, child in node.items():
                if k == "layers":
                    _read_keras3(child, out)
                elif k != "vars" and isinstance(child, h5py.Group):
                    visit(child)

        visit(group)
        name = _text(group["vars"].attrs.get("name", key)) if "vars" in group else key
        if arrays:
            out[name] = [(None, a) for a in arrays]


def _read_plain(root: h5py.Group) -> dict[str, Entry]:
    out: dict[str, Entry] = {}

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Dataset):
            parts = name.split("/")
            if len(parts) >= 2:
                out.setdefault(parts[-2], []).append((_var_name(parts[-1]), np.asarray(obj)))

    root.visititems(visit)
    return out


def read_weights_file(path: str | Path) -> dict[str, Entry]:
    """``{layer name: [(variable name | None, array), ...]}`` from a Keras 2, Keras 3 or
    plain h5 weights file."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise WeightsError(f"{path}: not an HDF5 weights file ({exc})") from None
    with f:
        root = f.get("model_weights", f)
        if "layer_names" in root.attrs:
            return _read_keras2(root)
        if isinstance(root.get("layers"), h5py.Group):
            out: dict[str, Entry] = {}
            _read_keras3(root["layers"], out)
            return out
        return _read_plain(root)


# --------------------------------------------------------------------------------------
# Matching


def _order(entry: Entry, layer: keras.layers.Layer) -> list[np.ndarray] | str:
    """The file's arrays in the layer's weight order, or why they do not fit."""
    targets = layer.weights
    names = [n for n, _ in entry]
    own = [w.name for w in targets]
    if all(names) and sorted(names) == sorted(own):
        by_name = dict(entry)
        arrays = [by_name[n] for n in own]
    elif len(entry) == len(targets):
        arrays = [a for _, a in entry]
    else:
        return f"{len(entry)} weights in the source, {len(targets)} in the model"
    bad = [
        f"{w.name} {tuple(a.shape)} vs {tuple(w.shape)}"
        for w, a in zip(targets, arrays, strict=True)
        if tuple(a.shape) != tuple(w.shape)
    ]
    if bad:
        return "shapes differ (source vs model): " + ", ".join(bad)
    return arrays


def _apply(
    model: keras.Model, source: str, lookup, source_names: list[str], what: str
) -> WeightsReport:
    report = WeightsReport(source)
    used: set[str] = set()
    errors = []
    plans = []
    for path, layer in weight_layers(model):
        key, entry = lookup(path, layer)
        if entry is None:
            report.not_in_source.append(path)
            continue
        used.add(key)
        arrays = _order(entry, layer)
        if isinstance(arrays, str):
            if _in_backbone(path):
                errors.append(f"  {path}: {arrays}")
            else:
                report.skipped.append((path, arrays))
            continue
        plans.append((path, layer, arrays))
    if errors:
        raise WeightsError(
            f"{source}: {what} does not fit the model's convolutional part "
            f"(a file for another backbone or image size?):\n" + "\n".join(errors)
        )
    if not plans:
        raise WeightsError(
            f"{source}: no layer of the model matches by name and shape; source layers: "
            f"{', '.join(source_names[:20]) or '(none)'}"
            f"{' …' if len(source_names) > 20 else ''}; model layers: "
            f"{', '.join(p for p, _ in weight_layers(model)[:20])}"
        )
    for path, layer, arrays in plans:
        layer.set_weights(arrays)
        report.loaded.append(path)
    report.unused = [n for n in source_names if n not in used]
    return report


def load_weights_by_name(model: keras.Model, path: str | Path) -> WeightsReport:
    """Load the layers of a weights file into the model's layers of the same (leaf) name;
    a layer that occurs more than once (separate heads) gets the weights in every place."""
    weights = read_weights_file(path)

    def lookup(_path: str, layer: keras.layers.Layer):
        return layer.name, weights.get(layer.name)

    return _apply(model, str(path), lookup, list(weights), "the weights file")


def initialize(model: keras.Model, cfg: ModelConfig) -> WeightsReport | None:
    """Apply ``cfg.init``: ``random`` / ``imagenet`` are done at build time (None is
    returned); a path is loaded by layer name and its report returned."""
    if cfg.init in ("random", "imagenet"):
        return None
    return load_weights_by_name(model, cfg.init)


LANDMARK_ROWS = 136  # the 68 (x, y) landmark values a FC layer may take besides the image


def transfer_cnn_weights(cnn: keras.Model, cnn_rnn: keras.Model) -> WeightsReport:
    """Copy the trained CNN's convolutional part (required to fit) and every FC layer
    whose name and shapes match into the CNN-RNN, matched by layer path. A CNN with joint
    heads also initialises both networks of a CNN-RNN with separate heads.

    **Landmark rows.** Where the CNN-RNN's FC takes the landmarks and the CNN's layer of the
    same name does not (VGG with landmarks: the CNN joins them before ``fc7``, the CNN-RNN
    before ``fc6``), the layer's kernel differs only by 136 extra input rows. The image rows
    and the bias are copied from the CNN; the landmark rows are set to **zero**, so at the
    start the CNN-RNN's layer computes exactly the CNN's (the landmarks then enter through
    what fine-tuning learns). Listed in the report's ``partial``."""
    source = dict(weight_layers(cnn))

    def lookup(path: str, _layer: keras.layers.Layer):
        for c in _candidates(path):
            if c in source:
                return c, [(w.name, keras.ops.convert_to_numpy(w)) for w in source[c].weights]
        return path, None

    report = _apply(cnn_rnn, f"CNN {cnn.name!r}", lookup, list(source), "the CNN")
    missing = [p for p in report.not_in_source if _in_backbone(p)]
    if missing:
        raise WeightsError(
            f"the CNN has no layer for these backbone layers of the CNN-RNN: "
            f"{', '.join(missing[:10])} (different backbone or heads?)"
        )
    targets = dict(weight_layers(cnn_rnn))
    still_skipped = []
    for path, why in report.skipped:
        src = next((source[c] for c in _candidates(path) if c in source), None)
        if src is not None and _copy_image_rows(src, targets[path]):
            report.partial.append(
                (path, f"image rows and bias from the CNN, {LANDMARK_ROWS} landmark rows zero")
            )
            report.loaded.append(path)
        else:
            still_skipped.append((path, why))
    report.skipped = still_skipped
    return report


def _candidates(path: str) -> list[str]:
    out = [path]
    for prefix in SEPARATE_PREFIXES:
        if path.startswith(prefix):
            out.append(path[len(prefix) :])
    return out


def _copy_image_rows(src: keras.layers.Layer, dst: keras.layers.Layer) -> bool:
    """Dense ``src`` (F, U) into Dense ``dst`` (F + 136, U): rows [0, F) copied, the rest
    zero; False (nothing changed) for any other pair of shapes."""
    if not (isinstance(src, keras.layers.Dense) and isinstance(dst, keras.layers.Dense)):
        return False
    k_src = keras.ops.convert_to_numpy(src.kernel)
    k_dst = keras.ops.convert_to_numpy(dst.kernel)
    if k_src.shape[1] != k_dst.shape[1] or k_dst.shape[0] != k_src.shape[0] + LANDMARK_ROWS:
        return False
    kernel = np.zeros_like(k_dst)
    kernel[: k_src.shape[0]] = k_src
    weights = [kernel] + [keras.ops.convert_to_numpy(w) for w in src.weights[1:]]
    if [w.shape for w in weights] != [tuple(w.shape) for w in dst.weights]:
        return False
    dst.set_weights(weights)
    return True
