"""A small demo store shared by the privacy tests (built once per session)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from carecore.cli import make_app


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory):
    """The URL of a demo store (10 patients, 3 months), to be read, never changed."""
    pytest.importorskip("carecore_fhir", reason="the demo needs the carecore-fhir plugin")
    pytest.importorskip("carecore_hl7v2", reason="the demo needs the carecore-hl7v2 plugin")
    folder = tmp_path_factory.mktemp("privacy-demo")
    url = f"sqlite:///{folder / 'demo.db'}"
    args = ["demo", "--patients", "10", "--months", "3", "--last-month", "2026-06"]
    result = CliRunner().invoke(
        make_app(), [*args, "--no-progress", "--db", url, "--out", str(folder / "r")]
    )
    assert result.exit_code == 0, result.output
    return url
