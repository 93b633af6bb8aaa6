"""Reading frames, one at a time, from a video file or a folder of numbered frame images.

Frames are yielded as RGB ``uint8`` arrays of shape (height, width, 3) — what MediaPipe and
TensorFlow expect — whatever the source holds (grayscale and BGRA sources are converted).
Memory does not grow with the video's length: nothing is buffered.

The container's frame count (``CAP_PROP_FRAME_COUNT``) is not trusted: it comes from metadata
that is wrong for some codecs and for files that stop decoding part-way. :func:`probe` counts
the frames that actually decode.

Files OpenCV's build cannot decode (AV1) are read through FFmpeg's own binary
(:mod:`pipeline.video.ffmpeg_capture`). Real clips: a phone's rotation flag (display matrix) is applied, so frames come out upright
(``CAP_PROP_ORIENTATION_AUTO``); the time of each frame comes from the container
(:func:`iter_timed_frames`, ``CAP_PROP_POS_MSEC``), so a variable-frame-rate video gets its
true time stamps, not index / fps; audio streams are ignored whatever their length.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.quiet import quiet_native

quiet_native()  # before the first capture: OpenCV's FFmpeg reads its log level then

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.errors import InputError  # noqa: E402
from pipeline.video.ffmpeg_capture import open_ffmpeg  # noqa: E402

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


class VideoError(InputError):
    """A video that cannot be opened or read; the message names the file (and frame)."""


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    n_frames: int  # frames that decode
    width: int
    height: int
    declared_frames: int  # what the container claims (-1 when unknown)
    variable_rate: bool = False  # frame intervals differ (fps is then the mean rate)


def frame_files(folder: str | os.PathLike) -> list[Path]:
    """The image files of a frame folder, in frame order (sorted by name)."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def to_rgb(frame: np.ndarray) -> np.ndarray:
    """A decoded OpenCV frame (BGR, BGRA or grey) as RGB."""
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


NO_OPENCV_DECODER = {"AV01", "av01"}  # codecs (FOURCC) OpenCV's bundled FFmpeg cannot decode


def _fourcc(cap: cv2.VideoCapture) -> str:
    code = int(cap.get(cv2.CAP_PROP_FOURCC))
    return code.to_bytes(4, "little").decode("ascii", "replace")


def open_capture(path: str | os.PathLike):
    """An opened video file, frames upright (the rotation flag applied); :class:`VideoError`
    naming the file if it is missing or not a video. The caller releases it.

    OpenCV reads it where it can decode its first frame; otherwise FFmpeg's own binary does
    (:mod:`pipeline.video.ffmpeg_capture`: AV1, which OpenCV's bundled FFmpeg cannot decode),
    through the same capture interface."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such video file")
    cap = cv2.VideoCapture(str(path))
    opened = cap.isOpened()
    # AV1 goes to FFmpeg at once: OpenCV's grab() would read the whole file failing to decode.
    if opened and _fourcc(cap) not in NO_OPENCV_DECODER and cap.grab():
        cap.release()  # it decodes: open it again at frame 0
        cap = cv2.VideoCapture(str(path))
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)  # phones' rotation flag: frames upright
        return cap
    cap.release()
    fallback = open_ffmpeg(path)
    if fallback is not None:
        return fallback
    if not opened:
        raise VideoError(f"{path}: cannot be opened as a video (unknown format or corrupt file)")
    raise VideoError(f"{path}: video holds no decodable frame")


def capture_fps(cap: cv2.VideoCapture, default_fps: float) -> float:
    """The rate a capture declares, or ``default_fps`` where it declares none (or nonsense)."""
    fps = cap.get(cv2.CAP_PROP_FPS)
    return float(fps) if np.isfinite(fps) and 0 < fps <= 1000 else float(default_fps)


def read_capture(
    cap: cv2.VideoCapture, fps: float = 25.0, limit: int | None = None
) -> Iterator[tuple[float, np.ndarray]]:
    """``(time in seconds, RGB frame)`` from an open capture until it stops (or ``limit``
    frames): the container's time stamp of each frame, ``index / fps`` steps where it gives
    none. The one frame loop of every reader (files, and the live tool's cameras/streams)."""
    i = 0
    last = -1.0
    while limit is None or i < limit:
        ok, frame = cap.read()
        if not ok or frame is None:
            return
        t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if not np.isfinite(t) or t < 0 or (i > 0 and t <= last):
            t = 0.0 if i == 0 else last + 1.0 / fps  # no usable stamp: the nominal step
        last = t
        yield t, to_rgb(frame)
        i += 1


def _folder_frames(folder: Path, limit: int | None) -> Iterator[np.ndarray]:
    for i, path in enumerate(frame_files(folder)):
        if limit is not None and i >= limit:
            return
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise VideoError(f"{path}: frame {i} cannot be decoded as an image")
        yield to_rgb(img)


def iter_timed_frames(
    source: str | os.PathLike, fps: float = 25.0, limit: int | None = None
) -> Iterator[tuple[float, np.ndarray]]:
    """``(time in seconds, RGB frame)`` of a video file or frame folder, in order, at most
    ``limit`` of them: the container's time stamp of each frame (variable frame rate
    honoured); ``index / fps`` for a frame folder or where the container gives none.

    Iteration simply stops where decoding stops; callers that know how many frames to expect
    (the manifest's ``n_frames``) detect a short read by counting.
    """
    source = Path(source)
    if source.is_dir():
        for i, rgb in enumerate(_folder_frames(source, limit)):
            yield i / fps, rgb
        return
    cap = open_capture(source)
    try:
        yield from read_capture(cap, fps, limit)
    finally:
        cap.release()


def iter_frames(source: str | os.PathLike, limit: int | None = None) -> Iterator[np.ndarray]:
    """Like :func:`iter_timed_frames`, the RGB frames alone."""
    for _, rgb in iter_timed_frames(source, limit=limit):
        yield rgb


def probe(source: str | os.PathLike, default_fps: float = 25.0, count: bool = True) -> VideoInfo:
    """Frame rate, decodable frame count and size of a video file or frame folder.

    With ``count`` every frame is decoded once to count it (and to tell a variable frame rate);
    without, only the first frame is (for its upright size): ``n_frames`` is then -1 for a video
    file (see ``declared_frames`` for the container's claim). ``default_fps`` is used for
    frame folders and for containers that declare no rate.
    """
    source = Path(source)
    if source.is_dir():
        files = frame_files(source)
        if not files:
            raise VideoError(f"{source}: frame folder holds no images")
        first = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)
        if first is None:
            raise VideoError(f"{files[0]}: frame 0 cannot be decoded as an image")
        h, w = first.shape[:2]
        return VideoInfo(float(default_fps), len(files), int(w), int(h), len(files))

    cap = open_capture(source)
    try:
        fps = capture_fps(cap, default_fps)
        declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or -1)
        width = height = 0
        n = 0
        t_first = t_last = -1.0
        step_min, step_max = np.inf, 0.0
        # grab() demuxes and decodes without the colour conversion: the cheapest honest count.
        while cap.grab():
            if n == 0:
                ok, frame = cap.retrieve()  # upright (rotation flag applied)
                if ok and frame is not None:
                    height, width = frame.shape[:2]
                if not count:
                    break
            t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if n == 0:
                t_first = t
            elif np.isfinite(t) and t > t_last >= 0:
                step_min, step_max = min(step_min, t - t_last), max(step_max, t - t_last)
            t_last = t
            n += 1
    finally:
        cap.release()
    if not count:
        if not width:
            raise VideoError(f"{source}: video holds no decodable frame")
        return VideoInfo(fps, -1, int(width), int(height), declared)
    if n == 0:
        raise VideoError(f"{source}: video holds no decodable frame")
    variable = bool(n > 2 and step_max > 1.2 * step_min)
    if variable and t_last > t_first >= 0:
        fps = (n - 1) / (t_last - t_first)  # the mean rate; each frame keeps its own stamp
        if not np.isfinite(fps) or fps <= 0 or fps > 1000:
            fps = default_fps
    return VideoInfo(float(fps), n, int(width), int(height), declared, variable)
