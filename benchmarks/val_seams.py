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
from pathlib import Path

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


def measure(args, cfg, grid: dict) -> list[dict]:
    """Every (model, context, blend) row, printed as it comes."""
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
    return rows


def spreads(rows: list[dict], seeds_report: str) -> dict:
    """The seed spreads the rule allows: the CNN-RNN's sd of CCC V / A over the training seeds
    (``seeds/report.json``, the test split's: the only place they are measured), and the sd of
    the mean |Δ| elsewhere of the state-carried trace over the models measured here
    (validation, at the first context)."""
    m = json.loads(Path(seeds_report).read_text())["models"]["cnn_rnn"]
    first = rows[0]["context"]
    ref = [r["elsewhere"] for r in rows if r["blend"] == "carried" and r["context"] == first]
    delta_sd = round(float(np.std(ref, ddof=1)), 5) if len(ref) > 1 else 0.0
    return {"ccc_valence": m["ccc_valence_sd"], "ccc_arousal": m["ccc_arousal_sd"],
            "elsewhere": delta_sd}  # fmt: skip


def passes(r: dict, rows: list[dict], sd: dict) -> bool:
    """The rule's bounds against the same model's state-carried (seamless) trace measured at
    the same frames: ratio <= 1.2, neither the mean |Δ| elsewhere nor CCC V / A lower by more
    than its seed sd."""
    ref = next(c for c in rows if c["blend"] == "carried"
               and (c["model"], c["context"]) == (r["model"], r["context"]))  # fmt: skip
    return r["ratio"] <= 1.2 and all(ref[k] - r[k] <= sd[k] for k in sd)


def choose(rows: list[dict], sd: dict) -> dict:
    """The rule on the first model's rows (the main run): of the (context, blend) in bounds,
    the ratio closest to 1 (to 0.01); on a tie the smaller blend (the least mixing), then the
    smaller context (fewer model calls). The other models: the same bounds checked."""
    main_model = rows[0]["model"]
    windowed = [r for r in rows if r["blend"] != "carried"]
    ok = [r for r in windowed if r["model"] == main_model and passes(r, rows, sd)]
    best = dict(min(ok, key=lambda r: (round(abs(r["ratio"] - 1), 2), r["blend"], r["context"])))
    best["other_models_pass"] = {
        r["model"]: passes(r, rows, sd)
        for r in windowed
        if r["model"] != main_model
        and (r["context"], r["blend"]) == (best["context"], best["blend"])
    }
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["models/cnn_rnn"])
    ap.add_argument("--records", default="data/records")
    ap.add_argument("--labels", default="data/interim/labels.parquet")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--seeds-report", default="seeds/report.json")
    ap.add_argument("--contexts", nargs="+", type=int, default=[0, 5, 10, 25, 40])
    ap.add_argument("--blends", nargs="+", type=int, default=[0, 2, 5, 10, 20, 25, 40])
    ap.add_argument("--out", default=None, help="JSON of every row and the choice")
    ap.add_argument("--rows", default=None, help="a JSON --out wrote: apply the rule again")
    args = ap.parse_args()
    if args.rows:
        saved = json.loads(Path(args.rows).read_text())
        frames, rows = saved["frames"], saved["rows"]
    else:
        cfg = load_params(args.params).evaluate
        grid = ev.frame_grid(args.records, SPLIT, args.labels, with_inputs=True)
        frames, rows = int(grid["labelled"].sum()), measure(args, cfg, grid)
    sd = spreads(rows, args.seeds_report)
    best = choose(rows, sd)
    print(f"allowed drops (seed sd): {sd}")
    print(f"chosen: context {best['context']}, blend {best['blend']}: {best}")
    if args.out:
        out = {"split": SPLIT, "frames": frames, "spread": sd, "chosen": best, "rows": rows}
        Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
