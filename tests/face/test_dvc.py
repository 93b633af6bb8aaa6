"""The face stages through DVC, on the demo data set, in a throw-away copy of the project."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

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
    out = repo_copy.dvc("repro", "crop").stdout
    for name in ("demo", "ingest", "detect", "landmarks", "crop"):
        assert f"Running stage '{name}'" in out, out

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
        s = json.loads((interim / f"{name}_summary.json").read_text())
        assert s["videos"] == 3 and not s["failed"], s
        assert s["frames"] == sum(r["n_frames"] for r in manifest)

    # Nothing changed: nothing runs. A crop param changed: only crop runs.
    assert "didn't change" in repo_copy.dvc("repro", "crop").stdout
    repo_copy.set_params(crop={"margin": 0.4})
    out = repo_copy.dvc("repro", "crop").stdout
    assert "Running stage 'crop'" in out
    for name in ("demo", "ingest", "detect", "landmarks"):
        assert f"Running stage '{name}'" not in out, out
    # A landmarks param that changes the landmarks: landmarks and crop run, detect does not.
    repo_copy.set_params(landmarks={"jaw": "fixed"})
    out = repo_copy.dvc("repro", "crop").stdout
    assert "Running stage 'landmarks'" in out and "Running stage 'crop'" in out
    assert "Running stage 'detect'" not in out
