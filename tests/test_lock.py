"""The hash-pinned lock files in requirements/ agree with pyproject.toml (tools/lock.sh
refreshes them): every requirement of the project (and of the extras a lock is made with)
is pinned, to a version inside pyproject's range, with hashes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
# lock file -> the extras it is compiled with (tools/lock.sh)
LOCKS = {"lock.txt": (), "lock-test.txt": ("test",), "lock-gpu.txt": ("gpu",)}
# The platform the locks are for: CPython 3.11 on x86-64 Linux.
ENV = {"python_version": "3.11", "python_full_version": "3.11.0", "sys_platform": "linux",
       "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
       "implementation_name": "cpython", "platform_python_implementation": "CPython"}  # fmt: skip


def parse_lock(text: str) -> dict[str, tuple[Version, int]]:
    """name -> (pinned version, number of hashes) of a `uv pip compile --generate-hashes` file."""
    pins: dict[str, tuple[Version, int]] = {}
    for block in re.split(r"\n(?=\S)", text):
        m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(\S+)", block)
        if m is None:
            if block.strip() and not block.startswith("#"):
                raise ValueError(f"not a pinned requirement: {block.splitlines()[0]!r}")
            continue
        pins[canonicalize_name(m[1])] = (Version(m[3]), block.count("--hash=sha256:"))
    return pins


def direct_requirements(extras: tuple[str, ...]) -> list[Requirement]:
    """pyproject's dependencies plus those of ``extras``, self-references (affwild[ray])
    expanded, markers evaluated for the locked platform."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    name = canonicalize_name(project["name"])
    optional = project.get("optional-dependencies", {})
    out, todo, seen = [], list(project["dependencies"]), set()
    for extra in extras:
        todo += optional[extra]
    while todo:
        req = Requirement(todo.pop())
        if canonicalize_name(req.name) == name:
            for extra in req.extras - seen:
                seen.add(extra)
                todo += optional[extra]
            continue
        if req.marker is None or req.marker.evaluate(ENV):
            out.append(req)
    return out


def mismatches(lock_text: str, extras: tuple[str, ...]) -> list[str]:
    pins = parse_lock(lock_text)
    problems = [f"{n}=={v} has no hash" for n, (v, hashes) in pins.items() if hashes == 0]
    for req in direct_requirements(extras):
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"{req} is not in the lock")
        elif not req.specifier.contains(pin[0], prereleases=True):
            problems.append(f"{req.name}=={pin[0]} is outside pyproject's {req}")
    return problems


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_lock_matches_pyproject(lock):
    problems = mismatches((ROOT / "requirements" / lock).read_text(), LOCKS[lock])
    assert not problems, f"requirements/{lock} disagrees with pyproject.toml " + (
        "(refresh it: tools/lock.sh):\n" + "\n".join(problems)
    )


def test_the_check_catches_a_pin_out_of_range_a_missing_package_and_no_hash():
    lock = (ROOT / "requirements" / "lock.txt").read_text()
    assert mismatches(lock, ()) == []
    moved = re.sub(r"^numpy==\S+", "numpy==2.1.0", lock, flags=re.M)
    assert mismatches(moved, ()) == ["numpy==2.1.0 is outside pyproject's numpy<2,>=1.26"]
    dropped = re.sub(r"^click==.*?(?=\n\S)", "", lock, flags=re.M | re.S)
    assert "click<9,>=8.1 is not in the lock" in mismatches(dropped, ())
    unhashed = re.sub(r"^(pyyaml==\S+) \\\n(    --hash=\S+( \\)?\n)+", r"\1\n", lock, flags=re.M)
    assert "pyyaml==" in unhashed and any("no hash" in p for p in mismatches(unhashed, ()))
    # the test extra pulls in ray through affwild[ray]
    assert "ray==2.60.*" in {str(r) for r in direct_requirements(("test",))}


def test_the_readme_and_ci_install_from_the_lock():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- test-command -->")[1].split("<!-- /test-command -->")[0]
    assert "pip install --require-hashes -r requirements/uv.txt && uv pip install" in block
    # --compile-bytecode: uv writes no .pyc by itself, and where PYTHONDONTWRITEBYTECODE is set
    # (as on CI here) every process of the suite would then compile TensorFlow from source
    uv = "uv pip install --compile-bytecode --require-hashes -r requirements/lock"
    assert f"{uv}-test.txt" in block
    assert f"{uv}.txt" in readme


def test_the_installer_is_pinned_as_in_the_test_lock():
    """requirements/uv.txt (installed by pip first) pins the uv of lock-test.txt, hashed."""
    uv = parse_lock((ROOT / "requirements" / "uv.txt").read_text())
    assert set(uv) == {"uv"} and uv["uv"][1] > 0
    assert uv["uv"][0] == parse_lock((ROOT / "requirements" / "lock-test.txt").read_text())["uv"][0]
