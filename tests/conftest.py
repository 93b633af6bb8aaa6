"""Fixtures shared across the suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


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


def tool_env() -> dict[str, str]:
    """Environment in which `dvc` and the stages' `python` are this interpreter's."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("DVC_NO_ANALYTICS", "1")
    return env


class RepoCopy:
    """A throw-away copy of the project, as a git + DVC repository with one commit."""

    def __init__(self, root: Path):
        self.root = root

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run(args, cwd=self.root, env=tool_env(), capture_output=True, text=True)
        if check and res.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
            )
        return res

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "dvc", *args, check=check)

    def set_params(self, **sections: dict) -> None:
        path = self.root / "params.yaml"
        params = yaml.safe_load(path.read_text())
        for name, values in sections.items():
            params.setdefault(name, {}).update(values)
        path.write_text(yaml.safe_dump(params, sort_keys=False))

    def commit(self, message: str = "test") -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", message)


@pytest.fixture
def repo_copy(tmp_path: Path) -> RepoCopy:
    root = tmp_path / "repo"
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
