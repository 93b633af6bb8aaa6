"""The train_cnn stage across two worker processes (``TF_CONFIG``, localhost), against the
same loop in one process over two logical CPUs and over one device.

Two workers x one device must equal one process x two devices bit for bit (same global
batches, same replica split, same all-reduce sums). One device with the doubled batch sees
the same examples per step; batch normalisation's statistics are per replica, so it differs
a little: measured on these records (2 epochs of Adam, 3e-3), per-epoch training loss within
3.4 % (0.863 / 0.535 vs 0.892 / 0.555) and validation CCC within 0.032 (it is near 0 after
two epochs on these tiny records); we require 10 % and 0.06.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline.models.saved import load_model
from pipeline.records.reader import make_dataset, shard_files
from tests.helpers.records import tiny_records
from tests.helpers.repo import REPO, tool_env
from tests.helpers.training import VIDEOS, tiny_params, worker_hosts

pytestmark = pytest.mark.slow
EPOCHS = 2


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    return tiny_records(tmp_path_factory.mktemp("mw"), VIDEOS, seq_len=8)


def _params(path: Path, batch_size: int) -> Path:
    params = tiny_params(epochs=EPOCHS, batch_size=batch_size).model_dump(mode="json")
    params["augment"]["flip"] = False  # batch-numbered augmentation differs with the batch size
    path.write_text(yaml.safe_dump(params))
    return path


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    env = dict(tool_env(), PYTHONPATH=str(REPO), TMPDIR=str(tmp))
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def on_two_workers(args, scratch: Path) -> list[str]:
    """Run ``python *args`` (``args(i)`` for worker ``i`` when a function) as two workers of
    a localhost cluster; their stdouts."""
    hosts = worker_hosts(2)
    procs = []
    for i in range(2):  # the same command on every "machine", each with its TF_CONFIG
        tf_config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}}
        procs.append(
            subprocess.Popen(
                [sys.executable, *(args(i) if callable(args) else args)],
                cwd=REPO,
                env=_env(scratch, TF_CONFIG=json.dumps(tf_config)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
        )
    done = [p.communicate(timeout=900) for p in procs]
    for p, (out, err) in zip(procs, done, strict=True):
        assert p.returncode == 0, out + err[-3000:]
    return [out for out, _ in done]


def _curve(live: Path, name: str) -> list[float]:
    rows = (live / "plots" / "metrics" / f"{name}.tsv").read_text().splitlines()[1:]
    return [float(r.split("\t")[-1]) for r in rows]


def _weights(folder: Path) -> np.ndarray:
    model, _ = _loaded(folder)
    return np.concatenate([np.ravel(w) for w in model.get_weights()])


def test_train_cnn_on_two_workers(records, tmp_path):
    params = _params(tmp_path / "params.yaml", 16)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    suffix = ["", "-worker1"]  # each worker names its own paths: who wrote what shows

    def cmd(i: int) -> list[str]:
        return ["-m", "stages.train_cnn", "--records", str(records),
                "--out", str(tmp_path / f"cnn{suffix[i]}"),
                "--checkpoints", str(tmp_path / f"ck{suffix[i]}"),
                "--live", str(tmp_path / f"live{suffix[i]}"), "--params", str(params)]  # fmt: skip

    runs = [
        ast.literal_eval(out.strip().splitlines()[-1].removeprefix("cnn: "))
        for out in on_two_workers(cmd, scratch)
    ]

    # the chief wrote a model folder that loads and predicts, and the one DVCLive log; the
    # other worker wrote nothing at all (no log, no model, no temporary folder)
    model, meta = _loaded(tmp_path / "cnn")
    assert meta.workers == 2 and meta.replicas == 2 and meta.run.model_dump(mode="json") == runs[0]
    assert meta.run.epochs_run == EPOCHS
    assert (tmp_path / "live" / "metrics.json").is_file()
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith("-worker1")]
    assert list(scratch.iterdir()) == []
    assert not (tmp_path / "ck").exists()
    summary = json.loads((records / "summary.json").read_text())
    n_train = summary["splits"]["train"]["frames"]["records"]
    assert runs[0]["steps_per_epoch"] == n_train // 32
    (x, _, _), *_ = make_dataset(
        shard_files(records, "val", "frames"), "frames", batch_size=8, training=False,
    )  # fmt: skip
    pred = model.predict(x, verbose=0)
    assert pred.shape == (8, 2) and np.isfinite(pred).all()
    loss = _curve(tmp_path / "live", "loss")
    assert len(loss) == EPOCHS and loss[-1] < loss[0]  # it learns
    val_ccc = _curve(tmp_path / "live", "val_ccc")
    assert max(val_ccc) == pytest.approx(meta.run.best_val_ccc, abs=1e-6)

    # both workers ended with the same weights (hash of every weight's bytes)
    assert runs[0]["weights_sha256"] == runs[1]["weights_sha256"]
    assert runs[0]["best_val_ccc"] == runs[1]["best_val_ccc"]

    # = one process over two logical CPUs, bit for bit
    mirrored = tmp_path / "mirrored"
    r = subprocess.run(
        [sys.executable, "-m", "tests.training.stage_worker", "--devices", "2",
         "--records", str(records), "--out", str(mirrored / "cnn"),
         "--live", str(mirrored / "live"), "--params", str(params)],
        cwd=REPO, env=_env(scratch), capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert (
        json.loads(r.stdout.strip().splitlines()[-1])["weights_sha256"] == runs[0]["weights_sha256"]
    )
    np.testing.assert_array_equal(_weights(mirrored / "cnn"), _weights(tmp_path / "cnn"))

    # ≈ one device with the doubled batch (the same examples a step)
    one = tmp_path / "one"
    r = subprocess.run(
        [sys.executable, "-m", "tests.training.stage_worker", "--devices", "1",
         "--records", str(records), "--out", str(one / "cnn"), "--live", str(one / "live"),
         "--params", str(_params(tmp_path / "params32.yaml", 32))],
        cwd=REPO, env=_env(scratch), capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    np.testing.assert_allclose(_curve(one / "live", "loss"), loss, rtol=0.1)
    np.testing.assert_allclose(_curve(one / "live", "val_ccc"), val_ccc, atol=0.06)

    # the CNN-RNN from that CNN, the same way (on the images: no feature cache)
    rnn_cmd = ["-m", "stages.train_rnn", "--records", str(records), "--cnn", str(tmp_path / "cnn"),
               "--out", str(tmp_path / "rnn"), "--checkpoints", str(tmp_path / "ck2"),
               "--live", str(tmp_path / "live2"), "--params", str(params)]  # fmt: skip
    outs = on_two_workers(rnn_cmd, scratch)
    hashes = [ast.literal_eval(o.splitlines()[-1].split(": ", 1)[1].split("; transferred")[0])
              for o in outs]  # fmt: skip
    assert hashes[0]["weights_sha256"] == hashes[1]["weights_sha256"]
    rnn, rnn_meta = _loaded(tmp_path / "rnn")
    assert rnn_meta.workers == 2 and "backbone/conv1" in rnn_meta.transfer.loaded
    assert rnn.output_shape == (None, 8, 2)
    assert list(scratch.iterdir()) == []


def _loaded(folder):
    tm = load_model(folder)
    return tm.keras_model, tm.meta
