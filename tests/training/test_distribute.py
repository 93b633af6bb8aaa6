"""The GPU code paths, proven on the CPU, and training on two worker processes.

Every run is its own process (``tests/training/distribute_worker.py``): logical devices and
``TF_CONFIG`` must be set before TensorFlow initialises. All runs see the same global batches
(16 examples a step, seeded data and weights), so their weights can be compared.

Tolerances: the small backbone has batch normalisation, whose batch statistics are per
replica (as on several GPUs), so the weight update of 2 replicas x 8 examples is not that of
one device x 16: measured on the trainable weights after 4 steps (SGD 0.01), cosine 0.980
and norm ratio 0.982 between the two updates (we require > 0.95 and 0.9-1.1). The
metrics of the same weights are the same to float rounding (their sums add up over replicas).
A loss not divided by the replicas doubles the update (norm ratio 2), which these catch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.repo import REPO
from tests.helpers.training import worker_hosts


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), **extra)
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _cmd(out: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "tests.training.distribute_worker", "--out", str(out), *args]


def run(tmp_path: Path, name: str, *args: str) -> dict:
    out = tmp_path / f"{name}.json"
    r = subprocess.run(_cmd(out, *args), cwd=REPO, env=_env(), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(out.read_text())


def flat(ws) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(w, dtype=np.float64)) for w in ws])


def assert_same_update(one: dict, other: dict, key: str = "trainable") -> None:
    w0 = flat(one[f"initial_{key}"])
    assert np.array_equal(w0, flat(other[f"initial_{key}"]))  # same start
    d1, d2 = flat(one[key]) - w0, flat(other[key]) - w0
    cosine = d1 @ d2 / np.linalg.norm(d1) / np.linalg.norm(d2)
    ratio = np.linalg.norm(d2) / np.linalg.norm(d1)
    assert cosine > 0.95 and 0.9 < ratio < 1.1, (cosine, ratio)


def test_mirrored_over_two_logical_cpus_matches_one_device(tmp_path):
    one = run(tmp_path, "one", "--mode", "one")
    two = run(tmp_path, "two", "--mode", "mirrored")
    assert (one["replicas"], two["replicas"]) == (1, 2)
    # the same weights evaluated: metrics are sums over both replicas' halves of each batch
    for k, v in one["initial"].items():
        assert two["initial"][k] == pytest.approx(v, rel=1e-5, abs=1e-6), k
    assert two["loss"][0] == pytest.approx(one["loss"][0], rel=0.02)
    assert_same_update(one, two)


@pytest.mark.parametrize("kind", ["cnn", "cnn_rnn"])
def test_mixed_float16_trains_with_float32_ccc(tmp_path, kind):
    r = run(tmp_path, kind, "--kind", kind, "--policy", "mixed_float16", "--loss", "ccc",
            "--optimizer", "adam", "--lr", "0.001")  # fmt: skip
    assert r["policy"] == "mixed_float16" and r["conv_dtypes"] == ["float16"]
    assert r["pred_dtype"] == "float32"  # the heads output float32
    assert r["variable_dtype"] == "float32" and r["loss_dtype"] == "float32"
    assert all(np.isfinite(r["loss"])) and r["finite"]
    assert all(np.isfinite(v) for v in r["metrics"].values()), r["metrics"]
    assert all(np.isfinite(v) for v in r["initial"].values()), r["initial"]
    assert all(np.isfinite(flat(r["trainable"])))


def test_xla_jit_compile_trains_the_cnn_on_the_cpu(tmp_path):
    # no initial evaluation: one XLA compilation fewer (the update and the loss are compared)
    plain = run(tmp_path, "plain", "--optimizer", "adam", "--lr", "0.001", "--no-eval")
    xla = run(tmp_path, "xla", "--optimizer", "adam", "--lr", "0.001", "--jit", "--no-eval")
    assert xla["jit_compile"] is True and plain["jit_compile"] is False
    assert xla["loss"][0] == pytest.approx(plain["loss"][0], rel=1e-3)
    assert_same_update(plain, xla)


def run_two_workers(tmp_path: Path, *args: str) -> list[subprocess.CompletedProcess]:
    hosts = worker_hosts(2)
    procs = []
    for i in range(2):
        tf_config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}}
        procs.append(
            subprocess.Popen(
                _cmd(tmp_path / f"worker{i}.json", "--mode", "multiworker", *args),
                cwd=REPO,
                env=_env(TF_CONFIG=json.dumps(tf_config)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
        )
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


@pytest.mark.slow
def test_two_worker_processes_train_like_one(tmp_path):
    """MultiWorkerMirroredStrategy over two processes on localhost, the custom train step."""
    done = run_two_workers(tmp_path, "--trainer", "custom", "--no-eval")
    for r in done:
        assert r.returncode == 0, r.stderr[-3000:]
    w = [json.loads((tmp_path / f"worker{i}.json").read_text()) for i in range(2)]
    assert w[0]["replicas"] == w[1]["replicas"] == 2
    assert np.array_equal(flat(w[0]["trainable"]), flat(w[1]["trainable"]))  # in sync
    mirrored = run(tmp_path, "mirrored", "--mode", "mirrored", "--trainer", "custom")
    # two machines' worth of replicas = two devices of one machine, to float rounding
    np.testing.assert_allclose(flat(w[0]["trainable"]), flat(mirrored["trainable"]), atol=1e-6)
    one = run(tmp_path, "one", "--mode", "one", "--trainer", "custom")
    assert_same_update(one, w[0])
    assert w[0]["loss"][0] == pytest.approx(one["loss"][0], rel=0.02)


@pytest.mark.slow
def test_keras_fit_under_multi_worker_still_fails_with_our_pins(tmp_path):
    """keras-team/keras#20585: if this starts passing, `fit` can go multi-worker (docs/scaling.md)."""
    done = run_two_workers(tmp_path, "--trainer", "fit", "--no-eval")
    assert any(r.returncode != 0 for r in done)
    assert any("PerReplica" in r.stderr and "unsupported type" in r.stderr for r in done)


def test_cluster_position_from_tf_config(monkeypatch):
    from pipeline.training.distribute import cluster_position

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert cluster_position() == (1, 0)
    cfg = {"cluster": {"chief": ["c:1"], "worker": ["a:1", "b:1"]},
           "task": {"type": "worker", "index": 1}}  # fmt: skip
    monkeypatch.setenv("TF_CONFIG", json.dumps(cfg))
    assert cluster_position() == (3, 2)  # the chief first, then the workers
    cfg["task"] = {"type": "chief", "index": 0}
    monkeypatch.setenv("TF_CONFIG", json.dumps(cfg))
    assert cluster_position() == (3, 0)
    cfg["task"] = {"type": "worker", "index": 5}
    monkeypatch.setenv("TF_CONFIG", json.dumps(cfg))
    from pipeline.errors import InputError

    with pytest.raises(InputError, match="not one of the cluster"):
        cluster_position()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1"]}}))
    assert cluster_position() == (1, 0)
