"""Running a face stage over every video of the manifest: in parallel, with progress, summarised.

Videos are independent. ``parallel.engine: local`` sends them to ``parallel.n_jobs`` worker
processes of the project's one pool (:mod:`pipeline.parallel`: ``spawn``, so each worker owns its
own MediaPipe graphs and nothing is shared; no more workers than the cores this process may use);
with ``n_jobs == 1`` (or one usable core) they run in this process, one after another on the same
MediaPipe graphs (:func:`pipeline.face.mediapipe_models.reusable`). ``engine: ray`` sends them to
Ray actors instead (:mod:`pipeline.face.ray_engine`); the tables are the same bytes either way. A
worker that dies (a crash inside a native library) does not stop the others: the unfinished videos
are tried once more (local: the pool is restarted; ray: the actor is restarted by Ray); a video
that fails again gets an all-"no face" table and is listed in the summary with the reason.

A tqdm bar (frames, frames/s, ETA) is shown on a terminal only (``disable=None``).
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pyarrow.parquet as pq
from tqdm import tqdm

from pipeline.artifacts import FaceStageSummary, VideoReport
from pipeline.datasets.schema import MANIFEST
from pipeline.errors import InputError
from pipeline.face.jobs import Progress, VideoJob
from pipeline.io import atomic_dir, write_timings
from pipeline.parallel import CONTEXT, process_pool, worker_count

log = logging.getLogger(__name__)

_COUNTER = None

# stage -> (module, its per-video function, the function writing an all-"no face" table)
STAGES = {
    "detect": ("pipeline.face.detect", "detect_video", "empty_boxes"),
    "landmarks": ("pipeline.face.landmarks", "landmarks_video", "empty_landmarks"),
    "crop": ("pipeline.face.crop", "crop_video", "empty_crops"),
}


def _stage_functions(stage: str):
    module, fn, empty = STAGES[stage]
    mod = importlib.import_module(module)
    return getattr(mod, fn), getattr(mod, empty)


def run_job(stage: str, job: VideoJob, cfg, progress: Progress | None = None) -> VideoReport:
    """Run one stage on one video; never raises: a failure writes "no face" rows and is reported."""
    fn, empty = _stage_functions(stage)
    t0 = time.perf_counter()
    try:
        return fn(job, cfg, progress)
    except Exception as exc:  # noqa: BLE001 - one bad video must not stop the others
        msg = f"{job.video_id} ({job.source}): {type(exc).__name__}: {exc}"
        log.error("%s failed: %s", stage, msg)
        try:
            empty(job)
        except Exception as exc2:  # noqa: BLE001
            msg += f"; writing its empty table failed too: {exc2}"
        report = VideoReport(
            video_id=job.video_id, frames=job.n_frames, missing=job.n_frames, error=msg
        )
        return report.timed(time.perf_counter() - t0)


def _init_worker(counter) -> None:
    global _COUNTER
    _COUNTER = counter


def _worker(stage: str, job: VideoJob, cfg) -> VideoReport:
    pending = 0

    def progress(n: int) -> None:
        nonlocal pending
        pending += n
        if pending >= 16:
            with _COUNTER.get_lock():
                _COUNTER.value += pending
            pending = 0

    out = run_job(stage, job, cfg, progress)
    with _COUNTER.get_lock():
        _COUNTER.value += pending
    return out


def read_manifest(path: str | os.PathLike) -> list[dict]:
    """Manifest rows (checked against the manifest schema), in manifest order."""
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable manifest ({exc})") from None
    missing = [n for n in MANIFEST.names if n not in table.column_names]
    if missing:
        raise InputError(f"{path}: manifest lacks columns {missing} (expected {MANIFEST.names})")
    return table.select(MANIFEST.names).to_pylist()


def make_jobs(
    manifest: list[dict], out_dir: str | os.PathLike, boxes: str = "", landmarks: str = "",
    source_landmarks: str = "",
) -> list[VideoJob]:  # fmt: skip
    """One :class:`VideoJob` per manifest row; inputs / output named ``<video_id>.parquet``."""
    jobs = []
    for row in manifest:
        vid = row["video_id"]
        jobs.append(
            VideoJob(
                video_id=vid,
                source=row["source"],
                n_frames=int(row["n_frames"]),
                fps=float(row["fps"] or 25.0),
                subject=row["subject"] or "",
                out=str(Path(out_dir) / f"{vid}.parquet"),
                boxes=str(Path(boxes) / f"{vid}.parquet") if boxes else "",
                landmarks=str(Path(landmarks) / f"{vid}.parquet") if landmarks else "",
                source_landmarks=source_landmarks,
            )
        )
    return jobs


def _retarget(job: VideoJob, out_dir: Path) -> VideoJob:
    d = dict(job.__dict__)
    d["out"] = str(out_dir / Path(job.out).name)
    return VideoJob(**d)


def run_stage(
    stage: str,
    jobs: list[VideoJob],
    cfg,
    out_dir: str | os.PathLike,
    n_jobs: int = 1,
    engine: str = "local",
    address: str | None = None,
) -> FaceStageSummary:
    """Run ``stage`` on every job into ``out_dir`` (replaced atomically); return the summary.

    ``engine`` / ``address`` / ``n_jobs``: the ``parallel`` section of params.yaml."""
    if stage not in STAGES:
        raise ValueError(f"unknown face stage {stage!r}")
    ids = [j.video_id for j in jobs]
    dup = sorted({v for v in ids if ids.count(v) > 1})
    if dup:
        raise InputError(f"manifest: video_id not unique: {dup[:5]}")
    total = sum(j.n_frames for j in jobs)
    t0 = time.perf_counter()
    reports: list[VideoReport] = []
    cluster = None
    with (
        atomic_dir(out_dir) as tmp,
        tqdm(total=total, unit="frame", desc=stage, disable=None) as bar,
    ):
        todo = [_retarget(j, tmp) for j in jobs]
        if engine == "ray":  # Ray's CPUs need not be this machine's
            from pipeline.face.ray_engine import run_on_ray

            n_jobs = max(1, min(n_jobs, len(todo)))
            reports, cluster = run_on_ray(stage, todo, cfg, n_jobs, address, bar)
        elif (n_jobs := worker_count(n_jobs, len(todo))) == 1:  # at most the usable cores
            for job in todo:
                reports.append(run_job(stage, job, cfg, bar.update))
        else:
            reports = _run_parallel(stage, todo, cfg, n_jobs, bar)
    wall = time.perf_counter() - t0
    # ray_cluster: where the work ran (its GCS address)
    return FaceStageSummary.of(stage, reports, wall, n_jobs, engine, ray_cluster=cluster)


def _run_parallel(stage: str, todo: list[VideoJob], cfg, n_jobs: int, bar) -> list[VideoReport]:
    counter = CONTEXT.Value("q", 0)
    reports: dict[str, VideoReport] = {}
    attempts = dict.fromkeys((j.video_id for j in todo), 0)
    remaining = list(todo)
    while remaining:
        with process_pool(n_jobs, _init_worker, (counter,)) as pool:
            futures = {pool.submit(_worker, stage, job, cfg): job for job in remaining}
            for job in remaining:
                attempts[job.video_id] += 1
            broken = False
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                bar.update(counter.value - bar.n)
                for fut in done:
                    job = futures[fut]
                    try:
                        reports[job.video_id] = fut.result()
                    except BrokenProcessPool:
                        broken = True
                    except Exception as exc:  # noqa: BLE001 - pickling errors and the like
                        reports[job.video_id] = failed_report(
                            stage, job, f"{type(exc).__name__}: {exc}"
                        )
        remaining = [j for j in remaining if j.video_id not in reports]
        if broken:
            log.warning("%s: a worker process died; retrying %d videos", stage, len(remaining))
        for job in [j for j in remaining if attempts[j.video_id] >= 2]:
            reports[job.video_id] = failed_report(stage, job, "worker process died (twice)")
        remaining = [j for j in remaining if j.video_id not in reports]
    bar.update(bar.total - bar.n)
    return [reports[j.video_id] for j in todo]


def failed_report(stage: str, job: VideoJob, why: str) -> VideoReport:
    """The report of a video whose worker died: an all-"no face" table is written for it."""
    _, empty = _stage_functions(stage)
    try:
        empty(job)
    except Exception as exc:  # noqa: BLE001
        why += f"; writing its empty table failed too: {exc}"
    return VideoReport(
        video_id=job.video_id, frames=job.n_frames, missing=job.n_frames,
        error=f"{job.video_id} ({job.source}): {why}",
    )  # fmt: skip


def run_from_cli(
    stage: str, params_path: str, manifest: str, out: str, summary: str, **inputs: str
) -> FaceStageSummary:
    """What the stage modules do: params first, then every video, then the summary file."""
    import click

    from pipeline.config import load_params

    params = load_params(params_path)
    cfg = getattr(params, stage)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name, path in inputs.items():
        if name != "source_landmarks" and not Path(path).is_dir():
            raise InputError(f"{path}: no such folder (run the stage that writes it first)")
    jobs = make_jobs(read_manifest(manifest), out, **inputs)
    par = params.parallel
    result = run_stage(stage, jobs, cfg, out, par.n_jobs, par.engine, par.address)
    result.write_file(summary)
    write_timings(stage, result.timings())
    click.echo(
        f"{stage}: {result.videos} videos, {result.frames} frames, "
        f"{result.frames_with_face} with a face, {result.frames_missing} without; "
        f"{result.frames_per_s} frames/s ({result.frames_per_s_per_process} per process)"
    )
    for f in result.failed:
        click.echo(f"failed: {f.why}", err=True)
    if result.warnings:
        click.echo(f"{len(result.warnings)} warning(s): see {summary}", err=True)
    return result
