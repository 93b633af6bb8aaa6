"""Backbones: the convolutional part of each network, registered by name in
:data:`pipeline.registry.BACKBONES` (``model.backbone`` in params.yaml).

Every backbone is a Keras functional model named ``backbone`` that maps an image
``(H, W, 3)`` — already normalised the way :func:`normalization_for` says (the model's
``preprocess`` layer does it, :class:`pipeline.models.layers.Preprocess`) — to a feature
vector. It declares what the head needs to follow the paper's tables:

| name       | conv part (paper)                          | features      | head (scenario 2)        |
|------------|--------------------------------------------|---------------|--------------------------|
| `vgg_face` | Table 2: 13 conv 3x3 + 5 max-pools          | flatten 25088 | fc6 4096, fc7 4096, fc8 2622 |
| `vgg16`    | Table 2 (Keras applications' layer names)   | flatten 25088 | fc1 4096, fc2 4096, fc3 2622 |
| `resnet50` | Table 1: Keras applications ResNet-50 + avg | 2048          | fc1 1500, fc2 256        |
| `small`    | 5 x (conv 3x3 + BN + ReLU + max-pool)       | 8 x width     | fc1 256, fc2 64          |

(features at 224 px; the landmarks join before fc7 / fc2 for VGG, before the first FC
otherwise; scenario 1 drops the last hidden FC.)

``vgg_face`` names its layers ``conv1_1 … conv5_3`` and its head ``fc6 … fc8`` like the public
VGG-Face weights in Keras form, and ``vgg16`` / ``resnet50`` are Keras applications models
with their own names, so weights files load by layer name (:mod:`pipeline.models.weights`).

A new backbone is a build function and one :func:`register` call (in any module). Its knobs
are a :class:`~pipeline.contracts.options.BackboneOptions` subclass (``BackboneSpec.options``):
params.yaml sets them as ``model.backbone: {name: small, width: 16}``, they are validated there
once and reach the build function as that typed object. This module is read when params.yaml
is validated, so Keras is imported inside the build functions only (and it imports nothing
that reads the backbone registry: ``tests/test_layers.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import Field

from pipeline.contracts.options import BackboneOptions
from pipeline.registry import BACKBONES

if TYPE_CHECKING:
    import keras

BACKBONE_NAME = "backbone"


@dataclass(frozen=True)
class BackboneSpec:
    """What the factory needs to know about one backbone."""

    name: str
    # build(image_size, weights, options) -> functional model named "backbone"
    build: Callable[[int, str | None, BackboneOptions], keras.Model]
    # Input normalisation: one of pipeline.models.layers.NORMALIZATIONS.
    normalization: str
    # Hidden FC sizes of the head in scenario 2 (landmarks); scenario 1 drops the last one.
    fc_units: tuple[int, ...]
    # Index of the hidden FC whose input the landmarks join (0 = the first FC).
    landmarks_before: int
    # Names of the head's FC layers: fc{fc_start}, fc{fc_start + 1}, ...
    fc_start: int
    # Keras applications ImageNet weights exist for this backbone.
    imagenet: bool
    description: str
    # Smallest square input (px) the conv part accepts.
    min_image_size: int = 32
    # Its knobs in params.yaml (model.backbone: {name: ..., <option>: ...}); build gets them.
    options: type[BackboneOptions] = BackboneOptions


def register(spec: BackboneSpec) -> BackboneSpec:
    """Make ``spec`` a choice of ``model.backbone`` (config, command line, factory)."""
    return BACKBONES.register(spec.name, spec, spec.description)


def get_backbone(name: str) -> BackboneSpec:
    return BACKBONES.get(name)


def list_backbones() -> list[str]:
    return sorted(BACKBONES.names())


def normalization_for(backbone: str) -> str:
    """Input normalisation name of a backbone: ``unit``, ``symmetric``, ``caffe_imagenet``
    or ``caffe_vggface`` (what its models' ``preprocess`` layer applies)."""
    return get_backbone(backbone).normalization


def build_backbone(
    name: str, image_size: int, *, weights: str | None = None,
    options: BackboneOptions | None = None,
) -> keras.Model:  # fmt: skip
    """The convolutional part of backbone ``name`` for square ``image_size`` crops.
    ``options``: the backbone's own, as validated with params.yaml
    (:class:`pipeline.config.BackboneConfig`); None: their defaults."""
    spec = get_backbone(name)
    if options is None:
        options = spec.options()
    elif not isinstance(options, spec.options):
        raise TypeError(
            f"backbone {name!r} takes {spec.options.__name__}, not {type(options).__name__}"
        )
    return spec.build(image_size, weights, options)


# --------------------------------------------------------------------------------------
# VGG (Table 2)

VGG_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def _vgg_face(image_size: int, weights: str | None, options: BackboneOptions) -> keras.Model:
    import keras
    from keras import layers

    if weights not in (None, "random"):
        raise ValueError("vgg_face: no built-in pre-trained weights (use a weights file)")
    image = keras.Input((image_size, image_size, 3), name="image")
    x = image
    for b, (filters, n) in enumerate(VGG_BLOCKS, start=1):
        for i in range(1, n + 1):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{b}_{i}")(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"pool{b}")(x)
    x = layers.Flatten(name="flatten")(x)
    return keras.Model(image, x, name=BACKBONE_NAME)


def _vgg16(image_size: int, weights: str | None, options: BackboneOptions) -> keras.Model:
    import keras
    from keras import layers

    app = keras.applications.VGG16(
        include_top=False,
        weights=None if weights in (None, "random") else weights,
        input_shape=(image_size, image_size, 3),
    )
    x = layers.Flatten(name="flatten")(app.output)
    return keras.Model(app.input, x, name=BACKBONE_NAME)


# --------------------------------------------------------------------------------------
# ResNet-50 (Table 1)


def _resnet50(image_size: int, weights: str | None, options: BackboneOptions) -> keras.Model:
    import keras

    app = keras.applications.ResNet50(
        include_top=False,
        weights=None if weights in (None, "random") else weights,
        input_shape=(image_size, image_size, 3),
        pooling="avg",
    )
    return keras.Model(app.input, app.output, name=BACKBONE_NAME)


# --------------------------------------------------------------------------------------
# small: a CPU-sized backbone for the demo and the tests

SMALL_MULTIPLIERS = (1, 2, 4, 8, 8)


class SmallOptions(BackboneOptions):
    """``model.backbone: {name: small, width: 16}``."""

    # Channels of the first block (doubling per block, up to 8x).
    width: int = Field(16, ge=4)


def _small(image_size: int, weights: str | None, options: SmallOptions) -> keras.Model:
    """5 blocks of conv 3x3 (no bias) + BN + ReLU + 2x2 max-pool, widths w, 2w, 4w, 8w, 8w,
    then global average pooling (about 0.25 M parameters at w = 16). At 64 px the last
    block sees 4 x 4, at 96 px 6 x 6."""
    import keras
    from keras import layers

    if weights not in (None, "random"):
        raise ValueError("small: no built-in pre-trained weights (use a weights file)")
    width = options.width
    image = keras.Input((image_size, image_size, 3), name="image")
    x = image
    for b, mult in enumerate(SMALL_MULTIPLIERS, start=1):
        x = layers.Conv2D(width * mult, 3, padding="same", use_bias=False, name=f"conv{b}")(x)
        # momentum 0.9: the demo trains for a few hundred steps only; with Keras' 0.99 the
        # moving statistics are still far from the data's and inference output collapses.
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{b}")(x)
        x = layers.ReLU(name=f"relu{b}")(x)
        if image_size >= 2**b:
            x = layers.MaxPooling2D(2, strides=2, name=f"pool{b}")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(image, x, name=BACKBONE_NAME)


register(
    BackboneSpec(
        name="vgg_face",
        build=_vgg_face,
        normalization="caffe_vggface",
        fc_units=(4096, 4096, 2622),
        landmarks_before=1,
        fc_start=6,
        imagenet=False,
        description="VGG-Face (Table 2); layer names of the public VGG-Face weights",
    )
)
register(
    BackboneSpec(
        name="vgg16",
        build=_vgg16,
        normalization="caffe_imagenet",
        fc_units=(4096, 4096, 2622),
        landmarks_before=1,
        fc_start=1,
        imagenet=True,
        description="VGG-16 (Table 2); Keras applications layer names",
    )
)
register(
    BackboneSpec(
        name="resnet50",
        build=_resnet50,
        normalization="caffe_imagenet",
        fc_units=(1500, 256),
        landmarks_before=0,
        fc_start=1,
        imagenet=True,
        description="ResNet-50 (Table 1); Keras applications, average pooling",
    )
)
register(
    BackboneSpec(
        name="small",
        build=_small,
        normalization="symmetric",
        fc_units=(256, 64),
        landmarks_before=0,
        fc_start=1,
        imagenet=False,
        description="CPU-sized 5-block conv net for the demo (48-96 px crops)",
        min_image_size=8,
        options=SmallOptions,
    )
)
