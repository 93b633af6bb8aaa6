"""The Python API (``pipeline.api``) gives the numbers ``affwild predict`` writes: its DataFrames
and rows equal the golden CSVs of the command (``tests/data/golden/``), column by column, for
files and (with the ``--live`` rule) for frames streamed in; two predictors with different
models, used in turn in one process, each give what they give alone; bad input is a typed
error naming the argument; the face steps alone give the boxes and points the predictor saw.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from pipeline.api import BOX_COLUMNS, POINT_COLUMNS, ArrayError, FaceTracker, Predictor
from pipeline.artifacts import ModelFolderError
from pipeline.errors import InputError
from pipeline.video.reader import VideoError, iter_frames
from tests.helpers import golden
from tests.helpers.golden import EXACT, FLOAT_TOL, read_columns
from tests.helpers.repo import REPO, tool_env

GOLDEN_COLUMNS = ("frame", "time_s", "valence", "arousal", "face")


@pytest.fixture(scope="module")
def predictors() -> dict[str, Predictor]:
    return {k: Predictor(golden.GOLDEN / "models" / k, device="cpu") for k in golden.MODELS}


@pytest.fixture(scope="module")
def clip_frames() -> list[np.ndarray]:
    return list(iter_frames(golden.CLIP))


@pytest.fixture
def pd():
    import pandas

    return pandas


def columns_of(rows: list[dict]) -> dict[str, list]:
    return {name: [r[name] for r in rows] for name in rows[0]}


def assert_golden(got: dict[str, list], golden_path) -> None:
    """``got`` (column -> values, as the API gives them) equals the golden CSV's columns."""
    want = read_columns(golden_path)
    for name, expected in want.items():
        actual = list(got[name])
        assert len(actual) == len(expected), f"{name}: {len(actual)} rows != {len(expected)}"
        if name in EXACT:
            text = [str(bool(v)).lower() if name == "face" else str(int(v)) for v in actual]
            assert text == expected, name
            continue
        for i, (a, b) in enumerate(zip(map(float, actual), map(float, expected), strict=True)):
            same = (math.isnan(a) and math.isnan(b)) or abs(a - b) <= FLOAT_TOL
            assert same, f"{name}, row {i}: {a!r} != golden {b!r}"


def check_window_starts(got: dict[str, list], seq_len: int | None) -> None:
    for f, face, start in zip(got["frame"], got["face"], got["window_start"], strict=True):
        if not face:
            assert start == -1, f
        elif seq_len is None:
            assert start == f, f  # a CNN sees its frame alone
        else:
            assert 0 <= start <= f < start + seq_len, f


def interleave(*gens):
    """Each generator's items, taking one from each in turn (until all are done)."""
    out: list[list] = [[] for _ in gens]
    live = list(range(len(gens)))
    while live:
        for k in list(live):
            try:
                out[k].append(next(gens[k]))
            except StopIteration:
                live.remove(k)
    return out


@pytest.mark.parametrize("kind", golden.MODELS)
def test_predict_video_equals_the_golden_csv(kind, predictors, pd):
    df = predictors[kind].predict_video(golden.CLIP)
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns[:5]) == list(GOLDEN_COLUMNS)
    assert {*BOX_COLUMNS, *POINT_COLUMNS, "window_start"} <= set(df.columns)
    assert str(df["frame"].dtype) == "int32" and str(df["valence"].dtype) == "float32"
    assert_golden({c: df[c].tolist() for c in df.columns}, golden.golden_csv(kind))
    face = df["face"].to_numpy()
    assert np.isfinite(df[list(BOX_COLUMNS) + list(POINT_COLUMNS)].to_numpy()[face]).all()
    assert np.isnan(df[list(BOX_COLUMNS)].to_numpy()[~face]).all()
    check_window_starts({c: df[c].tolist() for c in df.columns}, predictors[kind].model.seq_len)


@pytest.mark.parametrize("kind", golden.MODELS)
def test_predict_frames_with_the_live_rule_equals_the_golden_live_csv(kind, predictors,
                                                                      clip_frames):  # fmt: skip
    rows = list(
        predictors[kind].predict_frames(
            clip_frames, fps=golden.FPS, reset_after_s=golden.RESET_AFTER_S
        )
    )
    got = columns_of(rows)
    assert_golden(got, golden.golden_csv(kind, live=True))
    # live, a CNN-RNN's prediction depends on every frame since its state was last reset
    starts = [s for s, face in zip(got["window_start"], got["face"], strict=True) if face]
    if kind == "cnn_rnn":
        assert set(starts) == {0, 35}  # the 10 frames without a face reset it (after 6)
    else:
        check_window_starts(got, None)


def test_predict_frames_with_the_file_rule_equals_the_golden_csv(predictors, clip_frames):
    rows = list(predictors["cnn_rnn"].predict_frames(clip_frames, fps=golden.FPS, rule="file"))
    got = columns_of(rows)
    assert_golden(got, golden.golden_csv("cnn_rnn"))
    check_window_starts(got, predictors["cnn_rnn"].model.seq_len)


def test_two_models_interleaved_frame_by_frame_each_give_what_they_give_alone(
    predictors, clip_frames
):
    cnn, rnn = predictors["cnn"], predictors["cnn_rnn"]
    live = dict(fps=golden.FPS, reset_after_s=golden.RESET_AFTER_S)
    got_cnn, got_rnn, got_rnn_file = interleave(
        cnn.predict_frames(iter(clip_frames), **live),
        rnn.predict_frames(iter(clip_frames), **live),
        rnn.predict_frames(iter(clip_frames), fps=golden.FPS, rule="file"),
    )
    assert_golden(columns_of(got_cnn), golden.golden_csv("cnn", live=True))
    assert_golden(columns_of(got_rnn), golden.golden_csv("cnn_rnn", live=True))
    assert_golden(columns_of(got_rnn_file), golden.golden_csv("cnn_rnn"))


def test_two_models_interleaved_video_by_video(predictors, pd):
    first = {k: predictors[k].predict_video(golden.CLIP) for k in ("cnn_rnn", "cnn")}
    again = predictors["cnn_rnn"].predict_video(golden.CLIP)
    for kind, df in [*first.items(), ("cnn_rnn", again)]:
        assert_golden({c: df[c].tolist() for c in df.columns}, golden.golden_csv(kind))
    pd.testing.assert_frame_equal(first["cnn_rnn"], again)


def test_the_face_tracker_gives_the_boxes_and_points_the_predictor_saw(predictors, pd,
                                                                       clip_frames):  # fmt: skip
    df = predictors["cnn"].predict_video(golden.CLIP)
    faces = FaceTracker(golden.GOLDEN / "models" / "cnn").track_video(golden.CLIP)
    assert list(faces.columns[:3]) == ["frame", "time_s", "face"] and "status" in faces
    for c in ("frame", "time_s", "face", *BOX_COLUMNS, *POINT_COLUMNS):
        np.testing.assert_array_equal(faces[c].to_numpy(), df[c].to_numpy(), err_msg=c)
    assert set(faces["status"]) <= {"detected", "tracked", "interpolated", "missing", "rejected"}
    rows = list(FaceTracker(predictors["cnn"].model.face).track_frames(clip_frames, fps=30))
    assert [r["frame"] for r in rows] == list(range(golden.N_FRAMES))
    for c in (*BOX_COLUMNS, *POINT_COLUMNS):
        np.testing.assert_array_equal([r[c] for r in rows], faces[c].to_numpy(), err_msg=c)


def test_predict_crops_gives_what_the_video_gives_for_the_same_crops(predictors, pd,
                                                                     clip_frames):  # fmt: skip
    import tensorflow as tf

    from pipeline.face.tracker import face_frames

    cnn = predictors["cnn"]
    ffs = [ff for ff in face_frames(clip_frames, cnn.model.face, golden.FPS) if ff.face]
    # decoded as the records reader decodes them
    crops = np.stack([tf.io.decode_jpeg(ff.crop, 3, dct_method="INTEGER_FAST").numpy()
                      for ff in ffs])  # fmt: skip
    lms = np.stack([ff.crop_landmarks for ff in ffs])
    got = cnn.predict_crops(crops, lms)
    want = cnn.predict_video(golden.CLIP).query("face")
    assert list(got.columns) == ["crop", "valence", "arousal", "window_start"]
    assert got["crop"].tolist() == got["window_start"].tolist() == list(range(len(ffs)))
    for c in ("valence", "arousal"):
        np.testing.assert_allclose(got[c].to_numpy(), want[c].to_numpy(), atol=FLOAT_TOL)
    big = np.repeat(np.repeat(crops[:8], 2, axis=1), 2, axis=2)  # resized to the model's side
    seq = predictors["cnn_rnn"].predict_crops(big)
    assert len(seq) == 8 and np.isfinite(seq[["valence", "arousal"]].to_numpy()).all()
    check_window_starts({"frame": list(range(8)), "face": [True] * 8,
                         "window_start": seq["window_start"].tolist()}, 6)  # fmt: skip


def test_the_progress_bar_counts_the_frames(predictors, capsys):
    predictors["cnn"].predict_video(golden.CLIP, progress=True)
    err = capsys.readouterr().err
    assert f"/{golden.N_FRAMES} " in err and "frame" in err and golden.CLIP.name in err


def test_bad_input_is_a_typed_error_naming_it(predictors, tmp_path, clip_frames):
    p = predictors["cnn"]
    with pytest.raises(ModelFolderError, match=str(tmp_path)):
        Predictor(tmp_path, device="cpu")
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(VideoError, match="notes.mp4"):
        p.predict_video(tmp_path / "notes.mp4")
    frames = [clip_frames[0], clip_frames[1].astype(np.float32)]
    with pytest.raises(ArrayError, match=r"frames\[1\].*float32"):
        list(p.predict_frames(frames, fps=30))
    with pytest.raises(ArrayError, match="fps"):
        p.predict_frames(clip_frames, fps=0)
    with pytest.raises(InputError, match="rule"):
        p.predict_frames(clip_frames, rule="batch")  # type: ignore[arg-type]
    with pytest.raises(ArrayError, match=r"crops.*\(4, 32, 3\)"):
        p.predict_crops(np.zeros((4, 32, 3), np.uint8))
    with pytest.raises(ArrayError, match="landmarks"):
        p.predict_crops(np.zeros((2, 32, 32, 3), np.uint8), np.zeros((2, 68)))
    assert issubclass(ArrayError, InputError)


def test_the_package_exports_the_api_without_loading_tensorflow():
    code = (
        "import sys, pipeline, pipeline.api as api; "
        "assert pipeline.Predictor is api.Predictor and pipeline.FaceTracker is api.FaceTracker; "
        "print('tensorflow' in sys.modules, 'mediapipe' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], env=tool_env(), cwd=REPO,
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False"]
    assert (REPO / "pipeline" / "py.typed").is_file()


def test_face_params_from_a_params_file_a_model_folder_or_the_defaults(predictors):
    from pipeline.artifacts import FaceParams
    from pipeline.config import ParamsError, load_params

    params = load_params(REPO / "params.yaml")
    assert FaceTracker(REPO / "params.yaml").params == FaceParams.of(params)
    assert FaceTracker(golden.GOLDEN / "models" / "cnn").params == predictors["cnn"].model.face
    live = FaceTracker(live=True).params
    assert live.landmarks.max_gap == 0 and FaceTracker().params.landmarks.max_gap > 0
    with pytest.raises(ParamsError, match="nothing.yaml"):
        FaceTracker(REPO / "nothing.yaml")
