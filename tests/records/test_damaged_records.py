"""A corrupted record met while reading (TensorFlow's ``DataLossError`` names neither file nor
record) is one clear error naming the shard and the record's index: in the evaluation / SVR
reader, in the ``tf.data`` pipeline, and in the training stage, which writes no model."""

from __future__ import annotations

import shutil

import pytest
import yaml
from click.testing import CliRunner

from pipeline.evaluation.evaluate import read_records
from pipeline.records.reader import (
    ShardError,
    damage_named,
    make_dataset,
    shard_files,
    verify_payloads,
)
from tests.helpers.records import corrupt_record, tiny_records
from tests.helpers.training import VIDEOS, tiny_params

SEQ = 8


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return tiny_records(tmp_path_factory.mktemp("records"), VIDEOS, seq_len=SEQ)


@pytest.fixture
def records(pristine, tmp_path):
    return shutil.copytree(pristine, tmp_path / "records")


def test_the_damage_is_real(records):
    path = shard_files(records, "test", "frames")[0]
    corrupt_record(path, 3)
    with pytest.raises(ShardError, match=rf"^{path}: corrupted record 3: "):
        verify_payloads(path)
    # the framing is whole: listing the shards does not notice it
    assert shard_files(records, "test", "frames") == [path]


def test_evaluation_reader_names_shard_and_record(records):
    path = shard_files(records, "test", "frames")[0]
    corrupt_record(path, 3)
    with pytest.raises(ShardError) as info:
        read_records(records, "test", "frames")
    assert str(info.value).startswith(f"{path}: corrupted record 3")
    assert len(str(info.value).splitlines()) == 1


@pytest.mark.parametrize("given", ["files", "folder"])
def test_input_pipeline_names_shard_and_record(records, given):
    files = shard_files(records, "train", "frames")
    corrupt_record(files[-1], 2)
    ds = make_dataset(files, "frames", batch_size=8, training=True, seed=1)
    expected = rf"^{files[-1]}: corrupted record 2"
    with (
        pytest.raises(ShardError, match=expected),
        damage_named(files if given == "files" else records),
    ):
        for _ in ds:
            pass


@pytest.mark.slow  # builds and starts training the tiny CNN (~30 s)
def test_training_stage_names_it_and_writes_no_model(records, tmp_path):
    from stages.train_cnn import main as train_cnn

    path = shard_files(records, "train", "frames")[0]
    corrupt_record(path, 5)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(tiny_params(epochs=1).model_dump(mode="json")))
    out = tmp_path / "cnn"
    args = ["--records", str(records), "--out", str(out), "--checkpoints", str(tmp_path / "ck"),
            "--live", str(tmp_path / "live"), "--params", str(params)]  # fmt: skip
    r = CliRunner().invoke(train_cnn, args)
    assert isinstance(r.exception, SystemExit) and r.exit_code == 1, r.exception
    lines = r.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith(f"error: {path}: corrupted record 5")
    assert not out.exists()
