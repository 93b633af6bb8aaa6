"""The one base class of errors caused by input the user can fix.

Stages and the CLI report an :class:`InputError` as its message and exit status 1 (no
traceback); every message names the file (and line or frame) and what was expected.
"""


class InputError(ValueError):
    """Bad input: params, data set files, videos, records."""
