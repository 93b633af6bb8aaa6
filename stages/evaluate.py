"""DVC stage ``evaluate``: CNN, CNN-RNN and SIFT+SVR on every test frame → metrics, plots,
predictions."""

from __future__ import annotations

import json
from pathlib import Path

import click

from stages._cli import friendly_errors


@click.command()
@click.option("--records", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--labels", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--cnn", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--cnn-rnn", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--svr", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--metrics", "metrics_dir", required=True, type=click.Path(file_okay=False))
@click.option("--plots", "plots_dir", required=True, type=click.Path(file_okay=False))
@click.option("--predictions", required=True, type=click.Path(dir_okay=False))
@click.option("--split", default="test", show_default=True)
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@friendly_errors
def main(
    records, labels, cnn, cnn_rnn, svr, metrics_dir, plots_dir, predictions, split, params_path
):
    import joblib
    import pyarrow.parquet as pq

    from pipeline.config import load_params
    from pipeline.evaluation import evaluate as ev
    from pipeline.evaluation import plots
    from pipeline.io import atomic_dir, write_json, write_parquet
    from pipeline.records.reader import load_summary
    from pipeline.training.run import load_trained

    cfg = load_params(params_path).evaluate
    summary = load_summary(records)
    grid = ev.frame_grid(records, split)
    preds = {}
    for name, folder in (("cnn", cnn), ("cnn_rnn", cnn_rnn)):
        model, meta = load_trained(folder)
        ev.check_compatible(meta, summary, folder)
        preds[name] = ev.predict_model(model, meta, records, split, grid, cfg.batch_size)
    svr_meta = json.loads((Path(svr) / "meta.json").read_text())
    preds["svr"] = ev.predict_svr(
        joblib.load(Path(svr) / "model.joblib"), records, split, grid, svr_meta["grid"]
    )
    scores = ev.score(grid, preds)  # raises when nothing can be evaluated: before any write

    with atomic_dir(metrics_dir) as tmp:
        for name, res in scores.items():
            write_json(res, Path(tmp) / f"{name}.json")
    table = pq.read_table(labels, columns=["valence", "arousal"])
    all_labels = {d: table.column(d).to_numpy(zero_copy_only=False) for d in ("valence", "arousal")}
    rows = plots.trace_rows(grid, preds, cfg.trace_frames)
    with atomic_dir(plots_dir) as tmp:
        plots.write_traces(rows, Path(tmp), list(preds))
        plots.write_figures(rows, all_labels, grid, preds, Path(tmp))
    write_parquet(ev.predictions_table(grid, preds), predictions)

    click.echo(f"{split}: {scores['cnn']['frames']} frames of {scores['cnn']['videos']} videos")
    click.echo(f"{'model':>8}  {'CCC V':>6} {'CCC A':>6} {'MSE V':>6} {'MSE A':>6}")
    for name, res in scores.items():
        click.echo(
            f"{name:>8}  {res['valence']['ccc']:6.3f} {res['arousal']['ccc']:6.3f} "
            f"{res['valence']['mse']:6.3f} {res['arousal']['mse']:6.3f}"
        )


if __name__ == "__main__":
    main()
