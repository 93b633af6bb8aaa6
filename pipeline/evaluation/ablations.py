"""The paper's ablations (Tables 4-9) as DVC experiments, and a report beside the paper.

``affwild ablations queue`` queues one ``dvc exp run`` per row (``-S`` overrides of
``params.yaml``); ``dvc queue start`` runs them; ``affwild ablations report`` reads
``dvc exp show --json`` and writes each table with the measured numbers next to the paper's.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field


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


def _gru(units: int, layers: int) -> dict[str, str]:
    return {"model.rnn": "gru", "model.rnn_units": str(units), "model.rnn_layers": str(layers)}


TABLES = [
    Table(
        "4",
        "CNN by pre-trained initialisation (with landmarks)",
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
        "The paper's VGG-Face row starts from the public VGG-Face weights: queue with "
        "--set model.init=/path/to/vgg_face.h5. 224 px backbones need a GPU.",
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
# Table 6 (mean of annotators vs one annotator) needs per-annotator label files, which the
# public Aff-Wild release does not ship; it is not queued.


def experiments(tables: list[str], extra: dict[str, str]) -> dict[str, dict[str, str]]:
    """Experiment name → overrides, for the chosen tables (rows sharing a name run once).
    ``extra`` applies to every row that does not set the same key itself."""
    out: dict[str, dict[str, str]] = {}
    for t in TABLES:
        if t.key in tables:
            for r in t.rows:
                out[r.name] = {**extra, **r.overrides}
    return out


def queue_commands(tables: list[str], extra: dict[str, str]) -> list[list[str]]:
    cmds = []
    for name, overrides in experiments(tables, extra).items():
        cmd = ["dvc", "exp", "run", "--queue", "-n", name]
        for k, v in overrides.items():
            cmd += ["-S", f"{k}={v}"]
        cmds.append(cmd)
    return cmds


def collect_metrics(exp_show: list) -> dict[str, dict]:
    """``dvc exp show --json`` → experiment name → {model: metrics}."""
    found: dict[str, dict] = {}

    def visit(entry):
        if not isinstance(entry, dict):
            return
        data = entry.get("data") or {}
        name = entry.get("name") or data.get("name")
        metrics = {}
        for path, content in (data.get("metrics") or {}).items():
            model = path.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".json")
            if isinstance(content, dict) and "data" in content:
                metrics[model] = content["data"]
        if name and metrics:
            found[name] = metrics
        for child in entry.get("experiments") or []:
            visit(child)
        for rev in entry.get("revs") or []:
            visit(rev)

    for item in exp_show:
        visit(item)
    return found


def _fmt(x) -> str:
    return "–" if x is None else f"{x:.2f}"


def report(measured: dict[str, dict]) -> str:
    """Markdown: every table, the measured CCC/MSE next to the paper's."""
    lines = [
        "# Ablations: measured vs the paper (Kollias et al., CVPRW 2017)",
        "",
        "Measured numbers come from this repository's `dvc exp show`; the paper's from its "
        "Aff-Wild test set. Different data (e.g. the demo set) gives different numbers: "
        "compare the orderings, not the values.",
        "",
    ]
    for t in TABLES:
        lines += [f"## Table {t.key}: {t.title}", ""]
        if t.note:
            lines += [t.note, ""]
        lines += [
            "| row | CCC V | CCC A | MSE V | MSE A | paper CCC V | paper CCC A | "
            "paper MSE V | paper MSE A |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in t.rows:
            m = measured.get(r.name, {}).get(r.model)
            got = (
                [m["valence"]["ccc"], m["arousal"]["ccc"], m["valence"]["mse"], m["arousal"]["mse"]]
                if m
                else [None] * 4
            )
            lines.append(
                f"| {r.label} | "
                + " | ".join(_fmt(x) for x in got)
                + " | "
                + " | ".join(_fmt(x) for x in r.paper)
                + " |"
            )
        lines.append("")
    missing = sorted({r.name for t in TABLES for r in t.rows} - set(measured))
    if missing:
        lines += [
            f"Not run yet: {', '.join(missing)} (`affwild ablations queue`, then "
            "`dvc queue start`).",
            "",
        ]
    return "\n".join(lines)


def exp_show_json() -> list:
    out = subprocess.run(
        ["dvc", "exp", "show", "--json", "--all-commits"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out or "[]")
