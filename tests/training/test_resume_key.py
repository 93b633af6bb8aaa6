"""What decides whether a checkpoint may be resumed: the records and the code as they are
now, not only the params (a checkpoint trained on other records is never continued)."""

from __future__ import annotations

import os
import shutil

from pipeline.training import checkpoints as ckpt
from pipeline.training import fit as fitting
from tests.helpers.repo import REPO


def test_rewritten_records_change_the_stamp_even_at_equal_size(tmp_path):
    shard = tmp_path / "train" / "frames-00000.tfrecord"
    shard.parent.mkdir()
    shard.write_bytes(b"a" * 100)
    before = fitting.files_stamp(tmp_path)
    assert before == fitting.files_stamp(tmp_path)  # nothing changed: same stamp
    shard.write_bytes(b"b" * 100)  # a stage rewrote it: same name and size, other bytes
    st = shard.stat()
    os.utime(shard, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert fitting.files_stamp(tmp_path) != before
    assert ckpt.fingerprint("cnn", before) != ckpt.fingerprint("cnn", fitting.files_stamp(tmp_path))


def test_code_digest_changes_with_any_code_file(tmp_path):
    for pkg in ("pipeline", "stages"):
        shutil.copytree(REPO / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    digest = ckpt.code_digest(tmp_path)
    assert digest == ckpt.code_digest()  # the copy is this checkout's code
    (tmp_path / "pipeline" / "notes.txt").write_text("not code")
    assert ckpt.code_digest(tmp_path) == digest
    loss = tmp_path / "pipeline" / "training" / "losses.py"
    loss.write_text(loss.read_text() + "\n# changed\n")
    assert ckpt.code_digest(tmp_path) != digest
