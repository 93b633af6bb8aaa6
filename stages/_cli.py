"""What every stage module shares: quiet native logging and clean user-facing errors."""

from __future__ import annotations

import functools
import os
import sys

# MediaPipe / TensorFlow / absl print pages of C++ logging at import; stages keep stdout
# for what the user needs. Must be set before those libraries are imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GLOG_minloglevel", "2")

from pipeline.errors import InputError  # noqa: E402


def friendly_errors(fn):
    """Report bad input (:class:`InputError`) as a message and exit status 1, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(1)

    return wrapper
