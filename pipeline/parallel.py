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

The per-video face stages may instead run on Ray (``parallel.engine: ray``,
:mod:`pipeline.face.ray_engine`); everything else always uses this module.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, TypeVar

from tqdm import tqdm

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
