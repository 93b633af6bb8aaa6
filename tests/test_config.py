"""params.yaml parsing: the repository's own file is valid, and bad values fail clearly."""

from __future__ import annotations

import pytest
import yaml

from pipeline.config import Params, ParamsError, load_params, parse_params
from tests.helpers.repo import REPO


def test_repository_params_are_valid():
    params = load_params(REPO / "params.yaml")
    assert isinstance(params, Params)
    assert params.data.root == "data/raw/demo"


def test_every_params_section_is_a_known_section():
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    assert set(raw) <= set(Params.model_fields)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"data": {"format": "affwild3"}},
            "data.format: unknown data set format 'affwild3' (allowed: afewva, affwild, affwild2)",
        ),
        ({"split": {"val_fraction": 1.5}}, "split.val_fraction: Input should be less than 1"),
        (
            {"parallel": {"n_jobs": 0}},
            "parallel.n_jobs: Input should be greater than or equal to 1",
        ),
        (
            {"ingest": {"length_mismatch": "pad"}},
            "ingest.length_mismatch: Input should be 'error' or 'truncate'",
        ),
        ({"split": {"seeed": 1}}, "split.seeed: unknown key (allowed: seed, "),
        ({"nonsense": {}}, "nonsense: unknown key (allowed: data, split, "),
        ({"demo": {"min_frames": 50, "max_frames": 20}}, "max_frames (20) < min_frames (50)"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(raw, expected):
    with pytest.raises(ParamsError) as info:
        parse_params(raw, "params.yaml")
    assert expected in str(info.value)
    assert str(info.value).startswith("params.yaml: invalid parameters")


def test_all_problems_listed_together():
    with pytest.raises(ParamsError) as info:
        parse_params({"data": {"format": "x"}, "split": {"seed": "abc"}})
    assert "data.format" in str(info.value) and "split.seed" in str(info.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ParamsError, match="no such file"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("data: [unclosed")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(tmp_path / "params.yaml")


def _leaves(tree: dict, path: tuple = ()):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, (*path, key))
        else:
            yield (*path, key), value


LEAVES = dict(_leaves(yaml.safe_load((REPO / "params.yaml").read_text())))
# How pydantic's messages (and ours) say which type a key takes.
NAMES_A_TYPE = ("valid integer", "an integer", "valid number", "a number", "valid string",
                "true or false", "valid tuple", "valid list", "Input should be '")  # fmt: skip


def _wrong_values(value) -> list:
    """Values of a type the key does not take: a list for a scalar (a string for a list),
    a mapping; for numbers also a switch and a quoted number, for switches a number; for a
    key left null, a mapping and a switch."""
    if value is None:
        return [{"a": 1}, True]
    wrong = ["wrong"] if isinstance(value, list) else [["wrong"]]
    wrong.append({"a": 1})
    if isinstance(value, bool):
        wrong.append(1)
    elif isinstance(value, int | float):
        wrong += [True, "3"]
    return wrong


@pytest.mark.parametrize("path", list(LEAVES), ids=".".join)
def test_a_wrong_type_at_any_key_names_the_key_the_value_and_the_type(path):
    """Every key of the repository's params.yaml, set to values of another type: one problem,
    on one line naming the key path, the value given and the type the key takes."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    for bad in _wrong_values(LEAVES[path]):
        section = raw
        for key in path[:-1]:
            section = section[key]
        section[path[-1]] = bad
        with pytest.raises(ParamsError) as info:
            parse_params(raw, "params.yaml")
        head, *problems = str(info.value).splitlines()
        assert head == "params.yaml: invalid parameters"
        assert len(problems) == 1, problems
        key = ".".join(path)
        assert problems[0].startswith((f"  {key}: ", f"  {key}.")), (bad, problems[0])
        assert problems[0].endswith(f"(got {bad!r})"), (bad, problems[0])
        assert any(name in problems[0] for name in NAMES_A_TYPE), (bad, problems[0])


def test_a_stage_with_bad_params_stops_before_writing(tmp_path):
    from click.testing import CliRunner

    from stages.ingest import main as ingest

    (tmp_path / "params.yaml").write_text("split: {seed: true}\n")
    out = tmp_path / "out"
    args = ["--root", str(tmp_path), "--manifest", str(out / "m.parquet"),
            "--labels", str(out / "l.parquet"), "--source-landmarks", str(out / "s.parquet"),
            "--report", str(out / "r.json"), "--params", str(tmp_path / "params.yaml")]  # fmt: skip
    r = CliRunner().invoke(ingest, args)
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit)
    assert r.stderr.splitlines()[1:] == [
        "  split.seed: Input should be an integer, not true/false (got True)"
    ]
    assert not out.exists()
