"""The distribution: `python -m build` makes an sdist and a wheel without a warning, and the
wheel, installed with the hash lock into a clean virtual environment, runs `affwild predict`
from a folder outside the checkout, importing ``pipeline`` from that environment and finding
its package data (the learnt 68-point map, the ``py.typed`` marker) there.

The build runs without isolation, with the ``build`` / ``setuptools`` the test lock pins, so
it needs no network. Installing the lock into the new environment is most of the test's time:
7.6 min in all on a 2-core machine shared with other work, pip's cache holding the wheels (the
first time it downloads them, TensorFlow ~600 MB).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.helpers import golden
from tests.helpers.repo import REPO

BUILD_INPUTS = ("pyproject.toml", "README.md", "MANIFEST.in", "pipeline")
PACKAGE_DATA = ("pipeline/face/data/ibug68_map.npz", "pipeline/py.typed")


def clean_env() -> dict[str, str]:
    """This environment without anything that would find the checkout's ``pipeline``."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONWARNINGS"] = "error"  # a build or packaging warning fails the test
    env.setdefault("DVC_NO_ANALYTICS", "1")
    return env


def run(*args, cwd: Path, env: dict | None = None, timeout: float = 600):
    res = subprocess.run([str(a) for a in args], cwd=cwd, env=env or clean_env(),
                         capture_output=True, text=True, timeout=timeout)  # fmt: skip
    assert res.returncode == 0, f"{' '.join(map(str, args))}:\n{res.stdout}\n{res.stderr}"
    return res


def build(tmp: Path) -> tuple[Path, Path]:
    """sdist and wheel, built from a copy of what the build reads (so no build/ or
    egg-info/ is written into the checkout); warnings are errors."""
    src = tmp / "src"
    for name in BUILD_INPUTS:
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(REPO / name, src / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                         if (REPO / name).is_dir() else {}))  # fmt: skip
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", tmp / "dist", src, cwd=tmp)
    (sdist,) = (tmp / "dist").glob("affwild-*.tar.gz")
    (wheel,) = (tmp / "dist").glob("affwild-*-py3-none-any.whl")
    return sdist, wheel


@pytest.mark.slow
def test_the_wheel_installs_with_the_lock_and_predicts_outside_the_checkout(tmp_path):
    (tmp_path / "src").mkdir()
    sdist, wheel = build(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(PACKAGE_DATA) <= names
    assert not [n for n in names if n.startswith("tests/")]
    with tarfile.open(sdist) as tar:
        top = sdist.name.removesuffix(".tar.gz")
        assert {f"{top}/{name}" for name in PACKAGE_DATA} <= set(tar.getnames())
    meta = zipfile.ZipFile(wheel).read(f"{wheel.name.split('-py3')[0]}.dist-info/METADATA")
    assert b"License-Expression: MIT" in meta

    venv = tmp_path / "venv"
    try:
        check_install(wheel, venv, tmp_path)
    finally:
        shutil.rmtree(venv, ignore_errors=True)  # ~2 GB: not kept with pytest's temp folders


def check_install(wheel: Path, venv: Path, tmp_path: Path) -> None:
    """The lock and then the wheel into a new ``venv``; `affwild predict` from a folder
    outside the checkout gives the golden CSV; ``pipeline`` and its data come from ``venv``."""
    py = venv / "bin" / "python"
    env = clean_env()
    env["PYTHONWARNINGS"] = "default"  # pip's and the tools' own warnings are not ours
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path, env=env)
    lock = REPO / "requirements" / "lock.txt"
    # uv, as the README installs the lock (hashes checked; its cache is the install's), then
    # the wheel as a user installs one
    uv = Path(sys.executable).parent / "uv"
    run(uv, "pip", "install", "-q", "--python", py, "--require-hashes", "-r", lock,
        cwd=tmp_path, env=env)  # fmt: skip
    run(py, "-m", "pip", "install", "-q", "--no-deps", wheel, cwd=tmp_path, env=env)
    run(py, "-m", "pip", "check", cwd=tmp_path, env=env)

    work = tmp_path / "elsewhere"  # outside the checkout, with only the clip and a model
    shutil.copytree(golden.GOLDEN / "models" / "cnn", work / "models" / "cnn")
    shutil.copy2(golden.CLIP, work / golden.CLIP.name)
    r = run(venv / "bin" / "affwild", *golden.predict_args("cnn", "cnn.csv"), cwd=work, env=env)
    assert "60 frames, 50 with a face" in r.stdout
    golden.assert_same_table(work / "cnn.csv", golden.golden_csv("cnn"))

    code = ("import importlib.resources as r, pipeline; "
            "from pipeline.inference.predict import ModelPass; "
            "print(pipeline.__file__); "
            "print(r.files('pipeline.face').joinpath('data/ibug68_map.npz').is_file())")  # fmt: skip
    out = run(py, "-c", code, cwd=work, env=env).stdout.split()
    assert Path(out[0]).resolve().is_relative_to(venv.resolve()), out[0]
    assert out[1] == "True"
    assert (Path(out[0]).parent / "py.typed").is_file()
