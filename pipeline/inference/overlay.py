"""The input video with the prediction drawn on it: the subject's box and 68 landmarks, a
valence/arousal gauge (top right: valence left-right, arousal bottom-top, both in [-1, 1])
and the last few seconds of both as a trace (bottom: valence green, arousal orange).

Same frame count, size and fps as the input; written atomically (a temporary file renamed
into place when the video is complete). ``.mp4`` is written with the ``mp4v`` codec,
``.avi`` with MJPG.
"""

from __future__ import annotations

import math
import os
from collections import deque
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from pipeline.errors import InputError
from pipeline.io import atomic_path

CODECS = {".mp4": "mp4v", ".avi": "MJPG"}
GREEN, ORANGE, YELLOW, WHITE, GREY = (
    (80, 220, 80),
    (0, 150, 255),
    (0, 230, 255),
    (255,) * 3,
    (90,) * 3,
)
TRACE_SECONDS = 5.0


def draw(bgr: np.ndarray, pred, history) -> np.ndarray:
    """Draw one frame's prediction (:class:`~pipeline.inference.predict.Prediction`) and the
    recent ``history`` of (valence, arousal) on ``bgr`` in place."""
    h, w = bgr.shape[:2]
    ff = pred.face
    thick = max(1, round(min(h, w) / 240))
    if ff.box is not None and np.isfinite(ff.box).all():
        x, y, bw, bh = (int(round(v)) for v in ff.box)
        cv2.rectangle(bgr, (x, y), (x + bw, y + bh), GREEN, thick)
    if ff.points is not None:
        for px, py in np.asarray(ff.points, np.float64):
            if math.isfinite(px) and math.isfinite(py):
                cv2.circle(bgr, (int(round(px)), int(round(py))), thick, YELLOW, -1)
    # Gauge.
    g = max(24, min(h, w) // 4)
    x0, y0 = w - g - 4, 4
    roi = bgr[y0 : y0 + g, x0 : x0 + g]
    roi[:] = (roi * 0.4).astype(np.uint8)
    c, r = (x0 + g // 2, y0 + g // 2), g // 2 - 3
    cv2.circle(bgr, c, r, GREY, 1)
    cv2.line(bgr, (c[0] - r, c[1]), (c[0] + r, c[1]), GREY, 1)
    cv2.line(bgr, (c[0], c[1] - r), (c[0], c[1] + r), GREY, 1)
    v, a = pred.valence, pred.arousal
    if math.isfinite(v) and math.isfinite(a):
        p = (int(round(c[0] + np.clip(v, -1, 1) * r)), int(round(c[1] - np.clip(a, -1, 1) * r)))
        cv2.circle(bgr, p, max(2, g // 16), WHITE, -1)
        text = f"V {v:+.2f} A {a:+.2f}"
    else:
        text = "no face"
    scale = max(0.3, g / 240)
    (tw, tth), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    org = (max(0, w - tw - 4), min(h - 2, y0 + g + tth + 4))
    cv2.putText(bgr, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, WHITE, 1, cv2.LINE_AA)
    # Trace.
    th = max(16, h // 6)
    ty0 = h - th
    strip = bgr[ty0:h]
    strip[:] = (strip * 0.4).astype(np.uint8)
    cv2.line(bgr, (0, ty0 + th // 2), (w - 1, ty0 + th // 2), GREY, 1)
    n = history.maxlen or len(history)
    for k, colour in ((0, GREEN), (1, ORANGE)):
        pts = []
        for i, va in enumerate(history):
            val = va[k]
            if not math.isfinite(val):
                if len(pts) > 1:
                    cv2.polylines(bgr, [np.array(pts, np.int32)], False, colour, 1, cv2.LINE_AA)
                pts = []
                continue
            px = int(round((w - 1) * (i + n - len(history)) / max(1, n - 1)))
            py = int(round(ty0 + th / 2 - np.clip(val, -1, 1) * (th / 2 - 2)))
            pts.append((px, py))
        if len(pts) > 1:
            cv2.polylines(bgr, [np.array(pts, np.int32)], False, colour, 1, cv2.LINE_AA)
    return bgr


class OverlayWriter:
    """``with OverlayWriter(path, fps).open() as ov: ov.add(rgb, prediction)`` per frame."""

    def __init__(self, path: Path, fps: float):
        self.path = Path(path)
        self.fps = float(fps)
        suffix = self.path.suffix.lower()
        if suffix not in CODECS:
            raise InputError(f"{self.path}: overlay must end in {' or '.join(CODECS)}")
        self.codec = CODECS[suffix]
        self.history: deque = deque(maxlen=max(2, round(TRACE_SECONDS * self.fps)))
        self.n_frames = 0
        self._writer = None
        self._size = None

    @contextmanager
    def open(self):
        with atomic_path(self.path) as tmp:
            # OpenCV picks the container from the suffix: write under the real suffix first.
            video = tmp.with_name(tmp.name + self.path.suffix)
            self._video = video
            try:
                yield self
                if self._writer is not None:
                    self._writer.release()
                    self._writer = None
                    os.replace(video, tmp)
            finally:
                if self._writer is not None:
                    self._writer.release()
                video.unlink(missing_ok=True)

    def add(self, rgb: np.ndarray | None, pred) -> None:
        if rgb is None:  # the second reader ran short (should not happen): a black frame
            rgb = np.zeros((self._size[1], self._size[0], 3), np.uint8) if self._size else None
            if rgb is None:
                return
        if self._writer is None:
            h, w = rgb.shape[:2]
            self._size = (w, h)
            fourcc = cv2.VideoWriter_fourcc(*self.codec)
            self._writer = cv2.VideoWriter(str(self._video), fourcc, self.fps, (w, h), True)
            if not self._writer.isOpened():
                raise InputError(
                    f"{self.path}: OpenCV cannot write a {self.codec} video of {w}x{h} here"
                )
        if rgb.shape[1::-1] != self._size:
            rgb = cv2.resize(rgb, self._size)
        self.history.append((pred.valence, pred.arousal))
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        self._writer.write(draw(bgr, pred, self.history))
        self.n_frames += 1
