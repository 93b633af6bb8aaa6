"""Tiny model configs and inputs for the model and training tests."""

from __future__ import annotations

import numpy as np

from pipeline.config import ModelConfig
from pipeline.contracts.points68 import N_VALUES


def small_cfg(**kw) -> ModelConfig:
    base = dict(backbone={"name": "small", "width": 8}, heads="joint", landmarks=True, rnn_units=16)
    return ModelConfig(**{**base, **kw})


def inputs(lead: tuple[int, ...], size: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "image": rng.integers(0, 256, (*lead, size, size, 3)).astype("float32"),  # raw crops
        "landmarks": rng.uniform(0, 1, (*lead, N_VALUES)).astype("float32"),
    }
