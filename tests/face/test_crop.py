"""Crop geometry, resampling and landmark normalisation (no MediaPipe needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.config import CropConfig
from pipeline.face.crop import (
    crop_frame,
    decode_jpeg,
    geometry_from_box,
    geometry_from_landmarks,
    normalise_points,
    warp,
)
from pipeline.face.reference import MEAN_SHAPE_68


def face_points(cx=200.0, cy=150.0, width=100.0, angle_deg=0.0) -> np.ndarray:
    p = (MEAN_SHAPE_68 - MEAN_SHAPE_68.mean(axis=0)) * width
    t = math.radians(angle_deg)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return p @ rot.T + [cx, cy]


def dot_image(points: np.ndarray, h=300, w=400) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    for x, y in points:
        img[int(round(y)) - 1 : int(round(y)) + 2, int(round(x)) - 1 : int(round(x)) + 2] = 255
    return img


def brightest(img: np.ndarray) -> np.ndarray:
    g = img.astype(float).sum(axis=2)
    y, x = np.unravel_index(np.argmax(g), g.shape)
    return np.array([x, y], float)


@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("size", [224, 32])  # 32: the shrink-first path (scale < 0.5)
def test_landmarks_normalised_match_pixels(align, size):
    pts = face_points(angle_deg=20)
    geom = geometry_from_landmarks(pts, margin=0.25, align=align)
    norm = normalise_points(pts, geom, size)
    assert (norm >= 0).all() and (norm <= 1).all()
    # a single bright dot at the nose tip lands where its normalised landmark says
    crop = warp(dot_image(pts[30:31]), geom, size)
    np.testing.assert_allclose(brightest(crop), norm[30] * size - 0.5, atol=max(1.5, size / 40))


def test_align_levels_the_eyes():
    pts = face_points(angle_deg=25)
    norm = normalise_points(pts, geometry_from_landmarks(pts, 0.25, align=True), 100)
    right, left = norm[36:42].mean(axis=0), norm[42:48].mean(axis=0)
    assert abs(right[1] - left[1]) < 1e-6 and right[0] < left[0]
    unaligned = normalise_points(pts, geometry_from_landmarks(pts, 0.25, align=False), 100)
    assert abs(unaligned[36:42, 1].mean() - unaligned[42:48, 1].mean()) > 0.1


@pytest.mark.parametrize("margin", [0.0, 0.25, 0.5])
def test_margin_and_centring(margin):
    pts = face_points()
    norm = normalise_points(pts, geometry_from_landmarks(pts, margin, False), 64)
    extent = (norm.max(axis=0) - norm.min(axis=0)).max()
    np.testing.assert_allclose(extent, 1 / (1 + 2 * margin), atol=1e-6)
    np.testing.assert_allclose((norm.max(axis=0) + norm.min(axis=0)) / 2, 0.5, atol=1e-6)


def test_box_fallback_and_border():
    cfg = CropConfig(size=48, margin=0.1)
    img = np.full((100, 120, 3), 200, np.uint8)
    box = np.array([90.0, 70.0, 40.0, 40.0])  # half outside the frame
    jpeg, norm = crop_frame(img, None, box, np.full((6, 2), np.nan), cfg)
    assert norm is None
    crop = decode_jpeg(jpeg)
    assert crop.shape == (48, 48, 3)
    assert crop[5, 5].mean() > 150 and crop[-5, -5].mean() < 30  # inside vs black border
    g = geometry_from_box(box, None, 0.1, align=False)
    assert (g.cx, g.cy) == (110.0, 90.0) and g.side == pytest.approx(48.0)


def test_no_face_no_crop():
    cfg = CropConfig(size=32)
    img = np.zeros((50, 50, 3), np.uint8)
    assert crop_frame(img, None, np.full(4, np.nan), None, cfg) == (None, None)
    assert crop_frame(None, face_points(), None, None, cfg) == (None, None)


def test_jpeg_quality_changes_size():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    pts = face_points()
    small = crop_frame(img, pts, None, None, CropConfig(size=96, jpeg_quality=30))[0]
    big = crop_frame(img, pts, None, None, CropConfig(size=96, jpeg_quality=95))[0]
    assert len(small) < len(big)
