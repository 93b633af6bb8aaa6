"""Folders written by ``affwild import-checkpoint`` (from made TF1 checkpoints of the authors'
VGG-Face-GRU and VGG-Face 4096-2000-2 CNN) go through ``predict``, ``predict --live``,
``export`` and the ``evaluate`` stage unchanged, with no demo-data warning."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config import BalanceConfig, ShardConfig
from pipeline.inference.live import run_live
from pipeline.inference.model import load_model
from pipeline.models.tf1_import import IMAGE_SIZE, SEQ_LEN, import_checkpoint
from pipeline.records.writer import load_videos, write_records
from tests.helpers import tf1 as ref
from tests.helpers.inference import N_FRAMES
from tests.helpers.records import make_interim

pytestmark = [
    pytest.mark.slow,  # the authors' full-size networks (VGG-Face at 96 px, FC 4096) on a CPU
    pytest.mark.filterwarnings("ignore:.*tf.nn.rnn_cell.GRUCell. is deprecated:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*layer.add_variable. is deprecated:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning"),
]
DEMO_WARNING = "synthetic demo data"


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("imported")
    out = {}
    for kind, arch in (("cnn_rnn", "affwildnet-vggface-gru"), ("cnn", "vggface-4096x2000x2")):
        prefix, _ = ref.make_checkpoint(arch, root / arch, None, seed=5)
        out[kind] = import_checkpoint(prefix, arch, root / f"{arch}-model").out
    return out


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("kind", ["cnn", "cnn_rnn"])
def test_predict(imported, gap_video, tmp_path, kind):
    out = tmp_path / "rows.csv"
    r = CliRunner().invoke(main, ["predict", str(gap_video), "--model", str(imported[kind]),
                                  "--out", str(out)], catch_exceptions=False)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert DEMO_WARNING not in r.output
    assert f"({kind}, {IMAGE_SIZE} px" in r.output
    rows = _rows(out)
    assert [int(x["frame"]) for x in rows] == list(range(N_FRAMES))
    for x in rows:
        face = x["face"] == "true"
        assert face == (not 10 <= int(x["frame"]) < 20)  # the video's recipe
        assert math.isfinite(float(x["valence"])) == face
    va = np.array([[float(x["valence"]), float(x["arousal"])] for x in rows if x["face"] == "true"])
    assert va.std(axis=0).max() > 0  # the network sees the crops: not one constant


def test_live(imported, gap_video, tmp_path):
    tm = load_model(imported["cnn_rnn"])
    out = tmp_path / "live.csv"
    r = run_live(str(gap_video), tm, out)
    rows = _rows(out)
    assert len(rows) == r.rows == r.read - r.dropped and r.read == N_FRAMES
    assert any(x["face"] == "true" for x in rows)
    for x in rows:
        assert math.isfinite(float(x["valence"])) == (x["face"] == "true")


def test_export(imported, tmp_path):
    rng = np.random.default_rng(0)
    for kind, folder in sorted(imported.items()):  # cnn, then cnn_rnn (x, keras_model kept)
        saved = tmp_path / f"{kind}_saved"
        r = CliRunner().invoke(main, ["export", "--model", str(folder), "--format", "savedmodel",
                                      "--out", str(saved)], catch_exceptions=False)  # fmt: skip
        assert r.exit_code == 0, r.output
        keras_model = load_model(folder).keras_model
        lead = (1, SEQ_LEN) if kind == "cnn_rnn" else (2,)
        x = {"image": rng.integers(0, 256, (*lead, 96, 96, 3)).astype(np.float32),
             "landmarks": np.zeros((*lead, 136), np.float32)}  # fmt: skip
        loaded = tf.saved_model.load(str(saved))  # held: its variables live as long as it
        got = loaded.serve(x).numpy()
        np.testing.assert_allclose(got, keras_model.predict_on_batch(x), atol=1e-4)
        assert json.loads((saved / "meta.json").read_text())["imported"]["arch"]
    # TFLite: the CNN-RNN (its GRU with reset_after=False included) takes one window
    lite = tmp_path / "rnn.tflite"
    r = CliRunner().invoke(main, ["export", "--model", str(imported["cnn_rnn"]), "--format",
                                  "tflite", "--out", str(lite)], catch_exceptions=False)  # fmt: skip
    assert r.exit_code == 0, r.output
    interp = tf.lite.Interpreter(model_path=str(lite))
    interp.allocate_tensors()
    got = interp.get_signature_runner("serving_default")(**x)["output_0"]
    np.testing.assert_allclose(got, keras_model.predict_on_batch(x), atol=1e-4)


def test_evaluate_stage(imported, tmp_path):
    from stages.evaluate import main as evaluate

    videos = {"tr0": ("train", 40), "te0": ("test", 100), "te1": ("test", 30)}
    manifest, labels, crops = make_interim(tmp_path / "interim", videos, crop=IMAGE_SIZE)
    records = tmp_path / "records"
    cfg = ShardConfig(seq_len=SEQ_LEN, train_stride=SEQ_LEN, shard_mb=1)
    write_records(load_videos(manifest, labels, crops), records, cfg, BalanceConfig()).write(
        records
    )
    pq.write_table(labels, tmp_path / "labels.parquet")
    (tmp_path / "params.yaml").write_text("{}\n")
    r = CliRunner().invoke(evaluate, [
        "--records", str(records), "--labels", str(tmp_path / "labels.parquet"),
        "--cnn", str(imported["cnn"]), "--cnn-rnn", str(imported["cnn_rnn"]),
        "--metrics", str(tmp_path / "metrics"), "--report", str(tmp_path / "report.json"),
        "--predictions", str(tmp_path / "pred.parquet"), "--params", str(tmp_path / "params.yaml"),
    ], catch_exceptions=False)  # fmt: skip
    assert r.exit_code == 0, r.output
    for kind in ("cnn", "cnn_rnn"):
        m = json.loads((tmp_path / "metrics" / f"{kind}.json").read_text())
        assert math.isfinite(m["ccc_valence"]) and math.isfinite(m["mse_arousal"])
    pred = pq.read_table(tmp_path / "pred.parquet")
    assert pred.num_rows == 130
