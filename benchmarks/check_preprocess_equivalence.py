"""Check: moving the normalisation into the model left the training data the same.

Runs the records ops of an older commit (normalisation in the input pipeline, fused with the
colour augmentation) and today's (raw 0-255 crops, then the model's ``Preprocess`` layer) on
one batch of random crops with the same augmentation draws, and prints, per normalisation,
the largest difference (augmented) and whether unaugmented batches are byte-identical.

    python benchmarks/check_preprocess_equivalence.py [--old-rev 3a65ff2] [--size 96]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from pipeline.config import AugmentConfig  # noqa: E402
from pipeline.models.layers import NORMALIZATIONS, Preprocess  # noqa: E402
from pipeline.records import ops  # noqa: E402


def old_ops(rev: str):
    src = subprocess.run(["git", "show", f"{rev}:pipeline/records/ops.py"], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp()) / "old_ops.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("old_ops", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old-rev", default="3a65ff2", help="a commit before the move")
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    old = old_ops(args.old_rev)
    cfg = AugmentConfig(flip=True, shift=0.1, brightness=0.2, contrast=0.3, saturation=0.3)
    rng = np.random.default_rng(0)
    shape = (args.batch, args.size, args.size, 3)
    batch = {"image": tf.constant(rng.integers(0, 256, shape, dtype=np.uint8)),
             "landmarks": tf.constant(rng.random((args.batch, 136), dtype=np.float32))}  # fmt: skip
    seed = tf.constant([0, 7], tf.int64)
    print(f"augmentation: {cfg}")
    for m in NORMALIZATIONS:
        a = old.random_augment(batch, cfg, seed, m)["image"].numpy()
        b = Preprocess(m)(ops.random_augment(batch, cfg, seed)["image"]).numpy()
        a0 = old.normalize(old.to_float(batch["image"]), m).numpy()
        b0 = Preprocess(m)(tf.cast(batch["image"], tf.float32)).numpy()
        print(f"{m:15s} augmented: max |old - new| = {np.abs(a - b).max():.3g} "
              f"(|values| up to {np.abs(a).max():.3g}); not augmented: byte-identical "
              f"{np.array_equal(a0, b0)}")  # fmt: skip


if __name__ == "__main__":
    main()
