"""Tiny encoded test videos built from real face photographs (no MediaPipe mocks).

The faces are the astronaut (Eileen Collins, ``skimage.data.astronaut``) and Grace Hopper
(matplotlib's sample data), pasted on a plain background; videos are written with OpenCV
('mp4v' in .mp4, or MJPG in .avi where a file must be cut short). Kept small so the whole
face test suite runs in seconds after TensorFlow's import.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.contracts.schema import MANIFEST

W, H = 320, 240


def load_faces() -> dict[str, np.ndarray]:
    """Head-and-shoulders crops of two real faces (RGB), each face roughly centred."""
    import matplotlib.cbook as cbook
    import skimage.data

    astro = skimage.data.astronaut()[20:300, 90:370]  # face box ~ (88, 63, 95, 95) in it
    bgr = cv2.imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    hopper = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[40:460, 90:510]
    return {"astronaut": np.ascontiguousarray(astro), "hopper": np.ascontiguousarray(hopper)}


def canvas(w: int = W, h: int = H, value: int = 120) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def paste(frame: np.ndarray, face: np.ndarray, x: int, y: int, side: int) -> np.ndarray:
    """Paste ``face`` resized to ``side`` x ``side`` with its top-left corner at (x, y)."""
    img = cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA)
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + side, w), min(y + side, h)
    if x1 > x0 and y1 > y0:
        frame[y0:y1, x0:x1] = img[y0 - y : y1 - y, x0 - x : x1 - x]
    return frame


def write_video(
    path: Path, frames: list[np.ndarray], fps: float = 30.0, codec: str = "mp4v"
) -> Path:
    h, w = frames[0].shape[:2]
    color = frames[0].ndim == 3
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (w, h), color)
    assert vw.isOpened(), f"cannot write {path}"
    for f in frames:
        vw.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR) if color else f)
    vw.release()
    return path


def count_frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n


@dataclass
class Clip:
    video_id: str
    source: Path
    n_frames: int
    subject: str = ""
    note: str = ""


def write_manifest(path: Path, clips: list[Clip]) -> Path:
    rows = {name: [] for name in MANIFEST.names}
    for c in clips:
        cap = cv2.VideoCapture(str(c.source))
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        cap.release()
        row = dict(video_id=c.video_id, dataset="test", split="train", source=str(c.source),
                   fps=30.0, n_frames=c.n_frames, width=w, height=h, subject=c.subject)  # fmt: skip
        for k, v in row.items():
            rows[k].append(v)
    pq.write_table(pa.table(rows, schema=MANIFEST), path)
    return path


def assert_jaw_ordered(p: np.ndarray) -> None:
    """Jaw 0-16 runs along the contour: image-left side down to the chin (8), up the right."""
    jaw = p[0:17]
    assert np.all(np.diff(jaw[0:9, 1]) > 0) and np.all(np.diff(jaw[8:17, 1]) < 0)
    assert np.all(jaw[0:8, 0] < jaw[16:8:-1, 0])  # each left point left of its mirror
    # seen from the nose tip, the points sweep one way round (angle strictly monotonic)
    d = jaw - p[30]
    angle = np.unwrap(np.arctan2(d[:, 1], d[:, 0]))
    assert np.all(np.diff(angle) < 0) or np.all(np.diff(angle) > 0)
    step = np.linalg.norm(np.diff(jaw, axis=0), axis=1)
    assert step.min() > 0.4 * step.mean() and step.max() < 1.6 * step.mean()  # even spacing


def gap_frames(face: np.ndarray, n: int = 30) -> list[np.ndarray]:
    """320x240 frames: ``face`` at 0-9 and 20-29 drifting slowly right, nobody at 10-19."""
    frames = []
    for i in range(n):
        f = canvas()
        if not 10 <= i < 20:
            paste(f, face, 80 + i, 40, 160)
        frames.append(f)
    return frames


def noise_frames(n: int, seed: int = 0) -> list[np.ndarray]:
    """320x240 frames of noise: no face."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (H, W, 3), dtype=np.uint8) for _ in range(n)]


def make_clips(d: Path, faces: dict[str, np.ndarray]) -> dict[str, Clip]:
    """The face tests' videos, written into folder ``d``; each one's frame layout is described
    in its ``note``."""
    a, g = faces["astronaut"], faces["hopper"]
    out: dict[str, Clip] = {}

    out["gap"] = Clip(
        "gap", write_video(d / "gap.mp4", gap_frames(a)), 30, "", "face 0-9, none 10-19, face 20-29"
    )

    # the subject (astronaut, left) all along; a larger second face appears on the right at 10
    frames = []
    for i in range(30):
        f = canvas(400, 240)
        paste(f, a, 10, 60, 130)
        if i >= 10:
            paste(f, g, 190, 10, 200)
        frames.append(f)
    out["distractor"] = Clip("distractor", write_video(d / "distractor.mp4", frames), 30, "",
                             "subject left all along; larger face right from frame 10")  # fmt: skip

    # the subject leaves for 15 frames while a smaller face sits in a corner nearby, then
    # comes back (the demo's picture-in-picture case that once made the tracker switch)
    frames = []
    for i in range(48):
        f = canvas()
        if i >= 8:
            paste(f, g, 200, 5, 90)
        if not 16 <= i < 31:
            paste(f, a, 60, 60, 150)
        frames.append(f)
    out["away"] = Clip("away", write_video(d / "away.mp4", frames), 48, "",
                       "subject 0-15 and 31-47; smaller other face top right from 8")  # fmt: skip

    # two people side by side all along (Aff-Wild2 _left / _right subjects)
    frames = []
    for _ in range(16):
        f = canvas(400, 240)
        paste(f, g, 10, 50, 150)
        paste(f, a, 230, 50, 150)
        frames.append(f)
    src = write_video(d / "two.mp4", frames)
    out["two_left"] = Clip("two_left", src, 16, "left", "hopper left, astronaut right")
    out["two_right"] = Clip("two_right", src, 16, "right", "hopper left, astronaut right")

    # no face at all
    out["noface"] = Clip(
        "noface", write_video(d / "noface.mp4", noise_frames(12)), 12, "", "noise only"
    )

    # grayscale, odd-sized (AVI / MJPG accepts odd sizes)
    frames = []
    for i in range(12):
        f = paste(canvas(317, 239), a, 70 + i, 40, 160)
        frames.append(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY))
    out["gray_odd"] = Clip("gray_odd", write_video(d / "gray_odd.avi", frames, codec="MJPG"), 12)

    # a video that stops decoding part-way: an MJPG AVI cut short (the manifest says 40)
    frames = [paste(canvas(), a, 80, 40, 160) for _ in range(40)]
    full = write_video(d / "full.avi", frames, codec="MJPG")
    data = full.read_bytes()
    cut = d / "truncated.avi"
    cut.write_bytes(data[: len(data) // 2])
    out["truncated"] = Clip("truncated", cut, 40, "", "decodes about half of its 40 frames")

    # a face leaving the frame to the right
    frames = [paste(canvas(), a, 60 + 14 * i, 40, 160) for i in range(20)]
    out["leaving"] = Clip("leaving", write_video(d / "leaving.mp4", frames), 20, "",
                          "face moves right and leaves the frame")  # fmt: skip

    for clip in out.values():
        if clip.video_id != "truncated":
            assert count_frames(clip.source) == clip.n_frames, clip.video_id
    return out
