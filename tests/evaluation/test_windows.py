"""The CNN-RNN window rule: every frame predicted once, with past context, and no jump where
a window starts (issue 10, point 4) — checked on a real (untrained) Keras CNN-RNN."""

from __future__ import annotations

import cv2
import keras
import numpy as np
import pytest

from pipeline.artifacts import FaceParams, ModelMeta
from pipeline.config import ModelConfig
from pipeline.contracts import windows
from pipeline.evaluation.evaluate import jump_ratio, predict_sequences, window_starts
from pipeline.models import create_model

SEQ = 10


@pytest.mark.parametrize("n", [1, 9, 10, 11, 37, 100])
@pytest.mark.parametrize("context", [0, 3, 5, 9])
def test_plan_covers_every_frame_once_with_context(n, context):
    plan = windows.plan(n, SEQ, context)
    kept = np.concatenate([np.arange(w.keep_from, w.keep_to) for w in plan])
    np.testing.assert_array_equal(kept, np.arange(n))
    for w in plan:
        assert w.start <= w.keep_from < w.keep_to <= min(w.start + SEQ, n)
        # every kept frame has `context` frames of past in its window, or all there are
        assert w.keep_from - w.start >= min(context, w.keep_from)


def test_plan_resumes_after_a_covered_head():
    # A streaming caller passes its last `context` frames: the windows are those of the
    # whole-video plan.
    full = windows.plan(60, SEQ, 5)
    head = windows.plan(25, SEQ, 5, covered=5)  # frames 15..39 of the video, 15..19 done
    shifted = [(w.start + 15, w.keep_from + 15, w.keep_to + 15) for w in head]
    assert shifted[:2] == [(w.start, w.keep_from, w.keep_to) for w in full[3:5]]
    with pytest.raises(ValueError, match="context"):
        windows.plan(10, SEQ, SEQ)


def _hard_cut(plan, outputs, n):
    """The cut before blends: each window's kept part written, nothing else."""
    out = np.full((n, 2), np.nan, np.float32)
    for w, p in zip(plan, outputs, strict=True):
        out[w.keep_from : w.keep_to] = p[w.keep_from - w.start : w.keep_to - w.start]
    return out


@pytest.mark.parametrize("n", [1, 10, 37, 100])
@pytest.mark.parametrize("context", [0, 3, 5, 9])
def test_blend_zero_is_the_hard_cut_bit_for_bit(n, context):
    plan = windows.plan(n, SEQ, context)
    rng = np.random.default_rng(n + context)
    outputs = [rng.normal(size=(SEQ, 2)).astype(np.float32) for _ in plan]
    got = windows.stitch(plan, outputs, blend=0)
    assert got.tobytes() == _hard_cut(plan, outputs, n).tobytes()


@pytest.mark.parametrize("blend", [1, 2, 3, 4])
def test_a_blend_turns_a_step_between_constant_windows_into_a_ramp(blend):
    plan = windows.plan(30, SEQ, 5)  # windows start at 0, 5, 10, ...; seams at 10, 15, ...
    # (blend < 5, the kept length: the ramps do not touch)
    outputs = [np.full((SEQ, 2), float(k), np.float32) for k in range(len(plan))]
    got = windows.stitch(plan, outputs, blend)[:, 0]
    seam = plan[1].keep_from
    ramp = got[seam - blend - 1 : seam + 1]  # the old value, blend steps, the new value
    np.testing.assert_allclose(ramp, np.linspace(0, 1, blend + 2), atol=1e-6)
    np.testing.assert_array_equal(got[: seam - blend], 0.0)  # untouched before the ramp
    steps = np.diff(got)
    assert np.count_nonzero(steps) == (blend + 1) * (len(plan) - 1)  # every seam a ramp


@pytest.mark.parametrize("n", [1, 9, 11, 37, 100])
@pytest.mark.parametrize(("context", "blend"), [(0, 0), (3, 3), (5, 2), (9, 9), (9, 4)])
def test_blended_frames_are_each_predicted_once_with_weights_summing_to_one(n, context, blend):
    # Window k outputs the one-hot of k: a frame's stitched vector is the weight each window
    # got there. Every frame is covered and its weights sum to 1; where the blend is no
    # longer than a window's kept part, only the blend frames before a seam are shared, by
    # two windows.
    plan = windows.plan(n, SEQ, context)
    outputs = [np.tile(np.eye(len(plan), dtype=np.float32)[k], (SEQ, 1)) for k in range(len(plan))]
    got = windows.stitch(plan, outputs, blend)
    assert got.shape == (n, len(plan))
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)
    assert (got >= 0).all()
    if blend <= SEQ - context:
        shared = (got > 0).sum(axis=1)
        assert shared.max() <= 2
        assert (shared == 2).sum() == blend * (len(plan) - 1)


def test_a_blend_longer_than_the_context_is_refused():
    with pytest.raises(ValueError, match=r"blend 6: .* \[0, context = 5\]"):
        windows.check_blend(5, 6)
    with pytest.raises(ValueError, match="blend -1"):
        windows.check_blend(5, -1)
    windows.check_blend(5, 5)


def _grid(n_videos=3, n=120, size=16):
    """Videos whose frames drift smoothly (a moving bright square), as JPEGs."""
    rows = {"video_id": [], "frame": [], "image": [], "face": []}
    for v in range(n_videos):
        for f in range(n):
            img = np.full((size, size, 3), 40, np.uint8)
            x = int((size - 6) * (0.5 + 0.5 * np.sin(f / 9 + v)))
            img[4:10, x : x + 6] = 220
            rows["video_id"].append(f"v{v}")
            rows["frame"].append(f)
            rows["image"].append(cv2.imencode(".jpg", img)[1].tobytes())
            rows["face"].append(True)
    grid = {k: np.array(v, dtype=object if k in ("video_id", "image") else None)
            for k, v in rows.items()}  # fmt: skip
    grid["landmarks"] = np.zeros((len(grid["frame"]), 136), np.float32)
    return grid


def test_overlapping_windows_leave_no_jump_at_window_starts():
    # An untrained GRU's memory depends on its draw: seeds 0-5 give 1.1-1.2 with overlap except
    # seed 3 (2.3 since the model takes raw crops; it passed on [0, 1] images before).
    keras.utils.set_random_seed(0)
    cfg = ModelConfig(
        backbone={"name": "small", "width": 4}, fc_units=[16], rnn_units=16, rnn_layers=1,
        heads="joint", landmarks=False, dropout=0.0,
    )  # fmt: skip
    model = create_model(cfg, image_size=16, kind="cnn_rnn", seq_len=SEQ)
    meta = ModelMeta(kind="cnn_rnn", seq_len=SEQ, image_size=16, normalization="symmetric",
                     landmarks=False, model=cfg, face=FaceParams())  # fmt: skip
    grid = _grid()
    ratios = {}
    for context in (0, SEQ // 2):
        pred = predict_sequences(model, meta, grid, batch_size=64, context=context)
        assert np.isfinite(pred).all()  # every frame predicted
        ratios[context] = jump_ratio(grid, pred, window_starts(grid, SEQ, context))
    # Back-to-back windows (each starting cold) jump at every start; overlapping ones do not.
    assert ratios[0] > 1.5, ratios
    assert ratios[SEQ // 2] <= 1.5, ratios
