"""``create_model``: any CNN or CNN-RNN of the paper from the typed ``model:`` params.

Every model takes ``{"image", "landmarks"}`` and returns ``(..., 2)`` (column 0 valence,
1 arousal, linear), whatever the scenario: without landmarks (scenario 1) the ``landmarks``
input is accepted and unused, so one input pipeline feeds every variant. ``image`` holds raw
crops (RGB, 0-255 as float): the model's first layer (:class:`~pipeline.models.layers.
Preprocess`, named ``preprocess``) normalises them as the backbone's weights expect, so the
normalisation travels with the model (and with its exported SavedModel / TFLite file).

CNN (Tables 1, 2): ``image`` (H, W, 3), ``landmarks`` (136,) → (2,)

    backbone → [fc_a → ReLU → dropout] … → out (linear)

with the landmarks concatenated to the input of hidden FC ``landmarks_before`` (VGG: fc7,
ResNet-50 / small: the first FC). ``heads: separate`` builds two such networks, nested
models ``valence`` and ``arousal`` with one output each, concatenated to (2,): they train
and save together as one Keras model.

CNN-RNN (Table 3): ``image`` (T, H, W, 3), ``landmarks`` (T, 136) → (T, 2)

    FoldTime(backbone) ⊕ landmarks → fc → ReLU → dropout
    → rnn_layers × (GRU (``model.gru``: keras | tf1) | peephole LSTM, return_sequences) → dropout → out (linear, each step)

The FC before the RNN has the name (and by default the size) of the CNN head's first FC,
so :func:`pipeline.models.weights.transfer_cnn_weights` carries it over when its input
matches (small / ResNet-50: the landmarks join there in both; VGG: it does not).
"""

from __future__ import annotations

import logging
from typing import Literal

import keras
from keras import layers

from pipeline.config import ModelConfig
from pipeline.contracts.points68 import N_VALUES
from pipeline.models.backbones import BackboneSpec, build_backbone, get_backbone
from pipeline.models.cells import PeepholeLSTMCell, gru_layer
from pipeline.models.layers import FoldTime, Preprocess

log = logging.getLogger(__name__)

DIMENSIONS = ("valence", "arousal")
OUTPUT_NAME = "out"


def head_units(cfg: ModelConfig) -> tuple[int, ...]:
    """Hidden FC sizes of the CNN head: ``cfg.fc_units``, or the paper's for the backbone
    (scenario 1, no landmarks, drops the last hidden FC)."""
    if cfg.fc_units is not None:
        return tuple(cfg.fc_units)
    units = get_backbone(cfg.backbone.name).fc_units
    return units if cfg.landmarks else units[:-1]


def fc_names(spec: BackboneSpec, n: int) -> list[str]:
    return [f"fc{spec.fc_start + k}" for k in range(n)]


def rnn_fc_units(cfg: ModelConfig) -> int:
    """Units of the FC layer before the RNN (Table 3: 4096 for VGG)."""
    if cfg.rnn_fc_units is not None:
        return cfg.rnn_fc_units
    units = head_units(cfg) or get_backbone(cfg.backbone.name).fc_units
    return units[0]


def _check_size(cfg: ModelConfig, image_size: int) -> None:
    least = get_backbone(cfg.backbone.name).min_image_size
    if image_size < least:
        raise ValueError(f"backbone {cfg.backbone.name}: image size {image_size} < {least} px")


def _inputs(image_size: int, seq_len: int | None, sequence: bool) -> dict[str, keras.KerasTensor]:
    lead = (seq_len,) if sequence else ()
    return {
        "image": keras.Input((*lead, image_size, image_size, 3), name="image"),
        "landmarks": keras.Input((*lead, N_VALUES), name="landmarks"),
    }


def _backbone(cfg: ModelConfig, image_size: int) -> keras.Model:
    weights = "imagenet" if cfg.init == "imagenet" else None
    if weights and not get_backbone(cfg.backbone.name).imagenet:
        raise ValueError(
            f"init: backbone {cfg.backbone.name!r} has no ImageNet weights (use random, or a "
            "weights file)"
        )
    return build_backbone(
        cfg.backbone.name, image_size, weights=weights, options=cfg.backbone.options
    )


def _preprocess(cfg: ModelConfig, images):
    return Preprocess(get_backbone(cfg.backbone.name).normalization, name="preprocess")(images)


def _cnn_network(
    cfg: ModelConfig, image_size: int, n_out: int, name: str, preprocess: bool
) -> keras.Model:
    spec = get_backbone(cfg.backbone.name)
    inputs = _inputs(image_size, None, sequence=False)
    images = _preprocess(cfg, inputs["image"]) if preprocess else inputs["image"]
    x = _backbone(cfg, image_size)(images)
    units = head_units(cfg)
    join = min(spec.landmarks_before, len(units))
    for k, (n, fc) in enumerate(zip(units, fc_names(spec, len(units)), strict=True)):
        if cfg.landmarks and k == join:
            x = layers.Concatenate(name="join_landmarks")([x, inputs["landmarks"]])
        x = layers.Dense(n, activation="relu", name=fc)(x)
        x = layers.Dropout(cfg.dropout, name=f"{fc}_dropout")(x)
    if cfg.landmarks and join == len(units):
        x = layers.Concatenate(name="join_landmarks")([x, inputs["landmarks"]])
    out = layers.Dense(n_out, name=OUTPUT_NAME, dtype="float32")(x)
    return keras.Model(inputs, out, name=name)


def _rnn_layer(cfg: ModelConfig, k: int) -> keras.layers.Layer:
    name = f"rnn{k + 1}"
    if cfg.rnn == "gru":
        return gru_layer(cfg.rnn_units, cfg.gru, name)
    return layers.RNN(PeepholeLSTMCell(cfg.rnn_units), return_sequences=True, name=name)


def _cnn_rnn_network(
    cfg: ModelConfig, image_size: int, seq_len: int | None, n_out: int, name: str,
    preprocess: bool,
) -> keras.Model:  # fmt: skip
    inputs = _inputs(image_size, seq_len, sequence=True)
    images = _preprocess(cfg, inputs["image"]) if preprocess else inputs["image"]
    x = FoldTime(_backbone(cfg, image_size), name="backbone_td")(images)
    return keras.Model(inputs, rnn_top(cfg, x, inputs["landmarks"], n_out), name=name)


def rnn_top(cfg: ModelConfig, x, landmarks, n_out: int):
    """The CNN-RNN after its backbone: per-step features ``x`` (B, T, D) ⊕ landmarks → FC →
    RNN layers → out (B, T, n_out). Also used on cached backbone features
    (:mod:`pipeline.training.features`), with the same layer names."""
    spec = get_backbone(cfg.backbone.name)
    if cfg.landmarks:
        x = layers.Concatenate(name="join_landmarks")([x, landmarks])
    fc = fc_names(spec, 1)[0]
    x = layers.Dense(rnn_fc_units(cfg), activation="relu", name=fc)(x)
    x = layers.Dropout(cfg.dropout, name=f"{fc}_dropout")(x)
    for k in range(cfg.rnn_layers):
        x = _rnn_layer(cfg, k)(x)
        x = layers.Dropout(cfg.dropout, name=f"rnn{k + 1}_dropout")(x)
    return layers.Dense(n_out, name=OUTPUT_NAME, dtype="float32")(x)


def build_model(
    cfg: ModelConfig,
    image_size: int,
    kind: Literal["cnn", "cnn_rnn"] = "cnn",
    seq_len: int | None = None,
    preprocess: bool = True,
) -> keras.Model:
    """The network, randomly initialised (``imagenet`` weights already in the backbone when
    ``cfg.init`` asks for them); :func:`create_model` also loads a weights file.
    ``preprocess=False`` leaves out the first layer (the input is then normalised images,
    as models took before the normalisation moved into them)."""
    _check_size(cfg, image_size)
    joint = cfg.heads == "joint"
    if kind == "cnn":

        def net(n_out: int, name: str) -> keras.Model:
            return _cnn_network(cfg, image_size, n_out, name, preprocess and joint)

        sequence = False
    elif kind == "cnn_rnn":
        if seq_len is not None and seq_len < 1:
            raise ValueError(f"seq_len must be >= 1 or None (got {seq_len})")

        def net(n_out: int, name: str) -> keras.Model:
            return _cnn_rnn_network(cfg, image_size, seq_len, n_out, name, preprocess and joint)

        sequence = True
    else:
        raise ValueError(f"unknown model kind {kind!r} (allowed: cnn, cnn_rnn)")

    if joint:
        return net(2, kind)
    inputs = _inputs(image_size, seq_len, sequence)
    # separate heads: one normalisation for both networks
    images = _preprocess(cfg, inputs["image"]) if preprocess else inputs["image"]
    outs = [net(1, dim)({**inputs, "image": images}) for dim in DIMENSIONS]
    out = layers.Concatenate(name="valence_arousal", dtype="float32")(outs)
    return keras.Model(inputs, out, name=kind)


def create_model(
    cfg: ModelConfig,
    image_size: int,
    kind: Literal["cnn", "cnn_rnn"] = "cnn",
    seq_len: int | None = None,
) -> keras.Model:
    """Build the ``kind`` model that ``cfg`` describes for ``image_size`` px crops (and
    ``seq_len`` frames; None = any length) and initialise it as ``cfg.init`` says.

    A weights file is loaded by layer name; its report is logged (call
    :func:`build_model` and :func:`pipeline.models.weights.initialize` to get it)."""
    from pipeline.models.weights import initialize

    model = build_model(cfg, image_size, kind, seq_len)
    report = initialize(model, cfg)
    if report is not None:
        log.info("%s", report)
    return model
