"""A failed demo leaves a store the next run names a way on from: --fresh starts over, and says so."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from carecore import _demo
from carecore.cli import make_app

pytest.importorskip("carecore_fhir")
pytest.importorskip("carecore_hl7v2")

SMALL = ["--patients", "40", "--months", "3", "--last-month", "2026-03", "--no-progress"]


def test_fresh_starts_over_after_a_failed_demo(tmp_path, monkeypatch):
    """Before, the second run was refused with 'store not empty' and no way on."""
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'mine.db'}"
    app = make_app()

    def dies(*_args):
        raise KeyboardInterrupt  # killed part way: the practice is stored, the year is not

    with monkeypatch.context() as m:
        m.setattr(_demo, "_close_month", dies)
        failed = CliRunner().invoke(app, ["demo", *SMALL, "--db", url])
    assert failed.exit_code != 0
    refused = CliRunner().invoke(app, ["demo", *SMALL, "--db", url])
    assert refused.exit_code == 2, refused.output
    assert "--fresh" in refused.output
    again = CliRunner().invoke(app, ["demo", *SMALL, "--db", url, "--fresh"])
    assert again.exit_code == 0, again.output
    assert "starting over: removed the earlier demo store" in again.output
    check = CliRunner().invoke(app, ["db", "check", url])
    assert check.exit_code == 0, check.output


def test_fresh_refuses_a_store_it_cannot_replace(tmp_path):
    result = CliRunner().invoke(
        make_app(), ["demo", *SMALL, "--db", "postgresql://127.0.0.1:1/x", "--fresh"]
    )
    assert result.exit_code == 2, result.output
    assert "--fresh replaces a SQLite file only" in result.output
