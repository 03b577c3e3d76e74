"""carecore demo on PostgreSQL, through the installed plugin and the real CLI."""

from __future__ import annotations

import psycopg
from click.testing import CliRunner

from carecore.cli import make_app


def test_demo_runs_on_postgres_and_reruns_add_nothing(postgres_url):
    runner = CliRunner()
    app = make_app()
    first = runner.invoke(app, ["demo", "--month", "2026-03", "--db", postgres_url])
    assert first.exit_code == 0, first.output
    assert "billing (cms-2026):" in first.output
    again = runner.invoke(app, ["demo", "--month", "2026-03", "--db", postgres_url])
    assert again.exit_code == 0, again.output
    assert f"store: {postgres_url}: 0 records added" in again.output
    check = runner.invoke(app, ["db", "check", postgres_url])
    assert check.exit_code == 0, check.output
    assert "consistent" in check.output
    with psycopg.connect(postgres_url) as conn:
        patients = conn.execute("SELECT count(*) FROM patients").fetchone()[0]
        lines = conn.execute(
            "SELECT count(*) FROM claim_lines WHERE period_start = '2026-03-01'"
        ).fetchone()[0]
        closes = conn.execute(
            "SELECT count(*) FROM audit WHERE kind = 'ClaimLine' AND action = 'delete'"
        ).fetchone()[0]
    assert patients == 12
    assert lines > 0
    assert closes == lines  # the second close replaced the first one's lines
