"""The demo's exp and power give the same bits whichever vector extensions NumPy uses
(pipeline/demo/cpumath.py): checked by running them with NumPy's AVX-512 code switched off.
On a machine without AVX-512 both runs take the same code and the test shows nothing new."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from pipeline.demo.cpumath import exp, power

AVX512 = "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL"
SCRIPT = """
import sys, numpy as np
from pipeline.demo.cpumath import exp, power
x = np.random.default_rng(0).uniform(-30, 3, 100_000)
np.save(sys.argv[1], np.stack([exp(x), power(np.abs(x), 0.7), np.exp(x)]))
"""


def _run(path, **env):
    cmd = [sys.executable, "-c", SCRIPT, str(path)]
    subprocess.run(cmd, check=True, env={**os.environ, **env}, cwd=os.getcwd())
    return np.load(path)


def test_exp_and_power_do_not_depend_on_avx512(tmp_path):
    on = _run(tmp_path / "on.npy")
    off = _run(tmp_path / "off.npy", NPY_DISABLE_CPU_FEATURES=AVX512)
    assert np.array_equal(on[0], off[0]) and np.array_equal(on[1], off[1])
    features = np.core._multiarray_umath.__cpu_features__  # noqa: NPY002 - no public API
    if features.get("AVX512F"):  # the difference the module avoids is real here
        assert not np.array_equal(on[2], off[2])


def test_exp_and_power_values():
    x = np.array([-2.0, 0.0, 1.0])
    assert np.allclose(exp(x), np.exp(x), rtol=1e-6) and exp(x).dtype == np.float64
    assert np.allclose(power(np.array([0.0, 0.25, 4.0]), 0.5), [0.0, 0.5, 2.0], rtol=1e-6)
    assert np.allclose(power(np.array([0.5, 2.0]), np.array([2.0, 3.0])), [0.25, 8.0], rtol=1e-6)
