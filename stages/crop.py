"""DVC stage ``crop``: square face crops (JPEG) and landmarks normalised to them.

    python -m stages.crop --manifest data/interim/manifest.parquet \
        --boxes data/interim/boxes --landmarks data/interim/landmarks \
        --out data/interim/crops --summary data/interim/crops_summary.json

Writes ``<out>/<video_id>.parquet`` per manifest row (``pipeline.face.tables.CROPS``) and a
summary (frames, valid crops, frames/s, failed videos and why).
"""

from __future__ import annotations

import click

from stages._cli import friendly_errors


@click.command()
@click.option("--manifest", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--boxes", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--landmarks", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="crops folder")
@click.option("--summary", required=True, type=click.Path(dir_okay=False), help="summary JSON")
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@friendly_errors
def main(manifest, boxes, landmarks, out, summary, params_path) -> None:
    from pipeline.face.crop import CROP
    from pipeline.face.runner import run_from_cli

    run_from_cli(CROP, params_path, manifest, out, summary, boxes=boxes, landmarks=landmarks)


if __name__ == "__main__":
    main()
