"""The one local pool (pipeline.parallel) and the `parallel` params section."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipeline.config import ParamsError, parse_params
from pipeline.parallel import CONTEXT, map_ordered, usable_cores, worker_count


def _pid_and_square(x: int) -> tuple[int, int]:
    return os.getpid(), x * x


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError(f"bad item {x}")
    return x


@pytest.mark.parametrize("threads", [False, True])
def test_results_in_input_order_whatever_the_workers(threads):
    items = list(range(7))
    one = map_ordered(_pid_and_square, items, 1)
    two = map_ordered(_pid_and_square, items, 2, threads=threads, cost=lambda x: x % 3)
    assert [r for _, r in one] == [r for _, r in two] == [x * x for x in items]
    assert {p for p, _ in one} == {os.getpid()}
    if not threads and usable_cores() > 1:  # worker processes, spawned
        assert os.getpid() not in {p for p, _ in two}
        assert CONTEXT.get_start_method() == "spawn"


def test_no_more_worker_processes_than_usable_cores():
    assert worker_count(8, 3) == min(3, usable_cores())
    assert worker_count(1, 5) == worker_count(4, 0) == 1
    # Pinned to one core (taskset -c N), n_jobs: 2 runs in the process itself: a pool would
    # only add start-up. Threads are not capped.
    code = (
        "import os\n"
        "os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})\n"
        "from pipeline.parallel import map_ordered, worker_count\n"
        "from tests.face.test_parallel_local import _pid_and_square\n"
        "assert worker_count(2, 4) == 1\n"
        "print(sorted({p for p, _ in map_ordered(_pid_and_square, range(4), 2)}), os.getpid())\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    pids, own = r.stdout.strip().rsplit(" ", 1)
    assert pids == f"[{own}]"


def test_an_exception_in_a_worker_propagates():
    with pytest.raises(ValueError, match="bad item 3"):
        map_ordered(_fail_on_three, range(5), 2)


def test_parallel_section_is_validated():
    p = parse_params({"parallel": {"engine": "ray", "address": "auto", "n_jobs": 4}})
    assert (p.parallel.engine, p.parallel.address, p.parallel.n_jobs) == ("ray", "auto", 4)
    with pytest.raises(ParamsError, match=r"not used by engine .local. \(only by: ray\)"):
        parse_params({"parallel": {"address": "auto"}})
    with pytest.raises(ParamsError, match="parallel.engine"):
        parse_params({"parallel": {"engine": "dask"}})
    with pytest.raises(ParamsError, match="crop.n_jobs: unknown key"):
        parse_params({"crop": {"n_jobs": 2}})


def test_engine_ray_without_ray_installed_says_how_to_get_it():
    # A Python where `import ray` fails (sys.modules entry None), like a base install.
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from pipeline.ray_engine import _import_ray\n"
        "_import_ray()\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode != 0
    assert 'parallel.engine: ray needs Ray: pip install -e ".[ray]"' in r.stderr
