"""The typed artifacts (``pipeline.artifacts``): round trips, old files, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.artifacts import (
    FaceStageSummary,
    FeaturesSummary,
    IngestReport,
    ModelFolderError,
    ModelMeta,
    RecordsSummary,
    RunSummary,
    SvrMeta,
    VideoReport,
)
from pipeline.config import (
    CropConfig,
    DetectConfig,
    LandmarksConfig,
    ModelConfig,
    TrainConfig,
    TrainRnnConfig,
)
from pipeline.errors import InputError
from pipeline.io import write_timings
from pipeline.models.saved import load_model

ROOT = Path(__file__).resolve().parents[1]

# a face stage's summary file as the stages write it (one video, no face found)
SUMMARY = {
    "stage": "detect", "videos": 1, "frames": 4, "frames_with_face": 0, "frames_missing": 4,
    "frames_not_decoded": 0, "frames_with_several_faces": 0, "engine": "local", "n_jobs": 1,
    "failed": [],
    "warnings": ["a: no face of the subject in any of its 4 frames"],
    "videos_detail": [{
        "video_id": "a", "frames": 4, "decoded": 4, "faces": 0, "missing": 4,
        "statuses": {}, "multi_face_frames": 0, "error": None,
        "warnings": ["a: no face of the subject in any of its 4 frames"],
        "extra": {"faces_dropped_short_runs": 0},
    }],
}  # fmt: skip


def _meta(**kw) -> ModelMeta:
    base = dict(
        kind="cnn_rnn", image_size=32, records_crop_size=40, normalization="symmetric",
        landmarks=True, seq_len=6, train_label_mean=[0.25, -0.5], model={"backbone": "small"},
        train=TrainRnnConfig(), run={"epochs_run": 2, "best_epoch": 1, "best_val_ccc": 0.5},
        face={"detect": DetectConfig(), "landmarks": LandmarksConfig(max_gap=3),
              "crop": CropConfig(size=40)},
        data={"root": "data/raw/demo", "format": "affwild", "demo": True},
    )  # fmt: skip
    return ModelMeta(**{**base, **kw})


def test_model_meta_round_trip_is_typed_and_byte_identical(tmp_path):
    meta = _meta()
    meta.write(tmp_path)
    raw = json.loads((tmp_path / "meta.json").read_text())
    assert list(raw)[:6] == ["kind", "image_size", "records_crop_size", "normalization",
                             "landmarks", "seq_len"]  # fmt: skip
    assert raw["face"]["landmarks"]["max_gap"] == 3 and raw["train_label_mean"] == [0.25, -0.5]
    assert raw["model"]["backbone"] == {"name": "small", "width": 16} and "imported" not in raw
    back = ModelMeta.read(tmp_path)
    assert back == meta and back.trained_on_demo and back.face.crop.size == 40
    assert isinstance(back.model, ModelConfig) and isinstance(back.train, TrainRnnConfig)
    assert back.backbone_name == "small" and back.model.backbone.options.width == 16
    assert isinstance(back.run, RunSummary) and back.run.best_val_ccc == 0.5
    back.write(tmp_path / "again")
    assert (tmp_path / "again" / "meta.json").read_bytes() == (tmp_path / "meta.json").read_bytes()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m["model"].update(small_width=8), r"model\.small_width: Extra inputs"),
        (lambda m: m.pop("face"), "face: Field required"),
        (lambda m: m["face"]["crop"].pop("size") and m["face"]["detect"].update(n_jobs=2),
         r"face: .*detect\.n_jobs: unknown key"),
        (lambda m: m.update(note="x"), "note: Extra inputs"),
        (lambda m: m["run"].update(lr=1), r"run\.lr: Extra inputs"),
    ],
)  # fmt: skip
def test_a_folder_of_another_version_is_one_error_naming_key_and_command(tmp_path, change, message):
    raw = _meta().to_json()
    change(raw)
    (tmp_path / "meta.json").write_text(json.dumps(raw))
    with pytest.raises(ModelFolderError, match=message) as exc:
        ModelMeta.read(tmp_path)
    text = str(exc.value)
    assert text.startswith(f"{tmp_path}/meta.json: ") and "\n" not in text
    assert text.endswith("write it anew with `dvc repro train_rnn`)")


def test_an_imported_model_of_another_version_names_import_checkpoint(tmp_path):
    raw = _meta().to_json()
    raw["model"] = {"arch": "vggface-4096x2000x2", "backbone": "vggface"}  # as it was written
    raw["imported"] = {"arch": "vggface-4096x2000x2", "format": "tensorflow-1 checkpoint"}
    (tmp_path / "meta.json").write_text(json.dumps(raw))
    with pytest.raises(ModelFolderError, match=r"model\.backbone: .*unknown backbone .vggface.*"
                       r"`affwild import-checkpoint CHECKPOINT --arch vggface-4096x2000x2"):  # fmt: skip
        ModelMeta.read(tmp_path)


def test_model_and_train_sections_match_the_kind():
    with pytest.raises(ValueError, match="train: the cnn_rnn's training params"):
        _meta(train=TrainConfig())
    with pytest.raises(ValueError, match="network's params"):
        _meta(model=None)
    assert isinstance(_meta(kind="cnn", train=TrainConfig().model_dump()).train, TrainConfig)


def test_the_gru_variant_is_recorded():
    from pipeline.config import ModelConfig

    written = ModelConfig(rnn="gru", gru="tf1").model_dump(mode="json")
    assert _meta(model=written).to_json()["model"]["gru"] == "tf1"
    assert _meta(model=ModelConfig().model_dump(mode="json")).model.gru == "keras"


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"kind": "svr"}', "kind"),
        ('{"kind": "cnn_rnn", "image_size": 8, "normalization": "unit", "landmarks": false, '
         '"model": {"backbone": "small"}, "face": {}}', "needs seq_len"),
        ('{"kind": "cnn", "image_size": 8, "normalization": "imagenet", "landmarks": false}',
         "normalization"),
    ],
)  # fmt: skip
def test_bad_meta_is_one_line_naming_the_file(tmp_path, content, message):
    if content is not None:
        (tmp_path / "meta.json").write_text(content)
    with pytest.raises(ModelFolderError, match=message) as exc:
        ModelMeta.read(tmp_path)
    assert isinstance(exc.value, InputError)
    text = str(exc.value)
    assert text.startswith(f"{tmp_path}/meta.json: ") and "\n" not in text


def test_records_summary_round_trip_is_byte_identical(tmp_path):
    raw = {
        "crop_size": 96, "seq_len": 50, "train_stride": 10, "balance": "duplicate",
        "splits": {"train": {
            "frames": {"records": 3, "units": 2, "before": {"total": 2}, "after": {"total": 3},
                       "balance": {"reachable": True},
                       "shards": [{"file": "train/f.tfrecord", "records": 3, "bytes": 10}],
                       "videos": 1},
            "sequences": {"records": 1, "units": 1, "before": {}, "after": {}, "balance": {},
                          "shards": []},
        }},
    }  # fmt: skip
    text = json.dumps(raw, indent=2) + "\n"
    (tmp_path / "summary.json").write_text(text)
    s = RecordsSummary.read(tmp_path)
    assert s.n_records("train", "frames") == 3 and s.n_records("val", "frames") == 0
    assert s.entry("train", "frames").shards[0].file == "train/f.tfrecord"
    s.write(tmp_path / "out")
    assert (tmp_path / "out" / "summary.json").read_text() == text
    (tmp_path / "summary.json").write_text('{"crop_size": 96}')
    with pytest.raises(InputError, match=r"summary\.json: seq_len: Field required"):
        RecordsSummary.read(tmp_path)


def test_svr_and_features_summaries(tmp_path):
    meta = SvrMeta(train_frames=10, feature_dim=2048, svr={"C": 1.0, "grid": 4}, fit_seconds=3.5)
    meta.write(tmp_path)
    assert SvrMeta.read(tmp_path).svr["grid"] == 4  # a record of the knobs, not needed to predict
    # timings stay out of the model folder (its hash depends on the data only)
    assert "fit_seconds" not in json.loads((tmp_path / "meta.json").read_text())
    assert meta.timings() == {"fit_seconds": 3.5}
    with pytest.raises(ModelFolderError, match="kind"):
        ModelMeta.read(tmp_path)  # an SVR folder is not a network's
    f = FeaturesSummary(used=False, source={"cnn_model": "ab"}, reason="why")
    f.write(tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text()) == {
        "used": False, "source": {"cnn_model": "ab"}, "reason": "why"}  # fmt: skip
    f = FeaturesSummary(used=True, source={}, frames=10, seconds=2.0, frames_per_s=5.0)
    f.write(tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text()) == {
        "used": True, "source": {}, "frames": 10}  # fmt: skip
    assert f.timings() == {"seconds": 2.0, "frames_per_s": 5.0}


def test_face_summary_timings_go_to_the_timing_report_not_the_summary(tmp_path):
    s = FaceStageSummary.of("crop", [VideoReport(video_id="a", frames=10).timed(2.0)], 4.0, 1)
    s.write_file(tmp_path / "s.json")
    assert "seconds" not in (tmp_path / "s.json").read_text()
    path = write_timings("crop", s.timings(), tmp_path / "timings")
    assert path == tmp_path / "timings" / "crop.json"
    assert json.loads(path.read_text()) == {
        "wall_seconds": 4.0, "frames_per_s": 2.5, "frames_per_s_per_process": 5.0,
        "videos": {"a": 2.0}}  # fmt: skip


def test_load_model_errors(tmp_path):
    with pytest.raises(ModelFolderError, match="no such model folder"):
        load_model(tmp_path / "nope")
    with pytest.raises(ModelFolderError, match="not a trained model folder"):
        load_model(tmp_path)


@pytest.mark.parametrize("name", ["cnn", "cnn_rnn", "svr"])
def test_committed_models_load(name, tmp_path):
    """The models `dvc checkout` gives load, and their meta.json is written back byte for byte."""
    folder = ROOT / "models" / name
    if not (folder / "meta.json").is_file():
        pytest.skip(f"{folder}: not checked out (dvc checkout)")
    if name == "svr":
        meta = SvrMeta.read(folder)
        assert meta.feature_dim > 0
        meta.write(tmp_path)
        assert (tmp_path / "meta.json").read_bytes() == (folder / "meta.json").read_bytes()
        return
    tm = load_model(folder)
    assert tm.kind == name and tm.meta.train_label_mean is not None
    assert tm.face.crop.size == tm.meta.records_crop_size
    tm.meta.write(tmp_path / name)  # the typed meta writes the same bytes back
    assert (tmp_path / name / "meta.json").read_bytes() == (folder / "meta.json").read_bytes()


@pytest.mark.parametrize(
    ("model", "content", "message"),
    [
        (FaceStageSummary, None, "no such file"),
        (FaceStageSummary, "{", "not valid JSON"),
        (FaceStageSummary, '{"stage": "detect"}', "videos: Field required"),
        (FaceStageSummary, json.dumps({**SUMMARY, "videos_detail": [{"video_id": "a"}]}),
         r"videos_detail\.0\.frames: Field required"),
        (IngestReport, '{"format": "affwild", "root": "x", "splits": {"train": {}}}',
         r"splits\.train\.videos: Field required"),
        (IngestReport, "[]", "expected a JSON object"),
    ],
)  # fmt: skip
def test_bad_stage_report_is_one_line_naming_the_file(tmp_path, model, content, message):
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=message) as exc:
        model.read_file(path)
    text = str(exc.value)
    assert text.startswith(f"{path}: ") and "\n" not in text


def test_face_summary_keeps_optional_keys_out_and_unknown_keys_in(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({**SUMMARY, "added_by_a_script": [1]}))
    s = FaceStageSummary.read_file(path)
    assert s.statuses is None and s.ray_cluster is None
    s.write_file(tmp_path / "back.json")
    assert json.loads((tmp_path / "back.json").read_text()) == {**SUMMARY, "added_by_a_script": [1]}
