"""A plug-in of every kind, registered from this test alone, works everywhere its kind is used.

Each toy — a backbone, a data-set format, a metric, an execution engine and a face stage —
is registered here (no edit anywhere else) and then goes through what a built-in goes
through: params.yaml validation, the command line's choices, and a small real run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner
from pydantic import BaseModel

from pipeline.cli import main as cli
from pipeline.config import ParamsError, parse_params
from pipeline.parallel import Engine, EngineRun
from pipeline.registry import BACKBONES, DATA_FORMATS, ENGINES, FACE_STAGES, METRICS
from tests.helpers.datasets import write_video


@pytest.fixture
def register():
    """``register(registry, name, entry, help)``; every toy is removed again afterwards."""
    added = []

    def add(registry, name, entry, help_text):
        assert name not in registry
        registry.register(name, entry, help_text)
        added.append((registry, name))
        return entry

    yield add
    for registry, name in added:
        registry.unregister(name)


def _plugins(kind: str) -> str:
    res = CliRunner().invoke(cli, ["plugins", kind])
    assert res.exit_code == 0, res.output
    return res.output


# -- a backbone ------------------------------------------------------------------------


def _toy_backbone(image_size: int, weights: str | None, options):
    import keras
    from keras import layers

    image = keras.Input((image_size, image_size, 3), name="image")
    x = layers.Conv2D(options.filters, options.kernel, name="toy_conv")(image)
    x = layers.GlobalAveragePooling2D(name="toy_pool")(x)
    return keras.Model(image, x, name="backbone")


def test_a_toy_backbone(register):
    from pydantic import Field

    from pipeline.contracts.options import BackboneOptions
    from pipeline.models.backbones import BackboneSpec

    class ToyOptions(BackboneOptions):
        filters: int = Field(16, ge=1)
        kernel: int = 3

    with pytest.raises(ParamsError, match="model.backbone: unknown backbone 'toy'"):
        parse_params({"model": {"backbone": "toy"}})
    spec = BackboneSpec(
        name="toy", build=_toy_backbone, normalization="unit", fc_units=(8, 4),
        landmarks_before=0, fc_start=1, imagenet=False, description="one conv layer",
        min_image_size=12, options=ToyOptions,
    )  # fmt: skip
    register(BACKBONES, "toy", spec, spec.description)

    toy = {"name": "toy", "filters": 4}
    cfg = parse_params({"model": {"backbone": toy, "heads": "joint"}}).model
    assert cfg.backbone.name == "toy"
    assert cfg.backbone.options.model_dump() == {"filters": 4, "kernel": 3}
    with pytest.raises(ParamsError, match="model.backbone.filters: Input should be greater"):
        parse_params({"model": {"backbone": {"name": "toy", "filters": 0}}})
    with pytest.raises(ParamsError, match=r"backbone.width: unknown option \(toy takes: filters"):
        parse_params({"model": {"backbone": {"name": "toy", "width": 4}}})
    with pytest.raises(ParamsError, match="imagenet weights exist for backbone vgg16 or resnet50"):
        parse_params({"model": {"backbone": "toy", "init": "imagenet"}})
    listed = _plugins("backbone")
    assert "toy        one conv layer (options: filters, kernel)" in listed
    assert "(options: width)" in listed and "vgg_face   VGG-Face (Table 2); layer names" in listed

    from pipeline.models import create_model

    model = create_model(cfg, image_size=16, kind="cnn")
    conv = model.get_layer("backbone").get_layer("toy_conv")
    assert (conv.filters, conv.kernel_size) == (4, (3, 3))  # its options reached the build
    out = model.predict(
        {"image": np.zeros((2, 16, 16, 3), np.float32), "landmarks": np.zeros((2, 136), "f4")},
        verbose=0,
    )
    assert out.shape == (2, 2) and np.isfinite(out).all()
    with pytest.raises(ValueError, match="backbone toy: image size 8 < 12 px"):
        create_model(cfg, image_size=8, kind="cnn")


# -- a data-set format -----------------------------------------------------------------


def _scan_csv_clips(root: Path, split_cfg):
    """Toy layout: <clip>.mp4 beside <clip>.csv, one "valence,arousal" line per frame."""
    from pipeline.datasets.base import Entry, ScanResult

    entries = []
    for csv in sorted(Path(root).glob("*.csv")):
        va = np.loadtxt(csv, delimiter=",", dtype=np.float32, ndmin=2)
        entries.append(
            Entry(video_id=csv.stem, dataset="csvclips", source=csv.with_suffix(".mp4"),
                  label_path=str(csv), valence=va[:, 0], arousal=va[:, 1])
        )  # fmt: skip
    return ScanResult(entries=entries)


def test_a_toy_data_format(register, tmp_path):
    from pipeline.datasets.base import DataFormat

    root = tmp_path / "clips"
    rng = np.random.default_rng(0)
    for i in range(5):
        write_video(root / f"c{i}.mp4", 8)
        np.savetxt(root / f"c{i}.csv", rng.uniform(-1, 1, (8, 2)), delimiter=",", fmt="%.3f")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"data": {"format": "csvclips"}, "parallel": {"n_jobs": 1}}))
    with pytest.raises(ParamsError, match="data.format: unknown data set format 'csvclips'"):
        parse_params(yaml.safe_load(params.read_text()))

    register(DATA_FORMATS, "csvclips", DataFormat(_scan_csv_clips), "mp4 + csv per clip")
    assert parse_params(yaml.safe_load(params.read_text())).data.format == "csvclips"
    assert "csvclips   mp4 + csv per clip" in _plugins("format")

    res = CliRunner().invoke(
        cli, ["check-data", str(root), "--format", "csvclips", "--params", str(params)]
    )
    assert res.exit_code == 0, res.output
    assert res.output.rstrip().endswith("ok")
    # 5 clips of 8 frames, split by the fractions (no split of their own)
    counts = [line.split() for line in res.output.splitlines() if "videos" in line]
    assert sum(int(c[1]) for c in counts) == 5 and sum(int(c[3]) for c in counts) == 40

    wrong = CliRunner().invoke(cli, ["check-data", str(root), "--format", "csvclip"])
    assert wrong.exit_code != 0 and "'csvclips'" in wrong.output  # the choices list it


# -- a metric --------------------------------------------------------------------------


def _mae(truth, pred) -> float:
    t, p = np.asarray(truth, np.float64), np.asarray(pred, np.float64)
    keep = np.isfinite(t) & np.isfinite(p)
    return float(np.mean(np.abs(t[keep] - p[keep])))


def _mae_grid():
    rng = np.random.default_rng(1)
    vid = np.repeat(np.array(["a", "b", "c", "d"]), 50)
    truth = rng.uniform(-1, 1, (200, 2)).astype(np.float32)
    grid = {"video_id": vid, "frame": np.tile(np.arange(50), 4), "labelled": np.ones(200, bool),
            "face": np.ones(200, bool), "valence": truth[:, 0], "arousal": truth[:, 1]}  # fmt: skip
    return grid, truth, {"cnn": truth + rng.normal(0, 0.3, truth.shape).astype(np.float32)}


def test_a_toy_metric(register):
    from pipeline.evaluation import evaluate as ev
    from pipeline.evaluation.metrics import Metric, flat_keys
    from stages.evaluate import _table

    grid, truth, preds = _mae_grid()
    before = ev.score(grid, preds, n_boot=100)
    assert "mae_valence" not in before.models["cnn"].all_frames

    register(METRICS, "mae", Metric(_mae, "MAE", flat=True), "mean absolute error")
    assert "mae        mean absolute error" in _plugins("metric")
    assert flat_keys()[-2:] == ("mae_valence", "mae_arousal")

    after = ev.score(grid, preds, n_boot=100)
    flat = after.models["cnn"].metrics
    want = np.mean(np.abs(truth[:, 1] - preds["cnn"][:, 1]))
    assert flat["mae_arousal"] == pytest.approx(want, abs=1e-4)
    assert "per_video_mae_valence" in after.models["cnn"].all_frames
    # nothing else changed: the built-in metrics are the same numbers
    assert {k: v for k, v in flat.items() if not k.startswith("mae")} == (
        before.models["cnn"].metrics
    )
    header, row = _table(after).splitlines()
    assert header.endswith(" MAE V  MAE A  95% CI of CCC mean")
    assert f"{flat['mae_arousal']:6.3f}" in row


# -- an engine and a face stage -----------------------------------------------------------


COUNT = pa.schema([("frame", pa.int32()), ("value", pa.int32())])


class _CountFrames:
    """Toy face step: one row per frame, its index times cfg.factor."""

    def __init__(self, cfg, video):
        self.factor = cfg.factor

    def push(self, frame, rgb, inputs):
        return [{"frame": frame, "value": frame * self.factor}]

    def finish(self):
        return []

    def note(self, report):
        report.faces = report.frames

    def close(self):
        pass


class _Factor(BaseModel):
    factor: int = 3


class Backwards(Engine):
    """Toy engine: runs the jobs here, last first (the reports still come in job order)."""

    def __init__(self):
        self.order: list[str] = []

    def run(self, work, jobs, cfg, n_jobs, address, bar):
        reports = {}
        for job in reversed(jobs):
            self.order.append(job.video_id)
            reports[job.video_id] = work.run_job(job, cfg, bar.update)
        return EngineRun([reports[j.video_id] for j in jobs], where="backwards")


def test_a_toy_engine_and_face_stage(register, tmp_path):
    from pipeline.face.jobs import FaceStep, VideoJob
    from pipeline.face.runner import run_stage

    with pytest.raises(ParamsError, match="parallel.engine: unknown execution engine 'backwards'"):
        parse_params({"parallel": {"engine": "backwards"}})
    engine = register(ENGINES, "backwards", Backwards(), "here, last video first")
    stage = FaceStep("count", _Factor, _CountFrames, writes="counts", schema=COUNT)
    register(FACE_STAGES, "count", stage, "frame indices x 3")

    assert parse_params({"parallel": {"engine": "backwards"}}).parallel.engine == "backwards"
    with pytest.raises(ParamsError, match="not used by engine 'backwards'"):
        parse_params({"parallel": {"engine": "backwards", "address": "auto"}})
    assert "backwards  here, last video first" in _plugins("engine")
    assert "count      frame indices x 3" in _plugins("stage")

    jobs = [
        VideoJob(video_id=v, source=str(write_video(tmp_path / f"{v}.mp4", n)), n_frames=n,
                 fps=25.0, subject="", out=f"{v}.parquet")
        for v, n in (("a", 4), ("b", 6), ("c", 5))
    ]  # fmt: skip
    out = tmp_path / "counts"
    summary = run_stage("count", jobs, _Factor(), out, n_jobs=2, engine="backwards")
    assert engine.order == ["c", "b", "a"]
    assert (summary.engine, summary.ray_cluster, summary.frames) == ("backwards", "backwards", 15)
    assert summary.model_dump()["videos"] == 3 and not summary.failed
    got = pq.read_table(out / "b.parquet")
    assert got.schema.equals(COUNT)
    assert got.column("value").to_pylist() == [0, 3, 6, 9, 12, 15]
    # the same stage on the built-in local engine gives the same tables
    local = tmp_path / "local"
    run_stage(stage, jobs, _Factor(), local, n_jobs=1, engine="local")
    for v in "abc":
        assert pq.read_table(local / f"{v}.parquet").equals(pq.read_table(out / f"{v}.parquet"))
    assert json.loads(summary.model_dump_json())["stage"] == "count"


PLUGIN_MODULE = """
from pydantic import Field

from pipeline.contracts.options import BackboneOptions
from pipeline.evaluation.metrics import Metric
from pipeline.models.backbones import BackboneSpec, register
from pipeline.registry import METRICS


class Options(BackboneOptions):
    filters: int = Field(8, ge=1)


def build(image_size, weights, options):
    raise NotImplementedError


register(BackboneSpec(name="outside", build=build, normalization="unit", fc_units=(8,),
                      landmarks_before=0, fc_start=1, imagenet=False, min_image_size=8,
                      description="from a module outside the package", options=Options))
METRICS.register("mae_outside", Metric(lambda t, p: float(abs(t - p).mean()), "MAE"), "MAE")
"""

CHECK = (
    "from pipeline.config import parse_params; "
    "m = parse_params({'model': {'backbone': {'name': 'outside', 'filters': 3}}}).model; "
    "print(m.backbone.name, m.backbone.options.filters)"
)


def _fresh(args: list[str], **env: str):
    """Run ``python args`` in a new interpreter (as dvc repro runs a stage)."""
    import os
    import subprocess
    import sys

    full = {k: v for k, v in os.environ.items() if k != "AFFWILD_PLUGINS"}
    full.update(env)
    return subprocess.run(
        [sys.executable, *args], cwd=Path(__file__).parents[1], env=full,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_plugin_outside_the_package_reaches_new_processes(tmp_path):
    """A module outside pipeline/ that registers a backbone (with its own option) and a metric
    is found by a fresh process, through AFFWILD_PLUGINS or an installed entry point."""
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "toy_affwild_plugin.py").write_text(PLUGIN_MODULE)
    path = str(tmp_path / "mods")

    r = _fresh(["-c", CHECK], PYTHONPATH=path)  # not declared: unknown
    assert r.returncode != 0 and "unknown backbone 'outside'" in r.stderr

    r = _fresh(["-c", CHECK], PYTHONPATH=path, AFFWILD_PLUGINS="toy_affwild_plugin")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["outside", "3"]
    r = _fresh(["-m", "pipeline.cli", "plugins"], PYTHONPATH=path,
               AFFWILD_PLUGINS="toy_affwild_plugin")  # fmt: skip
    assert "outside    from a module outside the package (options: filters)" in r.stdout
    assert "mae_outside" in r.stdout

    # an installed distribution declaring the module in the entry-point group affwild.plugins
    dist = tmp_path / "mods" / "toy_affwild_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: toy-affwild-plugin\nVersion: 0.1\n"
    )
    (dist / "entry_points.txt").write_text("[affwild.plugins]\ntoy = toy_affwild_plugin\n")
    r = _fresh(["-c", CHECK], PYTHONPATH=path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["outside", "3"]

    # a declared module that cannot be imported: one line naming it and where it was declared
    r = _fresh(["-m", "pipeline.cli", "plugins"], PYTHONPATH=path,
               AFFWILD_PLUGINS="no_such_affwild_plugin")  # fmt: skip
    assert r.returncode == 1
    assert (
        "error: plug-in module 'no_such_affwild_plugin' (AFFWILD_PLUGINS) cannot be imported"
        in r.stderr
    )
    assert "Traceback" not in r.stderr
