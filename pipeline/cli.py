"""The ``affwild`` command line: what a user runs outside ``dvc repro``."""

from __future__ import annotations

import os
import sys

import click

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GLOG_minloglevel", "2")


class _Group(click.Group):
    """Turns bad input (:class:`InputError`) into a message and exit status 1."""

    def invoke(self, ctx):
        from pipeline.errors import InputError

        try:
            return super().invoke(ctx)
        except InputError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="affwild")
def main():
    """Valence and arousal from faces in the wild (Kollias et al., CVPRW 2017).

    The pipeline itself runs with DVC: `dvc repro`, `dvc exp run -S model.rnn=gru`,
    `dvc metrics show`, `dvc plots show`. These commands are the parts a user runs directly.
    """


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option(
    "--params",
    "params_path",
    default="params.yaml",
    show_default=True,
    help="Take the `demo` section from this params file (defaults if it is missing).",
)
@click.option("--seed", type=int, help="Override demo.seed.")
def demo(out_dir, params_path, seed):
    """Write the synthetic demo data set (Aff-Wild layout) to OUT_DIR."""
    from pathlib import Path

    from pipeline.config import DemoConfig, load_params
    from pipeline.demo.generate import generate_demo

    cfg = load_params(params_path).demo if Path(params_path).exists() else DemoConfig()
    if seed is not None:
        cfg = cfg.model_copy(update={"seed": seed})
    summary = generate_demo(out_dir, cfg)
    click.echo(f"wrote {out_dir}: {summary}")


@main.command("check-data")
@click.argument("root", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["affwild", "affwild2", "afewva"]),
    required=True,
    help="Layout of the data set.",
)
@click.option(
    "--params",
    "params_path",
    default="params.yaml",
    show_default=True,
    help="Split and ingest settings (defaults if the file is missing).",
)
def check_data(root, fmt, params_path):
    """Check a data set folder the way `ingest` will, and list every problem.

    Parses every label file and decodes every video; writes nothing.
    """
    from pathlib import Path

    from pipeline.config import Params, load_params
    from pipeline.datasets.ingest import ingest

    params = load_params(params_path) if Path(params_path).exists() else Params()
    data = params.data.model_copy(update={"root": root, "format": fmt})
    result = ingest(data, params.split, params.ingest)
    for name, s in result.report["splits"].items():
        click.echo(
            f"{name:>5}: {s['videos']:4d} videos {s['frames']:8d} frames "
            f"({s['annotated_frames']} annotated) quadrants {s['quadrants']}"
        )
    for line in result.report["warnings"] + result.report["notes"]:
        click.echo(f"note: {line}")
    click.echo("ok")


if __name__ == "__main__":
    main()
