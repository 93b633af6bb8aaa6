"""AFEW-VA layout: a folder of frames, and the data set's own 68 landmarks (param)."""

from __future__ import annotations

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import DetectConfig, LandmarksConfig
from pipeline.contracts.schema import SOURCE_LANDMARKS
from pipeline.face import tables
from pipeline.face.runner import make_jobs, read_manifest, run_stage
from pipeline.video.reader import iter_frames
from tests.helpers.faces import Clip, write_manifest


@pytest.fixture(scope="module")
def folder_clip(tmp_path_factory, clips) -> tuple[Clip, list]:
    d = tmp_path_factory.mktemp("afewva")
    folder = d / "clip1"
    folder.mkdir()
    for i, rgb in enumerate(iter_frames(clips["gap"].source, limit=8)):
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    clip = Clip("clip1", folder, 8)
    manifest = read_manifest(write_manifest(d / "m.parquet", [clip]))
    # write_manifest reads the size from the file; a folder has none: fill it in
    manifest[0].update(width=320, height=240)
    run_stage("detect", make_jobs(manifest, d / "boxes"), DetectConfig(), d / "boxes")
    return d, manifest


def run_landmarks(d, manifest, src, **cfg):
    out = d / f"lm_{len(list(d.iterdir()))}"
    jobs = make_jobs(manifest, out, {"boxes": str(d / "boxes")}, {"source_landmarks": str(src)})
    summary = run_stage("landmarks", jobs, LandmarksConfig(**cfg), out)
    return tables.read_table(out / "clip1.parquet", tables.LANDMARKS), summary


def test_frame_folder_and_data_set_landmarks(folder_clip):
    d, manifest = folder_clip
    mesh, _ = run_landmarks(d, manifest, d / "absent.parquet")
    assert set(mesh["status"]) <= {"detected", "tracked"}
    pts = mesh["landmarks"]
    assert np.isfinite(pts).all() and pts.shape == (8, 136)
    # the "data set's" landmarks: the mesh's, moved 3 px right, for frames 0-5 only
    shipped = pts[:6] + np.tile([3.0, 0.0], 68).astype(np.float32)
    src = d / "source_landmarks.parquet"
    table = pa.table(
        {"video_id": ["clip1"] * 6, "frame": np.arange(6, dtype=np.int32),
         "landmarks": pa.FixedSizeListArray.from_arrays(pa.array(shipped.ravel()), 136)},
        schema=SOURCE_LANDMARKS,
    )  # fmt: skip
    pq.write_table(table, src)

    # default: the mesh is used, and its agreement with the shipped points is reported
    again, summary = run_landmarks(d, manifest, src)
    np.testing.assert_allclose(again["landmarks"], pts, atol=1e-4)
    agreement = summary.videos_detail[0].extra["nme_vs_source_landmarks"]
    iod = np.linalg.norm(shipped[0].reshape(68, 2)[45] - shipped[0].reshape(68, 2)[36])
    assert agreement["frames"] == 6
    assert agreement["all"] == pytest.approx(3.0 / iod, rel=0.05)

    # use_source_landmarks: shipped points where there are any, the mesh elsewhere
    used, _ = run_landmarks(d, manifest, src, use_source_landmarks=True)
    np.testing.assert_allclose(used["landmarks"][:6], shipped)
    assert list(used["status"][:6]) == ["detected"] * 6
    assert np.isfinite(used["landmarks"][6:]).all()
