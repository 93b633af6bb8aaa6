"""The ``shard`` stage's core: face crops + labels → shuffled, balanced TFRecord shards.

Memory stays bounded by one video plus one shard, whatever the data set size:

1. **plan**: per split and record kind, the units (frames, or sequence windows) and how many
   copies of each the balanced set holds; every copy gets a seeded global position, and
   ``position % n_shards`` picks its shard;
2. **route**: videos are read one at a time, each unit is serialised once and appended, with
   its position, to its shard's bucket file;
3. **write**: each bucket is loaded, sorted by position and written as the final shard
   (``n_jobs`` shards at a time).

The output depends only on the inputs and the seeds, not on ``n_jobs``: the same seed gives
byte-identical shards.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from pipeline.artifacts import RecordsSummary
from pipeline.config import BalanceConfig, ShardConfig
from pipeline.contracts.points68 import N_VALUES
from pipeline.contracts.schema import SPLITS
from pipeline.errors import InputError
from pipeline.parallel import map_ordered
from pipeline.records import balance
from pipeline.records.schema import KINDS, frame_example, sequence_example, shard_name

# Bytes a record takes besides its JPEGs (landmarks, labels, ids, proto framing).
_OVERHEAD_PER_FRAME = N_VALUES * 4 + 64
_HEADER = struct.Struct("<qq")  # position, payload length


class RecordsError(InputError):
    """Crops, labels and manifest disagree; the message names the video."""


@dataclass
class Video:
    video_id: str
    split: str
    n_frames: int
    crops: Path
    valence: np.ndarray
    arousal: np.ndarray
    valid: np.ndarray  # a face crop is present
    bytes_per_frame: float

    @property
    def usable(self) -> np.ndarray:
        """Frames that enter frame records and count in sequence losses."""
        return self.valid & np.isfinite(self.valence) & np.isfinite(self.arousal)


@dataclass
class Plan:
    """What goes into the records of one (split, kind)."""

    split: str
    kind: str
    videos: list[int]  # index into the video list, per unit
    starts: list[int]  # frame (frames) or window start (sequences), per unit
    quadrants: np.ndarray
    copies: np.ndarray
    balance_info: dict = field(default_factory=dict)
    n_shards: int = 1
    positions: list[np.ndarray] = field(default_factory=list)  # per unit, one per copy


def windows(n_frames: int, seq_len: int, stride: int | None) -> list[int]:
    """Start frames of sequence windows over a video.

    ``stride`` None: back-to-back windows covering every frame exactly once, the last one
    padded (evaluation). Otherwise windows every ``stride`` frames, the last one aligned to
    the video's end so no tail is lost; a video shorter than a window gives one padded window.
    """
    if stride is None:
        return list(range(0, n_frames, seq_len))
    if n_frames <= seq_len:
        return [0]
    starts = list(range(0, n_frames - seq_len + 1, stride))
    if starts[-1] != n_frames - seq_len:
        starts.append(n_frames - seq_len)
    return starts


def load_videos(manifest: pa.Table, labels: pa.Table, crops_dir: Path) -> list[Video]:
    """Join manifest, labels and per-video crop tables, checking that they agree."""
    labels = labels.sort_by([("video_id", "ascending"), ("frame", "ascending")])
    vids = labels.column("video_id").to_numpy(zero_copy_only=False)
    frames = labels.column("frame").to_numpy()
    val = labels.column("valence").to_numpy(zero_copy_only=False).astype(np.float32)
    aro = labels.column("arousal").to_numpy(zero_copy_only=False).astype(np.float32)
    bounds = {}
    if len(vids):
        change = np.flatnonzero(vids[1:] != vids[:-1]) + 1
        for s, e in zip(np.r_[0, change], np.r_[change, len(vids)], strict=True):
            bounds[vids[s]] = (s, e)

    out = []
    for row in manifest.to_pylist():
        vid, n = row["video_id"], row["n_frames"]
        path = crops_dir / f"{vid}.parquet"
        if not path.is_file():
            raise RecordsError(f"{path}: no crop table for video {vid!r} of the manifest")
        s, e = bounds.get(vid, (0, 0))
        if e - s != n or not np.array_equal(frames[s:e], np.arange(n)):
            raise RecordsError(
                f"video {vid!r}: labels have {e - s} frames, the manifest says {n} (frames 0..{n - 1})"
            )
        table = pq.read_table(path, columns=["frame", "valid"])
        crop_frames = table.column("frame").to_numpy()
        if table.num_rows != n or not np.array_equal(crop_frames, np.arange(n)):
            raise RecordsError(
                f"{path}: crop table of video {vid!r} has {table.num_rows} rows "
                f"(frames {crop_frames[:1].tolist()}..{crop_frames[-1:].tolist()}), "
                f"labels and manifest have {n} frames 0..{n - 1}"
            )
        valid = table.column("valid").to_numpy(zero_copy_only=False).astype(bool)
        out.append(
            Video(
                vid,
                row["split"],
                n,
                path,
                val[s:e],
                aro[s:e],
                valid,
                os.path.getsize(path) / max(n, 1),
            )
        )
    return out


def plan(
    videos: list[Video], split: str, kind: str, shard_cfg: ShardConfig, bal: BalanceConfig
) -> Plan:
    idx, starts, quads = [], [], []
    for i, v in enumerate(videos):
        if v.split != split:
            continue
        usable = v.usable
        if kind == "frames":
            f = np.flatnonzero(usable)
            idx.extend([i] * len(f))
            starts.extend(f.tolist())
            quads.append(balance.quadrant(v.valence[f], v.arousal[f]))
            continue
        stride = shard_cfg.train_stride if split == "train" else None
        for s in windows(v.n_frames, shard_cfg.seq_len, stride):
            m = usable[s : s + shard_cfg.seq_len]
            if split == "train" and not m.any():
                continue  # nothing to learn from; evaluation keeps it so every frame is covered
            idx.append(i)
            starts.append(s)
            if m.any():
                sl = slice(s, s + shard_cfg.seq_len)
                q = balance.quadrant(v.valence[sl][m].mean(), v.arousal[sl][m].mean())
            else:
                q = np.int64(-1)
            quads.append(np.atleast_1d(q))
    quadrants = np.concatenate(quads) if quads else np.zeros(0, np.int64)
    p = Plan(split, kind, idx, starts, quadrants, np.ones(len(idx), np.int64))
    if split == "train" and bal.method == "exact":
        seed = _seed(bal.seed, split, kind)
        p.copies, p.balance_info = balance.duplication_counts(quadrants, bal.targets, seed)
        p.balance_info = {"method": "exact", **p.balance_info}
    elif split == "train" and bal.method == "paper":
        p.copies, p.balance_info = balance.paper_counts(quadrants, bal.targets)
    else:
        p.balance_info = {"method": "none" if split == "train" else "never (not train)"}
    p.copies[quadrants < 0] = 1  # sequences without labels are kept once, not balanced
    p.balance_info["quadrants"] = balance.quadrant_table(quadrants, p.copies)

    per_unit = [
        videos[i].bytes_per_frame + _OVERHEAD_PER_FRAME for i in idx
    ]  # estimate from crop table sizes (JPEG does not compress further)
    frames_per_unit = 1 if kind == "frames" else shard_cfg.seq_len
    est = float(np.dot(per_unit, p.copies)) * frames_per_unit if idx else 0.0
    p.n_shards = max(1, math.ceil(est / (shard_cfg.shard_mb * 2**20)))
    total = int(p.copies.sum())
    order = np.random.default_rng(_seed(shard_cfg.seed, split, kind)).permutation(total)
    p.positions = np.split(order, np.cumsum(p.copies)[:-1]) if total else []
    return p


def _seed(seed: int, split: str, kind: str) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, SPLITS.index(split), KINDS.index(kind)])


def _placeholder(size: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.zeros((size, size, 3), np.uint8))
    return buf.tobytes()


def _route_video(
    video: Video, units: list, seq_len: int
) -> Iterator[tuple[tuple[str, str, int], int, bytes]]:
    """Serialise every unit of one video, one at a time: ``((split, kind, shard), position,
    record)`` for each copy. A generator, so memory holds the video's crops and one record,
    not all its records (with overlapping sequences those are ``seq_len / train_stride``
    times the crops: gigabytes for a long video at 224 px)."""
    table = pq.read_table(video.crops, columns=["image", "landmarks"])
    images = table.column("image").to_pylist()
    lm_col = table.column("landmarks").to_pylist()
    landmarks = np.zeros((video.n_frames, N_VALUES), np.float32)
    for f, pts in enumerate(lm_col):
        if pts is not None:
            landmarks[f] = pts
    # A face cropped from its box alone has no landmarks (NaN, or null): the records carry
    # zeros there, never NaN, which would poison a network (and its batch statistics).
    landmarks[~np.isfinite(landmarks).all(axis=1)] = 0.0
    usable = video.usable
    size = next(
        (
            cv2.imdecode(np.frombuffer(images[f], np.uint8), cv2.IMREAD_UNCHANGED).shape[0]
            for f in np.flatnonzero(video.valid)[:1]
        ),
        64,
    )
    blank = _placeholder(size)
    val = np.nan_to_num(video.valence)
    aro = np.nan_to_num(video.arousal)
    for split, kind, start, positions, n_shards in units:
        if kind == "frames":
            rec = frame_example(
                images[start],
                landmarks[start],
                float(val[start]),
                float(aro[start]),
                video.video_id,
                start,
            )
        else:
            sl = np.arange(start, start + seq_len)
            inside = sl < video.n_frames
            f = np.where(inside, sl, 0)
            face = video.valid[f] & inside
            mask = usable[f] & inside
            rec = sequence_example(
                [images[j] if ok else blank for j, ok in zip(f, face, strict=True)],
                np.where(face[:, None], landmarks[f], 0.0),
                np.where(mask, val[f], 0.0),
                np.where(mask, aro[f], 0.0),
                mask.astype(np.int64),
                face.astype(np.int64),
                np.where(inside, sl, -1),
                video.video_id,
            )
        for pos in positions:
            yield (split, kind, int(pos) % n_shards), int(pos), rec


def write_records(
    videos: list[Video],
    out_dir: Path,
    shard_cfg: ShardConfig,
    bal: BalanceConfig,
    n_jobs: int = 1,
) -> RecordsSummary:
    """Write all shards under ``out_dir/<split>/`` and return the summary (the caller
    writes it: ``summary.write(out_dir)``)."""
    plans = [plan(videos, s, k, shard_cfg, bal) for s in SPLITS for k in KINDS]
    buckets_dir = out_dir / ".buckets"
    _serialise(videos, plans, buckets_dir, shard_cfg.seq_len)
    for s in SPLITS:
        (out_dir / s).mkdir(parents=True, exist_ok=True)
    tasks = [(p, k) for p in plans for k in range(p.n_shards)]
    shards = map_ordered(
        lambda t: _finish_shard(*t, buckets_dir, out_dir), tasks, n_jobs, threads=True
    )
    buckets_dir.rmdir()
    return _summary(videos, plans, tasks, shards, shard_cfg, bal)


def _serialise(videos: list[Video], plans: list[Plan], buckets_dir: Path, seq_len: int) -> None:
    """Every video's records, serialised once, appended to the bucket of their shard."""
    units_by_video: dict[int, list] = {}
    for p in plans:
        for i, start, positions in zip(p.videos, p.starts, p.positions, strict=True):
            units_by_video.setdefault(i, []).append((p.split, p.kind, start, positions, p.n_shards))
    buckets_dir.mkdir(parents=True)
    handles: dict = {}
    jobs = [(videos[i], units, seq_len) for i, units in sorted(units_by_video.items())]
    bar = dict(total=len(jobs), desc="shard: serialise", unit="video", disable=None)
    # Serialising is cheap (≈150 MB/s on one core here); worker processes cost more in
    # start-up and in shipping records back than they save (measured: benchmarks/README.md).
    try:
        for job in tqdm(jobs, **bar):
            _append(_route_video(*job), buckets_dir, handles)
    finally:
        for h in handles.values():
            h.close()


def _finish_shard(p: Plan, shard: int, buckets_dir: Path, out_dir: Path) -> dict:
    """One shard written from its bucket, records in their planned order."""
    import tensorflow as tf

    bucket = buckets_dir / f"{p.split}-{p.kind}-{shard}"
    records = _read_bucket(bucket) if bucket.exists() else []
    records.sort(key=lambda r: r[0])
    path = out_dir / p.split / shard_name(p.kind, shard, p.n_shards)
    with tf.io.TFRecordWriter(str(path)) as w:
        for _, rec in records:
            w.write(rec)
    bucket.unlink(missing_ok=True)
    return {"file": f"{p.split}/{path.name}", "records": len(records), "bytes": path.stat().st_size}


def _summary(
    videos, plans: list[Plan], tasks, shards, shard_cfg: ShardConfig, bal
) -> RecordsSummary:
    """Counts per split and kind, quadrant shares before and after balancing, the shards."""
    summary = {
        "crop_size": _crop_size(videos),
        "seq_len": shard_cfg.seq_len,
        "train_stride": shard_cfg.train_stride,
        "balance": bal.method,
        "splits": {},
    }
    for p in plans:
        entry = {
            "records": int(p.copies.sum()),
            "units": len(p.copies),
            "before": balance.shares(p.quadrants),
            "after": balance.shares(p.quadrants, p.copies),
            "balance": p.balance_info,
            "shards": [sh for (q, _), sh in zip(tasks, shards, strict=True) if q is p],
        }
        if p.kind == "frames":
            entry["videos"] = len(set(p.videos))
        summary["splits"].setdefault(p.split, {})[p.kind] = entry
    return RecordsSummary.model_validate(summary)


def _crop_size(videos: list[Video]) -> int | None:
    """Side of the (square) crops, read from the first valid JPEG."""
    for v in videos:
        valid = np.flatnonzero(v.valid)
        if len(valid):
            table = pq.read_table(v.crops, columns=["image"])
            jpeg = table.column("image")[int(valid[0])].as_py()
            return int(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED).shape[0])
    return None


def _append(routed: Iterable, buckets_dir: Path, handles: dict) -> None:
    for key, pos, rec in routed:
        if key not in handles:
            split, kind, shard = key
            handles[key] = open(buckets_dir / f"{split}-{kind}-{shard}", "ab")  # noqa: SIM115
        h = handles[key]
        h.write(_HEADER.pack(pos, len(rec)))
        h.write(rec)


def _read_bucket(path: Path) -> list[tuple[int, bytes]]:
    data = path.read_bytes()
    out, offset = [], 0
    while offset < len(data):
        pos, n = _HEADER.unpack_from(data, offset)
        offset += _HEADER.size
        out.append((pos, data[offset : offset + n]))
        offset += n
    return out
