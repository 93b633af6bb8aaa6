"""What a data-set reader produces: one :class:`Entry` per labelled subject of a video.

A data-set layout is a :class:`DataFormat` registered by name in
:data:`pipeline.registry.DATA_FORMATS` (``data.format`` in params.yaml, ``--format`` of
``affwild check-data``): the built-ins register at the end of their reader modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.datasets.errors import Problem


@dataclass
class Entry:
    """A labelled subject in a video (or frame folder), before its video has been probed."""

    video_id: str
    dataset: str
    source: Path  # video file, or frame folder
    label_path: str  # where the labels came from, for messages
    valence: np.ndarray  # float32, one value per labelled frame, NaN = not annotated
    arousal: np.ndarray
    split: str = ""  # train | val | test; "" until splits are assigned
    subject: str = ""  # "" | left | right
    # Frames and values shared by several entries of one recording (Aff-Wild2 left/right) must
    # stay in one split: ``group`` names the recording.
    group: str = ""
    landmarks: np.ndarray | None = None  # (n, 136) float32 shipped with the data (AFEW-VA)
    # Frame folders know their frame count without decoding (AFEW-VA).
    known_frames: int | None = None

    def __post_init__(self) -> None:
        self.group = self.group or self.video_id


@dataclass
class ScanResult:
    """Entries found in a data set folder, and every problem met on the way."""

    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # Things that are fine but worth telling (e.g. Aff-Wild2 videos of other challenge tracks).
    notes: list[str] = field(default_factory=list)


def find_duplicate_ids(entries: list[Entry]) -> list[Problem]:
    """A problem for every video id that more than one entry claims."""
    seen: dict[str, list[Entry]] = {}
    for e in entries:
        seen.setdefault(e.video_id, []).append(e)
    problems = []
    for vid, same in seen.items():
        if len(same) > 1:
            where = ", ".join(sorted({str(e.source) for e in same} | {e.label_path for e in same}))
            problems.append(
                Problem(vid, where, f"duplicate video id {vid!r} ({len(same)} entries)")
            )
    return problems


# Annotator name -> (valence, arousal), each as long as the entry's (mean) labels.
Annotations = dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class DataFormat:
    """One data-set layout: ``scan(root, split_cfg)`` reads its folder (no video decoded)."""

    # (data set folder, the `split` section) -> entries and problems
    scan: Callable[[Path, Any], ScanResult]
    # (entry, problems) -> each annotator's labels of the entry ({} where it has none; None
    # with the problems added where a file is bad); None: the layout ships only the mean.
    annotators: Callable[[Entry, list[Problem]], Annotations | None] | None = None
