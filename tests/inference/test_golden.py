"""Today's numbers, kept: `affwild predict` and the `--live` rule on the committed golden clip
and model folders (``tests/data/golden/``, built by ``tests/helpers/golden.py``) give the
committed CSVs, column by column.

Integers and strings (``frame``, ``face``) must match exactly. Floats (``time_s``, ``valence``,
``arousal``) within 1e-6, NaN where the golden has NaN: TensorFlow's CPU kernels and
MediaPipe's TFLite ones choose their instruction paths by the CPU (AVX2, AVX-512, ...), which
changes the summation order and so the last bits of a float32 (the values are of order 0.1,
a float32 step there is ~1e-8); 1e-6 allows that and nothing a code change would do.
"""

from __future__ import annotations

import csv
import math

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from tests.helpers import golden

EXACT = ("frame", "face")
FLOAT_TOL = 1e-6


def read_columns(path) -> dict[str, list[str]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    return {name: [r[k] for r in body] for k, name in enumerate(header)}


def assert_same_table(got_path, golden_path) -> None:
    got, want = read_columns(got_path), read_columns(golden_path)
    assert list(got) == list(want), f"columns {list(got)} != golden {list(want)}"
    for name, expected in want.items():
        actual = got[name]
        assert len(actual) == len(expected), f"{name}: {len(actual)} rows != {len(expected)}"
        if name in EXACT:
            assert actual == expected, name
            continue
        for i, (a, b) in enumerate(zip(map(float, actual), map(float, expected), strict=True)):
            same = (math.isnan(a) and math.isnan(b)) or abs(a - b) <= FLOAT_TOL
            assert same, f"{name}, row {i}: {a!r} != golden {b!r}"


def test_the_golden_files_are_what_the_builder_says():
    assert golden.CLIP.is_file() and golden.CLIP.stat().st_size < 300_000
    for kind in golden.MODELS:
        folder = golden.GOLDEN / "models" / kind
        assert {p.name for p in folder.iterdir()} == {"model.keras", "meta.json"}
        faces = read_columns(golden.golden_csv(kind))["face"]
        assert faces == ["true" if golden.face_frame(i) else "false"
                         for i in range(golden.N_FRAMES)]  # fmt: skip


@pytest.mark.parametrize("kind", golden.MODELS)
def test_predict_gives_the_golden_csv(kind, tmp_path, monkeypatch):
    monkeypatch.chdir(golden.GOLDEN)  # the recorded invocation, paths as recorded
    out = tmp_path / "preds.csv"
    r = CliRunner().invoke(main, golden.predict_args(kind, str(out)), catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert_same_table(out, golden.golden_csv(kind))


@pytest.mark.parametrize("kind", golden.MODELS)
def test_the_live_rule_gives_the_golden_csv(kind, tmp_path):
    out = tmp_path / "live.csv"
    assert golden.run_live_rule(golden.GOLDEN / "models" / kind, out) == golden.N_FRAMES
    assert_same_table(out, golden.golden_csv(kind, live=True))


def test_the_comparison_can_fail(tmp_path):
    path = golden.golden_csv("cnn")
    text = path.read_text().splitlines()
    cells = text[1].split(",")
    cells[2] = repr(float(cells[2]) + 5 * FLOAT_TOL)
    (tmp_path / "x.csv").write_text("\n".join([text[0], ",".join(cells), *text[2:]]) + "\n")
    with pytest.raises(AssertionError, match="valence, row 0"):
        assert_same_table(tmp_path / "x.csv", path)
