"""Fixtures of the data set tests (builders: ``tests/helpers/datasets.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.datasets import make_affwild


@pytest.fixture
def affwild_root(tmp_path: Path) -> Path:
    return make_affwild(
        tmp_path / "affwild",
        {
            "a1": ("train", 9),
            "a2avi": ("train", 7),
            "a3": ("train", 6),
            "a4": ("train", 5),
            "t1": ("test", 8),
        },
    )
