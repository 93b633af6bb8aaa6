"""The DVC stages' code deps, computed from the files each stage runs (``affwild dag deps``).

A stage whose ``cmd`` runs ``python -m stages.<name> ...`` (or ``python -m pipeline.<name>``)
runs that module and, transitively, every file of ``pipeline/`` and ``stages/`` it imports:

- ``import`` / ``from ... import`` statements anywhere in a module (at the top or inside a
  function; not under ``if TYPE_CHECKING:``), relative ones included, and the packages'
  ``__init__`` files Python runs on the way;
- a name a package exports lazily (a module-level table ``{"name": "submodule"}`` in its
  ``__init__``, read by its ``__getattr__``): the submodule;
- the modules of a registry's built-in entries (:attr:`pipeline.registry.Registry.modules`)
  for a module that imports the registry: reading it imports them;
- the data files a module reads: a string in it that names a file of its ``data/`` folder
  (``pipeline/face/data/ibug68_map.npz``).

Those files, and only those, are the stage's code deps in ``dvc.yaml`` (files, never whole
packages), so a change to any of them re-runs the stage and no other change does. The other
deps (data, ``${data.root}``) are kept as they are. ``--write`` rewrites the lists in place
(comments and layout kept); ``--check`` lists each stage's missing and extra code deps.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.errors import InputError

OWN_PACKAGES = ("pipeline", "stages")
# The main DAG and the seed runs' (their stages run with ``wdir: ..``: paths from the root too).
DVC_FILES = ("dvc.yaml", "seeds/dvc.yaml")
REGISTRY_MODULE = "pipeline.registry"
_CMD_MODULE = re.compile(r"python -m ((?:stages|pipeline)\.[\w.]+)")


def module_file(root: Path, module: str) -> Path | None:
    """The file of an own module (``pipeline.face.detect`` -> ``pipeline/face/detect.py``)."""
    base = root.joinpath(*module.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` (imports that never run)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


def _imported_names(path: Path, module: str) -> set[str]:
    """Every dotted name ``path`` (module ``module``) imports (``from a import b``: a and a.b)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: against this module's package
                pkg = module.split(".")
                pkg = pkg[: len(pkg) - (node.level - (path.name == "__init__.py"))]
                base = ".".join([*pkg, base] if base else pkg)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def lazy_exports(path: Path, package: str, root: Path) -> dict[str, str]:
    """A package ``__init__``'s table of lazily exported names -> their submodules."""
    out: dict[str, str] = {}
    for node in ast.parse(path.read_text()).body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if not isinstance(value, ast.Dict):
            continue
        for k, v in zip(value.keys, value.values, strict=True):
            lazy = isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
            if lazy and isinstance(v.value, str) and module_file(root, f"{package}.{v.value}"):
                out[str(k.value)] = f"{package}.{v.value}"
    return out


def registry_modules(root: Path) -> dict[str, tuple[str, ...]]:
    """Each registry of ``pipeline/registry.py`` -> the modules of its built-in entries (read
    from the source: ``NAME: Registry = Registry("kind", "module", ...)``)."""
    path = module_file(root, REGISTRY_MODULE)
    out: dict[str, tuple[str, ...]] = {}
    for node in ast.parse(path.read_text()).body if path else []:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        call = getattr(node, "value", None)
        if (
            isinstance(target, ast.Name)
            and isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id == "Registry"
        ):
            out[target.id] = tuple(a.value for a in call.args[1:] if isinstance(a, ast.Constant))
    return out


@dataclass
class _Walk:
    root: Path
    registries: dict[str, tuple[str, ...]]

    def own(self, name: str) -> list[str]:
        """The own modules importing ``name`` runs (its packages first)."""
        if name.split(".")[0] not in OWN_PACKAGES:
            return []
        mods = [m for m in _with_parents(name) if module_file(self.root, m) is not None]
        package, _, attr = name.rpartition(".")
        init = module_file(self.root, package) if package else None
        if init is not None and init.name == "__init__.py" and name not in mods:
            lazy = lazy_exports(init, package, self.root).get(attr)
            mods += _with_parents(lazy) if lazy else []
        if package == REGISTRY_MODULE:
            for m in self.registries.get(attr, ()):
                mods += _with_parents(m)
        return mods

    def next_modules(self, module: str) -> set[str]:
        path = module_file(self.root, module)
        return {m for name in _imported_names(path, module) for m in self.own(name)}


def data_files(root: Path, path: Path) -> set[Path]:
    """Files of the module's ``data/`` folder that a string in the module names."""
    folder = path.parent / "data"
    if not folder.is_dir():
        return set()
    present = {f.name: f for f in folder.iterdir() if f.is_file()}
    named = {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)}
    return {present[n].relative_to(root) for n in named if isinstance(n, str) and n in present}


def closure(root: Path, module: str) -> list[str]:
    """Every own file (code and data) that ``python -m module`` runs or reads, sorted: the
    ``stages/`` files first, then ``pipeline/``."""
    walk = _Walk(root, registry_modules(root))
    todo, seen = list(_with_parents(module)), set()
    while todo:
        current = todo.pop()
        if current in seen or module_file(root, current) is None:
            continue
        seen.add(current)
        todo.extend(walk.next_modules(current) - seen)
    files = {module_file(root, m).relative_to(root) for m in seen}
    files |= {d for f in list(files) for d in data_files(root, root / f)}
    return sorted((f.as_posix() for f in files), key=lambda p: (not p.startswith("stages/"), p))


def stage_module(cmd: str) -> str | None:
    """The module a stage's command runs (``python -m stages.face detect ...`` -> ``stages.face``)."""
    match = _CMD_MODULE.search(cmd)
    return match.group(1) if match else None


def is_code(dep: str) -> bool:
    return str(dep).split("/")[0] in OWN_PACKAGES


def _dep_name(dep) -> str:
    return dep if isinstance(dep, str) else next(iter(dep))


def stages_of(root: Path, file: str) -> dict[str, dict]:
    """Stage name -> its body (a ``foreach``/``matrix`` stage's ``do`` body)."""
    path = root / file
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: cannot be read as a DVC file ({exc})") from None
    return {name: body.get("do", body) for name, body in (doc.get("stages") or {}).items()}


@dataclass
class StageDeps:
    file: str
    stage: str
    want: list[str]  # the code deps it should have
    missing: list[str]
    extra: list[str]


def check(root: Path, files: tuple[str, ...] = DVC_FILES) -> list[StageDeps]:
    """Each stage that runs a module: its code deps against its closure."""
    out = []
    for file in files:
        if not (root / file).is_file():
            continue
        for name, body in stages_of(root, file).items():
            module = stage_module(str(body.get("cmd", "")))
            if module is None:
                continue
            want = closure(root, module)
            have = [_dep_name(d) for d in body.get("deps") or [] if is_code(_dep_name(d))]
            missing = [d for d in want if d not in have]
            extra = [d for d in have if d not in want]
            out.append(StageDeps(file, name, want, missing, extra))
    return out


def _item_blocks(lines: list[str], start: int) -> tuple[int, list[list[str]]]:
    """The ``- item`` blocks (an item's line and the lines under it) of the list after
    ``lines[start]`` (``deps:``), and the index of the first line after the list."""
    key = _depth(lines[start])
    blocks: list[list[str]] = []
    i = start + 1
    while i < len(lines) and lines[i].strip():
        line, depth = lines[i], _depth(lines[i])
        if depth < key or (depth == key and not line.lstrip().startswith("- ")):
            break
        if line.lstrip().startswith("- ") and (not blocks or depth == _depth(blocks[0][0])):
            blocks.append([line])
        elif blocks:
            blocks[-1].append(line)
        else:
            raise InputError(f"line {i + 1}: expected a `- ` item of the deps list")
        i += 1
    return i, blocks


def _depth(line: str) -> int:
    return len(line) - len(line.lstrip())


def _rewrite_stage(lines: list[str], header: int, want: list[str]) -> list[str]:
    """``lines`` with the code items of the first ``deps:`` list after stage header line
    ``header`` replaced by ``want`` (placed where its first code item was)."""
    end_stage = next(
        (
            i
            for i in range(header + 1, len(lines))
            if lines[i].strip() and _depth(lines[i]) <= _depth(lines[header])
        ),
        len(lines),
    )
    deps = next((i for i in range(header + 1, end_stage) if lines[i].strip() == "deps:"), None)
    if deps is None:
        raise InputError(f"stage at line {header + 1}: no `deps:` list to fill")
    end, blocks = _item_blocks(lines, deps)
    prefix = blocks[0][0][: _depth(blocks[0][0])] if blocks else " " * (_depth(lines[deps]) + 2)
    code = [k for k, b in enumerate(blocks) if is_code(b[0].strip()[2:].rstrip(":"))]
    at = code[0] if code else 0
    keep = [b for k, b in enumerate(blocks) if k not in code]
    before = [b for b in keep if blocks.index(b) < at]
    after = [b for b in keep if blocks.index(b) >= at]
    new = [line for b in before for line in b] + [f"{prefix}- {d}" for d in want]
    new += [line for b in after for line in b]
    return lines[: deps + 1] + new + lines[end:]


def write(root: Path, files: tuple[str, ...] = DVC_FILES) -> list[StageDeps]:
    """Rewrite each stage's code deps to its closure; returns the stages that changed."""
    changed = [s for s in check(root, files) if s.missing or s.extra]
    for file in files:
        todo = [s for s in changed if s.file == file]
        if not todo:
            continue
        path = root / file
        text = path.read_text()
        lines = text.splitlines()
        for s in todo:
            header = _stage_header(lines, s.stage, path)
            lines = _rewrite_stage(lines, header, s.want)
        path.write_text("\n".join(lines) + ("\n" if text.endswith("\n") else ""))
    return changed


def _stage_header(lines: list[str], stage: str, path: Path) -> int:
    in_stages = False
    for i, line in enumerate(lines):
        if line.startswith("stages:"):
            in_stages = True
        elif in_stages and line.rstrip() == f"  {stage}:":
            return i
    raise InputError(f"{path}: no stage {stage!r} at two spaces under `stages:`")
