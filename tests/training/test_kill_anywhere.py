"""Killed anywhere, nothing lost: real ``dvc repro`` runs of ``train_cnn``, ``features`` and
``train_rnn`` killed (SIGKILL, by the stage process itself through the checkpoint code's
fault hook) before each operation of a commit, then run again: each time the outputs are
the same bytes as an uninterrupted run's, the second run resumed from the last committed
epoch / batch (not from scratch), and the DVCLive curves' steps run 0..N-1.

The upstream stages come from the session's tiny run (``demo`` .. ``shard``, tiny params);
each kill point starts from a copy of the repository as it was before the stage it kills.
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
    """Killed at each of ``stage``'s kill points in turn, then run again: no failure."""
    before, ref, ops = prepared
    every = kill_points(ops)
    assert len(every) >= 20 and {s for s, _ in every} == set(OUTPUTS)
    points = [n for s, n in every if s == stage]
    killed = [ops[stage][n - 1] for n in points]  # every operation of the last commit
    assert {"commit:seal", "commit:pointer-write", "commit:pointer-replace",
            "commit:prune"} <= set(killed), (stage, killed)  # fmt: skip
    failures = []
    for n in points:
        why = _kill_and_resume(before[stage], tmp_path / f"{n}", stage, n, ref[stage], ops)
        print(f"{stage} #{n} {ops[stage][n - 1]}: {why or 'ok'}", flush=True)
        if why:
            failures.append(f"{stage} killed at #{n} ({ops[stage][n - 1]}): {why}")
    assert not failures, "\n".join(failures)


def _kill_and_resume(src, work, stage, n, expected, ops) -> str | None:
    repo = _copy(src, work)
    marker = work.parent / f"{work.name}.marker.json"
    env = {KILL_AT_ENV: f"{stage}:{n}", MARKER_ENV: str(marker)}
    killed = repo.dvc("repro", "-s", stage, env=env, check=False)
    if killed.returncode == 0 or not marker.exists():
        return f"not killed (rc {killed.returncode})"
    died = json.loads(marker.read_text())
    if (died["stage"], died["n"], died["op"]) != (stage, n, ops[stage][n - 1]):
        return f"died elsewhere: {died}"
    res = repo.dvc("repro", "-s", stage, check=False)
    if res.returncode != 0:
        return f"the second run failed:\n{res.stdout}\n{res.stderr[-2000:]}"
    done = ops[stage][: n - 1]
    # Resumable once an epoch / batch is committed, until the pointer is removed at the end.
    commits = 0 if "finish:pointer" in done else done.count("commit:pointer-replace")
    resumed = re.findall(r"resumed from \S+ \((.*?) done\)", res.stdout)
    if len(resumed) != (1 if commits else 0):
        return f"resumed {len(resumed)} times ({commits} commits before the kill):\n{res.stdout}"
    if stage != "features" and commits:
        if resumed[0] != f"{min(commits, EPOCHS)} of {EPOCHS} epochs":
            return f"resumed from the wrong epoch: {resumed[0]}"
        if "Epoch 1/" in res.stdout:
            return "trained the first epoch again"
    got = _files(repo.root, stage)
    if got.keys() != expected.keys():
        return f"other files: {sorted(got.keys() ^ expected.keys())}"
    differ = [name for name in expected if got[name] != expected[name]]
    if differ:
        return f"other bytes: {differ}"
    for tsv in sorted(repo.root.glob(f"dvclive/{stage}/plots/metrics/*.tsv")):
        steps = [int(r.split("\t")[0]) for r in tsv.read_text().splitlines()[1:]]
        if steps != list(range(EPOCHS)):
            return f"{tsv.name}: steps {steps}"
    if (repo.root / "checkpoints" / stage).exists():
        return "the checkpoint was left behind"
    return None
