"""The DAG's cache is exact: each stage's code deps in dvc.yaml are the files it runs.

``affwild dag deps`` (:mod:`pipeline.stage_deps`) computes them from each stage's command: the
files its module imports (inside functions, through lazy package exports and the registries
too) and the data files they read. ``--check`` passing means a change to any file a stage runs
re-runs it, and no other change does.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.stage_deps import check, closure, stage_module, write

ROOT = Path(__file__).resolve().parents[1]


def _dag_deps(cwd: Path, *args: str):
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, ["dag", "deps", *args])
    finally:
        os.chdir(old)


def test_every_stage_s_code_deps_are_its_closure():
    res = _dag_deps(ROOT, "--check")
    assert res.exit_code == 0, res.output


def test_every_python_stage_is_checked():
    checked = {(s.file, s.stage) for s in check(ROOT)}
    for file in ("dvc.yaml", "seeds/dvc.yaml"):
        stages = yaml.safe_load((ROOT / file).read_text())["stages"]
        assert {(file, name) for name in stages} <= checked


@pytest.mark.parametrize("name", ["train_cnn", "features", "train_rnn"])
def test_seed_runs_train_like_the_main_run(name):
    """A seed run differs from the main run by its seed only: same code deps and params."""
    main_ = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][name]
    seed = yaml.safe_load((ROOT / "seeds/dvc.yaml").read_text())["stages"][name]["do"]
    assert seed.get("params") == main_.get("params")

    def code(body: dict) -> list[str]:
        return [d for d in body["deps"] if isinstance(d, str) and d.split("/")[0] in ("pipeline", "stages")]  # fmt: skip

    assert code(seed) == code(main_)


def test_stage_module_of_a_command_with_arguments():
    assert stage_module("python -m stages.face detect --manifest m.parquet") == "stages.face"
    assert stage_module("python -m stages.train_cnn\n--records data/records") == "stages.train_cnn"
    assert stage_module("echo hi") is None


# -- a tiny repository ---------------------------------------------------------------------
FILES = {
    "pipeline/__init__.py": "",
    "pipeline/registry.py": (
        "class Registry:\n    def __init__(self, kind, *modules): ...\n\n"
        'THINGS: Registry = Registry("thing", "pipeline.things.one")\n'
    ),
    "pipeline/config.py": "from pipeline.registry import THINGS\n",
    "pipeline/things/__init__.py": "",
    "pipeline/things/one.py": (
        "from pathlib import Path\nfrom typing import TYPE_CHECKING\n\n"
        "from .helpers import h\n\nif TYPE_CHECKING:\n    from pipeline.unused import X\n\n"
        'TABLE = Path(__file__).parent / "data" / "table.npz"\n'
    ),
    "pipeline/things/helpers.py": "h = 1\n",
    "pipeline/things/data/table.npz": "x",
    "pipeline/things/data/other.npz": "y",
    "pipeline/unused.py": "X = 1\n",
    "pipeline/lazy/__init__.py": (
        'import importlib\n\n_SOURCES = {"build": "builder"}\n\n'
        "def __getattr__(name):\n"
        '    return getattr(importlib.import_module(f"pipeline.lazy.{_SOURCES[name]}"), name)\n'
    ),
    "pipeline/lazy/builder.py": "def build(): ...\n",
    "pipeline/lazy/other.py": "\n",
    "stages/__init__.py": "",
    "stages/work.py": (
        "from pipeline.config import load\n\ndef main():\n    from pipeline.lazy import build\n"
    ),
}

DVC_YAML = """\
# the DAG
stages:
  work:
    cmd: >-
      python -m stages.work NAME
      --out out
    deps:
      - data/in   # the input
      - stages/work.py
      - pipeline/lazy
      - pipeline/unused.py
      - ${data.root}
    outs:
      - out
  other:
    cmd: python -m stages.work
    deps:
      - stages/work.py
"""


@pytest.fixture
def tiny(tmp_path) -> Path:
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    return tmp_path


WANT = [
    "stages/__init__.py", "stages/work.py", "pipeline/__init__.py", "pipeline/config.py",
    "pipeline/lazy/__init__.py", "pipeline/lazy/builder.py", "pipeline/registry.py",
    "pipeline/things/__init__.py", "pipeline/things/data/table.npz", "pipeline/things/helpers.py",
    "pipeline/things/one.py",
]  # fmt: skip


def test_closure_follows_functions_lazy_exports_registries_and_data_files(tiny):
    # not: pipeline/unused.py (TYPE_CHECKING only), pipeline/lazy/other.py, other.npz
    assert closure(tiny, "stages.work") == WANT


def test_check_lists_missing_and_extra_then_write_fixes_only_code_deps(tiny):
    res = _dag_deps(tiny, "--check")
    assert res.exit_code == 1
    assert "dvc.yaml:work:\n" in res.output and "  extra:   pipeline/lazy\n" in res.output
    assert "  extra:   pipeline/unused.py\n" in res.output
    assert "  missing: pipeline/lazy/builder.py\n" in res.output
    assert "run `affwild dag deps --write`" in res.output

    assert _dag_deps(tiny, "--write").exit_code == 0
    assert _dag_deps(tiny, "--check").exit_code == 0
    text = (tiny / "dvc.yaml").read_text()
    assert text.startswith("# the DAG\n") and "      - data/in   # the input\n" in text
    stages = yaml.safe_load(text)["stages"]
    assert stages["work"]["deps"] == ["data/in", *WANT, "${data.root}"]
    assert stages["work"]["cmd"] == "python -m stages.work NAME --out out"
    assert stages["work"]["outs"] == ["out"] and stages["other"]["deps"] == WANT
    assert write(tiny) == []  # nothing left to do
