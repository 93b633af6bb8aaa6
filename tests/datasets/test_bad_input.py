"""Every kind of bad input: a clear message naming the file and line, all problems at once,
or — with ``on_error: skip`` — the broken videos left out and listed in the report."""

from __future__ import annotations

import json

import pytest

from pipeline.config import DataConfig, IngestConfig, SplitConfig
from pipeline.datasets.errors import DataSetError
from pipeline.datasets.ingest import ingest
from tests.helpers.datasets import make_afewva, make_affwild2, write_lines, write_video

FAIL = IngestConfig()
SKIP = IngestConfig(on_error="skip")


def _ingest(root, fmt="affwild", cfg=FAIL):
    return ingest(DataConfig(root=str(root), format=fmt), SplitConfig(), cfg)


def _error(root, fmt="affwild") -> str:
    with pytest.raises(DataSetError) as info:
        _ingest(root, fmt)
    return str(info.value)


def _valence(root, vid, split="train"):
    return root / "annotations" / split / "valence" / f"{vid}.txt"


def test_non_numeric_line_names_file_and_line(affwild_root):
    path = _valence(affwild_root, "a1")
    lines = path.read_text().splitlines()
    lines[4] = "abc"
    path.write_text("\n".join(lines) + "\n")
    assert f"{path}:5: 'abc' is not a number" in _error(affwild_root)


def test_empty_line_inside_file(affwild_root):
    path = _valence(affwild_root, "a1")
    lines = path.read_text().splitlines()
    lines[2] = "  "
    path.write_text("\n".join(lines) + "\n")
    assert f"{path}:3: empty value" in _error(affwild_root)


def test_trailing_blank_lines_are_tolerated(affwild_root):
    path = _valence(affwild_root, "a1")
    path.write_text(path.read_text() + "\n\n")
    rows = {r["video_id"]: r for r in _ingest(affwild_root).manifest.to_pylist()}
    assert rows["a1"]["n_frames"] == 9


def test_empty_label_file(affwild_root):
    path = _valence(affwild_root, "a3")
    path.write_text("")
    assert f"{path}: label file is empty" in _error(affwild_root)


@pytest.mark.parametrize("bad", ["1.5", "-1.01", "nan", "inf"])
def test_value_out_of_range_or_not_finite(affwild_root, bad):
    path = _valence(affwild_root, "a1")
    lines = path.read_text().splitlines()
    lines[0] = bad
    path.write_text("\n".join(lines) + "\n")
    msg = _error(affwild_root)
    assert f"{path}:1: " in msg
    assert ("outside [-1, 1]" in msg) or ("not finite" in msg)


def test_label_count_differs_from_decoded_frames(affwild_root):
    path = _valence(affwild_root, "a1")
    arousal = affwild_root / "annotations/train/arousal/a1.txt"
    write_lines(path, [0.1] * 11)
    write_lines(arousal, [0.2] * 11)
    msg = _error(affwild_root)
    assert f"{path}: 11 labelled frames but the video" in msg and "decodes 9 frames" in msg


def test_truncate_policy_keeps_the_shorter_and_reports(affwild_root):
    write_lines(_valence(affwild_root, "a1"), [0.1] * 11)
    write_lines(affwild_root / "annotations/train/arousal/a1.txt", [0.2] * 11)
    write_lines(_valence(affwild_root, "t1", "test"), [0.1] * 5)
    write_lines(affwild_root / "annotations/test/arousal/t1.txt", [0.2] * 5)
    cfg = IngestConfig(length_mismatch="truncate")
    res = _ingest(affwild_root, cfg=cfg)
    rows = {r["video_id"]: r for r in res.manifest.to_pylist()}
    assert rows["a1"]["n_frames"] == 9 and rows["t1"]["n_frames"] == 5
    counts = {}
    for r in res.labels.to_pylist():
        counts[r["video_id"]] = counts.get(r["video_id"], 0) + 1
    assert counts["a1"] == 9 and counts["t1"] == 5
    assert {t.video_id: t.kept for t in res.report.truncated} == {"a1": 9, "t1": 5}


def test_valence_and_arousal_files_disagree(affwild_root):
    write_lines(affwild_root / "annotations/train/arousal/a1.txt", [0.2] * 8)
    assert "8 arousal lines but 9 valence lines" in _error(affwild_root)


def test_label_file_without_video(affwild_root):
    write_lines(_valence(affwild_root, "ghost"), [0.1] * 3)
    write_lines(affwild_root / "annotations/train/arousal/ghost.txt", [0.1] * 3)
    assert f"{_valence(affwild_root, 'ghost')}: label file has no video" in _error(affwild_root)


def test_video_without_labels(affwild_root):
    video = write_video(affwild_root / "videos/train/lonely.mp4", 4)
    assert f"{video}: video has no labels" in _error(affwild_root)


def test_video_that_cannot_be_opened(affwild_root):
    video = affwild_root / "videos/train/a3.mp4"
    video.write_bytes(b"this is not a video" * 50)
    assert f"{video}: " in (msg := _error(affwild_root))
    assert "cannot be opened" in msg or "no decodable frame" in msg


def test_empty_video(affwild_root):
    video = affwild_root / "videos/train/a3.mp4"
    video.write_bytes(b"")
    msg = _error(affwild_root)
    assert str(video) in msg and ("cannot be opened" in msg or "no decodable frame" in msg)


def test_duplicate_video_ids(affwild_root):
    write_video(affwild_root / "videos/train/a1.avi", 9, fourcc="MJPG")
    assert "duplicate video id 'a1'" in _error(affwild_root)


def test_duplicate_id_across_splits(affwild_root):
    write_video(affwild_root / "videos/test/a1.mp4", 9)
    write_lines(_valence(affwild_root, "a1", "test"), [0.1] * 9)
    write_lines(affwild_root / "annotations/test/arousal/a1.txt", [0.1] * 9)
    assert "duplicate video id 'a1'" in _error(affwild_root)


def test_all_problems_are_listed_at_once(affwild_root):
    write_lines(_valence(affwild_root, "a1"), ["0.1", "x", "0.2"])
    (affwild_root / "videos/train/a3.mp4").write_bytes(b"junk")
    write_video(affwild_root / "videos/train/lonely.mp4", 4)
    msg = _error(affwild_root)
    assert msg.startswith("3 problem(s)")
    assert "a1.txt:2" in msg and "a3.mp4" in msg and "lonely.mp4" in msg


def test_skip_policy_leaves_broken_videos_out_and_reports_them(affwild_root):
    write_lines(_valence(affwild_root, "a1"), ["0.1", "x", "0.2"])
    (affwild_root / "videos/train/a3.mp4").write_bytes(b"junk")
    res = _ingest(affwild_root, cfg=SKIP)
    assert {r["video_id"] for r in res.manifest.to_pylist()} == {"a2avi", "a4", "t1"}
    assert set(res.labels.column("video_id").to_pylist()) == {"a2avi", "a4", "t1"}
    skipped = {s.video_id: s.problems for s in res.report.skipped}
    assert set(skipped) == {"a1", "a3"}
    assert "not a number" in skipped["a1"][0]


def test_not_the_format(affwild_root):
    assert "not an Aff-Wild2 folder" in _error(affwild_root, "affwild2")
    with pytest.raises(DataSetError, match="not an Aff-Wild folder"):
        _ingest(affwild_root / "videos")


def test_missing_root(tmp_path):
    with pytest.raises(DataSetError, match="does not exist"):
        _ingest(tmp_path / "nope")


def test_affwild2_bad_header_and_bad_value(tmp_path):
    root = make_affwild2(tmp_path / "aw2")
    ann = root / "annotations/VA_Estimation_Challenge/Train_Set"
    write_lines(ann / "v2.txt", ["arousal,valence"] + ["0.1,0.2"] * 10)
    write_lines(ann / "v1.txt", ["valence,arousal"] + ["0.1,0.2"] * 5 + ["0.1;0.2"] + ["2,0"] * 6)
    msg = _error(root, "affwild2")
    assert f"{ann / 'v2.txt'}:1: header 'arousal,valence'" in msg
    assert f"{ann / 'v1.txt'}:7: '0.1;0.2': expected 2 values" in msg
    assert f"{ann / 'v1.txt'}:8: valence 2 outside [-1, 1]" in msg


def test_affwild2_label_without_video(tmp_path):
    root = make_affwild2(tmp_path / "aw2")
    ann = root / "annotations/VA_Estimation_Challenge/Validation_Set"
    write_lines(ann / "gone_left.txt", ["valence,arousal", "0,0"])
    assert f"{ann / 'gone_left.txt'}: label file has no video gone.*" in _error(root, "affwild2")


def test_afewva_bad_values_and_landmarks(tmp_path):
    root = make_afewva(tmp_path / "afew", {"001": 3, "002": 3})
    meta = root / "002" / "002.json"
    data = json.loads(meta.read_text())
    data["frames"]["00000"]["valence"] = 11
    data["frames"]["00002"]["landmarks"] = [[1, 2]] * 67
    data["frames"]["00007"] = {"valence": 0, "arousal": 0}
    meta.write_text(json.dumps(data))
    msg = _error(root, "afewva")
    assert "frame '00000'" in msg and "valence 11 outside [-10, 10]" in msg
    assert "landmarks are not 68 [x, y] pairs" in msg
    assert "labels frame 7 but the clip has 3 frames" in msg


def test_afewva_frames_out_of_sequence(tmp_path):
    root = make_afewva(tmp_path / "afew", {"001": 3, "002": 3})
    (root / "002" / "00002.png").rename(root / "002" / "00005.png")
    assert "frame file out of sequence, expected 00002.png" in _error(root, "afewva")
