"""The ingest stage as users run it: through DVC in a copy of the repository, and its CLI."""

from __future__ import annotations

import sys

import pyarrow.parquet as pq
import pytest

from pipeline.artifacts import IngestReport
from pipeline.contracts.schema import LABELS, MANIFEST
from tests.helpers.datasets import make_affwild


@pytest.mark.slow
def test_dvc_repro_ingest(repo_copy):
    make_affwild(
        repo_copy.root / "data/raw/tiny",
        {"a1": ("train", 6), "a2": ("train", 5), "t1": ("test", 4)},
    )
    repo_copy.set_params(data={"root": "data/raw/tiny", "format": "affwild"})
    repo_copy.dvc("repro", "ingest")

    interim = repo_copy.root / "data/interim"
    manifest = pq.read_table(interim / "manifest.parquet")
    labels = pq.read_table(interim / "labels.parquet")
    assert manifest.schema.equals(MANIFEST) and labels.schema.equals(LABELS)
    assert manifest.num_rows == 3 and labels.num_rows == 15
    report = IngestReport.read(interim)
    assert report.splits["test"].videos == 1
    # The demo stage is not upstream of ingest when data.root points elsewhere.
    assert not (repo_copy.root / "data/raw/demo").exists()

    # Cached: nothing changed, nothing runs. A param of ingest changed: ingest runs again.
    assert repo_copy.repro("ingest") == set()
    repo_copy.set_params(split={"seed": 7})
    assert repo_copy.repro("ingest") == {"ingest"}


@pytest.mark.slow
def test_ingest_stage_fails_cleanly_and_writes_nothing(repo_copy):
    root = make_affwild(repo_copy.root / "data/raw/tiny", {"a1": ("train", 6), "t1": ("test", 4)})
    (root / "annotations/train/valence/a1.txt").write_text("0.1\nbad\n0.2\n0.1\n0.1\n0.1\n")
    res = repo_copy.run(
        sys.executable,
        "-m",
        "stages.ingest",
        "--root",
        "data/raw/tiny",
        "--manifest",
        "out/manifest.parquet",
        "--labels",
        "out/labels.parquet",
        "--source-landmarks",
        "out/lm.parquet",
        "--report",
        "out/report.json",
        check=False,
    )
    assert res.returncode == 1
    assert "a1.txt:2: 'bad' is not a number" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (repo_copy.root / "out").exists() or not any((repo_copy.root / "out").iterdir())
