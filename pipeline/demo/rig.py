"""The expression rig: a face photo deformed by a few expression coefficients.

Each expression basis is a smooth dense displacement field over a patch around the face
(a normalised blend of Gaussian bumps carrying displacements prescribed at Face Mesh control
points, with fixed "anchor" points that keep the rest of the face in place). A frame's deformation is a
linear combination of the bases, so per frame the cost is one dot product and one
``cv2.remap``; the inverse mapping that ``remap`` needs is found by two fixed-point steps.

Bases (units: face height F, the height of the 468 Face Mesh points; y points down):

==========  =====================================================================
``smile``   mouth corners up and outward (negative: down and inward) — valence
``cheek``   cheeks and lower eyelids raised (positive valence only)
``frown``   inner brows lowered and drawn together (negative valence only)
``eyes``    upper lids up, lower lids down: eyes wider — arousal
``brows``   brows raised — arousal
``jaw``     mouth opened (lower lip and chin down, the gap painted dark) — arousal
``blink``   upper lids down onto the lower lids
``head_x``  the head shifted sideways relative to the scene, 1 px per unit
``head_y``  the head shifted vertically (nods), 1 px per unit
==========  =====================================================================
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.demo import faces as fm
from pipeline.demo.cpumath import exp

BASES = ("smile", "cheek", "frown", "eyes", "brows", "jaw", "blink", "head_x", "head_y")
N_BASES = len(BASES)
MOUTH_INTERIOR = np.array([52.0, 22.0, 26.0], dtype=np.float32)  # RGB


def _bump_field(
    moving: np.ndarray, disp: np.ndarray, anchors: np.ndarray, sigma: float, xy: np.ndarray
) -> np.ndarray:
    """Blend of Gaussian bumps: displacements ``disp`` at ``moving``, zero at ``anchors``.

    ``D(x) = sum_m d_m g_m(x) / max(1, sum_all g_j(x))``: near an isolated control point D is
    its displacement, where bumps overlap it is their weighted mean, near an anchor it is
    pulled to zero, far away it fades out. It never overshoots (unlike RBF interpolation,
    which oscillates when control points with different targets are close together).
    """
    flat = xy.reshape(-1, 2)
    num = np.zeros_like(flat)
    den = np.zeros(len(flat))
    for p, d in zip(moving, disp, strict=True):
        g = exp(-np.sum((flat - p) ** 2, axis=1) / (2.0 * sigma * sigma))
        num += g[:, None] * d
        den += g
    for p in anchors:
        den += exp(-np.sum((flat - p) ** 2, axis=1) / (2.0 * sigma * sigma))
    return (num / np.maximum(den, 1.0)[:, None]).reshape(xy.shape)


def _outward(lm: np.ndarray, f: float):
    """``out(idx, dx, dy)``: control points ``idx`` with displacements (dx outward from the
    face's vertical midline, dy down) in face heights, as (indices, (m, 2) px)."""
    cx = lm[:, 0].mean()

    def out(idx, dx, dy):
        idx = list(idx)
        sx = np.sign(lm[idx, 0] - cx)
        return idx, np.stack([sx * dx * f, np.full(len(idx), dy * f)], axis=1)

    return out


def _mouth_specs(out, f: float) -> dict:
    """The smile basis: corners up/out, the lip points next to them less, cheeks a little."""
    lower_lids = [lo for _, lo in fm.EYELID_PAIRS]
    lip_centres = [0, 13, 14, 17]
    i1, d1 = out(fm.MOUTH_CORNERS, 0.035, -0.08)
    i2, d2 = out((185, 409, 146, 375, 78, 308), 0.028, -0.065)
    i3, d3 = out((40, 270, 91, 321), 0.012, -0.035)
    i4, d4 = out((205, 425), 0.0, -0.02)
    smile = (
        i1 + i2 + i3 + i4,
        np.concatenate([d1, d2, d3, d4]),
        fm.NOSE + fm.FOREHEAD + tuple(fm.EYE_CORNERS) + tuple(lower_lids) + fm.CHIN[:3]
        + tuple(lip_centres) + (234, 454, 132, 361, 172, 397),
        0.075 * f,
    )  # fmt: skip
    return {"smile": smile}


def _upper_face_specs(out, f: float) -> dict:
    """The cheek, frown, eyes and brows bases."""
    upper_lids = [u for u, _ in fm.EYELID_PAIRS]
    lower_lids = [lo for _, lo in fm.EYELID_PAIRS]
    specs = {}
    i1, d1 = out(fm.CHEEKS, 0.0, -0.022)
    i2, d2 = out(lower_lids, 0.0, -0.008)
    specs["cheek"] = (
        i1 + i2,
        np.concatenate([d1, d2]),
        tuple(upper_lids) + fm.BROWS_MID + fm.NOSE[:4] + fm.MOUTH_CORNERS + (0, 17, 234, 454),
        0.06 * f,
    )
    i1, d1 = out(fm.BROWS_INNER, -0.014, 0.028)
    i2, d2 = out(fm.BROWS_MID, 0.0, 0.012)
    specs["frown"] = (
        i1 + i2,
        np.concatenate([d1, d2]),
        tuple(upper_lids) + tuple(fm.EYE_CORNERS) + (70, 46, 300, 276) + fm.FOREHEAD + (6, 168),
        0.05 * f,
    )
    i1, d1 = out(upper_lids, 0.0, -0.018)
    i2, d2 = out(lower_lids, 0.0, 0.006)
    specs["eyes"] = (
        i1 + i2,
        np.concatenate([d1, d2]),
        fm.BROWS_MID + tuple(fm.EYE_CORNERS) + fm.CHEEKS[:2] + fm.NOSE[:4],
        0.03 * f,
    )
    i1, d1 = out(fm.BROWS, 0.0, -0.035)
    specs["brows"] = (
        i1,
        d1,
        tuple(upper_lids) + tuple(fm.EYE_CORNERS) + (10, 338, 109, 6, 168),
        0.07 * f,
    )
    return specs


def _blink_spec(lm: np.ndarray, f: float) -> tuple:
    """The blink basis: upper lids down onto the lower lids."""
    upper_lids = [u for u, _ in fm.EYELID_PAIRS]
    lower_lids = [lo for _, lo in fm.EYELID_PAIRS]
    blink_d = np.array([(lm[lo] - lm[up]) * 1.3 for up, lo in fm.EYELID_PAIRS])
    return (
        list(upper_lids),
        blink_d,
        tuple(lower_lids) + tuple(fm.EYE_CORNERS) + fm.BROWS_MID + fm.BROWS_INNER,
        0.03 * f,
    )


def _basis_specs(lm: np.ndarray, f: float):
    """(moving indices, displacements in px (m, 2), anchor indices, sigma px) per RBF basis."""
    out = _outward(lm, f)
    return {**_mouth_specs(out, f), **_upper_face_specs(out, f), "blink": _blink_spec(lm, f)}


def _window(ph: int, pw: int, margin: float):
    """Weight fading from 1 inside the patch to 0 over its outer ``margin`` px (smoothstep),
    so the deformed patch pastes back without a seam."""

    def window(xy):
        d = np.minimum.reduce(
            [xy[..., 0], xy[..., 1], (pw - 1) - xy[..., 0], (ph - 1) - xy[..., 1]]
        )
        t = np.clip(d / margin, 0.0, 1.0)
        return t * t * (3.0 - 2.0 * t)

    return window


def _half_grid(ph: int, pw: int) -> np.ndarray:
    """Patch coordinates of a half-resolution grid (the fields are smooth: computed there and
    resized)."""
    hh, hw = (ph + 1) // 2, (pw + 1) // 2
    gy, gx = np.mgrid[0:hh, 0:hw].astype(np.float64)
    return np.stack([gx * (pw - 1) / max(hw - 1, 1), gy * (ph - 1) / max(hh - 1, 1)], -1)


def _bump_bases(lmp: np.ndarray, f: float, grid: np.ndarray, fields, at_pts) -> None:
    """The control-point bases (smile ... blink) into ``fields`` / ``at_pts``."""
    for name, (moving, disp, anchors, sigma) in _basis_specs(lmp, f).items():
        anchors = [a for a in dict.fromkeys(anchors) if a not in set(moving)]
        k = BASES.index(name)
        fields[k] = _bump_field(lmp[moving], disp, lmp[anchors], sigma, grid)
        at_pts[k] = _bump_field(lmp[moving], disp, lmp[anchors], sigma, lmp)


def _head_bases(lmp: np.ndarray, c: np.ndarray, f: float, grid, fields, at_pts) -> None:
    """Head shift: a broad bump around the face centre ``c``, 1 px at the centre."""
    s = 0.6 * f
    for k, axis in ((BASES.index("head_x"), 0), (BASES.index("head_y"), 1)):
        fields[k, ..., axis] = exp(-np.sum((grid - c) ** 2, -1) / (2 * s * s))
        at_pts[k, :, axis] = exp(-np.sum((lmp - c) ** 2, -1) / (2 * s * s))


def _jaw_basis(lmp: np.ndarray, f: float, grid, fields, at_pts) -> None:
    """Jaw: a tear along the lip line. Below the line (sigmoid across a ~1 px band) the
    lower lip and chin move down, most in the middle of the mouth, none at the corners;
    below the chin the shift fades out again (the neck stretches)."""
    jaw_k = BASES.index("jaw")
    up_in = lmp[list(fm.LIP_UPPER_INNER)]
    low_in = lmp[list(fm.LIP_LOWER_INNER)]
    mid = (up_in + low_in) / 2.0
    order = np.argsort(mid[:, 0])
    mx, my = mid[order, 0], mid[order, 1]
    xc = (lmp[61, 0] + lmp[291, 0]) / 2.0
    half_w = abs(lmp[291, 0] - lmp[61, 0]) / 2.0
    chin_y = lmp[152, 1]

    def jaw(xy, side=None):
        x, y = xy[..., 0], xy[..., 1]
        line = np.interp(x, mx, my)
        tear = 1.0 / (1.0 + exp(-(y - line) / (0.006 * f))) if side is None else side
        lens = exp(-np.square(np.square((x - xc) / (0.75 * half_w))))
        below = exp(-(np.maximum(0.0, y - chin_y) ** 2) / (2 * (0.25 * f) ** 2))
        return 0.05 * f * tear * lens * below

    fields[jaw_k, ..., 1] = jaw(grid)
    side = np.full(len(lmp), np.nan)
    side[list(fm.LIP_UPPER_INNER)] = 0.0
    side[list(fm.LIP_LOWER_INNER)] = 1.0
    pts_jaw = jaw(lmp)
    known = ~np.isnan(side)
    pts_jaw[known] = jaw(lmp[known], side[known])
    at_pts[jaw_k, :, 1] = pts_jaw
    for corner in (78, 308, 61, 291):
        at_pts[jaw_k, corner, 1] = 0.0


class FaceRig:
    """Deforms the face in ``canvas`` (RGB uint8) whose 468 Face Mesh points are ``landmarks``.

    ``render(coefs)`` returns the deformed patch and where it goes, the landmarks after the
    deformation, and the mouth-interior mask already painted into the patch.
    """

    def __init__(self, canvas: np.ndarray, landmarks: np.ndarray, patch_half: float = 1.6):
        lm = np.asarray(landmarks, dtype=np.float64)
        f = float(np.ptp(lm[:, 1]))
        self.face_height = f
        centre = (lm.min(axis=0) + lm.max(axis=0)) / 2.0
        self._cut_patch(canvas, centre, patch_half * f)
        self.lm = lm - self.origin  # landmarks in patch coordinates
        self._jaw_k = BASES.index("jaw")
        self._build_fields(centre - self.origin, f)

    def _cut_patch(self, canvas: np.ndarray, centre: np.ndarray, half: float) -> None:
        """The patch around the face: ``src``, its ``origin`` and ``box`` in the canvas."""
        h, w = canvas.shape[:2]
        x0, y0 = (int(max(0, np.floor(c - half))) for c in centre)
        x1 = int(min(w, np.ceil(centre[0] + half)))
        y1 = int(min(h, np.ceil(centre[1] + half)))
        self.origin = np.array([x0, y0], dtype=np.float64)
        self.box = (x0, y0, x1, y1)
        self.src = np.ascontiguousarray(canvas[y0:y1, x0:x1])

    def _build_fields(self, c: np.ndarray, f: float) -> None:
        """Every basis's displacement field over the patch and at the 468 points, windowed
        to fade out over the outer 0.4 F of the patch."""
        ph, pw = self.src.shape[:2]
        lmp = self.lm
        grid = _half_grid(ph, pw)
        window = _window(ph, pw, 0.4 * f)
        fields = np.zeros((N_BASES, *grid.shape[:2], 2))
        at_pts = np.zeros((N_BASES, len(lmp), 2))
        _bump_bases(lmp, f, grid, fields, at_pts)
        _head_bases(lmp, c, f, grid, fields, at_pts)
        _jaw_basis(lmp, f, grid, fields, at_pts)
        fields *= window(grid)[None, ..., None]
        at_pts *= window(lmp)[None, ..., None]
        full = np.empty((N_BASES, ph, pw, 2), dtype=np.float32)
        for k in range(N_BASES):
            full[k] = cv2.resize(fields[k].astype(np.float32), (pw, ph), cv2.INTER_LINEAR)
        self._fields = full.reshape(N_BASES, -1)
        self._at_pts = at_pts
        gy, gx = np.mgrid[0:ph, 0:pw].astype(np.float32)
        self._gx, self._gy = gx, gy

    def landmarks_for(self, coefs: np.ndarray) -> np.ndarray:
        """The 468 points after the deformation, in canvas coordinates."""
        disp = np.tensordot(np.asarray(coefs, dtype=np.float64), self._at_pts, axes=1)
        return self.lm + disp + self.origin

    def render(self, coefs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(deformed patch RGB uint8, landmarks in canvas coordinates) for ``coefs``."""
        coefs = np.asarray(coefs, dtype=np.float32)
        ph, pw = self.src.shape[:2]
        d = (coefs @ self._fields).reshape(ph, pw, 2)
        dx, dy = np.ascontiguousarray(d[..., 0]), np.ascontiguousarray(d[..., 1])
        # Backward map: find, for every output pixel y, the source x with x + D(x) = y.
        mapx, mapy = self._gx - dx, self._gy - dy
        for _ in range(2):
            sx = cv2.remap(dx, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            sy = cv2.remap(dy, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            mapx, mapy = self._gx - sx, self._gy - sy
        patch = cv2.remap(self.src, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        lm = self.landmarks_for(coefs)

        jaw = float(coefs[self._jaw_k])
        if jaw > 0.02:
            # Paint the opened gap dark: between where the lower inner lip would be with the
            # mouth closed (its edge against the upper lip or the teeth) and where it is now.
            pts = lm - self.origin
            closed = coefs.astype(np.float64).copy()
            closed[self._jaw_k] = 0.0
            upper = self.landmarks_for(closed)[list(fm.LIP_LOWER_INNER)] - self.origin
            lower = pts[list(fm.LIP_LOWER_INNER)][::-1]
            poly = np.round(np.concatenate([upper, lower]) * 4).astype(np.int32)
            mask = np.zeros((ph, pw), dtype=np.uint8)
            cv2.fillPoly(mask, [poly], 255, lineType=cv2.LINE_AA, shift=2)
            gap = self.face_height * 0.05 * jaw
            alpha = cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32) / 255.0
            alpha *= min(1.0, gap / 2.0) * 0.9
            patch = patch.astype(np.float32)
            patch += alpha[..., None] * (MOUTH_INTERIOR - patch)
            patch = np.clip(patch + 0.5, 0, 255).astype(np.uint8)
        return patch, lm
