"""`carecore demo` at a small size: the year runs, the report is written, and its numbers are the API's."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from carecore import errors
from carecore._demo import DemoSettings
from carecore.cli import make_app
from carecore.executors import get_executor
from carecore.metrics import program_report
from carecore.model import AdtEvent, ClaimLine, ServicePeriod, TransitionEpisode
from carecore.report._labels import label
from carecore.service import CareProgram
from tests.billing import test_store_close_executors as _executors

pytest.importorskip("carecore_fhir", reason="the demo needs the carecore-fhir plugin")
pytest.importorskip("carecore_hl7v2", reason="the demo needs the carecore-hl7v2 plugin")

#: The store close's Dask LocalCluster on 127.0.0.1 (two worker processes), shared here.
cluster = _executors.cluster

SMALL = ["--patients", "40", "--months", "6", "--last-month", "2026-06", "--no-progress"]
FILES = {
    "index.html",
    "measures.csv",
    "enrollment_by_month.csv",
    "minutes_by_month.csv",
    "pmpm.csv",
    "before_after.csv",
    "caseload.csv",
    "worklist.csv",
    "risk.csv",
    "eligibility.csv",
    "a1c.csv",
    "enrollment.png",
    "minutes.png",
    "utilization.png",
    "a1c.png",
    "revenue.png",
    "minutes_distribution.png",
    "worklist.html",
    "eligibility.html",
    "measures.html",
    "revenue_by_month.csv",
    "denials_by_reason.csv",
}


@pytest.fixture
def app(tmp_path, monkeypatch):
    # The demo's default store and report are in the working directory: keep them out of the checkout.
    # The installed plugins give the demo its FHIR source and MLLP listener (through hooks).
    from carecore.plugins import get_plugin_manager

    monkeypatch.chdir(tmp_path)
    return make_app(get_plugin_manager())


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """One small demo run in its own SQLite file, shared by the read-only tests below."""
    from carecore.plugins import get_plugin_manager

    folder = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{folder / 'demo.db'}"
    app = make_app(get_plugin_manager())
    result = CliRunner().invoke(app, ["demo", *SMALL, "--db", url, "--out", str(folder / "report")])
    assert result.exit_code == 0, result.output
    return folder, url, result.output


def test_the_demo_writes_every_report_file(ran):
    folder, _url, output = ran
    written = {p.name for p in (folder / "report").iterdir()}
    assert written >= FILES
    assert f"report: {(folder / 'report' / 'index.html').resolve()}" in output.replace("\n", "")
    html = (folder / "report" / "index.html").read_text(encoding="utf-8")
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) >= 6
    assert all((folder / "report" / name).read_bytes().startswith(b"\x89PNG") for name in images)


def test_the_report_numbers_are_the_metrics_api_numbers(ran):
    folder, url, output = ran
    with CareProgram.open(url, actor="test") as program:
        data = program.program_data()
    settings = DemoSettings(patients=40, months=6, last=ServicePeriod.month(2026, 6))
    report = program_report(
        data,
        period=settings.period,
        as_of=settings.period.end,
        time_zone="America/Chicago",
        intervention=ServicePeriod.month(2026, 4).start,
    )
    with (folder / "report" / "measures.csv").open(newline="", encoding="utf-8") as handle:
        rows = {row["measure"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {m.name for m in report.measures}
    for measure in report.measures:
        shown = rows[measure.name]["value"]
        assert shown == ("" if measure.value is None else str(measure.value)), measure.name
    # The summary shows each rate with its numerator and denominator (the readmission rate's
    # population differs from the discharges row's, so the counts say which it is).
    for measure in report.measures:
        if measure.unit == "ratio" and measure.value is not None:
            assert _row(output, label(measure.name)).endswith(
                f"({measure.numerator:,.0f} of {measure.denominator:,.0f})"
            ), measure.name
    # The headline figures are not all empty: the year produced enrollment, minutes and money.
    for name in ("enrollment_rate", "minutes_per_patient_month", "expected_revenue"):
        assert report.measure(name).value, name


def _row(output: str, start: str) -> str:
    """The result cell of the summary table's row that starts with *start*."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells and cells[0].lower().startswith(start.lower()):
            return cells[-1]
    raise AssertionError(f"no row {start!r} in the summary")


def test_the_summary_counts_are_the_stores(ran):
    _folder, url, output = ran
    with CareProgram.open(url, actor="test") as program, program.transaction("read") as tx:
        lines = tx.all(ClaimLine)
        episodes = tx.all(TransitionEpisode)
        events = tx.all(AdtEvent)
    ccm = [line for line in lines if line.family.value == "CCM"]
    assert _row(output, "Claim lines over the 6 months") == f"{len(ccm):,}"
    # One set of figures: the demo's own tallies (other populations than the measures') are gone.
    assert len(episodes) > 0
    for gone in ("Inpatient discharges", "Enrolled with consent", "Eligible for CCM"):
        with pytest.raises(AssertionError):
            _row(output, gone)
    # The discharge sent over MLLP twice (a resend) is stored once and ACKed each time.
    assert _row(output, "HL7 ADT over MLLP") == "3, AA AA AA"
    # (keys are the sending facility, MSH-4, and the control id, MSH-10)
    assert sum(e.source_key == "RGH/DEMO-A03-1" for e in events) == 1
    assert sum(e.source_key == "RGH/DEMO-A01-1" for e in events) == 1


def test_a_seed_gives_the_same_year(app, tmp_path):
    def measures(seed: int, name: str) -> str:
        out = tmp_path / name
        result = CliRunner().invoke(
            app,
            ["demo", *SMALL, "--seed", str(seed), "--db", "memory://", "--out", str(out)],
        )
        assert result.exit_code == 0, result.output
        return (out / "measures.csv").read_text(encoding="utf-8")

    first = measures(3, "a")
    assert first == measures(3, "b")
    assert first != measures(4, "c")


def test_the_default_file_is_built_anew_each_run(app, tmp_path):
    for _ in range(2):
        result = CliRunner().invoke(app, ["demo", *SMALL])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "carecore-demo.db").is_file()
    assert (tmp_path / "carecore-report" / "index.html").is_file()
    check = CliRunner().invoke(app, ["db", "check", "sqlite:///carecore-demo.db"])
    assert check.exit_code == 0, check.output
    assert "consistent" in check.output


def test_another_store_must_be_empty(app, tmp_path):
    url = f"sqlite:///{tmp_path / 'mine.db'}"
    first = CliRunner().invoke(app, ["demo", *SMALL, "--db", url])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(app, ["demo", *SMALL, "--db", url])
    assert again.exit_code == 2
    assert "db=" in again.output
    assert "empty store" in again.output
    assert "Traceback" not in again.output


@pytest.mark.parametrize(
    ("args", "name"),
    [(["--last-month", "2026-13"], "--last-month"), (["--last-month", "June"], "--last-month")],
)
def test_bad_options_are_clear_errors(app, args, name):
    result = CliRunner().invoke(app, ["demo", "--db", "memory://", *args])
    assert result.exit_code == 2
    assert name in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("changes", "name"),
    [({"patients": 0}, "patients"), ({"months": 30}, "months"), ({"seed": "x"}, "seed")],
)
def test_settings_are_checked(changes, name):
    with pytest.raises(errors.InvalidValue) as info:
        DemoSettings(**changes)
    assert info.value.field == name


def test_the_readme_command_runs_the_installed_script(tmp_path):
    script = shutil.which("carecore") or str(Path(sys.executable).with_name("carecore"))
    done = subprocess.run(
        [script, "demo", *SMALL],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "starting a new demo store carecore-demo.db"
    assert lines[1].startswith("carecore demo: chronic care management")
    assert (tmp_path / "carecore-demo.db").is_file()
    assert (tmp_path / "carecore-report" / "index.html").is_file()


def test_care_plan_tasks_belong_to_the_patients_care_manager(ran):
    # Issue 22: the physician (caseload 0) owned every care-plan task of the year, so the
    # worklist put hundreds of overdue tasks on a list nobody works.
    from carecore.model import CareTeamRole

    _folder, url, _output = ran
    with CareProgram.open(url, actor="test") as program:
        data = program.program_data()
    managers = {
        team.patient_id: member.practitioner_id
        for team in data.care_teams
        for member in team.members
        if member.role is CareTeamRole.CARE_MANAGER
    }
    # (Plans imported from the FHIR source come without a care team: not the demo's to assign.)
    tasks = [
        (plan.patient_id, task)
        for plan in data.care_plans
        if plan.patient_id in managers
        for task in plan.tasks
    ]
    assert tasks
    assert all(task.owner == managers[pid] for pid, task in tasks)


def test_the_care_managers_complete_most_tasks_as_the_year_goes(ran):
    # Issue 22: the demo completed none of its care-plan tasks, so a year of them was overdue.
    from carecore.model import TaskStatus

    _folder, url, _output = ran
    with CareProgram.open(url, actor="test") as program:
        data = program.program_data()
    last = DemoSettings(patients=40, months=6, last=ServicePeriod.month(2026, 6)).period.end
    due = [
        task
        for plan in data.care_plans
        if plan.id.startswith("p-")
        for task in plan.tasks
        if task.due is not None and task.due <= last
    ]
    done = [t for t in due if t.status is TaskStatus.COMPLETED]
    assert due
    assert all(t.outcome for t in done)
    assert len(due) // 2 < len(done) < len(due)  # most are done; some are still late


def test_the_care_managers_acknowledge_urgent_findings_the_next_day(ran):
    # Review of issue 22: every PHQ-9 finding of the year sat unacknowledged on the worklist,
    # up to 364 days old. Each is acknowledged the next day by the patient's care manager,
    # through the audited acknowledgement; one repeat screen in the last week is left open.
    from carecore.model import AssessmentResult
    from carecore.registry import urgent_findings

    _folder, url, _output = ran
    last = DemoSettings(patients=40, months=6, last=ServicePeriod.month(2026, 6)).period.end
    with CareProgram.open(url, actor="test") as program, program.transaction("test") as tx:
        urgent = [r for r in tx.all(AssessmentResult) if urgent_findings(r)]
        open_ = [r for r in urgent if r.acknowledged_by is None]
        seen = [r for r in urgent if r.acknowledged_by is not None]
        assert seen
        assert len(open_) <= 1
        assert all((last - r.on).in_days() <= 7 for r in open_)
        for r in seen:
            assert r.acknowledged_by == r.performer_id  # the patient's care manager
            assert r.acknowledged_at is not None
            assert (r.acknowledged_at.date() - r.on).in_days() <= 2
            rows = tx.audit_entries(patient_id=r.patient_id)
            assert any(
                e.action == "update" and e.key == r.id and e.actor == r.acknowledged_by
                for e in rows
            )


def test_the_care_managers_review_goals_on_schedule(ran):
    # Review of issue 22: 76 goal reviews were overdue on the demo's worklist. Goals are reviewed
    # at the end of the month they fall due in, or a week ahead (a few a month late); one not
    # met is renewed.
    from carecore.model import GoalLifecycle

    _folder, url, _output = ran
    last = DemoSettings(patients=40, months=6, last=ServicePeriod.month(2026, 6)).period.end
    with CareProgram.open(url, actor="test") as program:
        data = program.program_data()
    # (Patients who left have no more reviews: their worklist items close themselves.)
    staying = {e.patient_id for e in data.enrollments if e.status_on(last).value == "enrolled"}
    last = last.add(days=7)
    goals = [
        (plan, g)
        for plan in data.care_plans
        if plan.id.startswith("p-") and plan.patient_id in staying
        for g in plan.goals
        if g.target is not None and g.target.due <= last
    ]
    overdue = [g for _plan, g in goals if g.open]
    reviewed = [g for _plan, g in goals if g.lifecycle is GoalLifecycle.COMPLETED]
    assert reviewed
    assert len(overdue) * 5 < len(goals)  # a few late, most on schedule
    renewed = {g.id.rpartition("-r")[0] for plan, g in goals if "-r" in g.id}
    for plan, g in goals:
        if g.lifecycle is GoalLifecycle.COMPLETED and g.achievement.value == "not-achieved":
            assert any(x.id.startswith(f"{g.id}-r") for x in plan.goals) or g.id in renewed


def test_the_reports_funnel_never_grows_along_its_stages(ran):
    # Review of issue 22: the demo's funnel showed 75 outreached of 70 eligible.
    from carecore.report import practice_view

    _folder, url, _output = ran
    with CareProgram.open(url, actor="test") as program:
        data = program.program_data()
    period = DemoSettings(patients=40, months=6, last=ServicePeriod.month(2026, 6)).period
    view = practice_view(program_report(data, period=period, as_of=period.end))
    counts = [step.count for step in view.funnel]
    assert [s.label for s in view.funnel][:3] == ["Identified", "Eligible", "Outreached"]
    assert counts == sorted(counts, reverse=True)
    assert counts[2] > 0


def test_late_tasks_are_done_within_two_months(ran):
    # Review of issue 22: tasks left late stayed open for the rest of the year (up to 11 months
    # overdue on the last day's worklist). Late work is done two month-ends later.
    _folder, url, _output = ran
    period = DemoSettings(patients=40, months=6, last=ServicePeriod.month(2026, 6)).period
    with CareProgram.open(url, actor="test") as program:
        data = program.program_data()
    staying = {
        e.patient_id for e in data.enrollments if e.status_on(period.end).value == "enrolled"
    }
    overdue = [
        task
        for plan in data.care_plans
        if plan.id.startswith("p-") and plan.patient_id in staying
        for task in plan.tasks
        if task.open and task.due is not None and task.due <= period.end
    ]
    assert all(task.due >= ServicePeriod.month(2026, 5).start for task in overdue), overdue


def _section_ids(html: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)"', html)


def test_the_demos_report_is_the_report_commands_page(ran, tmp_path):
    # Issue 18: the demo's page lacked the gap-closure and adherence sections that
    # `carecore report` on the same store shows; one builder writes both.
    folder, url, _output = ran
    from carecore.plugins import get_plugin_manager

    again = tmp_path / "again"
    args = ["report", "--db", url, "--out", str(again), "--from", "2026-01", "--to", "2026-06"]
    args += ["--as-of", "2026-06-30", "--time-zone", "America/Chicago"]
    args += ["--intervention", "2026-04-01"]
    result = CliRunner().invoke(make_app(get_plugin_manager()), args)
    assert result.exit_code == 0, result.output
    demo_html = (folder / "report" / "index.html").read_text(encoding="utf-8")
    ids = _section_ids(demo_html)
    assert {"gaps", "adherence"} <= set(ids)
    # After the clinical sections, before the trends.
    assert ids.index("outcomes") < ids.index("gaps") < ids.index("adherence") < ids.index("trends")
    assert ids == _section_ids((again / "index.html").read_text(encoding="utf-8"))
    for name in ("gap_closure.csv", "adherence_by_class.csv"):
        assert (folder / "report" / name).read_text() == (again / name).read_text(), name


def test_the_demo_records_fills_and_some_patients_fall_under_80_percent(ran):
    folder, url, output = ran
    with (folder / "report" / "adherence_by_class.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {r["drug_class"] for r in rows} >= {"statins", "ras antagonists"}
    measured = sum(int(r["patients"]) for r in rows)
    under = sum(int(r["under_80_percent"]) for r in rows)
    assert 0 < under < measured / 2  # most adherent, some not
    from carecore.plugins import get_plugin_manager

    result = CliRunner().invoke(
        make_app(get_plugin_manager()),
        ["worklist", "--db", url, "--on", "2026-06-30", "--adherence", "--format", "json"],
    )
    assert result.exit_code in {0, 1}, result.output
    assert "PDC" in result.output
    assert "Adherence (PDC)" in output


def test_the_pages_care_sections_read_as_words_and_percentages(ran):
    folder, _url, _output = ran
    html = (folder / "report" / "index.html").read_text(encoding="utf-8")
    gaps = html.split('<section id="gaps">')[1].split("</section>")[0]
    adherence = html.split('<section id="adherence">')[1].split("</section>")[0]
    for part in (gaps, adherence):
        assert not re.search(r"\b(rule_id|closure_rate|mean_pdc|under_80_percent)\b", part)
        assert not re.search(r">0\.\d{4}<", part)  # no raw fractions
        assert "%" in part
        headings = re.findall(r"<h[23][^>]*>([^<]+)</h[23]>", part)
        assert len(headings) == len(set(headings)), headings
    # The rule's title, not its id.
    assert "Influenza vaccine (every season)" in gaps
    assert "influenza-vaccine" not in gaps


def test_the_care_tables_read_in_partitions_are_the_whole_stores(ran):
    """Gap closure and PDC by class, read 1, 7 or 64 partitions at a time, as of the whole store."""
    from carecore.gaps._report import adherence_table, gap_closure_table
    from carecore.report._build import care_tables

    _folder, url, _output = ran
    settings = DemoSettings(patients=40, months=6, last=ServicePeriod.month(2026, 6))
    start, end = settings.period.start, settings.period.end
    with CareProgram.open(url, actor="test") as program:
        whole = (
            gap_closure_table(program.care_gaps(on=start), program.care_gaps(on=end)),
            adherence_table(program.medication_adherence(start=start, end=end)),
        )
        closure, adherence = whole
        # The demo's year opens and closes gaps and measures adherence: the tables are not empty.
        assert int(closure.rows[-1][3]) > 0
        assert adherence.rows
        for count in (1, 7, 64):
            assert care_tables(program, start, end, reason="test", partitions=count) == whole
        with get_executor("process", workers=2) as pool:
            assert (
                care_tables(program, start, end, reason="test", partitions=7, executor=pool)
                == whole
            )


def test_the_care_tables_on_dask_are_the_whole_stores(ran, cluster):
    """A Dask LocalCluster on 127.0.0.1 counts the partitions as this process does."""
    from carecore.executors import DaskExecutor
    from carecore.report._build import care_tables

    _folder, url, _output = ran
    settings = DemoSettings(patients=40, months=6, last=ServicePeriod.month(2026, 6))
    start, end = settings.period.start, settings.period.end
    with CareProgram.open(url, actor="test") as program:
        here = care_tables(program, start, end, reason="test", partitions=1)
        with DaskExecutor(scheduler=cluster.scheduler_address) as dask:
            there = care_tables(program, start, end, reason="test", partitions=7, executor=dask)
    assert there == here


def test_the_report_command_s_partitions_and_executor_change_no_file(ran, tmp_path):
    """`carecore report --partitions 7 --executor process` writes the demo's report files."""
    from carecore.plugins import get_plugin_manager

    folder, url, _output = ran
    args = ["report", "--db", url, "--from", "2026-01", "--to", "2026-06", "--as-of", "2026-06-30"]
    args += ["--time-zone", "America/Chicago", "--intervention", "2026-04-01"]
    runs = {}
    for name, extra in (
        ("here", ["--partitions", "1"]),
        ("pool", ["--partitions", "7", "--executor", "process", "--workers", "2"]),
    ):
        out = tmp_path / name
        result = CliRunner().invoke(
            make_app(get_plugin_manager()), [*args, "--out", str(out), *extra]
        )
        assert result.exit_code == 0, result.output
        runs[name] = {
            p.name: p.read_bytes() for p in out.iterdir() if p.suffix in {".csv", ".html"}
        }
    assert runs["pool"] == runs["here"]
    assert runs["here"]["gap_closure.csv"] == (folder / "report" / "gap_closure.csv").read_bytes()


def test_the_reports_numbers_in_partitions_are_the_whole_stores(ran):
    """Issue 23: measures, worklists, eligibility and the practice view computed 1, 7 or 64
    partitions at a time (and on a process pool) equal those of the whole store read at once."""
    from carecore.report._build import program_parts
    from carecore.report._view import practice_view

    _folder, url, _output = ran
    period = ServicePeriod(
        start=ServicePeriod.month(2026, 1).start, end=ServicePeriod.month(2026, 6).end
    )
    options = {
        "period": period,
        "as_of": period.end,
        "time_zone": "America/Chicago",
        "intervention": ServicePeriod.month(2026, 4).start,
    }
    with CareProgram.open(url, actor="test") as program:
        whole = program_report(program.program_data(), **options)
        view = practice_view(whole)
        names = {p.id: f"{p.display_name} ({p.birth_date})" for p in whole.data.patients}
        parts = {
            n: program_parts(program, reason="test", partitions=n, **options) for n in (1, 7, 64)
        }
        with get_executor("process", workers=2) as pool:
            parts["pool"] = program_parts(
                program, reason="test", partitions=7, executor=pool, **options
            )
    # The demo's worklists share outreach out among care managers in turns, and its
    # period has claim lines, denials, discharges and A1c results: every part is exercised.
    kinds = {i.kind for w in whole.worklists for i in w.items}
    assert {"enrollment-outreach", "minutes-to-threshold"} <= kinds
    assert len({w.owner for w in whole.worklists}) > 1
    assert view.funnel[0].count > 0
    assert whole.measure("expected_revenue").numerator > 0
    for n, (report, part_view, part_names) in parts.items():
        assert report == whole, n
        assert report.data is None
        assert part_view == view, n
        assert part_names == names, n
        assert [m.definition for m in report.measures] == [m.definition for m in whole.measures]


def _summary(settings):
    """The demo summary printed for a run of *settings* that made no claim lines."""
    from types import SimpleNamespace

    from rich.console import Console

    from carecore._cli_commands import _print_demo
    from carecore.billing.fees import revenue

    result = SimpleNamespace(
        settings=settings,
        seconds=1.0,
        patients=5,
        from_fhir=3,
        adt_messages=3,
        acks=["AA"] * 3,
        claim_lines=0,
        revenue=revenue([]),
        measures=[],
        care=[],
        store_url="memory://",
        report=SimpleNamespace(index=Path("index.html")),
    )
    console = Console(width=200, record=True)
    with console.capture() as captured:
        _print_demo(console, result)
    return captured.get()


@pytest.mark.parametrize(("months", "last"), [(3, (2026, 3)), (12, (2026, 11))])
def test_the_summary_rows_name_the_months_they_cover(months, last):
    # A 3-month run titled "Jan 2026 to Mar 2026" said "Claim lines over the year".
    output = _summary(DemoSettings(patients=5, months=months, last=ServicePeriod.month(*last)))
    assert "over the year" not in output
    assert _row(output, f"Claim lines over the {months} months (CCM)") == "0"
    assert _row(output, f"Revenue over the {months} months (approximate)")


def test_the_summary_rows_say_month_for_one_month():
    # --months takes 3 to 24, but the summary said "over the 1 months" for settings of one.
    from types import SimpleNamespace

    period = ServicePeriod.month(2026, 1)
    output = _summary(SimpleNamespace(months=1, period=period, seed=1))
    assert _row(output, "Claim lines over the month (CCM)") == "0"
    assert _row(output, "Revenue over the month (approximate)")
    assert "1 months" not in output
