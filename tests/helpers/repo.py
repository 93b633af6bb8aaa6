"""The project checkout the tests run in, and throw-away copies of it for DVC runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers.training import TINY_MODEL

REPO = Path(__file__).resolve().parents[2]

# Params small enough for a whole `dvc repro` of a copy in a few minutes (RepoCopy.set_params).
TINY = {
    "demo": {
        "n_train": 3,
        "n_test": 1,
        "min_frames": 36,
        "max_frames": 44,
        "width": 160,
        "height": 120,
        "face_height_min": 50,
        "face_height_max": 70,
    },
    "split": {"val_fraction": 0.34},
    "parallel": {"n_jobs": 1},
    "crop": {"size": 32},
    "shard": {"seq_len": 10, "train_stride": 5},
    "model": TINY_MODEL,
    "train_cnn": {"epochs": 1, "batch_size": 16},
    "train_rnn": {"epochs": 1, "batch_size": 2},
    "svr": {"max_train": 200, "pca": 16},
    "evaluate": {"trace_frames": 50, "seeds": [1], "bootstrap": 200},
}


def lock_outs(lock_text: str) -> dict[str, dict[str, str]]:
    """stage -> {output path: md5} of a ``dvc.lock``, in its order."""
    stages = yaml.safe_load(lock_text).get("stages") or {}
    return {name: {o["path"]: o["md5"] for o in st.get("outs", [])} for name, st in stages.items()}


def first_lock_difference(expected: str, actual: str, stages=None) -> str | None:
    """The first output (in the lock's stage order) whose hash differs between two
    ``dvc.lock`` texts, as ``stage: path: ...``; None when all agree."""
    from pipeline.repro import first_difference

    a, b = lock_outs(expected), lock_outs(actual)
    for stage in stages or list(dict.fromkeys([*a, *b])):
        diff = first_difference(a.get(stage, {}), b.get(stage, {}))
        if diff:
            return f"{stage}: {diff}"
    return None


def project_files() -> list[str]:
    """The repository's files as git sees them (tracked + untracked, not ignored)."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [f for f in out.splitlines() if (REPO / f).is_file()]


# What native (C++) log lines look like: glog/absl prefixes, TFLite's and TensorFlow's own lines
# (the CUDA-built wheel: factory registration at import, cuInit on a machine without a driver).
NATIVE_LOG_MARKS = ("W0000", "I0000", "E0000", "INFO: Created TensorFlow Lite",
                    "inference_feedback_manager", "landmark_projection_calculator", "XNNPACK",
                    "cuInit", "Unable to register", "computation placer", "oneDNN",
                    "cpu_feature_guard", "rebuild TensorFlow")  # fmt: skip


def native_log_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if any(m in line for m in NATIVE_LOG_MARKS)]


def tool_env() -> dict[str, str]:
    """Environment in which `dvc` and the stages' `python` are this interpreter's."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("DVC_NO_ANALYTICS", "1")
    return env


def make_repo(root: Path) -> RepoCopy:
    """A copy of the project's files at ``root``, as a git repository with one commit."""
    for rel in project_files():
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dst)
    copy = RepoCopy(root)
    copy.run("git", "init", "-q")
    copy.run("git", "config", "user.email", "tests@example.invalid")
    copy.run("git", "config", "user.name", "tests")
    copy.commit("copy of the project")
    return copy


def build_tiny_run(folder: Path) -> None:
    """``folder/repo``: the project with :data:`TINY` params after a whole ``dvc repro``,
    committed; ``folder/repro.log``: what that ``dvc repro`` printed (stdout, then stderr)."""
    repo = make_repo(folder / "repo")
    repo.set_params(**TINY)
    repo.commit("tiny params")
    run = repo.dvc("repro")
    (folder / "repro.log").write_text(run.stdout + run.stderr)
    repo.commit("the tiny run: dvc.lock, metrics, plots, reports")


class RepoCopy:
    """A throw-away copy of the project, as a git + DVC repository with one commit."""

    def __init__(self, root: Path):
        self.root = root

    def run(self, *args: str, check: bool = True, env: dict | None = None
            ) -> subprocess.CompletedProcess:  # fmt: skip
        """``args`` in the copy (``env``: extra environment variables)."""
        res = subprocess.run(args, cwd=self.root, env={**tool_env(), **(env or {})},
                             capture_output=True, text=True)  # fmt: skip
        if check and res.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
            )
        return res

    def dvc(self, *args: str, check: bool = True, env: dict | None = None
            ) -> subprocess.CompletedProcess:  # fmt: skip
        return self.run(sys.executable, "-m", "dvc", *args, check=check, env=env)

    def set_params(self, **sections: dict) -> None:
        path = self.root / "params.yaml"
        params = yaml.safe_load(path.read_text())
        for name, values in sections.items():
            params.setdefault(name, {}).update(values)
        path.write_text(yaml.safe_dump(params, sort_keys=False))

    def repro(self, *targets: str) -> set[str]:
        """``dvc repro`` (of ``targets``); the stages whose outputs it made anew.

        Judged by the files, not by DVC's log: a stage that runs (or is restored from DVC's
        run cache) has its outputs removed and written again (new inode and mtime), one that
        is skipped leaves them untouched. Stages of ``seeds/dvc.yaml`` are named
        ``seeds/dvc.yaml:<stage>``, those of the top ``dvc.yaml`` by their plain name."""
        before = self.output_stamps()
        self.dvc("repro", *targets)
        after = self.output_stamps()
        return {name for name, stamp in after.items() if stamp != before.get(name)}

    def output_stamps(self) -> dict[str, tuple]:
        """Stage -> (inode, mtime) of each of its outputs, for the stages in every ``dvc.lock``."""
        stamps = {}
        for lock in [self.root / "dvc.lock", *sorted(self.root.glob("*/dvc.lock"))]:
            if not lock.is_file():
                continue
            prefix = "" if lock.parent == self.root else f"{lock.parent.name}/dvc.yaml:"
            for name, stage in (yaml.safe_load(lock.read_text()).get("stages") or {}).items():
                paths = [lock.parent / o["path"] for o in stage.get("outs", [])]
                stamps[prefix + name] = tuple(
                    (p.stat().st_ino, p.stat().st_mtime_ns) if p.exists() else None for p in paths
                )
        return stamps

    def stale(self, *targets: str) -> set[str]:
        """The stages ``dvc status --json`` lists as changed (``targets``: dvc.yaml files or
        stages), by name as in :meth:`repro`."""
        out = self.dvc("status", "--json", *targets).stdout
        return set(json.loads(out or "{}"))

    def commit(self, message: str = "test") -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", message)
