"""The SIFT + SVR baseline is one scikit-learn pipeline from JPEG crops to (valence,
arousal): dense SIFT is its first step, so a saved model needs no grid setting beside it. It is
saved as data (arrays + parameters, no pickle) and its predictor repeats the pipeline's."""

from __future__ import annotations

import json

import cv2
import joblib
import numpy as np
import pytest
from sklearn.pipeline import Pipeline

from pipeline.artifacts import ModelFolderError, SvrMeta
from pipeline.baseline.saved import load_svr, save_svr
from pipeline.baseline.sift_svr import DenseSift, fit_svr, sift_features
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


def _save(model, cfg, folder):
    """What train_svr writes: the model's arrays and parameters + meta.json."""
    save_svr(model, folder)
    SvrMeta(train_frames=40, feature_dim=1152, svr=cfg.model_dump(mode="json")).write(folder)
    return folder


@pytest.mark.parametrize(
    "cfg", [SvrConfig(grid=3, pca=16), SvrConfig(grid=2, pca=0, kernel="linear", C=3.0)]
)
def test_saved_folder_predicts_what_the_fitted_pipeline_predicts(cfg, tmp_path):
    """The folder holds data only (model.json + model.npz, readable without pickle) and its
    predictor gives the scikit-learn pipeline's predictions on new crops: within 1e-9 (the
    same float32 steps, then the kernel sums in float64 in another order), so equal after
    the float32 cast evaluate applies."""
    jpegs, y = face_jpegs(40)
    model = fit_svr(jpegs, y, cfg)
    folder = _save(model, cfg, tmp_path / "svr")
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", "model.json", "model.npz"]
    with np.load(folder / SvrMeta.MODEL_FILE, allow_pickle=False) as z:
        assert all(z[name].dtype.kind == "f" for name in z.files)
    spec = json.loads((folder / SvrMeta.SPEC_FILE).read_text())
    assert spec["grid"] == cfg.grid and [o["kernel"] for o in spec["outputs"]] == [cfg.kernel] * 2
    new, _ = face_jpegs(25, seed=2)
    want, got = model.predict(new), load_svr(folder).predict(new)
    assert got.shape == (25, 2) and np.std(want, axis=0).min() > 1e-3
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(got.astype(np.float32), want.astype(np.float32))
    # the same model gives the same bytes (DVC sees a re-trained, unchanged model as unchanged)
    again = _save(model, cfg, tmp_path / "again")
    for name in (SvrMeta.MODEL_FILE, SvrMeta.SPEC_FILE):
        assert (again / name).read_bytes() == (folder / name).read_bytes()


def test_a_pickled_model_is_refused_unread(fitted, tmp_path):
    """A folder whose model is a pickle (as this project once saved it, or planted) is
    refused with one line naming the file; it is never unpickled."""
    model, _ = fitted
    joblib.dump(model, tmp_path / "model.joblib")
    SvrMeta(train_frames=40, feature_dim=1152).write(tmp_path)
    with pytest.raises(ModelFolderError) as info:
        load_svr(tmp_path)
    msg = str(info.value)
    assert msg.startswith(f"{tmp_path / 'model.joblib'}: refused: a pickle") and "\n" not in msg
    assert "runs whatever code" in msg
    (tmp_path / "model.joblib").rename(tmp_path / "svr.pkl")
    with pytest.raises(ModelFolderError, match=r"svr.pkl: refused: a pickle"):
        load_svr(tmp_path)


def _damage(folder, how: str) -> str:
    """Damage a saved folder; the text its error must hold."""
    npz, spec = folder / SvrMeta.MODEL_FILE, folder / SvrMeta.SPEC_FILE
    if how == "truncated":
        npz.write_bytes(npz.read_bytes()[:300])
        return "model.npz: cannot be read as arrays"
    if how == "pickled arrays":
        np.savez(npz, svr0_dual_coef=np.array([object()], dtype=object))
        return "model.npz: refused: it holds pickled Python objects"
    if how == "missing array":
        with np.load(npz) as z:
            np.savez(npz, **{k: z[k] for k in z.files if k != "svr1_dual_coef"})
        return "model.npz: no array 'svr1_dual_coef'"
    if how == "wrong shape":
        with np.load(npz) as z:
            arrays = {k: z[k] for k in z.files}
        np.savez(npz, **{**arrays, "scale_mean": arrays["scale_mean"][:-1]})
        return "model.npz: array 'scale_mean' is float64 (1151,); expected finite floats of shape (1152)"
    if how == "no spec":
        spec.unlink()
        return "model.json: no such file"
    if how == "bad spec":
        spec.write_text(json.dumps({**json.loads(spec.read_text()), "grid": "four"}))
        return "model.json: not a SIFT + SVR model description (grid: "
    (folder / "meta.json").unlink()
    return "meta.json"


@pytest.mark.parametrize(
    "how",
    ["truncated", "pickled arrays", "missing array", "wrong shape", "no spec", "bad spec",
     "no meta"],
)  # fmt: skip
def test_damaged_folder_is_named(fitted, tmp_path, how):
    model, cfg = fitted
    folder = _save(model, cfg, tmp_path / "svr")
    expected = _damage(folder, how)
    with pytest.raises(ModelFolderError) as info:
        load_svr(folder)
    assert expected in str(info.value) and str(folder) in str(info.value)
    assert len(str(info.value).splitlines()) == 1


def test_missing_folder(tmp_path):
    with pytest.raises(ModelFolderError, match="no such model folder"):
        load_svr(tmp_path / "nope")
