"""No MediaPipe / TFLite C++ log lines reach a user's terminal (pipeline/quiet.py)."""

from __future__ import annotations

import subprocess
import sys

from pipeline.quiet import LOG_LEVEL_VARS
from tests.helpers.repo import NATIVE_LOG_MARKS, REPO, native_log_lines, tool_env

CODE = """
import numpy as np
import skimage.data
from pipeline.demo.faces import detect_landmarks          # the demo stage's stock face mesh
from pipeline.face.mediapipe_models import FaceDetector, FaceMesh, roi_from_detection
img = np.ascontiguousarray(skimage.data.astronaut()[20:300, 90:370])
print(detect_landmarks(img).shape)
with FaceDetector() as det, FaceMesh() as mesh, FaceMesh(refine=True) as refined:
    d = det(img)
    print(mesh(img, roi_from_detection(d.boxes[0], d.keypoints[0]))[0].shape)
    print("refined", refined(img, roi_from_detection(d.boxes[0], d.keypoints[0]))[0].shape)
"""


def _run(env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    # a user's shell: none of the log-level variables that this test session may have set
    env = {k: v for k, v in tool_env().items() if k not in LOG_LEVEL_VARS} | env_extra
    return subprocess.run([sys.executable, "-c", CODE], cwd=REPO, env=env, capture_output=True,
                          text=True, check=True)  # fmt: skip


def test_graphs_start_and_run_without_native_log_lines():
    r = _run({})
    assert "(468, 2)" in r.stdout and "(468, 3)" in r.stdout and "refined (468, 3)" in r.stdout
    assert native_log_lines(r.stderr) == []


def test_native_logs_come_back_on_request():
    """The same run with AFFWILD_NATIVE_LOGS=1 does print them (so the test above can fail)."""
    r = _run({"AFFWILD_NATIVE_LOGS": "1"})
    assert any(k in r.stderr for k in NATIVE_LOG_MARKS), r.stderr[-2000:]


TF_CODE = """
from pipeline.quiet import load_tensorflow
tf = load_tensorflow()
import keras
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
print("out", model.predict_on_batch(tf.ones((3, 4))).shape)
"""


def test_tensorflow_loads_and_runs_without_native_log_lines():
    """The CUDA-built `tensorflow` wheel logs factory registrations at import and a failed
    cuInit on a machine without a driver, past TF_CPP_MIN_LOG_LEVEL; load_tensorflow (the
    TensorFlow stages, predict, export) keeps them out."""
    env = {k: v for k, v in tool_env().items() if k not in LOG_LEVEL_VARS}
    r = subprocess.run([sys.executable, "-c", TF_CODE], cwd=REPO, env=env, capture_output=True,
                       text=True, check=True)  # fmt: skip
    assert "out (3, 2)" in r.stdout
    assert native_log_lines(r.stderr) == []
