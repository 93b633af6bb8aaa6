"""DVC stage ``seeds/dvc.yaml:report``: the main run and the seed runs → mean ± sd over
seeds, bootstrap intervals over test videos, supported claims (pipeline.evaluation.seeds)."""

from __future__ import annotations

from pathlib import Path

import click

from stages._cli import friendly_errors


@click.command()
@click.option("--main-predictions", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--main-report", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--runs",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Folder of <seed>/test.parquet from the seed runs.",
)
@click.option("--metrics", "metrics_dir", required=True, type=click.Path(file_okay=False))
@click.option("--report", required=True, type=click.Path(dir_okay=False))
@click.option("--markdown", "markdown_path", required=True, type=click.Path(dir_okay=False))
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@friendly_errors
def main(main_predictions, main_report, runs, metrics_dir, report, markdown_path, params_path):
    from pipeline.artifacts import EvaluationReport, MainRun
    from pipeline.config import load_params
    from pipeline.evaluation import seeds as sd
    from pipeline.io import atomic_dir, atomic_path, write_json

    params = load_params(params_path)
    cfg = params.evaluate
    main_seed = params.train_cnn.seed
    if main_seed in cfg.seeds:
        raise click.UsageError(f"evaluate.seeds {cfg.seeds} repeats train_cnn.seed {main_seed}")
    loaded = {main_seed: sd.load_run(main_predictions)}
    for s in cfg.seeds:
        loaded[s] = sd.load_run(Path(runs) / str(s) / "test.parquet")
    summary = sd.collect(loaded, cfg.bootstrap, cfg.bootstrap_seed).model_copy(
        update={
            "main_run": MainRun(seed=main_seed, report=str(main_report)),
            "fill": EvaluationReport.read_file(main_report).fill,
        }
    )
    with atomic_dir(metrics_dir) as tmp:
        for m, row in summary.models.items():
            write_json(row.metrics, Path(tmp) / f"{m}.json")
    summary.write_file(report)
    with atomic_path(markdown_path) as tmp:
        Path(tmp).write_text(sd.markdown(summary))
    click.echo(sd.markdown(summary))


if __name__ == "__main__":
    main()
