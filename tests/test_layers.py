"""No import cycle between the parts of ``pipeline``.

Every subpackage (``pipeline/face``, ``pipeline/models``, ...) and every top-level module
(``pipeline/config.py``, ``pipeline/registry.py``, ...) is one node; an import anywhere in a
file — at the top or inside a function — is an edge from the file's node to the imported
one's. The graph must be acyclic, so the parts form layers: the shared contracts
(``pipeline.contracts``) and the registries at the bottom, the stages' libraries above them.
Plug-ins reach the layers above only through a registry.

At run time a registry imports the modules of its built-in entries the first time it is read
(:attr:`pipeline.registry.Registry.modules`), so a module that reads a registry runs them too.
Module by module, with those edges added, there must be no loop either (a module registering
into a registry does not read it through that edge).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pipeline.stage_deps import lazy_exports

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pipeline"


def node_of(module: str) -> str | None:
    """The part of ``pipeline`` a module belongs to (``pipeline.face.crop`` -> ``face``)."""
    parts = module.split(".")
    if parts[0] != "pipeline" or len(parts) < 2:
        return None
    return parts[1]


def imports_of(path: Path, module: str) -> set[str]:
    """Every module ``path`` (module ``module``) imports, anywhere in its body (``from a
    import b``: a and a.b)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                pkg = module.split(".")
                drop = node.level - (path.name == "__init__.py")
                pkg = pkg[: len(pkg) - drop]
                base = ".".join([*pkg, base] if base else pkg)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def part_graph(root: Path = PACKAGE) -> dict[str, dict[str, list[str]]]:
    """part -> {imported part: [files importing it]} (the package's own __init__ excluded)."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent)
        module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        src = node_of(module)
        if src is None:  # pipeline/__init__.py
            continue
        graph.setdefault(src, {})
        for name in imports_of(path, module):
            dst = node_of(name)
            if dst is not None and dst != src:
                graph[src].setdefault(dst, []).append(str(rel))
    return graph


def find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    """One cycle (its nodes, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_between_the_parts_of_pipeline():
    graph = part_graph()
    assert {"face", "datasets", "models", "contracts", "config", "registry"} <= set(graph)
    cycle = find_cycle(graph)
    if cycle:
        where = [
            f"{a} -> {b}: {', '.join(sorted(set(graph[a][b])))}"
            for a, b in zip(cycle[:-1], cycle[1:], strict=True)
        ]
        pytest.fail("import cycle " + " -> ".join(cycle) + "\n" + "\n".join(where))


def test_bottom_layers_import_nothing_above_them():
    graph = part_graph()
    assert set(graph["registry"]) <= {"errors"}
    assert set(graph["contracts"]) <= {"errors"}


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root / "pipeline"


def test_a_cycle_is_found_also_through_an_import_inside_a_function(tmp_path):
    files = {
        "pipeline/__init__.py": "",
        "pipeline/a/__init__.py": "",
        "pipeline/a/x.py": "from pipeline.b import y\n",
        "pipeline/b/__init__.py": "",
        "pipeline/b/y.py": "def f():\n    from pipeline.a.x import g\n",
        "pipeline/c.py": "import json\n",
    }
    graph = part_graph(_write(tmp_path, files))
    assert find_cycle(graph) in (["a", "b", "a"], ["b", "a", "b"])
    files["pipeline/b/y.py"] = "def f():\n    from pipeline.c import h\n"
    assert find_cycle(part_graph(_write(tmp_path, files))) is None


# -- module by module, at run time -------------------------------------------------------------
def _module_files(root: Path) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent)
        out[".".join(rel.with_suffix("").parts).removesuffix(".__init__")] = path
    return out


def _own(name: str, modules: dict[str, Path]) -> str | None:
    """The module of ``name`` (``pipeline.face.detect.SubjectDetector`` -> ``pipeline.face.detect``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def registry_modules() -> dict[str, tuple[str, ...]]:
    """Each registry's name in :mod:`pipeline.registry` -> the modules it loads when read."""
    from pipeline import registry

    return {
        name: reg.modules
        for name, reg in vars(registry).items()
        if isinstance(reg, registry.Registry)
    }


def module_graph(
    root: Path = PACKAGE, registries: dict[str, tuple[str, ...]] | None = None
) -> dict[str, dict[str, list[str]]]:
    """module -> {module it runs: [why]}: its imports anywhere in its body (not the packages
    above it, which run first; a package's lazily exported name: its submodule), and for each
    registry it imports (and is not a built-in module of), the registry's built-in modules."""
    registries = registry_modules() if registries is None else registries
    modules = _module_files(root)
    graph: dict[str, dict[str, list[str]]] = {}
    for module, path in modules.items():
        edges = graph.setdefault(module, {})
        for name in imports_of(path, module):
            dst = _own(name, modules)
            if dst and dst != module and not module.startswith(dst + "."):
                edges.setdefault(dst, []).append("import")
            package, _, attr = name.rpartition(".")
            if dst == package and modules[dst].name == "__init__.py":  # a lazily exported name
                lazy = lazy_exports(modules[dst], package, root.parent).get(attr)
                if lazy and lazy != module:
                    edges.setdefault(lazy, []).append(f"lazy {attr}")
            reg = name.removeprefix("pipeline.registry.")
            if name.startswith("pipeline.registry.") and module not in registries.get(
                reg, (module,)
            ):
                for dst in registries[reg]:
                    edges.setdefault(dst, []).append(f"reads {reg}")
    return graph


def test_no_import_loop_at_run_time_registries_included():
    graph = module_graph()
    assert "pipeline.models.backbones" in graph["pipeline.config"]  # via BACKBONES
    cycle = find_cycle(graph)
    if cycle:
        where = [f"{a} -> {b} ({', '.join(sorted(set(graph[a][b])))})"
                 for a, b in zip(cycle[:-1], cycle[1:], strict=True)]  # fmt: skip
        pytest.fail("import loop " + " -> ".join(cycle) + "\n" + "\n".join(where))


def test_a_loop_through_a_registry_is_found(tmp_path):
    files = {
        "pipeline/__init__.py": "",
        "pipeline/registry.py": "THINGS = None\n",
        "pipeline/config.py": "from pipeline.registry import THINGS\n",
        "pipeline/things/__init__.py": "",
        "pipeline/things/one.py": "from pipeline.registry import THINGS\nimport json\n",
    }
    registries = {"THINGS": ("pipeline.things.one",)}
    assert find_cycle(module_graph(_write(tmp_path, files), registries)) is None
    files["pipeline/things/one.py"] += "def f():\n    from pipeline.config import X\n"
    cycle = find_cycle(module_graph(_write(tmp_path, files), registries))
    assert cycle in (["pipeline.config", "pipeline.things.one", "pipeline.config"],
                     ["pipeline.things.one", "pipeline.config", "pipeline.things.one"])  # fmt: skip


def test_a_loop_through_a_lazily_exported_name_is_found(tmp_path):
    files = {
        "pipeline/__init__.py": "",
        "pipeline/registry.py": "",
        "pipeline/config.py": "def f():\n    from pipeline.models import build\n",
        "pipeline/models/__init__.py": '_SOURCES = {"build": "factory"}\n',
        "pipeline/models/factory.py": "import json\n",
    }
    assert find_cycle(module_graph(_write(tmp_path, files), {})) is None
    files["pipeline/models/factory.py"] = "from pipeline.config import X\n"
    cycle = find_cycle(module_graph(_write(tmp_path, files), {}))
    assert cycle in (["pipeline.config", "pipeline.models.factory", "pipeline.config"],
                     ["pipeline.models.factory", "pipeline.config", "pipeline.models.factory"])  # fmt: skip
