"""Aff-Wild (Kollias et al. 2017): the layout the data set ships in.

::

    <root>/videos/{train,test}/<id>.{mp4,avi}
    <root>/annotations/{train,test}/valence/<id>.txt   one float per line in [-1, 1],
    <root>/annotations/{train,test}/arousal/<id>.txt   line i = frame i, no header

Every video must have both label files and every label file a video.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.datasets.base import DataFormat, Entry, ScanResult, find_duplicate_ids
from pipeline.datasets.errors import Problem
from pipeline.datasets.labels import read_value_file
from pipeline.registry import DATA_FORMATS
from pipeline.video.reader import VIDEO_SUFFIXES

SPLITS = ("train", "test")
DIMENSIONS = ("valence", "arousal")


def scan_affwild(root: str | Path) -> ScanResult:
    root = Path(root)
    result = ScanResult()
    if not (root / "videos").is_dir() or not (root / "annotations").is_dir():
        result.problems.append(
            Problem("", str(root), "not an Aff-Wild folder: expected videos/ and annotations/")
        )
        return result

    for split in SPLITS:
        videos: dict[str, list[Path]] = {}
        vdir = root / "videos" / split
        if vdir.is_dir():
            for p in sorted(vdir.iterdir()):
                if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES:
                    videos.setdefault(p.stem, []).append(p)
        labels = {
            dim: {p.stem: p for p in sorted((root / "annotations" / split / dim).glob("*.txt"))}
            for dim in DIMENSIONS
        }
        ids = sorted(set(videos) | set(labels["valence"]) | set(labels["arousal"]))
        for vid in ids:
            files = videos.get(vid, [])
            missing = [d for d in DIMENSIONS if vid not in labels[d]]
            if not files:
                where = labels["valence"].get(vid) or labels["arousal"][vid]
                result.problems.append(
                    Problem(vid, str(where), f"label file has no video in {vdir}")
                )
                continue
            if len(files) > 1:
                result.problems.append(
                    Problem(
                        vid,
                        ", ".join(map(str, files)),
                        f"duplicate video id {vid!r} ({len(files)} files)",
                    )
                )
                continue
            if missing:
                expected = [str(root / "annotations" / split / d / f"{vid}.txt") for d in missing]
                result.problems.append(
                    Problem(
                        vid, str(files[0]), f"video has no labels (missing {', '.join(expected)})"
                    )
                )
                continue
            values = [read_value_file(labels[d][vid], vid, result.problems) for d in DIMENSIONS]
            if any(v is None for v in values):
                continue
            valence, arousal = values
            vpath, apath = labels["valence"][vid], labels["arousal"][vid]
            if len(valence) != len(arousal):
                result.problems.append(
                    Problem(
                        vid,
                        str(apath),
                        f"{len(arousal)} arousal lines but {len(valence)} valence lines in {vpath}",
                    )
                )
                continue
            result.entries.append(
                Entry(vid, "affwild", files[0], str(vpath), valence, arousal, split=split)
            )
    result.problems.extend(find_duplicate_ids(result.entries))
    return result


def _scan(root: Path, split_cfg) -> ScanResult:
    return scan_affwild(root)


DATA_FORMATS.register(
    "affwild",
    DataFormat(_scan),
    "Aff-Wild: videos/ and annotations/ (valence/ + arousal/ per video)",
)
