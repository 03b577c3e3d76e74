"""carecore demo on PostgreSQL, through the installed plugin and the real CLI."""

from __future__ import annotations

import psycopg
from click.testing import CliRunner

from carecore.cli import make_app

SMALL = ["--patients", "20", "--months", "3", "--last-month", "2026-03", "--no-progress"]


def test_demo_runs_on_postgres_and_refuses_a_store_that_is_not_empty(postgres_url, tmp_path):
    runner = CliRunner()
    app = make_app()
    out = tmp_path / "report"
    first = runner.invoke(app, ["demo", *SMALL, "--db", postgres_url, "--out", str(out)])
    assert first.exit_code == 0, first.output
    assert (out / "index.html").is_file()
    again = runner.invoke(app, ["demo", *SMALL, "--db", postgres_url, "--out", str(out)])
    assert again.exit_code == 2
    assert "empty store" in again.output
    check = runner.invoke(app, ["db", "check", postgres_url])
    assert check.exit_code == 0, check.output
    assert "consistent" in check.output
    with psycopg.connect(postgres_url) as conn:
        generated = conn.execute("SELECT count(*) FROM patients WHERE id LIKE 'p-%'").fetchone()[0]
        months = conn.execute(
            "SELECT count(DISTINCT period_start) FROM claim_lines WHERE family = 'CCM'"
        ).fetchone()[0]
        adt = conn.execute(
            "SELECT count(*) FROM adt_events WHERE source_key LIKE 'RGH/%'"
        ).fetchone()[0]
    assert generated == 20
    assert months == 3  # January to March closed, one CCM period each
    assert adt == 2  # the MLLP admission and discharge; the resend was stored once
