"""The extension points: one registry per kind of plug-in, the single source of its names.

- ``BACKBONES`` (``model.backbone``): ``pipeline.models.backbones.BackboneSpec``; built-ins in
  ``pipeline.models.backbones``
- ``DATA_FORMATS`` (``data.format``): ``pipeline.datasets.base.DataFormat``; built-ins in
  ``pipeline.datasets.affwild`` / ``affwild2`` / ``afewva``
- ``FACE_STAGES`` (a plug-in's own section): ``pipeline.face.jobs.FaceStep``; built-ins in ``pipeline.face.detect`` /
  ``landmarks`` / ``crop``
- ``ENGINES`` (``parallel.engine``): a ``pipeline.parallel.Engine``; built-ins in
  ``pipeline.parallel`` (local) and ``pipeline.ray_engine``
- ``METRICS``: ``pipeline.evaluation.metrics.Metric``; built-ins in
  ``pipeline.evaluation.metrics``

Adding a plug-in is one ``REGISTRY.register(name, entry, help=...)`` call next to its code
(or in a test); ``params.yaml`` validation (:mod:`pipeline.config`), the command line's
choices and help (:mod:`pipeline.cli`, ``affwild plugins``) and the code that runs it all
read the registry.

A plug-in that lives outside this package is found in every process that reads a registry
(the stage processes ``dvc repro`` starts too) in either of two ways, both loaded once, after the
built-ins: an installed distribution that declares the module in the entry-point group
``affwild.plugins`` (``[project.entry-points."affwild.plugins"] mine = "my_pkg.plugins"``), or
the environment variable ``AFFWILD_PLUGINS`` (module names separated by commas, importable from
``sys.path``). A module that fails to import is an error naming it and where it was declared.

This module sits at the bottom of the package (it imports nothing of ``pipeline`` but
:mod:`pipeline.errors`): the modules above register into it. A registry loads the module holding its built-ins the first
time it is read, so that ``params.yaml`` can be checked without importing every plug-in's
code up front; the built-in modules therefore import their heavy libraries (Keras, MediaPipe,
Ray) inside the functions that need them.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from pipeline.errors import InputError

T = TypeVar("T")

ENTRY_POINT_GROUP = "affwild.plugins"
PLUGINS_ENV = "AFFWILD_PLUGINS"
_plugins_loaded = False


class PluginError(InputError):
    """A declared plug-in module that cannot be imported."""


def plugin_modules() -> list[tuple[str, str]]:
    """``(module, where it was declared)`` of every plug-in outside the package: the
    ``affwild.plugins`` entry points of installed distributions, then ``AFFWILD_PLUGINS``."""
    found = [
        (ep.value.split(":")[0], f"entry point {ep.name!r} of group {ENTRY_POINT_GROUP}")
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    ]
    env = os.environ.get(PLUGINS_ENV, "")
    found += [(m.strip(), PLUGINS_ENV) for m in env.split(",") if m.strip()]
    return found


def load_plugins() -> None:
    """Import every plug-in module once (each registers its entries when imported)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module, where in plugin_modules():
        try:
            importlib.import_module(module)
        except Exception as exc:
            _plugins_loaded = False  # a fixed module is tried again
            raise PluginError(
                f"plug-in module {module!r} ({where}) cannot be imported: "
                f"{type(exc).__name__}: {exc}"
            ) from exc


@dataclass(frozen=True)
class Registered(Generic[T]):
    name: str
    entry: T
    help: str


class Registry(Generic[T]):
    """Names -> entries of one kind, in registration order."""

    def __init__(self, kind: str, *builtins: str) -> None:
        self.kind = kind
        self._builtins = builtins  # modules that register the built-in entries
        self._loaded = False
        self._items: dict[str, Registered[T]] = {}

    @property
    def modules(self) -> tuple[str, ...]:
        """The modules of the built-in entries, imported the first time the registry is read
        (a module that reads a registry runs them: ``tests/test_layers.py`` follows them)."""
        return self._builtins

    def register(self, name: str, entry: T, help: str = "", *, replace: bool = False) -> T:
        """Add ``entry`` under ``name``; returns ``entry`` (so it can stay a module constant)."""
        if not name or not isinstance(name, str):
            raise ValueError(f"{self.kind}: a name must be a non-empty string, got {name!r}")
        if name in self._items and not replace and self._items[name].entry is not entry:
            raise ValueError(f"{self.kind} {name!r} is registered already")
        self._items[name] = Registered(name, entry, help)
        return entry

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests that register a toy entry clean up with this)."""
        self._items.pop(name, None)

    def _load(self) -> dict[str, Registered[T]]:
        if not self._loaded:
            self._loaded = True
            for module in self._builtins:
                importlib.import_module(module)
            load_plugins()
        return self._items

    def get(self, name: str) -> T:
        """The entry of ``name``; a :class:`ValueError` listing the allowed names otherwise."""
        items = self._load()
        if name not in items:
            allowed = ", ".join(sorted(items))
            raise ValueError(f"unknown {self.kind} {name!r} (allowed: {allowed})")
        return items[name].entry

    def check(self, name: str) -> str:
        """``name`` if it is registered (for validators), else the error of :meth:`get`."""
        self.get(name)
        return name

    def describe(self, name: str) -> str:
        """The help text ``name`` was registered with."""
        self.get(name)
        return self._items[name].help

    def names(self) -> list[str]:
        return list(self._load())

    def __contains__(self, name: object) -> bool:
        return name in self._load()

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._load()))


BACKBONES: Registry = Registry("backbone", "pipeline.models.backbones")
DATA_FORMATS: Registry = Registry(
    "data set format",
    "pipeline.datasets.affwild",
    "pipeline.datasets.affwild2",
    "pipeline.datasets.afewva",
)
FACE_STAGES: Registry = Registry(
    "face stage", "pipeline.face.detect", "pipeline.face.landmarks", "pipeline.face.crop"
)
ENGINES: Registry = Registry("execution engine", "pipeline.parallel", "pipeline.ray_engine")
METRICS: Registry = Registry("metric", "pipeline.evaluation.metrics")
