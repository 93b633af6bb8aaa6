"""The face steps' stage entry point as DVC runs it (``python -m stages.face NAME``): params
first, paths from the command line, parallel."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import yaml

from pipeline.artifacts import FaceStageSummary
from pipeline.face import tables
from pipeline.parallel import usable_cores
from tests.helpers.faces import write_manifest
from tests.helpers.repo import REPO, tool_env


def stage(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stages.face", name, *args],
        cwd=REPO, env=tool_env(), capture_output=True, text=True,
    )  # fmt: skip


def test_three_stages_from_the_command_line_in_two_processes(tmp_path, clips):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["parallel"] = {"engine": "local", "address": None, "n_jobs": 2}
    params["crop"].update(size=40, align=True)
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump(params))
    manifest = write_manifest(
        tmp_path / "m.parquet", [clips["gap"], clips["distractor"], clips["noface"]]
    )
    d = tmp_path
    common = ["--manifest", str(manifest), "--params", str(p)]
    r = stage("detect", *common, "--out", str(d / "boxes"), "--summary", str(d / "b.json"))
    assert r.returncode == 0, r.stderr
    assert "detect: 3 videos, 72 frames" in r.stdout
    assert "W0000" not in r.stderr and "XNNPACK" not in r.stderr  # native logging silenced
    r = stage("landmarks", *common, "--input", f"boxes={d / 'boxes'}", "--input",
              f"source_landmarks={d / 'none.parquet'}", "--out", str(d / "lm"),
              "--summary", str(d / "l.json"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = stage("crop", *common, "--input", f"boxes={d / 'boxes'}", "--input", f"landmarks={d / 'lm'}",
              "--out", str(d / "crops"), "--summary", str(d / "c.json"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    s = FaceStageSummary.read_file(d / "c.json")
    assert s.n_jobs == min(2, usable_cores()) and s.videos == 3 and not s.failed
    assert sorted(f.name for f in (d / "crops").iterdir()) == [
        "distractor.parquet", "gap.parquet", "noface.parquet",
    ]  # fmt: skip
    c = tables.read_table(d / "crops" / "gap.parquet", tables.CROPS)
    assert len(c["frame"]) == 30 and c["valid"].sum() == 20
    lm = c["landmarks"].reshape(-1, 68, 2)[c["valid"]]
    # align: eyes level in every crop
    assert np.abs(lm[:, 36:42, 1].mean(axis=1) - lm[:, 42:48, 1].mean(axis=1)).max() < 0.01


def test_bad_params_fail_before_any_output(tmp_path, clips):
    p = tmp_path / "params.yaml"
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["crop"]["size"] = 0
    p.write_text(yaml.safe_dump(params))
    manifest = write_manifest(tmp_path / "m.parquet", [clips["gap"]])
    r = stage("detect", "--manifest", str(manifest), "--params", str(p), "--out",
              str(tmp_path / "boxes"), "--summary", str(tmp_path / "b.json"))  # fmt: skip
    assert r.returncode == 1
    assert "crop.size" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "boxes").exists()


def test_a_step_name_or_input_that_is_not_known_is_one_clear_error(tmp_path, clips):
    manifest = write_manifest(tmp_path / "m.parquet", [clips["gap"]])
    common = ["--manifest", str(manifest), "--out", str(tmp_path / "o"),
              "--summary", str(tmp_path / "s.json")]  # fmt: skip
    r = stage("detcet", *common)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "unknown face stage 'detcet' (allowed: crop, detect, landmarks)" in r.stderr
    r = stage("crop", *common, "--input", f"boxes={tmp_path}")
    assert r.returncode == 1 and "crop: needs the 'landmarks' tables" in r.stderr
    r = stage("detect", *common, "--input", f"boxes={tmp_path}")
    assert r.returncode == 1 and "detect: unknown input ['boxes'] (it reads: none)" in r.stderr
    assert not (tmp_path / "o").exists()
