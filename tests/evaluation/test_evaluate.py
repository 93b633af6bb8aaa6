"""Evaluation core: scoring over the common frames, and its bad-input errors."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import InputError
from pipeline.evaluation.evaluate import check_compatible, predictions_table, score
from pipeline.evaluation.metrics import ccc


def _grid(n=40, seed=0):
    rng = np.random.default_rng(seed)
    vids = np.array(["a"] * (n // 2) + ["b"] * (n - n // 2), dtype=object)
    return {
        "video_id": vids,
        "frame": np.r_[np.arange(n // 2), np.arange(n - n // 2)],
        "valence": rng.uniform(-1, 1, n),
        "arousal": rng.uniform(-1, 1, n),
        "face": np.ones(n, bool),
        "mask": np.ones(n, bool),
    }


def test_score_uses_frames_every_model_predicted():
    g = _grid()
    g["mask"][:3] = False
    perfect = np.stack([g["valence"], g["arousal"]], 1)
    noisy = perfect + np.random.default_rng(1).normal(0, 0.3, perfect.shape)
    noisy[5] = np.nan  # a frame one model has no prediction for
    res = score(g, {"perfect": perfect, "noisy": noisy})
    keep = g["mask"].copy()
    keep[5] = False
    assert res["perfect"]["frames"] == res["noisy"]["frames"] == keep.sum()
    assert res["perfect"]["valence"]["ccc"] == pytest.approx(1.0)
    assert res["noisy"]["arousal"]["ccc"] == pytest.approx(
        ccc(g["arousal"][keep], noisy[keep, 1]), abs=1e-4
    )
    assert res["noisy"]["ccc_mean"] == pytest.approx(
        (res["noisy"]["valence"]["ccc"] + res["noisy"]["arousal"]["ccc"]) / 2, abs=1e-4
    )
    assert res["perfect"]["videos"] == 2 and "per_video" in res["perfect"]["valence"]


def test_no_valid_label_is_an_error_not_nan_metrics():
    g = _grid()
    g["mask"][:] = False
    with pytest.raises(InputError, match="no frame with both a label and a face"):
        score(g, {"m": np.zeros((40, 2))})


def test_model_and_records_must_match():
    meta = {"kind": "cnn_rnn", "records_crop_size": 96, "seq_len": 50}
    check_compatible(meta, {"crop_size": 96, "seq_len": 50}, "models/x")
    with pytest.raises(InputError, match="trained on 96 px crops, the records hold 64 px"):
        check_compatible(meta, {"crop_size": 64, "seq_len": 50}, "models/x")
    with pytest.raises(InputError, match="sequences of 50 frames"):
        check_compatible(meta, {"crop_size": 96, "seq_len": 100}, "models/x")


def test_predictions_table_has_a_row_per_frame():
    g = _grid()
    t = predictions_table(g, {"cnn": np.zeros((40, 2), np.float32)})
    assert t.num_rows == 40
    assert {"video_id", "frame", "valence", "arousal", "cnn_valence", "cnn_arousal"} <= set(
        t.column_names
    )
