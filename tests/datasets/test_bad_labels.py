"""A label file with NaN or a value outside its range, in each data format as it ships, stops
the ``ingest`` stage with one problem naming the file and the line (Aff-Wild, Aff-Wild2) or
frame (AFEW-VA), and nothing is written. Aff-Wild2's ``-5`` (not annotated) stays allowed."""

from __future__ import annotations

import json
import math

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tests.helpers.datasets import make_afewva, make_affwild, make_affwild2, write_lines


def _affwild(tmp_path, line: int, value: str):
    root = make_affwild(tmp_path / "aw", {"a1": ("train", 6), "t1": ("test", 4)})
    path = root / "annotations/train/arousal/a1.txt"
    lines = path.read_text().splitlines()
    lines[line - 1] = value
    write_lines(path, lines)
    return root, path, f"{path}:{line}: "


def _affwild2(tmp_path, line: int, value: str):
    root = make_affwild2(tmp_path / "aw2")
    path = root / "annotations/VA_Estimation_Challenge/Train_Set/v2.txt"
    lines = path.read_text().splitlines()
    lines[line - 1] = value
    write_lines(path, lines)
    return root, path, f"{path}:{line}: "


def _afewva(tmp_path, frame: str, dim: str, value):
    root = make_afewva(tmp_path / "afew", {"001": 3, "002": 3, "003": 3, "004": 3, "005": 3})
    path = root / "002" / "002.json"
    data = json.loads(path.read_text())
    data["frames"][frame][dim] = value
    path.write_text(json.dumps(data))  # NaN is written as the bare word NaN, as Python does
    return root, path, f"{path} frame {frame!r}: "


CASES = {
    "affwild-nan": (_affwild, (3, "nan"), "'nan' is not finite"),
    "affwild-above": (_affwild, (2, "1.5"), "value 1.5 outside [-1, 1]"),
    "affwild-below": (_affwild, (6, "-1.01"), "value -1.01 outside [-1, 1]"),
    "affwild2-nan": (_affwild2, (4, "nan,0.2"), "'nan' is not finite"),
    "affwild2-arousal-below": (_affwild2, (5, "0.2,-1.5"), "arousal -1.5 outside [-1, 1]"),
    "affwild2-not-minus-5": (_affwild2, (2, "-6,0"), "valence -6 outside [-1, 1]"),
    "afewva-nan": (_afewva, ("00002", "valence", math.nan), "valence nan is not a number"),
    "afewva-below": (_afewva, ("00000", "arousal", -11), "arousal -11 outside [-10, 10]"),
    "afewva-not-integer": (
        _afewva,
        ("00002", "valence", 2.5),
        "valence 2.5 is not an integer in [-10, 10]",
    ),
}


def _ingest(tmp_path, root, fmt: str):
    from stages.ingest import main as ingest

    (tmp_path / "params.yaml").write_text(
        f"data: {{format: {fmt}}}\nparallel: {{n_jobs: 1}}\nsplit: {{test_fraction: 0.2}}\n"
    )
    out = tmp_path / "out"
    args = ["--root", str(root), "--manifest", str(out / "manifest.parquet"),
            "--labels", str(out / "labels.parquet"), "--source-landmarks", str(out / "lm.parquet"),
            "--report", str(out / "report.json"), "--params", str(tmp_path / "params.yaml")]  # fmt: skip
    return CliRunner().invoke(ingest, args), out


@pytest.mark.parametrize("case", list(CASES))
def test_bad_label_value_is_named_and_nothing_is_written(tmp_path, case):
    plant, args, message = CASES[case]
    root, path, where = plant(tmp_path, *args)
    r, out = _ingest(tmp_path, root, case.split("-")[0])
    assert isinstance(r.exception, SystemExit) and r.exit_code == 1, r.output
    problems = [line.strip() for line in r.stderr.splitlines() if line.startswith("  ")]
    assert problems == [f"{where}{message}"], r.stderr
    assert "1 problem(s) in the data set" in r.stderr
    assert not out.exists() or not any(out.iterdir())


def test_affwild2_minus_5_is_not_annotated_not_an_error(tmp_path):
    root = make_affwild2(tmp_path / "aw2")  # v1 has "-5,-5" at frame 3 and "0.5,-5" at frame 4
    r, out = _ingest(tmp_path, root, "affwild2")
    assert r.exit_code == 0, r.output
    rows = pq.read_table(out / "labels.parquet").to_pylist()
    v1 = {r["frame"]: (r["valence"], r["arousal"]) for r in rows if r["video_id"] == "v1"}
    assert math.isnan(v1[3][0]) and math.isnan(v1[3][1])
    assert v1[4][0] == pytest.approx(0.5) and math.isnan(v1[4][1])
