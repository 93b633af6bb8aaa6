"""The face stages through DVC, on the demo data set, in a throw-away copy of the project."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline.artifacts import FaceStageSummary
from pipeline.face import tables


@pytest.mark.slow
def test_dvc_repro_face_stages_each_cached_on_its_own(repo_copy):
    repo_copy.set_params(
        demo={
            "n_train": 2,
            "n_test": 1,
            "min_frames": 40,
            "max_frames": 50,
            "distractor_fraction": 1.0,
        },  # fmt: skip
        parallel={"n_jobs": 2},
        crop={"size": 32},
    )
    assert repo_copy.repro("crop") == {"demo", "ingest", "detect", "landmarks", "crop"}

    interim = repo_copy.root / "data/interim"
    manifest = pq.read_table(interim / "manifest.parquet").to_pylist()
    assert len(manifest) == 3
    for row in manifest:
        vid, n = row["video_id"], row["n_frames"]
        b = tables.read_table(interim / "boxes" / f"{vid}.parquet", tables.BOXES)
        lm = tables.read_table(interim / "landmarks" / f"{vid}.parquet", tables.LANDMARKS)
        c = tables.read_table(interim / "crops" / f"{vid}.parquet", tables.CROPS)
        for t in (b, lm, c):
            assert list(t["frame"]) == list(range(n)), vid
        assert np.isfinite(b["x"]).mean() > 0.5, vid  # the demo's faces are found
        assert c["valid"].mean() > 0.5, vid
    for name in ("boxes", "landmarks", "crops"):
        s = FaceStageSummary.read_file(interim / f"{name}_summary.json")
        assert s.videos == 3 and not s.failed, s
        assert s.frames == sum(r["n_frames"] for r in manifest)

    # Nothing changed: nothing runs (no output is written again). A crop param changed: only
    # crop runs, and its crops change.
    assert repo_copy.stale("--with-deps", "crop") == set()
    assert repo_copy.repro("crop") == set()
    vid = manifest[0]["video_id"]
    crops_before = (interim / "crops" / f"{vid}.parquet").read_bytes()
    repo_copy.set_params(crop={"margin": 0.4})
    assert repo_copy.stale("--with-deps", "crop") == {"crop"}
    assert repo_copy.repro("crop") == {"crop"}
    assert (interim / "crops" / f"{vid}.parquet").read_bytes() != crops_before
    # A landmarks param that changes the landmarks: landmarks and crop run, detect does not.
    repo_copy.set_params(landmarks={"mapping": "rules"})
    assert repo_copy.repro("crop") == {"landmarks", "crop"}
    assert repo_copy.stale("--with-deps", "crop") == set()
