"""Knobs that only say how fast or where (the `parallel` section) re-run nothing; a crop knob
re-runs crop and what follows it, never demo, ingest, detect or landmarks. Real `dvc repro` of the whole DAG
in a throw-away copy, tiny params."""

from __future__ import annotations

import pytest

FACE_AND_BEFORE = {"demo", "ingest", "detect", "landmarks"}
AFTER_CROP = {"crop", "shard", "train_cnn", "features", "train_rnn", "train_svr", "evaluate"}


def _stale(repo_copy) -> set[str]:
    # dvc.yaml only: a plain `dvc repro` does not run the seed runs (seeds/dvc.yaml)
    return repo_copy.stale("dvc.yaml")


@pytest.mark.slow
def test_parallel_knobs_rerun_nothing_and_a_crop_knob_reruns_only_crop_onwards(tiny_copy):
    repo_copy = tiny_copy  # after a whole `dvc repro` with tiny params
    assert _stale(repo_copy) == set()

    repo_copy.set_params(parallel={"engine": "ray", "address": "auto", "n_jobs": 7})
    assert _stale(repo_copy) == set()

    repo_copy.set_params(parallel={"engine": "local", "address": None, "n_jobs": 1})
    repo_copy.set_params(crop={"jpeg_quality": 80})
    # directly out of date: crop, and the train stages that record the crop section
    assert _stale(repo_copy) == {"crop", "train_cnn", "train_rnn"}
    ran = repo_copy.repro()  # the stages whose outputs were written again
    assert ran == AFTER_CROP
    assert not ran & FACE_AND_BEFORE
    assert _stale(repo_copy) == set()
