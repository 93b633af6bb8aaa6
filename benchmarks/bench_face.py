"""Speed and memory of the face stages (detect, landmarks, crop) on 640x360 video.

    python benchmarks/bench_face.py [--frames 600] [--size 224]

Builds its own test video from a real face photograph (the astronaut, moving and zooming
slowly over a plain background, with a second face, Grace Hopper, in part of it), then:

1. **one process, one core** (pinned with ``sched_setaffinity``): frames/s of each stage and
   of the three together, run exactly as the stages run a video (decode, MediaPipe, tables);
   plus a per-frame breakdown of the parts (decode, detector, mesh, 468->68, crop + JPEG).
2. **n_jobs = 1 vs 2**: 4 videos through the three stages in a pool of warmed-up worker
   processes (so process start-up and the imports are left out; they are reported
   separately).
3. **peak RSS** of a fresh process running the three stages on a short video and on one 4x
   longer: flat memory means the two are about equal.

    python benchmarks/bench_face.py --evaluate-demo .   # after `dvc repro crop` on the demo
    python benchmarks/bench_face.py --dvc 3000          # `dvc repro` of the 3 stages, one core

The last one times what a user waits for: ``dvc repro`` of detect, landmarks and crop on one
3,000-frame 480x360 video, everything (DVC, 3 process start-ups, imports) pinned to one core.

checks the followed subject and the landmarks against the demo set's ground truth
(``data/raw/demo/truth.parquet``: the subject's box per frame).

Numbers go to benchmarks/README.md ("Face stages"). This is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if "--one-core-child" in sys.argv:
    # Pin before anything starts a thread (OpenCV, TensorFlow, MediaPipe pools), so that
    # every thread of this process shares the one core.
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.quiet import quiet_native  # noqa: E402

quiet_native()

import cv2  # noqa: E402
import numpy as np  # noqa: E402

W, H = 640, 360


def make_video(
    path: Path, n_frames: int, fps: float = 30.0, size: tuple[int, int] = (W, H)
) -> Path:
    """640x360 mp4v: the astronaut's head moving and zooming; Hopper on screen in 30-60 %.
    Another ``size`` (w, h): the same picture scaled to it."""
    import matplotlib.cbook as cbook
    import skimage.data

    astro = skimage.data.astronaut()[20:300, 90:370]
    hopper = cv2.cvtColor(
        cv2.imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)), cv2.COLOR_BGR2RGB
    )[40:460, 90:510]
    small_h = cv2.resize(hopper, (110, 110), interpolation=cv2.INTER_AREA)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(n_frames):
        t = i / fps
        side = int(200 + 30 * np.sin(2 * np.pi * t / 7))
        x = int(180 + 60 * np.sin(2 * np.pi * t / 5))
        y = int(60 + 20 * np.sin(2 * np.pi * t / 3))
        f = np.full((H, W, 3), 110, np.uint8)
        f[y : y + side, x : x + side] = cv2.resize(
            astro, (side, side), interpolation=cv2.INTER_AREA
        )
        if 0.3 * n_frames <= i < 0.6 * n_frames:
            f[20:130, 500:610] = small_h
        if size != (W, H):
            f = cv2.resize(f, size, interpolation=cv2.INTER_AREA)
        vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    vw.release()
    return path


def _job(video: Path, out_dir: Path, n: int, stage: str, vid: str = "bench"):
    from pipeline.face.jobs import VideoJob

    return VideoJob(
        video_id=vid, source=str(video), n_frames=n, fps=30.0, subject="",
        out=str(out_dir / stage / f"{vid}.parquet"),
        inputs={"boxes": str(out_dir / "boxes" / f"{vid}.parquet"),
                "landmarks": str(out_dir / "landmarks" / f"{vid}.parquet")},
    )  # fmt: skip


def run_three(video: Path, out_dir: Path, n: int, crop_size: int, vid: str = "bench") -> dict:
    """The three stages on one video in this process; seconds per stage."""
    from pipeline.config import CropConfig, DetectConfig, LandmarksConfig
    from pipeline.face.crop import CROP
    from pipeline.face.detect import DETECT
    from pipeline.face.landmarks import LANDMARKS

    secs = {}
    for stage, fn, cfg in (
        ("boxes", DETECT.run, DetectConfig()),
        ("landmarks", LANDMARKS.run, LandmarksConfig()),
        ("crops", CROP.run, CropConfig(size=crop_size)),
    ):
        (out_dir / stage).mkdir(parents=True, exist_ok=True)
        t0, c0 = time.perf_counter(), time.process_time()
        rep = fn(_job(video, out_dir, n, stage, vid), cfg)
        secs[stage] = time.perf_counter() - t0
        secs[f"cpu:{stage}"] = time.process_time() - c0
        assert rep.frames == n and rep.error is None, rep
    return secs


def breakdown(video: Path, n: int, crop_size: int) -> dict:
    """Per-frame milliseconds of the parts, measured separately (the default landmarks params)."""
    from pipeline.config import LandmarksConfig
    from pipeline.face.crop import encode_jpeg, geometry_from_landmarks, warp
    from pipeline.face.ibug68 import mesh_to_68
    from pipeline.face.mediapipe_models import (
        FaceDetector,
        FaceMesh,
        roi_from_detection,
        roi_from_mesh,
    )
    from pipeline.video.reader import iter_frames

    frames = list(iter_frames(video, limit=min(n, 200)))
    t0 = time.perf_counter()
    for _ in iter_frames(video, limit=len(frames)):
        pass
    ms = {"decode (OpenCV, to RGB)": (time.perf_counter() - t0) / len(frames) * 1e3}
    lm = LandmarksConfig()
    mesh_name = "attention" if lm.refine else "plain"
    with FaceDetector() as det, FaceMesh(lm.refine) as mesh:
        t0 = time.perf_counter()
        dets = [det(f) for f in frames]
        ms["MediaPipe detector (short range)"] = (time.perf_counter() - t0) / len(frames) * 1e3
        roi = roi_from_detection(dets[0].boxes[0], dets[0].keypoints[0])
        meshes = []
        t0 = time.perf_counter()
        for f in frames:
            m, _ = mesh(f, roi)
            if m is not None:
                roi = roi_from_mesh(m)
                meshes.append(m)
        ms[f"MediaPipe {mesh_name} mesh (ROI given)"] = (
            (time.perf_counter() - t0) / len(frames) * 1e3
        )
    t0 = time.perf_counter()
    pts = [mesh_to_68(m, lm.mapping, lm.jaw) for m in meshes]
    ms[f"468 -> 68 mapping ({lm.mapping})"] = (time.perf_counter() - t0) / len(meshes) * 1e3
    t0 = time.perf_counter()
    for f, p in zip(frames, pts, strict=False):
        encode_jpeg(warp(f, geometry_from_landmarks(p, 0.25, False), crop_size), 95)
    ms[f"crop + resize to {crop_size} + JPEG q95"] = (time.perf_counter() - t0) / len(pts) * 1e3
    return {k: round(v, 3) for k, v in ms.items()}


def _warm(_):
    from pipeline.face.mediapipe_models import FaceDetector, FaceMesh  # noqa: F401
    from pipeline.parallel import init_worker

    init_worker()  # what the stages' workers do (one OpenCV thread each)

    return os.getpid()


def _pool_task(args):
    video, out_dir, n, crop_size, vid = args
    return run_three(Path(video), Path(out_dir), n, crop_size, vid)


def scaling(video: Path, n: int, crop_size: int, tmp: Path, n_videos: int = 4) -> dict:
    from pipeline.parallel import process_pool  # the pool the stages use (spawn, 1 cv2 thread)

    out = {}
    for n_jobs in (1, 2):
        t_start = time.perf_counter()
        with process_pool(n_jobs) as pool:
            list(pool.map(_warm, range(n_jobs)))
            warm = time.perf_counter() - t_start
            tasks = [
                (str(video), str(tmp / f"scale{n_jobs}"), n, crop_size, f"v{k}")
                for k in range(n_videos)
            ]
            t0 = time.perf_counter()
            list(pool.map(_pool_task, tasks))
            wall = time.perf_counter() - t0
        out[n_jobs] = {
            "frames_per_s": round(n * n_videos / wall, 1),
            "worker_start_s": round(warm, 1),
        }
    out["speed_up"] = round(out[2]["frames_per_s"] / out[1]["frames_per_s"], 2)
    return out


def one_core(video: Path, n: int, crop_size: int) -> None:
    """Section 1 (runs in a child pinned to one core from its first line)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run_three(video, tmp / "warm", min(n, 30), crop_size)  # imports, first-graph costs
        secs = run_three(video, tmp / "one", n, crop_size)
    wall = {k: v for k, v in secs.items() if not k.startswith("cpu:")}
    total, cpu_total = sum(wall.values()), sum(secs[f"cpu:{k}"] for k in wall)
    print(f"\n== one process, pinned to one core (cores allowed: {len(os.sched_getaffinity(0))}; "
          f"load average {os.getloadavg()[0]:.2f}) ==")  # fmt: skip
    print(f"  {'stage':<10} {'wall fr/s':>10} {'CPU fr/s':>10}   (CPU fr/s = frames / CPU seconds)")
    for stage, w in wall.items():
        print(f"  {stage:<10} {n / w:10.1f} {n / secs['cpu:' + stage]:10.1f}")
    print(f"  {'all three':<10} {n / total:10.1f} {n / cpu_total:10.1f}   "
          f"({cpu_total / n * 1e3:.2f} CPU ms/frame; CPU / wall {cpu_total / total:.2f})")  # fmt: skip
    print("\n== per-frame parts (ms, one core) ==")
    for k, v in breakdown(video, n, crop_size).items():
        print(f"  {k:<36} {v:6.3f}")


def rss_child(video: str, n: int, crop_size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_three(Path(video), Path(tmp), n, crop_size)
    print(json.dumps({"max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def peak_rss(video: Path, n: int, crop_size: int) -> float:
    r = subprocess.run(
        [sys.executable, __file__, "--rss-child", str(video), "--frames", str(n), "--size", str(crop_size)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(r.stdout.strip().splitlines()[-1])["max_rss_mb"]


def evaluate_demo(root: Path) -> None:
    """Boxes / landmarks of the face stages vs the demo's truth (subject box per frame)."""
    import pyarrow.parquet as pq

    from pipeline.face import tables

    truth = pq.read_table(root / "data/raw/demo/truth.parquet").to_pylist()
    by_video: dict[str, list[dict]] = {}
    for r in truth:
        by_video.setdefault(r["video_id"], []).append(r)

    def iou(a, b):
        iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
        return iw * ih / (a[2] * a[3] + b[2] * b[3] - iw * ih)

    tot = dict.fromkeys(
        ["visible", "found", "right_face", "other_face", "missed", "missed_occluded",
         "box_without_face", "distractor_frames", "landmarks", "landmarks_in_box"], 0,
    )  # fmt: skip
    for vid, rows in sorted(by_video.items()):
        b = tables.read_table(root / f"data/interim/boxes/{vid}.parquet", tables.BOXES)
        lm = tables.read_table(root / f"data/interim/landmarks/{vid}.parquet", tables.LANDMARKS)
        pts = lm["landmarks"].reshape(-1, 68, 2)
        for r in rows:
            f = r["frame"]
            ours = [float(b[k][f]) for k in ("x", "y", "w", "h")]
            tb = [r["x"], r["y"], r["w"], r["h"]]
            vis = bool(r["face_visible"]) and np.isfinite(tb).all()
            have = bool(np.isfinite(ours).all())
            tot["visible"] += vis
            tot["distractor_frames"] += bool(r["distractor_visible"])
            if vis and have:
                tot["found"] += 1
                o = iou(ours, tb)
                tot["right_face"] += o > 0.3
                tot["other_face"] += o <= 0.1
            elif vis:
                tot["missed"] += 1
                tot["missed_occluded"] += bool(r["occluded"])
            elif have:
                tot["box_without_face"] += 1
            if vis and np.isfinite(pts[f]).all():
                cx, cy = pts[f].mean(axis=0)
                tot["landmarks"] += 1
                tot["landmarks_in_box"] += (
                    tb[0] <= cx <= tb[0] + tb[2] and tb[1] <= cy <= tb[1] + tb[3]
                )
    print(json.dumps({k: int(v) for k, v in tot.items()}, indent=1))


def long_video_memory(minutes: float, crop_size: int) -> None:
    """Peak RSS of a fresh process running the 3 stages on a long video and on a 1-minute one."""
    tmp = Path(tempfile.mkdtemp(prefix="bench_face_long_"))
    fps, w, h = 10.0, 320, 240
    out = {}
    for m in (1.0, minutes):
        n = int(m * 60 * fps)
        video = make_video(tmp / f"v{m:g}.mp4", n, fps=fps, size=(w, h))
        t0 = time.perf_counter()
        rss = peak_rss(video, n, crop_size)
        out[m] = (n, rss, time.perf_counter() - t0)
        print(f"  {m:g} min ({n} frames {w}x{h}): peak RSS {rss:.0f} MB, "
              f"{out[m][2]:.0f} s for the 3 stages (load {os.getloadavg()[0]:.2f})", flush=True)  # fmt: skip
        video.unlink()
    print(f"  ratio long / short peak RSS: {out[minutes][1] / out[1.0][1]:.3f}")


def dvc_end_to_end(n_frames: int, w: int = 480, h: int = 360) -> None:
    """``dvc repro`` of detect -> landmarks -> crop on one video, every process on one core.

    The wall clock of the whole ``dvc repro`` (DVC itself, 3 Python processes starting and
    importing, MediaPipe graphs built, the video decoded 3 times, the tables written) over the
    frames: what a user waits for. The stages' commands are the project's own (dvc.yaml's
    detect / landmarks / crop); the manifest is written directly (no labels needed).
    """
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    from pipeline.artifacts import FaceStageSummary
    from pipeline.contracts.schema import MANIFEST
    from pipeline.io import TIMINGS_DIR

    repo = Path(__file__).resolve().parents[1]
    tmp = Path(tempfile.mkdtemp(prefix="bench_face_dvc_"))
    for d in ("pipeline", "stages"):
        shutil.copytree(repo / d, tmp / d, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp / "data" / "interim").mkdir(parents=True)
    video = make_video(tmp / "data" / "v.mp4", n_frames, size=(w, h))
    row = {"video_id": "v", "dataset": "bench", "split": "test", "source": str(video),
           "fps": 30.0, "n_frames": n_frames, "width": w, "height": h, "subject": ""}  # fmt: skip
    pq.write_table(
        pa.Table.from_pylist([row], schema=MANIFEST), tmp / "data/interim/manifest.parquet"
    )
    pq.write_table(pa.table({"video_id": pa.array([], pa.string())}),
                   tmp / "data/interim/source_landmarks.parquet")  # fmt: skip
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["parallel"]["n_jobs"] = 1
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    keep = {}
    for s in ("detect", "landmarks", "crop"):
        st = dict(stages[s])
        st["deps"] = [d for d in st["deps"] if "${" not in str(d)] + ["data/v.mp4"]
        keep[s] = st
    (tmp / "dvc.yaml").write_text(yaml.safe_dump({"stages": keep}, sort_keys=False))
    env = dict(os.environ, PYTHONPATH=str(tmp))
    subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=tmp, check=True, env=env)
    core = str(sorted(os.sched_getaffinity(0))[0])
    t0 = time.perf_counter()
    r = subprocess.run(["taskset", "-c", core, "dvc", "repro", "-q"], cwd=tmp, env=env,
                       capture_output=True, text=True)  # fmt: skip
    wall = time.perf_counter() - t0
    if r.returncode:
        sys.exit(r.stderr)
    native = [ln for ln in (r.stdout + r.stderr).splitlines()
              if ln.startswith(("W0000", "I0000", "INFO: Created TensorFlow"))]  # fmt: skip
    print(f"dvc repro detect+landmarks+crop, {n_frames} frames {w}x{h}, one core ({core}): "
          f"{wall:.1f} s wall = {n_frames / wall:.1f} frames/s (load {os.getloadavg()[0]:.2f}); "
          f"native log lines in its output: {len(native)}")  # fmt: skip
    for stage, s in (("detect", "boxes"), ("landmarks", "landmarks"), ("crop", "crops")):
        d = FaceStageSummary.read_file(tmp / f"data/interim/{s}_summary.json")
        run_s = json.loads((tmp / TIMINGS_DIR / f"{stage}.json").read_text())["wall_seconds"]
        print(f"  {s}: {d.frames_with_face} / {d.frames} with a face, "
              f"stage {run_s} s")  # fmt: skip
    shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--size", type=int, default=224, help="crop size")
    ap.add_argument("--rss-child", default="", help=argparse.SUPPRESS)
    ap.add_argument("--one-core-child", default="", help=argparse.SUPPRESS)
    ap.add_argument("--evaluate-demo", default="", metavar="REPO", help="see the docstring")
    ap.add_argument("--dvc", type=int, default=0, metavar="FRAMES",
                    help="time `dvc repro` of the 3 stages on a 480x360 video of FRAMES frames, one core")  # fmt: skip
    ap.add_argument("--long-minutes", type=float, default=0, metavar="M",
                    help="peak RSS of the 3 stages on an M-minute video (320x240, 10 fps) vs a 1-minute one")  # fmt: skip
    args = ap.parse_args()
    if args.long_minutes:
        return long_video_memory(args.long_minutes, args.size)
    if args.dvc:
        return dvc_end_to_end(args.dvc)
    if args.evaluate_demo:
        return evaluate_demo(Path(args.evaluate_demo))
    if args.rss_child:
        return rss_child(args.rss_child, args.frames, args.size)
    if args.one_core_child:
        return one_core(Path(args.one_core_child), args.frames, args.size)

    tmp = Path(tempfile.mkdtemp(prefix="bench_face_"))
    n = args.frames
    video = make_video(tmp / "v.mp4", n)
    long_video = make_video(tmp / "v4.mp4", 4 * n)
    print(f"video: {W}x{H}, {n} frames; crop {args.size}; cpu count {os.cpu_count()}")

    r = subprocess.run(
        [sys.executable, __file__, "--one-core-child", str(video), "--frames", str(n), "--size", str(args.size)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    print(r.stdout, end="")

    print("\n== all three stages, 4 videos, warmed worker pool ==")
    sc = scaling(video, n, args.size, tmp)
    for k in (1, 2):
        print(
            f"  n_jobs={k}: {sc[k]['frames_per_s']:7.1f} frames/s  (worker start-up {sc[k]['worker_start_s']} s, not counted)"
        )
    print(f"  speed-up with 2 processes: {sc['speed_up']}x")

    print("\n== peak RSS of a fresh process, the three stages ==")
    r1, r4 = peak_rss(video, n, args.size), peak_rss(long_video, 4 * n, args.size)
    print(f"  {n} frames: {r1:.0f} MB   {4 * n} frames: {r4:.0f} MB   (ratio {r4 / r1:.2f})")


if __name__ == "__main__":
    main()
