"""MediaPipe graphs serve one video after another (``mediapipe_models.reusable``) with the same
outputs as fresh graphs, on real videos of real faces."""

from __future__ import annotations

import dataclasses

import numpy as np
from mediapipe.framework.formats import landmark_pb2

from pipeline.config import DetectConfig, LandmarksConfig
from pipeline.face import mediapipe_models as mm
from pipeline.face import tables
from pipeline.face.detect import DETECT, SubjectDetector
from pipeline.face.jobs import VideoJob
from pipeline.face.landmarks import LANDMARKS, LandmarkFollower


def _two_stages(clip, d, tag: str) -> dict:
    """detect + landmarks of ``clip`` into ``d``; both tables, every column."""
    job = VideoJob(video_id=clip.video_id, source=str(clip.source), n_frames=clip.n_frames,
                   fps=25.0, subject=clip.subject, out=str(d / f"{tag}_boxes.parquet"))  # fmt: skip
    DETECT.run(job, DetectConfig())
    boxes = job.out
    job = dataclasses.replace(job, out=str(d / f"{tag}_lm.parquet"), inputs={"boxes": boxes})
    LANDMARKS.run(job, LandmarksConfig())
    return {
        "boxes": tables.read_table(boxes, tables.BOXES),
        "landmarks": tables.read_table(job.out, tables.LANDMARKS),
    }


def _same(a: dict, b: dict) -> None:
    for kind in a:
        for col, va in a[kind].items():
            vb = b[kind][col]
            if isinstance(va, np.ndarray):
                np.testing.assert_array_equal(va, vb, err_msg=f"{kind}.{col}")  # NaN == NaN
            else:
                assert va == vb, f"{kind}.{col}"


def test_a_reused_graph_gives_a_fresh_graphs_outputs(clips, tmp_path):
    mm.close_idle_graphs()
    # "away": re-detections (second pass), tracking, frames without the subject's box (the
    # plain mesh's presence check) and a second face; "distractor" in between.
    fresh = _two_stages(clips["away"], tmp_path, "fresh")
    assert {"detected", "tracked"} <= set(fresh["landmarks"]["status"])
    idle = {k: len(v) for k, v in mm._IDLE.items()}
    assert idle[("mesh", True)] == idle[("mesh", False)] == idle[("detector", "short", 0.5)] == 1
    _two_stages(clips["distractor"], tmp_path, "other")
    reused = _two_stages(clips["away"], tmp_path, "reused")
    assert {k: len(v) for k, v in mm._IDLE.items()} == idle  # the same graphs, none made anew
    _same(fresh, reused)


def test_reusable_hands_out_only_closed_graphs():
    mm.close_idle_graphs()
    cfg = DetectConfig()
    with SubjectDetector(cfg) as a:
        with SubjectDetector(cfg) as b:  # a is in use: b gets graphs of its own
            assert b.detector.first is not a.detector.first
        first = a.detector.first
    with SubjectDetector(cfg) as c:
        assert c.detector.first in (first, b.detector.first)
    with LandmarkFollower(LandmarksConfig(), 25.0) as f:
        mesh = f.mesh
    with LandmarkFollower(LandmarksConfig(), 25.0) as g:
        assert g.mesh is mesh
    with mm.FaceMesh(refine=True) as own:  # made directly: closed for good
        pass
    assert own._graph is None and all(own not in v for v in mm._IDLE.values())
    mm.close_idle_graphs()
    assert not mm._IDLE and mesh._graph is None


def test_landmark_list_bytes_read_as_the_fields(clips):
    from pipeline.video.reader import iter_frames

    rgb = next(iter(iter_frames(clips["gap"].source)))
    with mm.face_detector("auto") as det:
        d = det(rgb)
    with mm.FaceMesh(refine=True) as mesh:
        h, w = rgb.shape[:2]
        roi = mm.roi_from_detection(d.boxes[0], d.keypoints[0])
        from mediapipe.framework.formats import rect_pb2
        from mediapipe.python import packet_creator, packet_getter

        rect = rect_pb2.NormalizedRect(x_center=roi.cx / w, y_center=roi.cy / h,
                                       width=roi.size / w, height=roi.size / h,
                                       rotation=roi.angle)  # fmt: skip
        out = mesh.run({"image": mm._image_packet(rgb), "roi": packet_creator.create_proto(rect)})
        msg = packet_getter.get_proto(out["landmarks"])
    by_field = np.array([(p.x, p.y, p.z) for p in msg.landmark], np.float64)
    assert by_field.shape == (478, 3)
    np.testing.assert_array_equal(mm.landmarks_xyz(msg), by_field)
    # other wire layouts (a visibility field, a zero left out) are read field by field
    odd = landmark_pb2.NormalizedLandmarkList()
    odd.landmark.add(x=0.5, y=0.25, z=-0.1, visibility=0.9)
    odd.landmark.add(x=0.125, y=0.75)
    np.testing.assert_array_equal(
        mm.landmarks_xyz(odd), np.array([[0.5, 0.25, np.float32(-0.1)], [0.125, 0.75, 0.0]])
    )
