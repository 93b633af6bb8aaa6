"""Build once per test session, copy for each test.

An expensive fixture (a repository copy after a whole tiny ``dvc repro``, a trained model) is
built once into a folder every pytest-xdist worker of the run can see, under a file lock: the
first worker to ask builds it, the others wait and reuse it. Tests never write into the built
folder; they take a copy (:func:`copy_tree`). Without xdist the folder is the session's own
temporary folder, so a single-process run builds it once as well.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

DONE = ".built"  # written last: a folder without it is a build that died half-way


def run_folder(tmp_path_factory) -> Path:
    """The folder all workers of this pytest run share (one run's, not the next run's)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def build_once(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """``run_folder/name``, made by ``build(folder)`` by the first caller of this run."""
    folder = run_folder(tmp_path_factory) / "shared" / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if not (folder / DONE).exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / DONE).write_text("")
    return folder


def copy_tree(src: Path, dst: Path) -> Path:
    """A private copy of (part of) a built folder, symlinks kept as links."""
    shutil.copytree(src, dst, symlinks=True)
    return dst
