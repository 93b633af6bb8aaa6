"""The documentation stays short at the top and its links lead somewhere.

README.md is what a newcomer reads first: it stays at most ``README_MAX_LINES`` lines, the rest
lives in docs/. Every relative link in README.md, docs/*.md and benchmarks/README.md must name a
file of the repository, and a ``#fragment`` into a Markdown file must name one of its headings
(GitHub's anchor rule). The results quoted in README.md and docs/results-and-choices.md are
those of ``seeds/report.md``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 180
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def doc_files() -> list[Path]:
    return [
        ROOT / "README.md",
        ROOT / "benchmarks" / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
    ]


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    out, fenced = [], False
    for i, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((i, line))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for _, line in _prose_lines(path.read_text(encoding="utf-8")):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def broken_links(path: Path) -> list[str]:
    """Every relative link of ``path`` that names no file, or no heading of the file."""
    problems = []
    for lineno, line in _prose_lines(path.read_text(encoding="utf-8")):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            file_part, _, fragment = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{lineno}"
            if not dest.exists():
                problems.append(f"{where}: {target} (no such file)")
            elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
                problems.append(f"{where}: {target} (no heading #{fragment} in {dest.name})")
    return problems


def test_readme_is_short():
    n = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert n <= README_MAX_LINES, (
        f"README.md has {n} lines (at most {README_MAX_LINES}): move detail into docs/"
    )


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path):
    assert path.exists()
    assert broken_links(path) == []


def test_link_check_catches_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## Some `code` here, too\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n"
        "[ok](other.md#some-code-here-too) [ok](#page) [web](https://example.org/x.md)\n"
        "```\n[inside a fence](nowhere.md)\n```\n"
        "[gone](nowhere.md) [bad anchor](other.md#no-such-heading) ![img](missing.png)\n"
    )
    problems = broken_links(page)
    assert len(problems) == 3, problems
    assert any("nowhere.md (no such file)" in p for p in problems)
    assert any("#no-such-heading" in p for p in problems)
    assert any("missing.png" in p for p in problems)


def _table_rows(text: str) -> list[str]:
    """The data rows of the first Markdown table in ``text`` (header and rule left out)."""
    rows, in_table = [], False
    for line in text.splitlines():
        if line.startswith("|"):
            in_table = True
            rows.append(line.strip())
        elif in_table:
            break
    return rows[2:]


def test_results_in_the_docs_are_the_seed_report():
    """The README's and the results page's table are `seeds/report.md`'s, row for row, and the
    results page quotes every paired interval of it: re-running the seeds without updating the
    documentation fails here."""
    report = (ROOT / "seeds" / "report.md").read_text(encoding="utf-8")
    rows = _table_rows(report)
    assert rows, "seeds/report.md has no table"
    results = (
        (ROOT / "docs" / "results-and-choices.md").read_text(encoding="utf-8").replace("−", "-")
    )
    for page, text in (
        ("README.md", (ROOT / "README.md").read_text(encoding="utf-8")),
        ("docs/results-and-choices.md", results),
    ):
        missing = [r for r in rows if r not in text.splitlines()]
        assert not missing, f"{page} lacks these rows of seeds/report.md: {missing}"
    intervals = re.findall(r"difference ([-+]\d\.\d+ to [-+]\d\.\d+)", report)
    assert intervals, "seeds/report.md has no paired comparisons"
    missing = [i for i in intervals if f"({i})" not in results]
    assert not missing, f"docs/results-and-choices.md lacks these paired intervals: {missing}"


def test_package_docstring_lists_every_part():
    """pipeline/__init__.py is the map of the library: every subpackage and module has its line."""
    import ast

    pkg = ROOT / "pipeline"
    parts = sorted(
        p.stem if p.is_file() else p.name
        for p in pkg.iterdir()
        if (p.is_file() and p.suffix == ".py" and p.name != "__init__.py")
        or (p.is_dir() and (p / "__init__.py").exists())
    )
    assert len(parts) > 10
    doc = ast.get_docstring(ast.parse((pkg / "__init__.py").read_text(encoding="utf-8"))) or ""
    missing = [name for name in parts if f"``pipeline.{name}``" not in doc]
    assert not missing, f"pipeline/__init__.py's docstring does not list: {missing}"
