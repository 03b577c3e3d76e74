"""`carecore report` in partitions on PostgreSQL gives the whole store's numbers (issue 23).

The demo writes a small year into the plugin's throwaway cluster; the report's
measures, worklists, eligibility and practice view computed 1, 7 and 64
partitions at a time equal those of every record read at once: the rows the
store returns per partition, in its key order, combine to the same answer.
"""

from __future__ import annotations

from click.testing import CliRunner

from carecore.cli import make_app
from carecore.metrics import program_report
from carecore.model import ServicePeriod
from carecore.report._build import program_parts
from carecore.report._view import practice_view
from carecore.service import CareProgram

SMALL = ["--patients", "40", "--months", "6", "--last-month", "2026-06", "--no-progress"]


def test_the_report_in_partitions_is_the_whole_stores(postgres_url, tmp_path):
    result = CliRunner().invoke(
        make_app(), ["demo", *SMALL, "--db", postgres_url, "--out", str(tmp_path / "report")]
    )
    assert result.exit_code == 0, result.output
    period = ServicePeriod(
        start=ServicePeriod.month(2026, 1).start, end=ServicePeriod.month(2026, 6).end
    )
    options = {
        "period": period,
        "as_of": period.end,
        "time_zone": "America/Chicago",
        "intervention": ServicePeriod.month(2026, 4).start,
    }
    with CareProgram.open(postgres_url, actor="test") as program:
        whole = program_report(program.program_data(), **options)
        view = practice_view(whole)
        assert whole.eligibility
        assert any(w.items for w in whole.worklists)
        for count in (1, 7, 64):
            report, part_view, _names = program_parts(
                program, reason="test", partitions=count, **options
            )
            assert report == whole, count
            assert part_view == view, count
