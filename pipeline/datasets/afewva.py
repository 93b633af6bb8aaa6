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
    before = len(problems)
    _check_sequence(vid, frames, problems)
    table = _label_table(vid, meta, problems)
    if table is None:
        return None
    va, landmarks = _parse_frames(vid, meta, table, len(frames), problems)
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
        known_frames=len(frames),
    )


def _check_sequence(vid: str, frames: list[Path], problems: list[Problem]) -> None:
    """Frames must be numbered 0..n-1 with no gap: frame i of the labels is image i."""
    for i, f in enumerate(frames):
        if not f.stem.isdigit() or int(f.stem) != i:
            problems.append(
                Problem(vid, str(f), f"frame file out of sequence, expected {i:05d}{f.suffix}")
            )
            break


def _label_table(vid: str, meta: Path, problems: list[Problem]) -> dict | None:
    """The label file's ``frames`` object; None (and a problem) where it is not one."""
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
        table = data["frames"]
        if not isinstance(table, dict):
            raise TypeError("'frames' is not an object")
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        problems.append(Problem(vid, str(meta), f"not an AFEW-VA label file: {exc}"))
        return None
    return table


def _parse_frames(vid: str, meta: Path, table: dict, n: int, problems: list[Problem]):
    """(valence/arousal (2, n) in [-1, 1], landmarks (n, 136)), NaN where a frame has none;
    every bad value is a problem naming the file and frame."""
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
        rec = rec if isinstance(rec, dict) else {}
        for d, dim in enumerate(("valence", "arousal")):
            va[d, i] = _label_value(vid, where, dim, rec.get(dim), problems)
        pts = rec.get("landmarks")
        if pts is not None:
            arr = np.asarray(pts, dtype=np.float32) if _is_points(pts) else None
            if arr is None:
                problems.append(Problem(vid, where, f"landmarks are not {N_POINTS} [x, y] pairs"))
            else:
                landmarks[i] = arr.reshape(-1)
    return va, landmarks


def _label_value(vid: str, where: str, dim: str, v, problems: list[Problem]) -> float:
    """An integer label in [-10, 10] scaled to [-1, 1]; NaN (and a problem) otherwise."""
    if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
        problems.append(Problem(vid, where, f"{dim} {v!r} is not a number"))
    elif not -SCALE <= v <= SCALE:
        problems.append(Problem(vid, where, f"{dim} {v:g} outside [-10, 10]"))
    elif v != int(v):
        problems.append(Problem(vid, where, f"{dim} {v:g} is not an integer in [-10, 10]"))
    else:
        return v / SCALE
    return np.nan


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
