"""How a CNN-RNN trained on ``seq_len``-frame sequences predicts a video of any length.

Every window starts from a zero state. Cutting a video into back-to-back windows would
predict the first frames of every window with no past at all, and the prediction jumps at
each window start. Instead windows **overlap** and only their **tail** is kept:

- the first window starts at the video's first frame and keeps all its frames (they have
  every past frame the video has);
- every next window starts ``context`` frames before the first frame not yet predicted and
  keeps only its frames after those ``context`` frames.

So every frame is predicted exactly once, and with at least ``context`` preceding frames
(or all of them, near the video's start). ``context = 0`` is the back-to-back cut. The cost
is ``seq_len / (seq_len - context)`` times the model calls (2x for ``context = seq_len / 2``,
the default). The evaluation (``pipeline.evaluation.evaluate``) and ``affwild predict`` use
the same plan.

:func:`back_to_back` is the other cut, the authors' (their released ``eval_script.py``): one
list of frames cut from its start into back-to-back windows, each from a zero state, the
remainder that does not fill a window dropped.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    start: int  # first frame the window reads
    keep_from: int  # first frame whose prediction is kept (>= start)
    keep_to: int  # one past the last kept frame (<= start + seq_len)


def default_context(seq_len: int) -> int:
    """Half the sequence length: every kept frame has at least ``seq_len // 2`` frames of
    past inside its window."""
    return seq_len // 2


def check_context(seq_len: int, context: int) -> None:
    if not 0 <= context < seq_len:
        raise ValueError(f"context must be in [0, {seq_len - 1}] for {seq_len}-frame windows")


def plan(n_frames: int, seq_len: int, context: int, covered: int = 0) -> list[Window]:
    """Windows over frames ``[0, n_frames)`` of which the first ``covered`` are already
    predicted (a streaming caller passes its last ``context`` frames as the head)."""
    check_context(seq_len, context)
    out: list[Window] = []
    c = covered
    while c < n_frames:
        start = max(0, c - context) if c else 0
        end = min(start + seq_len, n_frames)
        out.append(Window(start, c, end))
        c = end
    return out


def back_to_back(n_frames: int, seq_len: int) -> list[Window]:
    """Back-to-back ``seq_len``-frame windows over frames ``[0, n_frames)`` from the first,
    each kept whole; the last ``n_frames % seq_len`` frames fill no window and are dropped."""
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    return [Window(s, s, s + seq_len) for s in range(0, n_frames - seq_len + 1, seq_len)]
