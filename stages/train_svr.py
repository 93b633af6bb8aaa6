"""DVC stage ``train_svr``: the SIFT + SVR baseline on training frame records."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.quiet import load_tensorflow
from stages._cli import friendly_errors


@click.command()
@click.option("--records", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Model folder.")
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@friendly_errors
def main(records, out, params_path):
    load_tensorflow()  # before any TensorFlow import: its import and device probe, silenced
    import time

    import numpy as np

    from pipeline.artifacts import SvrMeta
    from pipeline.baseline.saved import save_svr
    from pipeline.baseline.sift_svr import fit_svr
    from pipeline.config import load_params
    from pipeline.errors import InputError
    from pipeline.evaluation.evaluate import read_records
    from pipeline.io import atomic_dir, write_timings

    cfg = load_params(params_path).svr
    r = read_records(records, "train", "frames")
    n = len(r.get("frame", []))
    if n == 0:
        raise InputError(f"{records}: no training frame records")
    pick = np.sort(np.random.default_rng(cfg.seed).permutation(n)[: cfg.max_train])
    t0 = time.perf_counter()
    targets = np.stack([r["valence"][pick], r["arousal"][pick]], axis=1)
    model = fit_svr(r["image"][pick], targets, cfg)  # JPEG crops in: SIFT is its first step
    seconds = time.perf_counter() - t0
    dim = model.named_steps["sift"].n_features_out_
    with atomic_dir(out) as tmp:
        save_svr(model, Path(tmp))  # arrays + parameters, no pickle
        meta = SvrMeta(
            train_frames=len(pick),
            feature_dim=dim,
            svr=cfg.model_dump(mode="json"),
            fit_seconds=round(seconds, 1),
        )
        meta.write(tmp)
    write_timings("train_svr", meta.timings())
    click.echo(f"svr: {len(pick)} training frames, {dim} SIFT features, {seconds:.1f} s")


if __name__ == "__main__":
    main()
