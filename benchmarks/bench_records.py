"""Benchmark: TFRecord shard writing and the training input pipeline at 224 px.

Prints writing MB/s and frames/s, then decoded, batched frames/s of the training pipeline
(frames and sequences), and peak RSS for few vs many shards. Synthetic crops are JPEGs of a
real face photo (scikit-image's astronaut) with per-frame noise, so their size and decode
cost are realistic (about 20 KB at 224 px, quality 95).

    python benchmarks/bench_records.py [--frames 6000] [--size 224] [--batches 40]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.quiet import quiet_native  # noqa: E402

quiet_native()  # before TensorFlow / MediaPipe load

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import skimage.data  # noqa: E402

from pipeline.config import AugmentConfig, BalanceConfig, ShardConfig  # noqa: E402
from pipeline.contracts.schema import LABELS, MANIFEST  # noqa: E402
from pipeline.records.reader import make_dataset, shard_files  # noqa: E402
from pipeline.records.writer import load_videos, write_records  # noqa: E402


def build_interim(root: Path, n_frames: int, size: int, n_videos: int = 6):
    rng = np.random.default_rng(0)
    face = cv2.resize(skimage.data.astronaut()[40:260, 140:320], (size, size))
    crops = root / "crops"
    crops.mkdir(parents=True)
    per = n_frames // n_videos
    man = {k: [] for k in MANIFEST.names}
    lab = {k: [] for k in LABELS.names}
    for v in range(n_videos):
        vid = f"v{v}"
        split = "train"
        for k, x in zip(
            MANIFEST.names, [vid, "bench", split, "", 30.0, per, 640, 360, ""], strict=True
        ):
            man[k].append(x)
        images = []
        for _ in range(per):
            noisy = np.clip(face + rng.normal(0, 6, face.shape), 0, 255).astype(np.uint8)
            images.append(cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes())
        t = np.arange(per) / 30
        lab["video_id"] += [vid] * per
        lab["frame"] += list(range(per))
        lab["valence"] += np.clip(0.3 + 0.6 * np.sin(t + v), -1, 1).tolist()
        lab["arousal"] += np.clip(0.2 + 0.6 * np.sin(0.7 * t + 2 * v), -1, 1).tolist()
        pq.write_table(
            pa.table(
                {
                    "frame": pa.array(np.arange(per, dtype=np.int32)),
                    "image": pa.array(images, pa.binary()),
                    "landmarks": pa.array(rng.random((per, 136)).tolist(), pa.list_(pa.float32())),
                    "valid": pa.array(np.ones(per, bool)),
                }
            ),
            crops / f"{vid}.parquet",
        )
    return pa.table(man, schema=MANIFEST), pa.table(lab, schema=LABELS), crops


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=6000)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=80)
    ap.add_argument("--seq-len", type=int, default=100)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        manifest, labels, crops = build_interim(tmp, args.frames, args.size)
        videos = load_videos(manifest, labels, crops)
        jpeg_mb = sum(p.stat().st_size for p in crops.glob("*.parquet")) / 2**20
        print(
            f"input: {args.frames} crops at {args.size} px, {jpeg_mb:.0f} MB of JPEG "
            f"({jpeg_mb * 2**20 / args.frames / 1024:.1f} KB/frame)"
        )

        for n_jobs in (1, 2):
            out = tmp / f"records{n_jobs}"
            cfg = ShardConfig(seq_len=args.seq_len, train_stride=args.seq_len, shard_mb=32)
            t0 = time.perf_counter()
            summary = write_records(videos, out, cfg, BalanceConfig(method="none"), n_jobs)
            dt = time.perf_counter() - t0
            summary.write(out)
            mb = sum(p.stat().st_size for p in out.rglob("*.tfrecord")) / 2**20
            n_shards = len(list(out.rglob("*.tfrecord")))
            print(
                f"write n_jobs={n_jobs}: {dt:.1f} s, {mb / dt:.0f} MB/s, "
                f"{2 * args.frames / dt:.0f} frames/s (frame + sequence records), "
                f"{mb:.0f} MB in {n_shards} shards"
            )

        out = tmp / "records2"
        aug = AugmentConfig()
        for kind, bs in (
            ("frames", args.batch_size),
            ("sequences", max(1, args.batch_size // args.seq_len) or 1),
        ):
            files = shard_files(out, "train", kind)
            for augment in (None, aug):
                ds = make_dataset(
                    files,
                    kind,
                    seq_len=args.seq_len,
                    batch_size=bs,
                    training=True,
                    augment=augment,
                )
                ds = ds.repeat()
                it = iter(ds)
                for _ in range(3):  # warm-up: autotune, file open
                    next(it)
                t0 = time.perf_counter()
                n = 0
                for _ in range(args.batches):
                    x, _, _ = next(it)
                    n += int(np.prod(x["image"].shape[:-3]))
                dt = time.perf_counter() - t0
                print(
                    f"read {kind:9s} augment={'on ' if augment else 'off'}: "
                    f"{n / dt:7.0f} frames/s (batch {bs}, {args.size} px)"
                )

        # Memory does not grow with the number of shards: same data, 1 MB vs 32 MB shards.
        for mb in (32, 1):
            out = tmp / f"mem{mb}"
            cfg = ShardConfig(seq_len=args.seq_len, shard_mb=mb)
            write_records(videos, out, cfg, BalanceConfig(method="none"))
            print(
                f"shard_mb={mb}: {len(list(out.rglob('*.tfrecord')))} shards, "
                f"peak RSS so far {peak_rss_mb():.0f} MB"
            )


if __name__ == "__main__":
    main()
