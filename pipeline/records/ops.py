"""Small named preprocessing ops on decoded examples, usable eagerly and inside ``tf.data``.

Each op takes and returns a dict with ``image`` (uint8 or float32 pixels on the 0-255 scale,
shape (..., H, W, 3): the models normalise them in their first layer) and
``landmarks`` (float32, shape (..., 136), x/y normalised to the crop). Leading dimensions
(batch, a sequence's time axis) are allowed. The ops run on whole batches (vectorised, which
is what makes augmentation cheap enough for the input pipeline); the random op draws once per
example, so every frame of a sequence gets the same flip, shift and colour change.
"""

from __future__ import annotations

import tensorflow as tf

from pipeline.contracts.points68 import FLIP_PERMUTATION, N_POINTS


def flip(example: dict) -> dict:
    """Mirror horizontally: the image, and the landmarks (x -> 1 - x, left/right swapped)."""
    return flip_shift(example, True, 0, 0)


def _flip_points(landmarks: tf.Tensor) -> tf.Tensor:
    shape = tf.shape(landmarks)
    pts = tf.reshape(landmarks, tf.concat([shape[:-1], [N_POINTS, 2]], 0))
    pts = tf.stack([1.0 - pts[..., 0], pts[..., 1]], axis=-1)
    return tf.reshape(tf.gather(pts, FLIP_PERMUTATION, axis=-2), shape)


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
    return flip_shift(example, False, dx, dy)


def flip_shift(example: dict, flip, dx, dy) -> dict:
    """Mirror (where ``flip``) and then translate by (dx, dy) whole pixels, filling with
    black; each argument a scalar or one value per example of a batch. The image moves by
    two batched gathers (rows, then columns), whatever its dtype; landmarks follow."""
    image = example["image"]
    shape = tf.shape(image)
    leading, h, w = shape[:-3], shape[-3], shape[-2]
    flips = tf.reshape(_per_example(tf.cast(flip, tf.float32), leading, 0), [-1]) > 0.5
    dxs = tf.cast(tf.reshape(_per_example(dx, leading, 0), [-1]), tf.int32)
    dys = tf.cast(tf.reshape(_per_example(dy, leading, 0), [-1]), tf.int32)
    # Output pixel (x, y) reads the mirrored image at (x - dx, y - dy).
    rows = tf.range(h)[None, :] - dys[:, None]
    cols = tf.range(w)[None, :] - dxs[:, None]
    src_cols = tf.where(flips[:, None], w - 1 - cols, cols)
    flat = tf.reshape(image, tf.concat([[-1], shape[-3:]], 0))
    moved = tf.gather(flat, tf.clip_by_value(rows, 0, h - 1), axis=1, batch_dims=1)
    moved = tf.gather(moved, tf.clip_by_value(src_cols, 0, w - 1), axis=2, batch_dims=1)
    inside = ((rows >= 0) & (rows < h))[:, :, None, None] & ((cols >= 0) & (cols < w))[
        :, None, :, None
    ]
    moved = moved * tf.cast(inside, moved.dtype)

    pts = example["landmarks"]
    lead_rank = tf.size(leading)
    pick = tf.reshape(flips, tf.concat([leading, [1]], 0))
    pts = tf.where(pick, _flip_points(pts), pts)
    offset = tf.stack(
        [
            _per_example(dx, leading, 1)[..., 0] / tf.cast(w, tf.float32),
            _per_example(dy, leading, 1)[..., 0] / tf.cast(h, tf.float32),
        ],
        axis=-1,
    )
    offset = tf.tile(offset, tf.concat([tf.ones([lead_rank], tf.int32), [N_POINTS]], 0))
    return {**example, "image": tf.reshape(moved, shape), "landmarks": pts + offset}


def color(example: dict, brightness, contrast, saturation) -> dict:
    """Brightness delta, contrast and saturation factors (scalars, or one per example of a
    batch), applied in that order; returns float32 images on the 0-255 scale, the models'
    input (their first layer normalises). ``brightness`` is in units of the full range (0.1
    adds 25.5), as for TensorFlow's ``adjust_brightness`` on float images in [0, 1].

    All of these are affine in the colour channels, so they run as one per-image 3x3 matrix
    and offset — a single pass over the pixels: saturation ``(x - grey) s + grey`` is the
    matrix ``s I + (1 - s) / 3`` (rows summing to one), contrast around the image mean ``m``
    and the delta ``d`` add ``c d + (1 - c)(m + d)``. Like TensorFlow's own
    ``adjust_brightness`` / ``adjust_contrast`` on float images, values are not clipped.
    """
    image = tf.cast(example["image"], tf.float32)
    shape = tf.shape(image)
    leading = shape[:-3]
    flat = tf.reshape(image, tf.concat([[-1], [shape[-3] * shape[-2], 3]], 0))
    d, c, s = (
        tf.reshape(_per_example(v, leading, 0), [-1]) for v in (brightness, contrast, saturation)
    )
    d = d * 255.0
    mean = tf.reduce_mean(flat, axis=[1, 2])
    eye, grey = tf.eye(3), tf.fill([3, 3], 1.0 / 3.0)
    # out[d] = sum_c x[c] M[d, c] + o; M symmetric, so x @ M + o.
    matrix = (c * s)[:, None, None] * eye + (c * (1.0 - s))[:, None, None] * grey
    offset = c * d + (1.0 - c) * (mean + d)
    out = tf.einsum("npc,ncd->npd", flat, matrix) + offset[:, None, None]
    return {**example, "image": tf.reshape(out, shape)}


def random_augment(batch: dict, cfg, seed: tf.Tensor) -> dict:
    """One random flip / shift / colour change per example of a batch (leading axis), the same
    for every frame of a sequence; stateless, drawn from ``seed``. Returns float32 images on
    the 0-255 scale (not clipped after a colour change)."""
    n = tf.shape(batch["image"])[0]
    seeds = tf.random.experimental.stateless_split(seed, 6)

    def uniform(i, lo, hi, dtype=tf.float32):
        return tf.random.stateless_uniform([n], seeds[i], lo, hi, dtype=dtype)

    if cfg.flip or cfg.shift > 0:
        size = tf.cast(tf.shape(batch["image"])[-2], tf.float32)
        m = tf.cast(tf.round(cfg.shift * size), tf.int32)
        flips = uniform(0, 0.0, 1.0) < 0.5 if cfg.flip else tf.zeros([n], tf.bool)
        dx = tf.cast(uniform(1, -m, m + 1, tf.int32), tf.float32)
        dy = tf.cast(uniform(2, -m, m + 1, tf.int32), tf.float32)
        batch = flip_shift(batch, flips, dx, dy)
    if cfg.brightness or cfg.contrast or cfg.saturation:
        batch = color(
            batch,
            uniform(3, -cfg.brightness, cfg.brightness) if cfg.brightness else 0.0,
            uniform(4, 1 - cfg.contrast, 1 + cfg.contrast) if cfg.contrast else 1.0,
            uniform(5, 1 - cfg.saturation, 1 + cfg.saturation) if cfg.saturation else 1.0,
        )
    else:
        batch = {**batch, "image": tf.cast(batch["image"], tf.float32)}
    return batch
