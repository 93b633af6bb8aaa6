"""What every stage module shares: quiet native logging and clean user-facing errors."""

from __future__ import annotations

from pipeline.quiet import quiet_native

# MediaPipe / TensorFlow / absl print pages of C++ logging; stages keep stdout and stderr for
# what the user needs. Must run before those libraries are imported.
quiet_native()

from pipeline.errors import friendly_errors  # noqa: E402

__all__ = ["friendly_errors"]
