"""The practice manager's page: its cards and funnel are the metrics API's numbers; names only with PHI."""

from __future__ import annotations

import re

import pendulum
import pytest

from carecore import errors
from carecore.metrics import (
    billable_rate,
    enrolled_patients,
    expected_revenue,
    minutes_per_patient_month,
    program_report,
)
from carecore.model import ServiceFamily, ServicePeriod
from carecore.report import practice_view, write_report
from carecore.report._labels import money, percent

from . import world
from .world import Q1, TZ

pytest.importorskip("matplotlib", reason="the report's plots need matplotlib (carecore[report])")
pytest.importorskip("jinja2", reason="the report's pages need jinja2 (carecore[report])")

MARCH = ServicePeriod.month(2026, 3)
FEBRUARY = ServicePeriod.month(2026, 2)
CCM = ServiceFamily.CCM


@pytest.fixture(scope="module")
def report():
    return program_report(world.data(), period=Q1, time_zone=TZ)


def test_cards_are_the_metrics_of_the_last_month_against_the_one_before(report):
    data = world.data()
    view = practice_view(report)
    assert view.month == MARCH
    assert view.previous == FEBRUARY
    cards = {c.label: c for c in view.cards}
    rate = billable_rate(data.claim_lines, data.enrollments, period=MARCH, family=CCM)
    assert cards["Billable rate"].value == percent(rate.value)
    assert f"{rate.numerator:.0f} of {rate.denominator:.0f}" in cards["Billable rate"].detail
    revenue = expected_revenue(data.claim_lines, period=MARCH, family=CCM)
    assert cards["Revenue (approximate)"].value == money(revenue.value)
    before = expected_revenue(data.claim_lines, period=FEBRUARY, family=CCM)
    assert money(abs(revenue.numerator - before.numerator)) in cards["Revenue (approximate)"].change
    assert "from February 2026" in cards["Revenue (approximate)"].change
    enrolled = enrolled_patients(data.enrollments, period=MARCH, family=CCM)
    assert cards["Enrolled patients"].value == f"{enrolled.numerator:.0f}"


def test_funnel_steps_and_their_counts(report):
    data = world.data()
    steps = {s.label: s.count for s in practice_view(report).funnel}
    assert list(steps) == [
        "Identified",
        "Eligible",
        "Outreached",
        "Consented",
        "Enrolled",
        "Billed",
    ]
    assert steps["Identified"] == len(data.patients)
    assert (
        steps["Enrolled"] == enrolled_patients(data.enrollments, period=MARCH, family=CCM).numerator
    )
    billed = billable_rate(data.claim_lines, data.enrollments, period=MARCH, family=CCM).numerator
    assert steps["Billed"] == billed


def test_revenue_by_month_adds_up_to_the_revenue_measure(report):
    view = practice_view(report)
    total = sum((sum(m.values()) for m in view.revenue_by_month.values()), start=0)
    assert total == report.measure("expected_revenue").numerator
    assert list(view.revenue_by_month) == ["2026-01", "2026-02", "2026-03"]


def pages(files):
    return "".join(p.read_text(encoding="utf-8") for p in (files.index, *files.pages))


def test_names_only_with_phi(report, tmp_path):
    with_names = write_report(report, tmp_path / "phi")
    without = write_report(report, tmp_path / "no-phi", phi=False)
    family_name = world.data().patients[0].family_name
    assert family_name in pages(with_names)
    assert family_name not in pages(without)
    work = (tmp_path / "no-phi" / "worklist.html").read_text(encoding="utf-8")
    assert "patient ids" in work


def test_small_numbers_are_flagged_and_rates_read_as_percentages(report, tmp_path):
    files = write_report(report, tmp_path)
    html = files.index.read_text(encoding="utf-8")
    assert "Small numbers:" in html  # a handful of ED visits and admissions
    utilisation = re.search(r'<table data-table="utilisation">(.*?)</table>', html, re.DOTALL)
    assert utilisation is not None
    rows = utilisation.group(1)
    assert "ED visits per 1,000" in rows
    assert "Admissions per 1,000" in rows
    assert "30-day readmissions" in rows
    assert "ed_visits_per_1000" not in html
    assert not re.search(r">0\.\d{4}<", html)  # no raw fractions in cells
    assert 'id="funnel"' in html
    assert html.index('id="headline"') < html.index('id="funnel"') < html.index('id="revenue"')


def test_default_period_is_the_last_complete_month_in_the_practice_zone():
    from carecore._cli_report import _period

    zone = "Pacific/Kiritimati"  # UTC+14: its "today" is often a day ahead of UTC's
    today = pendulum.today(zone).date()
    last = today.start_of("month").subtract(days=1)
    period = _period(None, None, zone)
    assert period.end == last
    assert period.start == last.start_of("month").subtract(months=11)


def test_quarter_cards_are_the_metrics_of_the_quarter_against_the_one_before(report):
    data = world.data()
    view = practice_view(report, headline="quarter")
    assert view.headline == Q1
    assert str(view.previous) == "2025-10-01..2025-12-31"
    assert view.month == MARCH  # the funnel stays on the last month
    rate = billable_rate(data.claim_lines, data.enrollments, period=Q1, family=CCM)
    cards = {c.label: c for c in view.cards}
    assert cards["Billable rate"].value == percent(rate.value)
    assert "from Q4 2025" in cards["Billable rate"].change
    assert view.title.endswith("Q1 2026")


def test_an_unknown_headline_is_refused(report):
    with pytest.raises(errors.InvalidValue) as info:
        practice_view(report, headline="week")
    assert info.value.field == "headline"


def test_default_quarter_is_the_last_complete_quarter():
    from carecore._cli_report import _period

    zone = "America/Chicago"
    today = pendulum.today(zone).date()
    quarter_start = today.start_of("month").replace(month=(today.month - 1) // 3 * 3 + 1)
    last = quarter_start.subtract(days=1)
    assert _period(None, None, zone, "quarter").end == last


def test_minutes_per_patient_add_up_to_the_month_measure(report):
    data = world.data()
    view = practice_view(report)
    month = minutes_per_patient_month(data.time_entries, data.enrollments, period=MARCH, family=CCM)
    assert sum(view.minutes) == month.numerator
    assert len(view.minutes) == month.denominator


def test_the_report_is_readable_by_its_owner_only(report, tmp_path):
    out = tmp_path / "new" / "report"
    files = write_report(report, out)
    assert out.stat().st_mode & 0o777 == 0o700
    for path in (files.index, *files.pages, *files.csv, *files.png):
        assert path.stat().st_mode & 0o777 == 0o600, path.name


def test_the_command_prints_labels_percentages_and_counts(tmp_path):
    from click.testing import CliRunner

    from carecore.cli import make_app
    from carecore.plugins import get_plugin_manager
    from carecore.service import CareProgram

    url = f"sqlite:///{tmp_path / 'program.db'}"
    d = world.data()
    with CareProgram.open(url) as program:
        for group in (d.patients, d.enrollments, d.time_entries, d.claim_lines):
            program.import_records(group, reason="test world")
    app = make_app(get_plugin_manager(entry_points=False))
    args = ["report", "--db", url, "--out", str(tmp_path / "r"), "--from", "2026-01"]
    result = CliRunner().invoke(app, [*args, "--to", "2026-03", "--time-zone", TZ, "--no-phi"])
    assert result.exit_code == 0, result.output
    assert "Billable rate" in result.output
    assert "billable_rate" not in result.output
    assert re.search(r"Billable rate\s+\d+\.\d%\s+\(\d+ / \d+\)", result.output)
    assert "Lopez" not in (tmp_path / "r" / "worklist.html").read_text(encoding="utf-8")


def test_the_worklist_page_counts_in_words(report, tmp_path):
    # Review of issue 22 (messages): the page read "18 item(s)" and "overdue 3 day(s)".
    write_report(report, tmp_path / "r")
    work = (tmp_path / "r" / "worklist.html").read_text(encoding="utf-8")
    assert "(s)" not in work
    assert re.search(r": \d+ items?, caseload", work)
    assert re.search(r"overdue \d+ days?<|due today|due in \d+ days?<", work)
