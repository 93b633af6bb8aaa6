"""The ``ingest`` stage's core: a data set folder → manifest, labels and a report.

1. the format's reader scans the folder (every label file parsed, every problem collected);
2. every video is probed (decoded once) for its frame rate, size and true frame count;
3. label counts are checked against decoded frame counts (``ingest.length_mismatch``);
   with ``data.annotator`` set, each non-test video's annotator files are read and checked
   (:mod:`pipeline.datasets.annotators`);
4. splits are assigned by video; training and validation videos take the chosen annotator's
   labels, test videos keep the mean;
5. problems either stop everything, listed together (``on_error: fail``), or their videos are
   left out and listed in the report (``on_error: skip``).

Nothing here writes files: :func:`ingest` returns tables and the stage writes them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from pipeline.artifacts import IngestReport
from pipeline.config import DataConfig, IngestConfig, SplitConfig
from pipeline.contracts.schema import LABELS, MANIFEST, SOURCE_LANDMARKS, SPLITS
from pipeline.datasets import afewva, affwild, affwild2  # noqa: F401 - register the formats
from pipeline.datasets.annotators import apply_choices, read_choices
from pipeline.datasets.base import Entry, ScanResult
from pipeline.datasets.errors import DataSetError, Problem
from pipeline.datasets.split import assign_splits
from pipeline.parallel import map_ordered
from pipeline.registry import DATA_FORMATS
from pipeline.video.reader import VideoError, VideoInfo, probe


@dataclass
class IngestResult:
    manifest: pa.Table
    labels: pa.Table
    source_landmarks: pa.Table
    report: IngestReport


def scan(root: str | Path, fmt: str, split_cfg: SplitConfig) -> ScanResult:
    """Read a data set folder in the given layout (no video is decoded here)."""
    reader = DATA_FORMATS.get(fmt)
    if not Path(root).is_dir():
        raise DataSetError([Problem("", str(root), "data set folder does not exist")])
    return reader.scan(root, split_cfg)


def _probe(args: tuple[str, float]) -> VideoInfo | str:
    source, fps = args
    try:
        return probe(source, default_fps=fps)
    except VideoError as exc:
        return str(exc)


def probe_sources(sources: list[Path], fps: float, n_jobs: int) -> dict[Path, VideoInfo | str]:
    """Probe each distinct source once, in parallel; a string result is the error message."""
    unique = sorted(set(sources))
    jobs = [(str(s), fps) for s in unique]
    bar = dict(desc="probe videos", unit="video", disable=None)
    results = map_ordered(_probe, jobs, n_jobs, progress=bar)
    return dict(zip(unique, results, strict=True))


def ingest(
    data: DataConfig, split_cfg: SplitConfig, cfg: IngestConfig, n_jobs: int = 1
) -> IngestResult:
    """Scan, probe (in ``n_jobs`` processes), check and split a data set; raise
    :class:`DataSetError` on problems unless ``cfg.on_error == "skip"``."""
    found = scan(data.root, data.format, split_cfg)
    problems = list(found.problems)
    entries = found.entries

    infos = probe_sources([e.source for e in entries], data.fps, n_jobs)
    truncated, warnings = _check_lengths(entries, infos, cfg, problems)
    chosen = _annotator_labels(data, entries, problems)
    bad = {p.video_id for p in problems}
    if problems and (cfg.on_error == "fail" or "" in bad):
        # A problem that belongs to no video (e.g. the folder is not the format) cannot be
        # skipped.
        raise DataSetError(problems, root=data.root)
    kept = [e for e in entries if e.video_id not in bad]
    if not kept:
        raise DataSetError(
            problems or [Problem("", data.root, f"no labelled video found ({data.format} layout)")],
            root=data.root,
        )
    assign_splits(kept, split_cfg)
    kept.sort(key=lambda e: (SPLITS.index(e.split), e.video_id))
    used = apply_choices(kept, chosen)

    manifest, labels, landmarks = _tables(kept, infos)
    report = _report(data, kept, problems, truncated, warnings, found.notes, labels)
    report = report.model_copy(update={"annotator": _label_source(data), "annotators": used})
    return IngestResult(manifest, labels, landmarks, report)


def _check_lengths(entries: list[Entry], infos: dict, cfg: IngestConfig, problems: list[Problem]):
    """Each entry's label count against its video's decoded frames: problems added, and the
    truncated videos and warnings returned."""
    truncated, warnings = [], []
    for e in entries:
        info = infos[e.source]
        if isinstance(info, str):
            problems.append(Problem(e.video_id, str(e.source), info.split(": ", 1)[-1]))
            continue
        if info.declared_frames > 0 and info.declared_frames != info.n_frames:
            warnings.append(
                f"{e.source}: container declares {info.declared_frames} frames, "
                f"{info.n_frames} decode (using {info.n_frames})"
            )
        n_labels = len(e.valence)
        if n_labels != info.n_frames:
            if cfg.length_mismatch == "error":
                problems.append(
                    Problem(
                        e.video_id,
                        e.label_path,
                        f"{n_labels} labelled frames but the video {e.source} decodes "
                        f"{info.n_frames} frames (ingest.length_mismatch: truncate keeps the "
                        "shorter)",
                    )
                )
                continue
            truncated.append(
                {
                    "video_id": e.video_id,
                    "labels": n_labels,
                    "frames": info.n_frames,
                    "kept": min(n_labels, info.n_frames),
                }
            )
    return truncated, warnings


def _label_source(data: DataConfig) -> str:
    return "mean" if data.annotator is None else str(data.annotator)


def _annotator_labels(data: DataConfig, entries: list[Entry], problems: list[Problem]) -> dict:
    """``data.annotator``'s labels of the non-test entries (:mod:`.annotators`); {} for the
    mean. A layout that ships no per-annotator labels is one problem of the whole set."""
    if data.annotator is None:
        return {}
    fmt = DATA_FORMATS.get(data.format)
    if fmt.annotators is None:
        problems.append(
            Problem(
                "",
                str(data.root),
                f"data.annotator: {data.annotator}, but the {data.format} layout ships no "
                "per-annotator labels, only their mean (data.annotator: null reads it)",
            )
        )
        return {}
    return read_choices(entries, fmt, data.annotator, problems)


def _tables(entries: list[Entry], infos: dict[Path, VideoInfo]):
    rows = {name: [] for name in MANIFEST.names}
    vids, frames, vals, aros = [], [], [], []
    lm_vids, lm_frames, lm_values = [], [], []
    for e in entries:
        info = infos[e.source]
        n = min(len(e.valence), info.n_frames)
        for name, value in (
            ("video_id", e.video_id),
            ("dataset", e.dataset),
            ("split", e.split),
            ("source", str(e.source)),
            ("fps", info.fps),
            ("n_frames", n),
            ("width", info.width),
            ("height", info.height),
            ("subject", e.subject),
        ):
            rows[name].append(value)
        vids.append(np.full(n, e.video_id, dtype=object))
        frames.append(np.arange(n, dtype=np.int32))
        vals.append(e.valence[:n])
        aros.append(e.arousal[:n])
        if e.landmarks is not None:
            have = np.flatnonzero(np.isfinite(e.landmarks[:n]).all(axis=1))
            lm_vids.append(np.full(len(have), e.video_id, dtype=object))
            lm_frames.append(have.astype(np.int32))
            lm_values.append(e.landmarks[have])

    manifest = pa.Table.from_pydict(rows, schema=MANIFEST)
    labels = pa.Table.from_arrays(
        [
            pa.array(np.concatenate(vids), pa.string()),
            pa.array(np.concatenate(frames)),
            pa.array(np.concatenate(vals)),
            pa.array(np.concatenate(aros)),
        ],
        schema=LABELS,
    )
    if lm_vids:
        flat = np.concatenate(lm_values).astype(np.float32)
        lm_col = pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), flat.shape[1])
        landmarks = pa.Table.from_arrays(
            [
                pa.array(np.concatenate(lm_vids), pa.string()),
                pa.array(np.concatenate(lm_frames)),
                lm_col,
            ],
            schema=SOURCE_LANDMARKS,
        )
    else:
        landmarks = SOURCE_LANDMARKS.empty_table()
    return manifest, labels, landmarks


def _report(data, entries, problems, truncated, warnings, notes, labels) -> IngestReport:
    skipped: dict[str, list[str]] = {}
    for p in problems:
        skipped.setdefault(p.video_id, []).append(str(p))
    valence = labels.column("valence").to_numpy(zero_copy_only=False)
    arousal = labels.column("arousal").to_numpy(zero_copy_only=False)
    per_split = {}
    split_of = {e.video_id: e.split for e in entries}
    video_col = labels.column("video_id").to_pylist()
    splits = np.array([split_of[v] for v in video_col]) if video_col else np.array([])
    for s in SPLITS:
        in_split = splits == s
        annotated = in_split & np.isfinite(valence) & np.isfinite(arousal)
        v, a = valence[annotated], arousal[annotated]
        per_split[s] = {
            "videos": sum(1 for e in entries if e.split == s),
            "frames": int(in_split.sum()),
            "annotated_frames": int(annotated.sum()),
            "quadrants": _quadrants(v, a),
        }
    return IngestReport(
        format=data.format,
        root=str(data.root),
        splits=per_split,
        skipped=[{"video_id": k, "problems": v} for k, v in sorted(skipped.items())],
        truncated=truncated,
        warnings=warnings,
        notes=notes,
        datasets=dict(Counter(e.dataset for e in entries)),
    )


def _quadrants(v: np.ndarray, a: np.ndarray) -> dict[str, float]:
    """Shares of annotated frames per valence-arousal quadrant (0 counts as positive)."""
    n = max(len(v), 1)
    return {
        "V+A+": round(float(((v >= 0) & (a >= 0)).sum() / n), 4),
        "V-A+": round(float(((v < 0) & (a >= 0)).sum() / n), 4),
        "V+A-": round(float(((v >= 0) & (a < 0)).sum() / n), 4),
        "V-A-": round(float(((v < 0) & (a < 0)).sum() / n), 4),
    }
