"""Does a mesh's face look like a face? The texture check of the ``landmarks`` stage.

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
"""

from __future__ import annotations

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
