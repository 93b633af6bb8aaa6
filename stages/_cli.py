"""What every stage module shares: quiet native logging and clean user-facing errors."""

from __future__ import annotations

import functools
import os
import sys

# MediaPipe / TensorFlow / absl print pages of C++ logging at import; stages keep stdout
# for what the user needs. Must be set before those libraries are imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GLOG_minloglevel", "2")

from pipeline.config import ParamsError  # noqa: E402
from pipeline.datasets.errors import DataSetError  # noqa: E402
from pipeline.video.reader import VideoError  # noqa: E402

USER_ERRORS = (ParamsError, DataSetError, VideoError)


def friendly_errors(fn):
    """Report bad input as a message and exit status 1, not as a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(1)

    return wrapper
