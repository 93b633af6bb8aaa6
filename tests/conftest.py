"""Fixtures shared across the suite (builders live in ``tests/helpers``)."""

from __future__ import annotations

import gc
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


# The longest modules first (measured with --durations): pytest-xdist (--dist loadscope) hands
# whole modules (classes, where a module has them) to its workers in collection order, so a
# long one started last would leave the other worker idle at the end. Only the order changes.
LONG_FIRST = (
    "tests/training/test_kill_anywhere.py::TestTrainCnn",  # builds the shared tiny run
    "tests/test_dist.py",  # while the other worker does not need the tiny run yet
    "tests/training/test_kill_anywhere.py::TestTrainRnn",
    "tests/test_reproducibility.py",
    "tests/training/test_kill_anywhere.py::TestFeatures",
    "tests/test_pipeline_e2e.py",
    "tests/test_dvc_remote.py",
    "tests/training/test_distribute.py",
    "tests/training/test_multiworker_stage.py",
    "tests/training/test_features.py",
    "tests/training/test_train_stage.py",
    "tests/models/test_paper_networks.py",
    "tests/face/test_parallel_ray.py",
    "tests/face/test_dvc.py",
    "tests/face/test_face_step_plugin.py",
    "tests/training/test_features_dvc.py",
    "tests/models/test_architectures.py",
    "tests/inference/test_export.py",
    "tests/models/test_saved.py",
    "tests/models/test_tf1_import.py",
)


def pytest_collection_modifyitems(config, items) -> None:
    rank = {name: i for i, name in enumerate(LONG_FIRST)}

    def key(item) -> int:
        path, _, rest = item.nodeid.partition("::")
        unit = f"{path}::{rest.split('::')[0]}"  # the module's class, where it has one
        return rank.get(unit, rank.get(path, len(rank)))

    items.sort(key=key)


def pytest_collection_finish(session) -> None:
    """What collection imported (TensorFlow, Keras, MediaPipe: millions of objects that live as
    long as the process) is moved out of the garbage collector's sight, so the full collection
    in each Keras ``clear_session`` costs milliseconds instead of seconds."""
    gc.collect()
    gc.freeze()
