"""The CNN-RNN's window overlap (``evaluate.rnn_context``) and seam crossfade
(``evaluate.rnn_blend``), chosen on the VALIDATION split (docs/results-and-choices.md,
"CNN-RNN windows"). The test split is never read.

For each trained CNN-RNN folder given (the main run's and the seed runs'), each ``context``
of the grid and each ``blend <= context``, on every validation frame as ``evaluate`` predicts
a split (the same windows, :func:`pipeline.contracts.windows.place`, the same fill rule):

- ``at_start``: mean |Δ prediction| into a frame where a window's kept part starts;
- ``elsewhere``: the mean |Δ| into every other frame (both: consecutive frames of one
  video, both with a face; :func:`pipeline.evaluation.evaluate.jump_means`);
- ``ratio``: at_start / elsewhere (about 1: no trace of the seams);
- ``ccc_valence`` / ``ccc_arousal``: over all labelled validation frames, filled as
  ``evaluate`` fills them.

The model runs once per (folder, context); every blend re-stitches its window outputs.
Beside them, ``blend = carried``: no windows, the state carried from each video's first frame
to its last (:class:`pipeline.inference.live.StepModel`), measured at the same frames: the
seamless reference, which shows how much of a ratio the frames themselves make.

    python benchmarks/val_seams.py [--models models/cnn_rnn models/seeds/*/cnn_rnn]
        [--contexts 10 25 40] [--blends 0 5 10 15 20 25 40] [--out /tmp/val_seams.json]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from pipeline.training.threads import single_threaded_ops

single_threaded_ops()  # before TensorFlow is imported: the numbers evaluate would give

from pipeline.config import load_params  # noqa: E402
from pipeline.contracts import windows as win  # noqa: E402
from pipeline.evaluation import evaluate as ev  # noqa: E402
from pipeline.evaluation.metrics import ccc  # noqa: E402
from pipeline.models.saved import load_model  # noqa: E402

SPLIT = "val"  # never the test split


def window_outputs(tm, grid: dict, context: int, batch_size: int) -> tuple[list, list]:
    """The CNN-RNN's windows over the grid (``evaluate``'s) and each window's raw outputs."""
    wins = ev.sequence_windows(grid, tm.meta.seq_len, context)
    outputs: list[np.ndarray] = []
    call = ev.model_call(tm.keras_model)

    def record(x):
        p = call(x)
        outputs.extend(p[:, :, :2])
        return p

    load = ev.grid_loader(tm.meta, grid)
    ev.run_windows(record, wins, len(grid["frame"]), load, tm.meta.seq_len, batch_size)
    return wins, outputs


def carried(tm, grid: dict) -> np.ndarray:
    """Each video as one sequence, the state carried frame by frame from a zero state."""
    from pipeline.inference.live import StepModel

    step = StepModel(tm.keras_model)
    load = ev.grid_loader(tm.meta, grid)
    out = np.full((len(grid["frame"]), 2), np.nan, np.float32)
    vids = grid["video_id"]
    for i in range(len(vids)):
        if i == 0 or vids[i] != vids[i - 1]:
            step.reset()
        img, lm = load(np.array([i]))
        out[i] = step.step(img, np.asarray(lm, np.float32))[0, :2]
    return out


def stitched(grid: dict, wins: list, outputs: list, blend: int) -> np.ndarray:
    out = np.full((len(grid["frame"]), 2), np.nan, np.float32)
    for (rows, a, b), p in zip(wins, outputs, strict=True):
        win.place(out, rows, p, a, b, blend)
    return out


def row(grid: dict, pred: np.ndarray, starts: np.ndarray, fallback, cfg) -> dict:
    at, rest = ev.jump_means(grid, pred, starts)
    filled = ev.fill_missing(grid, pred, fallback, cfg.fill, cfg.fill_max_gap)
    lab = grid["labelled"]
    return {
        "at_start": round(at, 5),
        "elsewhere": round(rest, 5),
        "ratio": round(at / rest, 3),
        "ccc_valence": round(ccc(grid["valence"][lab], filled[lab, 0]), 4),
        "ccc_arousal": round(ccc(grid["arousal"][lab], filled[lab, 1]), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["models/cnn_rnn"])
    ap.add_argument("--records", default="data/records")
    ap.add_argument("--labels", default="data/interim/labels.parquet")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--contexts", nargs="+", type=int, default=[10, 25, 40])
    ap.add_argument("--blends", nargs="+", type=int, default=[0, 5, 10, 15, 20, 25, 40])
    ap.add_argument("--out", default=None, help="JSON of every row")
    args = ap.parse_args()
    cfg = load_params(args.params).evaluate
    grid = ev.frame_grid(args.records, SPLIT, args.labels, with_inputs=True)
    rows = []
    print(f"{'model':<28}{'ctx':>4}{'blend':>8}{'ratio':>7}{'at start':>10}{'elsewhere':>11}"
          f"{'CCC V':>8}{'CCC A':>8}")  # fmt: skip
    for folder in args.models:
        tm = load_model(folder)
        seamless = carried(tm, grid)
        for context in args.contexts:
            wins, outputs = window_outputs(tm, grid, context, cfg.batch_size)
            starts = ev.window_starts(grid, tm.meta.seq_len, context)
            for blend in ["carried", *(b for b in args.blends if b <= context)]:
                pred = seamless if blend == "carried" else stitched(grid, wins, outputs, blend)
                r = row(grid, pred, starts, tm.meta.train_label_mean, cfg)
                rows.append({"model": folder, "context": context, "blend": blend, **r})
                print(f"{folder:<28}{context:>4}{blend:>8}{r['ratio']:>7.3f}"
                      f"{r['at_start']:>10.5f}{r['elsewhere']:>11.5f}"
                      f"{r['ccc_valence']:>8.4f}{r['ccc_arousal']:>8.4f}", flush=True)  # fmt: skip
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"split": SPLIT, "frames": int(grid["labelled"].sum()), "rows": rows}, f,
                      indent=1)  # fmt: skip


if __name__ == "__main__":
    main()
