"""Benchmark: training throughput (frames/s) of every backbone on this machine's CPU.

Synthetic inputs, joint heads with landmarks, CCC+MSE loss, Adam; one warm-up step (graph
tracing) then timed ``train_on_batch`` steps. CNN: frames per second; CNN-RNN: frames
(batch x sequence length) per second.

    python benchmarks/bench_models.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.quiet import quiet_native  # noqa: E402

quiet_native()  # before TensorFlow / MediaPipe load

import keras  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.config import ModelConfig  # noqa: E402
from pipeline.models import create_model  # noqa: E402
from pipeline.training.losses import make_loss  # noqa: E402

# (backbone, image size, kind, batch, seq_len, timed steps)
CASES = [
    ("small", 64, "cnn", 32, None, 10),
    ("small", 96, "cnn", 32, None, 10),
    ("small", 64, "cnn_rnn", 4, 50, 4),
    ("small", 96, "cnn_rnn", 4, 50, 3),
    ("vgg_face", 224, "cnn", 4, None, 3),
    ("vgg16", 224, "cnn", 4, None, 2),
    ("resnet50", 224, "cnn", 4, None, 3),
    ("vgg_face", 224, "cnn_rnn", 1, 8, 2),
    ("resnet50", 224, "cnn_rnn", 1, 8, 2),
]


def bench(backbone, size, kind, batch, seq_len, steps) -> dict:
    keras.backend.clear_session()
    cfg = ModelConfig(backbone=backbone, heads="joint", landmarks=True, rnn="gru")
    model = create_model(cfg, size, kind=kind, seq_len=seq_len)
    lead = (batch, seq_len) if seq_len else (batch,)
    rng = np.random.default_rng(0)
    x = {
        "image": rng.uniform(-1, 1, (*lead, size, size, 3)).astype("float32"),
        "landmarks": rng.uniform(0, 1, (*lead, 136)).astype("float32"),
    }
    y = np.concatenate([rng.uniform(-1, 1, (*lead, 2)), np.ones((*lead, 1))], -1).astype("f")
    model.compile(keras.optimizers.Adam(1e-4), make_loss("ccc+mse"))
    t0 = time.perf_counter()
    model.train_on_batch(x, y)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    dt = (time.perf_counter() - t0) / steps
    frames = int(np.prod(lead))
    return {
        "params": model.count_params(),
        "frames_per_step": frames,
        "s_per_step": dt,
        "fps": frames / dt,
        "warmup_s": warm,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="only the small backbone")
    args = ap.parse_args()
    print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f} keras={keras.__version__}")
    print("| backbone | px | model | batch | params | s/step | frames/s | warm-up s |")
    print("|---|---|---|---|---|---|---|---|")
    t_all = time.perf_counter()
    for backbone, size, kind, batch, seq_len, steps in CASES:
        if args.quick and backbone != "small":
            continue
        r = bench(backbone, size, kind, batch, seq_len, steps)
        shape = f"{batch}x{seq_len}" if seq_len else str(batch)
        print(
            f"| {backbone} | {size} | {kind} | {shape} | {r['params'] / 1e6:.2f} M "
            f"| {r['s_per_step']:.2f} | {r['fps']:.1f} | {r['warmup_s']:.1f} |",
            flush=True,
        )
    print(f"total {time.perf_counter() - t_all:.0f} s; load={os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
