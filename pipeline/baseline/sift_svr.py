"""SIFT + SVR baseline (paper, Section 4: very low CCC and predictions of very low variance).

One scikit-learn :class:`~sklearn.pipeline.Pipeline` from JPEG face crops to (valence,
arousal): dense SIFT (:class:`DenseSift`: descriptors at a fixed ``grid`` × ``grid`` lattice
of keypoints over the crop, OpenCV, concatenated), standardised, reduced by PCA, then one RBF
(or linear) SVR per dimension. It is saved as data — its arrays in ``model.npz``, its
structure and scalars in ``model.json`` (:mod:`pipeline.baseline.saved`), never a pickle —
and loaded as a predictor that takes the crops' JPEG bytes as they are in the records, so
using it needs no setting beside it.
SVR training is quadratic in the number of samples, so at most ``max_train`` training frames
are used, drawn with a seed.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.multioutput import MultiOutputRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR


def sift_features(jpegs: Iterable[bytes], grid: int) -> np.ndarray:
    """(n, grid * grid * 128) dense SIFT descriptors of JPEG face crops."""
    sift = cv2.SIFT_create()
    rows = []
    keypoints = None
    for jpeg in jpegs:
        gray = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
        if keypoints is None:
            size = gray.shape[0]
            step = size / grid
            keypoints = [
                cv2.KeyPoint((i + 0.5) * step, (j + 0.5) * step, step)
                for j in range(grid)
                for i in range(grid)
            ]
        _, desc = sift.compute(gray, keypoints)
        rows.append(desc.reshape(-1))
    return np.asarray(rows, np.float32).reshape(len(rows), grid * grid * 128)


class DenseSift(TransformerMixin, BaseEstimator):
    """JPEG face crops (a sequence of bytes) → (n, grid * grid * 128) dense SIFT descriptors
    (:func:`sift_features`); nothing is learnt (``fit`` only checks the input)."""

    def __init__(self, grid: int = 4):
        self.grid = grid

    def fit(self, X, y=None):
        if self.grid < 1:
            raise ValueError(f"DenseSift: grid must be >= 1 (got {self.grid})")
        self.n_features_out_ = self.grid * self.grid * 128
        return self

    def transform(self, X) -> np.ndarray:
        return sift_features(X, self.grid)

    def __sklearn_is_fitted__(self) -> bool:
        return True  # stateless


def make_regressor(
    kernel: str, C: float, epsilon: float, pca: int, seed: int, grid: int
) -> Pipeline:
    """The unfitted pipeline: JPEG bytes → dense SIFT → scale → [PCA] → one SVR per
    dimension."""
    steps = [("sift", DenseSift(grid)), ("scale", StandardScaler())]
    if pca:
        steps.append(("pca", PCA(n_components=pca, random_state=seed)))
    steps.append(("svr", MultiOutputRegressor(SVR(kernel=kernel, C=C, epsilon=epsilon))))
    return Pipeline(steps)


def fit_svr(jpegs, targets: np.ndarray, cfg) -> Pipeline:
    """Fit on ``jpegs`` (a sequence of n JPEG face crops) and (n, 2) valence/arousal targets;
    ``cfg`` is the ``svr`` params section."""
    n, dim = len(jpegs), cfg.grid * cfg.grid * 128
    model = make_regressor(cfg.kernel, cfg.C, cfg.epsilon, min(cfg.pca, n, dim), cfg.seed, cfg.grid)
    return model.fit(jpegs, targets)
