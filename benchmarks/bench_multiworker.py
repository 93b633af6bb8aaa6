"""Benchmark: the ``train_cnn`` stage's multi-worker loop on 1 vs 2 worker processes on
this machine (``TF_CONFIG`` with two localhost ports), steps/s and frames/s.

Each run is the real stage (``python -m stages.train_cnn``; the one-worker run goes through
``tests/training/stage_worker.py`` to use the same custom loop without ``TF_CONFIG``) with
``params.yaml`` plus ``train_cnn.epochs=1``, ``steps_per_epoch=--steps``; the rate is the
loop's own (``meta.json: run.steps_per_second``, training steps only, the first, compiling
step included). ``train_cnn.batch_size`` is per replica, so two workers take twice the
frames a step.

    python benchmarks/bench_multiworker.py --records data/records [--steps 20]

On one machine the two workers share its cores (and talk over localhost): this measures
that the path runs and what it costs, not the speed-up of two real machines.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))  # the worker quiets native logs
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", default="data/records")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    params = yaml.safe_load(Path(a.params).read_text())
    params["train_cnn"].update(epochs=1, steps_per_epoch=a.steps, patience=0)
    batch = params["train_cnn"]["batch_size"]
    print(f"load before: {os.getloadavg()}; batch {batch} per replica, {a.steps} steps")
    print("| workers | frames/step | steps/s | frames/s | wall s (imports, start-up incl.) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "params.yaml").write_text(yaml.safe_dump(params))
        common = ["--records", a.records, "--params", str(tmp / "params.yaml")]

        t0 = time.perf_counter()
        r = subprocess.run(
            [sys.executable, "-m", "tests.training.stage_worker", "--devices", "1", *common,
             "--out", str(tmp / "one" / "cnn"), "--live", str(tmp / "one" / "live")],
            cwd=REPO, env=_env(), capture_output=True, text=True,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        if r.returncode:
            sys.exit(r.stderr[-3000:])
        run = json.loads(r.stdout.strip().splitlines()[-1])
        sps = run["steps_per_second"]
        print(f"| 1 | {batch} | {sps:.2f} | {sps * batch:.0f} | {wall:.0f} |")

        hosts = [f"localhost:{_port()}", f"localhost:{_port()}"]
        t0 = time.perf_counter()
        procs = []
        for i in range(2):
            tf_config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}}
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "stages.train_cnn",
                        *common,
                        "--out",
                        str(tmp / "two" / "cnn"),
                        "--checkpoints",
                        str(tmp / "ck"),
                        "--live",
                        str(tmp / "two" / "live"),
                    ],
                    cwd=REPO,
                    env=_env(TF_CONFIG=json.dumps(tf_config)),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )  # fmt: skip
            )
        outs = [p.communicate() for p in procs]
        wall = time.perf_counter() - t0
        for p, (_, err) in zip(procs, outs, strict=True):
            if p.returncode:
                sys.exit(err[-3000:])
        meta = json.loads((tmp / "two" / "cnn" / "meta.json").read_text())
        sps = meta["run"]["steps_per_second"]
        print(f"| 2 | {2 * batch} | {sps:.2f} | {sps * 2 * batch:.0f} | {wall:.0f} |")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
