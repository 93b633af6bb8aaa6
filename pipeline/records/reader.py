"""Records → ``tf.data`` input pipelines, one function for training and evaluation.

Interleaved reading of the shards, parallel parse + JPEG decode, optional augmentation
(training only), batching and prefetch, all autotuned. Images come out as float32 on the
0-255 scale: the models normalise them in their first layer.

Elements are ``(inputs, targets, weights)``:

- frames:    inputs ``{"image": (B, H, W, 3), "landmarks": (B, 136)}``, targets (B, 2)
  (valence, arousal), weights (B,) — all ones (frame records hold labelled faces only);
- sequences: inputs ``{"image": (B, L, H, W, 3), "landmarks": (B, L, 136)}``, targets
  (B, L, 2), weights (B, L) = the mask: masked steps never count in a loss or metric.

With ``with_meta=True`` a fourth element carries ``video_id`` and ``frame`` (evaluation).
"""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

import tensorflow as tf

from pipeline.artifacts import ArtifactError, RecordsSummary
from pipeline.config import AugmentConfig
from pipeline.errors import InputError
from pipeline.records import ops
from pipeline.records.schema import features

AUTOTUNE = tf.data.AUTOTUNE


class ShardError(InputError):
    """A shard that is missing, truncated or corrupted; the message names the file."""


def load_summary(records_dir: str | Path) -> RecordsSummary:
    """The records folder's ``summary.json``; a missing or bad one is a :class:`ShardError`."""
    try:
        return RecordsSummary.read(records_dir)
    except ArtifactError as exc:
        raise ShardError(str(exc)) from None


def shard_files(records_dir: str | Path, split: str, kind: str) -> list[Path]:
    """The shard files of one split and kind, checked against the summary (fast: record
    framing only, no payload read)."""
    records_dir = Path(records_dir)
    entry = load_summary(records_dir).entry(split, kind)
    if entry is None:
        raise ShardError(
            f"{records_dir}/{RecordsSummary.FILE}: no {kind} records for split {split!r}"
        )
    files = []
    for sh in entry.shards:
        path = records_dir / sh.file
        if not path.is_file():
            raise ShardError(f"{path}: shard listed in {RecordsSummary.FILE} is missing")
        n = count_records(path)
        if n != sh.records or path.stat().st_size != sh.bytes:
            raise ShardError(
                f"{path}: holds {n} records / {path.stat().st_size} bytes, "
                f"{RecordsSummary.FILE} says {sh.records} / {sh.bytes} "
                "(incomplete or modified shard)"
            )
        files.append(path)
    return files


def count_records(path: str | Path) -> int:
    """Walk a TFRecord file's framing (length headers) and count its records.

    A file cut short or with a corrupted length header raises :class:`ShardError`.
    """
    path = Path(path)
    size = path.stat().st_size
    n = offset = 0
    with open(path, "rb") as f:
        while offset < size:
            head = f.read(12)
            if len(head) < 12:
                raise ShardError(f"{path}: truncated record header at byte {offset} (record {n})")
            (length,) = struct.unpack("<Q", head[:8])
            offset += 12 + length + 4
            if offset > size:
                raise ShardError(
                    f"{path}: record {n} at byte {offset - length - 16} claims {length} bytes, "
                    f"past the end of the file ({size} bytes): truncated or corrupted"
                )
            f.seek(offset)
            n += 1
    return n


def verify_payloads(path: str | Path) -> int:
    """Read every record with its CRC checked (a full pass); return the record count."""
    n = 0
    try:
        for _ in tf.data.TFRecordDataset(str(path)):
            n += 1
    except tf.errors.DataLossError as exc:
        raise ShardError(f"{path}: corrupted record {n}: {exc.message}") from None
    return n


def find_damage(files) -> ShardError | None:
    """The first of ``files`` that is truncated or holds a record whose checksum fails, as a
    :class:`ShardError` naming the shard and the record's index; None if all read whole."""
    for path in files:
        try:
            count_records(path)
            verify_payloads(path)
        except ShardError as exc:
            return exc
    return None


def listed_shards(records_dir: str | Path) -> list[Path]:
    """Every shard file the records' summary lists (all splits and kinds)."""
    records_dir = Path(records_dir)
    summary = load_summary(records_dir)
    return [
        records_dir / sh.file
        for kinds in summary.splits.values()
        for entry in kinds.values()
        for sh in entry.shards
    ]


@contextlib.contextmanager
def damage_named(records: str | Path | list):
    """Run the body; TensorFlow's ``DataLossError`` (a truncated or corrupted record met while
    reading — its message names neither the file nor the record) becomes a
    :class:`ShardError` that names both: ``records`` (the shard files read, or a records
    folder: every shard its summary lists) are checked, framing then checksums, to find it."""
    try:
        yield
    except tf.errors.DataLossError as exc:
        files = listed_shards(records) if isinstance(records, str | Path) else records
        found = find_damage([Path(f) for f in files])
        tf_says = (exc.message or "").strip().split("}}")[-1].strip()
        if found is None:
            found = ShardError(f"{records}: a damaged record was read ({tf_says})")
        raise found from None


def decode_images(parsed: dict, kind: str, image_size: int | None) -> dict:
    """JPEG → uint8 (resized if the model takes another size than the records hold)."""

    def one(jpeg):
        img = tf.io.decode_jpeg(jpeg, channels=3, dct_method="INTEGER_FAST")
        if image_size:
            img = tf.image.resize(img, [image_size, image_size], antialias=True)
            img = tf.cast(tf.round(tf.clip_by_value(img, 0, 255)), tf.uint8)
        return img

    if kind == "frames":
        image = one(parsed["image"])
    else:
        image = tf.map_fn(one, parsed["image"], fn_output_signature=tf.uint8)
    return {**parsed, "image": image}


def _records(files, training: bool, seed: int, shuffle_buffer: int, deterministic: bool):
    """The serialized records of ``files``: interleaved, shuffled (files, then examples,
    seeded) when training."""
    names = tf.constant([str(f) for f in files])
    ds = tf.data.Dataset.from_tensor_slices(names)
    if training:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = ds.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(len(files), 8),
        num_parallel_calls=AUTOTUNE,
        deterministic=deterministic,
    )
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return ds


def _decoder(kind: str, seq_len: int | None, image_size: int | None):
    """serialized record → parsed example with uint8 image(s)."""
    spec = features(kind, seq_len)

    def decode(serialized):
        ex = tf.io.parse_single_example(serialized, spec)
        if kind == "sequences":
            ex["landmarks"] = tf.reshape(ex["landmarks"], [seq_len, -1])
        return decode_images(ex, kind, image_size)

    return decode


def _finisher(kind, training, augment, seed, with_meta):
    """(batch index, batch of parsed examples) → the pipeline's element."""

    def finish(index, ex):
        # Batch-level (vectorised) augmentation; flips and shifts move uint8 pixels (a
        # quarter of the bytes of float32).
        if training and augment is not None:
            seeds = tf.stack([tf.cast(seed, tf.int64), index])
            ex = ops.random_augment(ex, augment, seeds)
        else:
            ex = {**ex, "image": tf.cast(ex["image"], tf.float32)}
        inputs = {"image": ex["image"], "landmarks": ex["landmarks"]}
        targets = tf.stack([ex["valence"], ex["arousal"]], axis=-1)
        # Frame records hold labelled faces only; sequence steps count where the mask says.
        weights = (
            tf.ones_like(ex["valence"]) if kind == "frames" else tf.cast(ex["mask"], tf.float32)
        )
        if with_meta:
            return inputs, targets, weights, {"video_id": ex["video_id"], "frame": ex["frame"]}
        return inputs, targets, weights

    return finish


def make_dataset(
    files: list[str | Path],
    kind: str,
    *,
    batch_size: int,
    training: bool,
    seq_len: int | None = None,
    image_size: int | None = None,
    augment: AugmentConfig | None = None,
    seed: int = 0,
    shuffle_buffer: int = 2048,
    with_meta: bool = False,
    drop_remainder: bool | None = None,
    deterministic: bool = True,
) -> tf.data.Dataset:
    """The input pipeline for ``files`` (see the module docstring for its elements).

    ``training`` shuffles (files and examples, seeded) and augments; evaluation reads in
    file order and never augments. ``deterministic=False`` lets parallel stages hand out
    elements as they finish (a little faster; the order then varies from run to run).
    """
    if not files:
        raise ShardError(f"no {kind} shard files given")
    ds = _records(files, training, seed, shuffle_buffer, deterministic)
    ds = ds.map(
        _decoder(kind, seq_len, image_size),
        num_parallel_calls=AUTOTUNE,
        deterministic=deterministic,
    )
    ds = ds.batch(batch_size, drop_remainder=training if drop_remainder is None else drop_remainder)
    finish = _finisher(kind, training, augment, seed, with_meta)
    ds = ds.enumerate().map(finish, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    return ds.prefetch(AUTOTUNE)


def make_worker_dataset(
    files: list[str | Path],
    kind: str,
    *,
    batch_size: int,
    training: bool,
    workers: int = 1,
    worker: int = 0,
    replicas: int = 1,
    seq_len: int | None = None,
    image_size: int | None = None,
    augment: AugmentConfig | None = None,
    seed: int = 0,
    shuffle_buffer: int = 2048,
) -> tf.data.Dataset:
    """One worker's part of a multi-worker input pipeline: batches of ``batch_size`` (per
    replica) for its ``replicas`` local replicas, in turn.

    Every worker orders the records the same way (same seed: the stream of
    :func:`make_dataset`), cuts them into batches of ``batch_size`` and numbers them; step
    ``s`` of ``workers x replicas`` replicas takes the next ``workers x replicas`` batches,
    and this worker keeps its ``replicas`` consecutive ones (index ``worker``) *before*
    decoding, so each worker parses and decodes only its share of the JPEGs. A step thus sees
    the same examples, with the same augmentation (seeded by batch number), whatever the
    split into workers and devices: 2 workers x 1 device = 1 worker x 2 devices.

    Training repeats the records (reshuffled each pass) without end: the caller counts the
    steps of an epoch, the same on every worker (workers must step together). Evaluation
    is one pass in file order and keeps the last incomplete batch."""
    if not files:
        raise ShardError(f"no {kind} shard files given")
    ds = _records(files, training, seed, shuffle_buffer, deterministic=True)
    if training:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=training).enumerate()  # numbered raw batches
    ds = ds.batch(replicas).shard(workers, worker).unbatch()  # this worker's batches

    def spread(index, raw):  # one (batch number, serialized record) per record
        return tf.data.Dataset.from_tensor_slices((tf.fill(tf.shape(raw), index), raw))

    decode = _decoder(kind, seq_len, image_size)
    ds = ds.flat_map(spread).map(lambda i, r: (i, decode(r)), num_parallel_calls=AUTOTUNE)
    # the raw batches were full except perhaps the last one: the same cuts again
    ds = ds.batch(batch_size)
    finish = _finisher(kind, training, augment, seed, with_meta=False)
    ds = ds.map(lambda i, ex: finish(i[0], ex), num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)
