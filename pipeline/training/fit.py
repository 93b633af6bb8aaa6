"""Training one model: hardware set-up, optimiser, callbacks, resume, best-on-validation.

What :func:`fit` guarantees:

- **best on validation**: the model it returns is the epoch with the highest validation CCC
  (mean of valence and arousal), not the last one; training stops early after
  ``patience`` epochs without improvement;
- **resume**: after an interruption (killed anywhere, even mid-commit), running again
  continues from the last committed epoch and ends with the same model file and learning
  curves as an uninterrupted run. Everything a resumed run reads — weights, optimiser state
  and learning-rate step, the dropout layers' RNG state, the data order, epoch counter,
  best-so-far and early stop, the DVCLive folder (``dvc repro`` deletes it before it runs
  the stage again) — is committed at once after every epoch, as one version of a checkpoint
  folder outside the stage's cached outputs (:mod:`pipeline.training.checkpoints`). A
  checkpoint written for other params, other records or other code is discarded, never
  resumed;
- **hardware**: on the CPU deterministic for a seed; on a GPU mixed precision (and XLA where
  Keras finds it valid); several GPUs via ``MirroredStrategy``, with the global batch growing
  with the number of replicas.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf

from pipeline.training import checkpoints as ckpt

MONITOR = "val_ccc"


def setup_hardware(
    mixed_precision: str, seed: int, devices: list[str] | None = None
) -> tf.distribute.Strategy:
    """Seeds, determinism, precision policy and distribution strategy for this machine.

    With a ``TF_CONFIG`` of several workers the strategy is ``MultiWorkerMirroredStrategy``
    (created first: it must precede every TensorFlow op); otherwise ``MirroredStrategy`` over
    ``devices`` (default: every GPU) when there are several, else the default strategy."""
    from pipeline.training import distribute

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    multi = distribute.multi_worker_strategy() if distribute.in_multi_worker_cluster() else None
    keras.utils.set_random_seed(seed)
    if not gpus:
        # Bit-for-bit repeatable CPU runs (Keras then keeps XLA off, which is no loss on CPU).
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(
        distribute.precision_policy(mixed_precision, bool(gpus))
    )
    return multi or distribute.local_strategy(devices)


def make_optimizer(cfg) -> keras.optimizers.Optimizer:
    """Adam (AdamW with ``weight_decay``) on the exponentially decaying learning rate."""
    schedule = keras.optimizers.schedules.ExponentialDecay(
        cfg.learning_rate, cfg.decay_steps, cfg.decay_rate, staircase=True
    )
    if cfg.weight_decay > 0:
        return keras.optimizers.AdamW(schedule, weight_decay=cfg.weight_decay)
    return keras.optimizers.Adam(schedule)


def files_stamp(folder: Path) -> list[tuple[str, int, int]]:
    """Name, size and modification time of every file under ``folder``: changes whenever a
    stage rewrites it (e.g. new records), without reading the bytes."""
    folder = Path(folder)
    return [
        (str(f.relative_to(folder)), f.stat().st_size, f.stat().st_mtime_ns)
        for f in sorted(folder.rglob("*"))
        if f.is_file()
    ]


class MeanCCC(keras.callbacks.Callback):
    """Adds ``ccc`` / ``val_ccc``: the mean of the valence and arousal CCCs of the epoch."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for prefix in ("", "val_"):
            v, a = logs.get(f"{prefix}ccc_valence"), logs.get(f"{prefix}ccc_arousal")
            if v is not None and a is not None:
                logs[f"{prefix}ccc"] = (float(v) + float(a)) / 2


class KeepBest(keras.callbacks.Callback):
    """Tracks the best epoch so far (``improved``: the epoch just ended is it) and stops
    after ``patience`` epochs without improvement. Its state (best value, best epoch and
    its logs) is committed with every epoch (:class:`EpochCommit`), so a resumed run
    neither forgets its best model nor restarts its patience."""

    def __init__(self, monitor: str, patience: int, state: dict | None = None):
        super().__init__()
        self.monitor, self.patience = monitor, patience
        self.state = state or {"best": -math.inf, "epoch": -1, "logs": {}}
        self.improved = False

    def on_epoch_end(self, epoch, logs=None):
        self.improved = False
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(value):
            return
        if value > self.state["best"]:
            self.improved = True
            self.state = {
                "best": float(value),
                "epoch": int(epoch),
                "logs": {k: float(v) for k, v in (logs or {}).items() if _is_number(v)},
            }
        elif self.patience and epoch - self.state["epoch"] >= self.patience:
            self.model.stop_training = True


def _is_number(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


KEPT_KEYS = ("ccc_valence", "ccc_arousal", "ccc", "mse_valence", "mse_arousal")


def kept_metrics(state: dict) -> dict:
    """What DVC shows for a training stage: the KEPT (best-on-validation) epoch's
    validation numbers under the same flat names as the ``evaluate`` metrics (``ccc`` →
    ``ccc_mean``), so ``dvc metrics show`` stays one narrow CCC/MSE table. Without a
    validation split they are the training numbers of the kept epoch."""
    logs = state.get("logs") or {}
    prefix = "val_" if any(k.startswith("val_") for k in logs) else ""
    out = {"epoch": int(state.get("epoch", -1))}
    for key in KEPT_KEYS:
        if f"{prefix}{key}" in logs:
            out["ccc_mean" if key == "ccc" else key] = round(logs[f"{prefix}{key}"], 4)
    return out


class LiveLog(keras.callbacks.Callback):
    """Per-epoch metrics into DVCLive: every epoch in the learning curves (``plots/``), and
    in ``metrics.json`` (what ``dvc metrics show`` / ``dvc exp show`` read) the kept epoch
    so far — never the last epoch's numbers, also while training runs or after a kill.
    Runs after :class:`KeepBest` (whose state it reads)."""

    def __init__(self, live, keep: KeepBest):
        super().__init__()
        self.live, self.keep = live, keep

    def on_epoch_end(self, epoch, logs=None):
        for name, value in sorted((logs or {}).items()):
            if name == "learning_rate" or isinstance(value, int | float):
                self.live.log_metric(name, float(value))
        self.live.summary = kept_metrics(self.keep.state)  # DVCLive adds "step"
        self.live.next_step()


VARIABLES_FILE = "variables.npz"  # every model and optimiser variable (weights, RNG, lr step)
BEST_FILE = "best.keras"  # the best model so far
LIVE_FOLDER = "live"  # the DVCLive folder as it was after the epoch
STATE_FILE = "state.json"  # epochs done, best so far, stopped early, data order


def save_variables(model: keras.Model, path: Path) -> None:
    """Every variable training reads: the model's (weights, batch-norm statistics, the
    dropout layers' seed-generator states) and the optimiser's (moments, iteration count,
    which is the learning-rate schedule's step)."""
    import numpy as np

    values = [*model.variables, *model.optimizer.variables]
    with open(path, "wb") as f:
        np.savez(f, *[np.asarray(v.numpy()) for v in values])


def load_variables(model: keras.Model, path: Path) -> None:
    """The inverse of :func:`save_variables` (the model compiled, in its strategy's scope)."""
    import numpy as np

    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    targets = [*model.variables, *model.optimizer.variables]
    with np.load(path) as saved:
        if len(saved.files) != len(targets):
            raise ValueError(f"{path}: {len(saved.files)} variables, the model has {len(targets)}")
        for k, v in enumerate(targets):
            v.assign(saved[f"arr_{k}"])


class EpochCommit(keras.callbacks.Callback):
    """Commits the whole training state after every epoch, at once (one version of the
    :class:`~pipeline.training.checkpoints.Store`): variables, the best model so far, the
    DVCLive folder, and the epoch count, best-so-far, early stop and data order. Runs last
    (after :class:`KeepBest` and :class:`LiveLog`)."""

    def __init__(self, store, keep: KeepBest, live_dir: Path, order: Callable[[int], dict]):
        super().__init__()
        self.store, self.keep, self.live_dir = store, keep, Path(live_dir)
        self.order = order  # epochs done -> the data order (:func:`data_order`)

    def on_epoch_end(self, epoch, logs=None):
        previous = self.store.latest()
        state = {
            "epochs": epoch + 1,
            "best": self.keep.state,
            "stopped": bool(self.model.stop_training),
            "data": self.order(epoch + 1),
        }

        def write(folder: Path) -> None:
            ckpt.fault_point("epoch:variables")
            save_variables(self.model, folder / VARIABLES_FILE)
            ckpt.fault_point("epoch:best-model")
            if self.keep.improved:
                self.model.save(folder / BEST_FILE)
            elif previous is not None and (previous / BEST_FILE).exists():
                _link_or_copy(previous / BEST_FILE, folder / BEST_FILE)
            ckpt.fault_point("epoch:curves")
            shutil.copytree(self.live_dir, folder / LIVE_FOLDER)
            ckpt.fault_point("epoch:state")
            ckpt.write_json(folder / STATE_FILE, state)

        self.store.commit(f"epoch-{epoch + 1:04d}", write)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def data_order(epochs_done: int, steps_per_epoch: int | None, passes_per_epoch: int = 1) -> dict:
    """Where the training data stream stands after ``epochs_done`` epochs. The training
    dataset reshuffles on every pass, seeded: the ``k``-th iterator opened on it has the
    ``k``-th order of that seed. With ``steps_per_epoch``, one endless stream runs through
    all epochs; without it Keras opens ``passes_per_epoch`` iterators an epoch
    (:func:`passes_per_epoch`)."""
    if steps_per_epoch:
        return {"passes": 0, "batches": epochs_done * steps_per_epoch}
    return {"passes": epochs_done * passes_per_epoch, "batches": 0}


def passes_per_epoch(dataset: tf.data.Dataset) -> int:
    """Iterators Keras (3.15, the pinned version) opens on a training dataset per epoch
    without ``steps_per_epoch``: one when the dataset's length is unknown (the records,
    read from TFRecord files); two when it is known (the cached features: at the end of
    an epoch it opens one for the next, and the next epoch opens another at its start).
    The kill test (``tests/training/test_kill_anywhere.py``) checks both."""
    return 2 if int(dataset.cardinality()) > 0 else 1


def replay_data_order(dataset: tf.data.Dataset, order: dict) -> tf.data.Dataset:
    """The training dataset continuing where ``order`` (:func:`data_order`) stands: opening
    and dropping ``passes`` iterators draws the shuffle seeds of those passes without
    reading data; ``batches`` are skipped in the endless stream."""
    for _ in range(int(order.get("passes", 0))):
        iter(dataset)
    if order.get("batches"):
        dataset = dataset.skip(int(order["batches"]))
    return dataset


def _restore_live(committed: Path | None, live_dir: Path) -> None:
    """The DVCLive folder as committed with the epoch resumed from (``dvc repro`` deletes
    the stage's outputs before running it; rows logged after the commit are dropped)."""
    live_dir = Path(live_dir)
    if live_dir.exists():
        shutil.rmtree(live_dir)
    if committed is not None:
        shutil.copytree(committed / LIVE_FOLDER, live_dir)


def with_mask_targets(ds: tf.data.Dataset) -> tf.data.Dataset:
    """(x, y, w) → (x, y') with y' = (valence, arousal, mask): the losses and metrics read
    the mask from the targets (a CCC needs it inside the batch statistics, not as a
    per-sample weight)."""
    return ds.map(
        lambda x, y, w: (x, tf.concat([y, tf.expand_dims(w, -1)], axis=-1)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def fit(
    build: Callable[[], keras.Model],
    train_ds: tf.data.Dataset,
    val_ds: tf.data.Dataset | None,
    cfg,
    *,
    strategy: tf.distribute.Strategy,
    checkpoint_dir: Path,
    live_dir: Path,
    run_id: str,
    loss,
    metrics: Callable[[], list],
    log_params: dict | None = None,
) -> tuple[keras.Model, dict]:
    """Train the model ``build()`` returns (called inside the strategy's scope).

    ``run_id`` (see :func:`fingerprint`) decides whether ``checkpoint_dir`` may be resumed.
    Returns the best-on-validation model and a summary of the run (the same whether or not
    the run was resumed on the way).
    """
    store = ckpt.Store(checkpoint_dir, run_id)
    committed = store.open()
    state = json.loads((committed / STATE_FILE).read_text()) if committed else {}
    done = int(state.get("epochs", 0))
    _restore_live(committed, live_dir)
    model = _compiled(build, strategy, cfg, loss, metrics, committed)
    if committed is not None:
        print(f"resumed from {committed} ({done} of {cfg.epochs} epochs done)", flush=True)
        train_ds = replay_data_order(train_ds, state["data"])

    # Two Keras warnings that do not apply to a finite, already-shuffled tf.data pipeline.
    warnings.filterwarnings("ignore", message=r".*`shuffle=True` was passed.*")
    warnings.filterwarnings("ignore", message=r"Your input ran out of data.*")

    monitor = MONITOR if val_ds is not None else MONITOR.removeprefix("val_")
    live = _open_live(live_dir, committed is not None, done, log_params)
    keep = KeepBest(monitor, cfg.patience, state.get("best"))
    per_epoch = passes_per_epoch(train_ds)

    def order(epochs_done: int) -> dict:
        return data_order(epochs_done, cfg.steps_per_epoch, per_epoch)

    callbacks = [MeanCCC(), keep, LiveLog(live, keep),
                 EpochCommit(store, keep, live_dir, order)]  # fmt: skip
    if done < cfg.epochs and not state.get("stopped"):
        model.fit(
            with_mask_targets(train_ds),
            validation_data=with_mask_targets(val_ds) if val_ds is not None else None,
            epochs=cfg.epochs,
            initial_epoch=done,
            steps_per_epoch=cfg.steps_per_epoch,
            callbacks=callbacks,
            verbose=2,
        )
    live.end()
    return _kept(store, keep, monitor, live_dir, model)


def _compiled(build, strategy, cfg, loss, metrics, committed: Path | None) -> keras.Model:
    """The model built and compiled in the strategy's scope, with the committed epoch's
    variables (weights, optimiser state, RNG state) where a run is resumed."""
    with strategy.scope():
        model = build()
        model.compile(optimizer=make_optimizer(cfg), loss=loss, metrics=metrics())
        if committed is not None:
            load_variables(model, committed / VARIABLES_FILE)
    return model


def _open_live(live_dir: Path, resumed: bool, done: int, log_params: dict | None):
    """The run's DVCLive log, continued at step ``done`` where the run is resumed."""
    from dvclive import Live

    live = Live(dir=str(live_dir), resume=resumed, dvcyaml=False, save_dvc_exp=False)
    live.step = done  # DVCLive's own resume reads step 0 as "nothing logged yet"
    if log_params and not resumed:
        live.log_params(log_params)
    return live


def _kept(store, keep: KeepBest, monitor: str, live_dir: Path, model) -> tuple[keras.Model, dict]:
    """The best-on-validation model and the run's summary; DVCLive's metrics.json holds the
    LAST epoch, so it is rewritten with the epoch that was kept (what DVC must show)."""
    kept = kept_metrics(keep.state)
    (Path(live_dir) / "metrics.json").write_text(json.dumps(kept, indent=2) + "\n")
    final = store.latest()
    best_file = final / BEST_FILE
    best = (
        keras.saving.load_model(best_file, compile=False, safe_mode=True)
        if best_file.exists()
        else model
    )
    summary = {
        "epochs_run": int(json.loads((final / STATE_FILE).read_text())["epochs"]),
        "best_epoch": keep.state["epoch"],
        f"best_{monitor}": keep.state["best"],
        "kept": kept,
    }
    return best, summary


def finish_checkpoint(checkpoint_dir: Path) -> None:
    """Remove the checkpoint once the stage's outputs are safely written."""
    ckpt.remove(checkpoint_dir)
