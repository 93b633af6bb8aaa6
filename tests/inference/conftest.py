"""Tiny trained-model folders and a face -> no face -> face video for the inference tests.

The model folders are built directly (not trained): ``create_model`` with the small backbone
(random weights), saved with ``model.save`` plus the :class:`pipeline.artifacts.ModelMeta`
``train_stage`` writes; everything downstream — ``load_model``, the meta, the face params
— is the real path. The video is the face tests' "gap" recipe (real photographs, real
MediaPipe), built with ``tests/face/conftest.py``'s helpers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.artifacts import ModelMeta
from pipeline.config import CropConfig, DetectConfig, LandmarksConfig, ModelConfig
from tests.face.conftest import canvas, faces, paste, write_video  # noqa: F401 (fixture)

IMAGE = 32
SEQ = 6
CROP = 40
N_FRAMES = 30  # face 0-9, none 10-19, face 20-29
TINY = dict(backbone="small", small_width=4, fc_units=(16, 8), rnn_units=8, rnn_layers=1)


def save_model_folder(folder: Path, kind: str, *, landmarks: bool = True, rnn: str = "gru",
                      seed: int = 0) -> Path:  # fmt: skip
    """A model folder as ``train_stage`` writes it, with a randomly initialised model."""
    import keras

    from pipeline.models import create_model, normalization_for

    keras.utils.set_random_seed(seed)
    cfg = ModelConfig(**TINY, landmarks=landmarks, rnn=rnn)
    seq_len = SEQ if kind == "cnn_rnn" else None
    model = create_model(cfg, image_size=IMAGE, kind=kind, seq_len=seq_len)
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    ModelMeta(
        kind=kind,
        image_size=IMAGE,
        records_crop_size=CROP,
        normalization=normalization_for(cfg.backbone),
        landmarks=landmarks,
        seq_len=seq_len,
        model=cfg.model_dump(mode="json"),
        face={
            "detect": DetectConfig(),
            "landmarks": LandmarksConfig(max_gap=3),
            "crop": CropConfig(size=CROP, margin=0.2),
        },
    ).write(folder)
    return folder


@pytest.fixture(scope="session")
def cnn_dir(tmp_path_factory) -> Path:
    return save_model_folder(tmp_path_factory.mktemp("models") / "cnn", "cnn")


@pytest.fixture(scope="session")
def rnn_dir(tmp_path_factory) -> Path:
    return save_model_folder(tmp_path_factory.mktemp("models") / "cnn_rnn", "cnn_rnn")


@pytest.fixture(scope="session")
def gap_video(tmp_path_factory, faces) -> Path:  # noqa: F811
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
