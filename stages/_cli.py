"""What every stage module shares: quiet native logging and clean user-facing errors."""

from __future__ import annotations

import functools
import sys

from pipeline.quiet import quiet_native

# MediaPipe / TensorFlow / absl print pages of C++ logging; stages keep stdout and stderr for
# what the user needs. Must run before those libraries are imported.
quiet_native()

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
