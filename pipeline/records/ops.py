"""Small named preprocessing ops on decoded examples, usable eagerly and inside ``tf.data``.

Each op takes and returns a dict with ``image`` (float32 in [0, 1], shape (..., H, W, 3)) and
``landmarks`` (float32, shape (..., 136), x/y normalised to the crop). Leading dimensions
(batch, a sequence's time axis) are allowed. The ops run on whole batches (vectorised, which
is what makes augmentation cheap enough for the input pipeline); the random op draws once per
example, so every frame of a sequence gets the same flip, shift and colour change.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from pipeline.datasets.schema import N_LANDMARKS


def _mirror_pairs() -> list[tuple[int, int]]:
    """Left/right point pairs of the iBUG 300-W 68-point scheme (0-based)."""
    pairs = [(i, 16 - i) for i in range(8)]  # jaw 0-16, 8 is the chin
    pairs += [(17 + i, 26 - i) for i in range(5)]  # brows 17-21 <-> 26-22
    pairs += [(31, 35), (32, 34)]  # nose base; bridge 27-30 and tip 33 stay
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lips; 51, 57 stay
    pairs += [(60, 64), (61, 63), (65, 67)]  # inner lips; 62, 66 stay
    return pairs


def flip_permutation() -> np.ndarray:
    """Point index permutation that maps a mirrored face's points back to 300-W order."""
    perm = np.arange(N_LANDMARKS)
    for a, b in _mirror_pairs():
        perm[a], perm[b] = b, a
    return perm


FLIP_PERMUTATION = flip_permutation()


def flip(example: dict) -> dict:
    """Mirror horizontally: the image, and the landmarks (x -> 1 - x, left/right swapped)."""
    image = tf.reverse(example["image"], axis=[-2])
    pts = tf.reshape(
        example["landmarks"], tf.concat([tf.shape(example["landmarks"])[:-1], [N_LANDMARKS, 2]], 0)
    )
    pts = tf.stack([1.0 - pts[..., 0], pts[..., 1]], axis=-1)
    pts = tf.gather(pts, FLIP_PERMUTATION, axis=-2)
    return {**example, "image": image, "landmarks": tf.reshape(pts, tf.shape(example["landmarks"]))}


def _per_example(value, leading: tf.Tensor, rank: int) -> tf.Tensor:
    """Broadcast a scalar or a (batch,) vector over ``leading`` dims, plus ``rank`` unit dims."""
    value = tf.convert_to_tensor(value, tf.float32)
    value = tf.reshape(
        value,
        tf.concat([tf.shape(value), tf.ones([tf.size(leading) - tf.rank(value)], tf.int32)], 0),
    )
    value = tf.broadcast_to(value, leading)
    return tf.reshape(value, tf.concat([leading, tf.ones([rank], tf.int32)], 0))


def shift(example: dict, dx, dy) -> dict:
    """Translate by (dx, dy) whole pixels (scalars, or one per example of a batch), filling
    with black; landmarks follow."""
    image = example["image"]
    shape = tf.shape(image)
    leading, h, w = shape[:-3], shape[-3], shape[-2]
    dxs = tf.cast(tf.reshape(_per_example(dx, leading, 0), [-1]), tf.int32)
    dys = tf.cast(tf.reshape(_per_example(dy, leading, 0), [-1]), tf.int32)
    # Output pixel (x, y) reads input pixel (x - dx, y - dy): two batched gathers, then
    # black where that falls outside the image.
    rows = tf.range(h)[None, :] - dys[:, None]
    cols = tf.range(w)[None, :] - dxs[:, None]
    flat = tf.reshape(image, tf.concat([[-1], shape[-3:]], 0))
    moved = tf.gather(flat, tf.clip_by_value(rows, 0, h - 1), axis=1, batch_dims=1)
    moved = tf.gather(moved, tf.clip_by_value(cols, 0, w - 1), axis=2, batch_dims=1)
    inside = ((rows >= 0) & (rows < h))[:, :, None, None] & ((cols >= 0) & (cols < w))[
        :, None, :, None
    ]
    moved = moved * tf.cast(inside, moved.dtype)
    offset = tf.stack(
        [
            _per_example(dx, leading, 1)[..., 0] / tf.cast(w, tf.float32),
            _per_example(dy, leading, 1)[..., 0] / tf.cast(h, tf.float32),
        ],
        axis=-1,
    )
    offset = tf.tile(offset, tf.concat([tf.ones([tf.size(leading)], tf.int32), [N_LANDMARKS]], 0))
    return {
        **example,
        "image": tf.reshape(moved, shape),
        "landmarks": example["landmarks"] + offset,
    }


def color(example: dict, brightness, contrast, saturation) -> dict:
    """Brightness delta, contrast and saturation factors (scalars, or one per example of a
    batch); the result is clipped to [0, 1]."""
    image = example["image"]
    leading = tf.shape(image)[:-3]
    b, c, s = (_per_example(v, leading, 3) for v in (brightness, contrast, saturation))
    image = image + b
    mean = tf.reduce_mean(image, axis=[-3, -2, -1], keepdims=True)
    image = (image - mean) * c + mean
    gray = tf.reduce_mean(image, axis=-1, keepdims=True)
    image = (image - gray) * s + gray
    return {**example, "image": tf.clip_by_value(image, 0.0, 1.0)}


def random_augment(batch: dict, cfg, seed: tf.Tensor) -> dict:
    """One random flip / shift / colour change per example of a batch (leading axis), the same
    for every frame of a sequence; stateless, drawn from ``seed``."""
    n = tf.shape(batch["image"])[0]
    seeds = tf.random.experimental.stateless_split(seed, 6)

    def uniform(i, lo, hi, dtype=tf.float32):
        return tf.random.stateless_uniform([n], seeds[i], lo, hi, dtype=dtype)

    if cfg.flip:
        flipped = flip(batch)
        pick = uniform(0, 0.0, 1.0) < 0.5
        batch = {
            k: tf.where(
                tf.reshape(pick, tf.concat([[n], tf.ones([tf.rank(v) - 1], tf.int32)], 0)),
                flipped[k],
                v,
            )
            if k in ("image", "landmarks")
            else v
            for k, v in batch.items()
        }
    if cfg.shift > 0:
        size = tf.cast(tf.shape(batch["image"])[-2], tf.float32)
        m = tf.cast(tf.round(cfg.shift * size), tf.int32)
        dx = tf.cast(uniform(1, -m, m + 1, tf.int32), tf.float32)
        dy = tf.cast(uniform(2, -m, m + 1, tf.int32), tf.float32)
        batch = shift(batch, dx, dy)
    if cfg.brightness or cfg.contrast or cfg.saturation:
        batch = color(
            batch,
            uniform(3, -cfg.brightness, cfg.brightness) if cfg.brightness else 0.0,
            uniform(4, 1 - cfg.contrast, 1 + cfg.contrast) if cfg.contrast else 1.0,
            uniform(5, 1 - cfg.saturation, 1 + cfg.saturation) if cfg.saturation else 1.0,
        )
    return batch


# Per-backbone input normalisation of images in [0, 1] (RGB).
_IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)
_VGGFACE_BGR_MEAN = (93.5940, 104.7624, 129.1863)


def normalize(image: tf.Tensor, method: str) -> tf.Tensor:
    """``unit``: [0, 1]; ``symmetric``: [-1, 1] ((x - 128) / 128, the authors' release);
    ``caffe_imagenet`` / ``caffe_vggface``: BGR, 0-255, mean subtracted (Keras VGG-16 /
    ResNet-50 and the VGG-Face weights)."""
    if method == "unit":
        return image
    if method == "symmetric":
        return image * 255.0 / 128.0 - 1.0
    means = {"caffe_imagenet": _IMAGENET_BGR_MEAN, "caffe_vggface": _VGGFACE_BGR_MEAN}
    if method not in means:
        raise ValueError(
            f"unknown normalisation {method!r} (allowed: unit, symmetric, {', '.join(means)})"
        )
    return tf.reverse(image, axis=[-1]) * 255.0 - tf.constant(means[method], tf.float32)


NORMALIZATIONS = ("unit", "symmetric", "caffe_imagenet", "caffe_vggface")
