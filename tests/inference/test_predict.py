"""``affwild predict`` on a real encoded video (real photographs, real MediaPipe, a real saved
Keras model): one row per frame, NaN where the face is absent, the same face code as the
stages, the overlay's frame count, bad input, atomic outputs."""

from __future__ import annotations

import csv
import math
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.contracts import windows
from pipeline.face import tables
from pipeline.face.jobs import VideoJob
from pipeline.face.tracker import FaceTracker
from pipeline.inference.model import load_model
from pipeline.inference.predict import ModelPass, predict_video
from pipeline.video.reader import iter_frames
from tests.helpers.inference import N_FRAMES
from tests.helpers.repo import REPO, tool_env

FACE = np.array([not 10 <= i < 20 for i in range(N_FRAMES)])


def read_csv(path) -> dict[str, np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {
        "frame": np.array([int(r["frame"]) for r in rows]),
        "time_s": np.array([float(r["time_s"]) for r in rows]),
        "valence": np.array([float(r["valence"]) for r in rows]),
        "arousal": np.array([float(r["arousal"]) for r in rows]),
        "face": np.array([r["face"] == "true" for r in rows]),
    }


def check_rows(t: dict, fps: float = 30.0) -> None:
    assert list(t["frame"]) == list(range(N_FRAMES))
    np.testing.assert_allclose(t["time_s"], np.arange(N_FRAMES) / fps, atol=1e-6)
    assert list(t["face"]) == list(FACE)
    for k in ("valence", "arousal"):
        assert np.isnan(t[k][~FACE]).all(), k
        assert np.isfinite(t[k][FACE]).all(), k


def run_cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def no_leftovers(folder) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".")]


# -- one implementation of the face code ----------------------------------------------------
def test_streaming_pass_gives_exactly_what_the_three_stages_write(tmp_path, gap_video, cnn_dir):
    """Same boxes, landmarks and crop bytes as detect -> landmarks -> crop with the model's
    face params: the pass reuses the stages' per-frame code, it does not copy it."""
    from pipeline.face.crop import CROP
    from pipeline.face.detect import DETECT
    from pipeline.face.landmarks import LANDMARKS

    face = load_model(cnn_dir).face
    common = dict(video_id="gap", source=str(gap_video), n_frames=N_FRAMES, fps=30.0, subject="")
    b, lm, c = tmp_path / "b.parquet", tmp_path / "l.parquet", tmp_path / "c.parquet"
    DETECT.run(VideoJob(**common, out=str(b)), face.detect)
    LANDMARKS.run(VideoJob(**common, out=str(lm), inputs={"boxes": str(b)}), face.landmarks)
    inputs = {"boxes": str(b), "landmarks": str(lm)}
    CROP.run(VideoJob(**common, out=str(c), inputs=inputs), face.crop)
    boxes = tables.read_table(b, tables.BOXES)
    marks = tables.read_table(lm, tables.LANDMARKS)
    crops = tables.read_table(c, tables.CROPS)

    with FaceTracker(face, fps=30.0) as fp:
        out = []
        for i, rgb in enumerate(iter_frames(gap_video)):
            out += fp.push(i, rgb)
        out += fp.finish()
    assert [f.frame for f in out] == list(range(N_FRAMES))
    assert fp.held_max <= 10 * face.detect.init_frames + face.landmarks.max_gap
    for f in out:
        i = f.frame
        box = np.array([boxes[k][i] for k in "xywh"])
        if f.box is None:
            assert np.isnan(box).all()
        else:
            np.testing.assert_array_equal(f.box, box)
        if f.points is None:
            assert np.isnan(marks["landmarks"][i]).all()
        else:
            np.testing.assert_array_equal(f.points.reshape(-1), marks["landmarks"][i])
        assert f.status == marks["status"][i]
        assert f.crop == crops["image"][i]  # byte for byte
        assert f.face == bool(crops["valid"][i])
        if f.crop_landmarks is not None:
            np.testing.assert_array_equal(f.crop_landmarks, crops["landmarks"][i])
    assert [f.face for f in out] == list(FACE)


# -- the command -----------------------------------------------------------------------------
def test_cnn_one_row_per_frame_nan_without_face(tmp_path, gap_video, cnn_dir):
    out = tmp_path / "preds.csv"
    r = run_cli("predict", str(gap_video), "--model", str(cnn_dir), "--out", str(out),
                "--device", "cpu")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert f"{N_FRAMES} frames, 20 with a face" in r.output
    check_rows(read_csv(out))
    assert no_leftovers(tmp_path)


def test_cnn_rnn_parquet_and_overlay(tmp_path, gap_video, rnn_dir):
    out, ov = tmp_path / "preds.parquet", tmp_path / "overlay.mp4"
    r = run_cli("predict", str(gap_video), "--model", str(rnn_dir), "--out", str(out),
                "--overlay", str(ov))  # fmt: skip
    assert r.exit_code == 0, r.output
    t = pq.read_table(out)
    assert t.schema.names == ["frame", "time_s", "valence", "arousal", "face"]
    check_rows({k: t.column(k).to_numpy(zero_copy_only=False) for k in t.schema.names})
    cap_in, cap_out = cv2.VideoCapture(str(gap_video)), cv2.VideoCapture(str(ov))
    for prop in (cv2.CAP_PROP_FPS, cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT):
        assert cap_out.get(prop) == cap_in.get(prop)
    n = 0
    while cap_out.grab():
        n += 1
    assert n == N_FRAMES
    assert no_leftovers(tmp_path)


def test_predictions_do_not_depend_on_batching(gap_video, cnn_dir, rnn_dir, tmp_path):
    """Padding a CNN batch or grouping CNN-RNN windows per call changes no value; every frame
    is predicted exactly once (one row each, in order)."""
    for folder in (cnn_dir, rnn_dir):
        tm = load_model(folder)
        got = []
        for bs in (1, 7, 64):
            out = tmp_path / f"{folder.name}_{bs}.csv"
            predict_video(gap_video, tm, out, batch_size=bs, progress=False)
            got.append(read_csv(out))
        for t in got[1:]:
            np.testing.assert_allclose(t["valence"], got[0]["valence"], atol=1e-5)
            np.testing.assert_allclose(t["arousal"], got[0]["arousal"], atol=1e-5)


def test_cnn_rnn_windows_match_the_keras_model_on_the_same_inputs(gap_video, rnn_dir):
    """Frames go to the network in overlapping windows of seq_len (the plan of
    pipeline.contracts.windows: each kept frame has >= seq_len // 2 frames of past in its
    window), the last one padded; a no-face step is a black, landmark-less step and its
    output is reported as NaN."""
    tm = load_model(rnn_dir)
    p = ModelPass(tm, batch_size=1)
    with FaceTracker(tm.face, fps=30.0) as fp:
        ffs = []
        for i, rgb in enumerate(iter_frames(gap_video)):
            ffs += fp.push(i, rgb)
        ffs += fp.finish()
    preds = [q for ff in ffs for q in p.push(ff)] + p.finish()
    assert [q.face.frame for q in preds] == list(range(N_FRAMES))
    t = tm.seq_len
    plan = windows.plan(N_FRAMES, t, t // 2)
    assert len(plan) > math.ceil(N_FRAMES / t)  # overlapping, not back to back
    ref = np.full((N_FRAMES, 2), np.nan)
    black = p.make.images([None])[0]
    for w in plan:
        steps = ffs[w.start : w.start + t]
        steps = steps + [None] * (t - len(steps))
        crops = [None if f is None or not f.face else f.crop for f in steps]
        image = p.make.images(crops).reshape(1, t, tm.image_size, tm.image_size, 3)
        if w.start <= 10 < w.start + t:
            assert (image[0, 10 - w.start] == black).all()  # frame 10: no face
        lms = p.make.landmarks(steps).reshape(1, t, 136)
        out = np.asarray(tm.keras_model({"image": image, "landmarks": lms}, training=False))
        ref[w.keep_from : w.keep_to] = out[0, w.keep_from - w.start : w.keep_to - w.start]
        assert w.keep_from - w.start >= min(t // 2, w.keep_from)  # past context in the window
    got = np.array([[q.valence, q.arousal] for q in preds])
    np.testing.assert_allclose(got[FACE], ref[FACE], atol=1e-5)
    assert np.isnan(got[~FACE]).all()


def test_several_videos_a_folder_and_a_faceless_one(tmp_path, gap_video, noface_video, cnn_dir):
    videos = tmp_path / "videos"
    (videos / "sub").mkdir(parents=True)
    shutil.copy(gap_video, videos / "a.mp4")
    shutil.copy(noface_video, videos / "sub" / "nobody.mp4")
    (videos / "notes.txt").write_text("not a video, and not picked up from a folder")
    out = tmp_path / "preds"
    r = run_cli("predict", str(videos), "--model", str(cnn_dir), "--out", str(out))
    assert r.exit_code == 2, r.output  # finished, but one video has no face at all
    assert "no face found in any of its 12 frames" in r.output
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "nobody.csv"]
    check_rows(read_csv(out / "a.csv"))
    nobody = read_csv(out / "nobody.csv")
    assert len(nobody["frame"]) == 12 and not nobody["face"].any()
    assert np.isnan(nobody["valence"]).all()
    # a glob and a {stem} pattern
    r = run_cli("predict", str(videos / "*.mp4"), "--model", str(cnn_dir),
                "--out", str(tmp_path / "g" / "{stem}.parquet"))  # fmt: skip
    assert r.exit_code == 0, r.output
    assert [p.name for p in (tmp_path / "g").iterdir()] == ["a.parquet"]


# -- bad input -----------------------------------------------------------------------------------
def test_not_a_video_fails_cleanly_and_writes_nothing(tmp_path, gap_video, cnn_dir):
    bad = tmp_path / "x.mp4"
    bad.write_text("this is a text file, not a video\n")
    out = tmp_path / "out"
    r = run_cli("predict", str(bad), "--model", str(cnn_dir), "--out", str(out / "x.csv"))
    assert r.exit_code == 1
    assert "x.mp4" in r.output and "video" in r.output and "Traceback" not in r.output
    assert not (out / "x.csv").exists() and (not out.exists() or no_leftovers(out))
    # with a good video beside it: the good one is done, the status still says 1
    r = run_cli("predict", str(bad), str(gap_video), "--model", str(cnn_dir), "--out", str(out))
    assert r.exit_code == 1
    assert sorted(p.name for p in out.iterdir()) == ["gap.csv"]


def test_truncated_video_is_predicted_as_far_as_it_decodes_and_said(tmp_path, gap_video, cnn_dir):
    import imageio_ffmpeg

    # a download cut off half-way: the index (moved to the front) still lists every frame
    whole = tmp_path / "whole.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(gap_video),
                    "-c", "copy", "-movflags", "+faststart", str(whole)], check=True)  # fmt: skip
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    r = run_cli("predict", str(whole), "--model", str(cnn_dir), "--out", str(tmp_path / "w.csv"))
    assert r.exit_code == 0 and "container declares" not in r.output, r.output
    r = run_cli("predict", str(cut), "--model", str(cnn_dir), "--out", str(tmp_path / "c.csv"))
    assert f"container declares {N_FRAMES} frames" in r.output, r.output
    assert "may be truncated" in r.output and "Traceback" not in r.output
    rows = read_csv(tmp_path / "c.csv")
    assert 0 < len(rows["frame"]) < N_FRAMES
    whole_rows = read_csv(tmp_path / "w.csv")
    # the frames it has are predicted as in the whole file (the face run before the gap; what
    # follows the cut cannot be, as persistence and gap filling look ahead)
    np.testing.assert_array_equal(rows["valence"][:10], whole_rows["valence"][:10])


@pytest.mark.parametrize("what", ["empty", "no_meta", "garbage_model", "bad_meta"])
def test_folder_that_is_not_a_model(tmp_path, gap_video, cnn_dir, what):
    folder = tmp_path / "m"
    folder.mkdir()
    if what == "no_meta":
        shutil.copy(cnn_dir / "model.keras", folder)
    elif what == "garbage_model":
        shutil.copy(cnn_dir / "meta.json", folder)
        (folder / "model.keras").write_text("nope")
    elif what == "bad_meta":
        shutil.copy(cnn_dir / "model.keras", folder)
        (folder / "meta.json").write_text('{"kind": "svr"}')
    out = tmp_path / "p.csv"
    r = run_cli("predict", str(gap_video), "--model", str(folder), "--out", str(out))
    assert r.exit_code == 1, r.output
    assert str(folder) in r.output and "Traceback" not in r.output
    assert not out.exists()


def test_output_names_checked_before_anything_runs(tmp_path, gap_video, noface_video, cnn_dir):
    r = run_cli("predict", str(gap_video), str(noface_video), "--model", str(cnn_dir),
                "--out", str(tmp_path / "one.csv"))  # fmt: skip
    assert r.exit_code == 1 and "{stem}" in r.output
    r = run_cli("predict", str(tmp_path / "absent.mp4"), "--model", str(cnn_dir))
    assert r.exit_code == 1 and "no such file" in r.output


def test_a_failure_midway_leaves_no_output(tmp_path, gap_video, cnn_dir, monkeypatch):
    tm = load_model(cnn_dir)
    calls = []

    def boom(self, inputs):
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("killed")
        return np.zeros((len(inputs["image"]), 2), np.float32)

    monkeypatch.setattr(ModelPass, "_run", boom)
    with pytest.raises(RuntimeError):
        predict_video(gap_video, tm, tmp_path / "p.csv", tmp_path / "o.mp4", batch_size=4)
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file


def test_device_gpu_without_one_is_a_clear_error(gap_video, cnn_dir, tmp_path):
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    r = run_cli("predict", str(gap_video), "--model", str(cnn_dir), "--device", "gpu",
                "--out", str(tmp_path / "p.csv"))  # fmt: skip
    assert r.exit_code == 1 and "no GPU" in r.output
    assert not (tmp_path / "p.csv").exists()


def test_console_script_exit_status(tmp_path, cnn_dir):
    """The real entry point (a fresh process): bad input is a message and status 1."""
    bad = tmp_path / "x.mp4"
    bad.write_text("text")
    r = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "predict", str(bad), "--model", str(cnn_dir),
         "--out", str(tmp_path / "x.csv")],
        cwd=REPO, env=tool_env(), capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 1, r.stderr
    assert "error:" in r.stderr and "x.mp4" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.csv").exists()


def test_title_over_sky_gets_no_prediction(tmp_path, cnn_dir):
    # big lettering where MediaPipe's detector and mesh see a face ("aa" zooming over a radial
    # gradient, tests/helpers/titles.py): no frame gets a face or a valence/arousal value
    from tests.helpers.faces import write_video
    from tests.helpers.titles import render, titles

    title = titles()[9]
    assert title.word == "aa"
    video = write_video(tmp_path / "title.mp4", render(title), fps=25.0)
    out = tmp_path / "title.csv"
    r = run_cli("predict", str(video), "--model", str(cnn_dir), "--out", str(out))
    assert r.exit_code == 2 and "no face found in any of its 30 frames" in r.output, r.output
    rows = read_csv(out)
    assert len(rows["frame"]) == 30 and not rows["face"].any()
    assert np.isnan(rows["valence"]).all() and np.isnan(rows["arousal"]).all()


@pytest.mark.parametrize("batch_size", [1, 64])
def test_predict_rows_equal_evaluates_predictions_with_a_blend(rnn_dir, batch_size):
    """The file rule's streaming windows (held-back blend frames included) give, frame for
    frame, what ``evaluate`` gives on the same crops with the same context and blend; and the
    blend moves the numbers (so the comparison can fail)."""
    import tensorflow as tf

    from pipeline.evaluation.evaluate import predict_sequences
    from pipeline.face.tracker import FaceFrame

    tm = load_model(rnn_dir)
    n, context, blend = 27, 4, 3  # 6-frame windows: seams every 2 frames, 3 blended
    rng = np.random.default_rng(0)
    face = np.ones(n, bool)
    face[[9, 10]] = False
    blocks = rng.integers(0, 255, (n, 4, 4, 3), dtype=np.uint8)
    jpegs = [tf.io.encode_jpeg(np.kron(b, np.ones((8, 8, 1), np.uint8))).numpy() for b in blocks]
    lms = rng.uniform(size=(n, 136)).astype(np.float32)
    lms[~face] = 0
    black = tf.io.encode_jpeg(np.zeros((32, 32, 3), np.uint8)).numpy()
    grid = {
        "video_id": np.array(["v"] * n, dtype=object),
        "frame": np.arange(n),
        "image": np.array(
            [j if f else black for j, f in zip(jpegs, face, strict=True)], dtype=object
        ),
        "landmarks": lms,
        "face": face,
    }
    want = {b: predict_sequences(tm.keras_model, tm.meta, grid, 64, context, b) for b in (0, blend)}
    assert np.abs(want[blend] - want[0]).max() > 1e-4  # the blend changes the numbers
    ffs = [FaceFrame(i, True, {"crops": {"image": jpegs[i] if face[i] else None,
                                         "landmarks": lms[i]}}) for i in range(n)]  # fmt: skip
    p = ModelPass(tm, batch_size=batch_size, context=context, blend=blend)
    preds = [q for ff in ffs for q in p.push(ff)] + p.finish()
    assert [q.face.frame for q in preds] == list(range(n))  # every frame once, in order
    got = np.array([[q.valence, q.arousal] for q in preds])
    np.testing.assert_allclose(got[face], want[blend][face], atol=1e-5)
    assert np.isnan(got[~face]).all()
