"""Benchmark: the paper's Table 8 sweep (GRU units x layers) on the demo, trained on images
(``train_rnn.augment: true``) and on cached CNN features (``augment: false``), plus the per-frame costs
that give the speed-up on paper-sized data.

Each configuration runs the real ``train_rnn`` stage (``python -m stages.train_rnn``) in a
subprocess with ``params.yaml`` plus the row's overrides; wall time and the best validation
CCC are printed. The CNN in ``--cnn`` (e.g. the demo's ``models/cnn``) stays fixed, as it
does in a DVC sweep (``train_cnn`` does not depend on the RNN keys).

    python benchmarks/bench_rnn_sweep.py --records data/records --cnn models/cnn \
        [--modes images,features] [--rows 100x1,128x2] [--costs]

``--costs``: per-frame forward cost of the VGG-Face backbone at 224 px (random weights)
and of FC + RNN training on its 25,088 features per step (Table 3's 4096-unit FC, 2 x 128
GRU), the two numbers the paper-sized estimate in benchmarks/README.md is made of.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
ROWS = [(100, 1), (100, 2), (128, 1), (128, 2), (150, 1), (150, 2)]


def run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    return time.perf_counter() - t0


def sweep(args) -> None:
    base = yaml.safe_load((REPO / "params.yaml").read_text())
    rows = (
        [tuple(int(v) for v in r.split("x")) for r in args.rows.split(",")] if args.rows else ROWS
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        feats = tmp / "features"
        for mode in args.modes.split(","):
            if mode == "features":
                params = json.loads(json.dumps(base))
                params["train_rnn"]["augment"] = False
                (tmp / "p.yaml").write_text(yaml.safe_dump(params))
                s = run([sys.executable, "-m", "stages.features", "--records", args.records,
                         "--cnn", args.cnn, "--out", str(feats), "--params", str(tmp / "p.yaml")])  # fmt: skip
                print(f"features stage (once): {s:.1f} s", flush=True)
            for units, layers in rows:
                params = json.loads(json.dumps(base))
                params["model"].update(rnn="gru", rnn_units=units, rnn_layers=layers)
                if mode in ("features", "images-noaug"):
                    params["train_rnn"]["augment"] = False
                (tmp / "p.yaml").write_text(yaml.safe_dump(params))
                out = tmp / f"rnn_{mode}_{units}x{layers}"
                cmd = [sys.executable, "-m", "stages.train_rnn", "--records", args.records,
                       "--cnn", args.cnn, "--out", str(out), "--checkpoints", str(tmp / "ck"),
                       "--live", str(tmp / "live"), "--params", str(tmp / "p.yaml")]  # fmt: skip
                if mode == "features":
                    cmd += ["--features", str(feats)]
                s = run(cmd)
                meta = json.loads((out / "meta.json").read_text())
                assert bool(meta.get("features")) == (mode == "features"), meta.get("features")
                r = meta["run"]
                print(
                    f"{mode:13s} {units}x{layers}: {s:6.1f} s, epochs {r['epochs_run']}, "
                    f"best val CCC {r.get('best_val_ccc', float('nan')):.3f}",
                    flush=True,
                )


def costs(args) -> None:
    sys.path.insert(0, str(REPO))
    from pipeline.quiet import quiet_native

    quiet_native()  # before TensorFlow loads
    import keras
    import numpy as np

    from pipeline.config import ModelConfig
    from pipeline.contracts.points68 import N_VALUES
    from pipeline.models import build_backbone
    from pipeline.models.factory import rnn_top
    from pipeline.training.losses import make_loss

    keras.utils.set_random_seed(0)
    backbone = build_backbone("vgg_face", 224)
    x = np.random.default_rng(0).random((args.batch, 224, 224, 3)).astype(np.float32)
    backbone.predict_on_batch(x)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        backbone.predict_on_batch(x)
    conv = (time.perf_counter() - t0) / (args.steps * args.batch)
    print(f"VGG-Face conv forward, 224 px: {conv * 1000:.1f} ms/frame (batch {args.batch})")

    cfg = ModelConfig(backbone="vgg_face", landmarks=True, heads="joint", rnn_units=128,
                      rnn_layers=2)  # fmt: skip
    t, b = 100, 2
    feat = keras.Input((t, 25088))
    lms = keras.Input((t, N_VALUES))
    head = keras.Model([feat, lms], rnn_top(cfg, feat, lms, 2))
    head.compile("adam", make_loss("ccc"))
    rng = np.random.default_rng(0)
    f = rng.random((b, t, 25088)).astype(np.float32)
    lm = rng.random((b, t, N_VALUES)).astype(np.float32)
    y = np.concatenate([rng.random((b, t, 2)), np.ones((b, t, 1))], -1).astype(np.float32)
    head.train_on_batch([f, lm], y)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        head.train_on_batch([f, lm], y)
    rnn = (time.perf_counter() - t0) / (args.steps * b * t)
    print(f"FC(4096) + 2x128 GRU training on features: {rnn * 1000:.2f} ms/frame "
          f"(batch {b} x {t} steps)")  # fmt: skip
    print(f"per-epoch speed-up with the CNN frozen (forward only either way): "
          f"{(conv + rnn) / rnn:.1f}x")  # fmt: skip
    print(f"load: {os.getloadavg()}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", default="data/records")
    ap.add_argument("--cnn", default="models/cnn")
    ap.add_argument("--modes", default="images,features")
    ap.add_argument("--rows", default="")
    ap.add_argument("--costs", action="store_true")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    if args.costs:
        costs(args)
    else:
        print(f"load before: {os.getloadavg()}", flush=True)
        sweep(args)
        print(f"load after: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
