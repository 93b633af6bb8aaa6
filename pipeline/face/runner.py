"""Running a face stage over every video of the manifest: in parallel, with progress, summarised.

Videos are independent; ``parallel.engine`` picks the :class:`pipeline.parallel.Engine` that
runs them. ``local`` sends them to ``parallel.n_jobs`` worker processes of the project's one
pool (:mod:`pipeline.parallel`: ``spawn``, so each worker owns its own MediaPipe graphs and
nothing is shared; no more workers than the cores this process may use); with ``n_jobs == 1``
(or one usable core) they run in this process, one after another on the same MediaPipe graphs
(:func:`pipeline.face.mediapipe_models.reusable`). ``ray`` sends them to Ray actors instead
(:mod:`pipeline.ray_engine`); the tables are the same bytes either way. A worker that dies (a
crash inside a native library) does not stop the others: the unfinished videos are tried once
more (local: the pool is restarted; ray: the actor is restarted by Ray); a video that fails
again gets an all-"no face" table and is listed in the summary with the reason.

A tqdm bar (frames, frames/s, ETA) is shown on a terminal only (``disable=None``).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pyarrow.parquet as pq
from tqdm import tqdm

from pipeline import parallel, ray_engine  # noqa: F401 - register the built-in engines
from pipeline.artifacts import FaceStageSummary
from pipeline.contracts.schema import MANIFEST
from pipeline.errors import InputError
from pipeline.face.jobs import FaceStage, VideoJob
from pipeline.io import atomic_dir, write_timings
from pipeline.registry import ENGINES, FACE_STAGES

log = logging.getLogger(__name__)


def face_stage(stage: FaceStage | str) -> FaceStage:
    """The stage object itself, or the one registered under that name."""
    return stage if isinstance(stage, FaceStage) else FACE_STAGES.get(stage)


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
    stage: FaceStage | str,
    jobs: list[VideoJob],
    cfg,
    out_dir: str | os.PathLike,
    n_jobs: int = 1,
    engine: str = "local",
    address: str | None = None,
) -> FaceStageSummary:
    """Run ``stage`` on every job into ``out_dir`` (replaced atomically); return the summary.

    ``engine`` (a name of :data:`pipeline.registry.ENGINES`) / ``address`` / ``n_jobs``: the
    ``parallel`` section of params.yaml."""
    stage = face_stage(stage)
    runner = ENGINES.get(engine)
    ids = [j.video_id for j in jobs]
    dup = sorted({v for v in ids if ids.count(v) > 1})
    if dup:
        raise InputError(f"manifest: video_id not unique: {dup[:5]}")
    total = sum(j.n_frames for j in jobs)
    t0 = time.perf_counter()
    with (
        atomic_dir(out_dir) as tmp,
        tqdm(total=total, unit="frame", desc=stage.name, disable=None) as bar,
    ):
        todo = [_retarget(j, tmp) for j in jobs]
        n_jobs = max(1, min(n_jobs, len(todo)))
        done = runner.run(stage, todo, cfg, n_jobs, address, bar)
    wall = time.perf_counter() - t0
    # ray_cluster: where the work ran (e.g. a Ray cluster's GCS address)
    return FaceStageSummary.of(
        stage.name, done.reports, wall, done.workers or n_jobs, engine, ray_cluster=done.where
    )


def run_from_cli(
    stage: FaceStage, params_path: str, manifest: str, out: str, summary: str, **inputs: str
) -> FaceStageSummary:
    """What the stage modules do: params first, then every video, then the summary file."""
    import click

    from pipeline.config import load_params

    params = load_params(params_path)
    cfg = stage.section(params)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name, path in inputs.items():
        if name != "source_landmarks" and not Path(path).is_dir():
            raise InputError(f"{path}: no such folder (run the stage that writes it first)")
    jobs = make_jobs(read_manifest(manifest), out, **inputs)
    par = params.parallel
    result = run_stage(stage, jobs, cfg, out, par.n_jobs, par.engine, par.address)
    result.write_file(summary)
    write_timings(stage.name, result.timings())
    click.echo(
        f"{stage.name}: {result.videos} videos, {result.frames} frames, "
        f"{result.frames_with_face} with a face, {result.frames_missing} without; "
        f"{result.frames_per_s} frames/s ({result.frames_per_s_per_process} per process)"
    )
    for f in result.failed:
        click.echo(f"failed: {f.why}", err=True)
    if result.warnings:
        click.echo(f"{len(result.warnings)} warning(s): see {summary}", err=True)
    return result
