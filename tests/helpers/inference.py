"""Tiny trained-model folders for the inference tests, and the sizes of their models and of
their face -> no face -> face video.

The model folders are built directly (not trained): ``create_model`` with the small backbone
(random weights), saved with ``model.save`` plus the :class:`pipeline.artifacts.ModelMeta`
``train_stage`` writes; everything downstream (``load_model``, the meta, the face params) is the
real path.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.artifacts import ModelMeta
from pipeline.config import CropConfig, DetectConfig, LandmarksConfig, ModelConfig

IMAGE = 32
SEQ = 6
CROP = 40
N_FRAMES = 30  # face 0-9, none 10-19, face 20-29
TINY = dict(backbone={"name": "small", "width": 4}, fc_units=(16, 8), rnn_units=8, rnn_layers=1)


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
        normalization=normalization_for(cfg.backbone.name),
        landmarks=landmarks,
        seq_len=seq_len,
        model=cfg,
        face={
            "detect": DetectConfig(),
            "landmarks": LandmarksConfig(max_gap=3),
            "crop": CropConfig(size=CROP, margin=0.2),
        },
    ).write(folder)
    return folder
