"""Small IO helpers shared by the stages: atomic outputs, Parquet, CSV and JSON writing.

Every stage output goes through :func:`atomic_path` / :func:`atomic_dir`: the data is written
to a temporary sibling and renamed into place only when it is complete, so a killed stage never
leaves a file that looks finished. The temporary sibling is named ``.<name>.<pid>.<random>.tmp``;
a stage killed with ``kill -9`` leaves it behind, so each new write first sweeps the stale ones
of the same output (:func:`sweep_stale`: those whose process is gone).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

STALE_UNOWNED_S = 3600  # a temporary without a readable pid counts as stale after this long


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def sweep_stale(path: str | os.PathLike) -> list[Path]:
    """Remove ``.<name>.*.tmp`` siblings of ``path`` left by a killed writer; return them.

    A temporary is stale when the process id in its name is not running (or, for one without
    a pid, when it is older than :data:`STALE_UNOWNED_S`); a live writer's is never touched.
    """
    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    for tmp in path.parent.glob(f".{glob_escape(path.name)}.*.tmp"):
        middle = tmp.name[len(path.name) + 2 : -len(".tmp")]
        pid_text = middle.split(".", 1)[0]
        try:
            stale = not _alive(int(pid_text))
        except ValueError:
            try:
                stale = time.time() - tmp.lstat().st_mtime > STALE_UNOWNED_S
            except FileNotFoundError:
                continue
        if not stale:
            continue
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, sweep: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` on success, delete on error.

    ``sweep=False`` skips :func:`sweep_stale` (files written by the thousand into a folder that
    is itself fresh from :func:`atomic_dir`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if sweep:
        sweep_stale(path)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory next to ``path``; it replaces ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(path)
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    )
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_parquet(table: pa.Table, path: str | os.PathLike) -> None:
    """Write ``table`` to ``path`` atomically (zstd-compressed Parquet)."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


TIMINGS_DIR = "timings"


def write_timings(
    stage: str, timings: dict[str, Any], folder: str | os.PathLike = TIMINGS_DIR
) -> Path:
    """Write a stage's timings (seconds, frames/s) to ``<folder>/<stage>.json``.

    Timings stay out of every DVC-tracked output, whose hashes must depend on the data only
    (re-running a stage would otherwise change ``dvc.lock`` and re-run everything after it).
    ``timings/`` is in no stage's outputs or dependencies and is not in git."""
    path = Path(folder) / f"{stage}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(timings, path)
    return path


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


class RowWriter:
    """Streams rows of one Arrow ``schema`` to a ``.parquet`` or ``.csv`` file, in batches:
    the one table writer (the face stages' tables, ``predict``'s and the live tool's rows).

    Use as a context manager and call :meth:`add` with one row's values by column name. A
    fixed-size float list column takes an array or None (a row of NaN: see
    ``pipeline.face.tables``); a float column takes NaN / None for "missing".

    ``atomic`` (default): rows go to a temporary sibling that becomes ``path`` only when the
    block exits without an error (``sweep``: see :func:`atomic_path`). Otherwise (a live log)
    rows go to ``path`` itself, each batch written through as it is made, so another program
    can tail the file; use ``rows_per_batch=1`` for a row at a time.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        schema: pa.Schema,
        rows_per_batch: int = 2048,
        atomic: bool = True,
        sweep: bool = True,
    ):
        self.path = Path(path)
        self.kind = self.path.suffix.lower()
        if self.kind not in (".csv", ".parquet"):
            raise ValueError(f"{self.path}: a table file must end in .csv or .parquet")
        self.schema = schema
        self.rows_per_batch = max(1, int(rows_per_batch))
        self.atomic, self.sweep = atomic, sweep
        self.n_rows = 0
        self._buf: dict[str, list] = {name: [] for name in schema.names}
        self._n_buf = 0
        self._stack: contextlib.ExitStack | None = None
        self._writer = None

    def open(self) -> RowWriter:
        """Start the file (what entering the ``with`` block does); end it with :meth:`close`."""
        import pyarrow.csv as pcsv

        with contextlib.ExitStack() as stack:
            if self.atomic:
                target = stack.enter_context(atomic_path(self.path, sweep=self.sweep))
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                target = self.path
            sink = stack.enter_context(pa.OSFile(str(target), "wb"))  # unbuffered writes
            if self.kind == ".csv":
                options = pcsv.WriteOptions(quoting_header="none")
                self._writer = pcsv.CSVWriter(sink, self.schema, write_options=options)
            else:
                self._writer = pq.ParquetWriter(sink, self.schema, compression="zstd")
            self._stack = stack.pop_all()
        return self

    __enter__ = open

    def close(self) -> None:
        """Finish the file: what leaving the ``with`` block without an error does."""
        self.__exit__(None, None, None)

    def add(self, **row) -> None:
        for name in self.schema.names:
            self._buf[name].append(row[name])
        self.n_rows += 1
        self._n_buf += 1
        if self._n_buf >= self.rows_per_batch:
            self._flush()

    def _flush(self) -> None:
        if not self._n_buf:
            return
        arrays = [arrow_column(self._buf[f.name], f.type) for f in self.schema]
        self._writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        self._buf = {name: [] for name in self.schema.names}
        self._n_buf = 0

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            try:
                if exc_type is None:
                    self._flush()
            finally:
                self._writer.close()
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise
        self._stack.__exit__(exc_type, exc, tb)
        return False


def arrow_column(values: list, type_: pa.DataType) -> pa.Array:
    """One column's values (as :meth:`RowWriter.add` takes them) as an Arrow array of ``type_``."""
    if pa.types.is_fixed_size_list(type_) and pa.types.is_floating(type_.value_type):
        size = type_.list_size
        dtype = _float_dtype(type_.value_type)
        rows = [np.full(size, np.nan, dtype) if v is None else v for v in values]
        flat = np.asarray(np.stack(rows), dtype).reshape(-1)
        return pa.FixedSizeListArray.from_arrays(pa.array(flat, type_.value_type), size)
    if pa.types.is_floating(type_):
        return pa.array(np.asarray(values, _float_dtype(type_)), type_)
    return pa.array(values, type_)


def _float_dtype(type_: pa.DataType) -> np.dtype:
    return np.dtype(f"float{type_.bit_width}")
