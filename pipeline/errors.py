"""The one base class of errors caused by input the user can fix, and the one place that
turns them into a message and an exit status.

Stages and the CLI report an :class:`InputError` as its message and exit status 1 (no
traceback); every message names the file (and line or frame) and what was expected.
"""

from __future__ import annotations

import functools
import sys

INPUT_ERROR_STATUS = 1


class InputError(ValueError):
    """Bad input: params, data set files, videos, records."""


def report(exc: BaseException) -> None:
    """The one-line report of bad input, on stderr: ``error: <message>``."""
    print(f"error: {exc}", file=sys.stderr, flush=True)


def friendly_errors(fn):
    """Run ``fn``; bad input (:class:`InputError`) becomes its one-line report and exit
    status 1, no traceback. Every stage's ``main`` and the ``affwild`` command use it."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            report(exc)
            sys.exit(INPUT_ERROR_STATUS)

    return wrapper
