"""``exp`` and ``power`` whose bits do not depend on the CPU's vector extensions.

NumPy (1.26) picks a float64 ``exp`` and ``power`` by CPU at import: on AVX-512 machines its
own AVX-512 ``exp`` and Intel's SVML ``power``, elsewhere the C library's; they differ in the
last bit for about a quarter of all inputs. The demo's pixels are rounded from such numbers
(rig bumps, zoom, lighting gamma), so every video came out a few pixels different on an
AVX2-only machine than on an AVX-512 one. NumPy's float32 ``exp`` and ``log`` are one
algorithm in its AVX2 and AVX-512 code (same bits: tests/demo/test_cpumath.py checks it with
``NPY_DISABLE_CPU_FEATURES``); the demo computes through them. Float64 ``sin``, ``cos`` and
``tanh``, ``+ - * /``, ``sqrt`` and squares are the same bits on every x86-64 CPU with AVX2.
"""

from __future__ import annotations

import numpy as np


def exp(x) -> np.ndarray:
    """``e**x`` (float64 out, float32 precision; inf above 88, 0 below -103)."""
    with np.errstate(over="ignore"):
        return np.exp(np.asarray(x, np.float32)).astype(np.float64)


def power(x, p) -> np.ndarray:
    """``x**p`` for ``x >= 0`` (float64 out, float32 precision)."""
    x32 = np.asarray(x, np.float32)
    with np.errstate(divide="ignore"):  # log(0) = -inf, exp(-inf) = 0
        out = np.exp(np.asarray(p, np.float32) * np.log(x32))
    return np.where(x32 > 0, out, np.float32(0.0)).astype(np.float64)
