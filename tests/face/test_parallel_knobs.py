"""Knobs that only say how fast or where (the `parallel` section) re-run nothing; a crop knob
re-runs crop, never demo, ingest, detect or landmarks, and leaves what follows crop out of date.
Real `dvc repro` in a copy of the session's tiny run. (That DVC then runs everything after
crop is DVC's; an SVR knob after a DVC remote round trip runs exactly its stages:
tests/test_dvc_remote.py.)"""

from __future__ import annotations

import pytest

# out of date once crop has run again: crop's output changed under shard; the train stages
# record the crop section (features and the rest follow once shard and train_cnn have run)
AFTER_CROP = {"shard", "train_cnn", "train_rnn"}


def _stale(repo_copy) -> set[str]:
    # dvc.yaml only: a plain `dvc repro` does not run the seed runs (seeds/dvc.yaml)
    return repo_copy.stale("dvc.yaml")


@pytest.mark.slow
def test_parallel_knobs_rerun_nothing_and_a_crop_knob_reruns_crop_not_before(tiny_copy):
    repo_copy = tiny_copy  # after a whole `dvc repro` with tiny params
    assert _stale(repo_copy) == set()

    repo_copy.set_params(parallel={"engine": "ray", "address": "auto", "n_jobs": 7})
    assert _stale(repo_copy) == set()

    repo_copy.set_params(parallel={"engine": "local", "address": None, "n_jobs": 1})
    repo_copy.set_params(crop={"jpeg_quality": 80})
    # directly out of date: crop, and the train stages that record the crop section
    assert _stale(repo_copy) == {"crop", "train_cnn", "train_rnn"}
    assert repo_copy.repro("crop") == {"crop"}  # the stages whose outputs were written again
    assert _stale(repo_copy) == AFTER_CROP
