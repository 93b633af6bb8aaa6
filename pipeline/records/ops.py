"""Small named preprocessing ops on decoded examples, usable eagerly and inside ``tf.data``.

Each op takes and returns a dict with ``image`` (float32 in [0, 1], shape (..., H, W, 3)) and
``landmarks`` (float32, shape (..., 136), x/y normalised to the crop). Leading dimensions
(batch, a sequence's time axis) are allowed. The ops run on whole batches (vectorised, which
is what makes augmentation cheap enough for the input pipeline); the random op draws once per
example, so every frame of a sequence gets the same flip, shift and colour change.
"""

from __future__ import annotations

import tensorflow as tf

from pipeline.face.points68 import FLIP_PERMUTATION, N_POINTS


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


def to_float(image: tf.Tensor) -> tf.Tensor:
    """uint8 [0, 255] → float32 [0, 1]; float images pass through."""
    return tf.cast(image, tf.float32) / 255.0 if image.dtype == tf.uint8 else image


def color(example: dict, brightness, contrast, saturation, normalization: str = "unit") -> dict:
    """Brightness delta, contrast and saturation factors (scalars, or one per example of a
    batch), applied in that order, then the normalisation (see :func:`normalize`).

    All of these are affine in the colour channels, so they run as one per-image 3x3 matrix
    and offset — a single pass over the pixels: saturation ``(x - grey) s + grey`` is the
    matrix ``s I + (1 - s) / 3`` (rows summing to one), contrast around the image mean ``m``
    and the delta ``d`` add ``c d + (1 - c)(m + d)``. Like TensorFlow's own
    ``adjust_brightness`` / ``adjust_contrast`` on float images, values are not clipped.
    """
    image = to_float(example["image"])
    shape = tf.shape(image)
    leading = shape[:-3]
    flat = tf.reshape(image, tf.concat([[-1], [shape[-3] * shape[-2], 3]], 0))
    d, c, s = (
        tf.reshape(_per_example(v, leading, 0), [-1]) for v in (brightness, contrast, saturation)
    )
    mean = tf.reduce_mean(flat, axis=[1, 2])
    eye, grey = tf.eye(3), tf.fill([3, 3], 1.0 / 3.0)
    # out[d] = sum_c x[c] M[d, c] + o; M symmetric, so x @ M + o.
    matrix = (c * s)[:, None, None] * eye + (c * (1.0 - s))[:, None, None] * grey
    offset = c * d + (1.0 - c) * (mean + d)
    weights, bias = normalization_affine(normalization)
    matrix = tf.einsum("nij,jk->nik", matrix, weights)
    offset = offset[:, None] * tf.reduce_sum(weights, axis=0)[None, :] + bias[None, :]
    out = tf.einsum("npc,ncd->npd", flat, matrix) + offset[:, None, :]
    return {**example, "image": tf.reshape(out, shape)}


def random_augment(batch: dict, cfg, seed: tf.Tensor, normalization: str = "unit") -> dict:
    """One random flip / shift / colour change per example of a batch (leading axis), the same
    for every frame of a sequence; stateless, drawn from ``seed``. Returns float images,
    normalised (``normalization``, fused with the colour change)."""
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
            normalization,
        )
    else:
        batch = {**batch, "image": normalize(to_float(batch["image"]), normalization)}
    return batch


# Per-backbone input normalisation of images in [0, 1] (RGB).
_IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)
_VGGFACE_BGR_MEAN = (93.5940, 104.7624, 129.1863)


def normalization_affine(method: str) -> tuple[tf.Tensor, tf.Tensor]:
    """(W, b) with ``normalize(x) = x @ W + b`` for RGB images in [0, 1]."""
    if method == "unit":
        return tf.eye(3), tf.zeros([3])
    if method == "symmetric":
        return tf.eye(3) * (255.0 / 128.0), -tf.ones([3])
    means = {"caffe_imagenet": _IMAGENET_BGR_MEAN, "caffe_vggface": _VGGFACE_BGR_MEAN}
    if method not in means:
        raise ValueError(
            f"unknown normalisation {method!r} (allowed: unit, symmetric, {', '.join(means)})"
        )
    to_bgr = tf.constant([[0, 0, 255.0], [0, 255.0, 0], [255.0, 0, 0]], tf.float32)
    return to_bgr, -tf.constant(means[method], tf.float32)


def normalize(image: tf.Tensor, method: str) -> tf.Tensor:
    """``unit``: [0, 1]; ``symmetric``: [-1, 1] ((x - 128) / 128, the authors' release);
    ``caffe_imagenet`` / ``caffe_vggface``: BGR, 0-255, mean subtracted (Keras VGG-16 /
    ResNet-50 and the VGG-Face weights). One pass: an affine map of the channels."""
    weights, bias = normalization_affine(method)
    if method == "unit":
        return image
    return tf.tensordot(image, weights, axes=[[-1], [0]]) + bias


NORMALIZATIONS = ("unit", "symmetric", "caffe_imagenet", "caffe_vggface")
