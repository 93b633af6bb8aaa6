"""Does CPU training give the same weights on machines with another number of cores?

Trains the demo CNN for a few steps on ``data/records`` (run ``dvc repro shard`` first) in
fresh processes that see 1 or 2 cores (``taskset``; TensorFlow sizes its thread pools from
the schedulable cores, like on a machine with that many), under each candidate setting:

- default:     TensorFlow's defaults (oneDNN on, thread pools = cores)
- onednn_off:  ``TF_ENABLE_ONEDNN_OPTS=0``
- threads_1:   ``TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS=1``
- both

and prints a hash of the trained weights per run: equal hashes across core counts mean
the setting makes training independent of the machine's core count.

    python benchmarks/bench_determinism.py [--steps 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

SETTINGS = {
    "default": {},
    "onednn_off": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "threads_1": {
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    },
    "both": {
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    },
}

CHILD = r"""
import hashlib, json, sys, tempfile
from pathlib import Path
import numpy as np
from pipeline.config import load_params
from pipeline.training.run import train_stage
steps = int(sys.argv[1])
p = load_params("params.yaml")
p = p.model_copy(update={"train_cnn": p.train_cnn.model_copy(
    update={"epochs": 1, "steps_per_epoch": steps, "patience": 0})})
with tempfile.TemporaryDirectory() as d:
    d = Path(d)
    train_stage("cnn", p, Path("data/records"), d / "m", d / "c", d / "l")
    import keras
    m = keras.saving.load_model(d / "m" / "model.keras", compile=False, safe_mode=True)
    h = hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in m.get_weights())).hexdigest()
    print("HASH", h[:16])
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--cores", default="1,2", help="core counts to emulate with taskset")
    args = ap.parse_args()
    ncpu = len(os.sched_getaffinity(0))
    results = {}
    for name, extra in SETTINGS.items():
        for cores in [int(c) for c in args.cores.split(",")]:
            if cores > ncpu:
                continue
            cpus = ",".join(str(c) for c in sorted(os.sched_getaffinity(0))[:cores])
            env = {**os.environ, **extra, "CUDA_VISIBLE_DEVICES": ""}
            t0 = time.perf_counter()
            out = subprocess.run(
                ["taskset", "-c", cpus, sys.executable, "-c", CHILD, str(args.steps)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            h = [line.split()[1] for line in out.splitlines() if line.startswith("HASH")][0]
            results[(name, cores)] = h
            print(
                f"{name:>11} cores={cores}  weights {h}  {time.perf_counter() - t0:5.1f} s",
                flush=True,
            )
    print()
    for name in SETTINGS:
        hs = {results[k] for k in results if k[0] == name}
        print(f"{name:>11}: {'IDENTICAL' if len(hs) == 1 else 'DIFFERENT'} across core counts")
    print(json.dumps({f"{k[0]}@{k[1]}": v for k, v in results.items()}))


if __name__ == "__main__":
    main()
