"""Which videos a ``predict`` call means, and where each one's outputs go.

Videos: each argument is a video file (any name: the decoder decides), a folder (every file
with a video suffix under it, recursively, sorted), or a glob (``clips/*.mp4``,
``data/**/*.avi``; files with a video suffix and folders it matches).

Outputs (``--out`` and ``--overlay`` follow the same rule):

* a pattern holding ``{stem}``: one file per video, ``{stem}`` replaced by the video's file
  name without suffix (``preds/{stem}.parquet``);
* a file name with the kind's suffix (``preds.csv``): only with a single video;
* anything else is a folder: ``<folder>/<stem><default suffix>`` per video.

Two videos that would write the same output file are refused before anything runs.
"""

from __future__ import annotations

import glob
from pathlib import Path

from pipeline.errors import InputError
from pipeline.video.reader import VIDEO_SUFFIXES

TABLE_SUFFIXES = (".csv", ".parquet")
OVERLAY_SUFFIXES = (".mp4", ".avi")


def _videos_under(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
    )


def expand_videos(args: list[str] | tuple[str, ...]) -> list[Path]:
    """Video files named by ``args`` (files, folders, globs), in order, without repeats."""
    out: list[Path] = []
    for arg in args:
        path = Path(arg)
        if any(c in arg for c in "*?[") and not path.exists():
            matches = [Path(m) for m in sorted(glob.glob(arg, recursive=True))]
            found = [m for m in matches if m.is_file() and m.suffix.lower() in VIDEO_SUFFIXES]
            for m in matches:
                if m.is_dir():
                    found += _videos_under(m)
            if not found:
                raise InputError(f"{arg}: the pattern matches no video file")
            out += found
        elif path.is_dir():
            found = _videos_under(path)
            if not found:
                raise InputError(
                    f"{path}: folder holds no video file (looked for {', '.join(VIDEO_SUFFIXES)})"
                )
            out += found
        elif path.is_file():
            out.append(path)
        else:
            raise InputError(f"{arg}: no such file or folder")
    seen: set[Path] = set()
    unique = []
    for p in out:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def output_paths(
    videos: list[Path], out: str, suffixes: tuple[str, ...], option: str
) -> list[Path]:
    """One output path per video from ``out`` (see the module docstring); ``suffixes[0]`` is
    the default when ``out`` is a folder."""
    if "{stem}" in out:
        paths = [Path(out.replace("{stem}", v.stem)) for v in videos]
        bad = [p for p in paths[:1] if p.suffix.lower() not in suffixes]
        if bad:
            raise InputError(f"{option} {out}: expected a name ending in {' or '.join(suffixes)}")
    elif Path(out).suffix.lower() in suffixes:
        if len(videos) > 1:
            raise InputError(
                f"{option} {out} names one file, but {len(videos)} videos are given: pass a "
                f"folder or a pattern with {{stem}} (e.g. {option} preds/{{stem}}{suffixes[0]})"
            )
        paths = [Path(out)]
    elif Path(out).suffix and not Path(out).is_dir():
        raise InputError(
            f"{option} {out}: unknown file type {Path(out).suffix!r} "
            f"(expected {' or '.join(suffixes)}, or a folder)"
        )
    else:
        paths = [Path(out) / f"{v.stem}{suffixes[0]}" for v in videos]
    seen: dict[Path, Path] = {}
    for v, p in zip(videos, paths, strict=True):
        if p.resolve() in seen:
            raise InputError(
                f"{seen[p.resolve()]} and {v} would both write {p} (same file name): "
                f"predict them in separate calls or with different {option} folders"
            )
        seen[p.resolve()] = v
    return paths
