"""DVC stage ``demo``: generate the synthetic demo data set (Aff-Wild layout)."""

from __future__ import annotations

import click

from stages._cli import friendly_errors


@click.command()
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="Output folder (replaced)."
)
@click.option("--params", "params_path", default="params.yaml", show_default=True)
@friendly_errors
def main(out, params_path):
    from pipeline.config import load_params

    params = load_params(params_path)  # bad params fail before anything is imported/written
    from pipeline.demo import generate_demo
    from pipeline.io import write_timings

    s = generate_demo(out, params.demo, params.parallel.n_jobs)
    write_timings("demo", {"seconds": s["seconds"]})
    q = s["quadrant_shares"]["train"]
    click.echo(
        f"demo: {s['videos']['train']} train / {s['videos']['test']} test videos, "
        f"{s['frames']['train']} / {s['frames']['test']} frames, "
        f"{s['distractor_videos']} with a distractor, train V+A+/V-A+/V+A-/V-A- = "
        + "/".join(f"{100 * v:.0f}" for v in q.values())
        + f" %, labels = the mean of {s['annotators']['total']} annotators' (delayed about "
        f"{s['label_delay_frames']} frames) -> {out} ({s['seconds']} s)"
    )


if __name__ == "__main__":
    main()
