"""SIFT + SVR baseline (paper, Section 3: "very low CCC and nearly constant predictions").

Dense SIFT: descriptors at a fixed ``grid`` × ``grid`` lattice of keypoints over the face
crop (OpenCV), concatenated, standardised, reduced by PCA, then one RBF (or linear) SVR per
dimension (scikit-learn). SVR training is quadratic in the number of samples, so at most
``max_train`` training frames are used, drawn with a seed.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np
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


def make_regressor(kernel: str, C: float, epsilon: float, pca: int, seed: int) -> Pipeline:
    steps = [("scale", StandardScaler())]
    if pca:
        steps.append(("pca", PCA(n_components=pca, random_state=seed)))
    steps.append(("svr", MultiOutputRegressor(SVR(kernel=kernel, C=C, epsilon=epsilon))))
    return Pipeline(steps)


def fit_svr(features: np.ndarray, targets: np.ndarray, cfg) -> Pipeline:
    """Fit on (n, d) features and (n, 2) valence/arousal targets."""
    pca = min(cfg.pca, features.shape[0], features.shape[1])
    model = make_regressor(cfg.kernel, cfg.C, cfg.epsilon, pca, cfg.seed)
    return model.fit(features, targets)
