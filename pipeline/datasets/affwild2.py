"""Aff-Wild2, valence-arousal track (ABAW): the layout the data set ships in.

::

    <root>/videos/**/<name>.{mp4,avi}       anywhere below videos/ (often batch1/, batch2/)
    <root>/annotations/VA_Estimation_Challenge/{Train_Set,Validation_Set}/<id>.txt
        header "valence,arousal", then "v,a" per frame; -5 = frame not annotated

``<name>_left.txt`` / ``<name>_right.txt`` label the left / right person of video ``<name>``:
two entries (video ids ``<name>_left`` and ``<name>_right``) over one video file.

Aff-Wild2's videos serve several challenge tracks, so a video without VA labels is normal
here; such videos are counted in the report, not treated as errors.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.datasets.base import DataFormat, Entry, ScanResult, find_duplicate_ids
from pipeline.datasets.errors import Problem
from pipeline.datasets.labels import read_affwild2_file
from pipeline.registry import DATA_FORMATS
from pipeline.video.reader import VIDEO_SUFFIXES

ANNOTATIONS = Path("annotations") / "VA_Estimation_Challenge"
# Folder name -> split. A Test_Set with labels (not public for the challenge) is read if present.
SETS = {"Train_Set": "train", "Validation_Set": "val", "Test_Set": "test"}
SUBJECT_SUFFIXES = ("_left", "_right")


def scan_affwild2(root: str | Path, validation_split: str = "val") -> ScanResult:
    root = Path(root)
    result = ScanResult()
    ann = root / ANNOTATIONS
    if not (root / "videos").is_dir() or not ann.is_dir():
        result.problems.append(
            Problem("", str(root), f"not an Aff-Wild2 folder: expected videos/ and {ANNOTATIONS}/")
        )
        return result

    videos = _videos(root, result.problems)
    used: set[str] = set()
    for folder, split in SETS.items():
        if split == "val":
            split = validation_split
        for label in sorted((ann / folder).glob("*.txt")):
            entry = _read_label(label, split, videos, used, result.problems)
            if entry is not None:
                result.entries.append(entry)
    unlabelled = sorted(set(videos) - used)
    if unlabelled:
        result.notes.append(
            f"{len(unlabelled)} video(s) have no VA labels (other challenge tracks) and are not "
            f"used: {', '.join(unlabelled[:10])}{' ...' if len(unlabelled) > 10 else ''}"
        )
    result.problems.extend(find_duplicate_ids(result.entries))
    return result


def _videos(root: Path, problems: list[Problem]) -> dict[str, list[Path]]:
    """Video name -> its files anywhere under videos/ (a name with two files is a problem)."""
    videos: dict[str, list[Path]] = {}
    for p in sorted((root / "videos").rglob("*")):
        if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES:
            videos.setdefault(p.stem, []).append(p)
    for name, files in videos.items():
        if len(files) > 1:
            problems.append(
                Problem(name, ", ".join(map(str, files)), f"duplicate video name {name!r}")
            )
    return videos


def _read_label(
    label: Path, split: str, videos: dict[str, list[Path]], used: set[str], problems
) -> Entry | None:
    """The entry of one label file (``<name>_left`` / ``_right``: that subject of video
    ``<name>``); adds its video's name to ``used``."""
    vid = label.stem
    name, subject = vid, ""
    for suffix in SUBJECT_SUFFIXES:
        if vid.endswith(suffix) and vid not in videos:
            name, subject = vid[: -len(suffix)], suffix[1:]
    files = videos.get(name)
    if not files:
        problems.append(Problem(vid, str(label), f"label file has no video {name}.* under videos/"))
        return None
    used.add(name)
    if len(files) > 1:
        return None  # reported with the videos
    values = read_affwild2_file(label, vid, problems)
    if values is None:
        return None
    return Entry(
        vid,
        "affwild2",
        files[0],
        str(label),
        values[0],
        values[1],
        split=split,
        subject=subject,
        group=name,
    )


def _scan(root: Path, split_cfg) -> ScanResult:
    return scan_affwild2(root, split_cfg.affwild2_validation)


DATA_FORMATS.register(
    "affwild2",
    DataFormat(_scan),
    "Aff-Wild2 (ABAW VA track): videos and VA_Estimation_Challenge label files",
)
