"""A model folder from someone else runs no code: a pickle planted as the model
(``model.joblib``) and a ``.keras`` with a ``Lambda`` layer, each of which writes a marker file
when loaded, are refused by ``affwild predict`` and by the ``evaluate`` stage with one line
naming the file, and nothing is written (no marker, no output). A damaged folder (its
``model.keras`` cut short, its ``meta.json`` missing) is named the same way."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline.artifacts import ModelMeta, SvrMeta
from pipeline.cli import main
from pipeline.config import BalanceConfig, ModelConfig, ShardConfig
from pipeline.records.writer import load_videos, write_records
from tests.helpers.inference import CROP, IMAGE, SEQ
from tests.helpers.records import corrupt_record, make_interim


class _WritesMarker:
    """Unpickling this runs ``exec``: it creates the file ``path``."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return exec, (f"open({self.path!r}, 'w').write('ran')",)


def _pickle_folder(folder: Path, marker: Path) -> Path:
    """An SVR folder whose model file is a pickle that writes ``marker`` when loaded."""
    folder.mkdir(parents=True)
    (folder / "model.joblib").write_bytes(pickle.dumps(_WritesMarker(marker)))
    SvrMeta(train_frames=10, feature_dim=2048).write(folder)
    return folder


def _lambda_folder(folder: Path, marker: Path) -> Path:
    """A network folder whose ``model.keras`` has a ``Lambda`` layer that writes ``marker``
    when it is called (as rebuilding the model on load does)."""
    import keras

    path = str(marker)
    image = keras.Input((IMAGE, IMAGE, 3), name="image")
    # builtins only: a loaded lambda's globals are not this module's
    x = keras.layers.Lambda(lambda t: (open(path, "w").write("ran"), t)[1])(image)  # noqa: SIM115
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))
    folder.mkdir(parents=True)
    keras.Model(image, out).save(folder / "model.keras")
    ModelMeta(kind="cnn", image_size=IMAGE, records_crop_size=CROP, normalization="unit",
              landmarks=False, train_label_mean=(0.0, 0.0), model=ModelConfig(),
              face={"crop": {"size": CROP}}).write(folder)  # fmt: skip
    marker.unlink()  # building it called the function
    return folder


def _damaged_folders(root: Path, cnn_dir: Path) -> dict[str, Path]:
    """Copies of a good CNN folder: its model.keras cut in half; its meta.json gone."""
    truncated, no_meta = root / "truncated", root / "no_meta"
    shutil.copytree(cnn_dir, truncated)
    data = (truncated / "model.keras").read_bytes()
    (truncated / "model.keras").write_bytes(data[: len(data) // 2])
    shutil.copytree(cnn_dir, no_meta)
    (no_meta / "meta.json").unlink()
    return {"truncated": truncated, "no_meta": no_meta}


@pytest.fixture(scope="module")
def planted(tmp_path_factory, cnn_dir) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("planted")
    marker = root / "marker"
    return {
        "marker": marker,
        "pickle": _pickle_folder(root / "svr", marker),
        "lambda": _lambda_folder(root / "cnn", marker),
        **_damaged_folders(root, cnn_dir),
    }


# (plant, the file the one-line error names, what it says)
CASES = [
    ("pickle", "model.joblib", "refused: a pickle"),
    ("lambda", "model.keras", "holds Python code"),
    ("truncated", "model.keras", "not a complete .keras archive, truncated or damaged"),
    ("no_meta", "meta.json", "no such file"),
]


def _refused(r, path: Path, why: str) -> None:
    """Exit status 1 and one line on stderr naming ``path`` and saying why."""
    assert r.exit_code == 1, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert str(path) in lines[0] and why in lines[0], lines[0]
    assert "Traceback" not in r.output


def test_the_planted_files_would_run_code(planted):
    """The plants are real: loaded the unsafe way, each writes the marker."""
    import keras

    marker = planted["marker"]
    marker.unlink(missing_ok=True)
    pickle.loads((planted["pickle"] / "model.joblib").read_bytes())
    assert marker.read_text() == "ran"
    marker.unlink()
    keras.saving.load_model(planted["lambda"] / "model.keras", safe_mode=False)
    assert marker.read_text() == "ran"
    marker.unlink()


@pytest.mark.parametrize(("plant", "file", "why"), CASES)
def test_predict_refuses_and_runs_nothing(planted, noface_video, tmp_path, plant, file, why):
    planted["marker"].unlink(missing_ok=True)
    out = tmp_path / "rows.csv"
    r = CliRunner().invoke(
        main, ["predict", str(noface_video), "--model", str(planted[plant]), "--out", str(out)]
    )
    _refused(r, planted[plant] / file, why)
    assert not planted["marker"].exists() and not out.exists()


@pytest.fixture(scope="module")
def eval_inputs(tmp_path_factory, cnn_dir, rnn_dir) -> dict[str, Path]:
    """Tiny test records cut like the inference tests' models, their labels, and copies of
    those models with the training mean label evaluate needs."""
    root = tmp_path_factory.mktemp("evaluate")
    videos = {"tr0": ("train", 20), "te0": ("test", 24), "te1": ("test", 13)}
    manifest, labels, crops = make_interim(root / "interim", videos, crop=CROP)
    records = root / "records"
    cfg = ShardConfig(seq_len=SEQ, train_stride=SEQ, shard_mb=1)
    write_records(load_videos(manifest, labels, crops), records, cfg, BalanceConfig()).write(
        records
    )
    pq.write_table(labels, root / "labels.parquet")
    (root / "params.yaml").write_text("evaluate: {bootstrap: 100}\n")
    out = {"records": records, "labels": root / "labels.parquet", "params": root / "params.yaml"}
    for name, src in (("cnn", cnn_dir), ("cnn_rnn", rnn_dir)):
        shutil.copytree(src, root / name)
        meta = json.loads((root / name / "meta.json").read_text())
        (root / name / "meta.json").write_text(json.dumps({**meta, "train_label_mean": [0, 0]}))
        out[name] = root / name
    return out


def _evaluate(inputs: dict, out: Path, cnn: Path, svr: Path | None):
    from stages.evaluate import main as evaluate

    args = ["--records", str(inputs["records"]), "--labels", str(inputs["labels"]),
            "--cnn", str(cnn), "--cnn-rnn", str(inputs["cnn_rnn"]),
            "--metrics", str(out / "metrics"), "--report", str(out / "report.json"),
            "--plots", str(out / "plots"), "--predictions", str(out / "pred.parquet"),
            "--params", str(inputs["params"])]  # fmt: skip
    return CliRunner().invoke(evaluate, args + (["--svr", str(svr)] if svr else []))


@pytest.mark.parametrize(("plant", "file", "why"), CASES)
def test_evaluate_refuses_and_writes_nothing(planted, eval_inputs, tmp_path, plant, file, why):
    planted["marker"].unlink(missing_ok=True)
    out = tmp_path / "out"
    cnn = eval_inputs["cnn"] if plant == "pickle" else planted[plant]
    r = _evaluate(eval_inputs, out, cnn, planted["pickle"] if plant == "pickle" else None)
    _refused(r, planted[plant] / file, why)
    assert not planted["marker"].exists()
    assert not out.exists() or not any(out.iterdir())


def test_evaluate_names_a_corrupted_record_and_writes_nothing(eval_inputs, tmp_path):
    """Good models, a test shard with a damaged record (its checksum fails): one line naming
    the shard and the record, nothing written."""
    from pipeline.records.reader import shard_files

    records = shutil.copytree(eval_inputs["records"], tmp_path / "records")
    path = shard_files(records, "test", "sequences")[0]
    corrupt_record(path, 1)
    out = tmp_path / "out"
    r = _evaluate({**eval_inputs, "records": records}, out, eval_inputs["cnn"], None)
    _refused(r, path, "corrupted record 1")
    assert not out.exists() or not any(out.iterdir())


def _keras_loads(tree) -> list:
    """Calls ``<...>.load_model(...)`` on Keras (``keras.saving`` / ``keras.models``)."""
    import ast

    calls = []
    for node in ast.walk(tree):
        func = getattr(node, "func", None)
        is_call = isinstance(node, ast.Call) and isinstance(func, ast.Attribute)
        if is_call and func.attr == "load_model" and "keras" in ast.unparse(func.value):
            calls.append(node)
    return calls


def test_every_keras_load_of_the_project_is_in_safe_mode():
    """Outside the tests (which load the plants the unsafe way on purpose), every
    ``keras...load_model`` call passes ``safe_mode=True`` explicitly."""
    import ast

    from tests.helpers.repo import REPO, project_files

    found, unsafe = 0, []
    for name in project_files():
        if not name.endswith(".py") or name.startswith("tests/"):
            continue
        for call in _keras_loads(ast.parse((REPO / name).read_text())):
            found += 1
            safe = [k for k in call.keywords if k.arg == "safe_mode"]
            if not safe or not (isinstance(safe[0].value, ast.Constant) and safe[0].value.value):
                unsafe.append(f"{name}:{call.lineno}")
    assert found >= 2  # pipeline/models/saved.py and the training loop's best model
    assert not unsafe, unsafe
