"""Each reader on tiny data sets in the real layouts, through the whole ingest core."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.artifacts import IngestReport
from pipeline.config import DataConfig, IngestConfig, SplitConfig
from pipeline.contracts.schema import LABELS, MANIFEST, SOURCE_LANDMARKS
from pipeline.datasets.ingest import ingest
from tests.helpers.datasets import make_afewva, make_affwild2, values

ONE_JOB = IngestConfig()


def _rows(table):
    return {r["video_id"]: r for r in table.to_pylist()}


def _labels_of(labels, vid):
    t = labels.filter(labels.column("video_id").to_numpy(zero_copy_only=False) == vid)
    return t.column("valence").to_numpy(), t.column("arousal").to_numpy()


def test_affwild(affwild_root, tmp_path):
    res = ingest(DataConfig(root=str(affwild_root), format="affwild"), SplitConfig(), ONE_JOB)
    assert res.manifest.schema == MANIFEST
    assert res.labels.schema == LABELS
    rows = _rows(res.manifest)
    assert set(rows) == {"a1", "a2avi", "a3", "a4", "t1"}
    assert rows["t1"]["split"] == "test"
    # val_fraction 0.2 of 4 training videos: exactly one held out, the rest stay train.
    assert sorted(r["split"] for r in rows.values() if r["video_id"] != "t1") == [
        "train",
        "train",
        "train",
        "val",
    ]
    assert rows["a1"]["n_frames"] == 9 and rows["a2avi"]["n_frames"] == 7
    assert rows["a1"]["source"].endswith("videos/train/a1.mp4")
    assert rows["a2avi"]["source"].endswith("videos/train/a2avi.avi")
    assert (rows["a1"]["width"], rows["a1"]["height"]) == (48, 32)
    assert rows["a1"]["fps"] == pytest.approx(25.0)
    assert rows["a1"]["dataset"] == "affwild" and rows["a1"]["subject"] == ""
    v, a = _labels_of(res.labels, "a1")
    np.testing.assert_array_equal(v, values(9, 0))
    np.testing.assert_array_equal(a, values(9, 1))
    frames = res.labels.column("frame").to_numpy()
    assert frames[:9].tolist() == list(range(9))
    assert res.source_landmarks.num_rows == 0
    assert res.report.splits["test"].frames == 8
    # the report file, as the stage writes it, reads back equal
    res.report.write_file(tmp_path / "ingest_report.json")
    back = IngestReport.read(tmp_path)
    assert back == res.report and back.splits["train"].videos == 3
    raw = json.loads((tmp_path / "ingest_report.json").read_text())
    assert list(raw) == [
        "format", "root", "splits", "skipped", "truncated", "warnings", "notes", "datasets",
        "annotator", "annotators",
    ]  # fmt: skip
    assert raw["splits"]["test"] == {
        "videos": 1, "frames": 8, "annotated_frames": 8, "quadrants": raw["splits"]["test"]["quadrants"],
    }  # fmt: skip


def test_affwild2(tmp_path):
    root = make_affwild2(tmp_path / "aw2")
    res = ingest(DataConfig(root=str(root), format="affwild2"), SplitConfig(), ONE_JOB)
    rows = _rows(res.manifest)
    assert set(rows) == {"v1", "v2", "duo_left", "duo_right", "v3"}
    # Validation_Set is the validation split as shipped; nothing is held out of Train_Set.
    assert rows["v3"]["split"] == "val"
    assert {rows[k]["split"] for k in ("v1", "v2", "duo_left", "duo_right")} == {"train"}
    assert rows["duo_left"]["subject"] == "left" and rows["duo_right"]["subject"] == "right"
    assert rows["duo_left"]["source"] == rows["duo_right"]["source"]
    assert rows["duo_left"]["source"].endswith("batch2/duo.mp4")
    assert rows["v1"]["fps"] == pytest.approx(30.0)
    v, a = _labels_of(res.labels, "v1")
    assert len(v) == 12
    assert np.isnan(v[3]) and np.isnan(a[3])  # -5,-5: not annotated
    assert v[4] == pytest.approx(0.5) and np.isnan(a[4])  # -5 in one dimension only
    assert np.isfinite(v[[0, 1, 2, 5]]).all()
    assert res.report.splits["train"].annotated_frames == 12 - 2 + 10 + 8 + 8
    assert any("other_track" in n for n in res.report.notes)


def test_affwild2_validation_as_test_keeps_subjects_together(tmp_path):
    root = make_affwild2(tmp_path / "aw2")
    for seed in range(6):
        cfg = SplitConfig(affwild2_validation="test", val_fraction=0.5, seed=seed)
        rows = _rows(ingest(DataConfig(root=str(root), format="affwild2"), cfg, ONE_JOB).manifest)
        assert rows["v3"]["split"] == "test"
        assert rows["duo_left"]["split"] == rows["duo_right"]["split"]
        assert {r["split"] for r in rows.values()} == {"train", "val", "test"}


def test_afewva(tmp_path):
    root = make_afewva(tmp_path / "afew", {f"{c:03d}": 4 for c in range(1, 6)})
    res = ingest(DataConfig(root=str(root), format="afewva", fps=25), SplitConfig(), ONE_JOB)
    rows = _rows(res.manifest)
    assert len(rows) == 5
    assert rows["001"]["source"].endswith("afew/001") and rows["001"]["n_frames"] == 4
    assert (rows["001"]["width"], rows["001"]["height"]) == (40, 30)
    splits = sorted(r["split"] for r in rows.values())
    assert splits.count("test") == 1 and splits.count("val") == 1
    v, a = _labels_of(res.labels, "002")
    # Integers in [-10, 10] scaled to [-1, 1]; frame 1 has no annotation.
    np.testing.assert_allclose(v[[0, 2, 3]], [-1.0, -0.8, -0.7])
    np.testing.assert_allclose(a[[0, 2, 3]], [1.0, 0.8, 0.7])
    assert np.isnan(v[1]) and np.isnan(a[1])
    lm = res.source_landmarks
    assert lm.schema == SOURCE_LANDMARKS
    assert lm.num_rows == 5 * 3  # frames with landmarks only
    first = lm.filter(lm.column("video_id").to_numpy(zero_copy_only=False) == "002").to_pylist()[0]
    assert first["frame"] == 0
    assert first["landmarks"][:4] == [0.0, 0.0, 1.0, 2.0]


def test_split_is_deterministic_and_by_video(affwild_root):
    data = DataConfig(root=str(affwild_root), format="affwild")

    def split(seed):
        rows = ingest(data, SplitConfig(seed=seed), ONE_JOB).manifest.to_pylist()
        return {r["video_id"]: r["split"] for r in rows}

    assert split(3) == split(3)
    assert len({tuple(sorted(split(s).items())) for s in range(8)}) > 1  # the seed matters


def test_parallel_probe_gives_the_same_tables(affwild_root):
    data = DataConfig(root=str(affwild_root), format="affwild")
    one = ingest(data, SplitConfig(), IngestConfig(), n_jobs=1)
    two = ingest(data, SplitConfig(), IngestConfig(), n_jobs=2)
    assert one.manifest.equals(two.manifest) and one.labels.equals(two.labels)
