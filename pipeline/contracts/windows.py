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
the default).

**Seams.** Where one window's kept part ends and the next one's begins, the prediction
switches from one window to the other. :func:`place` can crossfade there: over the last
``blend`` frames before the seam (``0 <= blend <= context``; the new window predicts them too,
since it starts ``context`` frames early) the new window's weight rises linearly,
``1/(blend+1), ..., blend/(blend+1)`` (:func:`crossfade`), so a step between the two windows
becomes ``blend + 1`` equal steps; ``blend = 0`` is the hard cut. Linear, not raised-cosine:
equal steps keep the largest one smallest. Every frame's weights sum to one. The default
(:func:`default_blend`) is chosen on the validation split: 0.

The evaluation (``pipeline.evaluation.evaluate``), ``affwild evaluate --csv`` and
``affwild predict`` / the Python API's file rule use the same plan and :func:`place`.
``predict --live`` has no windows: it carries the RNN state from frame to frame
(:mod:`pipeline.inference.live`), so it has no seam to blend.

:func:`back_to_back` is the other cut, the authors' (their released ``eval_script.py``): one
list of frames cut from its start into back-to-back windows, each from a zero state, the
remainder that does not fill a window dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


def default_blend(context: int) -> int:
    """No crossfade (the hard cut), whatever the context: our choice on the validation split
    (``benchmarks/val_seams.py``, docs/results-and-choices.md#cnn-rnn-windows). With the
    default context the windows already agree where they meet (the same numbers as the
    state carried through the whole video), so a blend changes nothing below ``context - 5``
    frames and adds a jump when it reaches the new window's first, cold frames."""
    del context  # the rule does not depend on it
    return 0


def check_blend(context: int, blend: int) -> None:
    if not 0 <= blend <= context:
        raise ValueError(
            f"blend {blend}: the crossfade runs over frames the new window also predicts, "
            f"so it must be in [0, context = {context}]"
        )


def crossfade(n: int) -> np.ndarray:
    """The new window's weights on the ``n`` frames before its kept part, in frame order:
    ``1/(n+1), 2/(n+1), ..., n/(n+1)`` (linear; the earlier window's are one minus them)."""
    return np.arange(1, n + 1, dtype=np.float64) / (n + 1)


def place(out: np.ndarray, at: np.ndarray, pred: np.ndarray, keep_from: int, keep_to: int,
          blend: int = 0) -> None:  # fmt: skip
    """One window's predictions onto ``out``, windows in plan order. ``pred[i]`` is the
    window's output at its position ``i``, ``at[i]`` the row of ``out`` that position is;
    positions ``[keep_from, keep_to)`` are kept (written), and the ``blend`` positions before
    ``keep_from`` (the end of the earlier window's kept part, which ``out`` already holds)
    are crossfaded towards this window's (:func:`crossfade`). ``blend = 0``: the hard cut.
    A window without context (``keep_from = 0``) blends nothing."""
    out[at[keep_from:keep_to]] = pred[keep_from:keep_to]
    n = min(blend, keep_from)
    if n:
        rows = at[keep_from - n : keep_from]
        w = crossfade(n)[:, None]
        out[rows] = (1 - w) * out[rows] + w * pred[keep_from - n : keep_from]


def stitch(plan_: list[Window], outputs: list[np.ndarray], blend: int = 0) -> np.ndarray:
    """The per-frame predictions of a whole plan (:func:`plan` with ``covered = 0``):
    ``outputs[k]`` is window ``k``'s output from its first frame on (at least up to its
    ``keep_to``); (n_frames, ...) float32."""
    n = plan_[-1].keep_to if plan_ else 0
    shape = outputs[0].shape[1:] if outputs else ()
    out = np.full((n, *shape), np.nan, np.float32)
    for w, pred in zip(plan_, outputs, strict=True):
        at = np.arange(w.start, w.start + len(pred))
        place(out, at, np.asarray(pred), w.keep_from - w.start, w.keep_to - w.start, blend)
    return out
