"""The per-video face stages on Ray (``parallel.engine: ray``): past one machine.

One Ray actor per worker (``parallel.n_jobs`` of them, one CPU each) imports the stage's
code and MediaPipe once and then takes whole videos, one at a time, through the very same
:func:`pipeline.face.runner.run_job` as the local pool, so the tables are the same bytes.
Each video's table is written by the actor to the stage's output folder, which therefore
must be on a file system every node sees at the same path (as the videos must be), e.g. NFS;
actors work in the driver's working directory (the repository).

- ``parallel.address: null`` starts a private Ray on this machine with ``n_jobs`` CPUs (and
  stops it afterwards); ``auto`` joins the cluster this machine belongs to (``ray start``);
  ``ray://head:10001`` connects through Ray Client. A Ray already initialised by the caller
  is used as it is.
- A video that fails is reported like with the local pool (``run_job`` never raises).
- A worker that dies mid-video (killed, out of memory, a crash in native code) is restarted
  by Ray and the video is tried again (``max_restarts`` / ``max_task_retries``); a video
  whose worker dies on every try gets an all-"no face" table and is listed as failed.
"""

from __future__ import annotations

import logging
import os

from pipeline.artifacts import VideoReport
from pipeline.errors import InputError
from pipeline.face.jobs import VideoJob

log = logging.getLogger(__name__)

# Ray's own retry of a video whose worker died: restart the actor and run the video again.
RETRIES = 1


class FaceWorker:
    """One worker: a process with the stage code, OpenCV and MediaPipe loaded, taking videos."""

    def __init__(self, stage: str, cwd: str):
        from pipeline.face.runner import _stage_functions
        from pipeline.parallel import init_worker

        os.chdir(cwd)  # the driver's: manifest paths are relative to the repository
        init_worker()
        _stage_functions(stage)  # import once: MediaPipe, the stage's model files

    def run(self, stage: str, job: VideoJob, cfg) -> VideoReport:
        from pipeline.face.runner import run_job

        return run_job(stage, job, cfg)

    def pid(self) -> int:
        return os.getpid()


def _import_ray():
    try:
        import ray
    except ImportError:
        raise InputError(
            'params.yaml parallel.engine: ray needs Ray: pip install -e ".[ray]" '
            "(or set parallel.engine: local)"
        ) from None
    return ray


def run_on_ray(
    stage: str, todo: list[VideoJob], cfg, n_workers: int, address: str | None, bar
) -> tuple[list[VideoReport], str]:
    """Run ``stage`` on every job on ``n_workers`` Ray actors: the reports in ``todo`` order,
    and the address of the Ray cluster (its GCS) that ran them."""
    from pipeline.face.runner import failed_report

    ray = _import_ray()
    started = False
    if not ray.is_initialized():
        if address is None:
            ray.init(num_cpus=n_workers, include_dashboard=False, log_to_driver=True)
        else:
            ray.init(address=address, log_to_driver=True)
        started = True
    cluster = ray.get_runtime_context().gcs_address
    actor_cls = ray.remote(num_cpus=1, max_restarts=RETRIES, max_task_retries=RETRIES)(FaceWorker)
    actors: list = []
    try:
        cwd = os.getcwd()
        idle = [actor_cls.remote(stage, cwd) for _ in range(max(1, min(n_workers, len(todo))))]
        actors = list(idle)
        queue = list(reversed(todo))
        running: dict = {}  # object ref -> (job, actor)
        reports: dict[str, VideoReport] = {}
        while queue or running:
            while queue and idle:
                job, actor = queue.pop(), idle.pop()
                running[actor.run.remote(stage, job, cfg)] = (job, actor)
            done, _ = ray.wait(list(running), num_returns=1)
            job, actor = running.pop(done[0])
            try:
                reports[job.video_id] = ray.get(done[0])
            except ray.exceptions.RayActorError as exc:
                why = f"Ray worker died on every try ({RETRIES + 1}): {type(exc).__name__}"
                log.error("%s failed: %s: %s", stage, job.video_id, why)
                reports[job.video_id] = failed_report(stage, job, why)
                ray.kill(actor)  # out of restarts: replace it
                actor = actor_cls.remote(stage, cwd)
                actors.append(actor)
            except ray.exceptions.RayError as exc:  # e.g. the job could not be shipped
                reports[job.video_id] = failed_report(stage, job, f"{type(exc).__name__}: {exc}")
            idle.append(actor)
            bar.update(job.n_frames)
        return [reports[j.video_id] for j in todo], cluster
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()
