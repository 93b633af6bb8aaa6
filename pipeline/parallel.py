"""The one local pool: every step that fans out over videos or shards on this machine uses it.

- processes are started with ``spawn`` everywhere (the parent may have MediaPipe / TensorFlow
  loaded, with their threads: forking it is unsafe), and each worker runs :func:`init_worker`
  first (quiet native logging, one OpenCV thread, so ``n_jobs`` workers use ``n_jobs`` cores);
- :func:`map_ordered` returns results in input order whatever the number of workers, so
  outputs never depend on ``n_jobs`` (``parallel.n_jobs`` in params.yaml);
- ``n_jobs == 1`` (or a single item) runs in this process, with no pool at all;
- there are never more worker processes than cores this process may run on
  (:func:`worker_count`: under ``taskset -c 1`` or a one-CPU container, ``n_jobs: 2`` runs in
  this process): on one core a pool only adds start-up (each spawned worker imports the
  stage's modules again, ~0.5 s of CPU) and no speed.

The per-video face stages run on an :class:`Engine`, chosen by ``parallel.engine`` among
:data:`pipeline.registry.ENGINES`: :class:`LocalEngine` (this pool) or Ray
(:mod:`pipeline.ray_engine`); everything else always uses this module's pool.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from tqdm import tqdm

from pipeline.registry import ENGINES

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

START_METHOD = "spawn"
CONTEXT = mp.get_context(START_METHOD)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity; all of them where unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


def worker_count(n_jobs: int, n_items: int) -> int:
    """Worker processes for ``n_items`` items: ``n_jobs``, but no more than the items and the
    usable cores (:func:`usable_cores`); 1 means: in this process, no pool."""
    return max(1, min(n_jobs, n_items, usable_cores()))


def init_worker(initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> None:
    """What every worker process does first (then ``initializer(*initargs)``, if any)."""
    from pipeline.quiet import quiet_native

    quiet_native()
    import cv2

    cv2.setNumThreads(1)  # one core per worker: n_jobs workers use n_jobs cores
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if initializer is not None:
        initializer(*initargs)


def process_pool(
    n_jobs: int, initializer: Callable[..., None] | None = None, initargs: tuple = ()
) -> ProcessPoolExecutor:
    """A pool of ``n_jobs`` spawned worker processes, each set up by :func:`init_worker`."""
    return ProcessPoolExecutor(
        n_jobs, mp_context=CONTEXT, initializer=init_worker, initargs=(initializer, initargs)
    )


def map_ordered(
    fn: Callable[[T], R],
    items: Sequence[T],
    n_jobs: int,
    *,
    threads: bool = False,
    cost: Callable[[T], float] | None = None,
    progress: dict[str, Any] | None = None,
) -> list[R]:
    """``[fn(x) for x in items]``, on up to ``n_jobs`` workers, results in input order.

    ``threads``: a thread pool instead of processes (for work that releases the GIL, e.g.
    TFRecord writing; ``fn`` need not be picklable then); only processes are capped at the
    usable cores. ``cost``: submit the most costly
    items first, for a better balance. ``progress``: tqdm keyword arguments for a bar.
    An exception in ``fn`` propagates (after the pool has shut down).
    """
    items = list(items)
    bar = tqdm(total=len(items), **progress) if progress is not None else None
    try:
        n = max(1, min(n_jobs, len(items))) if threads else worker_count(n_jobs, len(items))
        if n == 1:
            return [_tick(fn(x), bar) for x in items]
        order: Iterable[int] = range(len(items))
        if cost is not None:
            order = sorted(order, key=lambda i: -cost(items[i]))
        pool: Executor = ThreadPoolExecutor(n) if threads else process_pool(n)
        with pool:
            futures = {i: pool.submit(fn, items[i]) for i in order}
            return [_tick(futures[i].result(), bar) for i in range(len(items))]
    finally:
        if bar is not None:
            bar.close()


def _tick(result: R, bar: tqdm | None) -> R:
    if bar is not None:
        bar.update(1)
    return result


# -- engines: where the per-video work of a face stage runs -----------------------------


class Job(Protocol):
    """One unit of work (a video): its id and its size in progress units (frames)."""

    video_id: str
    n_frames: int


class Work(Protocol):
    """What an engine runs over the jobs (a face step, :class:`pipeline.face.jobs.FaceStep`).

    It must be picklable (it travels to worker processes / Ray actors), and neither method
    raises: a failure becomes a report that says why."""

    name: str

    def run_job(self, job: Any, cfg: Any, progress: Callable[[int], None] | None = None) -> Any:
        """Process one job (``progress(n)``: n more units done); the job's report."""

    def failed_report(self, job: Any, why: str) -> Any:
        """The report of a job whose worker died (after writing its empty output)."""


@dataclass
class EngineRun:
    reports: list  # one per job, in job order
    where: str | None = None  # where the work ran, if not this machine (e.g. a Ray cluster)
    workers: int | None = None  # the workers used, where fewer than asked for (usable cores)


class Engine(ABC):
    """Runs ``work`` on every job, on up to ``n_jobs`` workers, updating the tqdm ``bar`` (in
    job size units). Register one with ``ENGINES.register(name, engine, help)``."""

    # Whether parallel.address (a cluster to join) means anything to this engine.
    uses_address: ClassVar[bool] = False

    @abstractmethod
    def run(
        self, work: Work, jobs: list, cfg: Any, n_jobs: int, address: str | None, bar: tqdm
    ) -> EngineRun: ...


_COUNTER = None


def _init_counter(counter) -> None:
    global _COUNTER
    _COUNTER = counter


def _counted(work: Work, job: Job, cfg: Any) -> Any:
    """In a worker: run one job, adding its progress to the shared counter (in batches)."""
    pending = 0

    def progress(n: int) -> None:
        nonlocal pending
        pending += n
        if pending >= 16:
            with _COUNTER.get_lock():
                _COUNTER.value += pending
            pending = 0

    out = work.run_job(job, cfg, progress)
    with _COUNTER.get_lock():
        _COUNTER.value += pending
    return out


class LocalEngine(Engine):
    """This machine: ``n_jobs`` spawned worker processes (in this process when 1). A worker
    that dies (a crash inside a native library) does not stop the others: the pool is
    restarted and the unfinished jobs are tried once more; a job that fails again gets
    ``work.failed_report``."""

    def run(self, work, jobs, cfg, n_jobs, address, bar) -> EngineRun:
        n_jobs = worker_count(n_jobs, len(jobs))  # at most the usable cores
        if n_jobs == 1:  # one after another in this process, on the same MediaPipe graphs
            return EngineRun([work.run_job(job, cfg, bar.update) for job in jobs], workers=1)
        counter = CONTEXT.Value("q", 0)
        reports: dict[str, Any] = {}
        attempts = dict.fromkeys((j.video_id for j in jobs), 0)
        remaining = list(jobs)
        while remaining:
            broken = False
            with process_pool(n_jobs, _init_counter, (counter,)) as pool:
                futures = {pool.submit(_counted, work, job, cfg): job for job in remaining}
                for job in remaining:
                    attempts[job.video_id] += 1
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
                            reports[job.video_id] = work.failed_report(
                                job, f"{type(exc).__name__}: {exc}"
                            )
            remaining = [j for j in remaining if j.video_id not in reports]
            if broken:
                log.warning(
                    "%s: a worker process died; retrying %d jobs", work.name, len(remaining)
                )
            for job in [j for j in remaining if attempts[j.video_id] >= 2]:
                reports[job.video_id] = work.failed_report(job, "worker process died (twice)")
            remaining = [j for j in remaining if j.video_id not in reports]
        bar.update(bar.total - bar.n)
        return EngineRun([reports[j.video_id] for j in jobs], workers=n_jobs)


ENGINES.register("local", LocalEngine(), "a process pool on this machine (parallel.n_jobs workers)")
