"""Per-annotator label files (Aff-Wild layout, ``annotations/<split>/individual/``) and
``data.annotator``: which labels train and val get, the test split always the mean, and every
bad annotator file named with its line."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.config import DataConfig, IngestConfig, ParamsError, SplitConfig, parse_params
from pipeline.datasets.annotators import agreement, best_annotator
from pipeline.datasets.errors import DataSetError
from pipeline.datasets.ingest import ingest
from tests.helpers.datasets import make_affwild, make_affwild2, values, write_lines

VIDEOS = {"a1": ("train", 9), "a2": ("train", 7), "a3": ("train", 8), "t1": ("test", 8)}


def _mean(root, split, vid, dim):
    path = root / "annotations" / split / dim / f"{vid}.txt"
    return np.array([float(x) for x in path.read_text().split()], np.float32)


def _individual(root, split, vid, dim, name):
    return root / "annotations" / split / "individual" / dim / vid / f"{name}.txt"


def _panel(m: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Three readings of the mean ``m``: 1 close to it, 2 noisier, 3 mostly noise."""
    rng = np.random.default_rng(seed)
    return {
        "1": np.clip(m + 0.02 * rng.standard_normal(m.shape), -1, 1),
        "2": np.clip(m + 0.3 * rng.standard_normal(m.shape), -1, 1),
        "3": np.clip(0.5 * m + 0.5 * rng.standard_normal(m.shape), -1, 1),
    }


@pytest.fixture
def root(tmp_path):
    """An Aff-Wild folder whose every video (test included) ships three annotators."""
    r = make_affwild(tmp_path / "aw", VIDEOS)
    for i, (vid, (split, _)) in enumerate(VIDEOS.items()):
        for d, dim in enumerate(("valence", "arousal")):
            for name, v in _panel(_mean(r, split, vid, dim), 10 * i + d).items():
                write_lines(_individual(r, split, vid, dim, name), [f"{x:.4f}" for x in v])
    return r


def _run(root, annotator=None, fmt="affwild"):
    data = DataConfig(root=str(root), format=fmt, annotator=annotator)
    return ingest(data, SplitConfig(), IngestConfig())


def _labels(res, vid):
    t = res.labels.filter(res.labels.column("video_id").to_numpy(zero_copy_only=False) == vid)
    return t.column("valence").to_numpy(), t.column("arousal").to_numpy()


def _error(root, annotator="best", fmt="affwild") -> str:
    with pytest.raises(DataSetError) as info:
        _run(root, annotator, fmt)
    return str(info.value)


def test_mean_by_default_annotator_files_not_needed(root):
    res = _run(root)
    for vid, (split, _) in VIDEOS.items():
        v, a = _labels(res, vid)
        np.testing.assert_array_equal(v, _mean(root, split, vid, "valence"))
        np.testing.assert_array_equal(a, _mean(root, split, vid, "arousal"))
    assert res.report.annotator == "mean" and res.report.annotators == {}


@pytest.mark.parametrize("choice", [2, "best"])
def test_train_and_val_read_the_annotator_test_the_mean(root, choice):
    res = _run(root, choice)
    m = res.manifest
    split_of = dict(
        zip(m.column("video_id").to_pylist(), m.column("split").to_pylist(), strict=True)
    )
    name = "1" if choice == "best" else "2"  # best: the one reading that follows the others
    assert res.report.annotator == str(choice)
    assert res.report.annotators == {"a1": name, "a2": name, "a3": name}
    assert "val" in split_of.values()
    for vid, (split, _) in VIDEOS.items():
        v, a = _labels(res, vid)
        if split_of[vid] == "test":  # the mean, whatever the training labels are
            expect = [_mean(root, split, vid, d) for d in ("valence", "arousal")]
        else:
            expect = [
                [float(x) for x in _individual(root, split, vid, d, name).read_text().split()]
                for d in ("valence", "arousal")
            ]
        np.testing.assert_allclose(v, expect[0], atol=1e-6)
        np.testing.assert_allclose(a, expect[1], atol=1e-6)


def test_best_is_the_annotator_closest_to_the_others_mean():
    m = values(200, 0)
    a = {k: (v, v) for k, v in _panel(m, 1).items()}
    scores = agreement(a)
    assert best_annotator(a) == max(scores, key=scores.get) == "1"
    assert scores["1"] > scores["2"] > scores["3"]
    a["4"] = (-m, -m)  # reads it upside down
    assert agreement(a)["4"] < 0 and best_annotator(a) != "4"
    assert best_annotator({"x": (m, m)}) == "x"


@pytest.mark.parametrize(
    "plant, message",
    [
        (lambda p: p.write_text("0.1\nnan\n" + "0.1\n" * 7), ":2: 'nan' is not finite"),
        (lambda p: p.write_text("0.1\n" * 8 + "1.5\n"), ":9: value 1.5 outside [-1, 1]"),
        (lambda p: p.write_text("0.1\n" * 8), ": 8 lines but the mean's label file "),
        (lambda p: p.unlink(), ": annotator 3 has no arousal file "),
    ],
    ids=["nan", "out-of-range", "wrong-length", "missing"],
)
def test_a_bad_annotator_file_is_named(root, plant, message):
    path = _individual(root, "train", "a1", "arousal", "3")
    plant(path)
    text = _error(root)
    where = _individual(root, "train", "a1", "valence", "3") if "no arousal" in message else path
    assert f"{where}{message}" in text
    assert "1 problem(s)" in text


def test_the_test_splits_annotator_files_are_not_read(root):
    _individual(root, "test", "t1", "valence", "1").write_text("nan\n")
    assert _run(root, "best").report.annotators


def test_missing_annotator_or_files_and_formats_without_them(root, tmp_path):
    assert "a1" in _error(root, 4) and "no annotator 4 (this video has 1, 2, 3)" in _error(root, 4)
    for dim in ("valence", "arousal"):
        for name in "123":
            _individual(root, "train", "a2", dim, name).unlink()
    assert "no per-annotator labels ship for this video (data.annotator: best)" in _error(root)
    aw2 = make_affwild2(tmp_path / "aw2")
    assert "the affwild2 layout ships no per-annotator labels" in _error(aw2, fmt="affwild2")


@pytest.mark.parametrize("bad", [0, -1, "2", "worst", True, 1.5, "mean"])
def test_params_key_is_validated(bad):
    assert parse_params({"data": {"annotator": "best"}}).data.annotator == "best"
    assert parse_params({"data": {"annotator": 3}}).data.annotator == 3
    assert parse_params({}).data.annotator is None
    with pytest.raises(
        ParamsError, match=r"data\.annotator: Input should be null .* 'best' or an integer >= 1"
    ):
        parse_params({"data": {"annotator": bad}})
