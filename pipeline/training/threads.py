"""Same weights on any machine: one thread per TensorFlow op on the CPU.

TensorFlow sizes its intra-op thread pool from the machine's cores, and a reduction split
over another number of threads sums floats in another order: the same seed then trains
other weights on a machine with another core count (measured: 1 vs 2 cores differ after
6 steps; ``TF_ENABLE_ONEDNN_OPTS=0`` alone does not help; one intra-op and one inter-op
thread make them identical — ``benchmarks/bench_determinism.py``). The training and
evaluation stages therefore run TensorFlow ops single-threaded (the input pipeline keeps
its own parallel threads). It must happen before TensorFlow is imported; an environment
that already sets these variables wins (e.g. ``TF_NUM_INTRAOP_THREADS=0`` for TensorFlow's
default: faster, but machine-dependent numbers). Other CPU models (instruction sets) may
still pick other kernels: that is not covered here.
"""

from __future__ import annotations

import os

SINGLE_THREADED = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def single_threaded_ops() -> None:
    for key, value in SINGLE_THREADED.items():
        os.environ.setdefault(key, value)
