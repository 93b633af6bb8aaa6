"""Does a mesh's face look like a face? The texture and appearance checks of ``landmarks``.

MediaPipe's face mesh is confident (presence 0.99-1.0) on some large lettering: a bold "a"
or "Qa" over a sky is a round shape with two holes, and the mesh fits a face-shaped set of
points to it. Neither the 68 points' shape (its residual after a similarity alignment to the
mean 300-W shape) nor the face's size in the frame tells those apart from real faces (both
measured: ``docs/landmarks.md``). What does is texture: skin, eyes, brows and lips give
a real face fine detail all over, while lettering is flat fill and a smooth sky, with edges
only along the strokes.

:func:`texture_share` measures it on the inner face (the hull of points 17-67: brows, eyes,
nose, mouth), warped to 64 x 64 grey levels: the share of pixels whose Laplacian exceeds 1/20
of the region's grey-level standard deviation (so that it hardly depends on brightness or
contrast), and at least :data:`MIN_DETAIL` grey level (a strongly blurred letter is smooth
everywhere, so its spread alone would make any ripple count).

Shaded 3-D lettering (a bevel, highlights, dark outlines) has that detail. :func:`appearance`
asks whether the inner face looks like a face: a logistic regression on the HOG of the inner
face aligned to the mean shape (:class:`AppearanceModel`, shipped as
``data/face_appearance.npz``); the stage asks it where a mesh would start a track
(``docs/landmarks.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

PATCH = 64  # side of the warped inner-face patch
MIN_DETAIL = 1.0  # grey levels: a Laplacian below this is no detail however flat the region


def texture_share(rgb: np.ndarray, points: np.ndarray) -> float:
    """Share (0..1) of the inner face's pixels with fine detail; 0 where the region is empty."""
    hull = cv2.convexHull(np.asarray(points[17:], np.float32)).reshape(-1, 2)
    x0, y0 = hull.min(0)
    w, h = hull.max(0) - hull.min(0)
    if w < 2 or h < 2:
        return 0.0
    # only the region's pixels are converted to grey (not the whole frame)
    fh, fw = rgb.shape[:2]
    bx0, by0 = max(int(x0) - 1, 0), max(int(y0) - 1, 0)
    bx1, by1 = min(int(x0 + w) + 2, fw), min(int(y0 + h) + 2, fh)
    if bx1 - bx0 < 2 or by1 - by0 < 2:
        return 0.0
    roi = rgb[by0:by1, bx0:bx1]
    grey = roi if roi.ndim == 2 else cv2.cvtColor(roi, cv2.COLOR_RGB2GRAY)
    sx, sy = PATCH / w, PATCH / h
    m = np.array([[sx, 0, (bx0 - x0) * sx], [0, sy, (by0 - y0) * sy]], np.float64)
    patch = cv2.warpAffine(grey, m, (PATCH, PATCH), flags=cv2.INTER_AREA).astype(np.float32)
    mask = np.zeros((PATCH, PATCH), np.uint8)
    cv2.fillConvexPoly(
        mask, np.round((hull - [x0, y0]) * [PATCH / w, PATCH / h]).astype(np.int32), 1
    )
    inside = mask.astype(bool)
    if not inside.any():
        return 0.0
    lap = np.abs(cv2.Laplacian(patch, cv2.CV_32F))
    sd = float(patch[inside].std()) + 1e-3
    return float((lap[inside] > max(sd / 20, MIN_DETAIL)).mean())


# -- appearance: does the face region look like a face to a linear face / not-face classifier?

APPEARANCE_FILE = Path(__file__).resolve().parent / "data" / "face_appearance.npz"
APPEARANCE_PATCH = 48  # side of the aligned grey patch the classifier reads


@dataclass(frozen=True)
class AppearanceModel:
    """Logistic regression on the HOG of the aligned inner face (our choice, fitted by
    ``benchmarks/fit_face_appearance.py``): ``template`` (51, 2) where points 17-67 go in the
    48 x 48 patch, ``weights`` (HOG length,), ``bias``, and how it was fitted (``info``)."""

    template: np.ndarray
    weights: np.ndarray
    bias: float
    info: str

    @classmethod
    def load(cls, path: str | Path) -> AppearanceModel:
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(z["template"].astype(np.float32), z["weights"].astype(np.float32),
                           float(z["bias"]), str(z["info"]))  # fmt: skip
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"{path}: not a face appearance file ({exc})") from None

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, template=self.template, weights=self.weights,
                            bias=np.float64(self.bias), info=np.str_(self.info))  # fmt: skip


@lru_cache(maxsize=1)
def _hog() -> cv2.HOGDescriptor:
    s = APPEARANCE_PATCH  # 16 px blocks of 4 cells, 8 px stride, 9 orientations: 900 values
    return cv2.HOGDescriptor((s, s), (16, 16), (8, 8), (8, 8), 9)


@lru_cache(maxsize=1)
def appearance_model() -> AppearanceModel:
    """The classifier shipped with the package (:data:`APPEARANCE_FILE`), loaded once."""
    return AppearanceModel.load(APPEARANCE_FILE)


def aligned_patch(rgb: np.ndarray, points: np.ndarray, template: np.ndarray) -> np.ndarray:
    """The 48 x 48 grey patch of the inner face: points 17-67 similarity-aligned to
    ``template`` (edges replicated)."""
    src = np.asarray(points[17:], np.float64)
    m = _similarity(src, np.asarray(template, np.float64))
    # only the region's pixels are converted to grey (not the whole frame)
    fh, fw = rgb.shape[:2]
    c = src.mean(0)
    r = float(np.ptp(src, 0).max()) * 1.2 + 4
    x0, y0 = max(int(c[0] - r), 0), max(int(c[1] - r), 0)
    x1, y1 = min(int(c[0] + r) + 1, fw), min(int(c[1] + r) + 1, fh)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros((APPEARANCE_PATCH, APPEARANCE_PATCH), np.uint8)
    roi = rgb[y0:y1, x0:x1]
    grey = roi if roi.ndim == 2 else cv2.cvtColor(roi, cv2.COLOR_RGB2GRAY)
    m[:, 2] += m[:, :2] @ [x0, y0]
    return cv2.warpAffine(grey, m, (APPEARANCE_PATCH,) * 2, flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REPLICATE)  # fmt: skip


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2 x 3 least-squares similarity (rotation, scale, shift) taking ``src`` to ``dst``."""
    a, b = src - src.mean(0), dst - dst.mean(0)
    zs, zd = a[:, 0] + 1j * a[:, 1], b[:, 0] + 1j * b[:, 1]
    k = (np.conj(zs) @ zd) / max(float((np.abs(zs) ** 2).sum()), 1e-9)
    rot = np.array([[k.real, -k.imag], [k.imag, k.real]])
    return np.hstack([rot, (dst.mean(0) - rot @ src.mean(0))[:, None]])


def appearance_features(rgb: np.ndarray, points: np.ndarray, template: np.ndarray) -> np.ndarray:
    """The classifier's input: the HOG (900 values) of :func:`aligned_patch`."""
    return _hog().compute(aligned_patch(rgb, points, template)).reshape(-1)


def appearance(rgb: np.ndarray, points: np.ndarray, model: AppearanceModel | None = None) -> float:
    """Probability (0..1) that the inner face of ``points`` in ``rgb`` is a face by its look."""
    model = model or appearance_model()
    z = float(appearance_features(rgb, points, model.template) @ model.weights) + model.bias
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))
