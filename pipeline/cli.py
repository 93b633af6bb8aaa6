"""The ``affwild`` command line: what a user runs outside ``dvc repro``."""

from __future__ import annotations

import sys

import click

from pipeline.errors import friendly_errors, report
from pipeline.models.tf1_import import ARCHS as TF1_ARCHS
from pipeline.quiet import quiet_native
from pipeline.registry import BACKBONES, DATA_FORMATS, ENGINES, FACE_STAGES, METRICS, Registry

quiet_native()

# `affwild plugins KIND`: the registries (pipeline.registry), by the name a user knows them.
REGISTRIES: dict[str, Registry] = {
    "backbone": BACKBONES,
    "format": DATA_FORMATS,
    "stage": FACE_STAGES,
    "engine": ENGINES,
    "metric": METRICS,
}


class RegistryChoice(click.Choice):
    """A choice among a registry's names, read when the command runs (so a plug-in registered
    after this module was imported is a choice too)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        super().__init__((), case_sensitive=True)

    @property
    def choices(self):  # type: ignore[override]
        return tuple(self.registry.names())

    @choices.setter
    def choices(self, value) -> None:  # click.Choice.__init__ assigns it
        pass


class _Group(click.Group):
    """Turns bad input (:class:`InputError`) into a message and exit status 1, as the stages
    do (:func:`pipeline.errors.friendly_errors`)."""

    def invoke(self, ctx):
        return friendly_errors(super().invoke)(ctx)


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

    from pipeline.config import Params, load_params
    from pipeline.demo.generate import generate_demo

    params = load_params(params_path) if Path(params_path).exists() else Params()
    cfg = params.demo
    if seed is not None:
        cfg = cfg.model_copy(update={"seed": seed})
    summary = generate_demo(out_dir, cfg, params.parallel.n_jobs)
    click.echo(f"wrote {out_dir}: {summary}")


@main.command("check-data")
@click.argument("root", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--format",
    "fmt",
    type=RegistryChoice(DATA_FORMATS),
    required=True,
    help="Layout of the data set (`affwild plugins format` describes each).",
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
    result = ingest(data, params.split, params.ingest, params.parallel.n_jobs)
    for name, s in result.report.splits.items():
        click.echo(
            f"{name:>5}: {s.videos:4d} videos {s.frames:8d} frames "
            f"({s.annotated_frames} annotated) quadrants {s.quadrants}"
        )
    for line in result.report.warnings + result.report.notes:
        click.echo(f"note: {line}")
    click.echo("ok")


@main.command()
@click.argument("videos", nargs=-1, required=False)
@click.option(
    "--model",
    "model_dir",
    default="models/cnn_rnn",
    show_default=True,
    type=click.Path(),
    help="Trained model folder (model.keras + meta.json): models/cnn or models/cnn_rnn.",
)
@click.option(
    "--out",
    default=".",
    show_default=True,
    help="Rows per frame: FILE.csv / FILE.parquet (one video), a folder (<stem>.csv per "
    "video), or a pattern with {stem} (preds/{stem}.parquet).",
)
@click.option(
    "--overlay",
    default=None,
    help="Also write the video with box, landmarks, gauge and trace drawn: FILE.mp4 / .avi "
    "(one video), a folder, or a pattern with {stem}.",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "gpu"]),
    default="auto",
    show_default=True,
    help="Where the model runs (cpu hides every GPU; gpu fails if there is none).",
)
@click.option("--batch-size", default=64, show_default=True, help="Frames per model call.")
@click.option(
    "--subject",
    type=click.Choice(["", "left", "right"]),
    default="",
    help="Whom to follow when several people are in view (default: the most persistent face).",
)
@click.option(
    "--live",
    "live_source",
    default=None,
    metavar="SOURCE",
    help="Live mode instead of VIDEOS: a camera index (0), a stream URL (rtsp://, http://) or "
    "a video file played at its frame rate; rows (with latency_ms) are written to --out "
    "(a .csv, replaced) one by one as frames are processed, until the source ends or Ctrl-C.",
)
@click.option("--show", is_flag=True, help="Live mode: show the overlay in a window.")
@click.option(
    "--reset-after",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Live mode: seconds without a face after which the CNN-RNN's state is reset.",
)
@click.option(
    "--open-timeout",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Live mode: seconds to wait for a stream to open (and for each frame of it).",
)
def predict(videos, model_dir, out, overlay, device, batch_size, subject, live_source, show,
            reset_after, open_timeout):  # fmt: skip
    """Valence and arousal for every frame of VIDEOS (files, folders, globs).

    Runs the pipeline's own detection, landmark and crop code (with the face params the
    model was trained with, from its meta.json) in one streaming pass, then the model: the
    CNN on batches of face crops, or the CNN-RNN on overlapping windows of its sequence
    length of which only the tail is kept (every frame predicted once, with at least half a
    window of preceding frames; the rule `evaluate` uses). Writes one row per frame: frame,
    time_s, valence, arousal, face — NaN where no face is found.

    With --live SOURCE (no VIDEOS): frames from a camera, stream or file are processed as they
    arrive, the CNN-RNN carrying its state frame to frame; see `pipeline/inference/live.py`.

    Each video's rows are written atomically (never a partial file). Exit status: 0 all
    done; 1 bad input (a file that is not a video, a folder that is not a trained model):
    nothing written for that video, the others still run; 2 some video has no face in any
    frame (its all-NaN rows are written, with a warning).
    """
    import logging

    from pipeline.errors import InputError

    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    if live_source is not None or show:
        _predict_live(videos, model_dir, out, overlay, device, subject, live_source, show,
                      reset_after, open_timeout)  # fmt: skip
        return
    if not videos:
        raise InputError("predict: give VIDEOS (files, folders, globs) or --live SOURCE")
    jobs = _predict_jobs(videos, out, overlay)
    predictor = _predictor(model_dir, device, batch_size, subject)
    status = 0
    for video, dst, ov in jobs:
        try:
            r = predictor.write_video(video, dst, overlay=ov)
        except InputError as exc:
            report(exc)  # the others still run; the status says 1 at the end
            status = 1
            continue
        extra = f", overlay {r.overlay}" if r.overlay else ""
        click.echo(
            f"{video}: {r.frames} frames, {r.faces} with a face, "
            f"{r.frames / max(r.seconds, 1e-9):.1f} frames/s -> {r.out}{extra}"
        )
        for w in r.warnings:
            click.echo(f"warning: {w}", err=True)
        if r.no_face and status == 0:
            status = 2
    if len(jobs) > 1 and status:
        click.echo("some videos failed or had no face (see above)", err=True)
    sys.exit(status)


def _predict_jobs(videos, out, overlay) -> list[tuple]:
    """(video, rows file, overlay file or None) of each video, every name checked first."""
    from pipeline.inference.inputs import (
        OVERLAY_SUFFIXES,
        TABLE_SUFFIXES,
        expand_videos,
        output_paths,
    )

    files = expand_videos(videos)
    outs = output_paths(files, out, TABLE_SUFFIXES, "--out")
    overlays = output_paths(files, overlay, OVERLAY_SUFFIXES, "--overlay") if overlay else None
    ovs = overlays or [None] * len(files)
    return list(zip(files, outs, ovs, strict=True))


def _predictor(model_dir, device, batch_size, subject, extra: str = ""):
    """The model loaded (:class:`pipeline.api.Predictor`), said on stderr."""
    from pipeline.api import Predictor

    predictor = Predictor(model_dir, device=device, batch_size=batch_size, subject=subject)
    tm = predictor.model
    click.echo(f"model {model_dir} ({tm.kind}, {tm.image_size} px, {predictor.device}){extra}",
               err=True)  # fmt: skip
    if tm.meta.trained_on_demo:
        click.echo(
            f"warning: {model_dir} was trained on the synthetic demo data (2 identities): its "
            "valence/arousal on real faces mean little; train on Aff-Wild / Aff-Wild2 / AFEW-VA",
            err=True,
        )
    return predictor


def _predict_live(videos, model_dir, out, overlay, device, subject, source, show, reset_after,
                  open_timeout):  # fmt: skip
    from pipeline.errors import InputError
    from pipeline.inference.live import open_source

    if source is None:
        raise InputError("--show is for live mode: add --live SOURCE (or use --overlay)")
    if videos or overlay:
        raise InputError("--live takes no VIDEOS and no --overlay (use --show to watch)")
    if out == ".":
        raise InputError("--live needs --out FILE.csv (the rows, written as they are made)")
    if not out.lower().endswith(".csv"):
        raise InputError(f"{out}: --live writes a .csv (a file another program can tail)")
    src = open_source(source, open_timeout)  # before the (slow) model load: fail fast
    try:
        extra = f"; live {source} ({src.kind}, {src.fps:g} fps)"
        predictor = _predictor(model_dir, device, 64, subject, extra)
    except BaseException:
        src.capture.release()
        raise
    r = predictor.run_live(src, out, show=show, reset_after_s=reset_after)
    click.echo(r.line())
    if r.error:
        click.echo(f"warning: {r.error}", err=True)


@main.command()
@click.option(
    "--model",
    "model_dir",
    default="models/cnn",
    show_default=True,
    type=click.Path(),
    help="Trained model folder (model.keras + meta.json).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["savedmodel", "tflite"]),
    default="tflite",
    show_default=True,
    help="savedmodel: a folder (TF Serving, tf.saved_model.load); tflite: one file.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(),
    help="Where to write: a folder for savedmodel, FILE.tflite for tflite (its meta.json "
    "goes beside it as FILE.meta.json).",
)
def export(model_dir, fmt, out):
    """Export a trained model for deployment (SavedModel or TFLite, float32).

    Inputs: `image` (RGB face crops resized to the model's image_size, float32 0-255: the
    model normalises them itself) and `landmarks` (136 values in [0, 1]); output: valence,
    arousal. The CNN-RNN's TFLite model takes one window (batch 1, seq_len frames).
    """
    from pipeline.inference.model import setup_device

    setup_device("cpu")  # before the export module imports TensorFlow
    from pipeline.inference.export import export_model

    info = export_model(model_dir, fmt, out)
    click.echo(f"wrote {info['out']} ({info['kind']}, {fmt}; inputs {info['inputs']})")


@main.command("import-checkpoint")
@click.argument("checkpoint", type=click.Path(exists=False))
@click.option(
    "--arch",
    required=True,
    type=click.Choice(list(TF1_ARCHS)),
    help="Which of the authors' networks the checkpoint holds.",
)
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="Model folder to write."
)
def import_checkpoint(checkpoint, arch, out):
    """Turn one of the authors' TensorFlow 1 checkpoints (Aff-Wild-models) into a model folder.

    CHECKPOINT is the checkpoint prefix (model.ckpt-0), one of its files, or its folder. The
    folder written (model.keras + meta.json, the weights' origin and SHA-256 in meta.json's
    `imported`) works with predict, predict --live, evaluate and export; it takes raw 96x96
    RGB face crops and applies the authors' (x - 128) / 128 itself. See docs/authors-models.md.
    """
    from pipeline.inference.model import setup_device

    setup_device("cpu")  # before TensorFlow is imported: an import needs no GPU
    from pipeline.models.tf1_import import import_checkpoint as run

    r = run(checkpoint, arch, out)
    scope = f", outer scope {r.prefix!r} stripped" if r.prefix else ""
    click.echo(f"{r.checkpoint}: {r.variables} variables -> {r.out} ({r.arch}{scope})")
    if r.ignored:
        click.echo(f"left out (training bookkeeping): {', '.join(r.ignored)}", err=True)


@main.command()
@click.argument("kind", type=click.Choice(list(REGISTRIES)), required=False)
def plugins(kind):
    """List the registered backbones, data-set formats, face stages, engines and metrics.

    These are the names params.yaml accepts (model.backbone, data.format, parallel.engine)
    and `--format` of check-data takes; a plug-in registers itself in pipeline.registry.
    """
    for name in [kind] if kind else list(REGISTRIES):
        registry = REGISTRIES[name]
        click.echo(f"{name}:")
        for entry in registry.names():
            click.echo(f"  {entry:<10} {_plugin_help(registry, entry)}".rstrip())


def _plugin_help(registry: Registry, name: str) -> str:
    """The help text ``name`` was registered with; a backbone's options follow it."""
    from pipeline.models.backbones import BackboneSpec

    text = registry.describe(name)
    entry = registry.get(name)
    if isinstance(entry, BackboneSpec) and entry.options.model_fields:
        text += f" (options: {', '.join(entry.options.model_fields)})"
    return text


@main.group()
def exp():
    """Whole configurations (profiles/*.yaml) as DVC experiments."""


@exp.command("run")
@click.option(
    "--profile",
    required=True,
    help="A profile of profiles/ (paper: the paper's full configuration; demo: CPU-sized) "
    "or a path to one (.yaml).",
)
@click.option(
    "-S",
    "--set-param",
    "extra",
    multiple=True,
    metavar="KEY=VALUE",
    help="More params overrides after the profile's, as `dvc exp run -S` (repeatable), "
    "e.g. -S data.root=/data/Aff-Wild -S model.init=/weights/vgg_face.h5.",
)
@click.option("-n", "--name", "exp_name", default=None, help="Experiment name (dvc exp run -n).")
@click.option("--queue", is_flag=True, help="Queue it (dvc exp run --queue); `dvc queue start`.")
@click.option("--dry", is_flag=True, help="Validate and print the dvc command; run nothing.")
def exp_run(profile, extra, exp_name, queue, dry):
    """Run a profile as a DVC experiment: `dvc exp run -S <each key of the profile> -S ...`.

    The params the experiment will get (params.yaml, then the profile's keys, then -S) are
    composed with DVC's own override code and validated first; model.backbone is replaced
    whole. A weights file in model.init is checked when train_cnn runs.
    """
    import shlex
    import subprocess

    from pipeline.profiles import exp_run_command, validate

    validate(profile, list(extra))
    cmd = exp_run_command(profile, list(extra), exp_name, queue)
    click.echo(shlex.join(cmd))
    if not dry:
        sys.exit(subprocess.run(cmd, check=False).returncode)


@main.group()
def ablations():
    """The paper's ablations (Tables 4-9) as DVC experiments from a profile."""


_PROFILE_OPTION = click.option(
    "--profile",
    default="paper",
    show_default=True,
    help="The setting the rows change (profiles/<name>.yaml, or a .yaml path): paper = the "
    "paper's full configuration (a GPU, real data); demo = CPU-sized.",
)


@ablations.command("queue")
@_PROFILE_OPTION
@click.option(
    "--tables",
    default="5,6,7,8,9",
    show_default=True,
    help="Comma-separated table numbers (4: three backbones, ImageNet weights downloaded; "
    "6: only where the data carries each annotator's labels, else skipped with the reason).",
)
@click.option(
    "--set",
    "extra",
    multiple=True,
    metavar="KEY=VALUE",
    help="Extra params.yaml override for every experiment (repeatable).",
)
@click.option(
    "--seeds",
    default="0,1,2",
    show_default=True,
    help="Training seeds: one experiment per row and seed (<row>-s<seed>); '' = params.yaml's.",
)
@click.option("--dry-run", is_flag=True, help="Print the commands, queue nothing.")
def ablations_queue(profile, tables, extra, seeds, dry_run):
    """Queue one `dvc exp run` per table row and seed, from a profile (its keys, then --set,
    then the row's own, as -S); run them with `dvc queue start`. Every row's params are
    validated first."""
    import shlex
    import subprocess

    from pipeline.evaluation.ablations import check_experiments, queue_commands

    overrides = {}
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
        overrides[key] = value
    try:
        seed_list = [int(x) for x in seeds.split(",") if x.strip()] or None
    except ValueError:
        raise click.BadParameter(
            f"{seeds!r} is not a list of integers", param_hint="--seeds"
        ) from None
    table_list = [t.strip() for t in tables.split(",")]
    for key, reason in _tables_without_data(table_list, overrides, profile).items():
        click.echo(f"# Table {key} not queued: {reason}")
        table_list.remove(key)
    check_experiments(table_list, overrides, profile)
    for cmd in queue_commands(table_list, overrides, seed_list, profile):
        click.echo(shlex.join(cmd))
        if not dry_run:
            subprocess.run(cmd, check=True)
    if not dry_run:
        click.echo(
            "queued: run them with `dvc queue start`, then "
            f"`affwild ablations report --profile {profile}`"
        )


def _tables_without_data(tables: list[str], extra: dict[str, str], profile: str) -> dict:
    """Table → why its data is missing (Table 6: no per-annotator labels in the data set the
    profile and --set point at)."""
    from pipeline.config import parse_params
    from pipeline.datasets.annotators import missing_annotators
    from pipeline.evaluation.ablations import needing
    from pipeline.profiles import composed, render

    keys = needing(tables, "annotators")
    if not keys:
        return {}
    params = parse_params(composed(profile, render(extra)), f"profile {profile}")
    reason = missing_annotators(params.data.root, params.data.format, params.split)
    return dict.fromkeys(keys, reason) if reason else {}


@ablations.command("report")
@_PROFILE_OPTION
@click.option("--out", type=click.Path(dir_okay=False), default="ablations.md", show_default=True)
def ablations_report(profile, out):
    """Write the tables with the measured numbers of the profile's runs beside the paper's
    (from dvc exp show); the header lists how the profile differs from the paper's setting."""
    from pathlib import Path

    from pipeline.evaluation.ablations import collect_metrics, exp_show_json, report

    text = report(collect_metrics(exp_show_json()), profile)
    Path(out).write_text(text)
    click.echo(f"wrote {out}")


@main.command("evaluate")
@click.option(
    "--model",
    "model_path",
    required=True,
    type=click.Path(exists=True),
    help="A trained or imported model folder, an exported SavedModel folder or TFLite file.",
)
@click.option(
    "--csv",
    "csv_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The list: image_path,valence,arousal per line (JPEG face crops, in order).",
)
@click.option(
    "--protocol",
    required=True,
    type=click.Choice(["authors", "all_frames"]),
    help="authors: their eval_script.py (one list, back-to-back cold windows, the remainder "
    "dropped); all_frames: every frame, overlapping windows per video.",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="FILE.json to write.")
@click.option("--batch-size", default=64, show_default=True, help="Frames per model call.")
@click.option(
    "--context",
    type=click.IntRange(min=0),
    default=None,
    help="all_frames, CNN-RNN: frames of overlap between windows (default: half a window).",
)
def evaluate(model_path, csv_path, protocol, out, batch_size, context):
    """Score a model on a CSV list of face crops in the authors' format.

    Writes CCC (population variance, all scored frames concatenated) and MSE per dimension,
    the mean CCC and the number of frames listed, scored and dropped. Columns `video` and
    `landmarks` (header line needed) are optional; a model that takes landmarks needs them.
    See docs/results-and-choices.md#evaluation-protocols.
    """
    from pipeline.inference.model import setup_device

    setup_device("cpu")  # before TensorFlow is imported: same numbers on any machine
    from pipeline.evaluation.protocols import load_scorer, read_list, score_list
    from pipeline.io import write_json

    frames = read_list(csv_path)
    scorer = load_scorer(model_path)
    res = score_list(scorer, frames, protocol, batch_size, context)
    write_json(res, out)
    click.echo(
        f"{protocol}: {res['frames_scored']} of {res['frames_listed']} frames scored "
        f"({res['videos']} videos); CCC valence {res['ccc_valence']:.4f}, arousal "
        f"{res['ccc_arousal']:.4f}, mean {res['ccc_mean']:.4f}; MSE valence "
        f"{res['mse_valence']:.4f}, arousal {res['mse_arousal']:.4f} -> {out}"
    )


@main.group()
def dag():
    """The DVC pipeline's files (dvc.yaml, seeds/dvc.yaml)."""


@dag.command("deps")
@click.option(
    "--write", "mode", flag_value="write", help="Rewrite each stage's code deps in place."
)
@click.option(
    "--check",
    "mode",
    flag_value="check",
    default=True,
    help="List each stage's missing and extra code deps; exit status 1 if any (default).",
)
def dag_deps(mode):
    """Each stage's code deps: every file of pipeline/ and stages/ its `python -m` module
    imports (inside functions and through the registries too) and the data files it reads.
    Run from the repository root; the other deps are left as they are."""
    from pathlib import Path

    from pipeline import stage_deps
    from pipeline.errors import InputError

    root = Path.cwd()
    if not (root / "dvc.yaml").is_file():
        raise InputError(f"{root}: no dvc.yaml (run from the repository root)")
    if mode == "write":
        changed = stage_deps.write(root)
        for s in changed:
            click.echo(f"{s.file}:{s.stage}: +{len(s.missing)} -{len(s.extra)} code deps")
        click.echo(f"{len(changed)} stage(s) rewritten")
        return
    wrong = [s for s in stage_deps.check(root) if s.missing or s.extra]
    for s in wrong:
        click.echo(f"{s.file}:{s.stage}:")
        click.echo("".join(f"  missing: {d}\n" for d in s.missing), nl=False)
        click.echo("".join(f"  extra:   {d}\n" for d in s.extra), nl=False)
    if wrong:
        click.echo(f"{len(wrong)} stage(s) out of date: run `affwild dag deps --write`", err=True)
        sys.exit(1)
    click.echo("every stage's code deps are its import closure")


if __name__ == "__main__":
    main()
