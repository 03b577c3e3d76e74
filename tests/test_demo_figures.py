"""The demo prints one set of figures (the metrics' and the month closes'), and nothing after today."""

from __future__ import annotations

import pendulum
import pytest

from carecore import errors
from carecore._demo import DemoSettings, _fmt, run_demo
from carecore.billing.fees import revenue
from carecore.clock import FixedClock
from carecore.metrics import program_report
from carecore.model import (
    AdtEvent,
    Appointment,
    AssessmentResult,
    ClaimLine,
    ClinicalService,
    Consent,
    Enrollment,
    EnrollmentStatus,
    FaceToFaceVisit,
    InteractiveContact,
    Observation,
    Patient,
    ServicePeriod,
    TimeEntry,
    TransitionEpisode,
)
from carecore.plugins import get_plugin_manager
from carecore.report._labels import label
from carecore.service import CareProgram

pytest.importorskip("carecore_fhir")
pytest.importorskip("carecore_hl7v2")
pytest.importorskip("matplotlib")

TZ = "America/Chicago"
#: The clock's today: the demo's last month (June 2026) has just ended.
TODAY = pendulum.datetime(2026, 7, 2, 9, tz=TZ)
SETTINGS = DemoSettings(patients=40, months=6, last=ServicePeriod.month(2026, 6), seed=11)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "report"
    program = CareProgram.open(
        "memory://", actor="test", clock=FixedClock(TODAY), plugin_manager=get_plugin_manager()
    )
    result = run_demo(program, SETTINGS, out)
    return program, result


def _printed(result) -> dict[str, str]:
    from rich.console import Console

    from carecore._cli_commands import _print_demo

    console = Console(width=240, record=True)
    with console.capture() as captured:
        _print_demo(console, result)
    rows = {}
    for line in captured.get().splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if len(cells) == 2 and cells[0] and cells[0] != "what":
            rows[cells[0]] = cells[1]
    return rows


def test_the_printed_summary_is_the_metrics_and_the_month_closes(built):
    program, result = built
    data = program.program_data(reason="test")
    report = program_report(
        data,
        period=SETTINGS.period,
        as_of=SETTINGS.period.end,
        time_zone=TZ,
        intervention=SETTINGS.period.start.add(months=3),
    )
    rows = _printed(result)
    measures = {label(m.name): m for m in report.measures}
    with program.transaction("test") as tx:
        money = revenue(line for line in tx.all(ClaimLine) if line.family.value == "CCM")
    # Revenue appears once, from the closes' claim lines, and it is the metric's figure.
    assert rows.pop("Revenue over the 6 months (approximate)") == money.describe()
    assert report.measure("expected_revenue").value == money.total
    assert rows.pop("Claim lines over the 6 months (CCM)") == f"{money.lines:,}"
    assert rows.pop("Patients in the practice").startswith(f"{result.patients} (")
    assert rows.pop("HL7 ADT over MLLP: messages, ACKs") == "3, AA AA AA"
    # Gap closure and adherence by class: the report's care tables, as `carecore report` makes them.
    from carecore._demo import _care_rows
    from carecore.report._build import care_summary, care_tables

    tables = care_tables(program, SETTINGS.period.start, SETTINGS.period.end, reason="test")
    care = dict(_care_rows(care_summary(tables)))
    assert {k: rows.pop(k) for k in care} == care
    assert any(k.startswith("Adherence (PDC), Statins") for k in care)
    # Every other row is a measure, shown as the metrics API computes it, each measure once.
    assert rows == {
        name: _fmt(m) for name, m in measures.items() if name != label("expected_revenue")
    }


def test_no_event_is_after_the_clocks_today(built):
    program, _result = built
    last = SETTINGS.period.end
    assert last < TODAY.date()
    with program.transaction("test") as tx:
        days = [
            *(d.date() for e in tx.all(AdtEvent) for d in (e.occurred_at, e.discharged_at) if d),
            *(e.discharged_at.date() for e in tx.all(TransitionEpisode)),
            *(
                d
                for e in tx.all(TransitionEpisode)
                for d in (e.contact_made_on, e.visit_on, e.med_rec_on)
                if d
            ),
            *(e.service_date for e in tx.all(TimeEntry)),
            *(c.at.date() for c in tx.all(InteractiveContact)),
            *(o.on for o in tx.all(Observation)),
            *(s.on for s in tx.all(ClinicalService)),
            *(v.on for v in tx.all(FaceToFaceVisit)),
            *(a.starts_at.date() for a in tx.all(Appointment)),
            *(line.date_of_service for line in tx.all(ClaimLine)),
            *(c.obtained_on for c in tx.all(Consent)),
        ]
    assert days
    late = sorted(d for d in days if d > last)
    assert late == []


def test_a_month_that_has_not_ended_is_refused(tmp_path):
    program = CareProgram.open(
        "memory://", actor="test", clock=FixedClock(TODAY), plugin_manager=get_plugin_manager()
    )
    settings = DemoSettings(patients=5, months=3, last=ServicePeriod.month(2026, 7))
    with pytest.raises(errors.InvalidValue) as caught:
        run_demo(program, settings, tmp_path / "report")
    assert caught.value.field == "last"
    assert "2026-07-02" in str(caught.value)
    assert not (tmp_path / "report").exists()


def test_the_month_closes_bill_what_the_simulation_billed(built):
    """The demo is the simulation's year written as records: the engine's month closes over
    those records bill each patient-month's CCM codes and units as the simulation's engine did."""
    from carecore._demo import demo_study
    from carecore.simulation import run_replication

    program, _result = built
    year = run_replication(demo_study(SETTINGS), SETTINGS.seed, 0, record=True)

    def key(line: ClaimLine) -> tuple[str, str, int]:
        return (f"{line.date_of_service:%Y-%m}", line.code, line.units)

    simulated = sorted(
        (f"p-{int(line.patient_id[1:]) + 1:04d}", *key(line)) for line in year.claim_lines
    )
    with program.transaction("test") as tx:
        stored = sorted(
            (line.patient_id, *key(line))
            for line in tx.all(ClaimLine)
            if line.family.value == "CCM"
        )
    assert simulated
    assert stored == simulated


def test_the_year_closes_most_influenza_gaps_and_every_closure_is_dated_in_it(built):
    # Issue 22: the demo recorded no vaccines or screenings, so its gap closure read
    # 2.5% and most recommendations 0.0%. Its practice now gives the season's
    # influenza vaccine (and the rest) as a practice does, enrolled patients more often.
    program, _result = built
    period = SETTINGS.period
    at_start = program.care_gaps(on=period.start, reason="test")
    at_end = {(g.patient_id, g.rule_id): g for g in program.care_gaps(on=period.end, reason="test")}
    opened = [g for g in at_start if g.open]
    closed = [at_end[key] for g in opened if (key := (g.patient_id, g.rule_id)) in at_end]
    closed = [g for g in closed if not g.open]
    flu = [g for g in opened if g.rule_id == "influenza-vaccine"]
    flu_closed = {g.patient_id for g in closed if g.rule_id == "influenza-vaccine"}
    assert len(flu) >= 30
    assert len(flu_closed) / len(flu) >= 0.4
    with program.transaction("test") as tx:
        enrolled = {
            e.patient_id
            for e in tx.all(Enrollment)
            if any(c.status is EnrollmentStatus.ENROLLED for c in e.history)
        }
        records = {r.id: r for kind in (ClinicalService, Observation, AssessmentResult)
                   for r in tx.all(kind)}  # fmt: skip
        died = {p.id: p.date_of_death for p in tx.all(Patient) if p.date_of_death}

    def share(people: set[str]) -> float:
        due = [g.patient_id for g in flu if g.patient_id in people]
        return sum(pid in flu_closed for pid in due) / len(due)

    everyone = {g.patient_id for g in flu}
    assert share(everyone & enrolled) > share(everyone - enrolled)
    # The closing records are the year's: none before it starts, after it ends or after a death.
    assert len({g.rule_id for g in closed}) >= 8
    for gap in closed:
        assert gap.closed_by, gap
        assert gap.closed_on is not None, gap
        assert period.start <= gap.closed_on <= period.end, gap
        for record_id in gap.closed_by:
            record = records[record_id]
            assert period.start <= record.on <= period.end, record
            assert gap.patient_id not in died or record.on < died[gap.patient_id], record
