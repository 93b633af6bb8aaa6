"""The one place that silences native (C++) logging: glog / absl / TensorFlow / TFLite.

MediaPipe's and TensorFlow's C++ code logs to file descriptor 2 — ``W0000 ...
inference_feedback_manager``, ``landmark_projection_calculator``, ``INFO: Created TensorFlow
Lite XNNPACK delegate for CPU`` — past Python's ``sys.stderr``, and MediaPipe 0.10's absl
logging ignores ``GLOG_minloglevel``. Two tools, used by every stage, the CLI and the
benchmarks:

* :func:`quiet_native` — environment variables read by those libraries when they load
  (call before importing them; idempotent, never overrides what the user set);
* :func:`native_stderr_silenced` — a context manager that points fd 2 at ``/dev/null`` while
  native code that logs unconditionally runs (MediaPipe graph start-up). Python's own
  ``sys.stderr`` is flushed first, and the original fd 2 is restored afterwards, so errors
  raised as Python exceptions still reach the user.

``AFFWILD_NATIVE_LOGS=1`` keeps everything (for debugging a native crash).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

LOG_LEVEL_VARS = {  # what quiet_native sets (unless already set)
    "GLOG_minloglevel": "2",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "ABSL_MIN_LOG_LEVEL": "2",
}


def _keep_logs() -> bool:
    return os.environ.get("AFFWILD_NATIVE_LOGS", "") not in ("", "0")


def quiet_native() -> None:
    """Set the libraries' log-level variables (before they are imported)."""
    if _keep_logs():
        return
    for key, value in LOG_LEVEL_VARS.items():
        os.environ.setdefault(key, value)
    if "absl.logging" in sys.modules:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """fd 2 -> /dev/null for the duration (see the module docstring)."""
    if _keep_logs():
        yield
        return
    with contextlib.suppress(AttributeError, ValueError):  # a closed / replaced stderr
        sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)
