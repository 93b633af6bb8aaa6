"""``affwild evaluate --csv``: the authors' list format, both protocols on tiny model folders,
the landmark rule and bad lists (file and line named)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.contracts.windows import back_to_back
from pipeline.evaluation.metrics import ccc
from pipeline.evaluation.protocols import read_list
from tests.helpers.inference import IMAGE, SEQ, save_model_folder


def write_list(folder, lengths, size=40, seed=0, header=None, landmarks=False):
    """JPEG crops of videos ``v0, v1, …`` (one folder each) and the CSV list of them; returns
    (csv path, labels (n, 2))."""
    rng = np.random.default_rng(seed)
    lines, labels = [] if header is None else [header], []
    for v, n in enumerate(lengths):
        (folder / f"v{v}").mkdir(parents=True)
        small = rng.integers(0, 256, (n, 6, 6, 3)).astype(np.uint8)
        for i in range(n):
            name = f"v{v}/{i:05d}.jpg"
            cv2.imwrite(str(folder / name), cv2.resize(small[i], (size, size)))
            va = rng.uniform(-1, 1, 2)
            labels.append(va)
            extra = ""
            if landmarks:
                extra = "," + " ".join(f"{x:.4f}" for x in rng.uniform(0, 1, 136))
            lines.append(f"{name},{va[0]:.6f},{va[1]:.6f}{extra}")
    path = folder / "list.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, np.array(labels)


def run(*args):
    return CliRunner().invoke(main, ["evaluate", *map(str, args)], catch_exceptions=False)


def test_back_to_back_windows_drop_the_remainder():
    assert [(w.start, w.keep_from, w.keep_to) for w in back_to_back(175, 80)] == [
        (0, 0, 80), (80, 80, 160),
    ]  # fmt: skip
    assert back_to_back(79, 80) == [] and len(back_to_back(160, 80)) == 2


def test_both_protocols_on_a_cnn_rnn_and_a_cnn(tmp_path):
    """Two videos of 7 and 6 frames, 6-frame windows: authors scores 12 frames (2 windows, the
    second across the two videos), all_frames all 13; a CNN scores all 13 under both."""
    csv_path, labels = write_list(tmp_path / "crops", [7, 6])
    rnn = save_model_folder(tmp_path / "rnn", "cnn_rnn", landmarks=False)
    cnn = save_model_folder(tmp_path / "cnn", "cnn", landmarks=False)
    res = {}
    for name, model in (("rnn", rnn), ("cnn", cnn)):
        for protocol in ("authors", "all_frames"):
            out = tmp_path / f"{name}-{protocol}.json"
            r = run("--model", model, "--csv", csv_path, "--protocol", protocol, "--out", out)
            assert r.exit_code == 0, r.output
            res[name, protocol] = json.loads(out.read_text())
    a, f = res["rnn", "authors"], res["rnn", "all_frames"]
    assert (a["frames_listed"], a["frames_scored"], a["frames_dropped"], a["windows"]) == (
        13, 12, 1, 2)  # fmt: skip
    assert (f["frames_scored"], f["videos"], f["seq_len"]) == (13, 2, SEQ)
    assert f["windows"] == 3  # v0: 0-5, then 3-8 keeping 6; v1: 0-5
    assert a["ccc_valence"] != f["ccc_valence"]
    for protocol in ("authors", "all_frames"):
        c = res["cnn", protocol]
        assert c["frames_scored"] == 13 and c["windows"] is None
    assert res["cnn", "authors"]["ccc_mean"] == res["cnn", "all_frames"]["ccc_mean"]
    for r in res.values():
        assert r["ccc_mean"] == pytest.approx((r["ccc_valence"] + r["ccc_arousal"]) / 2)
        assert -1 <= r["ccc_valence"] <= 1 and r["mse_arousal"] > 0


def test_the_cnn_scores_are_the_models_outputs_on_the_authors_crops(tmp_path):
    """Per-frame check of the CNN path: decode, TF 1 bilinear resize (40 -> 32 px), the model,
    CCC over all frames."""
    import tensorflow as tf

    from pipeline.models.saved import load_model

    csv_path, labels = write_list(tmp_path / "crops", [5, 4])
    cnn = save_model_folder(tmp_path / "cnn", "cnn", landmarks=False)
    out = tmp_path / "o.json"
    assert run("--model", cnn, "--csv", csv_path, "--protocol", "authors", "--out",
               out).exit_code == 0  # fmt: skip
    got = json.loads(out.read_text())
    files = sorted((tmp_path / "crops").glob("v*/*.jpg"))
    images = []
    for f in files:
        img = tf.io.decode_jpeg(tf.io.read_file(str(f)), channels=3)
        images.append(tf.compat.v1.image.resize_images(img, [IMAGE, IMAGE]).numpy())
    model = load_model(cnn).keras_model
    pred = np.asarray(model({"image": np.stack(images), "landmarks": np.zeros((9, 136))}))
    assert got["ccc_arousal"] == pytest.approx(ccc(labels[:, 1], pred[:, 1]), abs=1e-6)


def test_a_model_that_takes_landmarks_needs_them_in_the_list(tmp_path):
    model = save_model_folder(tmp_path / "cnn", "cnn", landmarks=True)
    bare, _ = write_list(tmp_path / "bare", [3])
    r = run("--model", model, "--csv", bare, "--protocol", "authors", "--out", tmp_path / "x.json")
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1
    assert "takes landmarks" in r.output and str(bare) in r.output
    assert not (tmp_path / "x.json").exists()
    header = "image_path,valence,arousal,landmarks"
    with_lm, _ = write_list(tmp_path / "lm", [3], header=header, landmarks=True)
    r = run("--model", model, "--csv", with_lm, "--protocol", "authors", "--out",
            tmp_path / "y.json")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert read_list(with_lm).landmarks.shape == (3, 136)


@pytest.mark.parametrize(
    "line, error",
    [
        ("v0/00000.jpg,0.5,1.5", ":2: arousal '1.5' is not in [-1, 1]"),
        ("v0/00000.jpg,x,0.1", ":2: valence 'x' is not a number"),
        ("v0/missing.jpg,0.1,0.1", ":2: no such image"),
        ("v0/00000.jpg,0.1", ":2: 2 fields, expected 3"),
    ],
)
def test_a_bad_line_is_named(tmp_path, line, error):
    csv_path, _ = write_list(tmp_path, [2])
    lines = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join([lines[0], line, *lines[1:]]) + "\n")
    r = run("--model", tmp_path, "--csv", csv_path, "--protocol", "authors", "--out",
            tmp_path / "o.json")  # fmt: skip
    assert r.exit_code == 1 and f"{csv_path}{error}" in r.output


def test_videos_come_from_a_column_or_the_folder_and_are_listed_together(tmp_path):
    csv_path, _ = write_list(tmp_path, [2, 2])
    assert (
        list(read_list(csv_path).videos) == [str(tmp_path / "v0")] * 2 + [str(tmp_path / "v1")] * 2
    )
    lines = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join([lines[0], lines[2], lines[1], lines[3]]) + "\n")
    with pytest.raises(Exception, match=r"list.csv:3: video .*v0' was listed before \(line 1\)"):
        read_list(csv_path)
    named = tmp_path / "named.csv"
    named.write_text("video,image_path,valence,arousal\n"
                     + "".join(f"a,{line}\n" for line in lines))  # fmt: skip
    assert list(read_list(named).videos) == ["a"] * 4


def test_the_evaluate_stage_under_the_authors_protocol(tmp_path):
    """evaluate.protocol authors in the stage: the frames with a face and a label, cut into
    whole windows of the CNN-RNN's length; every model scored on them; the report says so.
    The default protocol writes no protocol key (its report is as it was)."""
    import pyarrow.parquet as pq

    from pipeline.config import BalanceConfig, ShardConfig
    from pipeline.records.writer import load_videos, write_records
    from stages.evaluate import main as evaluate
    from tests.helpers.records import make_interim

    videos = {"tr0": ("train", 12), "te0": ("test", 20), "te1": ("test", 9)}
    manifest, labels, crops = make_interim(tmp_path / "interim", videos, crop=40)
    records = tmp_path / "records"
    cfg = ShardConfig(seq_len=SEQ, train_stride=SEQ, shard_mb=1)
    write_records(load_videos(manifest, labels, crops), records, cfg, BalanceConfig()).write(
        records
    )
    pq.write_table(labels, tmp_path / "labels.parquet")
    models = {}
    for kind in ("cnn", "cnn_rnn"):
        folder = save_model_folder(tmp_path / kind, kind, landmarks=False)
        meta = json.loads((folder / "meta.json").read_text())
        (folder / "meta.json").write_text(json.dumps({**meta, "train_label_mean": [0.1, 0.2]}))
        models[kind] = folder
    reports = {}
    runs = {"all_frames": "protocol: all_frames", "authors": "protocol: authors",
            "blend": "protocol: all_frames, rnn_blend: 2"}  # fmt: skip
    for protocol, evaluate_params in runs.items():
        params = tmp_path / f"{protocol}.yaml"
        params.write_text(f"evaluate: {{{evaluate_params}, bootstrap: 100}}\n")
        out = tmp_path / protocol
        r = CliRunner().invoke(evaluate, [
            "--records", records, "--labels", tmp_path / "labels.parquet",
            "--cnn", models["cnn"], "--cnn-rnn", models["cnn_rnn"], "--metrics", out / "metrics",
            "--report", out / "report.json", "--predictions", out / "pred.parquet",
            "--params", params,
        ], catch_exceptions=False)  # fmt: skip
        assert r.exit_code == 0, r.output
        reports[protocol] = json.loads((out / "report.json").read_text())
    assert "protocol" not in reports["all_frames"]
    a = reports["authors"]
    assert a["protocol"] == "authors" and a["cnn_rnn_windows"]["context"] == 0
    n = a["frames"]["labelled"]
    face_frames = reports["all_frames"]["frames"]["with_face"]  # labelled, with a face
    assert n == face_frames // SEQ * SEQ < reports["all_frames"]["frames"]["labelled"]
    assert a["frames"]["with_face"] == n  # only frames with a face are listed
    assert pq.read_table(tmp_path / "authors" / "pred.parquet").num_rows == n
    # the seam blend reaches the stage: the CNN-RNN's numbers move, the CNN's do not
    windows = {k: reports[k]["cnn_rnn_windows"] for k in ("all_frames", "blend")}
    assert (windows["all_frames"]["blend"], windows["blend"]["blend"]) == (0, 2)
    assert all({"at_start", "elsewhere", "jump_ratio"} <= set(w) for w in windows.values())
    pred = {k: pq.read_table(tmp_path / k / "pred.parquet").to_pydict() for k in windows}
    assert pred["blend"]["cnn_valence"] == pred["all_frames"]["cnn_valence"]
    assert pred["blend"]["cnn_rnn_valence"] != pred["all_frames"]["cnn_rnn_valence"]


@pytest.mark.slow  # two exports, the TFLite conversion (~80 s on 2 cores)
@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_exported_models_score_as_the_folder_does(tmp_path):
    """A SavedModel folder and a TFLite file (one window per call) exported from a model
    folder give its numbers."""
    folder = save_model_folder(tmp_path / "rnn", "cnn_rnn", landmarks=True)
    header = "image_path,valence,arousal,landmarks"
    csv_path, _ = write_list(tmp_path / "lm", [8, 7], header=header, landmarks=True)
    runner = CliRunner()
    targets = {"keras": folder, "savedmodel": tmp_path / "sm", "tflite": tmp_path / "m.tflite"}
    for fmt in ("savedmodel", "tflite"):
        r = runner.invoke(main, ["export", "--model", str(folder), "--format", fmt, "--out",
                                 str(targets[fmt])], catch_exceptions=False)  # fmt: skip
        assert r.exit_code == 0, r.output
    res = {}
    for form, target in targets.items():
        out = tmp_path / f"{form}.json"
        r = run("--model", target, "--csv", csv_path, "--protocol", "all_frames", "--out", out)
        assert r.exit_code == 0, r.output
        res[form] = json.loads(out.read_text())
        assert res[form]["model_form"] == form and res[form]["frames_scored"] == 15
    for form in ("savedmodel", "tflite"):
        for key in ("ccc_valence", "ccc_arousal", "mse_valence", "mse_arousal"):
            assert res[form][key] == pytest.approx(res["keras"][key], abs=1e-5)
