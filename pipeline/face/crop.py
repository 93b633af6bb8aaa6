"""Square face crops: geometry, resampling, JPEG, and landmarks normalised to the crop.

The crop is a square around the subject's face — from its 68 landmarks where the frame has
them, from the detector's box where it has only that — grown by ``margin`` on every side,
optionally rotated so the eyes are level, and resampled to ``size`` x ``size``. Landmarks are
mapped with the same transform and divided by ``size``, so they lie in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.contracts import points68
from pipeline.contracts.face_params import CropConfig
from pipeline.contracts.reports import VideoReport
from pipeline.face import tables
from pipeline.face.jobs import FaceStep, Row, Video
from pipeline.registry import FACE_STAGES


@dataclass(frozen=True)
class CropGeometry:
    """Centre (source pixels), side (source pixels) and rotation (radians) of a crop square."""

    cx: float
    cy: float
    side: float
    angle: float = 0.0

    def matrix(self, size: int) -> np.ndarray:
        """2x3 affine matrix: source pixel -> crop pixel (crop is ``size`` wide)."""
        s = size / self.side
        c, n = math.cos(self.angle), math.sin(self.angle)
        # Rotate by -angle about the centre, scale, move the centre to the crop's centre.
        rot = np.array([[c, n], [-n, c]]) * s
        t = np.array([size / 2, size / 2]) - rot @ np.array([self.cx, self.cy])
        return np.hstack([rot, t[:, None]])


def eye_angle_from_landmarks(points: np.ndarray) -> float:
    """Angle of the line from the right-eye centre (36–41) to the left-eye centre (42–47)."""
    d = points[42:48].mean(axis=0) - points[36:42].mean(axis=0)
    return float(math.atan2(d[1], d[0]))


def geometry_from_landmarks(points: np.ndarray, margin: float, align: bool) -> CropGeometry:
    """The square holding all 68 points (in the eye-levelled frame if ``align``) plus margin."""
    angle = eye_angle_from_landmarks(points) if align else 0.0
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, s], [-s, c]])  # source -> levelled
    q = points @ rot.T
    lo, hi = q.min(axis=0), q.max(axis=0)
    centre = rot.T @ ((lo + hi) / 2)
    side = float((hi - lo).max()) * (1 + 2 * margin)
    return CropGeometry(float(centre[0]), float(centre[1]), max(side, 1.0), angle)


def geometry_from_box(
    box: np.ndarray, keypoints: np.ndarray | None, margin: float, align: bool
) -> CropGeometry:
    """The square around a detector box (x, y, w, h) plus margin; eyes from its key points."""
    x, y, w, h = (float(v) for v in box)
    angle = 0.0
    if align and keypoints is not None and np.isfinite(keypoints[:2]).all():
        d = keypoints[1] - keypoints[0]
        angle = float(math.atan2(d[1], d[0]))
    side = max(w, h) * (1 + 2 * margin)
    return CropGeometry(x + w / 2, y + h / 2, max(side, 1.0), angle)


def warp(rgb: np.ndarray, geom: CropGeometry, size: int, border: str = "constant") -> np.ndarray:
    """Resample the crop square of ``rgb`` to ``size`` x ``size`` (area-averaged when shrinking)."""
    border_mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    m = geom.matrix(size)
    scale = size / geom.side
    if scale < 0.5:
        # Shrink the region first with area averaging (no aliasing), then warp near scale 1.
        h, w = rgb.shape[:2]
        half = geom.side * math.sqrt(2) / 2 + 2
        x0, y0 = max(0, int(geom.cx - half)), max(0, int(geom.cy - half))
        x1, y1 = min(w, int(math.ceil(geom.cx + half))), min(h, int(math.ceil(geom.cy + half)))
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            sub = rgb[y0:y1, x0:x1]
            nw = max(1, round((x1 - x0) * scale))
            nh = max(1, round((y1 - y0) * scale))
            sub = cv2.resize(sub, (nw, nh), interpolation=cv2.INTER_AREA)
            fx, fy = nw / (x1 - x0), nh / (y1 - y0)
            # p_source = p_sub / f + origin  =>  M' = M . [diag(1/f) | origin]
            pre = np.array([[1 / fx, 0, x0], [0, 1 / fy, y0], [0, 0, 1]])
            m2 = m @ pre
            return cv2.warpAffine(
                sub, m2, (size, size), flags=cv2.INTER_LINEAR, borderMode=border_mode
            )
    return cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=border_mode)


def normalise_points(points: np.ndarray, geom: CropGeometry, size: int) -> np.ndarray:
    """Source-pixel points -> crop coordinates in [0, 1] (clipped)."""
    m = geom.matrix(size)
    q = points @ m[:, :2].T + m[:, 2]
    return np.clip(q / size, 0.0, 1.0)


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    )
    if not ok:  # pragma: no cover
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
    """JPEG bytes -> RGB uint8 array (for readers and tests)."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError("not a decodable JPEG")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


# -- the ``crop`` step --------------------------------------------------------------
def crop_frame(
    rgb: np.ndarray | None,
    points: np.ndarray | None,
    box: np.ndarray | None,
    keypoints: np.ndarray | None,
    cfg: CropConfig,
) -> tuple[bytes | None, np.ndarray | None]:
    """One frame's crop (JPEG) and normalised landmarks; (None, None) where there is no face."""
    if rgb is None:
        return None, None
    if points is not None and np.isfinite(points).all():
        geom = geometry_from_landmarks(points, cfg.margin, cfg.align)
    elif box is not None and np.isfinite(box).all() and box[2] > 0 and box[3] > 0:
        geom = geometry_from_box(box, keypoints, cfg.margin, cfg.align)
        points = None
    else:
        return None, None
    image = encode_jpeg(warp(rgb, geom, cfg.size, cfg.border), cfg.jpeg_quality)
    norm = None if points is None else normalise_points(points, geom, cfg.size)
    return image, norm


class CropStep:
    """The ``crop`` step on one video: each frame's crop from the subject's landmarks (or box)
    in the boxes and landmarks tables' rows; counted for the video's report."""

    def __init__(self, cfg: CropConfig, video: Video):
        self.cfg = cfg
        self.faces = self.from_box = 0

    def push(self, frame: int, rgb: np.ndarray | None, inputs: Mapping[str, Row]) -> list[Row]:
        b, lm = inputs["boxes"], inputs["landmarks"]
        pts = lm["landmarks"].reshape(points68.N_POINTS, 2)
        if not np.isfinite(pts).all():
            pts = None
        box = np.array([b["x"], b["y"], b["w"], b["h"]], np.float64)
        if lm["status"] == "rejected":  # never a face to the mesh: not the box either
            box = np.full(4, np.nan)
        image, norm = crop_frame(rgb, pts, box, b["keypoints"].reshape(6, 2), self.cfg)
        valid = image is not None
        self.faces += valid
        self.from_box += valid and norm is None
        landmarks = None if norm is None else norm.reshape(-1)
        return [dict(frame=frame, image=image, landmarks=landmarks, valid=valid)]

    def finish(self) -> list[Row]:
        return []

    def note(self, report: VideoReport) -> None:
        report.faces = self.faces
        report.missing = report.frames - report.faces
        report.extra["crops_from_box_only"] = int(self.from_box)

    def close(self) -> None:
        pass


def _no_crop(frame: int) -> Row:
    return dict(frame=frame, image=None, landmarks=None, valid=False)


CROP = FACE_STAGES.register(
    "crop",
    FaceStep(
        name="crop",
        params=CropConfig,
        start=CropStep,
        writes="crops",
        schema=tables.CROPS,
        reads=("boxes", "landmarks"),
        blank=_no_crop,
        what="face crop",
        rows_per_group=256,
    ),
    "square face crops (JPEG) and landmarks normalised to them",
)
