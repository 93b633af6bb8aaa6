"""Schemas of the per-video face tables, and streaming writers / readers for them.

One definition each, used by the stage that writes a table and by every stage that reads it.
Every table has exactly one row per source frame (the manifest's ``n_frames``), in order.

* ``boxes/<video_id>.parquet`` (:data:`BOXES`) — the followed subject's face box in source
  pixels (NaN where the subject is not seen), the detector's score, how many faces the frame
  had (-1 where the frame did not decode), and the detector's 6 key points (right eye, left
  eye, nose tip, mouth centre, right ear tragion, left ear tragion; x, y in source pixels).
* ``landmarks/<video_id>.parquet`` (:data:`LANDMARKS`) — 68 iBUG 300-W points as 136 values
  x0, y0, x1, y1, ... in source pixels, a score and a status.
* ``crops/<video_id>.parquet`` (:data:`CROPS`) — a JPEG square crop, the landmarks normalised
  to it ([0, 1]), and whether the frame has a face crop at all (image null where not).

Where a frame has no box / landmarks, the fixed-size lists hold NaN (not null: pyarrow (25 and
earlier) writes a null fixed-size list to Parquet but cannot read it back, "Expected all lists
to be of size=136 but index i had size=0") and the float columns NaN. Readers here turn them into NaN rows of numpy
arrays either way.

Writers stream row groups to a temporary file that is renamed into place when the video is
complete (``pipeline.io.atomic_path``); readers stream row groups too, so memory stays flat
however long the video is.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.contracts import points68
from pipeline.errors import InputError
from pipeline.io import RowWriter, arrow_column

N_KEYPOINT_VALUES = 12

# "rejected": the detector's box was never confirmed as a face by the mesh (presence score) in
# its episode — a texture or lettering; no landmarks, and the crop stage does not use the box.
STATUSES = ("detected", "tracked", "interpolated", "missing", "rejected")

BOXES = pa.schema(
    [
        ("frame", pa.int32()),
        ("x", pa.float32()),
        ("y", pa.float32()),
        ("w", pa.float32()),
        ("h", pa.float32()),
        ("score", pa.float32()),
        ("n_faces", pa.int16()),
        ("keypoints", pa.list_(pa.float32(), N_KEYPOINT_VALUES)),
    ]
)

LANDMARKS = pa.schema(
    [
        ("frame", pa.int32()),
        ("landmarks", pa.list_(pa.float32(), points68.N_VALUES)),
        ("score", pa.float32()),
        ("status", pa.string()),
    ]
)

CROPS = pa.schema(
    [
        ("frame", pa.int32()),
        ("image", pa.binary()),
        ("landmarks", pa.list_(pa.float32(), points68.N_VALUES)),
        ("valid", pa.bool_()),
    ]
)


class TableError(InputError):
    """A face table that does not match its schema or its video; the message names the file."""


def fixed_list_to_numpy(arr: pa.Array, size: int) -> np.ndarray:
    """FixedSizeList array -> (n, size) float32 array, NaN rows where the list is null."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n = len(arr)
    start = arr.offset * size
    out = np.asarray(arr.values.to_numpy(zero_copy_only=False)[start : start + n * size])
    out = out.astype(np.float32, copy=True).reshape(n, size)
    if arr.null_count:
        out[np.asarray(arr.is_null().to_numpy(zero_copy_only=False))] = np.nan
    return out


def table_writer(
    path: str | os.PathLike, schema: pa.Schema, rows_per_group: int = 2048
) -> RowWriter:
    """A face table's streaming writer (:class:`pipeline.io.RowWriter`, atomic; the stage's
    output folder is fresh, so no sweep for stale temporaries). Use as a context manager and
    :meth:`~pipeline.io.RowWriter.add` one frame's values (NaN / None for missing)."""
    return RowWriter(path, schema, rows_per_batch=rows_per_group, sweep=False)


def written_schema(path: str | os.PathLike) -> pa.Schema:
    """The schema a table was written with (:class:`TableError` where it is not a table)."""
    try:
        return pq.read_schema(path)
    except FileNotFoundError:
        raise TableError(
            f"{path}: no such table (did the previous stage run on this video?)"
        ) from None
    except Exception as exc:
        raise TableError(f"{path}: not a readable Parquet file ({exc})") from None


def check_table(path: str | os.PathLike, schema: pa.Schema, n_frames: int | None = None) -> None:
    """Raise :class:`TableError` unless ``path`` has ``schema``'s columns and ``n_frames`` rows."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: no such table (did the previous stage run on this video?)")
    try:
        meta = pq.ParquetFile(path)
    except Exception as exc:
        raise TableError(f"{path}: not a readable Parquet file ({exc})") from None
    have = meta.schema_arrow
    for field in schema:
        if field.name not in have.names:
            raise TableError(f"{path}: column {field.name!r} missing (expected {schema.names})")
        if not have.field(field.name).type.equals(field.type):
            raise TableError(
                f"{path}: column {field.name!r} is {have.field(field.name).type}, "
                f"expected {field.type}"
            )
    if n_frames is not None and meta.metadata.num_rows != n_frames:
        raise TableError(
            f"{path}: {meta.metadata.num_rows} rows, expected one per frame ({n_frames})"
        )


def iter_table(
    path: str | os.PathLike,
    schema: pa.Schema,
    columns: list[str] | None = None,
    batch_size: int = 1024,
) -> Iterator[dict[str, np.ndarray | list]]:
    """Stream a face table as batches: dict column -> numpy array (lists as (n, k) arrays).

    Binary columns come back as Python lists (None where null).
    """
    check_table(path, schema)
    columns = columns or schema.names
    pf = pq.ParquetFile(path)
    for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
        yield _to_numpy(batch, columns)


def _to_numpy(batch: pa.RecordBatch | pa.Table, columns: list[str]) -> dict:
    out: dict[str, np.ndarray | list] = {}
    for name in columns:
        col = batch.column(name)
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        if pa.types.is_fixed_size_list(col.type):
            out[name] = fixed_list_to_numpy(col, col.type.list_size)
        elif pa.types.is_binary(col.type) or pa.types.is_string(col.type):
            out[name] = col.to_pylist()
        elif pa.types.is_floating(col.type):
            out[name] = col.to_numpy(zero_copy_only=False).astype(np.float32)
        else:
            out[name] = col.to_numpy(zero_copy_only=False)
    return out


def iter_rows(
    path: str | os.PathLike, schema: pa.Schema, columns: list[str] | None = None
) -> Iterator[dict]:
    """Stream a face table row by row (each a dict column -> value), flat in memory."""
    for batch in iter_table(path, schema, columns):
        names = list(batch)
        n = len(batch[names[0]])
        for i in range(n):
            yield {name: batch[name][i] for name in names}


def read_table(path: str | os.PathLike, schema: pa.Schema) -> dict[str, np.ndarray | list]:
    """A whole (small) face table in memory, as one batch dict — for tests and tools."""
    check_table(path, schema)
    return _to_numpy(pq.read_table(path, columns=schema.names), schema.names)


def as_read(row: dict, schema: pa.Schema) -> dict:
    """One row (values as :meth:`~pipeline.io.RowWriter.add` takes them) as :func:`iter_rows`
    gives it back after writing and reading the table: through the same Arrow types, so a
    step reading it from memory sees exactly what it would read from the file."""
    arrays = [arrow_column([row[f.name]], f.type) for f in schema]
    batch = _to_numpy(pa.RecordBatch.from_arrays(arrays, schema=schema), schema.names)
    return {name: values[0] for name, values in batch.items()}
