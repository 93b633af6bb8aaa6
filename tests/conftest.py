"""Fixtures shared across the suite (builders live in ``tests/helpers``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.faces import load_faces
from tests.helpers.repo import REPO, RepoCopy, project_files


@pytest.fixture
def repo_copy(tmp_path: Path) -> RepoCopy:
    root = tmp_path / "repo"
    for rel in project_files():
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dst)
    copy = RepoCopy(root)
    copy.run("git", "init", "-q")
    copy.run("git", "config", "user.email", "tests@example.invalid")
    copy.run("git", "config", "user.name", "tests")
    copy.commit("copy of the project")
    return copy


@pytest.fixture(scope="session")
def faces() -> dict[str, np.ndarray]:
    """Head-and-shoulders crops of two real faces (RGB), each face roughly centred."""
    return load_faces()
