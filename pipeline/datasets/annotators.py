"""Training on one annotator instead of the mean (the paper's Table 6): ``data.annotator``.

A data set's label is the mean of several annotators. Where a layout ships each annotator's
trace beside it (:attr:`pipeline.datasets.base.DataFormat.annotators`; Aff-Wild's
``annotations/<split>/individual/``, which the demo writes), ``data.annotator`` chooses what
the **training and validation** videos are labelled with:

- ``null``: the mean, as shipped;
- ``best`` (**our rule**): per video, the annotator whose trace agrees best with the mean of
  the video's *other* annotators (CCC, valence and arousal averaged; ties: the first in file
  order). The paper chose "the one with the highest correlation to the landmarks"; landmarks
  come after ``ingest`` in this DAG, and the paper says neither which correlation nor of
  which landmark signal, so this rule picks the most representative annotator instead of the
  one whose trace follows the face's motion most closely;
- ``k`` (1, 2, ...): annotator ``k`` of every video (a video's numbering is its own: annotator
  1 of one video need not be annotator 1 of another).

The **test** split always keeps the mean — its annotator files are not even read — so a model
trained on one annotator and one trained on the mean are scored against the same labels
(``evaluate`` reads the test labels from ``labels.parquet``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.datasets.base import Annotations, DataFormat, Entry
from pipeline.datasets.errors import Problem
from pipeline.registry import DATA_FORMATS


def agreement(annotations: Annotations) -> dict[str, float]:
    """Per annotator, the CCC (valence and arousal averaged) of their trace with the mean of
    the others' (NaN frames ignored); a lone annotator agrees perfectly (1)."""
    from pipeline.evaluation.metrics import ccc

    names = list(annotations)
    if len(names) == 1:
        return {names[0]: 1.0}
    stack = np.stack([np.stack(annotations[n], axis=1) for n in names])  # (k, frames, 2)
    total = stack.sum(axis=0)
    out = {}
    for j, name in enumerate(names):
        others = (total - stack[j]) / (len(names) - 1)
        out[name] = float(np.mean([ccc(others[:, d], stack[j, :, d]) for d in range(2)]))
    return out


def best_annotator(annotations: Annotations) -> str:
    """Our rule for "one annotator": the one who agrees best with the mean of the others."""
    scores = agreement(annotations)
    return max(scores, key=lambda name: np.nan_to_num(scores[name], nan=-np.inf))


def read_choices(
    entries: list[Entry], fmt: DataFormat, choice: str | int, problems: list[Problem]
) -> dict[str, tuple[str, np.ndarray, np.ndarray]]:
    """Video id → (annotator, valence, arousal) ``choice`` picks, for every entry not in the
    test split; problems added for a video without annotator files, a bad file or no
    annotator ``choice``."""
    out = {}
    for e in entries:
        if e.split == "test":
            continue
        found = fmt.annotators(e, problems)
        if found is None:
            continue
        if not found:
            problems.append(
                Problem(
                    e.video_id,
                    e.label_path,
                    f"no per-annotator labels ship for this video (data.annotator: {choice})",
                )
            )
            continue
        name = best_annotator(found) if choice == "best" else str(choice)
        if name not in found:
            problems.append(
                Problem(
                    e.video_id,
                    e.label_path,
                    f"no annotator {name} (this video has {', '.join(found)})",
                )
            )
            continue
        out[e.video_id] = (name, *found[name])
    return out


def apply_choices(
    entries: list[Entry], chosen: dict[str, tuple[str, np.ndarray, np.ndarray]]
) -> dict[str, str]:
    """Relabel the training and validation entries with their chosen annotator (the test
    split keeps the mean); video id → annotator used."""
    used = {}
    for e in entries:
        if e.split != "test" and e.video_id in chosen:
            used[e.video_id], e.valence, e.arousal = chosen[e.video_id]
    return used


def missing_annotators(root: str | Path, format_name: str, split_cfg) -> str | None:
    """Why the data set at ``root`` cannot train on one annotator (its layout ships no
    per-annotator labels, the folder is not here, its first training video has none), or
    None where it can. Reads the label files, decodes no video."""
    fmt = DATA_FORMATS.get(format_name)
    if fmt.annotators is None:
        return f"the {format_name} layout ships no per-annotator labels, only their mean"
    if not Path(root).is_dir():
        return (
            f"data.root {root} is not here, so whether it carries per-annotator labels is "
            "unknown (the demo: `dvc repro demo` first)"
        )
    for e in fmt.scan(Path(root), split_cfg).entries:
        if e.split != "test":
            problems: list[Problem] = []
            if fmt.annotators(e, problems) or problems:
                return None
            return f"{root} carries no per-annotator labels (none for {e.video_id})"
    return f"{root} has no training video"
