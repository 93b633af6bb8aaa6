"""Tiny training params, the videos of the training stage tests' records, and a localhost
cluster's worker addresses."""

from __future__ import annotations

import contextlib
import socket

from pipeline.config import Params

# The smallest network the training code builds: the small backbone at 4 channels, FC 16 -> 8,
# one 8-unit RNN layer (the tests' and the tiny end-to-end run's model section).
TINY_MODEL = {"backbone": {"name": "small", "width": 4}, "fc_units": [16, 8], "rnn_units": 8,
              "rnn_layers": 1}  # fmt: skip

VIDEOS = {
    "a": ("train", 60),
    "b": ("train", 50),
    "c": ("train", 40),
    "v": ("val", 30),
    "t": ("test", 30),
}


def tiny_params(**train) -> Params:
    common = {
        "batch_size": 16,
        "epochs": 3,
        "patience": 0,
        "learning_rate": 3e-3,
        "seed": 0,
        **train,
    }
    return Params.model_validate(
        {
            "model": {**TINY_MODEL, "heads": "joint", "dropout": 0.0},
            "train_cnn": common,
            "train_rnn": {**common, "batch_size": 4},
            "augment": {
                "flip": True,
                "shift": 0.0,
                "brightness": 0.0,
                "contrast": 0.0,
                "saturation": 0.0,
            },
        }
    )


def worker_hosts(n: int = 2) -> list[str]:
    """``localhost:PORT`` for ``n`` workers, the ports free and distinct (all bound at once)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("localhost", 0))
        return [f"localhost:{s.getsockname()[1]}" for s in socks]
