"""The input pipeline: shapes, masks, normalisation, augmentation ops, damaged shards."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from pipeline.config import AugmentConfig, BalanceConfig, ShardConfig
from pipeline.contracts.points68 import FLIP_PERMUTATION
from pipeline.records import ops
from pipeline.records.reader import (
    ShardError,
    count_records,
    make_dataset,
    shard_files,
    verify_payloads,
)
from pipeline.records.writer import load_videos, write_records
from tests.helpers.records import CROP

SEQ = 8


@pytest.fixture
def records(interim, tmp_path):
    manifest, labels, crops = interim
    out = tmp_path / "records"
    cfg = ShardConfig(seq_len=SEQ, train_stride=4, shard_mb=0.05)
    summary = write_records(load_videos(manifest, labels, crops), out, cfg, BalanceConfig())
    summary.write(out)
    return out


def test_frame_pipeline_shapes_and_values(records):
    files = shard_files(records, "test", "frames")
    ds = make_dataset(files, "frames", batch_size=8, training=False)
    x, y, w = next(iter(ds))
    assert x["image"].shape == (8, CROP, CROP, 3) and x["image"].dtype == tf.float32
    assert x["landmarks"].shape == (8, 136)
    assert y.shape == (8, 2) and w.shape == (8,)
    # raw 0-255 pixels (the models normalise): whole numbers, not squeezed into [0, 1]
    img = x["image"].numpy()
    assert img.min() >= 0.0 and img.max() <= 255.0 and img.max() > 1.0
    np.testing.assert_array_equal(img, np.round(img))
    # Evaluation is deterministic and complete: two passes agree, last batch kept.
    n = sum(int(b[1].shape[0]) for b in ds)
    assert n == sum(count_records(f) for f in files)
    again = next(iter(make_dataset(files, "frames", batch_size=8, training=False)))
    np.testing.assert_array_equal(x["image"].numpy(), again[0]["image"].numpy())


def test_sequence_pipeline_masks_and_meta(records):
    files = shard_files(records, "val", "sequences")
    ds = make_dataset(
        files, "sequences", seq_len=SEQ, batch_size=2, training=False, with_meta=True, image_size=16
    )
    x, y, w, meta = next(iter(ds))
    assert x["image"].shape == (2, SEQ, 16, 16, 3)
    assert x["landmarks"].shape == (2, SEQ, 136)
    assert y.shape == (2, SEQ, 2) and w.shape == (2, SEQ)
    assert meta["frame"].shape == (2, SEQ)
    assert set(np.unique(w.numpy())) <= {0.0, 1.0}
    # Masked steps carry zero labels.
    assert (y.numpy()[w.numpy() == 0] == 0).all()


def test_training_pipeline_shuffles_and_augments_deterministically(records):
    files = shard_files(records, "train", "frames")
    aug = AugmentConfig(flip=True, brightness=0.2, contrast=0.2, saturation=0.2, shift=0.1)

    def first(seed):
        ds = make_dataset(files, "frames", batch_size=16, training=True, augment=aug, seed=seed)
        return next(iter(ds))[0]["image"].numpy()

    plain = next(iter(make_dataset(files, "frames", batch_size=16, training=True, seed=0)))
    np.testing.assert_array_equal(first(0), first(0))
    assert not np.array_equal(first(0), first(1))
    assert not np.array_equal(first(0), plain[0]["image"].numpy())


def _face_landmarks() -> np.ndarray:
    """A schematic upright face in 300-W order (x right, y down, in [0, 1])."""
    pts = np.zeros((68, 2), np.float32)
    pts[0:17, 0] = np.linspace(0.1, 0.9, 17)  # jaw, left to right in the image
    pts[0:17, 1] = 0.6 + 0.3 * np.sin(np.linspace(0, np.pi, 17))
    pts[17:22] = np.c_[np.linspace(0.2, 0.45, 5), np.full(5, 0.3)]  # image-left brow
    pts[22:27] = np.c_[np.linspace(0.55, 0.8, 5), np.full(5, 0.3)]
    pts[27:31] = np.c_[np.full(4, 0.5), np.linspace(0.35, 0.55, 4)]  # nose bridge
    pts[31:36] = np.c_[np.linspace(0.42, 0.58, 5), np.full(5, 0.6)]
    pts[36:42] = np.c_[np.linspace(0.25, 0.42, 6), np.full(6, 0.4)]  # image-left eye
    pts[42:48] = np.c_[np.linspace(0.58, 0.75, 6), np.full(6, 0.4)]
    pts[48:60] = np.c_[
        0.5 + 0.15 * np.cos(np.linspace(np.pi, -np.pi, 12, endpoint=False)),
        0.75 + 0.05 * np.sin(np.linspace(np.pi, -np.pi, 12, endpoint=False)),
    ]
    pts[60:68] = np.c_[
        0.5 + 0.1 * np.cos(np.linspace(np.pi, -np.pi, 8, endpoint=False)),
        0.75 + 0.02 * np.sin(np.linspace(np.pi, -np.pi, 8, endpoint=False)),
    ]
    return pts


def test_flip_mirrors_landmarks_with_the_68_point_permutation():
    pts = _face_landmarks()
    img = np.zeros((20, 20, 3), np.float32)
    img[8, 3] = 1.0  # a marker near the image-left eye
    out = ops.flip({"image": tf.constant(img), "landmarks": tf.constant(pts.reshape(-1))})
    flipped = out["landmarks"].numpy().reshape(68, 2)
    # Semantics kept: 36-41 still left of 42-47 in the image, jaw still ordered left to right,
    # brows likewise; the chin, nose bridge and lip centre stay on the midline.
    assert flipped[36:42, 0].max() < flipped[42:48, 0].min()
    assert np.all(np.diff(flipped[0:17, 0]) > 0)
    assert flipped[17:22, 0].max() < flipped[22:27, 0].min()
    np.testing.assert_allclose(
        flipped[[8, 27, 51, 57, 62, 66], 0], 1 - pts[[8, 27, 51, 57, 62, 66], 0]
    )
    # Point 45 of the flipped face is the mirror image of point 36 of the original.
    np.testing.assert_allclose(flipped[45], [1 - pts[36, 0], pts[36, 1]])
    assert out["image"].numpy()[8, 16, 0] == 1.0  # the image mirrored with it
    twice = ops.flip(out)["landmarks"].numpy()
    np.testing.assert_allclose(twice, pts.reshape(-1), atol=1e-6)
    perm = FLIP_PERMUTATION
    assert sorted(perm) == list(range(68)) and np.array_equal(perm[perm], np.arange(68))


def test_flip_and_shift_apply_to_whole_sequences():
    pts = np.tile(_face_landmarks().reshape(1, -1), (3, 1))
    seq = {"image": tf.zeros((3, 10, 10, 3)), "landmarks": tf.constant(pts)}
    out = ops.flip(seq)
    assert out["landmarks"].shape == (3, 136)
    shifted = ops.shift({"image": tf.ones((3, 10, 10, 3)), "landmarks": tf.constant(pts)}, 2, -1)
    np.testing.assert_allclose(shifted["landmarks"].numpy()[:, 0], pts[:, 0] + 0.2, rtol=1e-6)
    np.testing.assert_allclose(shifted["landmarks"].numpy()[:, 1], pts[:, 1] - 0.1, rtol=1e-6)
    img = shifted["image"].numpy()
    assert (img[:, :, :2] == 0).all() and (img[:, -1:, :] == 0).all() and img[:, 0, 5].all()


def test_truncated_shard_is_named(records):
    path = shard_files(records, "train", "frames")[0]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ShardError, match=str(path)):
        shard_files(records, "train", "frames")
    with pytest.raises(ShardError, match="truncated"):
        count_records(path)


def test_corrupted_payload_is_named(records):
    path = shard_files(records, "test", "frames")[0]
    data = bytearray(path.read_bytes())
    data[40] ^= 0xFF  # inside the first record's payload
    path.write_bytes(bytes(data))
    with pytest.raises(ShardError, match=rf"{path}: corrupted record 0"):
        verify_payloads(path)


def test_missing_shard_and_summary(records, tmp_path):
    shard_files(records, "val", "frames")[0].unlink()
    with pytest.raises(ShardError, match="missing"):
        shard_files(records, "val", "frames")
    with pytest.raises(ShardError, match="no records summary"):
        shard_files(tmp_path, "val", "frames")


def test_fused_color_equals_the_plain_steps():
    """The fused colour change on 0-255 pixels is the plain steps on [0, 1] images (how it
    was written before the models took raw crops), scaled back to 0-255."""
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (2, 5, 6, 3)).astype(np.uint8)  # a batch of 2
    d, c, s = np.array([0.1, -0.05]), np.array([1.2, 0.9]), np.array([0.7, 1.1])
    out = ops.color({"image": tf.constant(img)}, d, c, s)["image"].numpy()
    assert out.dtype == np.float32
    for n in range(2):
        x = img[n] / 255.0 + d[n]
        x = (x - x.mean()) * c[n] + x.mean()
        grey = x.mean(axis=-1, keepdims=True)
        x = (x - grey) * s[n] + grey
        np.testing.assert_allclose(out[n], x * 255.0, rtol=1e-5, atol=1e-3)
    # no change at all: the pixels as they were
    same = ops.color({"image": tf.constant(img)}, 0.0, 1.0, 1.0)["image"].numpy()
    np.testing.assert_allclose(same, img, atol=1e-3)


def test_uint8_flip_shift_equals_float():
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    pts = rng.random((3, 136)).astype(np.float32)
    args = (np.array([1.0, 0.0, 1.0]), np.array([2.0, -1.0, 0.0]), np.array([0.0, 3.0, -2.0]))
    a = ops.flip_shift({"image": tf.constant(img), "landmarks": tf.constant(pts)}, *args)
    b = ops.flip_shift(
        {"image": tf.constant(img, tf.float32), "landmarks": tf.constant(pts)}, *args
    )
    np.testing.assert_array_equal(a["image"].numpy().astype(np.float32), b["image"].numpy())
    # Example 0: flipped, then moved 2 px right: output column x reads input column 7 - (x - 2).
    np.testing.assert_array_equal(a["image"].numpy()[0, :, 2:], img[0, :, ::-1][:, :6])
    assert (a["image"].numpy()[0, :, :2] == 0).all()
