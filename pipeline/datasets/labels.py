"""Parsing per-frame valence/arousal label files, with every bad line reported.

Each parser returns the values (float32, NaN where a frame is not annotated) and the list of
problems found; it never raises on bad content, so that a whole data set can be checked in
one pass and all problems listed together.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pipeline.datasets.errors import Problem

# Aff-Wild2 marks frames that were not annotated with -5.
AFFWILD2_UNANNOTATED = -5.0


def _lines(path: Path, video_id: str, problems: list[Problem]) -> list[str] | None:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(Problem(video_id, str(path), f"not a UTF-8 text file ({exc.reason})"))
        return None
    except OSError as exc:
        problems.append(Problem(video_id, str(path), f"cannot be read ({exc.strerror})"))
        return None
    lines = text.splitlines()
    # A file may end with blank lines (an extra newline); blank lines inside it are errors.
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        problems.append(Problem(video_id, str(path), "label file is empty"))
        return None
    return lines


def _number(token: str, path: Path, lineno: int, video_id: str, problems: list[Problem]):
    token = token.strip()
    if not token:
        problems.append(Problem(video_id, str(path), "empty value", line=lineno))
        return None
    try:
        value = float(token)
    except ValueError:
        problems.append(Problem(video_id, str(path), f"{token!r} is not a number", line=lineno))
        return None
    if not math.isfinite(value):
        problems.append(Problem(video_id, str(path), f"{token!r} is not finite", line=lineno))
        return None
    return value


def _check_range(value, lo, hi, path, lineno, video_id, problems, what="value"):
    if value is not None and not lo <= value <= hi:
        problems.append(
            Problem(video_id, str(path), f"{what} {value:g} outside [{lo:g}, {hi:g}]", line=lineno)
        )
        return None
    return value


def read_value_file(
    path: str | Path, video_id: str, problems: list[Problem], lo: float = -1.0, hi: float = 1.0
) -> np.ndarray | None:
    """An Aff-Wild label file: one number per line, line i is frame i, no header."""
    path = Path(path)
    lines = _lines(path, video_id, problems)
    if lines is None:
        return None
    before = len(problems)
    values = np.full(len(lines), np.nan, dtype=np.float32)
    for i, line in enumerate(lines):
        v = _number(line, path, i + 1, video_id, problems)
        v = _check_range(v, lo, hi, path, i + 1, video_id, problems)
        if v is not None:
            values[i] = v
    return values if len(problems) == before else None


def read_affwild2_file(
    path: str | Path, video_id: str, problems: list[Problem]
) -> tuple[np.ndarray, np.ndarray] | None:
    """An Aff-Wild2 VA file: header ``valence,arousal``, then ``v,a`` per frame; -5 = no label."""
    path = Path(path)
    lines = _lines(path, video_id, problems)
    if lines is None:
        return None
    header = [h.strip().lower() for h in lines[0].split(",")]
    if header != ["valence", "arousal"]:
        problems.append(
            Problem(video_id, str(path), f"header {lines[0]!r}, expected 'valence,arousal'", line=1)
        )
        return None
    before = len(problems)
    n = len(lines) - 1
    out = np.full((2, n), np.nan, dtype=np.float32)
    for i, line in enumerate(lines[1:]):
        lineno = i + 2
        fields = line.split(",")
        if len(fields) != 2:
            problems.append(
                Problem(video_id, str(path), f"{line!r}: expected 2 values 'v,a'", line=lineno)
            )
            continue
        for d, (token, what) in enumerate(zip(fields, ("valence", "arousal"), strict=True)):
            v = _number(token, path, lineno, video_id, problems)
            if v is None or v == AFFWILD2_UNANNOTATED:
                continue
            v = _check_range(v, -1.0, 1.0, path, lineno, video_id, problems, what)
            if v is not None:
                out[d, i] = v
    if len(problems) != before:
        return None
    if n == 0:
        problems.append(Problem(video_id, str(path), "label file has a header but no frames"))
        return None
    return out[0], out[1]
