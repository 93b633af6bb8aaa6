"""The train stage's pipeline function in a process of its own, on local devices: the
custom (multi-worker) loop over ``--devices`` logical CPUs, for comparison with a
multi-worker run (``tests/training/test_multiworker_stage.py``)::

    python -m tests.training.stage_worker --devices 2 --records R --out M --live L --params P
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=1)
    ap.add_argument("--kind", default="cnn")
    ap.add_argument("--records", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--live", required=True)
    ap.add_argument("--params", required=True)
    a = ap.parse_args(argv)
    from pipeline.quiet import quiet_native

    quiet_native()
    os.environ.pop("TF_CONFIG", None)
    from pipeline.training.threads import single_threaded_ops

    single_threaded_ops()  # as the train stages do, before TensorFlow is imported

    from pipeline.training import distribute

    devices = distribute.split_cpu(a.devices) if a.devices > 1 else None
    from pipeline.config import load_params
    from pipeline.training.run import train_stage

    meta = train_stage(
        a.kind,
        load_params(a.params),
        Path(a.records),
        Path(a.out),
        Path(a.out).with_name("unused-checkpoints"),
        Path(a.live),
        loop="custom",
        devices=devices,
    )
    print(json.dumps(meta.run.model_dump(mode="json")))


if __name__ == "__main__":
    main()
