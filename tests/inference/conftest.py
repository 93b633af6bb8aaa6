"""Tiny model folders and a face -> no face -> face video for the inference tests (builders:
``tests/helpers/inference.py``; the video is the face tests' "gap" recipe, real photographs and
real MediaPipe, built with ``tests/helpers/faces.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.faces import gap_frames, noise_frames, write_video
from tests.helpers.inference import save_model_folder


@pytest.fixture(scope="session")
def cnn_dir(tmp_path_factory) -> Path:
    return save_model_folder(tmp_path_factory.mktemp("models") / "cnn", "cnn")


@pytest.fixture(scope="session")
def rnn_dir(tmp_path_factory) -> Path:
    return save_model_folder(tmp_path_factory.mktemp("models") / "cnn_rnn", "cnn_rnn")


@pytest.fixture(scope="session")
def gap_video(tmp_path_factory, faces) -> Path:
    """30 frames, 320x240 at 30 fps: the astronaut at 0-9 and 20-29, nobody at 10-19."""
    return write_video(
        tmp_path_factory.mktemp("videos") / "gap.mp4", gap_frames(faces["astronaut"])
    )


@pytest.fixture(scope="session")
def noface_video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("videos") / "noface.mp4", noise_frames(12))
