"""The SIFT + SVR baseline is one scikit-learn pipeline from JPEG crops to (valence,
arousal): dense SIFT is its first step, so a saved model needs no grid setting beside it."""

from __future__ import annotations

import pickle

import cv2
import joblib
import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from pipeline.artifacts import ModelFolderError, SvrMeta
from pipeline.baseline.sift_svr import DenseSift, fit_svr, load_svr, sift_features
from pipeline.config import SvrConfig

SIZE = 48


def face_jpegs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n small JPEG crops (a bright ellipse on a textured background, its size and tilt
    varying) and targets that follow the ellipse, so the SVR has something to learn."""
    rng = np.random.default_rng(seed)
    jpegs, targets = [], []
    for _ in range(n):
        img = rng.integers(0, 60, (SIZE, SIZE, 3), dtype=np.uint8)
        axes = int(rng.integers(8, 20)), int(rng.integers(8, 20))
        angle = float(rng.uniform(0, 180))
        cv2.ellipse(img, (SIZE // 2, SIZE // 2), axes, angle, 0, 360, (220, 200, 180), -1)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        jpegs.append(buf.tobytes())
        targets.append([(axes[0] - 14) / 6, (axes[1] - 14) / 6])
    return np.array(jpegs, dtype=object), np.asarray(targets, np.float32)


@pytest.fixture(scope="module")
def fitted():
    jpegs, y = face_jpegs(40)
    cfg = SvrConfig(grid=3, pca=16)
    return fit_svr(jpegs, y, cfg), cfg


def test_pipeline_starts_with_dense_sift_and_equals_the_steps_by_hand(fitted):
    model, cfg = fitted
    assert isinstance(model, Pipeline) and [n for n, _ in model.steps][0] == "sift"
    assert model.named_steps["sift"].grid == cfg.grid
    jpegs, _ = face_jpegs(7, seed=1)
    feats = sift_features(jpegs, cfg.grid)
    assert feats.shape == (7, 3 * 3 * 128)
    np.testing.assert_array_equal(DenseSift(cfg.grid).fit(jpegs).transform(jpegs), feats)
    by_hand = feats
    for name in ("scale", "pca"):
        by_hand = model.named_steps[name].transform(by_hand)
    np.testing.assert_allclose(model.predict(jpegs), model.named_steps["svr"].predict(by_hand))
    # it learnt something from the crops (not a constant)
    assert np.std(model.predict(jpegs), axis=0).min() > 1e-3


def test_saved_folder_round_trip(fitted, tmp_path):
    """What train_svr writes (joblib + meta.json) loads back as the same predictor, and so
    does a plain pickle; the predictor takes JPEG bytes as the records hold them."""
    model, cfg = fitted
    jpegs, _ = face_jpegs(9, seed=2)
    want = model.predict(jpegs)
    joblib.dump(model, tmp_path / SvrMeta.MODEL_FILE)
    SvrMeta(train_frames=40, feature_dim=1152, svr=cfg.model_dump(mode="json")).write(tmp_path)
    # The same model: under scikit-learn 1.9.1 the copy predicts up to ~5e-7 from the original
    # (float rounding inside its SVR/PCA steps), so equal to float32 precision, not bit for bit.
    np.testing.assert_allclose(load_svr(tmp_path).predict(jpegs), want, rtol=0, atol=1e-5)
    np.testing.assert_allclose(
        pickle.loads(pickle.dumps(model)).predict(list(jpegs)), want, rtol=0, atol=1e-5
    )


def test_bad_svr_folder_is_a_clear_error(tmp_path):
    SvrMeta(train_frames=40, feature_dim=1152).write(tmp_path)
    with pytest.raises(ModelFolderError, match=r"model.joblib: no such file"):
        load_svr(tmp_path)
    (tmp_path / SvrMeta.MODEL_FILE).write_bytes(b"not a pickle")
    with pytest.raises(ModelFolderError, match=r"model.joblib: cannot be loaded"):
        load_svr(tmp_path)
    with pytest.raises(ModelFolderError, match="no such model folder"):
        load_svr(tmp_path / "nope")
