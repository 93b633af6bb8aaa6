"""Aff-Wild (Kollias et al. 2017): the layout the data set ships in.

::

    <root>/videos/{train,test}/<id>.{mp4,avi}
    <root>/annotations/{train,test}/valence/<id>.txt   one float per line in [-1, 1],
    <root>/annotations/{train,test}/arousal/<id>.txt   line i = frame i, no header

Every video must have both label files and every label file a video. The labels are the mean
of several annotators. Where each annotator's own trace ships too (the demo renders them;
the public Aff-Wild release has only the mean), it lies beside the mean, one folder per video,
one file per annotator in the same format (``data.annotator`` reads them)::

    <root>/annotations/{train,test}/individual/{valence,arousal}/<id>/<j>.txt
"""

from __future__ import annotations

from pathlib import Path

from pipeline.datasets.base import (
    Annotations,
    DataFormat,
    Entry,
    ScanResult,
    find_duplicate_ids,
)
from pipeline.datasets.errors import Problem
from pipeline.datasets.labels import read_value_file
from pipeline.registry import DATA_FORMATS
from pipeline.video.reader import VIDEO_SUFFIXES

SPLITS = ("train", "test")
DIMENSIONS = ("valence", "arousal")
INDIVIDUAL = "individual"  # annotations/<split>/individual/<dim>/<id>/<j>.txt


def scan_affwild(root: str | Path) -> ScanResult:
    root = Path(root)
    result = ScanResult()
    if not (root / "videos").is_dir() or not (root / "annotations").is_dir():
        result.problems.append(
            Problem("", str(root), "not an Aff-Wild folder: expected videos/ and annotations/")
        )
        return result

    for split in SPLITS:
        videos, labels = _split_files(root, split)
        ids = sorted(set(videos) | set(labels["valence"]) | set(labels["arousal"]))
        for vid in ids:
            entry = _read_video(root, split, vid, videos.get(vid, []), labels, result.problems)
            if entry is not None:
                result.entries.append(entry)
    result.problems.extend(find_duplicate_ids(result.entries))
    return result


def _split_files(root: Path, split: str):
    """(video id -> its video files, dimension -> video id -> label file) of one split."""
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
    return videos, labels


def _read_video(
    root: Path, split: str, vid: str, files: list[Path], labels: dict, problems: list[Problem]
) -> Entry | None:
    """One video's entry, or None with its problem: no video, two videos, missing or
    unreadable labels, valence and arousal of different lengths."""
    if not files:
        where = labels["valence"].get(vid) or labels["arousal"][vid]
        vdir = root / "videos" / split
        problems.append(Problem(vid, str(where), f"label file has no video in {vdir}"))
        return None
    if len(files) > 1:
        where = ", ".join(map(str, files))
        problems.append(Problem(vid, where, f"duplicate video id {vid!r} ({len(files)} files)"))
        return None
    missing = [d for d in DIMENSIONS if vid not in labels[d]]
    if missing:
        expected = [str(root / "annotations" / split / d / f"{vid}.txt") for d in missing]
        problems.append(
            Problem(vid, str(files[0]), f"video has no labels (missing {', '.join(expected)})")
        )
        return None
    values = [read_value_file(labels[d][vid], vid, problems) for d in DIMENSIONS]
    if any(v is None for v in values):
        return None
    valence, arousal = values
    vpath, apath = labels["valence"][vid], labels["arousal"][vid]
    if len(valence) != len(arousal):
        problems.append(
            Problem(
                vid,
                str(apath),
                f"{len(arousal)} arousal lines but {len(valence)} valence lines in {vpath}",
            )
        )
        return None
    return Entry(vid, "affwild", files[0], str(vpath), valence, arousal, split=split)


def annotator_dirs(entry: Entry) -> dict[str, Path]:
    """Where an entry's per-annotator files lie, per dimension (beside its mean's folder)."""
    split_dir = Path(entry.label_path).parent.parent  # annotations/<split>
    return {d: split_dir / INDIVIDUAL / d / entry.video_id for d in DIMENSIONS}


def _by_name(path: Path) -> tuple:
    """Annotator files in natural order: 2.txt before 10.txt."""
    return (0, int(path.stem), "") if path.stem.isdigit() else (1, 0, path.stem)


def read_annotators(entry: Entry, problems: list[Problem]) -> Annotations | None:
    """Each annotator's (valence, arousal) of an entry: {} where none ship; None (problems
    added) where a file is bad, one dimension lacks it, or its length is not the mean's."""
    dirs = annotator_dirs(entry)
    files = {d: {p.stem: p for p in sorted(dirs[d].glob("*.txt"), key=_by_name)} for d in dirs}
    names = list(dict.fromkeys([*files["valence"], *files["arousal"]]))
    before, out = len(problems), {}
    for name in names:
        have = [d for d in DIMENSIONS if name in files[d]]
        if len(have) < len(DIMENSIONS):
            missing = next(d for d in DIMENSIONS if d not in have)
            problems.append(
                Problem(
                    entry.video_id,
                    str(files[have[0]][name]),
                    f"annotator {name} has no {missing} file {dirs[missing] / (name + '.txt')}",
                )
            )
            continue
        values = [read_value_file(files[d][name], entry.video_id, problems) for d in DIMENSIONS]
        for d, v in zip(DIMENSIONS, values, strict=True):
            if v is not None and len(v) != len(entry.valence):
                problems.append(
                    Problem(
                        entry.video_id,
                        str(files[d][name]),
                        f"{len(v)} lines but the mean's label file {entry.label_path} has "
                        f"{len(entry.valence)}",
                    )
                )
        out[name] = (values[0], values[1])
    return out if len(problems) == before else None


def _scan(root: Path, split_cfg) -> ScanResult:
    return scan_affwild(root)


DATA_FORMATS.register(
    "affwild",
    DataFormat(_scan, read_annotators),
    "Aff-Wild: videos/ and annotations/ (valence/ + arousal/ per video)",
)
