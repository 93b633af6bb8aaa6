"""Training one model: hardware set-up, optimiser, callbacks, resume, best-on-validation.

What :func:`fit` guarantees:

- **best on validation**: the model it returns is the epoch with the highest validation CCC
  (mean of valence and arousal), not the last one; training stops early after
  ``patience`` epochs without improvement;
- **resume**: after an interruption (killed mid-epoch), running again continues from the last
  completed epoch — weights, optimiser state, epoch counter, best-so-far, the learning
  curves (also when ``dvc repro`` has deleted the DVCLive folder) and the data order, so it
  ends with the same model file as an uninterrupted run — using a checkpoint folder that
  lives outside the stage's cached outputs. A checkpoint written for other params, other
  records or other code is discarded, never resumed;
- **hardware**: on the CPU deterministic for a seed; on a GPU mixed precision (and XLA where
  Keras finds it valid); several GPUs via ``MirroredStrategy``, with the global batch growing
  with the number of replicas.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf

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


def fingerprint(*parts) -> str:
    """A short hash of everything that defines a training run (params, records, code)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def files_stamp(folder: Path) -> list[tuple[str, int, int]]:
    """Name, size and modification time of every file under ``folder``: changes whenever a
    stage rewrites it (e.g. new records), without reading the bytes."""
    folder = Path(folder)
    return [
        (str(f.relative_to(folder)), f.stat().st_size, f.stat().st_mtime_ns)
        for f in sorted(folder.rglob("*"))
        if f.is_file()
    ]


def code_digest(root: Path | None = None) -> str:
    """A hash of the project's Python code (the ``pipeline`` and ``stages`` packages under
    ``root``, by default this checkout): a checkpoint left by other code is not resumed."""
    root = Path(root) if root else Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for f in sorted([*(root / "pipeline").rglob("*.py"), *(root / "stages").rglob("*.py")]):
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


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
    """Saves the best model so far and stops after ``patience`` epochs without improvement.

    Its state (best value, best epoch) is a file in the checkpoint folder, so a resumed run
    neither forgets its best model nor restarts its patience.
    """

    def __init__(self, folder: Path, monitor: str, patience: int):
        super().__init__()
        self.folder, self.monitor, self.patience = folder, monitor, patience
        self.state_path = folder / "best.json"
        self.model_path = folder / "best.keras"
        self.state = {"best": -math.inf, "epoch": -1, "logs": {}}
        if self.state_path.exists() and self.model_path.exists():
            self.state = json.loads(self.state_path.read_text())

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(value):
            return
        if value > self.state["best"]:
            self.model.save(self.folder / "best.tmp.keras")
            (self.folder / "best.tmp.keras").replace(self.model_path)
            self.state = {
                "best": float(value),
                "epoch": int(epoch),
                "logs": {k: float(v) for k, v in (logs or {}).items() if _is_number(v)},
            }
            self.state_path.write_text(json.dumps(self.state))
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
    Runs after :class:`KeepBest` (whose state it reads). A copy of the folder is kept in
    ``mirror`` (the checkpoint folder) for resuming."""

    def __init__(self, live, keep: KeepBest, mirror: Path):
        super().__init__()
        self.live, self.keep, self.mirror = live, keep, Path(mirror)

    def on_epoch_end(self, epoch, logs=None):
        for name, value in sorted((logs or {}).items()):
            if name == "learning_rate" or isinstance(value, int | float):
                self.live.log_metric(name, float(value))
        self.live.summary = kept_metrics(self.keep.state)  # DVCLive adds "step" (resume)
        self.live.next_step()
        # `dvc repro` deletes the DVCLive folder (a stage output) before it runs the stage
        # again: the copy in the checkpoint folder brings the curves back on resume.
        tmp = self.mirror.with_name(self.mirror.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(self.live.dir, tmp)
        shutil.rmtree(self.mirror, ignore_errors=True)
        tmp.replace(self.mirror)


class ReplayDataOrder(keras.callbacks.Callback):
    """On resume, the training data continues in the order of an uninterrupted run.

    The training dataset reshuffles on every pass, seeded: pass ``k`` has the ``k``-th order
    of that seed. A resumed run starting at epoch ``e`` (set by ``BackupAndRestore``, which
    runs before this) first opens and drops ``e`` passes, which draws the same seeds without
    reading any data, so epoch ``e`` gets the order it had in the killed run."""

    def __init__(self, dataset: tf.data.Dataset):
        super().__init__()
        self.dataset = dataset

    def on_train_begin(self, logs=None):
        for _ in range(int(getattr(self.model, "_initial_epoch", 0) or 0)):
            iter(self.dataset)


def _restore_curves(mirror: Path, live_dir: Path, completed: int) -> None:
    """The DVCLive folder as it was after ``completed`` epochs (rows of later epochs, logged
    just before a kill but not in the weights backup, are dropped: they will be re-run)."""
    live_dir = Path(live_dir)
    shutil.rmtree(live_dir, ignore_errors=True)
    if not mirror.is_dir():
        return
    shutil.copytree(mirror, live_dir)
    for tsv in live_dir.glob("plots/metrics/**/*.tsv"):
        head, *rows = tsv.read_text().splitlines()
        kept = [r for r in rows if int(r.split("\t", 1)[0]) < completed]
        tsv.write_text("\n".join([head, *kept]) + "\n")
    metrics = live_dir / "metrics.json"
    if metrics.exists():
        shown = json.loads(metrics.read_text())
        shown["step"] = completed - 1
        metrics.write_text(json.dumps(shown, indent=4) + "\n")


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
    Returns the best-on-validation model and a summary of the run.
    """
    from dvclive import Live

    checkpoint_dir = Path(checkpoint_dir)
    stamp = checkpoint_dir / "run_id"
    if checkpoint_dir.exists() and (not stamp.exists() or stamp.read_text() != run_id):
        shutil.rmtree(checkpoint_dir)  # written for other params or records: never resume it
    resuming = stamp.exists()
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(run_id)
    backup, mirror = checkpoint_dir / "backup", checkpoint_dir / "live"
    if resuming:
        done = backup / "training_metadata.json"
        completed = json.loads(done.read_text())["epoch"] if done.exists() else 0
        _restore_curves(mirror, live_dir, completed)
    elif Path(live_dir).exists():
        shutil.rmtree(live_dir)

    with strategy.scope():
        model = build()
        model.compile(optimizer=make_optimizer(cfg), loss=loss, metrics=metrics())

    # Two Keras warnings that do not apply to a finite, already-shuffled tf.data pipeline.
    warnings.filterwarnings("ignore", message=r".*`shuffle=True` was passed.*")
    warnings.filterwarnings("ignore", message=r"Your input ran out of data.*")

    monitor = MONITOR if val_ds is not None else MONITOR.removeprefix("val_")
    live = Live(dir=str(live_dir), resume=resuming, dvcyaml=False, save_dvc_exp=False)
    if log_params and not resuming:
        live.log_params(log_params)
    keep = KeepBest(checkpoint_dir, monitor, cfg.patience)
    callbacks = [
        MeanCCC(),
        keras.callbacks.BackupAndRestore(str(backup), save_freq="epoch"),
        ReplayDataOrder(train_ds),
        keep,
        LiveLog(live, keep, mirror),
    ]
    history = model.fit(
        with_mask_targets(train_ds),
        validation_data=with_mask_targets(val_ds) if val_ds is not None else None,
        epochs=cfg.epochs,
        steps_per_epoch=cfg.steps_per_epoch,
        callbacks=callbacks,
        verbose=2,
    )
    live.end()
    # DVCLive's metrics.json holds the LAST epoch; DVC must show the epoch that was kept.
    kept = kept_metrics(keep.state)
    (Path(live_dir) / "metrics.json").write_text(json.dumps(kept, indent=2) + "\n")
    best = (
        keras.saving.load_model(keep.model_path, compile=False, safe_mode=True)
        if keep.model_path.exists()
        else model
    )
    summary = {
        "epochs_run": int(len(history.history.get("loss", []))),
        "best_epoch": keep.state["epoch"],
        f"best_{monitor}": keep.state["best"],
        "kept": kept,
        "resumed": resuming,
    }
    return best, summary


def finish_checkpoint(checkpoint_dir: Path) -> None:
    """Remove the checkpoint once the stage's outputs are safely written."""
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
