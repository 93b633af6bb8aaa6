"""The feature cache in the real DAG: an RNN sweep (model.rnn_units) re-runs train_rnn only,
never train_cnn or features (real `dvc repro` in a throw-away copy of the repository)."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.helpers.repo import TINY


@pytest.mark.slow
def test_rnn_size_change_reruns_only_train_rnn(tiny_copy):
    repo_copy = tiny_copy  # after a whole `dvc repro` with tiny params
    root = repo_copy.root
    # The defaults: a frozen CNN, no augmentation, so train_rnn trained on the feature cache.
    params = yaml.safe_load((root / "params.yaml").read_text())["train_rnn"]
    assert params["freeze_cnn"] is True and params["augment"] is False, params
    summary = json.loads((root / "data/features/summary.json").read_text())
    assert summary["used"] and summary["frames"] > 0
    meta = json.loads((root / "models/cnn_rnn/meta.json").read_text())
    assert meta["features"]["frames"] == summary["frames"]  # trained on the cache

    repo_copy.set_params(model={**TINY["model"], "rnn_units": 12})
    status = repo_copy.stale("dvc.yaml")
    assert {"train_rnn"} <= status and not {"train_cnn", "features"} & status, status
    assert repo_copy.repro("train_rnn") == {"train_rnn"}
    meta = json.loads((root / "models/cnn_rnn/meta.json").read_text())
    assert meta["model"]["rnn_units"] == 12 and meta["features"] is not None

    # Augmentation on: the cache cannot help, features says so, train_rnn uses images.
    repo_copy.set_params(train_rnn={**TINY["train_rnn"], "freeze_cnn": True, "augment": True})
    assert repo_copy.repro("train_rnn") == {"features", "train_rnn"}
    assert not json.loads((root / "data/features/summary.json").read_text())["used"]
    assert json.loads((root / "models/cnn_rnn/meta.json").read_text())["features"] is None
