"""DVC stage ``evaluate``: CNN, CNN-RNN and SIFT+SVR on every labelled test frame (or, with
``evaluate.protocol: authors``, as the authors' eval_script.py scores) → metrics (one flat
CCC/MSE file per model), a detailed report, plots, predictions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipeline.quiet import load_tensorflow
from pipeline.training.threads import single_threaded_ops
from stages._cli import friendly_errors

if TYPE_CHECKING:
    from pipeline.artifacts import EvaluationReport

single_threaded_ops()  # before TensorFlow is imported: same numbers on any core count


@click.command()
@click.option("--records", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--labels", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--cnn", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--cnn-rnn", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--svr", default=None, type=click.Path(exists=True, file_okay=False))
@click.option(
    "--metrics",
    "metrics_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder of <model>.json: the flat CCC/MSE keys `dvc metrics show` lists.",
)
@click.option(
    "--report",
    required=True,
    type=click.Path(dir_okay=False),
    help="JSON with everything else: with-face numbers, per-video means, comparisons.",
)
@click.option("--plots", "plots_dir", default=None, type=click.Path(file_okay=False))
@click.option("--predictions", required=True, type=click.Path(dir_okay=False))
@click.option("--split", default="test", show_default=True)
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@friendly_errors
def main(
    records,
    labels,
    cnn,
    cnn_rnn,
    svr,
    metrics_dir,
    report,
    plots_dir,
    predictions,
    split,
    params_path,
):
    load_tensorflow()  # before any TensorFlow import: its import and device probe, silenced
    from pipeline.artifacts import FillRule
    from pipeline.config import load_params
    from pipeline.evaluation import evaluate as ev

    cfg = load_params(params_path).evaluate
    grid, raw, metas = _predict(records, labels, split, {"cnn": cnn, "cnn_rnn": cnn_rnn}, svr, cfg)
    filled = {
        n: ev.fill_missing(
            grid, p, metas.get(n, metas["cnn"]).train_label_mean, cfg.fill, cfg.fill_max_gap
        )
        for n, p in raw.items()
    }
    # raises when nothing can be evaluated: before any write
    scores = ev.score(grid, filled, raw, cfg.bootstrap, cfg.bootstrap_seed)
    starts, windows = _window_check(grid, raw, metas["cnn_rnn"].seq_len, cfg)
    fill = FillRule(  # the fallback: the training set's mean label
        rule=cfg.fill, max_gap=cfg.fill_max_gap, fallback=metas["cnn"].train_label_mean
    )
    update = {"cnn_rnn_windows": windows, "fill": fill, "split": split}
    if cfg.protocol != "all_frames":  # the default is not written: its report stays as it was
        update["protocol"] = cfg.protocol
    scores = scores.model_copy(update=update)
    _write(scores, grid, filled, starts, labels, metrics_dir, report, plots_dir, predictions, cfg)

    f = scores.frames
    if cfg.protocol == "authors":
        click.echo(f"protocol authors: the frames with a face in back-to-back "
                   f"{windows.seq_len}-frame windows, the remainder dropped")  # fmt: skip
    click.echo(
        f"{split}: {f.labelled} labelled frames of {f.videos} videos, "
        f"{f.with_face} ({f.face_share:.1%}) with a face; frames without: {cfg.fill} "
        f"(≤{cfg.fill_max_gap} frames), else the training mean"
    )
    click.echo(_table(scores))
    click.echo(f"CNN-RNN window-start jump ratio: {windows.jump_ratio} (mean |Δ| "
               f"{windows.at_start} at starts, {windows.elsewhere} elsewhere)")  # fmt: skip


def _predict(records, labels, split, networks: dict, svr, cfg):
    """The test frames' grid, every model's raw predictions on it (NaN: no face), and the
    networks' metadata."""
    from pipeline.baseline.saved import load_svr
    from pipeline.errors import InputError
    from pipeline.evaluation import evaluate as ev
    from pipeline.models.saved import load_model
    from pipeline.records.reader import load_summary

    summary = load_summary(records)
    # every model loaded (and a bad folder refused) before any prediction is made
    svr_model = load_svr(svr) if svr else None
    loaded = {name: load_model(folder) for name, folder in networks.items()}
    grid = ev.frame_grid(records, split, labels, with_inputs=True)
    raw, metas, models = {}, {}, {}
    for name, folder in networks.items():
        tm = loaded[name]
        ev.check_compatible(tm.meta, summary, folder)
        if tm.meta.train_label_mean is None:
            raise InputError(
                f"{folder}/{tm.meta.FILE}: no train_label_mean (trained by an older version): "
                "re-train it (dvc repro)"
            )
        metas[name], models[name] = tm.meta, tm.keras_model
    if cfg.protocol == "authors":  # the listed frames, cut by the CNN-RNN's windows
        grid = ev.authors_list(grid, metas["cnn_rnn"].seq_len)
    for name, model in models.items():
        raw[name] = ev.predict_model(model, metas[name], records, split, grid, cfg.batch_size,
                                     context=cfg.rnn_context, protocol=cfg.protocol,
                                     blend=cfg.rnn_blend)  # fmt: skip
    if svr_model is not None:
        raw["svr"] = ev.predict_svr(svr_model, records, split, grid)
    return grid, raw, metas


def _window_check(grid, raw, seq_len: int, cfg):
    """Where the CNN-RNN's kept window parts start, and whether its prediction jumps there."""
    from pipeline.artifacts import WindowCheck
    from pipeline.contracts import windows as win
    from pipeline.evaluation import evaluate as ev

    context = win.default_context(seq_len) if cfg.rnn_context is None else cfg.rnn_context
    blend = win.default_blend(context) if cfg.rnn_blend is None else cfg.rnn_blend
    if cfg.protocol == "authors":
        context = blend = 0  # back-to-back windows, each from a zero state
    starts = ev.window_starts(grid, seq_len, context, cfg.protocol)
    at, rest = ev.jump_means(grid, raw["cnn_rnn"], starts)
    return starts, WindowCheck(
        seq_len=seq_len,
        context=context,
        blend=blend,
        jump_ratio=round(ev.jump_ratio(grid, raw["cnn_rnn"], starts), 3),
        at_start=round(at, 5),
        elsewhere=round(rest, 5),
        what="mean |prediction change| into a frame where a window's kept part starts, "
        "over the mean elsewhere (frames with a face on both sides); ~1: no trace of the cut",
    )


def _write(scores, grid, filled, starts, labels, metrics_dir, report, plots_dir, predictions,
           cfg) -> None:  # fmt: skip
    """metrics/<model>.json, the report, the plots and the predictions table."""
    import pyarrow.parquet as pq

    from pipeline.evaluation import evaluate as ev
    from pipeline.evaluation import plots
    from pipeline.io import atomic_dir, write_json, write_parquet

    with atomic_dir(metrics_dir) as tmp:
        for name, res in scores.models.items():
            write_json(res.metrics, Path(tmp) / f"{name}.json")
    scores.write_file(report)
    if plots_dir:
        table = pq.read_table(labels, columns=["valence", "arousal"])
        all_labels = {
            d: table.column(d).to_numpy(zero_copy_only=False) for d in ("valence", "arousal")
        }
        rows = plots.trace_rows(grid, filled, cfg.trace_frames)
        with atomic_dir(plots_dir) as tmp:
            plots.write_traces(rows, Path(tmp), list(filled))
            plots.write_figures(rows, all_labels, grid, filled, Path(tmp))
    write_parquet(ev.predictions_table(grid, filled, starts), predictions)


def _table(scores: EvaluationReport) -> str:
    """Model x the flat metrics of every dimension (CCC V, CCC A, MSE V, ...), with the 95 %
    interval of the mean CCC."""
    from pipeline.evaluation.metrics import DIMENSIONS, PRIMARY
    from pipeline.registry import METRICS

    cols = [
        (f"{METRICS.get(n).label} {dim[0].upper()}", f"{n}_{dim}")
        for n in METRICS.names()
        if METRICS.get(n).flat
        for dim in DIMENSIONS
    ]
    lines = [
        f"{'model':>8}  " + " ".join(f"{head:>6}" for head, _ in cols) + "  95% CI of CCC mean"
    ]
    for name, res in scores.models.items():
        m = res.metrics
        values = " ".join(f"{m[key]:6.3f}" for _, key in cols)
        lo, hi = m[f"{PRIMARY}_mean_lo"], m[f"{PRIMARY}_mean_hi"]
        lines.append(f"{name:>8}  {values}  [{lo:.3f}, {hi:.3f}]")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
