"""DVC stages of the face steps (``detect``, ``landmarks``, ``crop`` and any registered one):

    python -m stages.face detect --manifest data/interim/manifest.parquet \
        --out data/interim/boxes --summary data/interim/boxes_summary.json
    python -m stages.face landmarks --manifest data/interim/manifest.parquet \
        --input boxes=data/interim/boxes \
        --input source_landmarks=data/interim/source_landmarks.parquet \
        --out data/interim/landmarks --summary data/interim/landmarks_summary.json

``NAME`` is a face step of :data:`pipeline.registry.FACE_STAGES` (``affwild plugins stage``);
each ``--input NAME=PATH`` is a folder of a table it reads (one file per video) or a file it
may read. Writes ``<out>/<video_id>.parquet`` per manifest row (the step's table) and a
summary (frames, faces found, missing, failed videos and why).
"""

from __future__ import annotations

import click

from stages._cli import friendly_errors


def _inputs(ctx, param, values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{value!r}: expected NAME=PATH")
        out[name] = path
    return out


@click.command()
@click.argument("name")
@click.option("--manifest", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--input", "inputs", multiple=True, callback=_inputs, metavar="NAME=PATH",
    help="a table the step reads (folder) or a file it may read; repeat for each",
)  # fmt: skip
@click.option("--out", required=True, type=click.Path(file_okay=False), help="its tables' folder")
@click.option("--summary", required=True, type=click.Path(dir_okay=False), help="summary JSON")
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@friendly_errors
def main(name, manifest, inputs, out, summary, params_path) -> None:
    from pipeline.face.runner import run_from_cli

    run_from_cli(name, params_path, manifest, out, summary, inputs)


if __name__ == "__main__":
    main()
