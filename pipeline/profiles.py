"""Profiles: whole configurations as overrides of ``params.yaml``, run as DVC experiments.

``profiles/<name>.yaml`` is nested like ``params.yaml`` and lists the keys it sets:
``paper`` the paper's full configuration, ``demo`` the CPU-sized one params.yaml holds.
``affwild exp run --profile paper`` passes every key to ``dvc exp run -S`` (so ``dvc exp show``
lists them), after composing and validating the result here.

Composition is DVC's own (:func:`dvc.utils.hydra.apply_overrides`, what ``-S`` runs), so what
is validated is what the experiment gets. Its Hydra override ``key={...}`` *merges* a mapping
into the one in params.yaml; a mapping that stands for one choice with its own options
(``model.backbone: {name: ..., <options>}``, :data:`REPLACED`) is instead replaced whole
(``~key`` then ``+key={...}``), so no option of params.yaml's backbone is left behind.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from pipeline.config import ParamsError, parse_params

PROFILES_DIR = Path("profiles")
# Mappings a profile replaces whole instead of merging (a name and that name's options).
REPLACED = ("model.backbone",)
# Sections that change how fast or where, never a result: left out of comparisons.
NO_EFFECT = ("parallel",)


class ProfileError(ParamsError):
    """A profile that cannot be read, composed or validated; the message names the file."""


def profile_path(name: str | Path) -> Path:
    """``profiles/<name>.yaml`` for a name, or the path itself for a ``.yaml`` file."""
    text = str(name)
    if text.endswith((".yaml", ".yml")):
        return Path(text)
    return PROFILES_DIR / f"{text}.yaml"


def load_profile(name: str | Path) -> dict[str, Any]:
    """The overrides of a profile (nested mapping of sections)."""
    path = profile_path(name)
    if not path.is_file():
        have = sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))
        raise ProfileError(f"{path}: no such profile (profiles here: {', '.join(have)})")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ProfileError(f"{path}: expected a mapping of params.yaml sections to mappings")
    return data


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"rnn": "gru"}}`` → ``{"model.rnn": "gru"}``; a :data:`REPLACED` mapping
    stays one value."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and path not in REPLACED:
            out.update(flatten(value, f"{path}."))
        else:
            out[path] = value
    return out


_BARE = re.compile(r"[A-Za-z_/.][\w/.\-]*")


def hydra_value(value: Any) -> str:
    """``value`` in Hydra's override grammar (what ``dvc exp run -S key=VALUE`` parses)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if _BARE.fullmatch(text) and text.lower() not in ("null", "true", "false", "nan", "inf"):
        return text
    # Hydra's quoted string: a run of backslashes is literal unless a quote (or the closing
    # quote) follows it; then it is doubled, and the quote escaped
    return "'" + re.sub(r"(\\*)('|$)", _escape_quote, text) + "'"


def _escape_quote(m: re.Match) -> str:
    return m.group(1) * 2 + ("\\'" if m.group(2) else "")


def set_params(overrides: dict[str, Any]) -> list[str]:
    """``-S`` values for flat ``overrides`` (key → Python value): see :func:`render`."""
    return render({k: hydra_value(v) for k, v in overrides.items()})


def render(overrides: dict[str, str]) -> list[str]:
    """``-S`` values for flat ``overrides`` (key → value in Hydra's grammar): ``key=value``,
    and for a mapping under a :data:`REPLACED` key ``~key`` then ``+key={...}`` (replace,
    not merge)."""
    out = []
    for key, value in overrides.items():
        if key in REPLACED and value.startswith("{"):
            out += [f"~{key}", f"+{key}={value}"]
        else:
            out.append(f"{key}={value}")
    return out


def profile_overrides(name: str | Path) -> dict[str, str]:
    """The profile's keys, flat, each value in Hydra's grammar (for :func:`render`)."""
    return {k: hydra_value(v) for k, v in flatten(load_profile(name)).items()}


def compose(overrides: list[str], base: str | Path = "params.yaml") -> dict[str, Any]:
    """params.yaml after ``-S`` ``overrides``, composed by DVC's own code."""
    from dvc.exceptions import InvalidArgumentError
    from dvc.utils.hydra import apply_overrides

    with tempfile.TemporaryDirectory() as tmp:
        params = Path(tmp) / "params.yaml"
        params.write_text(Path(base).read_text())
        try:
            apply_overrides(str(params), overrides)
        except InvalidArgumentError as exc:
            cause = exc.__cause__ or exc
            first = str(cause).strip().splitlines()[0]
            raise ProfileError(f"{base}: an override cannot be applied: {first}") from None
        return yaml.safe_load(params.read_text())


def composed(name: str | Path, extra: list[str] = (), base: str | Path = "params.yaml") -> dict:
    """params.yaml with profile ``name`` and then the ``-S`` ``extra`` applied."""
    return compose(set_params(flatten(load_profile(name))) + list(extra), base)


def validate(name: str | Path, extra: list[str] = (), base: str | Path = "params.yaml"):
    """The composed params, validated (:class:`pipeline.config.Params`)."""
    raw = composed(name, extra, base)
    return parse_params(raw, f"{profile_path(name)} on {base}")


def exp_run_command(
    name: str | Path, extra: list[str] = (), exp_name: str | None = None, queue: bool = False
) -> list[str]:
    """``dvc exp run`` with the profile's keys (then ``extra``) as ``-S``."""
    cmd = ["dvc", "exp", "run"] + (["--queue"] if queue else [])
    cmd += ["-n", exp_name] if exp_name else []
    for item in set_params(flatten(load_profile(name))) + list(extra):
        cmd += ["-S", item]
    return cmd


def differences(run: dict, reference: dict) -> list[tuple[str, Any, Any]]:
    """``(key, run's value, reference's value)`` for every key (flattened; a
    :data:`REPLACED` mapping compared whole) whose value differs, :data:`NO_EFFECT`
    sections left out."""
    a, b = flatten(run), flatten(reference)
    keys = [k for k in dict.fromkeys([*a, *b]) if k.split(".")[0] not in NO_EFFECT]
    return [(k, a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)]
