"""DVC stage ``shard``: crops + labels → balanced, shuffled TFRecord shards + summary.json."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.quiet import load_tensorflow
from stages._cli import friendly_errors


@click.command()
@click.option("--manifest", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--labels", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--crops", required=True, type=click.Path(exists=True, file_okay=False))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Records folder: <split>/<kind>-NNNNN-of-NNNNN.tfrecord and summary.json.",
)
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@friendly_errors
def main(manifest, labels, crops, out, params_path):
    load_tensorflow()  # before any TensorFlow import: its import and device probe, silenced
    import pyarrow.parquet as pq

    from pipeline.config import load_params
    from pipeline.io import atomic_dir
    from pipeline.records.writer import load_videos, write_records

    params = load_params(params_path)
    videos = load_videos(pq.read_table(manifest), pq.read_table(labels), Path(crops))
    with atomic_dir(out) as tmp:
        summary = write_records(videos, tmp, params.shard, params.balance, params.parallel.n_jobs)
        summary.write(tmp)
    for split, kinds in summary.splits.items():
        f, s = kinds["frames"], kinds["sequences"]
        click.echo(
            f"{split:>5}: {f.records:7d} frame records ({f.units} frames), "
            f"{s.records:6d} sequence records, quadrants after: {f.after['shares']}"
        )


if __name__ == "__main__":
    main()
