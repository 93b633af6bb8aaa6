"""Same bytes as the committed run: the data stages (demo → shard) re-run in a throw-away copy
with the committed params give the hashes in the committed dvc.lock, file by file as in
reproducibility/manifest.json. (The stages after them run again to the same bytes:
tests/training/test_kill_anywhere.py, tests/test_pipeline_e2e.py.)"""

from __future__ import annotations

import json

import pytest

from pipeline.repro import DATA_STAGES, MANIFEST, compare, manifest
from tests.helpers.repo import REPO, first_lock_difference, lock_outs


def test_committed_manifest_matches_the_committed_lock():
    """The manifest is of the run dvc.lock records: its file hashes give dvc.lock's file hashes
    (single-file outputs; a folder's hash is DVC's hash of its listing)."""
    committed = json.loads((REPO / MANIFEST).read_text())["stages"]
    assert tuple(committed) == DATA_STAGES
    lock = lock_outs((REPO / "dvc.lock").read_text())
    for stage in DATA_STAGES:
        outs = lock[stage]
        for path, md5 in outs.items():
            if not md5.endswith(".dir"):
                assert committed[stage][path] == md5, f"{stage}: {path} (regenerate: see docs)"
            else:
                assert any(p.startswith(path + "/") for p in committed[stage]), path


@pytest.mark.slow
def test_data_stages_reproduce_the_committed_hashes(repo_copy):
    committed_lock = (REPO / "dvc.lock").read_text()
    committed = json.loads((REPO / MANIFEST).read_text())["stages"]
    repo_copy.dvc("repro", "shard")
    root = repo_copy.root
    ran = (root / "dvc.lock").read_text()
    diffs = [f"{stage}: {d}" for stage, d in compare(root, committed) if d]
    assert not diffs, "not the committed bytes; first file that differs: " + diffs[0]
    assert first_lock_difference(committed_lock, ran, DATA_STAGES) is None


def test_a_changed_file_is_named(tmp_path):
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  demo:\n    cmd: x\n    outs: [raw]\n  ingest:\n    cmd: y\n    outs: [a.txt]\n"
    )
    (tmp_path / "raw").mkdir()
    for name in ("b.mp4", "c.mp4"):
        (tmp_path / "raw" / name).write_bytes(name.encode())
    (tmp_path / "a.txt").write_text("a")
    committed = manifest(tmp_path, ("demo", "ingest"))
    assert [d for _, d in compare(tmp_path, committed)] == [None, None]
    (tmp_path / "raw" / "c.mp4").write_bytes(b"other")
    (tmp_path / "raw" / "d.mp4").write_bytes(b"new")
    (tmp_path / "a.txt").unlink()
    (stage, diff), (stage2, diff2) = compare(tmp_path, committed)
    assert stage == "demo" and diff.startswith("raw/c.mp4: md5 ")
    assert stage2 == "ingest" and diff2 == "a.txt: missing"
