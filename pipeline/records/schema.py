"""The TFRecord schema: one definition for the writer (``shard`` stage) and every reader.

Frame records (the CNN) hold one face crop each::

    image      bytes    JPEG crop, square
    landmarks  float    136 values, x0, y0, x1, y1 ... normalised to the crop, [0, 1]
    valence    float    [-1, 1]
    arousal    float    [-1, 1]
    video_id   bytes
    frame      int64    frame index in the source video

Sequence records (the CNN-RNN) hold ``seq_len`` consecutive frames of one video. Steps that
have no face or no label stay in the sequence (time is kept) with ``mask`` 0; padding past
the end of a video has ``frame`` -1. Masked steps carry a black placeholder image, zero
landmarks and zero labels, and never count in a loss or a metric::

    image      bytes[L]   landmarks float[L*136]   valence float[L]   arousal float[L]
    mask       int64[L]   1 = face and label present: counts in losses and metrics
    face       int64[L]   1 = a valid face crop is present
    frame      int64[L]   source frame index, -1 = padding
    video_id   bytes
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from pipeline.contracts.points68 import N_VALUES

KINDS = ("frames", "sequences")


def _bytes(values) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _floats(values) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def _ints(values) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def frame_example(
    image: bytes, landmarks: np.ndarray, valence: float, arousal: float, video_id: str, frame: int
) -> bytes:
    """Serialise one frame record."""
    feats = {
        "image": _bytes([image]),
        "landmarks": _floats(np.asarray(landmarks, np.float32).reshape(-1)),
        "valence": _floats([valence]),
        "arousal": _floats([arousal]),
        "video_id": _bytes([video_id.encode()]),
        "frame": _ints([frame]),
    }
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


def sequence_example(
    images: list[bytes],
    landmarks: np.ndarray,
    valence: np.ndarray,
    arousal: np.ndarray,
    mask: np.ndarray,
    face: np.ndarray,
    frames: np.ndarray,
    video_id: str,
) -> bytes:
    """Serialise one sequence record (all arrays have the sequence length first)."""
    feats = {
        "image": _bytes(images),
        "landmarks": _floats(np.asarray(landmarks, np.float32).reshape(-1)),
        "valence": _floats(np.asarray(valence, np.float32)),
        "arousal": _floats(np.asarray(arousal, np.float32)),
        "mask": _ints(np.asarray(mask, np.int64)),
        "face": _ints(np.asarray(face, np.int64)),
        "frame": _ints(np.asarray(frames, np.int64)),
        "video_id": _bytes([video_id.encode()]),
    }
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


def frame_features() -> dict[str, tf.io.FixedLenFeature]:
    return {
        "image": tf.io.FixedLenFeature([], tf.string),
        "landmarks": tf.io.FixedLenFeature([N_VALUES], tf.float32),
        "valence": tf.io.FixedLenFeature([], tf.float32),
        "arousal": tf.io.FixedLenFeature([], tf.float32),
        "video_id": tf.io.FixedLenFeature([], tf.string),
        "frame": tf.io.FixedLenFeature([], tf.int64),
    }


def sequence_features(seq_len: int) -> dict[str, tf.io.FixedLenFeature]:
    return {
        "image": tf.io.FixedLenFeature([seq_len], tf.string),
        "landmarks": tf.io.FixedLenFeature([seq_len * N_VALUES], tf.float32),
        "valence": tf.io.FixedLenFeature([seq_len], tf.float32),
        "arousal": tf.io.FixedLenFeature([seq_len], tf.float32),
        "mask": tf.io.FixedLenFeature([seq_len], tf.int64),
        "face": tf.io.FixedLenFeature([seq_len], tf.int64),
        "frame": tf.io.FixedLenFeature([seq_len], tf.int64),
        "video_id": tf.io.FixedLenFeature([], tf.string),
    }


def features(kind: str, seq_len: int | None = None) -> dict[str, tf.io.FixedLenFeature]:
    if kind == "frames":
        return frame_features()
    if kind == "sequences":
        if not seq_len:
            raise ValueError("sequence records need seq_len")
        return sequence_features(seq_len)
    raise ValueError(f"unknown record kind {kind!r} (allowed: {', '.join(KINDS)})")


def parse(serialized: tf.Tensor, kind: str, seq_len: int | None = None) -> dict[str, tf.Tensor]:
    """Parse a batch (1-D string tensor) of serialized records; sequence landmarks are
    reshaped to (batch, seq_len, 136)."""
    out = tf.io.parse_example(serialized, features(kind, seq_len))
    if kind == "sequences":
        out["landmarks"] = tf.reshape(out["landmarks"], [-1, seq_len, N_VALUES])
    return out


def shard_name(kind: str, index: int, count: int) -> str:
    return f"{kind}-{index:05d}-of-{count:05d}.tfrecord"
