"""The ``model:`` params section: defaults, the repository's demo values, clear errors."""

from __future__ import annotations

import pytest

from pipeline.config import ModelConfig, ParamsError, load_params, parse_params
from pipeline.models import list_backbones
from tests.helpers.repo import REPO


def test_defaults_are_the_papers_best():
    cfg = ModelConfig()
    assert (cfg.backbone.name, cfg.landmarks, cfg.heads) == ("vgg_face", True, "separate")
    assert (cfg.rnn, cfg.rnn_layers, cfg.rnn_units, cfg.dropout) == ("gru", 2, 128, 0.5)
    assert cfg.init == "random"


def test_repository_params_are_the_cpu_demo():
    cfg = load_params(REPO / "params.yaml").model
    assert cfg.backbone.name == "small" and cfg.heads == "joint" and cfg.init == "random"
    assert cfg.backbone.options.model_dump() == {"width": 16}


def test_config_choices_are_the_registry():
    for name in list_backbones():
        assert parse_params({"model": {"backbone": name}}).model.backbone.name == name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"rnn": "lstmm"}, "model.rnn: Input should be 'gru' or 'lstm' (got 'lstmm')"),
        (
            {"backbone": "vgg19"},
            "model.backbone: unknown backbone 'vgg19' (allowed: resnet50, small, vgg16, vgg_face)",
        ),
        ({"heads": "both"}, "model.heads: Input should be 'joint' or 'separate'"),
        ({"rnn_layers": 0}, "model.rnn_layers: Input should be greater than or equal to 1"),
        ({"dropout": 1.0}, "model.dropout: Input should be less than 1"),
        ({"fc_units": [64, 0]}, "model.fc_units.1: Input should be greater than or equal to 1"),
        ({"init": "vggface"}, "model.init: must be 'random', 'imagenet' or a path"),
        ({"init": "imagenet"}, "imagenet weights exist for backbone vgg16 or resnet50"),
        ({"rnn_unit": 3}, "model.rnn_unit: unknown key (allowed: backbone, landmarks, heads"),
        (
            {"backbone": {"name": "vgg_face", "width": 16}},
            "model.backbone.width: unknown option (vgg_face takes no options)",
        ),
        (
            {"backbone": {"name": "small", "widht": 16}},
            "model.backbone.widht: unknown option (small takes: width)",
        ),
        (
            {"backbone": {"name": "small", "width": 2}},
            "model.backbone.width: Input should be greater than or equal to 4 (got 2)",
        ),
        ({"backbone": {"name": "vgg19"}}, "model.backbone: unknown backbone 'vgg19' (allowed: "),
        ({"backbone": {"width": 16}}, "model.backbone: a backbone name, or a mapping {name: "),
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


def test_a_backbone_name_is_the_mapping_with_default_options():
    short = parse_params({"model": {"backbone": "small"}}).model
    full = parse_params({"model": {"backbone": {"name": "small", "width": 16}}}).model
    assert short == full and short.backbone.options.model_dump() == {"width": 16}
    wide = parse_params({"model": {"backbone": {"name": "small", "width": 32}}}).model
    assert wide != short and wide.backbone.options.model_dump() == {"width": 32}
    # written back (meta.json, dvclive's params.yaml) as the mapping, and read again the same
    assert wide.model_dump()["backbone"] == {"name": "small", "width": 32}
    assert ModelConfig.model_validate(wide.model_dump(mode="json")) == wide
    assert ModelConfig().model_dump()["backbone"] == {"name": "vgg_face"}


def test_every_bad_option_is_listed():
    with pytest.raises(ParamsError) as info:
        parse_params({"model": {"backbone": {"name": "resnet50", "width": 8, "depth": 3}}})
    lines = str(info.value).splitlines()[1:]
    assert lines == [
        "  model.backbone.width: unknown option (resnet50 takes no options)",
        "  model.backbone.depth: unknown option (resnet50 takes no options)",
    ]


@pytest.mark.parametrize(
    ("override", "name", "options"),
    [
        ("model.backbone=vgg_face", "vgg_face", {}),  # the name replaces the mapping
        ("model.backbone.width=32", "small", {"width": 32}),
        ("model.backbone={name: small}", "small", {"width": 16}),  # merged into the mapping
    ],
)
def test_dvc_set_param_overrides_of_the_backbone(tmp_path, override, name, options):
    """`dvc exp run -S ...` on the repository's params.yaml (DVC's own override code)."""
    from dvc.utils.hydra import apply_overrides

    params = tmp_path / "params.yaml"
    params.write_text((REPO / "params.yaml").read_text())
    apply_overrides(str(params), [override])
    backbone = load_params(params).model.backbone
    assert (backbone.name, backbone.options.model_dump()) == (name, options)


def test_a_merged_override_that_leaves_a_foreign_option_is_refused(tmp_path):
    from dvc.utils.hydra import apply_overrides

    params = tmp_path / "params.yaml"
    params.write_text((REPO / "params.yaml").read_text())
    apply_overrides(str(params), ["model.backbone={name: vgg_face}"])  # keeps width: 16
    with pytest.raises(ParamsError, match="model.backbone.width: unknown option \\(vgg_face"):
        load_params(params)
