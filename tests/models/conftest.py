"""Shared helpers for the model tests: tiny inputs and configs."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pipeline.config import ModelConfig


@pytest.fixture(autouse=True)
def _fresh_keras():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session()


def small_cfg(**kw) -> ModelConfig:
    base = dict(backbone="small", heads="joint", landmarks=True, small_width=8, rnn_units=16)
    return ModelConfig(**{**base, **kw})


def inputs(lead: tuple[int, ...], size: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "image": rng.integers(0, 256, (*lead, size, size, 3)).astype("float32"),  # raw crops
        "landmarks": rng.uniform(0, 1, (*lead, 136)).astype("float32"),
    }
