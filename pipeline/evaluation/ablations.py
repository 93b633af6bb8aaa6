"""The paper's ablations (Tables 4-9) as DVC experiments from a profile, and a report beside
the paper. Table 6 (one annotator vs the mean) needs each annotator's labels beside the mean:
``affwild ablations queue`` queues it only where the data set carries them.

``affwild ablations queue --profile paper`` queues one ``dvc exp run`` per row and training
seed: the profile's keys (:mod:`pipeline.profiles`; ``paper`` by default, ``demo`` for a CPU
run), then ``--set`` extras, then the row's own changes, as ``-S`` overrides of
``params.yaml``; experiment ``<profile>-<row>-s<seed>`` (``--seeds 0,1,2`` by default).
``dvc queue start`` runs them; ``affwild ablations report --profile paper`` reads
``dvc exp show --json`` and writes each table with the measured numbers — mean ± sd over the
seeds found, and the bootstrap 95 % interval over test videos of the mean CCC (the mean of the
seeds' bounds) — next to the paper's. Its header names the profile and lists every setting in
which it differs from ``profiles/paper.yaml``. A difference between two rows smaller than
these spreads is not a finding.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.config import parse_params
from pipeline.evaluation import spread
from pipeline.evaluation.metrics import flat_keys
from pipeline.profiles import (
    compose,
    composed,
    differences,
    profile_overrides,
    profile_path,
    render,
)


@dataclass(frozen=True)
class Row:
    name: str  # experiment name (dvc exp run -n)
    label: str
    overrides: dict[str, str]
    model: str  # which model's metrics the paper's row reports: cnn | cnn_rnn
    paper: tuple[float, float, float | None, float | None]  # CCC V, CCC A, MSE V, MSE A


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    note: str = ""
    # What the data must carry for the table to be queued ("" = nothing special):
    # "annotators" = each annotator's labels beside the mean (the caller checks the data).
    needs: str = ""


def _gru(units: int, layers: int) -> dict[str, str]:
    return {"model.rnn": "gru", "model.rnn_units": str(units), "model.rnn_layers": str(layers)}


PAPER_PROFILE = "paper"
TABLES = [
    Table(
        "4",
        "CNN by pre-trained initialisation (with landmarks, 224 px)",
        [
            Row(
                "t4-vgg-face",
                "VGG-Face",
                {"model.backbone": "vgg_face"},
                "cnn",
                (0.46, 0.35, 0.10, 0.09),
            ),
            Row(
                "t4-vgg16",
                "VGG-16",
                {"model.backbone": "vgg16", "model.init": "imagenet"},
                "cnn",
                (0.40, 0.30, 0.13, 0.11),
            ),
            Row(
                "t4-resnet50",
                "ResNet-50",
                {"model.backbone": "resnet50", "model.init": "imagenet"},
                "cnn",
                (0.33, 0.24, 0.16, 0.13),
            ),
        ],
        "The rows change the backbone (and its initialisation) of the profile's setting. "
        "The VGG-Face row starts from the weights file in model.init (queue with "
        "--set model.init=/path/to/vgg_face.h5); VGG-16 and ResNet-50 from ImageNet (Keras "
        "applications, downloaded). At the paper profile's 224 px they need a GPU.",
    ),
    Table(
        "5",
        "CNN with and without landmarks",
        [
            Row(
                "t5-landmarks",
                "with landmarks",
                {"model.landmarks": "true"},
                "cnn",
                (0.46, 0.35, 0.10, 0.09),
            ),
            Row(
                "t5-no-landmarks",
                "without landmarks",
                {"model.landmarks": "false"},
                "cnn",
                (0.38, 0.31, 0.14, 0.11),
            ),
        ],
    ),
    Table(
        "6",
        "CNN trained on one annotator's labels vs on the mean of the annotators",
        [
            Row(
                "t6-one-annotator",
                "1 annotator",
                {"data.annotator": "best"},
                "cnn",
                (0.35, 0.25, 0.18, 0.14),
            ),
            Row(
                "t6-mean",
                "mean of annotators",
                {"data.annotator": "null"},
                "cnn",
                (0.46, 0.35, 0.10, 0.09),
            ),
        ],
        "The rows change which labels the training and validation videos carry "
        "(data.annotator); the test split is scored against the mean of the annotators in both. "
        "The paper's one annotator is 'the one with the highest correlation to the landmarks'; "
        "ours (best) is, per video, the annotator who agrees best (CCC) with the mean of the "
        "others (docs/datasets.md#one-annotator-or-the-mean). Queued only where the data set "
        "carries each annotator's labels beside the mean (the demo does; the public Aff-Wild "
        "release does not).",
        needs="annotators",
    ),
    Table(
        "7",
        "CNN vs CNN-RNN",
        [
            Row("t7-cnn-rnn", "CNN", {}, "cnn", (0.46, 0.35, 0.10, 0.09)),
            Row("t7-cnn-rnn", "CNN-RNN", {}, "cnn_rnn", (0.57, 0.43, 0.08, 0.06)),
        ],
    ),
    Table(
        "8",
        "CNN-RNN (GRU): hidden units x layers",
        [
            Row(
                f"t8-gru-{u}x{n}",
                f"{u} units, {n} layer{'s' if n > 1 else ''}",
                _gru(u, n),
                "cnn_rnn",
                p,
            )
            for (u, n), p in {
                (100, 1): (0.40, 0.33, None, None),
                (100, 2): (0.47, 0.40, None, None),
                (128, 1): (0.49, 0.40, None, None),
                (128, 2): (0.57, 0.43, None, None),
                (150, 1): (0.44, 0.37, None, None),
                (150, 2): (0.50, 0.41, None, None),
            }.items()
        ],
    ),
    Table(
        "9",
        "CNN-RNN cell, 2 x 128 units",
        [
            Row("t9-gru", "GRU", _gru(128, 2), "cnn_rnn", (0.57, 0.43, 0.08, 0.06)),
            Row(
                "t9-lstm",
                "LSTM (peephole)",
                {**_gru(128, 2), "model.rnn": "lstm"},
                "cnn_rnn",
                (0.49, 0.38, 0.10, 0.09),
            ),
        ],
    ),
]


def exp_prefix(profile: str) -> str:
    """Experiment names of a profile's runs start with this (``paper-t8-gru-128x2-s0``)."""
    return f"{Path(str(profile)).stem}-"


def needing(tables: list[str], need: str) -> list[str]:
    """The chosen tables that can be queued only where the data carries ``need``."""
    return [t.key for t in TABLES if t.key in tables and t.needs == need]


def experiments(
    tables: list[str],
    extra: dict[str, str],
    seeds: list[int] | None = None,
    profile: str = PAPER_PROFILE,
) -> dict[str, dict[str, str]]:
    """Experiment name → overrides (key → value in Hydra's grammar), for the chosen tables
    (rows sharing a name run once), one per training seed (``<profile>-<row>-s<seed>``;
    ``seeds=None``: ``<profile>-<row>``, the profile's seeds). The profile's keys come first,
    then ``extra``, then the row's own (a row's setting wins over ``extra``)."""
    base = profile_overrides(profile)
    prefix = exp_prefix(profile)
    out: dict[str, dict[str, str]] = {}
    for t in TABLES:
        if t.key not in tables:
            continue
        for r in t.rows:
            row = {**base, **extra, **r.overrides}
            if seeds is None:
                out[prefix + r.name] = row
                continue
            for s in seeds:
                out[f"{prefix}{r.name}-s{s}"] = {
                    **row,
                    "train_cnn.seed": str(s),
                    "train_rnn.seed": str(s),
                }
    return out


def queue_commands(
    tables: list[str],
    extra: dict[str, str],
    seeds: list[int] | None = None,
    profile: str = PAPER_PROFILE,
) -> list[list[str]]:
    cmds = []
    for name, overrides in experiments(tables, extra, seeds, profile).items():
        cmd = ["dvc", "exp", "run", "--queue", "-n", name]
        for item in render(overrides):
            cmd += ["-S", item]
        cmds.append(cmd)
    return cmds


def check_experiments(tables: list[str], extra: dict[str, str], profile: str) -> None:
    """Compose and validate every row's params (DVC's override code on ./params.yaml):
    a bad key or value fails here, before anything is queued."""
    for name, overrides in experiments(tables, extra, None, profile).items():
        parse_params(compose(render(overrides)), f"experiment {name}")


def collect_metrics(exp_show: list) -> dict[str, dict]:
    """``dvc exp show --json`` → experiment name → {model: flat metrics}; only the main
    run's ``metrics/<model>.json`` (not the seed runs' or the training logs)."""
    found: dict[str, dict] = {}

    def visit(entry):
        if not isinstance(entry, dict):
            return
        data = entry.get("data") or {}
        name = entry.get("name") or data.get("name")
        metrics = {}
        for path, content in (data.get("metrics") or {}).items():
            parts = path.replace("\\", "/").split("/")
            if len(parts) != 2 or parts[0] != "metrics":
                continue
            if isinstance(content, dict) and isinstance(content.get("data"), dict):
                metrics[parts[1].removesuffix(".json")] = content["data"]
        if name and metrics:
            found[name] = metrics
        for child in entry.get("experiments") or []:
            visit(child)
        for rev in entry.get("revs") or []:
            visit(rev)

    for item in exp_show:
        visit(item)
    return found


def row_runs(measured: dict[str, dict], row: Row, profile: str = PAPER_PROFILE) -> list[dict]:
    """The metrics of every run of a row from ``profile``: ``<profile>-<row>`` and
    ``<profile>-<row>-s<seed>``."""
    runs = []
    full = exp_prefix(profile) + row.name
    for name, models in sorted(measured.items()):
        if name == full or re.fullmatch(re.escape(full) + r"-s\d+", name):
            m = models.get(row.model)
            if m and "ccc_valence" in m:
                runs.append(m)
    return runs


def _fmt(x) -> str:
    return "–" if x is None else f"{x:.2f}"


def _pm(values: list[float]) -> str:
    if not values:
        return "–"
    mean, sd = spread.mean_sd(values)
    return f"{mean:.2f}" if len(values) == 1 else f"{mean:.2f} ± {sd:.2f}"


def header(profile: str) -> list[str]:
    """The report's first lines: the profile, and every setting in which it differs from
    ``profiles/paper.yaml`` (both composed onto ./params.yaml)."""
    diff = differences(composed(profile), composed(PAPER_PROFILE))
    lines = [
        "# Ablations: measured vs the paper (Kollias et al., CVPRW 2017)",
        "",
        f"Profile: `{profile}` ({profile_path(profile)}); each row changes its own keys of it.",
        "",
    ]
    if not diff:
        lines += [
            "Settings that differ from the paper's configuration (profiles/paper.yaml): none."
        ]
    else:
        lines += ["Settings that differ from the paper's configuration (profiles/paper.yaml):", ""]
        lines += [f"- `{k}`: {_value(a)} (paper profile: {_value(b)})" for k, a, b in diff]
    lines += [
        "",
        "What no profile changes (face detector and landmark tracker, the data, the evaluation "
        "protocol): [results and choices](docs/results-and-choices.md).",
        "",
    ]
    return lines


def _value(v) -> str:
    return f"`{json.dumps(v)}`"


def report(measured: dict[str, dict], profile: str = PAPER_PROFILE) -> str:
    """Markdown: every table, the measured CCC/MSE of ``profile``'s runs (mean ± sd over
    seeds, interval) next to the paper's."""
    lines = header(profile) + [
        "Measured numbers come from this repository's `dvc exp show`: mean ± sd over the "
        "training seeds run (n), and the bootstrap 95 % interval over test videos of the "
        "mean CCC (averaged over the seeds' intervals). Rows whose intervals overlap are not "
        "distinguishable here. Columns headed *paper* are the paper's own numbers (its "
        "Tables 4-9, Aff-Wild test set), not measured here. Different data (e.g. the demo "
        "set) gives different numbers: compare the orderings the intervals support, not the "
        "values.",
        "",
    ]
    for t in TABLES:
        lines += [f"## Table {t.key}: {t.title}", ""]
        if t.note:
            lines += [t.note, ""]
        lines += [
            "| row | n | CCC V | CCC A | MSE V | MSE A | 95 % interval, mean CCC | "
            "paper: CCC V | paper: CCC A | paper: MSE V | paper: MSE A |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        lines += [_row_line(r, row_runs(measured, r, profile)) for r in t.rows]
        lines.append("")
    prefix = exp_prefix(profile)
    missing = sorted(
        {prefix + r.name for t in TABLES for r in t.rows if not row_runs(measured, r, profile)}
    )
    if missing:
        lines += [
            f"Not run yet: {', '.join(missing)} (`affwild ablations queue --profile {profile}`, "
            "then `dvc queue start`).",
            "",
        ]
    return "\n".join(lines)


def _row_line(r: Row, runs: list[dict]) -> str:
    cells = [_pm([m[k] for m in runs]) for k in flat_keys() if k != "ccc_mean"]
    if runs and all("ccc_mean_lo" in m for m in runs):
        lo = float(np.mean([m["ccc_mean_lo"] for m in runs]))
        hi = float(np.mean([m["ccc_mean_hi"] for m in runs]))
        ci = f"[{lo:.2f}, {hi:.2f}]"
    else:
        ci = "–"
    paper = " | ".join(_fmt(x) for x in r.paper)
    return f"| {r.label} | {len(runs)} | " + " | ".join(cells) + f" | {ci} | {paper} |"


def exp_show_json() -> list:
    out = subprocess.run(
        ["dvc", "exp", "show", "--json", "--all-commits"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out or "[]")
