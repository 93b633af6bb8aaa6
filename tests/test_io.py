"""Atomic outputs: stale temporaries of a killed writer are swept, a live writer's are not;
the one streaming table writer writes .csv and .parquet alike."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from pipeline.io import RowWriter, atomic_dir, sweep_stale, write_json


def test_killed_stage_leaves_temporaries_that_the_next_run_removes(tmp_path):
    out = tmp_path / "interim" / "boxes"
    code = (
        "import os, sys, time\n"
        "from pipeline.io import atomic_dir\n"
        f"with atomic_dir({str(out)!r}) as tmp:\n"
        "    (tmp / 'a.parquet').write_text('half')\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, env=env, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    stale = list(out.parent.glob(".boxes.*.tmp"))
    assert len(stale) == 1 and stale[0].is_dir()
    assert sweep_stale(out) == []  # its writer is alive: left alone
    proc.kill()  # kill -9: no cleanup runs
    proc.wait()
    assert stale[0].exists()
    with atomic_dir(out) as tmp:
        (tmp / "b.parquet").write_text("done")
    assert sorted(p.name for p in out.parent.iterdir()) == ["boxes"]
    assert [p.name for p in out.iterdir()] == ["b.parquet"]


def test_unowned_old_temporaries_swept_fresh_ones_kept(tmp_path):
    old = tmp_path / ".summary.json.abc123.tmp"
    new = tmp_path / ".summary.json.def456.tmp"
    other = tmp_path / ".other.json.1.tmp"
    for p in (old, new, other):
        p.write_text("x")
    os.utime(old, (1, 1))
    write_json({"a": 1}, tmp_path / "summary.json")
    assert not old.exists() and new.exists() and other.exists()


SCHEMA = pa.schema(
    [("frame", pa.int32()), ("t", pa.float64()), ("v", pa.float32()), ("ok", pa.bool_()),
     ("pts", pa.list_(pa.float32(), 4))]
)  # fmt: skip


def _rows(n):
    for i in range(n):
        yield {"frame": i, "t": i / 3, "v": np.nan if i % 4 == 0 else i / 7, "ok": i % 2 == 0,
               "pts": None if i % 5 == 0 else np.arange(4) + i}  # fmt: skip


def test_row_writer_streams_parquet_in_batches(tmp_path):
    path = tmp_path / "rows.parquet"
    with RowWriter(path, SCHEMA, rows_per_batch=3) as w:
        for row in _rows(10):
            w.add(**row)
        assert not path.exists()  # atomic: nothing at the name until the block ends
    assert w.n_rows == 10 and pq.ParquetFile(path).metadata.num_row_groups == 4
    got = pq.read_table(path)
    assert got.schema.equals(SCHEMA)
    v = got.column("v").to_numpy()
    assert np.isnan(v[[0, 4, 8]]).all() and v[1] == np.float32(1 / 7)
    pts = np.array(got.column("pts").to_pylist(), np.float32)  # no null lists: NaN rows
    assert np.isnan(pts[[0, 5]]).all() and list(pts[6]) == [6, 7, 8, 9]
    assert got.column("ok").to_pylist() == [i % 2 == 0 for i in range(10)]
    assert got.column("t").to_pylist()[1] == 1 / 3  # float64 kept, not narrowed


def test_row_writer_csv_holds_what_parquet_holds(tmp_path):
    schema = SCHEMA.remove(4)  # CSV has no list columns
    for suffix in (".csv", ".parquet"):
        with RowWriter(tmp_path / f"rows{suffix}", schema, rows_per_batch=4) as w:
            for row in _rows(9):
                del row["pts"]
                w.add(**row)
    text = (tmp_path / "rows.csv").read_text().splitlines()
    assert text[0] == "frame,t,v,ok" and len(text) == 10
    csv = pcsv.read_csv(tmp_path / "rows.csv", convert_options=pcsv.ConvertOptions(
        column_types=schema))  # fmt: skip
    ref = pq.read_table(tmp_path / "rows.parquet")
    for name in schema.names:
        a, b = csv.column(name).to_numpy(), ref.column(name).to_numpy()
        np.testing.assert_array_equal(a, b)  # NaN where NaN, float32 values exact


def test_row_writer_error_leaves_nothing_and_live_log_writes_through(tmp_path):
    path = tmp_path / "x.parquet"
    with pytest.raises(RuntimeError), RowWriter(path, SCHEMA) as w:
        w.add(**next(_rows(1)))
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    log = tmp_path / "live.csv"
    w = RowWriter(log, SCHEMA.remove(4), rows_per_batch=1, atomic=False).open()
    assert log.read_text() == "frame,t,v,ok\n"  # the header at once
    w.add(frame=0, t=0.5, v=np.nan, ok=True)
    assert log.read_text().splitlines()[1] == "0,0.5,nan,true"  # each row as it is added
    w.close()
    with pytest.raises(ValueError, match=r"x\.txt"):
        RowWriter(tmp_path / "x.txt", SCHEMA)
