"""Speed of ``affwild predict`` on a 640x360 video with the demo's small-backbone models.

    python benchmarks/bench_predict.py [--frames 300]

Builds the face benchmark's video (``bench_face.make_video``: the astronaut moving and
zooming, ~200 px face, a second face for 30 % of it), two randomly initialised models of
the demo's configuration (``params.yaml``'s ``model`` section: small backbone, width 16,
landmarks, joint head; 96 px crops; CNN-RNN 2 x 128 GRU over 50-frame windows) saved as
model folders, and runs :func:`pipeline.inference.predict.predict_video` on it: the whole
command's work per video (decode, detection, landmarks, crop, model, rows written), with
and without the overlay. Model loading and TensorFlow's import are not counted; the first
(warm-up) run is discarded. Numbers go to benchmarks/README.md ("Inference").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from pipeline.quiet import quiet_native  # noqa: E402

quiet_native()  # before TensorFlow / MediaPipe load


def model_folder(folder: Path, kind: str, crop: int = 96, seq_len: int = 50) -> Path:
    import keras
    import yaml

    from pipeline.artifacts import ModelMeta
    from pipeline.config import CropConfig, DetectConfig, LandmarksConfig, ModelConfig
    from pipeline.models import create_model, normalization_for

    keras.utils.set_random_seed(0)
    params = yaml.safe_load((HERE.parent / "params.yaml").read_text())
    cfg = ModelConfig.model_validate(params["model"])
    model = create_model(cfg, crop, kind=kind, seq_len=seq_len if kind == "cnn_rnn" else None)
    folder.mkdir(parents=True)
    model.save(folder / "model.keras")
    ModelMeta(**{
        "kind": kind, "image_size": crop, "records_crop_size": crop,
        "normalization": normalization_for(cfg.backbone.name), "landmarks": cfg.landmarks,
        "seq_len": seq_len if kind == "cnn_rnn" else None, "model": cfg.model_dump(mode="json"),
        "face": {"detect": DetectConfig().model_dump(mode="json"),
                 "landmarks": LandmarksConfig().model_dump(mode="json"),
                 "crop": CropConfig(size=crop).model_dump(mode="json")},
    }).write(folder)  # fmt: skip
    return folder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=300)
    args = ap.parse_args()

    from bench_face import make_video

    from pipeline.inference.model import load_model, setup_device
    from pipeline.inference.predict import predict_video

    setup_device("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        video = make_video(d / "bench.mp4", args.frames)
        results = {"frames": args.frames, "load_avg": os.getloadavg()[0]}
        for kind in ("cnn", "cnn_rnn"):
            tm = load_model(model_folder(d / kind, kind))
            predict_video(video, tm, d / "warm.csv", batch_size=64, progress=False)
            for overlay in (False, True):
                t0 = time.perf_counter()
                r = predict_video(video, tm, d / "p.csv", d / "o.mp4" if overlay else None,
                                  batch_size=64, progress=False)  # fmt: skip
                wall = time.perf_counter() - t0
                results[f"{kind}{'+overlay' if overlay else ''}"] = {
                    "frames_per_s": round(r.frames / wall, 1),
                    "model_ms_per_frame": round(1000 * r.model_seconds / r.frames, 2),
                    "faces": r.faces,
                    "face_pass_frames_held_max": r.face_pass_held_max,
                }
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
