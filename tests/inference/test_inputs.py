"""Which videos a predict call means and where each one's rows go (no TensorFlow needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import InputError
from pipeline.inference.inputs import TABLE_SUFFIXES, expand_videos, output_paths


@pytest.fixture
def tree(tmp_path):
    for rel in ("a.mp4", "b.avi", "notes.txt", "batch1/c.mp4", "batch2/d.MKV"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    return tmp_path


def test_files_folders_globs(tree):
    assert expand_videos([str(tree / "notes.txt")]) == [tree / "notes.txt"]  # the decoder decides
    names = [p.relative_to(tree).as_posix() for p in expand_videos([str(tree)])]
    assert names == ["a.mp4", "b.avi", "batch1/c.mp4", "batch2/d.MKV"]
    assert expand_videos([str(tree / "*.mp4"), str(tree / "a.mp4")]) == [tree / "a.mp4"]
    got = expand_videos([str(tree / "batch*")])
    assert [p.name for p in got] == ["c.mp4", "d.MKV"]
    with pytest.raises(InputError, match="no such file"):
        expand_videos([str(tree / "absent.mp4")])
    with pytest.raises(InputError, match="matches no video"):
        expand_videos([str(tree / "*.mov")])
    (tree / "empty").mkdir()
    with pytest.raises(InputError, match="holds no video"):
        expand_videos([str(tree / "empty")])


def test_output_paths():
    one, two = [Path("v/a.mp4")], [Path("v/a.mp4"), Path("w/b.avi")]
    assert output_paths(one, "p.parquet", TABLE_SUFFIXES, "--out") == [Path("p.parquet")]
    assert output_paths(two, "out", TABLE_SUFFIXES, "--out") == [Path("out/a.csv"),
                                                                 Path("out/b.csv")]  # fmt: skip
    assert output_paths(two, "o/{stem}.parquet", TABLE_SUFFIXES, "--out") == [
        Path("o/a.parquet"), Path("o/b.parquet")]  # fmt: skip
    with pytest.raises(InputError, match="names one file"):
        output_paths(two, "p.csv", TABLE_SUFFIXES, "--out")
    with pytest.raises(InputError, match="unknown file type"):
        output_paths(one, "p.xlsx", TABLE_SUFFIXES, "--out")
    with pytest.raises(InputError, match="both write"):
        output_paths([Path("x/a.mp4"), Path("y/a.avi")], "out", TABLE_SUFFIXES, "--out")
