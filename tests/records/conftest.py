"""Fixtures of the records tests (builders: ``tests/helpers/records.py``)."""

from __future__ import annotations

import pytest

from tests.helpers.records import VIDEOS, make_interim


@pytest.fixture
def interim(tmp_path):
    return make_interim(tmp_path / "interim", VIDEOS)
