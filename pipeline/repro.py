"""Per-file hashes of the data stages' outputs, and a stage-by-stage comparison with the
committed ones (docs/reproducibility.md).

``reproducibility/manifest.json`` holds the md5 (DVC's file hash) of every file the data
stages (``demo`` → ``shard``, in DAG order) write, keyed by stage and path::

    python -m pipeline.repro compare     # this checkout's outputs vs the committed manifest
    python -m pipeline.repro write       # record them (after regenerating dvc.lock)

``compare`` names, for the first stage that differs, the first file (sorted by path) whose
bytes differ, is missing or is new: where two machines part.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import yaml

from pipeline.io import write_json

MANIFEST = Path("reproducibility") / "manifest.json"
# The stages whose outputs are byte-identical on every x86-64 machine with the locked
# environment (the training stages are not: docs/reproducibility.md).
DATA_STAGES = ("demo", "ingest", "detect", "landmarks", "crop", "shard")


def md5_file(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def stage_outputs(root: Path, stage: str) -> list[str]:
    """The ``outs`` of ``stage`` in ``root/dvc.yaml`` (paths relative to ``root``)."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    if stage not in stages:
        raise KeyError(f"{root / 'dvc.yaml'}: no stage {stage!r}")
    return [o if isinstance(o, str) else next(iter(o)) for o in stages[stage].get("outs", [])]


def hash_outputs(root: Path, outs: list[str]) -> dict[str, str]:
    """Path (relative to ``root``, ``/``-separated) -> md5 of every file under ``outs``."""
    files: dict[str, str] = {}
    for out in outs:
        p = root / out
        paths = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
        for q in paths:
            if q.is_file():
                files[q.relative_to(root).as_posix()] = md5_file(q)
    return files


def manifest(root: Path, stages: tuple[str, ...] = DATA_STAGES) -> dict[str, dict[str, str]]:
    return {s: hash_outputs(root, stage_outputs(root, s)) for s in stages}


def first_difference(expected: dict[str, str], actual: dict[str, str]) -> str | None:
    """The first path (sorted) that differs, is missing or is new, and how; None if equal."""
    for path in sorted(set(expected) | set(actual)):
        if path not in actual:
            return f"{path}: missing"
        if path not in expected:
            return f"{path}: not in the committed manifest"
        if expected[path] != actual[path]:
            return f"{path}: md5 {actual[path]}, committed {expected[path]}"
    return None


def compare(root: Path, committed: dict[str, dict[str, str]]) -> list[tuple[str, str | None]]:
    """(stage, first difference or None) for every stage of ``committed``, in DAG order."""
    return [
        (stage, first_difference(files, hash_outputs(root, stage_outputs(root, stage))))
        for stage, files in committed.items()
    ]


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    ap = argparse.ArgumentParser(
        prog="python -m pipeline.repro", description=__doc__.split("\n")[0]
    )
    ap.add_argument("command", choices=("compare", "write"))
    ap.add_argument("--root", default=".", help="repository root (default: .)")
    ap.add_argument("--manifest", default=None, help=f"default: ROOT/{MANIFEST}")
    args = ap.parse_args(argv)
    root = Path(args.root)
    path = Path(args.manifest) if args.manifest else root / MANIFEST
    if args.command == "write":
        write_json({"stages": manifest(root)}, path)
        n = sum(len(v) for v in json.loads(path.read_text())["stages"].values())
        print(f"{path}: {n} files of stages {', '.join(DATA_STAGES)}")
        return 0
    if not path.is_file():
        print(f"{path}: no such manifest", file=sys.stderr)
        return 2
    committed = json.loads(path.read_text())["stages"]
    first = None
    for stage, diff in compare(root, committed):
        print(f"{stage:10s} {'same bytes' if diff is None else 'DIFFERS: ' + diff}")
        first = first or (diff and stage)
    if first:
        print(f"first stage that differs: {first} (docs/reproducibility.md)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
