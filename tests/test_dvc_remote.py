"""A real DVC remote round trip: the demo pipeline (tiny params) in a copy of the repository,
`dvc push` to an S3 remote (moto's server on 127.0.0.1), a fresh `git clone`, `dvc pull`.
Every output is carried by the remote or by git: the clone is clean for `dvc status` and
`git status`, `dvc repro` runs nothing, the pulled outputs are the same bytes; an SVR change
then runs exactly the SVR and the evaluation (every stage before them comes from the remote;
that a face-stage knob reruns exactly its stage and those after it is
``tests/face/test_parallel_knobs.py``'s). The whole tiny run is the session's shared one
(``tiny_run``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.helpers.repo import TINY, RepoCopy
from tests.helpers.s3 import CREDENTIALS, create_bucket, s3_server

BUCKET = "affwild-test"
AFTER_SVR = {"train_svr", "evaluate"}


def digests(root: Path, folders=("data", "models")) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``folders`` (the DVC-cached outputs)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in folders
        for p in sorted((root / folder).rglob("*"))
        if p.is_file()
    }


def fresh_clone(origin: RepoCopy, dest: Path) -> RepoCopy:
    origin.run("git", "clone", "-q", str(origin.root), str(dest))
    clone = RepoCopy(dest)
    clone.run("git", "config", "user.email", "tests@example.invalid")
    clone.run("git", "config", "user.name", "tests")
    return clone


@pytest.mark.slow
def test_push_fresh_clone_pull_nothing_to_rerun(tiny_copy, tmp_path, monkeypatch):
    repo_copy = tiny_copy  # after a whole `dvc repro` with tiny params, committed
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):  # no user's AWS setup
        monkeypatch.setenv(key, str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")

    with s3_server(tmp_path / "moto.log") as endpoint:
        create_bucket(endpoint, BUCKET)
        repo_copy.dvc("remote", "add", "-d", "store", f"s3://{BUCKET}/affwild")
        repo_copy.dvc("remote", "modify", "store", "endpointurl", endpoint)
        repo_copy.commit("the run's dvc.lock, metrics, plots and reports; the remote")
        assert "testing" not in (repo_copy.root / ".dvc" / "config").read_text()
        # dvc.yaml: the DAG this test ran (seeds/dvc.lock names seed runs it did not make)
        repo_copy.dvc("push", "dvc.yaml")
        clone = fresh_clone(repo_copy, tmp_path / "clone")
        clone.dvc("pull", "dvc.yaml")

    assert clone.stale("dvc.yaml") == set()  # nothing deleted, nothing changed
    assert clone.run("git", "status", "--porcelain").stdout == ""
    assert clone.repro() == set()
    assert digests(clone.root) == digests(repo_copy.root)

    pca = TINY["svr"]["pca"] // 2
    before = clone.output_stamps()
    clone.dvc("exp", "run", "-S", f"svr.pca={pca}")
    after = clone.output_stamps()
    assert {name for name, stamp in after.items() if stamp != before[name]} == AFTER_SVR
