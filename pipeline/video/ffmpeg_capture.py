"""Frames through FFmpeg's own binary, for videos OpenCV's build cannot decode.

OpenCV's wheels bundle an FFmpeg without a software AV1 decoder (opencv-contrib-python 4.11:
"Failed to get pixel format", no frame), and AV1 is what YouTube and recent phones often
deliver. ``imageio-ffmpeg`` ships a current FFmpeg binary (libdav1d for AV1, and every common
codec); :class:`FfmpegCapture` runs it as a subprocess that writes raw BGR frames to a pipe,
with each frame's time stamp read from FFmpeg's ``showinfo`` filter, and offers the part of
``cv2.VideoCapture`` that :mod:`pipeline.video.reader` uses (``read``, ``grab``, ``retrieve``,
``get``, ``set``, ``release``, ``isOpened``). FFmpeg applies a rotation flag itself, so frames
come out upright as from OpenCV. Nothing is buffered beyond one frame.

:func:`open_ffmpeg` returns ``None`` when the binary is missing or cannot decode the file
either, so the caller reports the file as before.
"""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path

import cv2
import numpy as np

_SIZE = re.compile(r"Video: .*?, (\d{2,5})x(\d{2,5})")
_FPS = re.compile(r"([\d.]+) fps")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees")
_DURATION = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")
_PTS = re.compile(r"\bn:\s*(\d+) .*?\bpts_time:\s*(-?[\d.e+-]+)")


def ffmpeg_exe() -> str | None:
    """The FFmpeg binary imageio-ffmpeg ships, or None."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return None


class FfmpegCapture:
    """One video decoded by an FFmpeg subprocess; see the module docstring."""

    def __init__(self, exe: str, path: Path, width: int, height: int, fps: float, frames: int):
        self.path, self.width, self.height = path, width, height
        self.fps, self.declared = fps, frames
        self._size = width * height * 3
        self._frame: np.ndarray | None = None
        self._index = -1
        self._t0: float | None = None
        self._time = 0.0
        self._stamps: dict[int, float] = {}
        self._stamps_seen = False  # no stamp for frame 0: never wait for one again
        self._replay = False  # the next grab() gives the current frame again (see open_ffmpeg)
        self._cond = threading.Condition()
        self._done = False
        cmd = [exe, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", "-i", str(path),
               "-map", "0:v:0", "-vf", "showinfo", "-fps_mode", "passthrough",
               "-f", "rawvideo", "-pix_fmt", "bgr24", "-"]  # fmt: skip
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self._reader = threading.Thread(target=self._read_stamps, daemon=True)
        self._reader.start()

    def _read_stamps(self) -> None:
        for raw in iter(self._proc.stderr.readline, b""):
            m = _PTS.search(raw.decode("utf-8", "replace"))
            if m:
                with self._cond:
                    self._stamps[int(m.group(1))] = float(m.group(2))
                    self._cond.notify_all()
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def _stamp(self, index: int) -> float | None:
        with self._cond:  # the line is written before the frame's bytes; wait for the reader
            if self._stamps_seen or index == 0:
                self._cond.wait_for(lambda: index in self._stamps or self._done, timeout=5.0)
            t = self._stamps.pop(index, None)
            self._stamps_seen = self._stamps_seen or t is not None
            return t

    # -- the cv2.VideoCapture part the readers use --------------------------------------
    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self._proc is not None

    def grab(self) -> bool:
        if self._replay:
            self._replay = False
            return self._frame is not None
        if self._proc is None:
            return False
        buf = self._proc.stdout.read(self._size)
        if buf is None or len(buf) < self._size:
            self._frame = None
            return False
        self._index += 1
        self._frame = np.frombuffer(buf, np.uint8).reshape(self.height, self.width, 3)
        t = self._stamp(self._index)
        if t is not None:
            self._t0 = t if self._t0 is None else self._t0
            self._time = t - self._t0
        else:  # no stamp: the nominal step
            self._time = self._index / self.fps
        return True

    def retrieve(self) -> tuple[bool, np.ndarray | None]:
        return self._frame is not None, self._frame

    def read(self) -> tuple[bool, np.ndarray | None]:
        return (True, self._frame) if self.grab() else (False, None)

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_FPS:
            return self.fps
        if prop == cv2.CAP_PROP_FRAME_COUNT:
            return float(self.declared)
        if prop == cv2.CAP_PROP_POS_MSEC:
            return self._time * 1000.0
        if prop == cv2.CAP_PROP_FRAME_WIDTH:
            return float(self.width)
        if prop == cv2.CAP_PROP_FRAME_HEIGHT:
            return float(self.height)
        return 0.0

    def set(self, prop: int, value) -> bool:
        return prop == cv2.CAP_PROP_ORIENTATION_AUTO  # FFmpeg rotates by the flag itself

    def release(self) -> None:
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        self._reader.join(timeout=5.0)
        proc.stderr.close()


def open_ffmpeg(path: str | Path) -> FfmpegCapture | None:
    """An :class:`FfmpegCapture` of ``path`` if FFmpeg's binary is there and decodes its first
    frame; else None."""
    exe = ffmpeg_exe()
    if exe is None:
        return None
    path = Path(path)
    head = subprocess.run(
        [exe, "-hide_banner", "-nostdin", "-i", str(path)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
    )  # fmt: skip
    info = head.stderr
    size = _SIZE.search(info)
    if size is None:
        return None
    width, height = int(size.group(1)), int(size.group(2))
    rot = _ROTATION.search(info)
    if rot and round(abs(float(rot.group(1)))) % 180 == 90:
        width, height = height, width  # FFmpeg turns the frames upright
    fps_m = _FPS.search(info[size.end() :])
    fps = float(fps_m.group(1)) if fps_m else 25.0
    dur = _DURATION.search(info)
    frames = -1
    if dur:
        secs = int(dur.group(1)) * 3600 + int(dur.group(2)) * 60 + float(dur.group(3))
        frames = int(round(secs * fps))
    cap = FfmpegCapture(exe, path, width, height, fps if 0 < fps <= 1000 else 25.0, frames)
    if not cap.grab():  # it must decode; the frame it decoded is handed out first
        cap.release()
        return None
    cap._replay = True
    return cap
