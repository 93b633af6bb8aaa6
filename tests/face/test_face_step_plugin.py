"""A face step added from outside the package — one module and one ``dvc.yaml`` entry — goes
through ``params.yaml`` validation, its own DVC stage and ``affwild predict``, like the
built-in ones: nothing else is edited.

The toy step scores each face crop's sharpness (the variance of its Laplacian); it reads the
``crops`` table and adds its column to ``predict``'s rows.
"""

from __future__ import annotations

import csv
import math
import os
import sys

import pyarrow.parquet as pq
import pytest
import yaml

BLUR_MODULE = '''
"""A toy face step: the sharpness of each face crop (variance of its Laplacian)."""
import math
from typing import Literal

import cv2
import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from pipeline.face.jobs import FaceStep
from pipeline.registry import FACE_STAGES


class BlurConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ksize: Literal[1, 3, 5, 7] = 3  # the Laplacian's aperture


SCHEMA = pa.schema([("frame", pa.int32()), ("blur", pa.float32())])


class Blur:
    def __init__(self, cfg, video):
        self.ksize, self.scored = cfg.ksize, 0

    def push(self, frame, rgb, inputs):
        image, value = inputs["crops"]["image"], math.nan
        if image is not None:
            gray = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_GRAYSCALE)
            value = float(cv2.Laplacian(gray, cv2.CV_64F, ksize=self.ksize).var())
            self.scored += 1
        return [{"frame": frame, "blur": value}]

    def finish(self):
        return []

    def note(self, report):
        report.faces, report.missing = self.scored, report.frames - self.scored

    def close(self):
        pass


FACE_STAGES.register(
    "blur",
    FaceStep("blur", BlurConfig, Blur, writes="blur", schema=SCHEMA, reads=("crops",),
             what="face crop", predict_columns=("blur",)),
    "sharpness of the face crop (variance of its Laplacian)",
)
'''

DVC_ENTRY = {
    "cmd": "python -m stages.face blur --manifest data/interim/manifest.parquet "
    "--input crops=data/interim/crops --out data/interim/blur "
    "--summary data/interim/blur_summary.json",
    "deps": ["plugins/affwild_blur.py", "data/interim/manifest.parquet", "data/interim/crops"],
    "params": ["blur"],
    "outs": ["data/interim/blur", {"data/interim/blur_summary.json": {"cache": False}}],
}


@pytest.fixture
def blur_repo(tiny_copy, monkeypatch):
    """The session's tiny run (every stage up to date, tiny params) with the toy step's module
    (declared through AFFWILD_PLUGINS, as a user's would be), its one dvc.yaml entry and its
    params section."""
    repo_copy = tiny_copy
    root = repo_copy.root
    (root / "plugins").mkdir()
    (root / "plugins" / "affwild_blur.py").write_text(BLUR_MODULE)
    dvc = yaml.safe_load((root / "dvc.yaml").read_text())
    dvc["stages"]["blur"] = DVC_ENTRY
    (root / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False))
    repo_copy.set_params(blur={"ksize": 3})
    monkeypatch.setenv("AFFWILD_PLUGINS", "affwild_blur")
    path = [str(root / "plugins"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in path if p))
    return repo_copy


def _blur_tables(root) -> dict[str, list[float]]:
    out = {}
    for f in sorted((root / "data/interim/blur").glob("*.parquet")):
        table = pq.read_table(f)
        assert table.schema.names == ["frame", "blur"]
        assert str(table.schema.field("blur").type) == "float"  # the schema it declares
        assert table.column("frame").to_pylist() == list(range(table.num_rows))
        out[f.stem] = table.column("blur").to_pylist()
    return out


@pytest.mark.slow
def test_a_toy_face_step_from_its_module_and_one_dvc_entry(blur_repo, tmp_path):
    root = blur_repo.root
    check = "from pipeline.config import load_params; print(load_params().blur.ksize)"
    assert blur_repo.run(sys.executable, "-c", check).stdout.split() == ["3"]
    blur_repo.set_params(blur={"ksize": 4})
    bad = blur_repo.run(sys.executable, "-c", check, check=False)
    assert bad.returncode != 0 and "blur.ksize" in bad.stderr, bad.stderr
    blur_repo.set_params(blur={"ksize": 3})

    assert blur_repo.stale("dvc.yaml") == {"blur"}  # the stages before it: up to date
    assert blur_repo.repro("blur") == {"blur"}
    first = _blur_tables(root)
    manifest = pq.read_table(root / "data/interim/manifest.parquet").to_pylist()
    assert set(first) == {row["video_id"] for row in manifest}
    for row in manifest:
        valid = pq.read_table(root / f"data/interim/crops/{row['video_id']}.parquet")
        valid = valid.column("valid").to_pylist()
        assert len(first[row["video_id"]]) == row["n_frames"]
        assert [not math.isnan(v) for v in first[row["video_id"]]] == valid
    assert any(v > 0 for values in first.values() for v in values if not math.isnan(v))

    # Only its own section re-runs it: another stage's section leaves it up to date...
    blur_repo.set_params(shard={"seq_len": 12})
    stale = blur_repo.stale("dvc.yaml")
    assert "blur" not in stale and "crop" not in stale
    # ...its own re-runs it alone.
    blur_repo.set_params(blur={"ksize": 5})
    assert blur_repo.stale("dvc.yaml") - stale == {"blur"}
    assert blur_repo.repro("blur") == {"blur"}
    assert _blur_tables(root) != first

    # `affwild predict` runs it too (in memory) and writes its column.
    model = tmp_path / "cnn"
    make = f"from pathlib import Path; from tests.helpers.inference import save_model_folder as s; s(Path({str(model)!r}), 'cnn')"
    blur_repo.run(sys.executable, "-c", make)
    video = next(iter(sorted((root / "data/raw/demo/videos").rglob("*.mp4"))))
    out = tmp_path / "preds.csv"
    blur_repo.run(sys.executable, "-m", "pipeline.cli", "predict", str(video), "--model",
                  str(model), "--out", str(out), "--device", "cpu")  # fmt: skip
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["frame", "time_s", "valence", "arousal", "face", "blur"]
    assert any(r["face"] == "true" for r in rows)
    for r in rows:
        assert (r["face"] == "true") == (r["blur"] != "nan"), r
