"""Training on several machines: a custom loop under ``MultiWorkerMirroredStrategy``.

Keras 3's ``model.fit`` fails under that strategy with the pinned TensorFlow 2.19 / Keras
3.15 (keras-team/keras#20585), so with a multi-worker ``TF_CONFIG`` the train stages use
this loop instead of :func:`pipeline.training.fit.fit`. It keeps fit's semantics where they
matter and says where it differs:

- the **same** model, loss (``AffectLoss``, divided by the replicas), optimiser and
  learning-rate schedule (:func:`~pipeline.training.fit.make_optimizer`), seed and precision
  policy (with ``mixed_float16`` a loss-scale optimiser, as ``compile`` adds);
- **data**: each worker decodes only its share of every global step's batches
  (:func:`pipeline.records.reader.make_worker_dataset`); an epoch is ``steps_per_epoch``
  steps, or the training records over the global batch (``train_*.batch_size`` x replicas);
- **validation** after every epoch, with the project's CCC / MSE metrics: each worker takes
  every ``workers``-th validation batch, the metrics' sums are added over the workers (one
  all-reduce), so every worker computes the same ``val_ccc`` over the whole validation split;
- **batch-norm moving statistics**, kept per replica while training, are averaged over
  all replicas after every epoch (so all workers hold the same model);
- **best on validation** kept (in memory; every worker agrees on it, see above) and early
  stopping after ``patience`` epochs without improvement;
- **no resume**: a multi-worker run starts from epoch 1 (it neither reads nor writes the
  checkpoint folder);
- only the **chief** (worker 0) writes: the caller has it alone write the model folder,
  and it alone opens a DVCLive log (the others create none, so nothing of DVCLive's, such
  as its step signal file, is shared between workers); the metrics logged per epoch are
  ``loss``, ``ccc*`` / ``mse*`` on the training batches (the sums over the epoch), the same
  on the validation split (``val_``) and ``learning_rate`` (no ``val_loss``).
"""

from __future__ import annotations

import hashlib
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from pipeline.training.fit import MONITOR, make_optimizer


def _sums(metrics, y, pred):
    return tf.concat([m.batch_sums(y, pred) for m in metrics], axis=0)


def _results(metrics, sums: np.ndarray, prefix: str = "") -> dict[str, float]:
    out, at = {}, 0
    for m in metrics:
        n = len(m.SUMS)
        m.assign_sums(sums[at : at + n])
        out[prefix + m.name] = float(m.result())
        at += n
    v, a = out.get(f"{prefix}ccc_valence"), out.get(f"{prefix}ccc_arousal")
    if v is not None and a is not None:
        out[f"{prefix}ccc"] = (v + a) / 2
    return out


@dataclass
class _Loop:
    """What every epoch of one worker uses: the model and optimiser (made in the strategy's
    scope), the metrics and the compiled steps."""

    strategy: tf.distribute.Strategy
    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    train_metrics: list
    val_metrics: list
    position: tuple[int, int]  # (workers, this worker's index)
    # next batch of every replica -> (loss, metric sums), summed over the replicas
    train_step: Callable
    # batch-norm moving statistics := their mean over the replicas
    sync_stats: Callable[[], None]
    # one validation batch -> this worker's metric sums
    val_sums: Callable
    # every worker's validation sums -> their total (an all-reduce)
    all_workers_sum: Callable


@dataclass
class _Best:
    """The best epoch so far on ``monitor``, its weights, and when to stop early."""

    monitor: str
    value: float = -math.inf
    epoch: int = -1
    weights: list | None = None

    def stop_after(self, epoch: int, logs: dict[str, float], model, patience: int) -> bool:
        """Keep ``model``'s weights if ``epoch`` is the best; True when training should stop
        (``patience`` epochs without improvement; 0: never)."""
        value = logs.get(self.monitor)
        if value is not None and math.isfinite(value) and value > self.value:
            self.value, self.epoch, self.weights = value, epoch, model.get_weights()
            return False
        return bool(patience) and epoch - self.epoch >= patience


def fit_custom(
    build: Callable[[], keras.Model],
    make_train: Callable[[int, int, int], tf.data.Dataset],
    make_val: Callable[[int, int], tf.data.Dataset] | None,
    cfg,
    *,
    strategy: tf.distribute.Strategy,
    steps_per_epoch: int,
    position: tuple[int, int],
    live_dir: Path | None,
    loss,
    metrics: Callable[[], list],
    log_params: dict | None = None,
) -> tuple[keras.Model, dict]:
    """Train ``build()`` (called in the strategy's scope) for ``cfg.epochs`` epochs.

    ``make_train(workers, worker, replicas)``: this worker's endless stream of per-replica
    ``(x, y)`` batches (targets with the mask); ``make_val(workers, worker)``: this worker's
    validation batches, or None; ``position``: (workers, this worker's index); ``live_dir``:
    the DVCLive folder, None on every worker but the chief (they log nothing). Returns the
    best-on-validation model (the weights, identical on every worker) and a run summary.
    """
    loop = _make_loop(build, cfg, strategy, position, loss, metrics)
    batches = _train_batches(strategy, make_train)
    live = _open_live(live_dir, log_params)
    best = _Best(MONITOR if make_val is not None else MONITOR.removeprefix("val_"))
    epochs_run, seconds = 0, 0.0
    for epoch in range(cfg.epochs):
        logs, took = _train_epoch(loop, batches, steps_per_epoch)
        seconds += took
        if make_val is not None:
            logs.update(_validate(loop, make_val))
        logs["learning_rate"] = float(loop.optimizer.learning_rate)
        epochs_run += 1
        _log_epoch(live, epoch, cfg.epochs, steps_per_epoch, logs)
        if best.stop_after(epoch, logs, loop.model, cfg.patience):
            break
    if live is not None:
        live.end()
    if best.weights is not None:
        with strategy.scope():
            loop.model.set_weights(best.weights)
    return loop.model, {
        "epochs_run": epochs_run,
        "best_epoch": best.epoch,
        f"best_{best.monitor}": best.value,
        "workers": position[0],
        "steps_per_epoch": steps_per_epoch,
        "steps_per_second": round(epochs_run * steps_per_epoch / max(seconds, 1e-9), 3),
        # the same on every worker: they trained in sync
        "weights_sha256": _weights_digest(loop.model),
    }


def _make_loop(build, cfg, strategy, position, loss, metrics) -> _Loop:
    """The model, its optimiser (a loss-scale one under ``mixed_float16``, as ``compile``
    makes) and the compiled steps."""
    with strategy.scope():
        model = build()
        optimizer = make_optimizer(cfg)
        if keras.mixed_precision.global_policy().name == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(model.trainable_variables)
    train_metrics, val_metrics = metrics(), metrics()
    local = strategy.num_replicas_in_sync // position[0]  # replicas of this worker

    @tf.function
    def val_sums(x, y):
        return _sums(val_metrics, y, model(x, training=False))

    @tf.function
    def all_workers_sum(local_sums):
        per_replica = strategy.run(lambda t: tf.identity(t), args=(local_sums,))
        return strategy.reduce("SUM", per_replica, axis=None) / local

    return _Loop(
        strategy=strategy,
        model=model,
        optimizer=optimizer,
        train_metrics=train_metrics,
        val_metrics=val_metrics,
        position=position,
        train_step=_train_step(strategy, model, optimizer, loss, train_metrics),
        sync_stats=_stats_sync(strategy, model),
        val_sums=val_sums,
        all_workers_sum=all_workers_sum,
    )


def _train_step(strategy, model, optimizer, loss, metrics) -> Callable:
    weights = model.trainable_variables

    @tf.function
    def train_step(iterator):
        def replica(x, y):
            with tf.GradientTape() as tape:
                pred = model(x, training=True)
                value = loss(y, pred)  # already divided by the replicas
                scaled = optimizer.scale_loss(value)
            grads = tape.gradient(scaled, weights)
            optimizer.apply_gradients(zip(grads, weights, strict=True))
            return value, _sums(metrics, y, pred)

        value, sums = strategy.run(replica, args=next(iterator))
        return (
            strategy.reduce("SUM", value, axis=None),
            strategy.reduce("SUM", sums, axis=None),
        )

    return train_step


def _stats_sync(strategy, model) -> Callable[[], None]:
    """Batch-norm moving statistics are updated by each replica from its own batches and not
    aggregated (Keras: aggregation "none"): every worker would end with its own. Their mean
    over the replicas, after each epoch, makes them one (a better estimate, too)."""
    stats = [v for v in model.non_trainable_variables if v.dtype.startswith("float")]

    @tf.function
    def replica_mean_stats():
        per_replica = strategy.run(lambda: [tf.identity(v.value) for v in stats])
        return [strategy.reduce("MEAN", t, axis=None) for t in per_replica]

    def sync_stats() -> None:
        if stats and strategy.num_replicas_in_sync > 1:
            means = replica_mean_stats()
            with strategy.scope():
                for v, m in zip(stats, means, strict=True):
                    v.assign(m)

    return sync_stats


def _train_batches(strategy, make_train):
    """One iterator over every replica's training batches (each worker reads its share)."""

    def dataset_fn(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        k = ctx.num_replicas_in_sync // ctx.num_input_pipelines
        return make_train(ctx.num_input_pipelines, ctx.input_pipeline_id, k)

    return iter(strategy.distribute_datasets_from_function(dataset_fn))


def _open_live(live_dir: Path | None, log_params: dict | None):
    from dvclive import Live

    if live_dir is None:
        return None
    if Path(live_dir).exists():
        shutil.rmtree(live_dir)
    live = Live(dir=str(live_dir), resume=False, dvcyaml=False, save_dvc_exp=False)
    if log_params:
        live.log_params(log_params)
    return live


def _train_epoch(loop: _Loop, batches, steps: int) -> tuple[dict[str, float], float]:
    """``steps`` training steps, then the statistics synchronised: the epoch's mean loss and
    metrics over its batches, and the seconds the steps took."""
    t0 = time.perf_counter()
    losses, total = [], None
    for _ in range(steps):
        value, sums = loop.train_step(batches)
        losses.append(float(value))
        total = sums.numpy() if total is None else total + sums.numpy()
    seconds = time.perf_counter() - t0  # training steps only
    loop.sync_stats()
    return {"loss": float(np.mean(losses)), **_results(loop.train_metrics, total)}, seconds


def _validate(loop: _Loop, make_val) -> dict[str, float]:
    """The ``val_`` metrics over the whole validation split: each worker sums its share, the
    sums are added over the workers, so every worker gets the same numbers."""
    workers, worker = loop.position
    mine = None
    for x, y in make_val(workers, worker):
        s = loop.val_sums(x, y).numpy()
        mine = s if mine is None else mine + s
    if mine is None:  # fewer validation batches than workers
        mine = np.zeros(sum(len(m.SUMS) for m in loop.val_metrics))
    everyone = loop.all_workers_sum(tf.constant(mine, tf.float64)).numpy()
    return _results(loop.val_metrics, everyone, "val_")


def _log_epoch(live, epoch: int, epochs: int, steps: int, logs: dict[str, float]) -> None:
    print(
        f"Epoch {epoch + 1}/{epochs} - {steps} steps - "
        + " - ".join(f"{k}: {v:.4f}" for k, v in sorted(logs.items())),
        flush=True,
    )
    if live is None:
        return
    for name, value in sorted(logs.items()):
        live.log_metric(name, value)
    live.log_metric("epoch", epoch, plot=False)
    live.next_step()


def _weights_digest(model: keras.Model) -> str:
    digest = hashlib.sha256()
    for w in model.get_weights():
        digest.update(np.ascontiguousarray(w).tobytes())
    return digest.hexdigest()[:16]
