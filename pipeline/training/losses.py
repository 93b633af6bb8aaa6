"""Losses and metrics: the concordance correlation coefficient (CCC) and MSE, mask-aware.

Targets given to Keras are ``(..., 3)``: valence, arousal and a **mask** (1 = the frame or
step counts, 0 = it does not); ``(..., 2)`` targets count everywhere. A NaN label never
counts either (per dimension). Predictions are ``(..., 2)``. Leading axes (batch, time)
are flattened: the statistics are over every counted element of the batch.

Per dimension (population statistics, weights m = mask):

    ρc = 2 s_xy / (s_x² + s_y² + (x̄ − ȳ)²)

- :class:`AffectLoss` (``make_loss("ccc" | "mse" | "ccc+mse")``): ``ccc`` = 1 − the mean
  of the two CCCs of the batch, ``mse`` = the mean of the two masked MSEs, ``ccc+mse`` their
  sum. A Keras ``sample_weight`` multiplies the mask.
- :class:`CCC` / :class:`MSE`: stateful metrics that add up sums over the epoch, so the
  epoch's value is the CCC over all its frames (as the evaluation computes it), not a mean of
  batch CCCs; sums are float64 and summed across replicas.

The denominators carry an epsilon: constant predictions give CCC 0 (loss 1), never NaN.
"""

from __future__ import annotations

import keras
from keras import ops

DIMENSIONS = ("valence", "arousal")
LOSSES = ("ccc", "mse", "ccc+mse")
EPSILON = 1e-7


def _split(y_true, y_pred, sample_weight=None):
    """Flatten to (N, 2) labels with NaNs zeroed, (N, 2) predictions, (N, 2) weights."""
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    labels = ops.reshape(y_true[..., :2], (-1, 2))
    pred = ops.reshape(y_pred, (-1, 2))
    if y_true.shape[-1] == 3:
        mask = ops.reshape(y_true[..., 2], (-1, 1))
    elif y_true.shape[-1] == 2:
        mask = ops.ones_like(labels[:, :1])
    else:
        raise ValueError(
            f"targets must be (..., 2) or (..., 3) = valence, arousal[, mask]; got {y_true.shape}"
        )
    if sample_weight is not None:
        sw = ops.cast(sample_weight, "float32")
        sw = ops.reshape(ops.broadcast_to(sw, ops.shape(y_true)[:-1]), (-1, 1))
        mask = mask * sw
    finite = ops.isfinite(labels)
    weights = ops.where(finite, mask, ops.zeros_like(labels))
    labels = ops.where(finite, labels, ops.zeros_like(labels))
    return labels, pred, weights


def concordance(cov, var_a, var_b, mean_a, mean_b):
    """ρc = 2 s_ab / (s_a² + s_b² + (ā − b̄)² + ε) from the moments: the one CCC formula in
    TensorFlow (the batch loss and the epoch metric); the numpy one is
    :func:`pipeline.evaluation.metrics.concordance`."""
    return 2.0 * cov / (var_a + var_b + ops.square(mean_a - mean_b) + EPSILON)


def ccc_per_dimension(y_true, y_pred, sample_weight=None):
    """The (2,) CCCs (valence, arousal) of one batch over its counted elements."""
    x, y, w = _split(y_true, y_pred, sample_weight)
    n = ops.maximum(ops.sum(w, axis=0), EPSILON)
    mx = ops.sum(w * y, axis=0) / n  # predictions
    mt = ops.sum(w * x, axis=0) / n  # labels
    dy, dt = y - mx, x - mt
    vy = ops.sum(w * dy * dy, axis=0) / n
    vt = ops.sum(w * dt * dt, axis=0) / n
    cov = ops.sum(w * dy * dt, axis=0) / n
    return concordance(cov, vy, vt, mx, mt)


def mse_per_dimension(y_true, y_pred, sample_weight=None):
    """The (2,) masked mean squared errors (valence, arousal) of one batch."""
    x, y, w = _split(y_true, y_pred, sample_weight)
    n = ops.maximum(ops.sum(w, axis=0), EPSILON)
    return ops.sum(w * ops.square(y - x), axis=0) / n


def ccc_loss(y_true, y_pred, sample_weight=None):
    """1 − the mean CCC of valence and arousal."""
    return 1.0 - ops.mean(ccc_per_dimension(y_true, y_pred, sample_weight))


def mse_loss(y_true, y_pred, sample_weight=None):
    """The mean of the valence and arousal MSEs."""
    return ops.mean(mse_per_dimension(y_true, y_pred, sample_weight))


def per_replica(loss):
    """``loss`` / the replicas in sync: under a ``tf.distribute`` strategy Keras sums the
    replicas' gradients and reports the loss times the replicas, so a loss must come divided
    (Keras's own reductions do this; a batch statistic returned as is would train with
    replicas x the gradient, which tests/training/test_distribute.py catches)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            loss = loss / replicas
    return loss


@keras.saving.register_keras_serializable(package="affwild")
class AffectLoss(keras.losses.Loss):
    """``ccc``, ``mse`` or ``ccc+mse`` over the whole batch (a scalar; see the module doc)."""

    def __init__(self, kind: str = "ccc", name: str | None = None, **kwargs):
        if kind not in LOSSES:
            raise ValueError(f"unknown loss {kind!r} (allowed: {', '.join(LOSSES)})")
        kwargs.pop("reduction", None)
        super().__init__(name=name or kind.replace("+", "_"), reduction="none", **kwargs)
        self.kind = kind

    def _value(self, y_true, y_pred, sample_weight=None):
        total = 0.0
        if "ccc" in self.kind:
            total = total + ccc_loss(y_true, y_pred, sample_weight)
        if "mse" in self.kind:
            total = total + mse_loss(y_true, y_pred, sample_weight)
        return total

    def call(self, y_true, y_pred):
        return self._value(y_true, y_pred)

    def __call__(self, y_true, y_pred, sample_weight=None):
        # A batch statistic: the sample weights go into the mask, not onto per-sample losses.
        return per_replica(self._value(y_true, y_pred, sample_weight))

    def get_config(self):
        return {"kind": self.kind, "name": self.name}


def make_loss(name: str) -> AffectLoss:
    """``"ccc"`` | ``"mse"`` | ``"ccc+mse"`` → a Keras loss for (..., 3) targets."""
    return AffectLoss(name)


def _dim(dim: int | str) -> int:
    if isinstance(dim, str):
        if dim not in DIMENSIONS:
            raise ValueError(f"unknown dimension {dim!r} (allowed: {', '.join(DIMENSIONS)})")
        return DIMENSIONS.index(dim)
    if dim not in (0, 1):
        raise ValueError(f"dimension must be 0 (valence) or 1 (arousal), got {dim}")
    return int(dim)


class _SumsMetric(keras.metrics.Metric):
    """Accumulates float64 sums of one dimension over the epoch."""

    SUMS: tuple[str, ...] = ()
    PREFIX = ""

    def __init__(self, dim: int | str = 0, name: str | None = None, **kwargs):
        self.dim = _dim(dim)
        super().__init__(name=name or f"{self.PREFIX}_{DIMENSIONS[self.dim]}", **kwargs)
        self.sums = {
            s: self.add_variable(shape=(), initializer="zeros", dtype="float64", name=s)
            for s in self.SUMS
        }

    def _batch(self, x, y, w):
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        x, y, w = _split(y_true, y_pred, sample_weight)
        d = self.dim
        x, y, w = (ops.cast(t[:, d], "float64") for t in (x, y, w))
        for s, value in self._batch(x, y, w).items():
            self.sums[s].assign_add(value)

    def batch_sums(self, y_true, y_pred):
        """This batch's sums, a float64 vector in ``SUMS`` order (summable across replicas
        and workers; :meth:`assign_sums` turns a total back into the metric)."""
        x, y, w = _split(y_true, y_pred)
        d = self.dim
        x, y, w = (ops.cast(t[:, d], "float64") for t in (x, y, w))
        batch = self._batch(x, y, w)
        return ops.stack([batch[s] for s in self.SUMS])

    def assign_sums(self, values) -> None:
        for s, v in zip(self.SUMS, values, strict=True):
            self.sums[s].assign(ops.cast(v, "float64"))

    def reset_state(self):
        for v in self.sums.values():
            v.assign(ops.zeros((), "float64"))

    def get_config(self):
        return {"dim": self.dim, "name": self.name}


@keras.saving.register_keras_serializable(package="affwild")
class CCC(_SumsMetric):
    """CCC of one dimension (0 / "valence", 1 / "arousal") over every counted frame of the
    epoch; named ``ccc_valence`` / ``ccc_arousal``."""

    SUMS = ("n", "x", "y", "xx", "yy", "xy")
    PREFIX = "ccc"

    def _batch(self, x, y, w):
        return {
            "n": ops.sum(w),
            "x": ops.sum(w * x),
            "y": ops.sum(w * y),
            "xx": ops.sum(w * x * x),
            "yy": ops.sum(w * y * y),
            "xy": ops.sum(w * x * y),
        }

    def result(self):
        s = {k: v.value for k, v in self.sums.items()}
        n = ops.maximum(s["n"], EPSILON)
        mx, my = s["x"] / n, s["y"] / n
        vx = ops.maximum(s["xx"] / n - mx * mx, 0.0)
        vy = ops.maximum(s["yy"] / n - my * my, 0.0)
        cov = s["xy"] / n - mx * my
        return ops.cast(concordance(cov, vx, vy, mx, my), "float32")


@keras.saving.register_keras_serializable(package="affwild")
class MSE(_SumsMetric):
    """Mean squared error of one dimension over every counted frame of the epoch; named
    ``mse_valence`` / ``mse_arousal``."""

    SUMS = ("n", "se")
    PREFIX = "mse"

    def _batch(self, x, y, w):
        return {"n": ops.sum(w), "se": ops.sum(w * ops.square(y - x))}

    def result(self):
        n = ops.maximum(self.sums["n"].value, EPSILON)
        return ops.cast(self.sums["se"].value / n, "float32")


def make_metrics() -> list[keras.metrics.Metric]:
    """Fresh ``ccc_valence``, ``ccc_arousal``, ``mse_valence``, ``mse_arousal`` metrics."""
    return [CCC(0), CCC(1), MSE(0), MSE(1)]
