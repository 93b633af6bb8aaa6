"""Running a face step over every video of the manifest (the table driver): in parallel, with
progress, summarised; what ``python -m stages.face NAME`` does.

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

import dataclasses
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

import pyarrow.parquet as pq
from tqdm import tqdm

from pipeline import parallel, ray_engine  # noqa: F401 - register the built-in engines
from pipeline.artifacts import FaceStageSummary
from pipeline.contracts.schema import MANIFEST
from pipeline.errors import InputError
from pipeline.face.jobs import FaceStep, VideoJob
from pipeline.face.steps import table_schemas
from pipeline.io import atomic_dir, write_timings
from pipeline.registry import ENGINES, FACE_STAGES

log = logging.getLogger(__name__)


def face_stage(stage: FaceStep | str) -> FaceStep:
    """The step object itself, or the one registered under that name."""
    if isinstance(stage, FaceStep):
        return stage
    try:
        return FACE_STAGES.get(stage)
    except ValueError as exc:
        raise InputError(str(exc)) from None


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
    manifest: list[dict], out_dir: str | os.PathLike,
    tables: Mapping[str, str] | None = None, files: Mapping[str, str] | None = None,
) -> list[VideoJob]:  # fmt: skip
    """One :class:`VideoJob` per manifest row: output ``<out_dir>/<video_id>.parquet``; each of
    ``tables`` (name -> folder) gives the input ``<folder>/<video_id>.parquet``, each of
    ``files`` (name -> path) the same path to every video."""
    jobs = []
    written = table_schemas()
    schemas = {name: written[name] for name in (tables or {}) if name in written}
    for row in manifest:
        vid = row["video_id"]
        inputs = {
            name: str(Path(folder) / f"{vid}.parquet") for name, folder in (tables or {}).items()
        }
        jobs.append(
            VideoJob(
                video_id=vid,
                source=row["source"],
                n_frames=int(row["n_frames"]),
                fps=float(row["fps"] or 25.0),
                subject=row["subject"] or "",
                out=str(Path(out_dir) / f"{vid}.parquet"),
                inputs=inputs | dict(files or {}),
                schemas=schemas,
            )
        )
    return jobs


def _retarget(job: VideoJob, out_dir: Path) -> VideoJob:
    return dataclasses.replace(job, out=str(out_dir / Path(job.out).name))


def run_stage(
    stage: FaceStep | str,
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


def check_inputs(step: FaceStep, inputs: Mapping[str, str]) -> tuple[dict, dict]:
    """``inputs`` (name -> path, from the command line) split into the step's tables (folders,
    every one needed) and its files (optional); an unknown name is an error."""
    unknown = sorted(set(inputs) - set(step.reads) - set(step.files))
    if unknown:
        allowed = ", ".join([*step.reads, *step.files]) or "none"
        raise InputError(f"{step.name}: unknown input {unknown} (it reads: {allowed})")
    tables = {}
    for name in step.reads:
        path = inputs.get(name)
        if not path:
            raise InputError(f"{step.name}: needs the {name!r} tables (--input {name}=FOLDER)")
        if not Path(path).is_dir():
            raise InputError(f"{path}: no such folder (run the stage that writes it first)")
        tables[name] = path
    return tables, {name: inputs.get(name, "") for name in step.files}


def run_from_cli(
    name: str, params_path: str, manifest: str, out: str, summary: str,
    inputs: Mapping[str, str] | None = None,
) -> FaceStageSummary:  # fmt: skip
    """What ``python -m stages.face NAME`` does: params first, then every video, then the
    summary file."""
    import click

    from pipeline.config import load_params

    params = load_params(params_path)
    stage = face_stage(name)
    cfg = stage.section(params)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    tables, files = check_inputs(stage, inputs or {})
    jobs = make_jobs(read_manifest(manifest), out, tables, files)
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
