"""The per-video face stages on Ray (``parallel.engine: ray``): past one machine.

An :class:`pipeline.parallel.Engine`, registered as ``ray``. One Ray actor per worker
(``parallel.n_jobs`` of them, one CPU each) imports the stage's code and MediaPipe once and
then takes whole videos, one at a time, through the very same ``FaceStep.run_job`` as the
local pool, so the tables are the same bytes.
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

**Fault injection** (the tests kill a worker mid-video this way, not by watching processes):
with ``AFFWILD_FAULT_KILL_VIDEO=<video_id>:<N>`` and ``AFFWILD_FAULT_MARKER=<path>`` in the
workers' environment, the worker running that video creates the marker after ``N`` frames and
kills its own process (SIGKILL); a marker that exists already (the retry) disarms it.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from typing import Any

from pipeline.errors import InputError
from pipeline.parallel import Engine, EngineRun, Job, Work
from pipeline.registry import ENGINES

log = logging.getLogger(__name__)

# Ray's own retry of a video whose worker died: restart the actor and run the video again.
RETRIES = 1
KILL_VIDEO_ENV = "AFFWILD_FAULT_KILL_VIDEO"
MARKER_ENV = "AFFWILD_FAULT_MARKER"


class FaceWorker:
    """One worker: a process with the stage code, OpenCV and MediaPipe loaded, taking videos."""

    def __init__(self, work: Work, cwd: str):
        from pipeline.parallel import init_worker

        # Unpickling ``work`` imported its module once: MediaPipe, the stage's model files.
        os.chdir(cwd)  # the driver's: manifest paths are relative to the repository
        init_worker()
        self.work = work

    def run(self, job: Job, cfg) -> Any:
        return self.work.run_job(job, cfg, _fault(job))

    def pid(self) -> int:
        return os.getpid()


def _fault(job: Job) -> Callable[[int], None] | None:
    """The progress callback that kills this worker mid-video, once (see the module's
    docstring); None unless asked for this job's video."""
    video, _, at = os.environ.get(KILL_VIDEO_ENV, "").rpartition(":")
    marker = os.environ.get(MARKER_ENV)
    if not video or video != getattr(job, "video_id", None) or not marker:
        return None
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        if done < int(at):
            return
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return  # killed once already: this is the retry
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)

    return progress


def _import_ray():
    try:
        import ray
    except ImportError:
        raise InputError(
            'params.yaml parallel.engine: ray needs Ray: pip install -e ".[ray]" '
            "(or set parallel.engine: local)"
        ) from None
    return ray


class RayEngine(Engine):
    uses_address = True

    def run(self, work, jobs, cfg, n_jobs, address, bar) -> EngineRun:
        return EngineRun(*run_on_ray(work, jobs, cfg, n_jobs, address, bar))


def run_on_ray(
    work: Work, todo: list, cfg, n_workers: int, address: str | None, bar
) -> tuple[list, str]:
    """Run ``work`` on every job on ``n_workers`` Ray actors: the reports in ``todo`` order,
    and the address of the Ray cluster (its GCS) that ran them."""
    stage = work.name
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
        idle = [actor_cls.remote(work, cwd) for _ in range(max(1, min(n_workers, len(todo))))]
        actors = list(idle)
        queue = list(reversed(todo))
        running: dict = {}  # object ref -> (job, actor)
        reports: dict[str, Any] = {}
        while queue or running:
            while queue and idle:
                job, actor = queue.pop(), idle.pop()
                running[actor.run.remote(job, cfg)] = (job, actor)
            done, _ = ray.wait(list(running), num_returns=1)
            job, actor = running.pop(done[0])
            try:
                reports[job.video_id] = ray.get(done[0])
            except ray.exceptions.RayActorError as exc:
                why = f"Ray worker died on every try ({RETRIES + 1}): {type(exc).__name__}"
                log.error("%s failed: %s: %s", stage, job.video_id, why)
                reports[job.video_id] = work.failed_report(job, why)
                ray.kill(actor)  # out of restarts: replace it
                actor = actor_cls.remote(work, cwd)
                actors.append(actor)
            except ray.exceptions.RayError as exc:  # e.g. the job could not be shipped
                reports[job.video_id] = work.failed_report(job, f"{type(exc).__name__}: {exc}")
            idle.append(actor)
            bar.update(job.n_frames)
        return [reports[j.video_id] for j in todo], cluster
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()


ENGINES.register(
    "ray",
    RayEngine(),
    'the face stages as Ray tasks, one actor per worker (pip install -e ".[ray]"); '
    "parallel.address: null (private Ray here) | auto (join `ray start`) | ray://head:10001",
)
