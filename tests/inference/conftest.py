"""Tiny model folders and a face -> no face -> face video for the inference tests (builders:
``tests/helpers/inference.py``; the video is the face tests' "gap" recipe, real photographs and
real MediaPipe, built with ``tests/helpers/faces.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.faces import canvas, paste, write_video
from tests.helpers.inference import N_FRAMES, save_model_folder


@pytest.fixture(scope="session")
def cnn_dir(tmp_path_factory) -> Path:
    return save_model_folder(tmp_path_factory.mktemp("models") / "cnn", "cnn")


@pytest.fixture(scope="session")
def rnn_dir(tmp_path_factory) -> Path:
    return save_model_folder(tmp_path_factory.mktemp("models") / "cnn_rnn", "cnn_rnn")


@pytest.fixture(scope="session")
def gap_video(tmp_path_factory, faces) -> Path:
    """30 frames, 320x240 at 30 fps: the astronaut at 0-9 and 20-29, nobody at 10-19."""
    a = faces["astronaut"]
    frames = []
    for i in range(N_FRAMES):
        f = canvas()
        if not 10 <= i < 20:
            paste(f, a, 80 + i, 40, 160)
        frames.append(f)
    return write_video(tmp_path_factory.mktemp("videos") / "gap.mp4", frames)


@pytest.fixture(scope="session")
def noface_video(tmp_path_factory) -> Path:
    import numpy as np

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (240, 320, 3), dtype=np.uint8) for _ in range(12)]
    return write_video(tmp_path_factory.mktemp("videos") / "noface.mp4", frames)
