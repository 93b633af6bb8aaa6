"""The one place that silences native (C++) logging: glog / absl / TensorFlow / TFLite /
OpenCV's FFmpeg.

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
  raised as Python exceptions still reach the user;
* :func:`load_tensorflow` — TensorFlow's import and device probe under that silence (the
  CUDA-enabled wheel logs past every log-level variable), for the stages and commands that
  use TensorFlow.

``AFFWILD_NATIVE_LOGS=1`` keeps everything (for debugging a native crash).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

LOG_LEVEL_VARS = {  # what quiet_native sets (unless already set)
    "GLOG_minloglevel": "2",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "ABSL_MIN_LOG_LEVEL": "2",
    "OPENCV_FFMPEG_LOGLEVEL": "-8",  # OpenCV's FFmpeg: "[h264 @ 0x...] ..." lines (AV_LOG_QUIET)
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


NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")


def load_tensorflow():
    """Import TensorFlow and let it probe its devices with fd 2 silenced; returns the module.

    The ``tensorflow`` wheel (built with CUDA) writes past every log-level variable: "Unable to
    register cuFFT / cuDNN / cuBLAS factory" when it loads, and "failed call to cuInit" the first
    time anything touches a device on a machine without an NVIDIA driver. Called before
    anything else imports TensorFlow (the TensorFlow stages; ``predict`` / ``export`` through
    ``setup_device``), it keeps those lines out of the logs. Listing the physical devices does
    not start the runtime, so logical-device and strategy set-up still work afterwards. A
    machine with an NVIDIA driver on which TensorFlow finds no GPU gets one warning line
    instead of the silenced reason (``AFFWILD_NATIVE_LOGS=1`` shows it).
    """
    if _keep_logs():
        import tensorflow as tf

        return tf
    quiet_native()
    with native_stderr_silenced():
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
    if not gpus and NVIDIA_DRIVER.exists():
        print(
            "warning: this machine has an NVIDIA driver but TensorFlow finds no GPU; training "
            "and inference run on the CPU (pip install -e '.[gpu]' adds the CUDA libraries; "
            "AFFWILD_NATIVE_LOGS=1 shows TensorFlow's reason)",
            file=sys.stderr,
        )
    return tf
