"""Evaluation core: scoring over the common frames, and its bad-input errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.artifacts import EvaluationReport, FaceParams, ModelMeta, RecordsSummary
from pipeline.config import ModelConfig
from pipeline.errors import InputError
from pipeline.evaluation.evaluate import check_compatible, fill_missing, predictions_table, score
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
        "labelled": np.ones(n, bool),
    }


def test_every_labelled_frame_is_scored_and_face_only_numbers_stand_beside():
    g = _grid()
    g["face"][:3] = g["mask"][:3] = False  # no face: filled, scored in the headline numbers
    g["labelled"][30] = False
    g["valence"][30] = g["arousal"][30] = np.nan
    perfect = np.stack([g["valence"], g["arousal"]], 1)
    noisy = perfect + np.random.default_rng(1).normal(0, 0.3, perfect.shape)
    raw = {"perfect": perfect.copy(), "noisy": noisy.copy()}
    raw["perfect"][:3] = raw["noisy"][:3] = np.nan
    filled = {k: fill_missing(g, v, [0.0, 0.0], "mean") for k, v in raw.items()}
    res = score(g, filled, raw, n_boot=200)
    assert res.frames.model_dump() == {"labelled": 39, "with_face": 36,
                                       "face_share": round(36 / 39, 4), "videos": 2}  # fmt: skip
    m = res.models["noisy"]
    lab = g["labelled"]
    assert m.metrics["ccc_arousal"] == pytest.approx(
        ccc(g["arousal"][lab], filled["noisy"][lab, 1]), abs=1e-4
    )
    face = lab & g["face"]
    assert m.with_face["ccc_arousal"] == pytest.approx(
        ccc(g["arousal"][face], noisy[face, 1]), abs=1e-4
    )
    assert res.models["perfect"].with_face["ccc_valence"] == pytest.approx(1.0)
    assert res.models["perfect"].metrics["ccc_valence"] < 1.0  # the filled frames count
    flat = m.metrics
    assert flat["ccc_mean"] == pytest.approx(
        (flat["ccc_valence"] + flat["ccc_arousal"]) / 2, abs=2e-4
    )
    assert flat["ccc_mean_lo"] <= flat["ccc_mean"] <= flat["ccc_mean_hi"]
    v = res.comparisons["perfect vs noisy"]["ccc_mean"]
    assert v.verdict == "higher" and v.diff_lo > 0


def test_metrics_layout_is_flat_and_narrow():
    """metrics/<model>.json: the keys `dvc metrics show` lists, numbers only, no nesting."""
    g = _grid()
    p = np.stack([g["valence"], g["arousal"]], 1) * 0.5
    res = score(g, {"cnn": p}, n_boot=100)
    flat = res.models["cnn"].metrics
    assert list(flat) == [
        "ccc_valence", "ccc_arousal", "ccc_mean", "mse_valence", "mse_arousal",
        "ccc_mean_lo", "ccc_mean_hi",
    ]  # fmt: skip
    lo, hi = res.models["cnn"].intervals["ccc_valence"]
    assert lo <= flat["ccc_valence"] <= hi
    assert all(isinstance(x, float) for x in flat.values())


def test_the_report_round_trips_through_its_file(tmp_path):
    """reports/evaluate.json: what score() gives, written and read back, is the same report;
    the file is plain nested JSON (intervals as [lo, hi]) and a broken one names the file."""
    g = _grid()
    truth = np.stack([g["valence"], g["arousal"]], 1)
    res = score(g, {"cnn": truth * 0.5, "svr": truth * 0.2}, n_boot=100)
    res = res.model_copy(update={"split": "test"})
    path = tmp_path / "evaluate.json"
    res.write_file(path)
    raw = json.loads(path.read_text())
    assert list(raw) == ["frames", "bootstrap", "models", "comparisons", "split"]
    assert list(raw["models"]["svr"]) == ["metrics", "intervals", "all_frames", "with_face"]
    assert raw["models"]["cnn"]["intervals"]["ccc_mean"] == list(
        res.models["cnn"].intervals["ccc_mean"]
    )
    assert raw["comparisons"]["cnn vs svr"]["ccc_mean"]["verdict"] in ("higher", "lower",
                                                                       "not distinguishable here")  # fmt: skip
    back = EvaluationReport.read_file(path)
    assert back == res and back.models["svr"].metrics == res.models["svr"].metrics
    del raw["models"]["cnn"]["intervals"]
    path.write_text(json.dumps(raw))
    with pytest.raises(InputError, match=f"{path}: models.cnn.intervals: Field required"):
        EvaluationReport.read_file(path)


def test_labelled_frames_without_prediction_are_refused():
    g = _grid()
    p = np.zeros((40, 2))
    p[4] = np.nan
    with pytest.raises(ValueError, match="fill them first"):
        score(g, {"m": p})


def test_no_label_at_all_is_an_error_not_nan_metrics():
    g = _grid()
    g["labelled"][:] = False
    with pytest.raises(InputError, match="no labelled frame"):
        score(g, {"m": np.zeros((40, 2))})


def test_fill_rule_nearest_within_gap_else_training_mean():
    n = 30
    g = {
        "video_id": np.array(["a"] * 20 + ["b"] * 10, dtype=object),
        "frame": np.r_[np.arange(20), np.arange(10)],
        "face": np.ones(n, bool),
    }
    pred = np.arange(2 * n, dtype=np.float32).reshape(n, 2)
    g["face"][[0, 1]] = False  # start of a: nearest is frame 2 (after)
    g["face"][5:8] = False  # a gap of 3: 5 <- 4, 6 <- 4 (a tie: the earlier), 7 <- 8
    g["face"][10:20] = False  # a 10-19: 10..12 from 9 (gap 3); 13..19 beyond: mean
    g["face"][20:] = False  # video b has no face at all: mean, never a's frames
    mean = [0.25, -0.5]
    out = fill_missing(g, pred, mean, "nearest", max_gap=3)
    np.testing.assert_array_equal(out[[0, 1]], pred[[2, 2]])
    np.testing.assert_array_equal(out[[5, 6, 7]], pred[[4, 4, 8]])
    np.testing.assert_array_equal(out[[10, 11, 12]], pred[[9, 9, 9]])
    np.testing.assert_array_equal(out[13:20], np.tile(mean, (7, 1)))
    np.testing.assert_array_equal(out[20:], np.tile(mean, (10, 1)))
    keep = g["face"]
    np.testing.assert_array_equal(out[keep], pred[keep])  # network outputs untouched
    # A network output on a face-less step (the CNN-RNN's black placeholder) is not used.
    assert not np.isin(out[~keep], pred[~keep]).all(axis=1).any()
    only_mean = fill_missing(g, pred, mean, "mean", max_gap=3)
    np.testing.assert_array_equal(only_mean[~keep], np.tile(mean, ((~keep).sum(), 1)))
    with pytest.raises(ValueError, match="fill rule"):
        fill_missing(g, pred, mean, "zero")


def test_model_and_records_must_match():
    meta = ModelMeta(kind="cnn_rnn", image_size=64, records_crop_size=96, seq_len=50,
                     normalization="unit", landmarks=False, model=ModelConfig(),
                     face=FaceParams())  # fmt: skip
    check_compatible(meta, RecordsSummary(crop_size=96, seq_len=50), "models/x")
    with pytest.raises(InputError, match="trained on 96 px crops, the records hold 64 px"):
        check_compatible(meta, RecordsSummary(crop_size=64, seq_len=50), "models/x")
    with pytest.raises(InputError, match="sequences of 50 frames"):
        check_compatible(meta, RecordsSummary(crop_size=96, seq_len=100), "models/x")


def test_predictions_table_has_a_row_per_frame():
    g = _grid()
    t = predictions_table(g, {"cnn": np.zeros((40, 2), np.float32)}, np.zeros(40, bool))
    assert t.num_rows == 40
    assert {
        "video_id", "frame", "valence", "arousal", "face", "labelled", "window_start",
        "cnn_valence", "cnn_arousal",
    } <= set(t.column_names)  # fmt: skip


def test_the_authors_protocol_lists_face_frames_as_one_list_cut_back_to_back():
    """evaluate.protocol authors: the labelled frames with a face, across videos in order, cut
    into whole windows (the remainder dropped); window starts every seq_len rows."""
    from pipeline.evaluation.evaluate import authors_list, authors_windows, window_starts

    g = _grid(40)  # videos a (0-19) and b (20-39)
    g["face"][[2, 25]] = False
    g["labelled"][7] = False
    sub = authors_list(g, 8)  # 37 listed -> 4 windows of 8, 5 dropped
    listed = np.flatnonzero(g["face"] & g["labelled"])
    assert len(sub["frame"]) == 32
    assert list(sub["frame"]) == list(g["frame"][listed[:32]])
    assert list(sub["video_id"][17:19]) == ["a", "b"]  # the third window spans both videos
    wins = authors_windows(32, 8)
    assert [int(r[0]) for r, _, _ in wins] == [0, 8, 16, 24]
    assert all((a, b) == (0, 8) for _, a, b in wins)
    starts = window_starts(sub, 8, 0, "authors")
    assert list(np.flatnonzero(starts)) == [8, 16, 24]
    with pytest.raises(InputError, match="fewer than one 80-frame window"):
        authors_list(g, 80)


def test_the_protocol_is_validated():
    from pipeline.config import EvaluateConfig

    assert EvaluateConfig().protocol == "all_frames"
    assert EvaluateConfig(protocol="authors").protocol == "authors"
    with pytest.raises(ValueError, match="protocol"):
        EvaluateConfig(protocol="paper")
    with pytest.raises(ValueError, match="back-to-back"):
        EvaluateConfig(protocol="authors", rnn_context=10)


def test_the_blend_is_validated_against_the_context():
    from pipeline.config import ParamsError, parse_params

    assert parse_params({}).evaluate.rnn_blend is None  # the default: no crossfade
    ok = parse_params({"shard": {"seq_len": 50}, "evaluate": {"rnn_blend": 25}})
    assert ok.evaluate.rnn_blend == 25  # up to the default context, half a window
    with pytest.raises(ParamsError, match=r"evaluate.rnn_blend 26: .*<= evaluate.rnn_context "
                                          r"\(25 for 50-frame windows\)"):  # fmt: skip
        parse_params({"shard": {"seq_len": 50}, "evaluate": {"rnn_blend": 26}})
    with pytest.raises(ParamsError, match=r"rnn_blend 11: .*\(10 for"):
        parse_params({"shard": {"seq_len": 50}, "evaluate": {"rnn_context": 10, "rnn_blend": 11}})
    with pytest.raises(ParamsError, match="nothing to blend"):
        parse_params({"evaluate": {"protocol": "authors", "rnn_blend": 3}})
