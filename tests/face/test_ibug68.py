"""The 468 -> 68 mapping on real meshes of real faces (MediaPipe run on the photographs)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.face import ibug68
from pipeline.face.reference import MEAN_SHAPE_68, interocular, nme
from tests.helpers.faces import assert_jaw_ordered


@pytest.fixture(scope="module")
def meshes(faces):
    """468-point meshes (pixels, with z) of both photographs, ROI seeded by the detector."""
    from pipeline.face.mediapipe_models import FaceDetector, FaceMesh, roi_from_detection

    out = {}
    with FaceDetector() as det, FaceMesh() as mesh:
        for name, img in faces.items():
            d = det(img)
            assert len(d) == 1, name
            m, score = mesh(img, roi_from_detection(d.boxes[0], d.keypoints[0]))
            assert m is not None and score > 0.9, name
            out[name] = m
    return out


def yawed(mesh: np.ndarray, degrees: float) -> np.ndarray:
    """The same real mesh turned about the vertical axis and projected (orthographic)."""
    t = np.radians(degrees)
    c = mesh.mean(axis=0)
    p = mesh - c
    x = p[:, 0] * np.cos(t) + p[:, 2] * np.sin(t)
    z = -p[:, 0] * np.sin(t) + p[:, 2] * np.cos(t)
    return np.stack([x, p[:, 1], z], axis=1) + c


def test_resample_arc_length():
    line = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 3.0]])
    got = ibug68.resample(line, [0, 0.25, 0.5, 1])
    np.testing.assert_allclose(got, [[0, 0], [1, 0], [1, 1], [1, 3]])


def test_fixed_mapping_has_68_distinct_vertices():
    assert len(ibug68.FIXED_INDICES) == 68
    assert len(set(ibug68.FIXED_INDICES.tolist())) == 68
    assert ibug68.FIXED_INDICES.max() < ibug68.N_MESH


def test_geometry_on_real_faces(meshes):
    for name, m in meshes.items():
        p = ibug68.mesh_to_ibug68(m)
        assert p.shape == (68, 2) and np.isfinite(p).all(), name
        assert p[36:42, 0].max() < p[42:48, 0].min(), name
        assert p[17:22, 0].max() < p[22:27, 0].min(), name  # brows likewise
        assert p[17:27, 1].max() < p[36:48, 1].mean(), name  # brows above the eyes
        assert p[48:68, 1].min() > p[31:36, 1].mean(), name  # mouth below the nose
        assert p[8, 1] > p[57, 1] > p[51, 1] > p[33, 1] > p[30, 1] > p[27, 1], name  # midline
        assert p[62, 1] <= p[66, 1] + 0.5, name  # inner upper lip above inner lower lip
        assert_jaw_ordered(p)


def test_agrees_with_mean_300w_shape_better_than_fixed(meshes):
    for name, m in meshes.items():
        ours = nme(ibug68.mesh_to_ibug68(m), MEAN_SHAPE_68, align=True)
        fixed = nme(ibug68.mesh_to_ibug68_fixed(m), MEAN_SHAPE_68, align=True)
        assert ours["all"] < 0.05, (name, ours)
        assert ours["all"] < fixed["all"], (name, ours, fixed)
        assert ours["jaw"] < fixed["jaw"], (name, ours, fixed)


def _inside_depth(points: np.ndarray, hull_pts: np.ndarray) -> np.ndarray:
    """Signed distance of points to the convex hull's boundary (+ inside, - outside)."""
    hull = cv2.convexHull(hull_pts.astype(np.float32))
    return np.array([cv2.pointPolygonTest(hull, (float(x), float(y)), True) for x, y in points])


@pytest.mark.parametrize("degrees", [-30, 30])
def test_jaw_stays_on_visible_contour_when_head_turns(meshes, degrees):
    m = yawed(meshes["hopper"], degrees)
    outline = m[ibug68._HULL_VERTICES, :2]
    scale = interocular(ibug68.mesh_to_ibug68(m))
    contour = ibug68.mesh_to_ibug68(m, jaw="contour")[:17]
    fixed = ibug68.mesh_to_ibug68(m, jaw="fixed")[:17]
    # ours: on the outline (within 1 % of the inter-ocular distance)
    assert np.abs(_inside_depth(contour, outline)).max() < 0.01 * scale
    # fixed vertices: the far side's slide inside the cheek
    assert _inside_depth(fixed, outline).max() > 0.05 * scale
    assert_jaw_ordered(np.vstack([contour, ibug68.mesh_to_ibug68(m)[17:]]))


def test_attention_mesh_refines_the_same_vertices(faces):
    """The attention model (refine=True) returns the same 468 vertices in frame pixels: close
    to the plain mesh's (a projection or vertex-order slip would put them far off), not equal
    to them (it is a different model), and its presence score tells a face from noise."""
    from pipeline.face.mediapipe_models import FaceDetector, FaceMesh, Roi, roi_from_detection

    with FaceDetector() as det, FaceMesh() as plain, FaceMesh(refine=True) as refined:
        for name, img in faces.items():
            d = det(img)
            roi = roi_from_detection(d.boxes[0], d.keypoints[0])
            (m0, _), (m1, s1) = plain(img, roi), refined(img, roi)
            assert m1.shape == (468, 3) and s1 > 0.9, name
            iod = float(np.linalg.norm(m0[263, :2] - m0[33, :2]))
            dev = np.linalg.norm(m1[:, :2] - m0[:, :2], axis=1) / iod
            assert 0 < dev.mean() < 0.05, (name, dev.mean())
        noise = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
        assert refined(noise, Roi(128, 128, 200))[1] < 0.5


def test_jaw_starts_lower_on_a_turned_head(meshes):
    """yaw_asymmetry grows as the real mesh is turned, and with it the drop of the jaw's ends
    below the eye-corner line (a frontal face keeps the first round's rule)."""
    for name, m in meshes.items():
        turns = [ibug68.yaw_asymmetry(yawed(m, deg)) for deg in (0, 20, 40)]
        assert turns[0] < turns[1] < turns[2], (name, turns)
        t = yawed(m, 40)
        iod = float(np.linalg.norm(t[263, :2] - t[33, :2]))
        plain = ibug68.mesh_to_ibug68(t, jaw_end_drop=0.0)
        dropped = ibug68.mesh_to_ibug68(t)
        np.testing.assert_allclose(dropped[17:], plain[17:])  # only the jaw moves
        lower = (dropped[[0, 16], 1] - plain[[0, 16], 1]) / iod
        assert (lower > 0.02).all(), (name, lower)
