"""CCC / MSE losses and epoch metrics against numpy, with masks and NaN labels."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pipeline.training.losses import (
    CCC,
    MSE,
    AffectLoss,
    ccc_per_dimension,
    make_loss,
    make_metrics,
)


def ccc_np(x, y):
    """Lin's CCC with population statistics."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    cov = np.mean((x - x.mean()) * (y - y.mean()))
    return 2 * cov / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def batch(shape=(6, 7), seed=0, mask_p=0.3):
    rng = np.random.default_rng(seed)
    labels = rng.uniform(-1, 1, (*shape, 2))
    pred = 0.6 * labels + rng.normal(0, 0.4, (*shape, 2)) + 0.1
    mask = (rng.uniform(size=shape) > mask_p).astype(np.float64)
    y_true = np.concatenate([labels, mask[..., None]], -1).astype("float32")
    return y_true, pred.astype("float32")


def np_(t):
    return keras.ops.convert_to_numpy(t)


def test_ccc_matches_numpy_over_unmasked_elements():
    y_true, pred = batch()
    keep = y_true[..., 2] > 0
    expected = [ccc_np(pred[..., d][keep], y_true[..., d][keep]) for d in (0, 1)]
    np.testing.assert_allclose(np_(ccc_per_dimension(y_true, pred)), expected, atol=1e-5)
    loss = make_loss("ccc")(y_true, pred)
    np.testing.assert_allclose(np_(loss), 1 - np.mean(expected), atol=1e-5)


def test_masked_elements_never_count():
    y_true, pred = batch()
    garbage_true, garbage_pred = y_true.copy(), pred.copy()
    off = y_true[..., 2] == 0
    garbage_true[off, :2] = 100.0
    garbage_pred[off] = -50.0
    for name in ("ccc", "mse", "ccc+mse"):
        loss = make_loss(name)
        np.testing.assert_allclose(
            np_(loss(y_true, pred)), np_(loss(garbage_true, garbage_pred)), rtol=1e-5
        )


def test_nan_labels_never_count_and_give_no_nan():
    y_true, pred = batch(mask_p=0.0)
    y_nan = y_true.copy()
    y_nan[0, :3, 0] = np.nan  # valence missing in three frames; arousal still counts there
    keep_v = np.ones(y_true.shape[:-1], bool)
    keep_v[0, :3] = False
    expected = [
        ccc_np(pred[..., 0][keep_v], y_true[..., 0][keep_v]),
        ccc_np(pred[..., 1].ravel(), y_true[..., 1].ravel()),
    ]
    np.testing.assert_allclose(np_(ccc_per_dimension(y_nan, pred)), expected, atol=1e-5)
    for name in ("ccc", "mse", "ccc+mse"):
        assert np.isfinite(np_(make_loss(name)(y_nan, pred)))


def test_constant_predictions_and_empty_batches_are_nan_free():
    y_true, _ = batch()
    const = np.zeros(y_true.shape[:-1] + (2,), "float32")
    value = np_(make_loss("ccc")(y_true, const))
    assert np.isfinite(value) and value == pytest.approx(1.0, abs=1e-5)
    empty = y_true.copy()
    empty[..., 2] = 0
    for name in ("ccc", "mse", "ccc+mse"):
        assert np.isfinite(np_(make_loss(name)(empty, const)))
    # Gradients stay finite with constant predictions.
    import tensorflow as tf

    p = tf.Variable(const)
    with tf.GradientTape() as tape:
        loss = make_loss("ccc")(tf.constant(y_true), p)
    assert np.all(np.isfinite(tape.gradient(loss, p).numpy()))


def test_mse_and_two_column_targets_and_sample_weights():
    y_true, pred = batch()
    keep = y_true[..., 2] > 0
    mse = np.mean([np.mean((pred[..., d][keep] - y_true[..., d][keep]) ** 2) for d in (0, 1)])
    np.testing.assert_allclose(np_(make_loss("mse")(y_true, pred)), mse, rtol=1e-5)
    # (..., 2) targets count everywhere; a sample_weight acts as the mask.
    two = y_true[..., :2]
    np.testing.assert_allclose(
        np_(make_loss("mse")(two, pred, sample_weight=y_true[..., 2])), mse, rtol=1e-5
    )
    both = np_(make_loss("ccc+mse")(y_true, pred))
    np.testing.assert_allclose(
        both, np_(make_loss("ccc")(y_true, pred)) + np_(make_loss("mse")(y_true, pred)), rtol=1e-6
    )


def test_metrics_accumulate_over_the_epoch_not_a_mean_of_batches():
    y_true, pred = batch(shape=(40,), seed=3)
    # Batches with very different statistics: the epoch CCC is not the mean of batch CCCs.
    pred[:20] += 0.8
    metrics = make_metrics()
    assert [m.name for m in metrics] == ["ccc_valence", "ccc_arousal", "mse_valence", "mse_arousal"]
    for m in metrics:
        for s in (slice(0, 20), slice(20, 40)):
            m.update_state(y_true[s], pred[s])
    keep = y_true[..., 2] > 0
    for d in (0, 1):
        expected = ccc_np(pred[keep, d], y_true[keep, d])
        assert float(metrics[d].result()) == pytest.approx(expected, abs=1e-5)
        mse = np.mean((pred[keep, d] - y_true[keep, d]) ** 2)
        assert float(metrics[2 + d].result()) == pytest.approx(mse, rel=1e-5)
    batch_mean = np.mean(
        [ccc_np(pred[s][keep[s], 0], y_true[s][keep[s], 0]) for s in (slice(0, 20), slice(20, 40))]
    )
    assert abs(float(metrics[0].result()) - batch_mean) > 0.05
    metrics[0].reset_state()
    assert float(metrics[0].result()) == 0.0


def test_metric_on_sequences_and_constant_predictions():
    y_true, pred = batch(shape=(3, 10, 5))
    m = CCC("arousal")
    m.update_state(y_true, pred)
    keep = y_true[..., 2] > 0
    assert float(m.result()) == pytest.approx(
        ccc_np(pred[..., 1][keep], y_true[..., 1][keep]), abs=1e-5
    )
    m = CCC(0)
    m.update_state(y_true, np.zeros_like(pred))
    assert np.isfinite(float(m.result()))


def test_config_round_trips_and_bad_names():
    loss = keras.losses.deserialize(keras.losses.serialize(make_loss("ccc+mse")))
    assert isinstance(loss, AffectLoss) and loss.kind == "ccc+mse"
    m = keras.metrics.deserialize(keras.metrics.serialize(MSE("arousal")))
    assert m.name == "mse_arousal" and m.dim == 1
    with pytest.raises(ValueError, match="allowed: ccc, mse, ccc\\+mse"):
        make_loss("l1")
    with pytest.raises(ValueError, match="allowed: valence, arousal"):
        CCC("dominance")
    with pytest.raises(ValueError, match="valence, arousal\\[, mask\\]"):
        make_loss("ccc")(np.zeros((4, 5), "float32"), np.zeros((4, 2), "float32"))
