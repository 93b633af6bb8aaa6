"""The generated demo data set: layout, labels, determinism, ground truth, faces MediaPipe sees."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline.config import DemoConfig, ParamsError, parse_params
from pipeline.demo import generate_demo
from pipeline.demo.faces import load_sources
from pipeline.demo.generate import TRUTH_SCHEMA
from pipeline.demo.render import expression_coefs
from pipeline.demo.rig import FaceRig
from pipeline.video import iter_frames, probe

TINY = DemoConfig(n_train=3, n_test=1, min_frames=20, max_frames=30, seed=3)


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def read_truth(root: Path) -> dict[str, np.ndarray]:
    return {k: np.array(v) for k, v in pq.read_table(root / "truth.parquet").to_pydict().items()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("demo") / "demo"
    summary = generate_demo(out, TINY, n_jobs=2)
    return out, summary


def test_layout_is_affwild(tiny):
    root, summary = tiny
    files = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    expected = {"truth.parquet", "README.md"}
    for split, n in (("train", 3), ("test", 1)):
        for i in range(n):
            vid = f"demo_{split}_{i:03d}"
            ext = ".avi" if (split, i) == ("test", 0) else ".mp4"  # every 4th video is .avi
            expected.add(f"videos/{split}/{vid}{ext}")
            n_annotators = len(summary["annotators"]["videos"][vid]["lags"])
            assert 3 <= n_annotators <= 6
            for dim in ("valence", "arousal"):
                expected.add(f"annotations/{split}/{dim}/{vid}.txt")
                for j in range(1, n_annotators + 1):
                    expected.add(f"annotations/{split}/individual/{dim}/{vid}/{j}.txt")
    assert files == expected
    assert summary["videos"] == {"train": 3, "test": 1}
    # nothing half-written left beside the output
    assert not [p for p in root.parent.iterdir() if p.name != "demo"]


def test_labels_in_range_one_per_decoded_frame(tiny):
    root, _ = tiny
    for video in (root / "videos").rglob("*.*"):
        split = video.parent.name
        info = probe(video)
        assert (info.width, info.height) == (TINY.width, TINY.height)
        assert TINY.min_frames <= info.n_frames <= TINY.max_frames
        assert info.fps == pytest.approx(TINY.fps, abs=0.01)
        for dim in ("valence", "arousal"):
            text = (root / "annotations" / split / dim / f"{video.stem}.txt").read_text()
            lines = text.splitlines()
            assert len(lines) == info.n_frames
            values = np.array([float(x) for x in lines])
            assert np.all((values >= -1) & (values <= 1))
            assert np.abs(np.diff(values)).max() < 0.1


def test_truth_table_and_label_delay(tiny):
    root, summary = tiny
    assert pq.read_schema(root / "truth.parquet").equals(TRUTH_SCHEMA, check_metadata=False)
    t = read_truth(root)
    d = summary["label_delay_frames"]
    assert d == round(TINY.label_delay_s * TINY.fps) == 6
    for video in (root / "videos").rglob("*.*"):
        sel = t["video_id"] == video.stem
        n = probe(video).n_frames
        assert sel.sum() == n
        assert np.array_equal(t["frame"][sel], np.arange(n))
        vis = t["face_visible"][sel]
        box = np.stack([t[k][sel] for k in "xywh"], 1)
        assert np.isnan(box[~vis]).all() and np.isfinite(box[vis]).all()
        assert not (t["occluded"][sel] & ~vis).any()
        # the visible face lies inside the frame and is a plausible size
        x, y, w, h = box[vis].T
        assert (x >= 0).all() and (y >= 0).all()
        assert (x + w <= TINY.width).all() and (y + h <= TINY.height).all()
        assert ((h > 0.6 * TINY.face_height_min) & (h < 1.4 * TINY.face_height_max)).all()
        # labels are the annotators' readings, not the expression itself (how late they are:
        # tests/demo/test_demo_annotators.py, on traces long enough to tell)
        lab = _values(root / "annotations" / video.parent.name / "valence" / f"{video.stem}.txt")
        assert not np.allclose(lab, t["expr_valence"][sel], atol=1e-3)


def _values(path: Path) -> np.ndarray:
    return np.array([float(v) for v in path.read_text().split()])


def test_annotator_files_average_to_the_label_and_are_less_smooth(tiny):
    root, summary = tiny
    steps = {"mean": [], "one": []}
    for label in sorted((root / "annotations").glob("*/[va]*/*.txt")):
        split, dim, vid = label.parts[-3], label.parts[-2], label.stem
        files = sorted((root / "annotations" / split / "individual" / dim / vid).glob("*.txt"))
        assert len(files) == len(summary["annotators"]["videos"][vid]["gains"])
        readings = np.stack([_values(p) for p in files])
        mean = _values(label)
        assert readings.shape == (len(files), len(mean))
        assert np.all(np.abs(readings) <= 1)
        np.testing.assert_allclose(readings.mean(axis=0), mean, atol=1e-4)
        assert not np.allclose(readings[0], mean, atol=0.01)  # each its own reading
        steps["mean"].append(np.abs(np.diff(mean)).mean())
        steps["one"] += [np.abs(np.diff(r)).mean() for r in readings]
    # one annotator's trace is less smooth than the mean (the paper, Section 4.1)
    assert np.mean(steps["one"]) > 1.2 * np.mean(steps["mean"])
    agree = summary["annotators"]["ccc_vs_mean"]
    assert all(lo <= m <= hi <= 1 for lo, m, hi in agree.values())


def test_deterministic_from_the_seed_whatever_n_jobs(tiny, tmp_path):
    root, _ = tiny
    again = tmp_path / "again"
    generate_demo(again, TINY, n_jobs=1)
    assert tree_digest(again) == tree_digest(root)
    other = tmp_path / "other"
    generate_demo(other, TINY.model_copy(update={"seed": 4}))
    a, b = tree_digest(root), tree_digest(other)
    assert a.keys() != b.keys() or all(a[k] != b[k] for k in a if k != "README.md")


def test_expression_changes_the_mouth_not_the_background():
    face = load_sources()[1]  # grace_hopper: calm, closed mouth
    rig = FaceRig(face.image, face.landmarks)
    coefs = {
        v: expression_coefs(np.array([v]), np.array([0.0]), 1.0, face.neutral_valence, 0.0)[0]
        for v in (-1.0, 1.0)
    }
    (happy, lm_h), (sad, lm_s) = rig.render(coefs[1.0]), rig.render(coefs[-1.0])
    diff = np.abs(happy.astype(int) - sad.astype(int)).sum(-1)
    lm = rig.lm.astype(int)
    f = rig.face_height
    r = int(0.06 * f)
    corners = [diff[y - r : y + r, x - r : x + r].mean() for x, y in lm[[61, 291]]]
    assert min(corners) > 10  # grey levels, summed over RGB
    assert diff[: int(0.1 * f), : int(0.1 * f)].mean() < 0.5  # patch corner: untouched
    # mouth corners higher when happy (image y grows downwards), by > 4 % of the face
    assert (lm_s[[61, 291], 1] - lm_h[[61, 291], 1]).min() > 0.04 * f
    # arousal opens the eyes and the mouth
    lo = expression_coefs(np.array([0.0]), np.array([-1.0]), 1.0, 0.0, face.neutral_arousal)[0]
    hi = expression_coefs(np.array([0.0]), np.array([1.0]), 1.0, 0.0, face.neutral_arousal)[0]
    lm_lo, lm_hi = rig.landmarks_for(lo), rig.landmarks_for(hi)
    eye = lambda p: p[145, 1] - p[159, 1]  # noqa: E731
    mouth = lambda p: p[14, 1] - p[13, 1]  # noqa: E731
    assert eye(lm_hi) > eye(lm_lo) + 0.015 * f
    assert mouth(lm_hi) > mouth(lm_lo) + 0.03 * f


def test_mediapipe_finds_the_subject_where_there_is_one(tmp_path):
    import mediapipe as mp

    cfg = DemoConfig(
        n_train=2, n_test=1, min_frames=90, max_frames=100, seed=11,
        no_face_fraction=0.15, occlusion_fraction=0.1, distractor_fraction=0.5,
    )  # fmt: skip
    root = tmp_path / "demo"
    summary = generate_demo(root, cfg, n_jobs=2)
    assert summary["no_face_frames"] > 20 and summary["distractor_videos"] >= 1
    t = read_truth(root)
    hits = total = false_pos = empty = 0
    for video in sorted((root / "videos").rglob("*.*")):
        sel = t["video_id"] == video.stem
        vis, occ = t["face_visible"][sel], t["occluded"][sel]
        dis = t["distractor_visible"][sel]
        box = np.stack([t[k][sel] for k in "xywh"], 1)
        with mp.solutions.face_detection.FaceDetection(
            model_selection=0, min_detection_confidence=0.5
        ) as det:
            for i, frame in enumerate(iter_frames(video)):
                res = det.process(frame)
                found = []
                for d in res.detections or []:
                    b = d.location_data.relative_bounding_box
                    found.append(
                        (b.xmin * cfg.width, b.ymin * cfg.height, b.width * cfg.width,
                         b.height * cfg.height)
                    )  # fmt: skip
                if vis[i] and not occ[i]:
                    total += 1
                    cx, cy = box[i, 0] + box[i, 2] / 2, box[i, 1] + box[i, 3] / 2
                    hits += any(x <= cx <= x + w and y <= cy <= y + h for x, y, w, h in found)
                elif not vis[i]:
                    empty += 1
                    # only the distractor may be seen where the subject is not
                    false_pos += len(found) > int(dis[i])
    assert total > 150 and empty > 20
    assert hits / total >= 0.95, f"subject found in {hits}/{total} frames"
    assert false_pos <= 0.05 * empty, f"{false_pos}/{empty} face-less frames show a face"


def test_config_rejects_a_face_that_cannot_fit():
    with pytest.raises(ParamsError, match="face_height_max"):
        parse_params({"demo": {"width": 160, "height": 120, "face_height_max": 110.0}})
    with pytest.raises(ParamsError, match="expressiveness_max"):
        parse_params({"demo": {"expressiveness_min": 1.0, "expressiveness_max": 0.5}})


def test_ingest_reads_the_demos_annotators_for_train_and_val_the_mean_for_test(tiny):
    from pipeline.config import DataConfig, IngestConfig, SplitConfig
    from pipeline.datasets.ingest import ingest

    root, _ = tiny
    res = ingest(DataConfig(root=str(root), annotator="best"), SplitConfig(), IngestConfig())
    labels = res.labels.to_pydict()
    split_of = dict(zip(*(res.manifest.to_pydict()[k] for k in ("video_id", "split")), strict=True))
    assert set(res.report.annotators) == {v for v, s in split_of.items() if s != "test"}
    for vid, split in split_of.items():
        rows = [i for i, v in enumerate(labels["video_id"]) if v == vid]
        got = np.array([labels["arousal"][i] for i in rows])
        folder = root / "annotations" / ("test" if split == "test" else "train")
        if split == "test":
            expect = _values(folder / "arousal" / f"{vid}.txt")
        else:
            name = res.report.annotators[vid]
            expect = _values(folder / "individual" / "arousal" / vid / f"{name}.txt")
        np.testing.assert_allclose(got, expect, atol=1e-6)
