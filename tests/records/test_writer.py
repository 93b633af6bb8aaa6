"""Shard writing: exact round trip, sequences within videos, masks, balancing, determinism."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from pipeline.config import BalanceConfig, ShardConfig
from pipeline.records import balance
from pipeline.records.reader import shard_files
from pipeline.records.schema import parse
from pipeline.records.writer import RecordsError, load_videos, windows, write_records
from tests.helpers.records import make_interim

SEQ = 16
SHARD = ShardConfig(seq_len=SEQ, train_stride=5, shard_mb=0.05)
BAL = BalanceConfig()


def _write(interim, out, shard=SHARD, bal=BAL, n_jobs=1):
    manifest, labels, crops = interim
    summary = write_records(load_videos(manifest, labels, crops), out, shard, bal, n_jobs)
    summary.write(out)
    return summary.to_json()


def _read_all(out, split, kind, seq_len=SEQ):
    files = shard_files(out, split, kind)
    raw = list(tf.data.TFRecordDataset([str(f) for f in files]).batch(10_000))
    if not raw:
        return {}
    return {k: v.numpy() for k, v in parse(raw[0], kind, seq_len).items()}


@pytest.fixture
def written(interim, tmp_path):
    out = tmp_path / "records"
    return interim, out, _write(interim, out)


def test_frame_records_round_trip_exactly(written):
    (manifest, labels, crops), out, _ = written
    for split in ("val", "test"):
        got = _read_all(out, split, "frames")
        expected = {}
        for row in manifest.to_pylist():
            if row["split"] != split:
                continue
            vid = row["video_id"]
            crop = pq.read_table(crops / f"{vid}.parquet").to_pylist()
            lab = [r for r in labels.to_pylist() if r["video_id"] == vid]
            for c, r in zip(crop, lab, strict=True):
                if c["valid"] and np.isfinite(r["valence"]) and np.isfinite(r["arousal"]):
                    expected[(vid, c["frame"])] = (
                        c["image"],
                        c["landmarks"],
                        r["valence"],
                        r["arousal"],
                    )
        keys = [(v.decode(), int(f)) for v, f in zip(got["video_id"], got["frame"], strict=True)]
        assert sorted(keys) == sorted(expected)  # every usable frame exactly once
        for i, key in enumerate(keys):
            image, lm, v, a = expected[key]
            assert got["image"][i] == image
            np.testing.assert_array_equal(got["landmarks"][i], np.float32(lm))
            assert got["valence"][i] == np.float32(v) and got["arousal"][i] == np.float32(a)


def test_sequences_stay_within_videos_with_masks(written):
    (manifest, labels, crops), out, _ = written
    for split in ("train", "val", "test"):
        got = _read_all(out, split, "sequences")
        for i in range(len(got["video_id"])):
            vid = got["video_id"][i].decode()
            frames = got["frame"][i]
            real = frames >= 0
            # One video, consecutive frames; padding (-1) only at the end.
            assert np.all(np.diff(frames[real]) == 1)
            assert np.array_equal(real, np.arange(len(real)) < real.sum())
            crop = pq.read_table(crops / f"{vid}.parquet")
            valid = crop.column("valid").to_numpy(zero_copy_only=False)
            lab = labels.filter(labels.column("video_id").to_numpy(zero_copy_only=False) == vid)
            v = lab.column("valence").to_numpy(zero_copy_only=False)
            a = lab.column("arousal").to_numpy(zero_copy_only=False)
            f = frames[real]
            assert f.max() < len(valid)  # never runs into another video
            usable = valid[f] & np.isfinite(v[f]) & np.isfinite(a[f])
            np.testing.assert_array_equal(got["mask"][i][real], usable.astype(np.int64))
            np.testing.assert_array_equal(got["face"][i][real], valid[f].astype(np.int64))
            assert not got["mask"][i][~real].any() and not got["face"][i][~real].any()
            np.testing.assert_array_equal(got["valence"][i][real][usable], v[f][usable])
            assert (got["valence"][i][real][~usable] == 0).all()


def test_evaluation_sequences_cover_every_frame_once(written):
    (manifest, _, _), out, _ = written
    for split in ("val", "test"):
        got = _read_all(out, split, "sequences")
        seen = [
            (v.decode(), int(f))
            for v, fr in zip(got["video_id"], got["frame"], strict=True)
            for f in fr
            if f >= 0
        ]
        expected = [
            (r["video_id"], f)
            for r in manifest.to_pylist()
            if r["split"] == split
            for f in range(r["n_frames"])
        ]
        assert sorted(seen) == sorted(expected)


def test_balancing_reaches_the_targets_and_leaves_val_test_alone(written):
    _, out, summary = written
    train = summary["splits"]["train"]["frames"]
    assert train["balance"]["reachable"]
    for q, target in zip(balance.QUADRANTS, BAL.targets, strict=True):
        assert abs(train["after"]["shares"][q] - target) <= 0.01, (q, train["after"])
    assert train["after"]["total"] > train["before"]["total"]
    got = _read_all(out, "train", "frames")
    q = balance.quadrant(got["valence"], got["arousal"])
    assert balance.shares(q)["counts"] == train["after"]["counts"]  # the shards hold it
    for split in ("val", "test"):
        for kind in ("frames", "sequences"):
            s = summary["splits"][split][kind]
            assert s["records"] == s["units"]
            assert s["before"] == s["after"]
    seq = summary["splits"]["train"]["sequences"]
    assert seq["records"] > seq["units"]


def test_balance_none_keeps_counts(interim, tmp_path):
    summary = _write(interim, tmp_path / "r", bal=BalanceConfig(method="none"))
    for kind in ("frames", "sequences"):
        assert (
            summary["splits"]["train"][kind]["records"] == summary["splits"]["train"][kind]["units"]
        )


def test_same_seed_byte_identical_any_n_jobs(interim, tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    c = tmp_path / "c"
    _write(interim, a)
    _write(interim, b, n_jobs=2)
    _write(interim, c, shard=SHARD.model_copy(update={"seed": 1}))
    files = sorted(p.relative_to(a) for p in a.rglob("*.tfrecord"))
    assert len(files) > 3  # several shards per split
    assert files == sorted(p.relative_to(b) for p in b.rglob("*.tfrecord"))
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert any((a / rel).read_bytes() != (c / rel).read_bytes() for rel in files)
    assert (a / "summary.json").read_text() == (b / "summary.json").read_text()


def test_crops_disagreeing_with_labels_name_the_video(interim, tmp_path):
    manifest, labels, crops = interim
    t = pq.read_table(crops / "tr1.parquet")
    pq.write_table(t.slice(0, t.num_rows - 3), crops / "tr1.parquet")
    with pytest.raises(RecordsError, match=r"tr1\.parquet: crop table of video 'tr1' has 52 rows"):
        load_videos(manifest, labels, crops)


def test_missing_crop_table_names_the_video(interim):
    manifest, labels, crops = interim
    (crops / "te1.parquet").unlink()
    with pytest.raises(RecordsError, match="no crop table for video 'te1'"):
        load_videos(manifest, labels, crops)


def test_labels_disagreeing_with_manifest(tmp_path):
    manifest, labels, crops = make_interim(tmp_path, {"x": ("train", 10)})
    with pytest.raises(RecordsError, match="video 'x': labels have 9 frames"):
        load_videos(manifest, labels.slice(0, 9), crops)


@pytest.mark.parametrize(
    ("n", "seq", "stride", "expected"),
    [
        (10, 4, None, [0, 4, 8]),
        (8, 4, None, [0, 4]),
        (10, 4, 3, [0, 3, 6]),
        (11, 4, 3, [0, 3, 6, 7]),
        (3, 4, 2, [0]),
    ],
)
def test_windows(n, seq, stride, expected):
    assert windows(n, seq, stride) == expected


def test_duplication_counts_on_random_skewed_data():
    rng = np.random.default_rng(1)
    reached = 0
    for trial in range(20):
        p = rng.dirichlet([5, 2, 1.5, 1])
        q = rng.choice(4, size=int(rng.integers(500, 5000)), p=p)
        copies, info = balance.duplication_counts(q, BAL.targets, seed=trial)
        assert (copies >= 1).all()  # nothing is dropped
        assert info["reachable"] == (np.bincount(q, minlength=4) > 0).all()
        if not info["reachable"]:
            continue
        reached += 1
        after = balance.shares(q, copies)["shares"]
        for name, t in zip(balance.QUADRANTS, BAL.targets, strict=True):
            assert abs(after[name] - t) <= 0.01
    assert reached >= 15


def test_unreachable_quadrant_is_reported():
    q = np.array([0] * 50 + [1] * 10 + [2] * 5)
    copies, info = balance.duplication_counts(q, BAL.targets, seed=0)
    assert not info["reachable"]
    after = balance.shares(q, copies)["shares"]
    assert after["V-A-"] == 0
    assert abs(after["V+A+"] - 0.43 / 0.86) <= 0.01


def test_paper_balancing_duplicates_only_negative_arousal_by_whole_factors():
    """Section 2.1: only V+A- and V-A- are duplicated, by the integer factors whose shares are
    nearest to 43/24/19/14 %; V+A+ and V-A+ are kept once, whatever their shares."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        q = rng.choice(4, size=int(rng.integers(500, 5000)), p=rng.dirichlet([5, 2, 1.5, 1]))
        counts = np.bincount(q, minlength=4)
        copies, info = balance.paper_counts(q, BAL.targets)
        f = info["factors"]
        assert f["V+A+"] == f["V-A+"] == 1
        assert (copies[q == 0] == 1).all() and (copies[q == 1] == 1).all()
        for k, name in ((2, "V+A-"), (3, "V-A-")):
            assert isinstance(f[name], int) and f[name] >= 1
            assert (copies[q == k] == f[name]).all()  # whole copies of every unit

        def sq_error(factors, counts=counts):
            n = counts * np.array(factors)
            return sum((n[i] / n.sum() - BAL.targets[i]) ** 2 for i in range(4))

        err = sq_error([1, 1, f["V+A-"], f["V-A-"]])
        for d2 in (-1, 0, 1):  # no neighbouring pair of factors is nearer the targets
            for d3 in (-1, 0, 1):
                g = [1, 1, f["V+A-"] + d2, f["V-A-"] + d3]
                if min(g) >= 1:
                    assert err <= sq_error(g) + 1e-12, (counts, f, g)


def test_paper_balancing_reaches_the_papers_shares_on_aff_wild_like_data():
    # counts whose negative-arousal quadrants are a half and a third of what 43/24/19/14
    # needs: factors 2 and 3 give the shares exactly
    q = np.repeat([0, 1, 2, 3], [4300, 2400, 950, 467])
    copies, info = balance.paper_counts(q, BAL.targets)
    assert info["factors"] == {"V+A+": 1, "V-A+": 1, "V+A-": 2, "V-A-": 3}
    after = balance.shares(q, copies)["shares"]
    assert after == {"V+A+": 0.43, "V-A+": 0.24, "V+A-": 0.19, "V-A-": 0.1401}


def test_paper_balancing_in_the_shards_and_the_summary(interim, tmp_path):
    summary = _write(interim, tmp_path / "r", bal=BalanceConfig(method="paper"))
    assert summary["balance"] == "paper"
    train = summary["splits"]["train"]["frames"]
    table = train["balance"]["quadrants"]
    for name in ("V+A+", "V-A+"):
        assert table[name]["after"] == table[name]["before"]
    for name in balance.QUADRANTS:
        row = table[name]
        assert row["before"] == train["before"]["counts"][name]
        assert row["after"] == train["after"]["counts"][name]
        if row["before"]:
            assert row["factor"] == train["balance"]["factors"][name]
    got = _read_all(tmp_path / "r", "train", "frames")
    q = balance.quadrant(got["valence"], got["arousal"])
    assert balance.shares(q)["counts"] == train["after"]["counts"]
    val = summary["splits"]["val"]["frames"]["balance"]["quadrants"]
    assert all(row["before"] == row["after"] for row in val.values())


def test_crops_without_landmarks_get_zero_landmarks_never_nan(tmp_path):
    manifest, labels, crops = make_interim(tmp_path / "i", {"x": ("test", 20)})
    t = pq.read_table(crops / "x.parquet")
    lm = t.column("landmarks").to_pylist()
    valid = t.column("valid").to_numpy(zero_copy_only=False)
    v = labels.column("valence").to_numpy(zero_copy_only=False)
    first = int(np.flatnonzero(valid & np.isfinite(v))[0])
    lm[first] = [float("nan")] * 136  # a face cropped from its box, no landmarks
    t = t.set_column(
        t.schema.get_field_index("landmarks"), "landmarks", pa.array(lm, pa.list_(pa.float32()))
    )
    pq.write_table(t, crops / "x.parquet")
    out = tmp_path / "r"
    _write((manifest, labels, crops), out)
    for kind in ("frames", "sequences"):
        got = _read_all(out, "test", kind)
        assert np.isfinite(got["landmarks"]).all()
    frames = _read_all(out, "test", "frames")
    row = list(frames["frame"]).index(first)  # the frame is still a frame record
    assert (frames["landmarks"][row] == 0).all()
