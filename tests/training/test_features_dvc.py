"""The feature cache in the real DAG: an RNN sweep (model.rnn_units) re-runs train_rnn only,
never train_cnn or features (real `dvc repro` in a throw-away copy of the repository)."""

from __future__ import annotations

import json

import pytest

from tests.test_pipeline_e2e import TINY


@pytest.mark.slow
def test_rnn_size_change_reruns_only_train_rnn(repo_copy):
    repo_copy.set_params(**{**TINY, "train_rnn": {**TINY["train_rnn"], "freeze_cnn": True,
                                                    "augment": False}})  # fmt: skip
    repo_copy.commit("tiny params, frozen CNN without augmentation")
    first = repo_copy.dvc("repro", "train_rnn").stdout
    assert "Running stage 'features'" in first
    root = repo_copy.root
    summary = json.loads((root / "data/features/summary.json").read_text())
    assert summary["used"] and summary["frames"] > 0
    meta = json.loads((root / "models/cnn_rnn/meta.json").read_text())
    assert meta["features"]["frames"] == summary["frames"]  # trained on the cache

    repo_copy.set_params(model={**TINY["model"], "rnn_units": 12})
    status = json.loads(repo_copy.dvc("status", "--json").stdout)
    assert {"train_rnn"} <= set(status) and not {"train_cnn", "features"} & set(status), status
    second = repo_copy.dvc("repro", "train_rnn").stdout
    assert "Running stage 'train_rnn'" in second
    assert "Running stage 'features'" not in second and "Running stage 'train_cnn'" not in second
    meta = json.loads((root / "models/cnn_rnn/meta.json").read_text())
    assert meta["model"]["rnn_units"] == 12 and meta["features"] is not None

    # Augmentation on: the cache cannot help, features says so, train_rnn uses images.
    repo_copy.set_params(train_rnn={**TINY["train_rnn"], "freeze_cnn": True, "augment": True})
    third = repo_copy.dvc("repro", "train_rnn").stdout
    assert "Running stage 'features'" in third and "Running stage 'train_cnn'" not in third
    assert not json.loads((root / "data/features/summary.json").read_text())["used"]
    assert json.loads((root / "models/cnn_rnn/meta.json").read_text())["features"] is None
