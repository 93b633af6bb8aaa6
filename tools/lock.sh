#!/usr/bin/env bash
# Refresh the hash-pinned lock files in requirements/ from pyproject.toml's ranges, for
# CPython 3.11 on x86-64 Linux (manylinux_2_28). Needs uv (`pip install uv`).
#
#   tools/lock.sh                    re-resolve after a pyproject.toml change, keeping every
#                                    pin that still fits
#   tools/lock.sh --upgrade          move every package to its newest version in range
#   tools/lock.sh -P numpy           move one package
#
# tests/test_lock.py fails when pyproject.toml and the locks disagree.
set -euo pipefail
cd "$(dirname "$0")/.."
uv=${UV:-uv}
compile() {
  "$uv" pip compile pyproject.toml --generate-hashes --python-version 3.11 \
    --python-platform x86_64-manylinux_2_28 --quiet "$@"
}

compile "$@" -o requirements/lock.txt              # run: pip install -e .
compile "$@" --extra test -o requirements/lock-test.txt  # tests and CI
compile "$@" --extra gpu -o requirements/lock-gpu.txt    # run on CUDA GPUs
# the installer itself, pinned as in lock-test.txt (pip installs it first: README)
grep -o '^uv==[^ ]*' requirements/lock-test.txt | "$uv" pip compile - --generate-hashes \
  --python-version 3.11 --python-platform x86_64-manylinux_2_28 --quiet -o requirements/uv.txt
