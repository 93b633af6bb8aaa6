"""The ``demo`` stage module, as DVC runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers.repo import REPO


def run_stage(tmp_path: Path, demo: dict) -> subprocess.CompletedProcess:
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"demo": demo}))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "stages.demo",
            "--out",
            str(tmp_path / "out"),
            "--params",
            str(params),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )


def test_stage_writes_the_set_and_prints_one_line(tmp_path):
    res = run_stage(tmp_path, {"n_train": 1, "n_test": 1, "min_frames": 12, "max_frames": 12})
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("demo: 1 train / 1 test videos")
    assert (tmp_path / "out" / "videos" / "train" / "demo_train_000.mp4").is_file()
    assert (
        len((tmp_path / "out/annotations/test/arousal/demo_test_000.txt").read_text().split()) == 12
    )


def test_stage_rejects_bad_params_before_writing(tmp_path):
    res = run_stage(tmp_path, {"n_train": 0, "noise": 3})
    assert res.returncode == 1
    assert "demo.n_train" in res.stderr and "demo.noise" in res.stderr
    assert not (tmp_path / "out").exists()
