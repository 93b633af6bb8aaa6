"""The three face stages end to end on real encoded videos, real MediaPipe (no mocks).

Runs ``detect`` -> ``landmarks`` -> ``crop`` once over a manifest of every test clip (module
fixture) and checks the contract: one row per source frame, NaN / null where there is no
face, the subject followed, bad videos reported without stopping the others.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.artifacts import FaceStageSummary
from pipeline.config import CropConfig, DetectConfig, LandmarksConfig
from pipeline.face import tables
from pipeline.face.crop import decode_jpeg
from pipeline.face.runner import make_jobs, read_manifest, run_stage
from tests.helpers.faces import Clip, assert_jaw_ordered, write_manifest


@pytest.fixture(scope="module")
def run(tmp_path_factory, clips):
    """All clips plus one whose file does not exist, through the three stages."""
    d = tmp_path_factory.mktemp("run")
    all_clips = list(clips.values())
    all_clips.append(Clip("absent", d / "absent.mp4", 8, "", "file missing"))
    manifest = read_manifest(write_manifest(d / "manifest.parquet", all_clips))
    out = {k: d / k for k in ("boxes", "landmarks", "crops")}
    summaries = {}
    summaries["detect"] = run_stage(
        "detect", make_jobs(manifest, out["boxes"]), DetectConfig(), out["boxes"], n_jobs=1
    )
    summaries["landmarks"] = run_stage(
        "landmarks", make_jobs(manifest, out["landmarks"], {"boxes": str(out["boxes"])}),
        LandmarksConfig(max_gap=3), out["landmarks"], n_jobs=1,
    )  # fmt: skip
    summaries["crop"] = run_stage(
        "crop",
        make_jobs(manifest, out["crops"], {"boxes": str(out["boxes"]), "landmarks": str(out["landmarks"])}),
        CropConfig(size=64, margin=0.2), out["crops"], n_jobs=1,
    )  # fmt: skip
    return {"dir": d, "out": out, "summaries": summaries, "clips": all_clips}


def _read(run, kind, vid):
    schema = {"boxes": tables.BOXES, "landmarks": tables.LANDMARKS, "crops": tables.CROPS}[kind]
    return tables.read_table(run["out"][kind] / f"{vid}.parquet", schema)


def test_one_row_per_frame_always(run):
    for clip in run["clips"]:
        for kind in ("boxes", "landmarks", "crops"):
            t = _read(run, kind, clip.video_id)
            assert list(t["frame"]) == list(range(clip.n_frames)), (kind, clip.video_id)


def test_face_gap_is_missing_rows(run):
    b = _read(run, "boxes", "gap")
    has_box = np.isfinite(b["x"])
    assert has_box[:10].all() and has_box[20:].all()
    assert not has_box[10:20].any()
    assert (b["n_faces"][10:20] == 0).all()
    lm = _read(run, "landmarks", "gap")
    status = np.array(lm["status"])
    assert (status[10:20] == "missing").all()  # 10 frames > max_gap
    assert np.isnan(lm["landmarks"][10:20]).all()
    assert set(status[:10]) <= {"detected", "tracked"} and set(status[20:]) <= {
        "detected",
        "tracked",
    }
    assert "tracked" in set(status)  # the mesh followed itself between frames
    c = _read(run, "crops", "gap")
    assert list(c["valid"]) == [not 10 <= i < 20 for i in range(30)]
    assert all(c["image"][i] is None for i in range(10, 20))
    assert np.isnan(c["landmarks"][10:20]).all()


def test_subject_kept_when_a_larger_face_appears(run):
    b = _read(run, "boxes", "distractor")
    assert (b["n_faces"][:10] == 1).all() and (b["n_faces"][10:] == 2).all()
    cx = b["x"] + b["w"] / 2
    assert np.isfinite(cx).all()
    # The subject is the astronaut on the left (x < 150), not the larger face on the right.
    assert (cx < 150).all(), cx
    lm = _read(run, "landmarks", "distractor")["landmarks"].reshape(-1, 68, 2)
    assert (lm[:, :, 0].max(axis=1) < 160).all()


def test_other_face_not_taken_while_subject_is_away(run):
    b = _read(run, "boxes", "away")
    assert (b["n_faces"][8:16] == 2).all() and (b["n_faces"][16:31] == 1).all()
    cx = b["x"] + b["w"] / 2
    assert (cx[:16] < 160).all() and (cx[31:] < 160).all()  # the subject, back again
    assert np.isnan(cx[16:31]).all()  # nobody while it is away, though a face is there
    c = _read(run, "crops", "away")
    assert not c["valid"][16:31].any()


@pytest.mark.parametrize(("vid", "side"), [("two_left", "left"), ("two_right", "right")])
def test_left_and_right_subjects(run, vid, side):
    b = _read(run, "boxes", vid)
    cx = b["x"] + b["w"] / 2
    assert np.isfinite(cx).all()
    assert (cx < 200).all() if side == "left" else (cx > 200).all()


def test_no_face_video_is_all_missing_with_a_warning(run):
    b = _read(run, "boxes", "noface")
    assert np.isnan(b["x"]).all() and (b["n_faces"] == 0).all()
    assert set(_read(run, "landmarks", "noface")["status"]) == {"missing"}
    assert not _read(run, "crops", "noface")["valid"].any()
    s = run["summaries"]["detect"]
    assert any("noface" in w and "no face" in w for w in s.warnings)
    assert all(f.video_id != "noface" for f in s.failed)


def test_truncated_video_rows_flagged_and_reported(run):
    b = _read(run, "boxes", "truncated")
    n_faces = b["n_faces"]
    decoded = int((n_faces >= 0).sum())
    assert 5 <= decoded < 40
    assert (n_faces[decoded:] == -1).all()  # -1: the frame did not decode
    assert np.isnan(b["x"][decoded:]).all() and np.isfinite(b["x"][:decoded]).all()
    assert set(np.array(_read(run, "landmarks", "truncated")["status"])[decoded:]) == {"missing"}
    for stage in ("detect", "landmarks", "crop"):
        s = run["summaries"][stage]
        assert any("truncated" in w and "decoding stopped" in w for w in s.warnings), stage
        assert s.frames_not_decoded >= 40 - decoded


def test_missing_file_fails_alone(run):
    s = run["summaries"]["detect"]
    assert [f.video_id for f in s.failed] == ["absent"]
    assert "absent.mp4" in s.failed[0].why
    assert np.isnan(_read(run, "boxes", "absent")["x"]).all()
    assert s.videos == len(run["clips"])


def test_grayscale_odd_sized_video(run):
    b = _read(run, "boxes", "gray_odd")
    assert np.isfinite(b["x"]).all()
    c = _read(run, "crops", "gray_odd")
    assert c["valid"].all()
    img = decode_jpeg(c["image"][0])
    assert img.shape == (64, 64, 3)


def test_face_leaving_the_frame(run):
    b = _read(run, "boxes", "leaving")
    seen = np.isfinite(b["x"])
    assert seen[:8].all() and not seen[-3:].any()
    c = _read(run, "crops", "leaving")
    assert (
        c["valid"] == (np.array(_read(run, "landmarks", "leaving")["status"]) != "missing") | seen
    ).all()


def test_crops_are_faces_with_normalised_landmarks(run):
    c = _read(run, "crops", "gap")
    lm = c["landmarks"].reshape(-1, 68, 2)
    ok = c["valid"]
    assert np.isfinite(lm[ok]).all()
    assert (lm[ok] >= 0).all() and (lm[ok] <= 1).all()
    # margin 0.2 on each side: the landmarks' extent spans 1 / 1.4 of the crop on its long side
    ext = (lm[ok].max(axis=1) - lm[ok].min(axis=1)).max(axis=1)
    np.testing.assert_allclose(ext, 1 / 1.4, atol=0.02)
    img = decode_jpeg(c["image"][0])
    assert img.shape == (64, 64, 3)
    # the crop holds the face, not the flat grey background
    assert img.std() > 20


def test_landmark_geometry_on_real_faces(run):
    lm = _read(run, "landmarks", "gap")["landmarks"].reshape(-1, 68, 2)
    for p in lm[np.isfinite(lm).all(axis=(1, 2))]:
        assert p[36:42, 0].max() < p[42:48, 0].min()  # right eye (image left) left of left eye
        assert p[48:68, 1].min() > p[30:36, 1].mean()  # mouth below the nose
        assert_jaw_ordered(p)


def test_summaries_round_trip_through_their_files(run, tmp_path):
    """Each stage's summary, written as the stage writes it, reads back equal; the file keeps
    the keys users' scripts read (one report per video under ``videos_detail``)."""
    for stage, s in run["summaries"].items():
        path = tmp_path / f"{stage}.json"
        s.write_file(path)
        back = FaceStageSummary.read_file(path)
        assert back.to_json() == s.to_json(), stage  # all but the timings (not written)
        raw = json.loads(path.read_text())
        assert list(raw)[:12] == [
            "stage", "videos", "frames", "frames_with_face", "frames_missing",
            "frames_not_decoded", "frames_with_several_faces", "engine", "n_jobs",
            "failed", "warnings", "videos_detail",
        ]  # fmt: skip
        assert ("statuses" in raw) == (stage == "landmarks") and "ray_cluster" not in raw
        detail = {r["video_id"]: r for r in raw["videos_detail"]}
        assert list(detail) == [c.video_id for c in run["clips"]]
        assert detail["absent"]["error"] == raw["failed"][0]["why"]
        assert detail["gap"]["error"] is None and detail["gap"]["frames"] == 30
        assert sum(r["faces"] for r in detail.values()) == raw["frames_with_face"]
        assert raw["frames"] == sum(c.n_frames for c in run["clips"]), stage
        # timings go to the timing report (timings/<stage>.json), never into the summary
        assert "seconds" not in path.read_text() and "frames_per_s" not in path.read_text()
        t = s.timings()
        assert t["frames_per_s"] and t["frames_per_s_per_process"]
        assert set(t["videos"]) == set(detail)
    lm = run["summaries"]["landmarks"]
    assert set(lm.statuses) == set(tables.STATUSES)
    assert lm.statuses == {
        k: sum(r.statuses.get(k, 0) for r in lm.videos_detail) for k in lm.statuses
    }
