"""AFEW-VA (Kossaifi et al. 2017): frame folders with a JSON file per clip.

::

    <root>/<clip>/<frame:05d>.png
    <root>/<clip>/<clip>.json
        {"frames": {"00000": {"valence": int, "arousal": int,
                              "landmarks": [[x, y] x 68]}, ...}}

Values are integers in [-10, 10], scaled here to [-1, 1]. The 68 landmarks that ship with the
data set are kept (``Entry.landmarks``, source pixels). There are no video files and no
official split: clips are split by the seeded fractions in ``split``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from pipeline.contracts.points68 import N_POINTS, N_VALUES
from pipeline.datasets.base import DataFormat, Entry, ScanResult
from pipeline.datasets.errors import Problem
from pipeline.registry import DATA_FORMATS
from pipeline.video.reader import frame_files

SCALE = 10.0


def scan_afewva(root: str | Path) -> ScanResult:
    root = Path(root)
    result = ScanResult()
    if not root.is_dir():
        result.problems.append(Problem("", str(root), "no such folder"))
        return result
    clips = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for clip in clips:
        entry = _read_clip(clip, result.problems)
        if entry is not None:
            result.entries.append(entry)
    if not clips:
        result.problems.append(Problem("", str(root), "not an AFEW-VA folder: no clip folders"))
    return result


def _read_clip(clip: Path, problems: list[Problem]) -> Entry | None:
    vid = clip.name
    meta = clip / f"{vid}.json"
    frames = frame_files(clip)
    if not meta.is_file():
        if frames:
            problems.append(Problem(vid, str(clip), f"clip has frames but no labels ({meta.name})"))
        return None
    if not frames:
        problems.append(Problem(vid, str(meta), "label file has no frames (no images in its clip)"))
        return None
    # Frames must be numbered 0..n-1 with no gap: frame i of the labels is image i.
    before = len(problems)
    for i, f in enumerate(frames):
        if not f.stem.isdigit() or int(f.stem) != i:
            problems.append(
                Problem(vid, str(f), f"frame file out of sequence, expected {i:05d}{f.suffix}")
            )
            break
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
        table = data["frames"]
        if not isinstance(table, dict):
            raise TypeError("'frames' is not an object")
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        problems.append(Problem(vid, str(meta), f"not an AFEW-VA label file: {exc}"))
        return None

    n = len(frames)
    va = np.full((2, n), np.nan, dtype=np.float32)
    landmarks = np.full((n, N_VALUES), np.nan, dtype=np.float32)
    for key, rec in table.items():
        where = f"{meta} frame {key!r}"
        if not key.isdigit():
            problems.append(Problem(vid, str(meta), f"frame key {key!r} is not a frame number"))
            continue
        i = int(key)
        if i >= n:
            problems.append(
                Problem(vid, str(meta), f"labels frame {i} but the clip has {n} frames", frame=i)
            )
            continue
        for d, dim in enumerate(("valence", "arousal")):
            v = rec.get(dim) if isinstance(rec, dict) else None
            if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
                problems.append(Problem(vid, where, f"{dim} {v!r} is not a number"))
            elif not -SCALE <= v <= SCALE:
                problems.append(Problem(vid, where, f"{dim} {v:g} outside [-10, 10]"))
            elif v != int(v):
                problems.append(Problem(vid, where, f"{dim} {v:g} is not an integer in [-10, 10]"))
            else:
                va[d, i] = v / SCALE
        pts = rec.get("landmarks") if isinstance(rec, dict) else None
        if pts is not None:
            arr = np.asarray(pts, dtype=np.float32) if _is_points(pts) else None
            if arr is None:
                problems.append(Problem(vid, where, f"landmarks are not {N_POINTS} [x, y] pairs"))
            else:
                landmarks[i] = arr.reshape(-1)
    if len(problems) != before:
        return None
    return Entry(
        vid,
        "afewva",
        clip,
        str(meta),
        va[0],
        va[1],
        landmarks=landmarks,
        known_frames=n,
    )


def _is_points(pts) -> bool:
    return (
        isinstance(pts, list)
        and len(pts) == N_POINTS
        and all(
            isinstance(p, list | tuple)
            and len(p) == 2
            and all(isinstance(c, int | float) and not isinstance(c, bool) for c in p)
            for p in pts
        )
    )


def _scan(root: Path, split_cfg) -> ScanResult:
    return scan_afewva(root)


DATA_FORMATS.register(
    "afewva", DataFormat(_scan), "AFEW-VA: frame folders with one JSON of labels and landmarks each"
)
