"""`affwild predict` says so, once, when the model learnt from the synthetic demo data."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from tests.helpers.inference import save_model_folder

WARNING = "trained on the synthetic demo data"


@pytest.fixture
def video(tmp_path):
    import skimage.data

    face = cv2.cvtColor(skimage.data.astronaut()[20:300, 90:370], cv2.COLOR_RGB2BGR)
    frame = np.full((240, 320, 3), 120, np.uint8)
    frame[40:200, 80:240] = cv2.resize(face, (160, 160), interpolation=cv2.INTER_AREA)
    path = tmp_path / "v.mp4"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (320, 240))
    for _ in range(8):
        vw.write(frame)
    vw.release()
    return path


def _predict(model, video, out):
    return CliRunner().invoke(
        main, ["predict", str(video), str(video), "--model", str(model), "--out", str(out)],
        catch_exceptions=False,
    )  # fmt: skip


def test_demo_model_warns_once_real_model_does_not(tmp_path, video):
    demo = save_model_folder(tmp_path / "demo_cnn", "cnn")
    meta = json.loads((demo / "meta.json").read_text())
    meta["data"] = {"root": "data/raw/demo", "format": "affwild", "demo": True}
    (demo / "meta.json").write_text(json.dumps(meta))
    r = _predict(demo, video, tmp_path / "out_demo")
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.output.splitlines() if WARNING in ln]
    assert len(lines) == 1 and lines[0].startswith("warning: ")  # once for two videos

    real = save_model_folder(tmp_path / "real_cnn", "cnn")
    meta["data"] = {"root": "/data/affwild", "format": "affwild", "demo": False}
    meta_real = json.loads((real / "meta.json").read_text()) | {"data": meta["data"]}
    (real / "meta.json").write_text(json.dumps(meta_real))
    r = _predict(real, video, tmp_path / "out_real")
    assert r.exit_code == 0, r.output
    assert WARNING not in r.output
