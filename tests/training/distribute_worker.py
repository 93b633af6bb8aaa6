"""One training run of a few steps, in its own process (TensorFlow's devices and TF_CONFIG
are fixed per process). Used by tests/training/test_distribute*.py and
benchmarks/bench_scale.py's notes; run as::

    python -m tests.training.distribute_worker --mode mirrored --steps 4 --out r.json

Modes: ``one`` (default strategy), ``mirrored`` (MirroredStrategy over 2 logical CPUs),
``multiworker`` (MultiWorkerMirroredStrategy, ``TF_CONFIG`` from the environment).
Trainers: ``fit`` (Keras ``model.fit``) or ``custom`` (a train step run by ``strategy.run``).
Every run sees the same global batches (``GLOBAL_BATCH`` examples a step, seeded data), so
the weights after N steps can be compared across modes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

GLOBAL_BATCH = 16
SIZE = 32


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["one", "mirrored", "multiworker"], default="one")
    ap.add_argument("--trainer", choices=["fit", "custom"], default="fit")
    ap.add_argument("--kind", choices=["cnn", "cnn_rnn"], default="cnn")
    ap.add_argument("--loss", default="mse")
    ap.add_argument("--policy", default="float32")
    ap.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--jit", action="store_true")
    ap.add_argument("--no-eval", action="store_true", help="skip evaluating the initial model")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    from pipeline.quiet import quiet_native

    quiet_native()

    import tensorflow as tf

    from pipeline.training import distribute

    devices = distribute.split_cpu(2) if a.mode == "mirrored" else None
    if a.mode == "multiworker":
        strategy = distribute.multi_worker_strategy()
    else:
        strategy = distribute.local_strategy(devices)

    import keras
    import numpy as np

    from pipeline.config import ModelConfig
    from pipeline.models import create_model
    from pipeline.training.losses import make_loss, make_metrics

    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy(a.policy)
    lead = (GLOBAL_BATCH,) if a.kind == "cnn" else (GLOBAL_BATCH // 4, 4)
    n = a.steps * lead[0]
    rng = np.random.default_rng(1)
    x = {
        "image": rng.uniform(-1, 1, (n, *lead[1:], SIZE, SIZE, 3)).astype("float32"),
        "landmarks": rng.uniform(0, 1, (n, *lead[1:], 136)).astype("float32"),
    }
    v = np.tanh(3 * x["image"].mean(axis=(-3, -2, -1)))
    ar = np.tanh(4 * (x["landmarks"][..., 0] - 0.5))
    y = np.stack([v, ar, np.ones_like(v)], axis=-1).astype("float32")

    cfg = ModelConfig(backbone={"name": "small", "width": 4}, heads="joint", landmarks=True,
                      fc_units=(16,), rnn_units=8, rnn_layers=1, dropout=0.0)  # fmt: skip
    seq_len = 4 if a.kind == "cnn_rnn" else None
    with strategy.scope():
        model = create_model(cfg, SIZE, kind=a.kind, seq_len=seq_len)
        opt = keras.optimizers.SGD(a.lr) if a.optimizer == "sgd" else keras.optimizers.Adam(a.lr)
    loss_fn = make_loss(a.loss)
    replicas = strategy.num_replicas_in_sync
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(lead[0])
    with strategy.scope():
        model.compile(opt, loss_fn, metrics=make_metrics(), jit_compile=a.jit)
    initial_weights = [w.tolist() for w in model.get_weights()]
    initial_trainable = [w.numpy().tolist() for w in model.trainable_weights]
    # the initial weights evaluated by the strategy: the metrics' sums over all replicas
    initial = {} if a.no_eval else model.evaluate(ds, verbose=0, return_dict=True)
    t0 = time.perf_counter()
    if a.trainer == "fit":
        hist = model.fit(ds, epochs=1, verbose=0).history
        losses = hist["loss"]
    else:
        make = lambda: tf.data.Dataset.from_tensor_slices((x, y)).batch(lead[0])  # noqa: E731
        dataset_fn = distribute.per_replica_slices(make, lead[0])
        losses = distribute.train_steps(strategy, model, opt, loss_fn, dataset_fn)
    seconds = time.perf_counter() - t0
    pred = model.predict(x, batch_size=lead[0], verbose=0)
    metrics = make_metrics()
    for m in metrics:
        m.update_state(y, pred)
    out = {
        "mode": a.mode,
        "replicas": replicas,
        "task": os.environ.get("TF_CONFIG", ""),
        "loss": [float(v) for v in losses],
        "weights": [w.tolist() for w in model.get_weights()],
        "trainable": [w.numpy().tolist() for w in model.trainable_weights],
        "initial_weights": initial_weights,
        "initial_trainable": initial_trainable,
        "weights_sum": float(sum(float(np.abs(w).sum()) for w in model.get_weights())),
        "pred_dtype": str(pred.dtype),
        "finite": bool(np.isfinite(pred).all()),
        "metrics": {m.name: float(m.result()) for m in metrics},
        "initial": {k: float(v) for k, v in initial.items()},
        "seconds": round(seconds, 2),
        "jit_compile": bool(getattr(model, "jit_compile", False)),
        "policy": keras.mixed_precision.global_policy().name,
        "conv_dtypes": sorted(
            {x.compute_dtype for x in model._flatten_layers() if isinstance(x, keras.layers.Conv2D)}
        ),
        "variable_dtype": model.trainable_weights[0].dtype,
        "loss_dtype": str(loss_fn(y[: lead[0]], pred[: lead[0]]).dtype.name),
    }
    with open(a.out, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    sys.exit(main())
