"""DVC stage ``landmarks``: 68 iBUG 300-W landmarks per frame from MediaPipe's face mesh.

    python -m stages.landmarks --manifest data/interim/manifest.parquet \
        --boxes data/interim/boxes \
        --source-landmarks data/interim/source_landmarks.parquet \
        --out data/interim/landmarks --summary data/interim/landmarks_summary.json

Writes ``<out>/<video_id>.parquet`` per manifest row (``pipeline.face.tables.LANDMARKS``) and
a summary (frames per status, frames/s, failed videos and why, and — where the data set ships
landmarks — the mesh's agreement with them).
"""

from __future__ import annotations

import click

from stages._cli import friendly_errors


@click.command()
@click.option("--manifest", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--boxes", required=True, type=click.Path(exists=True, file_okay=False))
@click.option(
    "--source-landmarks", default="", type=click.Path(dir_okay=False),
    help="the data set's own landmarks (AFEW-VA); optional",
)  # fmt: skip
@click.option("--out", required=True, type=click.Path(file_okay=False), help="landmarks folder")
@click.option("--summary", required=True, type=click.Path(dir_okay=False), help="summary JSON")
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@friendly_errors
def main(manifest, boxes, source_landmarks, out, summary, params_path) -> None:
    from pipeline.face.landmarks import LANDMARKS
    from pipeline.face.runner import run_from_cli

    run_from_cli(
        LANDMARKS,
        params_path,
        manifest,
        out,
        summary,
        boxes=boxes,
        source_landmarks=source_landmarks,
    )


if __name__ == "__main__":
    main()
