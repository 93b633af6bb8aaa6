"""DVC stage ``train_rnn``: sequence records + the trained CNN → the CNN-RNN (paper, Section
3.2), trained end to end or on the frozen CNN (``train_rnn.freeze_cnn``)."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.quiet import load_tensorflow
from pipeline.training.threads import single_threaded_ops
from stages._cli import friendly_errors

single_threaded_ops()  # before TensorFlow is imported: same numbers on any core count


@click.command()
@click.option("--records", required=True, type=click.Path(exists=True, file_okay=False))
@click.option(
    "--cnn",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="The trained CNN folder it is initialised from.",
)
@click.option(
    "--features",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="The features stage's output: FC + RNN train on it when the CNN is frozen and "
    "augmentation is off.",
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Model folder.")
@click.option(
    "--checkpoints",
    required=True,
    type=click.Path(file_okay=False),
    help="Resume state, kept outside the stage's outputs.",
)
@click.option("--live", required=True, type=click.Path(file_okay=False), help="DVCLive folder.")
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Training seed instead of params' train_cnn.seed / train_rnn.seed (seed runs).",
)
@friendly_errors
def main(records, cnn, features, out, checkpoints, live, params_path, seed):
    load_tensorflow()  # before any TensorFlow import: its import and device probe, silenced
    from pipeline.config import load_params
    from pipeline.records.reader import damage_named
    from pipeline.training.run import train_stage, with_train_seed

    params = with_train_seed(load_params(params_path), seed)
    with damage_named(records):  # a corrupted record: its shard and index named
        meta = train_stage(
            "cnn_rnn",
            params,
            Path(records),
            Path(out),
            Path(checkpoints),
            Path(live),
            cnn_dir=Path(cnn),
            features_dir=Path(features) if features else None,
        )
    how = "on cached features" if meta.features else "on images"
    run, transfer = meta.run.model_dump(mode="json"), meta.to_json()["transfer"]
    click.echo(f"cnn_rnn ({how}): {run}; transferred from the CNN: {transfer}")


if __name__ == "__main__":
    main()
