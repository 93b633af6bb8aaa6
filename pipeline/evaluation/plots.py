"""Plot data and figures of the ``evaluate`` stage (``dvc plots show`` renders both).

- ``trace_<dimension>.csv``: predictions vs ground truth over a stretch of consecutive test
  frames (the paper's Figs. 4-5), one column per model;
- ``fig_traces.png``, ``fig_histogram.png`` (the paper's Fig. 3: histogram of the
  annotations), ``fig_va_density.png`` (2-D valence-arousal density of labels and of each
  model's predictions).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from pipeline.evaluation.metrics import DIMENSIONS


def trace_rows(grid: dict, predictions: dict[str, np.ndarray], n: int) -> list[dict]:
    """The first ``n`` labelled test frames, in video/frame order."""
    idx = np.flatnonzero(grid["labelled"])[:n]
    rows = []
    for step, i in enumerate(idx):
        row = {"step": step, "video_id": grid["video_id"][i], "frame": int(grid["frame"][i])}
        for d, dim in enumerate(DIMENSIONS):
            row[f"{dim}_truth"] = round(float(grid[dim][i]), 4)
            for name, p in predictions.items():
                row[f"{dim}_{name}"] = round(float(p[i, d]), 4)
        rows.append(row)
    return rows


def write_traces(rows: list[dict], out: Path, models: list[str]) -> None:
    for dim in DIMENSIONS:
        cols = ["step", "video_id", "frame", "truth", *models]
        with open(out / f"trace_{dim}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(cols)
            for r in rows:
                w.writerow(
                    [
                        r["step"],
                        r["video_id"],
                        r["frame"],
                        r[f"{dim}_truth"],
                        *[r[f"{dim}_{m}"] for m in models],
                    ]
                )


def write_figures(rows, labels: dict[str, np.ndarray], grid, predictions, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(predictions)
    fig, axes = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True)
    for ax, dim in zip(axes, DIMENSIONS, strict=True):
        steps = [r["step"] for r in rows]
        ax.plot(steps, [r[f"{dim}_truth"] for r in rows], color="black", lw=1.6, label="truth")
        for m in models:
            ax.plot(steps, [r[f"{dim}_{m}"] for r in rows], lw=1.0, label=m)
        ax.set_ylabel(dim)
        ax.set_ylim(-1.05, 1.05)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", ncol=len(models) + 1, fontsize=8)
    axes[-1].set_xlabel("test frame (consecutive frames of the test videos)")
    fig.suptitle("Predictions vs ground truth (paper, Figs. 4-5)")
    fig.tight_layout()
    fig.savefig(out / "fig_traces.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(-1, 1, 41)
    for dim in DIMENSIONS:
        v = labels[dim][np.isfinite(labels[dim])]
        ax.hist(v, bins=bins, alpha=0.6, label=f"{dim} ({len(v)} frames)")
    ax.set_xlabel("annotation value")
    ax.set_ylabel("frames")
    ax.legend()
    ax.set_title("Histogram of annotations (paper, Fig. 3)")
    fig.tight_layout()
    fig.savefig(out / "fig_histogram.png", dpi=110)
    plt.close(fig)

    panels = [("labels (test)", grid["valence"], grid["arousal"])]
    panels += [(m, p[:, 0], p[:, 1]) for m, p in predictions.items()]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), squeeze=False)
    sel = grid["labelled"]
    for ax, (title, v, a) in zip(axes[0], panels, strict=True):
        ok = sel & np.isfinite(v) & np.isfinite(a)
        ax.hist2d(v[ok], a[ok], bins=30, range=[[-1, 1], [-1, 1]], cmap="viridis")
        ax.axhline(0, color="white", lw=0.5)
        ax.axvline(0, color="white", lw=0.5)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("valence")
    axes[0][0].set_ylabel("arousal")
    fig.suptitle("2-D valence-arousal density")
    fig.tight_layout()
    fig.savefig(out / "fig_va_density.png", dpi=110)
    plt.close(fig)
