"""Resume state committed at once: versioned folders behind one atomic pointer.

A stage that can be resumed (``train_cnn``, ``train_rnn``, ``features``) keeps everything a
resumed run reads in one checkpoint folder, outside the stage's outputs::

    <checkpoint_dir>/
        LATEST            {"version": "epoch-0003", "run_id": ...}: the committed state
        epoch-0003/       that state, complete (weights, optimiser, RNG, data order, curves, ...)
        .epoch-0004.tmp/  a version being written (removed when a run starts)

A commit (:meth:`Store.commit`) writes the next version into a temporary folder, renames
it, then replaces ``LATEST`` (``os.replace``) and only then removes the older version. A kill
between any two of these operations leaves ``LATEST`` naming one complete version, never
parts of two: on start (:meth:`Store.open`) the version ``LATEST`` names is kept and every
other entry (newer, half-written or stale) is removed. A ``LATEST`` written for another run
(params, records, code: ``run_id``) is never resumed.

**Fault injection.** Every checkpoint operation first calls :func:`fault_point`. With the
environment variable ``AFFWILD_FAULT_KILL_AT=N`` (or ``STAGE:N``, counted only in that
stage's process, e.g. ``train_rnn:5``) the ``N``-th operation of the process (not counting the
removals at a run's start, whose number depends on what an earlier run left) writes a marker
to ``AFFWILD_FAULT_MARKER`` (which stage, which operation, its number) and kills its own
process with SIGKILL, as a power cut would stop it: the tests drive real ``dvc repro`` runs
through every gap of a commit this way. ``AFFWILD_FAULT_TRACE=path`` appends every
operation (stage, number, name) to ``path``: the list of points there are to kill at.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path

KILL_AT_ENV = "AFFWILD_FAULT_KILL_AT"
MARKER_ENV = "AFFWILD_FAULT_MARKER"
TRACE_ENV = "AFFWILD_FAULT_TRACE"
POINTER = "LATEST"


def fingerprint(*parts) -> str:
    """A short hash of everything that defines a run (params, inputs, code): its ``run_id``."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def code_digest(root: Path | None = None) -> str:
    """A hash of the project's Python code (the ``pipeline`` and ``stages`` packages under
    ``root``, by default this checkout): a checkpoint left by other code is not resumed."""
    root = Path(root) if root else Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for f in sorted([*(root / "pipeline").rglob("*.py"), *(root / "stages").rglob("*.py")]):
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def stage_name() -> str:
    """The running stage, from the ``__main__`` module (``stages.train_cnn`` -> ``train_cnn``)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = spec.name if spec is not None else Path(sys.argv[0] or "python").stem
    return name.rsplit(".", 1)[-1]


class _Faults:
    """Counts this process's checkpoint operations; kills it at the configured one."""

    def __init__(self):
        self.count = 0

    def point(self, name: str) -> None:
        numbered = not name.startswith("open:")  # the commit and finish operations
        self.count += numbered
        trace = os.environ.get(TRACE_ENV)
        if trace:
            with open(trace, "a") as f:
                f.write(f"{stage_name()}\t{self.count if numbered else '-'}\t{name}\n")
        spec = os.environ.get(KILL_AT_ENV, "")
        if not spec or not numbered:
            return
        stage, _, at = spec.rpartition(":")
        if stage and stage != stage_name():
            return
        if self.count != int(at):
            return
        marker = os.environ.get(MARKER_ENV)
        if marker:
            info = {"stage": stage_name(), "op": name, "n": self.count, "pid": os.getpid()}
            with open(marker, "w") as f:
                f.write(json.dumps(info) + "\n")
                f.flush()
                os.fsync(f.fileno())
        os.kill(os.getpid(), signal.SIGKILL)


_FAULTS = _Faults()


def fault_point(name: str) -> None:
    """Called before every checkpoint operation (a no-op unless ``AFFWILD_FAULT_KILL_AT``)."""
    _FAULTS.point(name)


def fsync_path(path: Path) -> None:
    """Flush a file, or a folder's entries, to the disk (a power cut keeps what was committed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    for p in sorted(Path(folder).rglob("*"), reverse=True):
        fsync_path(p)
    fsync_path(folder)


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


class Store:
    """The checkpoint folder ``root`` of one run (``run_id``): see the module docstring."""

    def __init__(self, root: Path, run_id: str):
        self.root, self.run_id = Path(root), run_id

    def latest(self) -> Path | None:
        """The committed version of this run, or None."""
        pointer = self.root / POINTER
        try:
            info = json.loads(pointer.read_text())
        except (FileNotFoundError, ValueError):
            return None
        folder = self.root / str(info.get("version", ""))
        if info.get("run_id") != self.run_id or not info.get("version") or not folder.is_dir():
            return None
        return folder

    def open(self, keep: tuple[str, ...] = ()) -> Path | None:
        """Start a run: keep the committed version (returned) and remove everything else
        (versions of other runs, newer or half-written ones); None when there is none.
        ``keep``: names of entries that belong with the committed version (kept with it)."""
        latest = self.latest()
        if self.root.is_dir():
            for entry in sorted(self.root.iterdir()):
                if latest is not None and entry.name in (latest.name, POINTER, *keep):
                    continue
                fault_point("open:remove-stale")
                _remove(entry)
        self.root.mkdir(parents=True, exist_ok=True)
        return latest

    def commit(self, version: str, write: Callable[[Path], None]) -> Path:
        """Write ``version`` (``write(folder)`` fills the folder) and make it the committed
        one; the previous version is removed last."""
        previous = self.latest()
        tmp = self.root / f".{version}.tmp"
        _remove(tmp)
        tmp.mkdir(parents=True)
        write(tmp)
        fault_point("commit:seal")
        fsync_tree(tmp)
        final = self.root / version
        _remove(final)
        tmp.rename(final)
        fault_point("commit:pointer-write")
        pointer_tmp = self.root / f".{POINTER}.tmp"
        with open(pointer_tmp, "w") as f:
            f.write(json.dumps({"version": version, "run_id": self.run_id}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        fault_point("commit:pointer-replace")
        os.replace(pointer_tmp, self.root / POINTER)
        fsync_path(self.root)
        if previous is not None and previous.name != version:
            fault_point("commit:prune")
            _remove(previous)
        return final


def remove(root: Path) -> None:
    """Remove a whole checkpoint folder (once the stage's outputs are written): the pointer
    first, so that a kill half-way leaves nothing that looks committed."""
    root = Path(root)
    fault_point("finish:pointer")
    (root / POINTER).unlink(missing_ok=True)
    fault_point("finish:remove")
    _remove(root)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
