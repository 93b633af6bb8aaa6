"""Speed of ``affwild predict --live`` at 640x480: frames/s, dropped frames and latency.

    python benchmarks/bench_live.py [--seconds 10] [--models small,vgg_face]

Writes a 640x480, 30 fps video (the astronaut's head moving and zooming, ~250 px face) and
plays it as a live source (:func:`pipeline.inference.live.run_live`: real-time pacing, a
2-frame queue that drops the oldest frame when processing falls behind) through randomly
initialised CNN-RNN model folders — weights do not change the cost:

- ``small``: the demo's CNN-RNN (``params.yaml``'s model: small backbone, width 16, 2 x 128
  GRU), 96 px crops resized to 64 px as ``train_rnn.image_size`` says;
- ``vgg_face``: the paper's VGG-Face CNN-RNN at 224 px with landmarks, FC 4096, 2 x 128 GRU,
  joint heads (the paper's separate heads run the backbone twice: about twice the model
  cost).

Per model: rows/s (bounded by the source's 30 fps), frames/s the processing alone sustains
(face pass + model + row, waiting excluded), dropped frames, and latency (frame read -> row
written) median / 95th percentile, over the rows after the subject tracker's start-up (its
first ``detect.init_frames`` face frames wait for the choice of whom to follow). TensorFlow
import, model load and graph tracing are not counted. Numbers go to benchmarks/README.md ("Live").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from pipeline.quiet import quiet_native  # noqa: E402

quiet_native()  # before TensorFlow / MediaPipe load

W, H, FPS = 640, 480, 30.0


def make_video(path: Path, n_frames: int) -> Path:
    import skimage.data

    astro = skimage.data.astronaut()[20:300, 90:370]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (W, H))
    for i in range(n_frames):
        t = i / FPS
        side = int(250 + 30 * np.sin(2 * np.pi * t / 7))
        x = int(200 + 60 * np.sin(2 * np.pi * t / 5))
        y = int(90 + 30 * np.sin(2 * np.pi * t / 3))
        f = np.full((H, W, 3), 110, np.uint8)
        f[y : y + side, x : x + side] = cv2.resize(
            astro, (side, side), interpolation=cv2.INTER_AREA
        )
        vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    vw.release()
    return path


def model_folder(folder: Path, name: str) -> Path:
    import keras
    import yaml

    from pipeline.artifacts import ModelMeta
    from pipeline.config import CropConfig, DetectConfig, LandmarksConfig, ModelConfig
    from pipeline.models import create_model, normalization_for

    keras.utils.set_random_seed(0)
    if name == "small":
        params = yaml.safe_load((HERE.parent / "params.yaml").read_text())
        cfg = ModelConfig.model_validate(params["model"])
        crop, size = 96, params["train_rnn"]["image_size"] or 96
    else:
        cfg = ModelConfig(backbone="vgg_face", landmarks=True, heads="joint", rnn_units=128,
                          rnn_layers=2)  # fmt: skip
        crop = size = 224
    model = create_model(cfg, size, kind="cnn_rnn", seq_len=50)
    folder.mkdir(parents=True)
    model.save(folder / "model.keras")
    ModelMeta(**{
        "kind": "cnn_rnn", "image_size": size, "records_crop_size": crop,
        "normalization": normalization_for(cfg.backbone.name), "landmarks": cfg.landmarks,
        "seq_len": 50, "model": cfg.model_dump(mode="json"),
        "face": {"detect": DetectConfig().model_dump(mode="json"),
                 "landmarks": LandmarksConfig().model_dump(mode="json"),
                 "crop": CropConfig(size=crop).model_dump(mode="json")},
    }).write(folder)  # fmt: skip
    return folder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--models", default="small,vgg_face")
    args = ap.parse_args()

    from pipeline.config import DetectConfig
    from pipeline.inference.live import run_live
    from pipeline.inference.model import load_model, setup_device

    setup_device("cpu")
    out = {"size": f"{W}x{H}", "source_fps": FPS, "load_avg_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        video = make_video(d / "live.mp4", int(args.seconds * FPS))
        for name in args.models.split(","):
            tm = load_model(model_folder(d / name, name))
            r = run_live(str(video), tm, d / f"{name}.csv")
            skip = DetectConfig().init_frames
            lat = np.asarray(r.latencies_ms[skip:] or [np.nan])
            out[name] = {
                "frames_read": r.read,
                "dropped": r.dropped,
                "rows": r.rows,
                "rows_per_s": round(r.rows / r.seconds, 1),
                "processing_fps": round(r.capacity_fps, 1),
                "latency_ms_median": round(float(np.median(lat)), 1),
                "latency_ms_p95": round(float(np.percentile(lat, 95)), 1),
            }
            print(name, json.dumps(out[name]), flush=True)
    out["load_avg_after"] = os.getloadavg()[0]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
