"""The ``model:`` params section: defaults, the repository's demo values, clear errors."""

from __future__ import annotations

import pytest

from pipeline.config import ModelConfig, ParamsError, load_params, parse_params
from pipeline.models import list_backbones
from tests.helpers.repo import REPO


def test_defaults_are_the_papers_best():
    cfg = ModelConfig()
    assert (cfg.backbone, cfg.landmarks, cfg.heads) == ("vgg_face", True, "separate")
    assert (cfg.rnn, cfg.rnn_layers, cfg.rnn_units, cfg.dropout) == ("gru", 2, 128, 0.5)
    assert cfg.init == "random"


def test_repository_params_are_the_cpu_demo():
    cfg = load_params(REPO / "params.yaml").model
    assert cfg.backbone == "small" and cfg.heads == "joint" and cfg.init == "random"


def test_config_choices_are_the_registry():
    for name in list_backbones():
        assert parse_params({"model": {"backbone": name}}).model.backbone == name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"rnn": "lstmm"}, "model.rnn: Input should be 'gru' or 'lstm' (got 'lstmm')"),
        (
            {"backbone": "vgg19"},
            "model.backbone: unknown backbone 'vgg19' (allowed: vgg_face, vgg16, resnet50, small)",
        ),
        ({"heads": "both"}, "model.heads: Input should be 'joint' or 'separate'"),
        ({"rnn_layers": 0}, "model.rnn_layers: Input should be greater than or equal to 1"),
        ({"dropout": 1.0}, "model.dropout: Input should be less than 1"),
        ({"fc_units": [64, 0]}, "model.fc_units.1: Input should be greater than or equal to 1"),
        ({"init": "vggface"}, "model.init: must be 'random', 'imagenet' or a path"),
        ({"init": "imagenet"}, "imagenet weights exist for backbone vgg16 or resnet50"),
        ({"rnn_unit": 3}, "model.rnn_unit: unknown key (allowed: backbone, landmarks, heads"),
    ],
)
def test_bad_values_name_the_key_and_the_allowed_values(raw, expected):
    with pytest.raises(ParamsError) as info:
        parse_params({"model": raw})
    assert expected in str(info.value)


def test_valid_variants():
    cfg = parse_params(
        {"model": {"backbone": "resnet50", "init": "imagenet", "fc_units": [1000, 200]}}
    ).model
    assert cfg.fc_units == (1000, 200)
    assert parse_params({"model": {"init": "weights/vgg_face.h5"}}).model.init.endswith(".h5")
