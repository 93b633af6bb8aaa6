from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline.face import tables


def write_boxes(path, n, missing=()):
    with tables.table_writer(path, tables.BOXES, rows_per_group=7) as w:
        for i in range(n):
            if i in missing:
                w.add(
                    frame=i,
                    x=np.nan,
                    y=np.nan,
                    w=np.nan,
                    h=np.nan,
                    score=np.nan,
                    n_faces=0,
                    keypoints=None,
                )
            else:
                w.add(
                    frame=i, x=i, y=1, w=2, h=3, score=0.9, n_faces=1, keypoints=np.arange(12) + i
                )


def test_roundtrip_streams_and_keeps_missing_rows(tmp_path):
    p = tmp_path / "v.parquet"
    write_boxes(p, 30, missing={3, 4, 29})
    assert pq.ParquetFile(p).metadata.num_row_groups == 5
    t = tables.read_table(p, tables.BOXES)
    assert list(t["frame"]) == list(range(30))
    assert np.isnan(t["x"][[3, 4, 29]]).all() and np.isnan(t["keypoints"][[3, 4, 29]]).all()
    np.testing.assert_allclose(t["keypoints"][5], np.arange(12) + 5)
    rows = list(tables.iter_rows(p, tables.BOXES, ["x", "keypoints"]))
    assert len(rows) == 30 and rows[6]["x"] == 6
    # plain pyarrow reads it too (no nullable fixed-size lists)
    assert pq.read_table(p).num_rows == 30


def test_atomic_on_error(tmp_path):
    p = tmp_path / "v.parquet"
    with pytest.raises(RuntimeError), tables.table_writer(p, tables.BOXES) as w:
        w.add(frame=0, x=1, y=1, w=1, h=1, score=1, n_faces=1, keypoints=None)
        raise RuntimeError("killed")
    assert not p.exists() and list(tmp_path.iterdir()) == []


def test_check_table_names_the_problem(tmp_path):
    p = tmp_path / "v.parquet"
    write_boxes(p, 5)
    tables.check_table(p, tables.BOXES, 5)
    with pytest.raises(tables.TableError, match="5 rows, expected one per frame \\(6\\)"):
        tables.check_table(p, tables.BOXES, 6)
    with pytest.raises(tables.TableError, match="column 'landmarks' missing"):
        tables.check_table(p, tables.LANDMARKS)
    with pytest.raises(tables.TableError, match="no such table"):
        tables.check_table(tmp_path / "nope.parquet", tables.BOXES)
