"""Nothing a user reads points at the private research inputs.

The billing rules were written from a research specification and shared test
inputs that are not shipped. Users have the package, its docs, the plugins and
the CLI; every citation there has to resolve in one of those (a docs page or a
source tag of ``carecore.billing.sources``), never in a file they do not have.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import carecore
from carecore.cli import make_app
from carecore.plugins import get_plugin_manager

from .inputs import ROOT

#: What a private citation looks like: the specification's or the design
#: notes' file names, a path into the shared inputs, or one of the
#: specification's numbered sections ("§15.4"; a CFR section such as
#: "42 CFR §410.26" is a public text and allowed).
PRIVATE = re.compile(
    r"SPEC\.md|shared/billing|shared/data|\bCSV\.md\b"
    r"|\b(?:DESIGN|STYLE|ECOSYSTEM)\.md\b|CAREPLAN-STANDARDS"
    r"|(?<!CFR )§\s?[0-9]"
)

_BINARY = {".gz", ".pyc", ".zip", ".png", ".jpg", ".ico", ".sqlite", ".db", ".parquet"}


def _text_files(root: Path) -> list[Path]:
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file()
        and path.suffix not in _BINARY
        and "__pycache__" not in path.parts
        and "_build" not in path.parts
    )


def hits(paths: list[Path], base: Path) -> list[str]:
    """``file:line: text`` for every private citation in *paths*."""
    found = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if PRIVATE.search(line):
                where = path.relative_to(base) if path.is_relative_to(base) else path
                found.append(f"{where}:{number}: {line.strip()}")
    return found


def user_facing_files(root: Path, package: Path) -> list[Path]:
    """The installed package, the plugins' shipped code and READMEs, the docs and changelogs."""
    paths = _text_files(package)
    for plugin in sorted((root / "plugins").iterdir()):
        if (plugin / "src").is_dir():
            paths += _text_files(plugin / "src")
        paths += [p for p in (plugin / "README.md", plugin / "CHANGELOG.md") if p.is_file()]
    paths += _text_files(root / "docs")
    paths += [root / "README.md", root / "CHANGELOG.md"]
    paths += sorted((root / "changelog.d").glob("*.md"))
    return paths


def test_the_scan_sees_the_package_and_the_docs():
    package = Path(carecore.__file__).parent
    paths = user_facing_files(ROOT, package)
    names = {p.name for p in paths}
    assert {"_engine.py", "sources.py", "_eligibility.py", "index.md", "README.md"} <= names
    assert any(p.suffix == ".csv" for p in paths)
    # The scanner finds what it looks for.
    probe = ROOT / "tests" / "test_no_private_citations.py"
    assert hits([probe], ROOT)
    assert PRIVATE.search("the 30-day rule (§3 rule 8)")
    assert not PRIVATE.search("incident-to rules, 42 CFR §410.26")
    assert PRIVATE.search("differs from `STYLE.md` where it does")


def test_no_user_facing_file_cites_the_private_inputs():
    package = Path(carecore.__file__).parent
    found = hits(user_facing_files(ROOT, package), ROOT)
    assert not found, "private citations:\n" + "\n".join(found)


def _commands(group, prefix=()):
    out = [prefix]
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            out += _commands(command, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


APP = make_app(get_plugin_manager(entry_points=False))


@pytest.mark.parametrize("command", _commands(APP), ids=lambda c: " ".join(c) or "carecore")
def test_cli_help_cites_nothing_private(command):
    result = CliRunner().invoke(APP, [*command, "--help"], prog_name="carecore")
    assert result.exit_code == 0, result.output
    assert not PRIVATE.search(result.output), result.output


def data_and_bench_files(root: Path) -> list[Path]:
    """The tests' data files (shipped with the repository) and the benchmarks."""
    paths = _text_files(root / "bench")
    for data in sorted([*root.glob("tests/**/data"), *root.glob("plugins/*/tests/**/data")]):
        if data.is_dir():
            paths += _text_files(data)
    return paths


def test_test_data_and_benchmarks_cite_nothing_private():
    paths = data_and_bench_files(ROOT)
    assert ROOT / "tests" / "billing" / "data" / "more_scenarios.json" in paths
    assert ROOT / "bench" / "run.py" in paths
    found = hits(paths, ROOT)
    assert not found, "private citations:\n" + "\n".join(found)
