"""The frozen CNN's per-frame features, computed once, so FC + RNN trains in minutes.

With ``train_rnn.freeze_cnn: true`` the CNN-RNN's backbone (the CNN's convolutional part) is
fixed and runs in inference mode (its batch norm too): its output for a frame never changes
during training. The ``features`` stage runs it once over every step of the training and
validation **sequence records** and writes, per split, four ``.npy`` arrays in record order:

    <split>.features.npy   (N, T, D) float32   backbone output(s) of each step
    <split>.landmarks.npy  (N, T, 136) float32
    <split>.targets.npy    (N, T, 2) float32   valence, arousal
    <split>.mask.npy       (N, T) float32      labelled steps

plus ``summary.json`` (:class:`pipeline.artifacts.FeaturesSummary`: which CNN and which records they belong to, D, T, counts, timing).
With separate heads (one network per dimension, two backbones) D is the concatenation of
both backbones' outputs, valence first.

``train_rnn`` then trains a model of the CNN-RNN's layers *after* the backbone
(:func:`head_model`: same layer names, same initialisation) on these arrays, and copies its
weights back into the full CNN-RNN (:func:`copy_head_weights`), which is what it saves: the
model folder is the usual one, ``evaluate`` and ``predict`` run it on images.

**What the cache cannot do.** Augmentation (flip, shift, colour) changes the pixels every
epoch, so the backbone's output changes too: with ``train_rnn.augment: true`` (or
``freeze_cnn: false``) there is nothing to cache; the stage then writes only a summary saying
so (``used: false``, the reason) and ``train_rnn`` trains on images as before.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from pipeline.artifacts import META_FILE, MODEL_FILE, FeaturesSummary, RecordsSummary
from pipeline.errors import InputError
from pipeline.io import atomic_dir
from pipeline.models.saved import load_model
from pipeline.training import checkpoints as ckpt

log = logging.getLogger(__name__)

ARRAYS = ("features", "landmarks", "targets", "mask")
SPLITS = ("train", "val")
DIMENSIONS = ("valence", "arousal")


class FeaturesError(InputError):
    """A features folder that does not belong to the given CNN / records."""


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def source_key(cnn_dir: Path, records_dir: Path) -> dict:
    """What the features are computed from: the CNN's files and the records' summary (whose
    shard list carries each shard's size and record count)."""
    return {
        "cnn_model": file_digest(Path(cnn_dir) / MODEL_FILE),
        "cnn_meta": file_digest(Path(cnn_dir) / META_FILE),
        "records": file_digest(Path(records_dir) / RecordsSummary.FILE),
    }


def usable(train_rnn_cfg) -> str | None:
    """None when cached features can stand in for images in ``train_rnn``; else why not."""
    if not train_rnn_cfg.freeze_cnn:
        return "train_rnn.freeze_cnn is false: the CNN is fine-tuned, its features change"
    if train_rnn_cfg.augment:
        return (
            "train_rnn.augment is true: augmented pixels change the CNN's features every "
            "epoch, so they cannot be cached"
        )
    return None


def cnn_backbones(cnn) -> list:
    """The trained CNN's backbone sub-model(s), in head order (valence, arousal)."""
    from pipeline.models.weights import backbones

    found = backbones(cnn)
    if not found:
        raise FeaturesError(f"model {cnn.name!r} has no backbone sub-model")
    return found


def feature_extractor(cnn, image_size: int):
    """A tf.function: (n, S, S, 3) raw crops (0-255) -> (n, D) features, inference mode
    (the CNN's own ``preprocess`` layer, then its backbone(s))."""
    import tensorflow as tf

    from pipeline.models.layers import preprocess_layer

    nets = cnn_backbones(cnn)
    preprocess = preprocess_layer(cnn)
    if preprocess is None:
        raise FeaturesError(f"model {cnn.name!r} has no preprocess layer")

    @tf.function(input_signature=[tf.TensorSpec([None, image_size, image_size, 3], tf.float32)])
    def extract(images):
        x = preprocess(images)
        outs = [tf.reshape(b(x, training=False), [tf.shape(images)[0], -1]) for b in nets]
        return tf.concat(outs, axis=-1)

    return extract, len(nets)


def compute_features(
    cnn_dir: Path,
    records_dir: Path,
    out_dir: Path,
    train_rnn_cfg,
    batch_frames: int = 256,
    checkpoint_dir: Path | None = None,
) -> FeaturesSummary:
    """The ``features`` stage: write ``out_dir`` (atomically) for the CNN in ``cnn_dir`` and
    the sequence records in ``records_dir``; returns the summary.

    The arrays are filled batch by batch in ``checkpoint_dir`` (a temporary folder when
    None), each batch committed (:mod:`pipeline.training.checkpoints`: the rows written and
    flushed, then a new progress version behind the pointer), so a run killed anywhere
    resumes after its last committed batch and writes the same bytes."""
    cnn_dir, records_dir, out_dir = Path(cnn_dir), Path(records_dir), Path(out_dir)
    source = source_key(cnn_dir, records_dir)
    reason = usable(train_rnn_cfg)
    if reason is not None:
        summary = FeaturesSummary(used=False, source=source, reason=reason)
        with atomic_dir(out_dir) as tmp:
            summary.write(tmp)
        log.info("features: not computed (%s)", reason)
        return summary
    scratch = checkpoint_dir is None
    checkpoint_dir = Path(tempfile.mkdtemp()) if scratch else Path(checkpoint_dir)
    try:
        summary = _compute(cnn_dir, records_dir, out_dir, source, batch_frames, checkpoint_dir)
    finally:
        if scratch:
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
    log.info("features: %d frames in %.1f s", summary.frames, summary.seconds)
    return summary


def _compute(cnn_dir, records_dir, out_dir, source, batch_frames, checkpoint_dir):
    from pipeline.records.reader import load_summary, make_dataset, shard_files

    t0 = time.perf_counter()
    records = load_summary(records_dir)
    seq_len = records.seq_len
    trained = load_model(cnn_dir)
    cnn, meta = trained.keras_model, trained.meta
    image_size = meta.image_size
    extract, n_backbones = feature_extractor(cnn, image_size)
    per_batch = max(1, batch_frames // seq_len)
    run_id = ckpt.fingerprint("features", source, per_batch, image_size, ckpt.code_digest())
    work = _Work(ckpt.Store(checkpoint_dir, run_id), checkpoint_dir / ARRAYS_FOLDER)
    splits: dict = {}
    dim, frames = 0, 0
    for split in SPLITS:
        n = records.n_records(split, "sequences")
        if not n:
            continue
        ds = make_dataset(
            shard_files(records_dir, split, "sequences"),
            "sequences",
            batch_size=per_batch,
            training=False,
            seq_len=seq_len,
            image_size=image_size,
            drop_remainder=False,
        )
        where = f"{records_dir}: {split}"
        dim = _write_split(ds, extract, n, seq_len, image_size, work, split, per_batch, where)
        splits[split] = {"records": n}
        frames += n * seq_len
    seconds = time.perf_counter() - t0
    summary = FeaturesSummary(
        used=True,
        source=source,
        seq_len=seq_len,
        image_size=image_size,
        backbone=meta.backbone_name,
        backbones=n_backbones,
        dim=int(dim) if splits else 0,
        splits=splits,
        frames=frames,
        seconds=round(seconds, 2),
        frames_per_s=round(frames / seconds, 1) if seconds > 0 else None,
    )
    ckpt.fault_point("outputs:features")
    with atomic_dir(out_dir) as tmp:
        for split in splits:
            for name in ARRAYS:
                shutil.copyfile(work.arrays / f"{split}.{name}.npy", tmp / f"{split}.{name}.npy")
        summary.write(tmp)
    ckpt.remove(checkpoint_dir)
    return summary


ARRAYS_FOLDER = "arrays"  # the arrays being filled, beside the committed progress versions
PROGRESS_FILE = "progress.json"  # {split: sequences done}: rows below are final


class _Work:
    """The features stage's checkpoint: the arrays (``.npy`` memory maps) and, committed
    after every batch, how many sequences of each split are final in them."""

    def __init__(self, store: ckpt.Store, arrays: Path):
        self.store, self.arrays = store, arrays
        committed = store.open(keep=(arrays.name,))
        self.done = json.loads((committed / PROGRESS_FILE).read_text()) if committed else {}
        if committed is None:
            arrays.mkdir(parents=True, exist_ok=True)
        else:
            print(f"features: resumed from {committed} ({self.done} sequences done)", flush=True)

    def open(self, split: str, shapes: dict | None) -> dict:
        """The split's four arrays, created (``shapes``) or reopened (None) for writing."""
        return {
            name: np.lib.format.open_memmap(
                self.arrays / f"{split}.{name}.npy",
                "r+" if shapes is None else "w+",
                np.float32,
                None if shapes is None else shapes[name],
            )
            for name in ARRAYS
        }

    def commit(self, split: str, k: int, arrays: dict) -> None:
        """Rows ``[0, k)`` of ``split`` are final: flushed, then recorded in a new version."""
        ckpt.fault_point("features:flush")
        for a in arrays.values():
            a.flush()
        self.done = {**self.done, split: k}
        progress = dict(self.done)

        def write(folder: Path) -> None:
            ckpt.fault_point("features:progress")
            ckpt.write_json(folder / PROGRESS_FILE, progress)

        self.store.commit(f"{split}-{k:08d}", write)


def _write_split(ds, extract, n: int, seq_len: int, image_size: int, work: _Work, split: str,
                 per_batch: int, where: str) -> int:  # fmt: skip
    """Run ``extract`` over every sequence of ``ds`` (``n`` of them, ``per_batch`` a batch)
    not yet committed in ``work`` and write them into the split's arrays, committing after
    every batch; returns the feature size."""
    k = int(work.done.get(split, 0))
    arrays = work.open(split, None) if k else None
    if k >= n:
        return int(arrays["features"].shape[-1])
    for inputs, targets, weights in ds.skip(k // per_batch):
        images = inputs["image"]
        b = int(images.shape[0])
        flat = extract(np.reshape(images, (b * seq_len, image_size, image_size, 3)))
        feats = flat.numpy().reshape(b, seq_len, -1)
        if arrays is None:
            arrays = work.open(split, {
                "features": (n, seq_len, feats.shape[-1]),
                "landmarks": (n, seq_len, int(inputs["landmarks"].shape[-1])),
                "targets": (n, seq_len, 2),
                "mask": (n, seq_len),
            })  # fmt: skip
        if k + b > n:
            raise FeaturesError(f"{where} holds more sequence records than summary.json says ({n})")
        ckpt.fault_point("features:rows")
        arrays["features"][k : k + b] = feats
        arrays["landmarks"][k : k + b] = inputs["landmarks"].numpy()
        arrays["targets"][k : k + b] = targets.numpy()
        arrays["mask"][k : k + b] = weights.numpy()
        k += b
        work.commit(split, k, arrays)
    if k != n:
        raise FeaturesError(f"{where} has {k} sequence records, summary.json says {n}")
    dim = int(arrays["features"].shape[-1])
    del arrays
    return dim


def load_features_summary(features_dir: Path, cnn_dir: Path, records_dir: Path) -> FeaturesSummary:
    """The features' summary, checked to belong to this CNN and these records."""
    summary = FeaturesSummary.read(features_dir)
    if summary.source != source_key(cnn_dir, records_dir):
        raise FeaturesError(
            f"{features_dir}: computed for another CNN or other records than {cnn_dir} and "
            f"{records_dir} (stale: run `dvc repro features`)"
        )
    return summary


def datasets(features_dir: Path, summary: FeaturesSummary, batch_size: int, seed: int):
    """(train, val) tf.data pipelines of ``({"features", "landmarks"}, targets, mask)``,
    the training one shuffled per epoch (seeded) with the last partial batch dropped, like
    the image pipeline; val None when there are no validation records."""
    import tensorflow as tf

    def one(split: str, training: bool):
        if split not in (summary.splits or {}):
            return None
        arrays = {
            name: np.load(Path(features_dir) / f"{split}.{name}.npy", mmap_mode="r")
            for name in ARRAYS
        }
        n = arrays["features"].shape[0]
        dim, t = arrays["features"].shape[-1], summary.seq_len
        lm = arrays["landmarks"].shape[-1]

        def gather(idx):
            idx = np.sort(idx)  # memmap-friendly; the order inside a batch does not matter
            return tuple(np.ascontiguousarray(arrays[name][idx]) for name in ARRAYS)

        def load(idx):
            f, lms, y, w = tf.numpy_function(
                gather, [idx], (tf.float32, tf.float32, tf.float32, tf.float32), stateful=False
            )
            f.set_shape([None, t, dim])
            lms.set_shape([None, t, lm])
            y.set_shape([None, t, 2])
            w.set_shape([None, t])
            return {"features": f, "landmarks": lms}, y, w

        ds = tf.data.Dataset.range(n)
        if training:
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size, drop_remainder=training and n >= batch_size)
        return ds.map(load).prefetch(2)

    return one("train", True), one("val", False)


@keras.saving.register_keras_serializable(package="affwild")
class TakeFeatures(keras.layers.Layer):
    """``x[..., start : start + size]``: one backbone's share of concatenated features."""

    def __init__(self, start: int, size: int, **kwargs):
        super().__init__(**kwargs)
        self.start, self.size = int(start), int(size)

    def call(self, x):
        return x[..., self.start : self.start + self.size]

    def compute_output_shape(self, shape):
        return (*shape[:-1], self.size)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "size": self.size}


def head_model(cfg, full_model, summary: FeaturesSummary):
    """The CNN-RNN's layers after the backbone, on ``{"features": (T, D), "landmarks"}``,
    built like the full model (:func:`pipeline.models.factory.rnn_top`) and initialised
    with ``full_model``'s weights."""
    from keras import layers

    from pipeline.contracts.points68 import N_VALUES
    from pipeline.models.factory import rnn_top

    t, dim = summary.seq_len, summary.dim
    inputs = {
        "features": keras.Input((t, dim), name="features"),
        "landmarks": keras.Input((t, N_VALUES), name="landmarks"),
    }
    if cfg.heads == "joint":
        head = keras.Model(
            inputs, rnn_top(cfg, inputs["features"], inputs["landmarks"], 2), name="cnn_rnn_head"
        )
    else:
        nb = summary.backbones
        part = dim // nb
        outs = []
        for k, d in enumerate(DIMENSIONS):
            sub_in = {
                "features": keras.Input((t, part), name="features"),
                "landmarks": keras.Input((t, N_VALUES), name="landmarks"),
            }
            sub = keras.Model(sub_in, rnn_top(cfg, sub_in["features"], sub_in["landmarks"], 1),
                              name=d)  # fmt: skip
            sliced = TakeFeatures((k % nb) * part, part, name=f"{d}_features")
            outs.append(sub({"features": sliced(inputs["features"]),
                             "landmarks": inputs["landmarks"]}))  # fmt: skip
        out = layers.Concatenate(name="valence_arousal", dtype="float32")(outs)
        head = keras.Model(inputs, out, name="cnn_rnn_head")
    copy_head_weights(full_model, head)
    return head


def _weighted(model, prefix: str = "") -> dict:
    """{path: layer} for every layer with weights, nested models flattened (``valence/fc1``)."""
    out = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.update(_weighted(layer, f"{prefix}{layer.name}/"))
        elif layer.weights:
            out[f"{prefix}{layer.name}"] = layer
    return out


def copy_head_weights(source, target) -> list[str]:
    """Copy every weighted layer of ``target`` that is not a backbone from the layer of the
    same path in ``source`` (either way: full model -> head, head -> full model)."""
    src = _weighted(source)
    copied = []
    for path, layer in _weighted(target).items():
        if "backbone" in path.split("/")[-1] or path.endswith("_td"):
            continue
        if path not in src:
            raise FeaturesError(f"no layer {path!r} in {source.name!r} to copy from")
        layer.set_weights(src[path].get_weights())
        copied.append(path)
    return copied


def for_training(features_dir: Path, cnn_dir: Path, records_dir: Path, cfg, image_size: int):
    """The checked features summary when ``train_rnn`` can train on it, else None (logged)."""
    reason = usable(cfg)
    if reason is None:
        summary = load_features_summary(features_dir, cnn_dir, records_dir)
        if not summary.used:
            reason = f"{features_dir} holds no features ({summary.reason})"
        elif summary.image_size != image_size:
            reason = (
                f"{features_dir}: computed at {summary.image_size} px, "
                f"train_rnn runs at {image_size} px"
            )
        else:
            log.info("train_rnn: FC + RNN on the cached CNN features in %s", features_dir)
            return summary
    log.info("train_rnn: on images (%s)", reason)
    return None
