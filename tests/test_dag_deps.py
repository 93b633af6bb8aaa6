"""The DAG's cache is exact: every file a stage runs is one of its deps in dvc.yaml.

For each stage, the Python files it imports (statically, following ``pipeline.*`` and
``stages.*`` imports wherever they sit in a module, including inside functions, plus the
packages' ``__init__`` files that Python runs on the way) must be covered by a ``deps`` entry
of that stage: the file itself or a folder above it. A file missing there means that a change to
it leaves the stage's outputs stale while ``dvc repro`` calls them up to date.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
OWN_PACKAGES = ("pipeline", "stages")


def _module_file(module: str) -> Path | None:
    """The file of an own module (``pipeline.face.detect`` → ``pipeline/face/detect.py``)."""
    base = ROOT.joinpath(*module.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _imported_modules(path: Path) -> set[str]:
    """Own modules that ``path`` imports anywhere in its body (also inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from pipeline.face import detect` imports pipeline.face and, if it is a module,
            # pipeline.face.detect.
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in OWN_PACKAGES:
                found.update(m for m in _with_parents(name) if _module_file(m) is not None)
    return found


def import_closure(module: str) -> set[Path]:
    """Every own file that running ``python -m module`` imports (transitively)."""
    todo = _with_parents(module)
    seen: set[str] = set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        file = _module_file(current)
        if file is not None:
            todo.extend(_imported_modules(file) - seen)
    return {_module_file(m).relative_to(ROOT) for m in seen if _module_file(m) is not None}


# The main DAG and the seed runs' (its stages run with ``wdir: ..``: paths from the root too).
DVC_FILES = ("dvc.yaml", "seeds/dvc.yaml")


def _stages() -> dict[str, dict]:
    """Every stage of both files, the seed runs' as ``seeds/dvc.yaml:<name>``."""
    out = {}
    for file in DVC_FILES:
        prefix = "" if file == "dvc.yaml" else f"{file}:"
        for name, stage in yaml.safe_load((ROOT / file).read_text())["stages"].items():
            out[prefix + name] = stage
    return out


def _stage_module(stage: dict) -> str | None:
    match = re.search(r"python -m ((?:stages|pipeline)\.[\w.]+)", stage["cmd"])
    return match.group(1) if match else None


def _stage_closure(stage: dict) -> set[Path]:
    """The files the stage runs: its module's import closure, and for the face steps' generic
    entry point (``python -m stages.face NAME``) also that of the module defining the step
    (the registry imports it by name, which the static walk does not see)."""
    module = _stage_module(stage)
    closure = import_closure(module)
    if module == "stages.face":
        from pipeline.registry import FACE_STAGES

        name = re.search(r"python -m stages\.face (\w+)", stage["cmd"]).group(1)
        closure |= import_closure(FACE_STAGES.get(name).start.__module__)
    return _with_data(closure)


def _stage_items():
    """(name, body) for every stage, ``foreach``/``matrix`` stages by their ``do`` body."""
    for name, stage in _stages().items():
        yield name, stage.get("do", stage)


def _covered(file: Path, deps: list[str]) -> bool:
    for dep in deps:
        dep_path = Path(str(dep).rstrip("/"))
        if file == dep_path or dep_path in file.parents:
            return True
    return False


STAGES = [name for name, body in _stage_items() if _stage_module(body)]

# Data files that a module reads at run time (package data): a stage running the module
# depends on them as on code.
DATA_FILES = {Path("pipeline/face/ibug68.py"): [Path("pipeline/face/data/ibug68_map.npz")]}


def _with_data(closure: set[Path]) -> set[Path]:
    return closure | {d for f in closure for d in DATA_FILES.get(f, [])}


def test_every_python_stage_is_checked():
    # The regex finding the stage module must not silently skip stages.
    assert set(STAGES) == {name for name, _ in _stage_items()}


@pytest.mark.parametrize("name", STAGES)
def test_stage_deps_cover_its_import_closure(name):
    body = dict(_stage_items())[name]
    closure = _stage_closure(body)
    deps = [d if isinstance(d, str) else next(iter(d)) for d in body.get("deps", [])]
    missing = sorted(str(f) for f in closure if not _covered(f, deps))
    assert not missing, f"stage {name!r} runs these files but does not depend on them: {missing}"


@pytest.mark.parametrize("name", STAGES)
def test_stage_code_deps_are_used(name):
    """No code dep that the stage never imports (it would re-run the stage for nothing)."""
    body = dict(_stage_items())[name]
    closure = _stage_closure(body)
    deps = [d if isinstance(d, str) else next(iter(d)) for d in body.get("deps", [])]
    code_deps = [d for d in deps if d.split("/")[0] in OWN_PACKAGES]
    unused = [d for d in code_deps if not any(_covered(f, [d]) for f in closure)]
    assert not unused, f"stage {name!r} depends on code it never imports: {unused}"


def test_closure_follows_imports_inside_functions():
    # stages.evaluate imports the evaluation code inside its click command, not at the top.
    closure = import_closure("stages.evaluate")
    assert Path("pipeline/evaluation/evaluate.py") in closure
    assert Path("pipeline/__init__.py") in closure
    assert Path("pipeline/config.py") in closure


@pytest.mark.parametrize("name", ["train_cnn", "features", "train_rnn"])
def test_seed_runs_train_like_the_main_run(name):
    """A seed run differs from the main run by its seed only: same code deps and params."""
    stages = dict(_stage_items())
    main, seed = stages[name], stages[f"seeds/dvc.yaml:{name}"]
    assert seed.get("params") == main.get("params")

    def code(body: dict) -> list[str]:
        return [d for d in body["deps"] if isinstance(d, str) and d.split("/")[0] in OWN_PACKAGES]

    assert code(seed) == code(main)
