"""The ``train_cnn`` / ``train_rnn`` stages' core: records → a trained, self-describing model.

A trained model folder holds ``model.keras`` and ``meta.json``
(:class:`pipeline.artifacts.ModelMeta`): everything needed to use it later without the params
(crop size, normalisation, landmarks, sequence length, face params), which is what
``affwild predict`` and ``evaluate`` read (:func:`pipeline.models.saved.load_model`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from pipeline.artifacts import MODEL_FILE, FaceParams, ModelMeta, RecordsSummary
from pipeline.config import Params, TrainConfig
from pipeline.errors import InputError
from pipeline.io import atomic_dir
from pipeline.models.saved import load_model, save_model
from pipeline.records.reader import load_summary, make_dataset, make_worker_dataset, shard_files
from pipeline.training import checkpoints as ckpt
from pipeline.training import distribute
from pipeline.training import fit as fitting


def with_train_seed(params: Params, seed: int | None) -> Params:
    """``params`` with both training seeds set to ``seed`` (None: unchanged). The seed runs
    (``seeds/dvc.yaml``) train the same configuration under other seeds this way; the data
    (records, balancing, split) stay those of ``params.yaml``."""
    if seed is None:
        return params
    return params.model_copy(
        update={
            "train_cnn": params.train_cnn.model_copy(update={"seed": seed}),
            "train_rnn": params.train_rnn.model_copy(update={"seed": seed}),
        }
    )


def training_label_mean(records_dir: Path) -> list[float]:
    """Mean (valence, arousal) over the training split's labelled frames, each frame once
    (read from the sequence records, which are not balanced; overlapping training
    sequences repeat frames, so frames are de-duplicated by video and index). Stored in the
    model's meta: the prediction ``evaluate`` gives a frame that has no face and no nearby
    prediction, without ever looking at test data."""
    import numpy as np
    import tensorflow as tf

    from pipeline.records.schema import sequence_features

    seq_len = load_summary(records_dir).seq_len
    spec = {
        k: v
        for k, v in sequence_features(seq_len).items()
        if k in ("valence", "arousal", "mask", "frame", "video_id")
    }
    files = [str(f) for f in shard_files(records_dir, "train", "sequences")]
    seen: dict[tuple[bytes, int], tuple[float, float]] = {}
    for batch in tf.data.TFRecordDataset(files).batch(1024):
        ex = {k: v.numpy() for k, v in tf.io.parse_example(batch, spec).items()}
        for i, vid in enumerate(ex["video_id"]):
            for f, m, v, a in zip(
                ex["frame"][i], ex["mask"][i], ex["valence"][i], ex["arousal"][i], strict=True
            ):
                if m and f >= 0:
                    seen[(vid, int(f))] = (float(v), float(a))
    if not seen:
        raise InputError(f"{records_dir}: no labelled training frame in the sequence records")
    mean = np.mean(np.array(list(seen.values())), axis=0)
    return [round(float(mean[0]), 6), round(float(mean[1]), 6)]


def _records_meta(records_dir: Path) -> RecordsSummary:
    summary = load_summary(records_dir)
    if not summary.crop_size:
        raise InputError(
            f"{records_dir}/{RecordsSummary.FILE}: no crop_size (re-run the shard stage)"
        )
    return summary


def datasets(cfg, augment, records_dir: Path, kind: str, image_size: int, batch_size: int):
    """Training and validation pipelines for a model kind ("cnn" frames, "cnn_rnn" sequences);
    ``cfg`` is its training section, ``batch_size`` the global batch."""
    records_kind = "frames" if kind == "cnn" else "sequences"
    summary = load_summary(records_dir)
    common = dict(seq_len=summary.seq_len, image_size=image_size)
    train = make_dataset(
        shard_files(records_dir, "train", records_kind),
        records_kind,
        batch_size=batch_size,
        training=True,
        augment=augment if cfg.augment else None,
        seed=cfg.seed,
        **common,
    )
    if cfg.steps_per_epoch:
        train = train.repeat()
    val = None
    if summary.n_records("val", records_kind):
        val = make_dataset(
            shard_files(records_dir, "val", records_kind),
            records_kind,
            batch_size=batch_size,
            training=False,
            **common,
        )
    return train, val


def worker_datasets(cfg, augment, records_dir: Path, kind: str, image_size: int):
    """The multi-worker loop's input (:mod:`pipeline.training.multiworker`): functions that
    make one worker's training stream and validation batches, the targets with their mask;
    and the number of training records."""
    records_kind = "frames" if kind == "cnn" else "sequences"
    summary = load_summary(records_dir)
    common = dict(seq_len=summary.seq_len, image_size=image_size)
    train_files = shard_files(records_dir, "train", records_kind)
    n_train = summary.n_records("train", records_kind)

    def make_train(workers: int, worker: int, replicas: int):
        ds = make_worker_dataset(
            train_files,
            records_kind,
            batch_size=cfg.batch_size,
            training=True,
            workers=workers,
            worker=worker,
            replicas=replicas,
            augment=augment if cfg.augment else None,
            seed=cfg.seed,
            **common,
        )
        return fitting.with_mask_targets(ds)

    make_val = None
    if summary.n_records("val", records_kind):
        val_files = shard_files(records_dir, "val", records_kind)

        def make_val(workers: int, worker: int):
            ds = make_worker_dataset(
                val_files,
                records_kind,
                batch_size=cfg.batch_size,
                training=False,
                workers=workers,
                worker=worker,
                **common,
            )
            return fitting.with_mask_targets(ds)

    return make_train, make_val, n_train


@dataclass
class TrainingRun:
    """One training run, as decided before its first step: what trains, on what, where."""

    kind: str  # "cnn" | "cnn_rnn"
    params: Params
    cfg: TrainConfig  # params.train_cnn or params.train_rnn
    records_dir: Path
    cnn_dir: Path | None  # the trained CNN (cnn_rnn only)
    features_dir: Path | None
    checkpoint_dir: Path
    live_dir: Path
    summary: RecordsSummary  # of the records
    image_size: int
    seq_len: int | None
    position: tuple[int, int]  # (workers, this worker's index), from TF_CONFIG
    custom: bool  # the multi-worker loop instead of Keras model.fit
    strategy: Any = None
    cnn: keras.Model | None = None  # the trained CNN, loaded (cnn_rnn only)
    cached: Any = None  # the features stage's summary when training on cached features

    @property
    def log_params(self) -> dict:
        return {
            "model": self.params.model.model_dump(mode="json"),
            "train": self.cfg.model_dump(mode="json"),
        }


def train_stage(
    kind: str,
    params: Params,
    records_dir: Path,
    out_dir: Path,
    checkpoint_dir: Path,
    live_dir: Path,
    cnn_dir: Path | None = None,
    features_dir: Path | None = None,
    *,
    loop: str = "auto",
    devices: list[str] | None = None,
) -> ModelMeta:
    """Train the CNN (``kind="cnn"``) or the CNN-RNN (``"cnn_rnn"``, initialised from the
    trained CNN in ``cnn_dir``) and write the model folder ``out_dir`` atomically.

    With ``features_dir`` (the ``features`` stage's output) and a frozen CNN without
    augmentation, the CNN-RNN's FC + RNN train on the cached backbone features
    (:mod:`pipeline.training.features`); the saved model is the full CNN-RNN either way.

    ``loop``: ``"fit"`` (Keras ``model.fit``: one host, its GPUs, resumable), ``"custom"``
    (:mod:`pipeline.training.multiworker`), ``"auto"`` (custom when ``TF_CONFIG`` names
    several workers). With several workers only the chief writes ``out_dir`` and
    ``live_dir``; the others write nothing. ``devices``: the local devices to mirror over
    (default: every GPU)."""
    from pipeline.models.backbones import normalization_for

    run = _plan(kind, params, records_dir, checkpoint_dir, live_dir, cnn_dir, features_dir,
                loop, devices)  # fmt: skip
    normalization = normalization_for(params.model.backbone.name)
    train_ds, val_ds = _datasets(run)
    transfer_report: dict = {}
    full: list[keras.Model] = []  # the full CNN-RNN behind a head trained on features
    build = _builder(run, transfer_report, full)
    chief = run.position[1] == 0  # the others write nothing: no log, no model folder
    if run.custom:
        model, history = _fit_custom(run, build, chief)
    else:
        model, history = _fit(run, build, train_ds, val_ds)
    if run.cached is not None:
        from pipeline.training import features as cache

        cache.copy_head_weights(model, full[0])  # the trained FC + RNN into the full model
        model = full[0]
    meta = _meta(run, normalization, history, transfer_report,
                 training_label_mean(records_dir))  # fmt: skip
    if chief:
        ckpt.fault_point("outputs:model")
        with atomic_dir(out_dir) as tmp:
            save_model(model, tmp / MODEL_FILE)
            meta.write(tmp)
    if not run.custom:
        fitting.finish_checkpoint(checkpoint_dir)
    return meta


def _check_init_file(init: str) -> None:
    """``model.init`` naming a weights file: it exists (checked when training starts, not
    when params are validated: a profile names a path each user sets)."""
    if init not in ("random", "imagenet") and not Path(init).is_file():
        raise InputError(
            f"model.init: {init}: no such weights file (set model.init to your weights, e.g. "
            "the VGG-Face weights in Keras .h5 form: docs/datasets.md#weights)"
        )


def _plan(kind, params, records_dir, checkpoint_dir, live_dir, cnn_dir, features_dir, loop,
          devices) -> TrainingRun:  # fmt: skip
    """Check the request, set up the devices (first, for several workers: before any
    TensorFlow op), load the trained CNN and the cached features where they are used."""
    cfg = params.train_cnn if kind == "cnn" else params.train_rnn
    if loop not in ("auto", "fit", "custom"):
        raise ValueError(f"loop must be auto, fit or custom, got {loop!r}")
    position = distribute.cluster_position()
    custom = loop == "custom" or (loop == "auto" and position[0] > 1)
    if position[0] > 1 and not custom:
        raise InputError(
            "TF_CONFIG names several workers: Keras model.fit cannot train across them "
            "(keras-team/keras#20585); the multi-worker loop does (loop='auto')"
        )
    strategy = None
    if position[0] > 1:  # MultiWorkerMirroredStrategy must precede every TensorFlow op
        strategy = fitting.setup_hardware(cfg.mixed_precision, cfg.seed, devices)
    summary = _records_meta(records_dir)
    if kind == "cnn":
        _check_init_file(params.model.init)
    image_size = cfg.image_size or summary.crop_size
    run = TrainingRun(
        kind=kind, params=params, cfg=cfg, records_dir=records_dir, cnn_dir=cnn_dir,
        features_dir=features_dir, checkpoint_dir=checkpoint_dir, live_dir=live_dir,
        summary=summary, image_size=image_size,
        seq_len=summary.seq_len if kind == "cnn_rnn" else None,
        position=position, custom=custom, strategy=strategy,
    )  # fmt: skip
    if kind == "cnn_rnn":
        trained = load_model(cnn_dir)
        run.cnn, cnn_meta = trained.keras_model, trained.meta
        if cnn_meta.image_size != image_size or cnn_meta.landmarks != params.model.landmarks:
            raise InputError(
                f"{cnn_dir}: the CNN was trained on {cnn_meta.image_size} px crops with "
                f"landmarks={cnn_meta.landmarks}, the CNN-RNN is asked for {image_size} px "
                f"with landmarks={params.model.landmarks}: retrain the CNN (dvc repro)"
            )
    if kind == "cnn_rnn" and features_dir is not None and custom:
        print("the multi-worker loop trains on the images, not on cached features", flush=True)
    elif kind == "cnn_rnn" and features_dir is not None:
        from pipeline.training import features as cache

        run.cached = cache.for_training(features_dir, cnn_dir, records_dir, cfg, image_size)
    if run.strategy is None:
        run.strategy = fitting.setup_hardware(cfg.mixed_precision, cfg.seed, devices)
    return run


def _datasets(run: TrainingRun):
    """(train, val) for Keras model.fit: the records, or the cached features; (None, None)
    for the multi-worker loop (each worker builds its own)."""
    if run.custom:
        return None, None
    batch = run.cfg.batch_size * run.strategy.num_replicas_in_sync
    train_ds, val_ds = datasets(
        run.cfg, run.params.augment, run.records_dir, run.kind, run.image_size, batch_size=batch
    )
    if run.cached is not None:  # the image pipeline above is built (cheap) but never read
        from pipeline.training import features as cache

        train_ds, val_ds = cache.datasets(run.features_dir, run.cached, batch, run.cfg.seed)
    return train_ds, val_ds


def _builder(run: TrainingRun, transfer_report: dict, full: list):
    """The function building the model to train (called in the strategy's scope): the CNN
    or CNN-RNN with the trained CNN's weights, or the head over the cached features (then
    ``full`` receives the full CNN-RNN); ``transfer_report`` receives what was carried over."""
    from pipeline.models.factory import create_model
    from pipeline.models.weights import freeze_backbone, transfer_cnn_weights

    params = run.params

    def build() -> keras.Model:
        model = create_model(params.model, run.image_size, kind=run.kind, seq_len=run.seq_len)
        if run.cnn is not None:
            transfer_report.update(transfer_cnn_weights(run.cnn, model))
            if params.train_rnn.freeze_cnn:
                freeze_backbone(model, True)
        if run.cached is not None:
            from pipeline.training import features as cache

            full[:] = [model]
            return cache.head_model(params.model, model, run.cached)
        return model

    return build


def _fit(run: TrainingRun, build, train_ds, val_ds):
    params, cfg = run.params, run.cfg
    # What a checkpoint must have been written for to be resumed: these params, these
    # records and CNN (as files), this code.
    run_id = ckpt.fingerprint(
        run.kind,
        params.model.model_dump(),
        cfg.model_dump(),
        params.augment.model_dump(),
        run.summary.model_dump(
            mode="json", include={"seq_len", "crop_size", "splits"}, exclude_none=True
        ),
        fitting.files_stamp(run.records_dir),
        fitting.files_stamp(run.cnn_dir) if run.cnn_dir else "",
        *([run.cached.source] if run.cached is not None else []),
        ckpt.code_digest(),
    )
    from pipeline.training.losses import make_loss, make_metrics

    return fitting.fit(
        build,
        train_ds,
        val_ds,
        cfg,
        strategy=run.strategy,
        checkpoint_dir=run.checkpoint_dir,
        live_dir=run.live_dir,
        run_id=run_id,
        loss=make_loss(cfg.loss),
        metrics=make_metrics,
        log_params=run.log_params,
    )


def _fit_custom(run: TrainingRun, build, chief: bool):
    from pipeline.training.losses import make_loss, make_metrics
    from pipeline.training.multiworker import fit_custom

    cfg, strategy = run.cfg, run.strategy
    if Path(run.checkpoint_dir).exists():
        print(
            f"{run.checkpoint_dir}: multi-worker training does not resume; starting from "
            "epoch 1 (the checkpoint folder is left as it is)",
            flush=True,
        )
    make_train, make_val, n_train = worker_datasets(
        cfg, run.params.augment, run.records_dir, run.kind, run.image_size
    )
    global_batch = cfg.batch_size * strategy.num_replicas_in_sync
    steps = cfg.steps_per_epoch or n_train // global_batch
    if steps < 1:
        raise InputError(
            f"{run.records_dir}: {n_train} training records, fewer than one global batch of "
            f"{global_batch} ({cfg.batch_size} x {strategy.num_replicas_in_sync} replicas)"
        )
    return fit_custom(
        build,
        make_train,
        make_val,
        cfg,
        strategy=strategy,
        steps_per_epoch=steps,
        position=run.position,
        live_dir=run.live_dir if chief else None,
        loss=make_loss(cfg.loss),
        metrics=make_metrics,
        log_params=run.log_params,
    )


def _meta(run: TrainingRun, normalization: str, history, transfer_report: dict,
          label_mean) -> ModelMeta:  # fmt: skip
    params, cached = run.params, run.cached
    return ModelMeta(
        kind=run.kind,
        image_size=int(run.image_size),
        records_crop_size=int(run.summary.crop_size),
        normalization=normalization,
        landmarks=params.model.landmarks,
        seq_len=run.seq_len,
        train_label_mean=label_mean,
        model=params.model,
        train=run.cfg,
        face=FaceParams.of(params),  # every registered face step's section
        replicas=run.strategy.num_replicas_in_sync,
        workers=run.position[0],
        # The data it learnt from; `affwild predict` warns when that was the synthetic demo.
        data={
            "root": params.data.root,
            "format": params.data.format,
            "demo": (Path(params.data.root) / "truth.parquet").is_file(),
        },
        run=history,
        transfer=transfer_report or None,
        features=None if cached is None else {"dim": cached.dim, "frames": cached.frames},
    )
