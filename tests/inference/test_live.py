"""Live mode: a file source at real-time pace, state carried and reset, a clean end on SIGINT,
an unreachable stream; and the single-step CNN-RNN against the saved model on whole
sequences."""

from __future__ import annotations

import csv
import math
import os
import re
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from pipeline.config import ModelConfig
from pipeline.face.tracker import FaceTracker
from pipeline.inference.live import LiveError, StepModel, open_source, run_live
from pipeline.inference.model import load_model
from pipeline.inference.predict import InputMaker
from pipeline.models import create_model
from tests.helpers.faces import canvas, paste, write_video
from tests.helpers.inference import IMAGE, N_FRAMES
from tests.helpers.repo import REPO, tool_env

FPS = 30.0


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(
    "rnn,heads,layers_", [("gru", "joint", 2), ("lstm", "joint", 1), ("gru", "separate", 1)]
)
def test_stepping_frame_by_frame_equals_the_whole_sequence(rnn, heads, layers_):
    cfg = ModelConfig(backbone={"name": "small", "width": 4}, fc_units=(16, 8), rnn_units=6,
                      rnn=rnn, rnn_layers=layers_, heads=heads, landmarks=True)  # fmt: skip
    keras.utils.set_random_seed(3)
    model = create_model(cfg, 32, "cnn_rnn", seq_len=7)
    rng = np.random.default_rng(0)
    x = {"image": rng.normal(size=(1, 7, 32, 32, 3)).astype(np.float32),
         "landmarks": rng.random((1, 7, 136)).astype(np.float32)}  # fmt: skip
    whole = model.predict_on_batch(x)[0]
    step = StepModel(model)
    steps = np.concatenate([step.step(x["image"][:, t], x["landmarks"][:, t]) for t in range(7)])
    np.testing.assert_allclose(steps, whole, rtol=1e-5, atol=1e-5)
    # The state matters: a fresh state on the last frame gives another answer.
    step.reset()
    alone = step.step(x["image"][:, 6], x["landmarks"][:, 6])[0]
    assert not np.allclose(alone, whole[6], atol=1e-4)


def _reference(tm, gap_video, frames, reset_after):
    """What live mode must give: the processed frames through the face pass (causal
    landmarks), then the saved model's weights on whole sequences, cut where a run of
    ``reset_after`` frames without a face resets the state."""
    import cv2

    cap = cv2.VideoCapture(str(gap_video))
    rgbs = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        rgbs.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    face = tm.face.model_copy(
        update={"landmarks": tm.face.landmarks.model_copy(update={"max_gap": 0})}
    )
    with FaceTracker(face, FPS) as fp:
        ffs = [ff for i in frames for ff in fp.push(i, rgbs[i])] + fp.finish()
    make = InputMaker(tm)
    cfg = tm.meta.model
    seq_any = create_model(cfg, IMAGE, "cnn_rnn", seq_len=None)  # any length, same weights
    seq_any.set_weights(tm.keras_model.get_weights())
    out = np.full((len(ffs), 2), np.nan)
    segment, run = [], 0

    def flush():
        if segment:
            chosen = [ffs[k] for k in segment]
            img = make.images([f.crop if f.face else None for f in chosen])[None]
            va = seq_any.predict_on_batch({"image": img, "landmarks": make.landmarks(chosen)[None]})
            for j, k in enumerate(segment):
                if ffs[k].face:
                    out[k] = va[0, j]
        segment.clear()

    for k, ff in enumerate(ffs):
        run = 0 if ff.face else run + 1
        if run == reset_after:
            flush()
        if run < reset_after:
            segment.append(k)
    flush()
    return [ff.frame for ff in ffs], out


def test_file_source_real_time_state_carried_and_reset(rnn_dir, gap_video, tmp_path):
    tm = load_model(rnn_dir)
    out = tmp_path / "live.csv"
    reset_s = 0.2  # 6 frames at 30 fps: the 10-frame gap resets the state
    r = run_live(str(gap_video), tm, out, reset_after_s=reset_s)
    rows = _rows(out)
    assert r.kind == "file" and r.fps == FPS and r.read == N_FRAMES
    assert len(rows) == r.rows == r.read - r.dropped
    assert r.seconds >= (N_FRAMES - 1) / FPS * 0.95  # played at its own pace, not faster
    frames = [int(x["frame"]) for x in rows]
    assert frames == sorted(set(frames)) and set(frames) <= set(range(N_FRAMES))
    for x in rows:
        assert math.isclose(float(x["time_s"]), int(x["frame"]) / FPS, abs_tol=1e-6)
        assert float(x["latency_ms"]) > 0
        face = x["face"] == "true"
        assert face == (not 10 <= int(x["frame"]) < 20)  # the recipe's faces
        assert math.isfinite(float(x["valence"])) == face
    assert r.resets == (1 if sum(10 <= f < 20 for f in frames) >= 6 else 0)
    ref_frames, ref = _reference(tm, gap_video, frames, round(reset_s * FPS))
    assert ref_frames == frames
    got = np.array([[float(x["valence"]), float(x["arousal"])] for x in rows])
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def long_video(tmp_path_factory, faces):
    """6 s at 30 fps, the astronaut moving slowly: long enough to interrupt."""
    frames = []
    for i in range(180):
        f = canvas()
        paste(f, faces["astronaut"], 60 + (i % 40), 40, 150)
        frames.append(f)
    return write_video(tmp_path_factory.mktemp("live") / "long.mp4", frames)


def _cli(*args):
    return [sys.executable, "-m", "pipeline.cli", "predict", *args]


def test_sigint_ends_cleanly_with_the_file_complete(rnn_dir, long_video, tmp_path):
    out = tmp_path / "live.csv"
    proc = subprocess.Popen(
        _cli("--live", str(long_video), "--model", str(rnn_dir), "--out", str(out)),
        cwd=REPO, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and len(out.read_text().splitlines()) >= 1 + 10:
            break  # rows are there while it runs: written and flushed as they are made
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "interrupted" in stdout and "Traceback" not in stderr
    m = re.search(r"(\d+) frames read, (\d+) dropped, (\d+) rows", stdout)
    read, dropped, n_rows = (int(g) for g in m.groups())
    lines = out.read_text().splitlines()
    assert lines[0] == "frame,time_s,valence,arousal,face,latency_ms"
    assert len(lines) - 1 == n_rows == read - dropped
    assert 10 <= n_rows < 180  # stopped early
    assert out.read_text().endswith("\n")
    for line in lines[1:]:
        assert len(line.split(",")) == 6, line


def test_unreachable_stream_is_one_line_and_status_1(rnn_dir, tmp_path):
    out = tmp_path / "live.csv"
    t0 = time.perf_counter()
    r = subprocess.run(
        _cli("--live", "rtsp://127.0.0.1:9/x", "--open-timeout", "3", "--model", str(rnn_dir),
             "--out", str(out)),
        cwd=REPO, env=tool_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    elapsed = time.perf_counter() - t0
    assert r.returncode == 1, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "rtsp://127.0.0.1:9/x" in errors[0], r.stderr
    assert "Traceback" not in r.stderr
    assert elapsed < 20, elapsed  # a few seconds (process start and imports included)
    assert not out.exists()


def test_sources_and_outputs_that_cannot_work(rnn_dir, gap_video, tmp_path):
    with pytest.raises(LiveError, match="no such file"):
        open_source(str(tmp_path / "missing.mp4"))
    with pytest.raises(LiveError, match="camera 97"):
        open_source("97")
    tm = load_model(rnn_dir)
    with pytest.raises(LiveError, match=r"\.csv"):
        run_live(str(gap_video), tm, tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(LiveError, match="is a folder"):
        run_live(str(gap_video), tm, tmp_path / "folder.csv")
    env_display = {k: os.environ.pop(k) for k in ("DISPLAY", "WAYLAND_DISPLAY") if k in os.environ}
    try:
        with pytest.raises(LiveError, match="display"):
            run_live(str(gap_video), tm, tmp_path / "x.csv", show=True)
    finally:
        os.environ.update(env_display)


def test_cnn_model_live_gives_what_predict_gives(cnn_dir, gap_video, tmp_path):
    from pipeline.inference.predict import predict_video

    tm = load_model(cnn_dir)
    r = run_live(str(gap_video), tm, tmp_path / "live.csv")
    rows = _rows(tmp_path / "live.csv")
    assert len(rows) == r.read - r.dropped and r.resets == 0
    predict_video(gap_video, tm, tmp_path / "p.csv", progress=False)
    offline = {int(x["frame"]): x for x in _rows(tmp_path / "p.csv")}
    for x in rows:
        ref = offline[int(x["frame"])]
        assert x["face"] == ref["face"]
        if r.dropped == 0:  # the same frames seen: the same crops, the same numbers
            for k in ("valence", "arousal"):
                a, b = float(x[k]), float(ref[k])
                assert (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, abs_tol=1e-4)


def test_a_slow_consumer_drops_the_oldest_frames_never_queues_more(long_video):
    import threading

    from pipeline.inference.live import Reader

    src = open_source(str(long_video))
    stop = threading.Event()
    reader = Reader(src, 1, stop)
    reader.start()
    got, t0 = [], time.perf_counter()
    while True:
        assert reader.queue.qsize() <= 1
        fr = reader.queue.get(timeout=10)
        if fr is None:
            break
        got.append(fr.index)
        time.sleep(0.1)  # processing at 10 frames/s behind a 30 fps source
        if len(got) >= 15:
            break
    stop.set()
    reader.join(timeout=5)
    src.capture.release()
    left = 0 if reader.queue.empty() else int(reader.queue.get_nowait() is not None)
    assert got == sorted(got) and got[0] == 0
    assert reader.dropped > 10  # about two frames in three
    assert len(got) + reader.dropped + left == reader.read
    # Paced at 30 fps: what was read matches the wall time it took, not the file's length.
    assert reader.read <= (time.perf_counter() - t0) * 30 + 3


def test_a_reachable_http_stream(rnn_dir, gap_video, tmp_path):
    """A real URL through OpenCV's FFmpeg backend (a local HTTP server): frames are taken
    as they arrive (no pacing: a stream paces itself), the counts add up."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(gap_video.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{gap_video.name}"
        src = open_source(url, open_timeout_s=5)
        assert src.kind == "stream" and src.fps == FPS
        r = run_live(src, load_model(rnn_dir), tmp_path / "s.csv")
    finally:
        server.shutdown()
    rows = _rows(tmp_path / "s.csv")
    assert r.read == N_FRAMES and len(rows) == r.read - r.dropped >= 1
    assert all(float(x["time_s"]) >= 0 for x in rows)
