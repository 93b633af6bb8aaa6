"""Fixtures shared across the suite (builders live in ``tests/helpers``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers.faces import load_faces
from tests.helpers.repo import RepoCopy, build_tiny_run, make_repo
from tests.helpers.shared import build_once, copy_tree


@pytest.fixture
def repo_copy(tmp_path: Path) -> RepoCopy:
    """A throw-away copy of the project (git, one commit, nothing run)."""
    return make_repo(tmp_path / "repo")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The project after a whole ``dvc repro`` with tiny params (``repo/``, committed) and
    that run's output (``repro.log``), built once per test run; tests take copies."""
    return build_once(tmp_path_factory, "tiny-run", build_tiny_run)


@pytest.fixture
def tiny_copy(tiny_run: Path, tmp_path: Path) -> RepoCopy:
    """A private copy of :func:`tiny_run`'s repository, free to change and run."""
    return RepoCopy(copy_tree(tiny_run / "repo", tmp_path / "repo"))


@pytest.fixture(scope="session")
def faces() -> dict[str, np.ndarray]:
    """Head-and-shoulders crops of two real faces (RGB), each face roughly centred."""
    return load_faces()
