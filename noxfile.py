# /// script
# dependencies = ["nox>=2025.2.9"]
# ///
"""Development tasks for carecore. ``nox -l`` lists them; a bare ``nox`` runs the fast ones."""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = not os.environ.get("CI")

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml("pyproject.toml")
PLUGINS = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())
TEST = nox.project.dependency_groups(PYPROJECT, "test")
TYPING = nox.project.dependency_groups(PYPROJECT, "typing")
DOCS = nox.project.dependency_groups(PYPROJECT, "docs")
LINT = nox.project.dependency_groups(PYPROJECT, "lint")


@nox.session
def tests(session: nox.Session) -> None:
    """Core test suite and docstring examples, against the installed package (not the tree).

    The demo (tests/test_demo.py) runs the FHIR and HL7 v2 plugins, as the README's
    first command installs them; the redaction tests send through the webhook, SMS
    and e-mail channels of the HTTP and e-mail plugins.
    """
    session.install(
        ".[testing,report]",
        *(f"./plugins/carecore-{name}" for name in ("fhir", "hl7v2", "http", "email")),
        *TEST,
    )
    # Spread over the machine's cores (pytest-xdist); pytest-cov gathers the workers'
    # coverage into one report and fails the run under 85 %.
    env = {"COVERAGE_FILE": str(ROOT / ".coverage.core")}
    session.run(
        "pytest",
        "-n",
        "auto",
        "--cov",
        "--cov-branch",
        "--cov-report=term-missing:skip-covered",
        "--cov-fail-under=85",
        "--durations=25",  # the slowest tests, to keep the suite inside CI's budget
        *session.posargs,
        env=env,
    )
    session.run("pytest", "--doctest-modules", "--pyargs", "carecore", "-p", "no:cacheprovider")


def _with_test_extra(plugin: str) -> str:
    """``./plugins/<plugin>[test]`` when the plugin declares a ``test`` extra (test servers)."""
    project = nox.project.load_toml(f"plugins/{plugin}/pyproject.toml")["project"]
    extras = project.get("optional-dependencies", {})
    return f"./plugins/{plugin}[test]" if "test" in extras else f"./plugins/{plugin}"


@nox.session
def tests_without_polars(session: nox.Session) -> None:
    """Billing tests without the fast extra: the close falls back to the reference engine."""
    session.install(".[testing]", *(d for d in TEST if not d.startswith("polars")))
    session.run("pytest", "-n", "auto", "tests/billing", *session.posargs)


@nox.session
@nox.parametrize("plugin", PLUGINS)
def plugin_tests(session: nox.Session, plugin: str) -> None:
    """One plugin distribution against the local core, contract suites included.

    A plugin's ``test`` extra is installed too: carecore-fhir's brings the sekmet-fhir
    server its REST tests run against (they fail without it).
    """
    package = plugin.replace("-", "_")
    # The PostgreSQL plugin's tests run carecore demo on PostgreSQL, the X12 plugin's
    # send a demo month's claims, and the FHIR plugin's export every demo patient: the demo
    # needs the FHIR and HL7 v2 plugins, as the README's first command installs them.
    demo = (
        [
            p
            for p in ("./plugins/carecore-fhir", "./plugins/carecore-hl7v2")
            if p != f"./plugins/{plugin}"
        ]
        if plugin in {"carecore-postgres", "carecore-x12", "carecore-fhir"}
        else []
    )
    session.install(".[testing,report]", _with_test_extra(plugin), *demo, *TEST)
    session.run("pytest", "-n", "auto", f"plugins/{plugin}/tests", *session.posargs)
    session.run("pytest", "--doctest-modules", "--pyargs", package, "-p", "no:cacheprovider")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, and cog --check on generated docs."""
    session.install(".", *LINT)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run(
        "cog", "--check", "docs/reference/cli.md", "docs/billing/sources.md", "docs/billing/fees.md"
    )


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/, every plugin's src/ and typing_tests/."""
    session.install(".[testing]", *(f"./plugins/{p}" for p in PLUGINS), *TYPING)
    session.run("mypy", "src", "typing_tests", *(f"plugins/{p}/src" for p in PLUGINS))


@nox.session(default=False)
def docs(session: nox.Session) -> None:
    """Build the docs with warnings as errors, and run their doctests."""
    session.install(".[testing]", *DOCS)
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")
    session.run(
        "sphinx-build",
        "-W",
        "--keep-going",
        "-b",
        "doctest",
        "docs",
        "docs/_build/doctest",
    )


@nox.session
def faults(session: nox.Session) -> None:
    """Fault and fuzz suites with fixed seeds (SIGKILLs, peers down, hostile input): one table.

    Fails on anything lost, any untyped error, or a message sent twice outside the
    documented crash window; the run is bounded to 5 minutes.
    """
    session.install(
        ".[testing]",
        "./plugins/carecore-fhir",
        "./plugins/carecore-hl7v2",
        "./plugins/carecore-http",
        "./plugins/carecore-email",
        "aiosmtpd>=1.4",
    )
    session.run("python", "tests/faults/suite.py", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks, reported as ratios against a baseline measured in the same run."""
    session.install(
        ".[testing,fast,dask,report]",
        "./plugins/carecore-postgres",
        "./plugins/carecore-hl7v2",
        "./plugins/carecore-email",
        "./plugins/carecore-fhir",
        "aiosmtpd",
    )
    session.run("python", "bench/run.py", *session.posargs)
