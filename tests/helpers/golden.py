"""The golden clip, model folders and `affwild predict` outputs under ``tests/data/golden/``.

A short real clip (the astronaut photograph pasted on a plain background, leaving for ten
frames) and two tiny randomly initialised model folders (a CNN and a CNN-RNN, built as
:func:`tests.helpers.inference.save_model_folder` builds them), with the CSVs today's
``affwild predict`` writes for them. ``tests/inference/test_golden.py`` runs the command again
and compares, so a change of the inference code that moves a number is seen.

Rebuild (only when a change of the numbers is intended; say why in the commit)::

    python -m tests.helpers.golden          # clip, models, CSVs
    python -m tests.helpers.golden --csv    # the CSVs only, from the committed clip and models
"""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import pyarrow as pa

from tests.helpers.faces import canvas, load_faces, paste, write_video
from tests.helpers.repo import REPO, tool_env

GOLDEN = REPO / "tests" / "data" / "golden"
CLIP = GOLDEN / "clip.mp4"
N_FRAMES = 60  # 2 s at 30 fps: the face at 0-24 and 35-59, nobody at 25-34
MODELS = ("cnn", "cnn_rnn")
FPS = 30.0
RESET_AFTER_S = 0.2  # live: 6 frames without a face reset the CNN-RNN (the gap has 10)


def face_frame(i: int) -> bool:
    return not 25 <= i < 35


def write_clip(path: Path = CLIP) -> Path:
    """320x240 'mp4v' frames: the astronaut drifting right and growing slowly, gone at 25-34."""
    astronaut = load_faces()["astronaut"]
    frames = []
    for i in range(N_FRAMES):
        f = canvas()
        if face_frame(i):
            paste(f, astronaut, 70 + i, 40 - i // 6, 150 + i // 3)
        frames.append(f)
    return write_video(path, frames)


def predict_args(model: str, out: str) -> list[str]:
    """The `affwild predict` arguments of a golden CSV (paths relative to GOLDEN)."""
    return ["predict", CLIP.name, "--model", f"models/{model}", "--out", out, "--device", "cpu"]


def run_predict(args: list[str], cwd: Path = GOLDEN) -> subprocess.CompletedProcess:
    """`affwild predict` as a user runs it (the console script's module), in ``cwd``."""
    cmd = [sys.executable, "-m", "pipeline.cli", *args]
    return subprocess.run(cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True)


def run_live_rule(model: Path, out: Path) -> int:
    """The rows `affwild predict --live clip.mp4 --reset-after 0.2` computes, with every frame
    processed; returns how many. The command's own pass
    (:class:`pipeline.inference.live.LivePass`: the face steps with causal landmarks, the
    model warmed up, one row per settled frame) without its reader thread: that one holds two
    frames and drops the oldest when processing falls behind, which a loaded machine does at
    start-up, so which frames the command drops is not reproducible. ``latency_ms`` (a timing,
    not a result) is left out."""
    from pipeline.inference.live import ROWS, LivePass
    from pipeline.inference.model import load_model
    from pipeline.io import RowWriter
    from pipeline.video.reader import iter_timed_frames

    live_rows = pa.schema([f for f in ROWS if f.name != "latency_ms"])
    tm = load_model(model)
    times: dict[int, float] = {}
    with RowWriter(out, live_rows) as rows, LivePass(tm, FPS, RESET_AFTER_S) as live:

        def emit(preds) -> None:
            for p in preds:
                rows.add(frame=p.face.frame, time_s=round(times.pop(p.face.frame), 6),
                         valence=p.valence, arousal=p.arousal, face=p.face.face)  # fmt: skip

        for i, (t, rgb) in enumerate(iter_timed_frames(CLIP, FPS)):
            times[i] = t
            emit(live.push(i, rgb))
        emit(live.finish())
    return rows.n_rows


def golden_csv(model: str, *, live: bool = False) -> Path:
    return GOLDEN / f"{model}{'.live' if live else ''}.csv"


EXACT = ("frame", "face")
# Floats within this, not exactly: TensorFlow's CPU kernels and MediaPipe's TFLite ones choose
# their instruction paths by the CPU (AVX2, AVX-512, ...), which changes the summation order
# and so the last bits of a float32 (the values are of order 0.1, a float32 step there is
# ~1e-8); 1e-6 allows that, and is 1e-5 of the values.
FLOAT_TOL = 1e-6


def read_columns(path) -> dict[str, list[str]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    return {name: [r[k] for r in body] for k, name in enumerate(header)}


def assert_same_table(got_path, golden_path) -> None:
    """Two CSVs have the same columns and rows: ``EXACT`` columns equal as text, the others
    as floats within ``FLOAT_TOL`` (NaN where the golden has NaN)."""
    got, want = read_columns(got_path), read_columns(golden_path)
    assert list(got) == list(want), f"columns {list(got)} != golden {list(want)}"
    for name, expected in want.items():
        actual = got[name]
        assert len(actual) == len(expected), f"{name}: {len(actual)} rows != {len(expected)}"
        if name in EXACT:
            assert actual == expected, name
            continue
        for i, (a, b) in enumerate(zip(map(float, actual), map(float, expected), strict=True)):
            same = (math.isnan(a) and math.isnan(b)) or abs(a - b) <= FLOAT_TOL
            assert same, f"{name}, row {i}: {a!r} != golden {b!r}"


def build(models: bool = True) -> None:
    from tests.helpers.inference import save_model_folder

    GOLDEN.mkdir(parents=True, exist_ok=True)
    if models:
        write_clip()
        for kind in MODELS:
            save_model_folder(GOLDEN / "models" / kind, kind)
    for kind in MODELS:
        out = golden_csv(kind)
        r = run_predict(predict_args(kind, out.name))
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(predict_args(kind, out.name))}:\n{r.stdout}\n{r.stderr}")
        print(out.relative_to(REPO), r.stdout.strip().splitlines()[-1])
        n = run_live_rule(GOLDEN / "models" / kind, golden_csv(kind, live=True))
        print(golden_csv(kind, live=True).relative_to(REPO), f"{n} rows (the --live rule)")


if __name__ == "__main__":
    build(models="--csv" not in sys.argv[1:])
