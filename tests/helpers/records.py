"""Interim tables (manifest, labels, per-video crops) built in memory for the records tests."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.config import BalanceConfig, ShardConfig
from pipeline.contracts.points68 import N_VALUES
from pipeline.contracts.schema import LABELS, MANIFEST
from pipeline.records.writer import load_videos, write_records

CROP = 24


def jpeg(seed: int, crop: int = CROP) -> bytes:
    img = np.random.default_rng(seed).integers(0, 256, (crop, crop, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


def make_interim(root: Path, videos: dict[str, tuple[str, int]], seed: int = 0,
                 crop: int = CROP):  # fmt: skip
    """videos: id -> (split, n_frames). Labels skewed positive; some frames with no face,
    some with no label; ``crop`` px JPEG crops. Returns (manifest, labels, crops_dir)."""
    rng = np.random.default_rng(seed)
    crops = root / "crops"
    crops.mkdir(parents=True)
    man, lab = {k: [] for k in MANIFEST.names}, {k: [] for k in LABELS.names}
    for vi, (vid, (split, n)) in enumerate(videos.items()):
        for k, v in zip(
            MANIFEST.names, [vid, "affwild", split, f"{vid}.mp4", 25.0, n, 64, 48, ""], strict=True
        ):
            man[k].append(v)
        # Smooth, positively skewed traces that visit all four quadrants.
        t = np.arange(n) / 25.0
        val = np.clip(0.25 + 0.7 * np.sin(2.1 * t + vi), -1, 1).astype(np.float32)
        aro = np.clip(0.15 + 0.7 * np.sin(1.3 * t + 2 * vi), -1, 1).astype(np.float32)
        val[rng.random(n) < 0.05] = np.nan
        lab["video_id"] += [vid] * n
        lab["frame"] += list(range(n))
        lab["valence"] += val.tolist()
        lab["arousal"] += aro.tolist()
        valid = rng.random(n) > 0.1
        landmarks = rng.random((n, N_VALUES), dtype=np.float32)
        table = pa.table(
            {
                "frame": pa.array(np.arange(n, dtype=np.int32)),
                "image": pa.array(
                    [jpeg(1000 * vi + f, crop) if ok else b"" for f, ok in enumerate(valid)],
                    pa.binary(),
                ),
                "landmarks": pa.array(
                    [lm.tolist() if ok else None for lm, ok in zip(landmarks, valid, strict=True)],
                    # Parquet cannot round-trip null entries of a
                    # fixed-size list (pyarrow 21-25): variable-size lists.
                    pa.list_(pa.float32()),
                ),
                "valid": pa.array(valid),
            }
        )
        pq.write_table(table, crops / f"{vid}.parquet")
    return pa.table(man, schema=MANIFEST), pa.table(lab, schema=LABELS), crops


VIDEOS = {
    "tr0": ("train", 70),
    "tr1": ("train", 55),
    "tr2": ("train", 90),
    "tr3": ("train", 33),
    "va0": ("val", 41),
    "te0": ("test", 37),
    "te1": ("test", 12),
}


def tiny_records(root: Path, videos: dict[str, tuple[str, int]], seq_len: int,
                 train_stride: int = 4) -> Path:  # fmt: skip
    """:func:`make_interim` tables for ``videos`` under ``root/interim``, sharded (1 MB shards,
    default balancing) into ``root/records``; returns the records folder."""
    manifest, labels, crops = make_interim(root / "interim", videos)
    out = root / "records"
    cfg = ShardConfig(seq_len=seq_len, train_stride=train_stride, shard_mb=1)
    write_records(load_videos(manifest, labels, crops), out, cfg, BalanceConfig()).write(out)
    return out


def corrupt_record(path, index: int) -> None:
    """Flip one byte inside record ``index``'s payload (its framing stays whole, its
    checksum no longer matches)."""
    data = bytearray(path.read_bytes())
    offset = 0
    for _ in range(index):
        (length,) = struct.unpack("<Q", data[offset : offset + 8])
        offset += 12 + length + 4
    (length,) = struct.unpack("<Q", data[offset : offset + 8])
    data[offset + 12 + length // 2] ^= 0xFF
    path.write_bytes(bytes(data))
