"""DVC stage ``features``: the trained CNN's frozen convolutional part run once over every
step of the training and validation sequence records, so ``train_rnn`` trains FC + RNN on
cached features (``pipeline.training.features``). Writes only a summary saying why when
``train_rnn`` cannot use them (CNN not frozen, or augmentation on)."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.quiet import load_tensorflow
from pipeline.training.threads import single_threaded_ops
from stages._cli import friendly_errors

single_threaded_ops()  # before TensorFlow is imported: the same features on any core count


@click.command()
@click.option("--records", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--cnn", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Features folder.")
@click.option(
    "--checkpoints",
    type=click.Path(file_okay=False),
    default=None,
    help="Resume state (the batches done), kept outside the stage's outputs; without it a "
    "killed run starts again.",
)
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@friendly_errors
def main(records, cnn, out, checkpoints, params_path):
    load_tensorflow()  # before any TensorFlow import: its import and device probe, silenced
    from pipeline.config import load_params
    from pipeline.io import write_timings
    from pipeline.records.reader import damage_named
    from pipeline.training.features import compute_features

    params = load_params(params_path)
    with damage_named(records):  # a corrupted record: its shard and index named
        s = compute_features(
            Path(cnn),
            Path(records),
            Path(out),
            params.train_rnn,
            checkpoint_dir=Path(checkpoints) if checkpoints else None,
        )
    if s.used:
        write_timings("features", s.timings())
        click.echo(
            f"features: {s.frames} frames x {s.dim} values in {s.seconds} s "
            f"({s.frames_per_s} frames/s) -> {out}"
        )
    else:
        click.echo(f"features: not computed ({s.reason}); train_rnn trains on images")


if __name__ == "__main__":
    main()
