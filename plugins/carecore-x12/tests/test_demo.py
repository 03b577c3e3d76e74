"""The acceptance path: after ``carecore demo``, a demo month's claims are a valid 837P.

The demo needs the carecore-fhir and carecore-hl7v2 plugins (as the README's first
command installs them).
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal

import pytest
from _x12 import pyx12_errors, segments
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.plugins import get_plugin_manager

pytest.importorskip("carecore_fhir")
pytest.importorskip("carecore_hl7v2")

SMALL = ["--patients", "30", "--months", "3", "--last-month", "2026-11", "--no-progress"]


def test_every_demo_month_sends_a_valid_837p_totalling_its_claim_lines(tmp_path):
    app = make_app(get_plugin_manager())
    db = tmp_path / "demo.db"
    url = f"sqlite:///{db}"
    ran = CliRunner().invoke(app, ["demo", *SMALL, "--db", url, "--out", str(tmp_path / "r")])
    assert ran.exit_code == 0, ran.output
    with sqlite3.connect(db) as connection:
        months = connection.execute(
            "SELECT substr(period_start, 1, 7), count(*), sum(CAST(amount AS TEXT)) "
            "FROM claim_lines GROUP BY 1"
        ).fetchall()
        stored = {
            month: sorted(
                Decimal(a)
                for (a,) in connection.execute(
                    "SELECT amount FROM claim_lines WHERE substr(period_start, 1, 7) = ?",
                    (month,),
                )
            )
            for month, _count, _sum in months
        }
    assert len(months) == 3
    for month, count, _sum in months:
        out = tmp_path / f"claims-{month}.837"
        result = CliRunner().invoke(
            app,
            ["billing", "claims", "--db", url, "--month", month, "--format", "x12",
             "--out", str(out)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        text = out.read_text(encoding="ascii")
        assert pyx12_errors(text) == []
        charges = sorted(Decimal(s[2]) for s in segments(text) if s[0] == "SV1")
        assert len(charges) == count
        assert charges == stored[month]
        assert sum(Decimal(s[2]) for s in segments(text) if s[0] == "CLM") == sum(charges)
