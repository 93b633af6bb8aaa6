"""The training stages on tiny records: they learn, keep the best epoch, describe themselves,
and resume after being killed mid-training (every kill point through real `dvc repro`:
test_kill_anywhere.py)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import yaml

from pipeline.artifacts import ModelFolderError
from pipeline.models.saved import load_model
from pipeline.training.checkpoints import KILL_AT_ENV, MARKER_ENV
from pipeline.training.run import train_stage
from tests.helpers.records import CROP, tiny_records
from tests.helpers.repo import REPO, tool_env
from tests.helpers.training import VIDEOS, tiny_params

SEQ = 8


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    return tiny_records(tmp_path_factory.mktemp("train"), VIDEOS, seq_len=SEQ)


def test_cnn_then_cnn_rnn(records, tmp_path):
    params = tiny_params()
    meta = train_stage("cnn", params, records, tmp_path / "cnn", tmp_path / "ck", tmp_path / "live")
    model, saved = _loaded(tmp_path / "cnn")
    assert saved == meta
    assert json.loads((tmp_path / "cnn" / "meta.json").read_text()) == meta.to_json()
    assert meta.image_size == CROP and meta.records_crop_size == CROP
    assert meta.normalization == "symmetric"  # the small backbone's, [-1, 1]
    assert meta.face.crop.size == params.crop.size
    assert meta.run.epochs_run == 3 and 0 <= meta.run.best_epoch < 3
    assert not (tmp_path / "ck").exists()  # the checkpoint is gone once the model is written
    curve = (tmp_path / "live" / "plots" / "metrics" / "loss.tsv").read_text().splitlines()
    assert len(curve) == 1 + 3  # header + one row per epoch
    losses = [float(line.split("\t")[-1]) for line in curve[1:]]
    assert losses[-1] < losses[0]  # it learns something
    # What DVC shows is the KEPT epoch's validation numbers, not the last epoch's.
    shown = json.loads((tmp_path / "live" / "metrics.json").read_text())
    best = meta.run.best_epoch
    assert shown["epoch"] == best
    val_curve = (tmp_path / "live" / "plots" / "metrics" / "val_ccc.tsv").read_text().splitlines()
    assert shown["ccc_mean"] == pytest.approx(float(val_curve[1 + best].split("\t")[-1]), abs=1e-4)
    assert set(shown) == {"epoch", "ccc_valence", "ccc_arousal", "ccc_mean", "mse_valence",
                          "mse_arousal"}  # fmt: skip
    # The training set's mean label (evaluate's fallback for face-less frames), each frame once.
    assert len(meta.train_label_mean) == 2
    assert all(-1 <= x <= 1 for x in meta.train_label_mean)

    rnn = train_stage(
        "cnn_rnn",
        params,
        records,
        tmp_path / "rnn",
        tmp_path / "ck2",
        tmp_path / "live2",
        cnn_dir=tmp_path / "cnn",
    )
    assert rnn.seq_len == SEQ
    assert "backbone/conv1" in rnn.transfer.loaded
    model, _ = _loaded(tmp_path / "rnn")
    assert model.output_shape == (None, SEQ, 2)


def test_seed_override_changes_training_not_data(records, tmp_path):
    from pipeline.training.run import with_train_seed

    params = tiny_params(epochs=1)
    p1 = with_train_seed(params, 1)
    assert p1.train_cnn.seed == p1.train_rnn.seed == 1 and params.train_cnn.seed == 0
    assert p1.shard == params.shard and p1.balance == params.balance
    assert with_train_seed(params, None) is params
    w = []
    for k, p in enumerate((params, p1, params)):
        train_stage("cnn", p, records, tmp_path / f"m{k}", tmp_path / f"c{k}", tmp_path / f"l{k}")
        model, _ = _loaded(tmp_path / f"m{k}")
        w.append(np.concatenate([x.ravel() for x in model.get_weights()]))
    np.testing.assert_array_equal(w[0], w[2])  # same seed: same weights
    assert not np.array_equal(w[0], w[1])
    # ... and the same model file, byte for byte (no save time inside), so DVC sees no change.
    files = [(tmp_path / f"m{k}" / "model.keras").read_bytes() for k in range(3)]
    assert files[0] == files[2] and files[0] != files[1]


def test_not_a_model_folder(tmp_path):
    with pytest.raises(ModelFolderError, match="not a trained model folder"):
        load_model(tmp_path)


def _stage_cmd(records, tmp_path):
    return [
        sys.executable,
        "-m",
        "stages.train_cnn",
        "--records",
        str(records),
        "--out",
        str(tmp_path / "cnn"),
        "--checkpoints",
        str(tmp_path / "ck"),
        "--live",
        str(tmp_path / "live"),
        "--params",
        str(tmp_path / "params.yaml"),
    ]


@pytest.mark.slow
def test_resume_after_being_killed_mid_training(records, tmp_path):
    """Killed after its third epoch trained (before its commit), with dropout on and epochs
    of a fixed number of steps (one endless stream of batches across epochs): the second run
    resumes after epoch 2 and ends as an uninterrupted run does, byte for byte (dropout's
    RNG state, optimiser, learning-rate step and the stream's position were committed). One
    pass per epoch, the default, is killed through `dvc repro` in test_kill_anywhere.py."""
    epochs = 4
    params = tiny_params(epochs=epochs, steps_per_epoch=3).model_dump(mode="json")
    params["model"]["dropout"] = 0.5
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    marker = tmp_path / "marker.json"
    # Each epoch's commit is 7 operations, 8 from the second on (the older version pruned):
    # operation 16 is the first of epoch 3's commit.
    env = {**tool_env(), KILL_AT_ENV: "train_cnn:16", MARKER_ENV: str(marker)}
    res = subprocess.run(
        _stage_cmd(records, tmp_path), cwd=REPO, env=env, capture_output=True, text=True
    )
    assert res.returncode == -signal.SIGKILL, res.stdout + res.stderr
    assert json.loads(marker.read_text())["op"] == "epoch:variables"
    rows_before = (tmp_path / "live/plots/metrics/loss.tsv").read_text().splitlines()[1:]
    assert len(rows_before) == 3  # epoch 3 was logged, not committed
    assert not (tmp_path / "cnn").exists()  # nothing half-written

    # `dvc repro` deletes a stage's outputs (the DVCLive folder too) before it runs it again.
    shutil.rmtree(tmp_path / "live")
    res = subprocess.run(
        _stage_cmd(records, tmp_path), cwd=REPO, env=tool_env(), capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"(2 of {epochs} epochs done)" in res.stdout
    assert "Epoch 1/" not in res.stdout and "Epoch 3/" in res.stdout  # resumed, not restarted
    rows = (tmp_path / "live/plots/metrics/loss.tsv").read_text().splitlines()[1:]
    steps = [int(r.split("\t")[0]) for r in rows]
    assert steps == list(range(epochs))  # one curve, no restart, no duplicate epochs
    assert rows[:2] == rows_before[:2]  # the committed epochs were kept as they were
    assert rows[2] == rows_before[2]  # and epoch 3 trained again to the same numbers
    assert not (tmp_path / "ck").exists()

    # The resumed run ends where an uninterrupted one does: same curves, same model folder.
    ref = tmp_path / "ref"
    ref.mkdir()
    shutil.copy(tmp_path / "params.yaml", ref / "params.yaml")
    res = subprocess.run(
        _stage_cmd(records, ref), cwd=REPO, env=tool_env(), capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr
    for rel in ("live/plots/metrics/loss.tsv", "live/metrics.json", "cnn/model.keras",
                "cnn/meta.json"):  # fmt: skip
        assert (ref / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel


@pytest.mark.slow
def test_stale_checkpoint_of_other_params_is_not_resumed(records, tmp_path):
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump(tiny_params(epochs=2).model_dump(mode="json"))
    )
    # A checkpoint left behind as if a run of other params had been killed.
    (tmp_path / "ck" / "epoch-0001").mkdir(parents=True)
    (tmp_path / "ck" / "LATEST").write_text('{"version": "epoch-0001", "run_id": "other"}')
    res = subprocess.run(
        _stage_cmd(records, tmp_path), cwd=REPO, env=tool_env(), capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert "resumed" not in res.stdout
    meta = json.loads((tmp_path / "cnn" / "meta.json").read_text())
    assert meta["run"]["epochs_run"] == 2  # from scratch
    rows = (tmp_path / "live/plots/metrics/loss.tsv").read_text().splitlines()[1:]
    assert [int(r.split("\t")[0]) for r in rows] == [0, 1]
    assert not (tmp_path / "ck").exists()


def _loaded(folder):
    tm = load_model(folder)
    return tm.keras_model, tm.meta
