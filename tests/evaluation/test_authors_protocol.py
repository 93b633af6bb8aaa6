"""``affwild evaluate --protocol authors`` on an imported AffWildNet (a TF1 checkpoint of the
VGG-Face-GRU with random weights, made here and imported with ``affwild import-checkpoint``)
equals a port of the authors' ``eval_script.py`` that takes nothing from this package but the
network's forward pass: CCC to 1e-6, on two videos whose 165 frames are no multiple of 80."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from tests.helpers import tf1 as ref

pytestmark = [
    pytest.mark.slow,  # VGG-Face at 96 px over ~500 frames on a CPU (~2 minutes on 2 cores)
    pytest.mark.filterwarnings("ignore:.*tf.nn.rnn_cell.GRUCell. is deprecated:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*layer.add_variable. is deprecated:UserWarning"),
]
LENGTHS = (90, 75)  # 165 frames: windows 0-79 and 80-159 (across the two videos), 5 dropped
SEQ = 80


# -- the port: nothing from the package but the network's forward pass ---------------------------
# Written from the description of the authors' eval_script.py (dkollias/Aff-Wild-models) in the
# project's notes, followed exactly; the script itself was not at hand.
def _forward(model, x):
    """The imported network after its input scaling: every layer following ``preprocess``, in
    order (the port scales the crops itself, as the authors' script does)."""
    import keras

    names = [layer.name for layer in model.layers]
    for layer in model.layers[names.index("preprocess") + 1 :]:
        if not isinstance(layer, keras.layers.InputLayer):  # the unused landmarks input
            x = layer(x, training=False)
    return np.asarray(x, np.float64)


def eval_script_port(csv_path: Path, model, seq_length: int = SEQ) -> dict:
    import tensorflow as tf

    with csv_path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    images = [str(csv_path.parent / r[0]) for r in rows]
    labels = np.array([[float(r[1]), float(r[2])] for r in rows])
    preds, truth = [], []
    for start in range(0, len(rows) - seq_length + 1, seq_length):  # remainder dropped
        frames = []
        for path in images[start : start + seq_length]:
            image = tf.image.decode_jpeg(tf.io.read_file(path), channels=3)
            image = tf.compat.v1.image.resize_images(image, [96, 96])  # bilinear (TF 1)
            frames.append((tf.cast(image, tf.float32).numpy() - 128.0) / 128.0)
        window = np.stack(frames)[None]  # one window from a zero state
        preds.append(_forward(model, window)[0])
        truth.append(labels[start : start + seq_length])
    p, t = np.concatenate(preds), np.concatenate(truth)

    def concordance(x, y):  # population variance, over all frames concatenated
        return (
            2
            * np.mean((x - x.mean()) * (y - y.mean()))
            / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)
        )

    ccc = [concordance(t[:, d], p[:, d]) for d in range(2)]
    mse = [np.mean((t[:, d] - p[:, d]) ** 2) for d in range(2)]
    return {"frames": len(p), "ccc_valence": ccc[0], "ccc_arousal": ccc[1],
            "ccc_total": np.mean(ccc), "mse_valence": mse[0], "mse_arousal": mse[1]}  # fmt: skip


def _write_crops(root: Path, size: int = 112) -> Path:
    """JPEG crops (112 px: the resize to 96 is exercised) of the two videos, and the list;
    labels follow a smooth trace plus noise, so that CCC is far from 0."""
    rng = np.random.default_rng(5)
    lines = []
    for v, n in enumerate(LENGTHS):
        crops = ref.crops(n, size=size, seed=10 + v).astype(np.uint8)
        (root / f"video{v}").mkdir(parents=True)
        t = np.arange(n) / n
        for i in range(n):
            name = f"video{v}/{i:05d}.jpg"
            cv2.imwrite(str(root / name), crops[i][..., ::-1])  # RGB -> BGR on disk
            va = np.clip([np.sin(3 * t[i] + v), np.cos(2 * t[i])] + rng.normal(0, 0.2, 2), -1, 1)
            lines.append(f"{name},{va[0]:.6f},{va[1]:.6f}")
    path = root / "test.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_authors_protocol_equals_a_port_of_their_eval_script(tmp_path):
    from pipeline.models.saved import load_model  # the forward pass

    prefix, _ = ref.make_checkpoint("affwildnet-vggface-gru", tmp_path / "ckpt", None, seed=2)
    model_dir = tmp_path / "affwildnet"
    runner = CliRunner()
    r = runner.invoke(main, ["import-checkpoint", str(prefix), "--arch", "affwildnet-vggface-gru",
                             "--out", str(model_dir)], catch_exceptions=False)  # fmt: skip
    assert r.exit_code == 0, r.output
    csv_path = _write_crops(tmp_path / "crops")

    out = tmp_path / "authors.json"
    r = runner.invoke(main, ["evaluate", "--model", str(model_dir), "--csv", str(csv_path),
                             "--protocol", "authors", "--out", str(out)], catch_exceptions=False)  # fmt: skip
    assert r.exit_code == 0, r.output
    got = json.loads(out.read_text())
    want = eval_script_port(csv_path, load_model(model_dir).keras_model)

    assert got["frames_listed"] == sum(LENGTHS) == 165
    assert got["frames_scored"] == want["frames"] == 160 and got["windows"] == 2
    for key in ("ccc_valence", "ccc_arousal"):
        assert abs(got[key] - want[key]) <= 1e-6, (key, got[key], want[key])
    assert abs(got["ccc_mean"] - want["ccc_total"]) <= 1e-6
    for key in ("mse_valence", "mse_arousal"):
        assert abs(got[key] - want[key]) <= 1e-6
    # The comparison can fail: the numbers are not degenerate, and cutting otherwise (the
    # project's all_frames: per video, overlapping windows, every frame) gives others.
    assert min(abs(want["ccc_valence"]), abs(want["ccc_arousal"])) > 1e-3
    out_all = tmp_path / "all.json"
    r = runner.invoke(main, ["evaluate", "--model", str(model_dir), "--csv", str(csv_path),
                             "--protocol", "all_frames", "--out", str(out_all)],
                      catch_exceptions=False)  # fmt: skip
    assert r.exit_code == 0, r.output
    other = json.loads(out_all.read_text())
    assert other["frames_scored"] == 165
    assert abs(other["ccc_valence"] - want["ccc_valence"]) > 1e-4
