"""Every model test starts from a fresh Keras session (builders: ``tests/helpers/models.py``)."""

from __future__ import annotations

import keras
import pytest


@pytest.fixture(autouse=True)
def _fresh_keras():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session()
