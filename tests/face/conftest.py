"""The face tests' videos (builders: ``tests/helpers/faces.py``; the ``faces`` photos are a
suite-wide fixture in ``tests/conftest.py``)."""

from __future__ import annotations

import pytest

from tests.helpers.faces import Clip, make_clips


@pytest.fixture(scope="session")
def clips(tmp_path_factory, faces) -> dict[str, Clip]:
    """The test videos; each one's frame layout is described in its ``note``."""
    return make_clips(tmp_path_factory.mktemp("videos"), faces)
