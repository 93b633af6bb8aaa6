"""DVC stage ``detect``: every face in every frame; the labelled subject's box per frame.

    python -m stages.detect --manifest data/interim/manifest.parquet \
        --out data/interim/boxes --summary data/interim/boxes_summary.json

Writes ``<out>/<video_id>.parquet`` per manifest row (``pipeline.face.tables.BOXES``) and a
summary (frames, faces found, missing, frames/s, failed videos and why).
"""

from __future__ import annotations

import click

from stages._cli import friendly_errors


@click.command()
@click.option("--manifest", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="boxes folder")
@click.option("--summary", required=True, type=click.Path(dir_okay=False), help="summary JSON")
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@friendly_errors
def main(manifest: str, out: str, summary: str, params_path: str) -> None:
    from pipeline.face.detect import DETECT
    from pipeline.face.runner import run_from_cli

    run_from_cli(DETECT, params_path, manifest, out, summary)


if __name__ == "__main__":
    main()
