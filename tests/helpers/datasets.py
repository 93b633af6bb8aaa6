"""Tiny data sets in the real layouts, with real encoded videos and PNG frames."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np


def write_video(path: Path, n_frames: int, size=(48, 32), fps=25.0, fourcc="mp4v") -> Path:
    """A real encoded video whose frames differ (a moving gradient)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), path
    ramp = np.linspace(0, 255, w, dtype=np.float32)
    for i in range(n_frames):
        frame = np.empty((h, w, 3), np.uint8)
        frame[:] = ((ramp + 7 * i) % 256).astype(np.uint8)[None, :, None]
        writer.write(frame)
    writer.release()
    return path


def write_lines(path: Path, values) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{v}\n" for v in values))
    return path


def values(n: int, seed: int) -> np.ndarray:
    return np.round(np.random.default_rng(seed).uniform(-1, 1, n), 4).astype(np.float32)


def make_affwild(root: Path, videos: dict[str, tuple[str, int]]) -> Path:
    """videos: id -> (split, n_frames); .avi for ids ending in 'avi', .mp4 otherwise."""
    for i, (vid, (split, n)) in enumerate(videos.items()):
        ext, fourcc = (".avi", "MJPG") if vid.endswith("avi") else (".mp4", "mp4v")
        write_video(root / "videos" / split / f"{vid}{ext}", n, fourcc=fourcc)
        write_lines(root / "annotations" / split / "valence" / f"{vid}.txt", values(n, 2 * i))
        write_lines(root / "annotations" / split / "arousal" / f"{vid}.txt", values(n, 2 * i + 1))
    return root


def make_affwild2(root: Path) -> Path:
    ann = root / "annotations" / "VA_Estimation_Challenge"
    write_video(root / "videos" / "batch1" / "v1.mp4", 12, fps=30)
    write_video(root / "videos" / "batch1" / "v2.avi", 10, fourcc="MJPG")
    write_video(root / "videos" / "batch2" / "duo.mp4", 8)
    write_video(root / "videos" / "batch2" / "other_track.mp4", 5)  # no VA labels: ignored
    write_video(root / "videos" / "batch2" / "v3.mp4", 9)
    rows = [f"{v:.3f},{a:.3f}" for v, a in zip(values(12, 1), values(12, 2), strict=True)]
    rows[3] = "-5,-5"
    rows[4] = "0.5,-5"
    write_lines(ann / "Train_Set" / "v1.txt", ["valence,arousal", *rows])
    write_lines(ann / "Train_Set" / "v2.txt", ["valence,arousal"] + ["0.1,0.2"] * 10)
    write_lines(ann / "Train_Set" / "duo_left.txt", ["valence,arousal"] + ["0.3,0.4"] * 8)
    write_lines(ann / "Train_Set" / "duo_right.txt", ["valence,arousal"] + ["-0.3,-0.4"] * 8)
    write_lines(ann / "Validation_Set" / "v3.txt", ["valence,arousal"] + ["-0.1,0.9"] * 9)
    return root


def make_afewva(root: Path, clips: dict[str, int], size=(40, 30)) -> Path:
    for c, (clip, n) in enumerate(clips.items()):
        d = root / clip
        d.mkdir(parents=True, exist_ok=True)
        frames = {}
        for i in range(n):
            img = np.full((size[1], size[0], 3), (20 * i + 10 * c) % 256, np.uint8)
            cv2.imwrite(str(d / f"{i:05d}.png"), img)
            if i == 1:
                continue  # one frame without annotation
            pts = [[float(j + i), float(2 * j)] for j in range(68)]
            frames[f"{i:05d}"] = {
                "valence": (i % 21) - 10,
                "arousal": 10 - (i % 21),
                "landmarks": pts,
            }
        (d / f"{clip}.json").write_text(json.dumps({"actor": "x", "frames": frames}))
    return root
