"""Killed anywhere, nothing lost: real ``dvc repro`` runs of ``train_cnn``, ``features`` and
``train_rnn`` killed (SIGKILL, by the stage process itself through the checkpoint code's
fault hook) before each operation of a commit, and run again after each kill: every run
after a kill resumed from the last committed epoch / batch (not from scratch), and the run
that ends the stage gives the same bytes as an uninterrupted run, with DVCLive curves whose
steps run 0..N-1.

The kills of one stage are one chain: the run after a kill is itself killed at the next
point (so each kill's leftovers are read by a resumed run, and a kill's damage would carry
into the end), and the last run finishes the stage. The upstream stages come from the
session's tiny run (``demo`` .. ``shard``, tiny params); each chain starts from a copy of the
repository as it was before the stage it kills.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from pipeline.training.checkpoints import KILL_AT_ENV, MARKER_ENV, TRACE_ENV
from tests.helpers.repo import TINY, RepoCopy
from tests.helpers.shared import build_once

pytestmark = pytest.mark.slow

EPOCHS = 2  # the second epoch's commit is killed at each of its operations
PARAMS = {
    **TINY,
    "train_cnn": {**TINY["train_cnn"], "epochs": EPOCHS, "patience": 0},
    "train_rnn": {**TINY["train_rnn"], "epochs": EPOCHS, "patience": 0, "freeze_cnn": True,
                  "augment": False},
}  # fmt: skip
OUTPUTS = {
    "train_cnn": ["models/cnn", "dvclive/train_cnn"],
    "features": ["data/features"],
    "train_rnn": ["models/cnn_rnn", "dvclive/train_rnn"],
}
# Every operation of the last commit (each one a gap before it), then what follows it.
LAST_COMMIT_THEN = {
    "train_cnn": ("outputs:model", "finish:pointer"),
    "features": (),
    "train_rnn": (),
}


def _copy(src: Path, dst: Path) -> RepoCopy:
    shutil.copytree(src, dst, symlinks=True)
    return RepoCopy(dst)


def _files(root: Path, stage: str) -> dict[str, bytes]:
    out = {}
    for rel in OUTPUTS[stage]:
        for f in sorted((root / rel).rglob("*")):
            if f.is_file():
                out[str(f.relative_to(root))] = f.read_bytes()
    return out


def _prepare(tiny_run: Path, folder: Path) -> None:
    """``before-<stage>``: the repository before each training stage; ``repo``: after the
    uninterrupted runs; ``trace.tsv``: every checkpoint operation they made, in order."""
    repo = _copy(tiny_run / "repo", folder / "repo")  # demo .. shard made with TINY's params
    repo.set_params(**PARAMS)
    repo.commit("tiny params, two epochs, the CNN frozen: train_rnn on cached features")
    for stage in OUTPUTS:
        shutil.copytree(repo.root, folder / f"before-{stage}", symlinks=True)
        res = repo.dvc("repro", "-s", stage, env={TRACE_ENV: str(folder / "trace.tsv")})
        assert "resumed" not in res.stdout


@pytest.fixture(scope="module")
def prepared(tiny_run, tmp_path_factory):
    """Repository copies before each training stage ("train_cnn", "features", "train_rnn"),
    the uninterrupted run's outputs and every stage's checkpoint operations, in order (built
    once per test run, whichever worker asks first)."""
    folder = build_once(tmp_path_factory, "kill-anywhere", lambda f: _prepare(tiny_run, f))
    before = {stage: folder / f"before-{stage}" for stage in OUTPUTS}
    ref = {stage: _files(folder / "repo", stage) for stage in OUTPUTS}
    ops: dict[str, list[str]] = {}
    for line in (folder / "trace.tsv").read_text().splitlines():
        stage, n, op = line.split("\t")
        if n == "-":  # removals at a run's start: not numbered (none in a fresh run)
            continue
        ops.setdefault(stage, []).append(op)
    return before, ref, ops


def kill_points(ops: dict[str, list[str]]) -> list[tuple[str, int]]:
    """(stage, n): every operation of each stage's last commit, and those after it."""
    points = []
    for stage, names in ops.items():
        pointers = [i for i, op in enumerate(names) if op == "commit:pointer-replace"]
        start = _commit_end(names, pointers[-2]) + 1 if len(pointers) > 1 else 0
        after = [i for i, op in enumerate(names) if op in LAST_COMMIT_THEN[stage]]
        last = range(start, _commit_end(names, pointers[-1]) + 1)
        points += [(stage, i + 1) for i in [*last, *after]]
    return points


def _commit_end(names: list[str], pointer: int) -> int:
    """A commit ends with its pointer, or with the prune right after it."""
    nxt = pointer + 1
    return nxt if nxt < len(names) and names[nxt] == "commit:prune" else pointer


# One class per stage: pytest-xdist (--dist loadscope) gives each class to a worker of its own.
class TestTrainCnn:
    def test_killed_at_every_commit_operation_resumes_to_the_same_bytes(self, prepared, tmp_path):
        killed_everywhere(prepared, tmp_path, "train_cnn")


class TestFeatures:
    def test_killed_at_every_commit_operation_resumes_to_the_same_bytes(self, prepared, tmp_path):
        killed_everywhere(prepared, tmp_path, "features")


class TestTrainRnn:
    def test_killed_at_every_commit_operation_resumes_to_the_same_bytes(self, prepared, tmp_path):
        killed_everywhere(prepared, tmp_path, "train_rnn")


def killed_everywhere(prepared, tmp_path: Path, stage: str) -> None:
    """Killed at each of ``stage``'s kill points in turn, in one chain of ``dvc repro`` runs
    (each run after the first resumes what the kill before it left, and is itself killed at
    the next point), then run to the end: the uninterrupted run's bytes and curves."""
    before, ref, ops = prepared
    every = kill_points(ops)
    assert len(every) >= 20 and {s for s, _ in every} == set(OUTPUTS)
    points = [n for s, n in every if s == stage]
    killed = [ops[stage][n - 1] for n in points]  # every operation of the last commit
    assert {"commit:seal", "commit:pointer-write", "commit:pointer-replace",
            "commit:prune"} <= set(killed), (stage, killed)  # fmt: skip
    repo = _copy(before[stage], tmp_path / "repo")
    names = ops[stage]
    left = (0, 0)  # (operations the next run skips, commits it resumes from): a fresh start
    for i, n in enumerate(points):
        marker = tmp_path / f"{i}.marker.json"
        at = n - left[0]  # the operation's number in a run that starts where the last one left
        env = {KILL_AT_ENV: f"{stage}:{at}", MARKER_ENV: str(marker)}
        run = repo.dvc("repro", "-s", stage, env=env, check=False)
        where = f"{stage} killed at #{n} ({names[n - 1]})"
        if run.returncode == 0 or not marker.exists():
            pytest.fail(f"{where}: not killed (rc {run.returncode})\n{run.stdout}")
        died = json.loads(marker.read_text())
        assert (died["stage"], died["n"], died["op"]) == (stage, at, names[n - 1]), where
        why = _resumed_why(run.stdout, stage, left[1])
        assert why is None, f"run {i + 1} of the chain, {where}: {why}"
        print(f"{where}: ok", flush=True)
        left = _left_by_a_kill_before(names, n)
    res = repo.dvc("repro", "-s", stage, check=False)
    assert res.returncode == 0, f"the last run failed:\n{res.stdout}\n{res.stderr[-2000:]}"
    why = _resumed_why(res.stdout, stage, left[1]) or _outputs_why(repo.root, stage, ref[stage])
    assert why is None, f"{stage}, after {len(points)} kills: {why}"


def _left_by_a_kill_before(names: list[str], n: int) -> tuple[int, int]:
    """(operations a run resumed after a kill before operation ``n`` does not make again,
    commits it resumes from); (0, 0) where it starts afresh."""
    done = names[: n - 1]
    if "finish:pointer" in done:  # the pointer is gone: nothing to resume, the stage reruns
        return 0, 0
    pointers = [i for i, op in enumerate(done) if op == "commit:pointer-replace"]
    if not pointers:
        return 0, 0
    # a resumed run removes an unpruned older version at its start (not numbered)
    return _commit_end(names, pointers[-1]) + 1, len(pointers)


def _resumed_why(stdout: str, stage: str, commits: int) -> str | None:
    """Why a run's output is not that of a run resumed from ``commits`` commits (0: fresh)."""
    resumed = re.findall(r"resumed from \S+ \((.*?) done\)", stdout)
    if len(resumed) != (1 if commits else 0):
        return f"resumed {len(resumed)} times ({commits} commits before the kill):\n{stdout}"
    if stage != "features" and commits:
        if resumed[0] != f"{min(commits, EPOCHS)} of {EPOCHS} epochs":
            return f"resumed from the wrong epoch: {resumed[0]}"
        if "Epoch 1/" in stdout:
            return "trained the first epoch again"
    return None


def _outputs_why(root: Path, stage: str, expected: dict[str, bytes]) -> str | None:
    """Why a finished stage's outputs are not the uninterrupted run's."""
    got = _files(root, stage)
    if got.keys() != expected.keys():
        return f"other files: {sorted(got.keys() ^ expected.keys())}"
    differ = [name for name in expected if got[name] != expected[name]]
    if differ:
        return f"other bytes: {differ}"
    for tsv in sorted(root.glob(f"dvclive/{stage}/plots/metrics/*.tsv")):
        steps = [int(r.split("\t")[0]) for r in tsv.read_text().splitlines()[1:]]
        if steps != list(range(EPOCHS)):
            return f"{tsv.name}: steps {steps}"
    if (root / "checkpoints" / stage).exists():
        return "the checkpoint was left behind"
    return None
