"""DVC stage ``ingest``: a data set folder → manifest, labels, shipped landmarks, report."""

from __future__ import annotations

import click

from stages._cli import friendly_errors


@click.command()
@click.option("--root", required=True, help="Data set folder (params data.root).")
@click.option("--manifest", required=True, type=click.Path(dir_okay=False))
@click.option("--labels", required=True, type=click.Path(dir_okay=False))
@click.option("--source-landmarks", required=True, type=click.Path(dir_okay=False))
@click.option("--report", required=True, type=click.Path(dir_okay=False))
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@friendly_errors
def main(root, manifest, labels, source_landmarks, report, params_path):
    from pipeline.config import load_params
    from pipeline.datasets.ingest import ingest
    from pipeline.io import write_parquet

    params = load_params(params_path)
    data = params.data.model_copy(update={"root": root})
    result = ingest(data, params.split, params.ingest, params.parallel.n_jobs)
    # Everything is computed (and every check passed) before the first file is written.
    write_parquet(result.manifest, manifest)
    write_parquet(result.labels, labels)
    write_parquet(result.source_landmarks, source_landmarks)
    rep = result.report
    rep.write_file(report)

    for name, s in rep.splits.items():
        click.echo(
            f"{name:>5}: {s.videos:4d} videos {s.frames:8d} frames ({s.annotated_frames} annotated)"
        )
    if rep.annotator != "mean":
        click.echo(
            f"labels: train and val from annotator {rep.annotator} ({len(rep.annotators)} "
            "videos), test from the mean of the annotators"
        )
    for key, videos in (("skipped", rep.skipped), ("truncated", rep.truncated)):
        if videos:
            click.echo(f"{len(videos)} video(s) {key}: see {report}", err=True)
    for line in rep.warnings + rep.notes:
        click.echo(f"note: {line}", err=True)


if __name__ == "__main__":
    main()
