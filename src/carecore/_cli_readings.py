"""``carecore readings``: record a home reading (a cuff's, a scale's, a glucometer's)."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

import click
import pendulum

from carecore import errors
from carecore._cli_actor import current_actor
from carecore._cli_common import echo_records, format_option
from carecore.model import Observation, Patient
from carecore.service import CareProgram

if TYPE_CHECKING:
    import pluggy

#: What a home device measures, by LOINC code: the measure's name when ``--measure`` is not given.
HOME_MEASURES: dict[str, str] = {
    "8480-6": "Systolic blood pressure",
    "8462-4": "Diastolic blood pressure",
    "8867-4": "Heart rate",
    "29463-7": "Body weight",
    "2339-0": "Glucose",
    "41653-7": "Glucose (glucometer)",
    "59408-5": "Oxygen saturation (pulse oximetry)",
}

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def reading_day(text: str | None, time_zone: str, now: pendulum.DateTime) -> pendulum.Date:
    """The day a reading was taken, on the patient's clock (*time_zone*).

    *text* is a day (``YYYY-MM-DD``) or a date and time (ISO 8601; without an
    offset it is read on the patient's clock); None is *now*.

    >>> now = pendulum.datetime(2026, 3, 4, 3, tz="UTC")
    >>> reading_day(None, "America/Chicago", now)
    Date(2026, 3, 3)
    >>> reading_day("2026-03-04T01:30:00Z", "America/Chicago", now)
    Date(2026, 3, 3)
    >>> reading_day("2026-03-04T01:30", "America/Chicago", now)
    Date(2026, 3, 4)
    >>> reading_day("yesterday", "UTC", now)
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidValue: --at='yesterday': must be a day (YYYY-MM-DD) or a date and time (ISO 8601)
    """
    if text is None:
        day: pendulum.Date = now.in_timezone(time_zone).date()
        return day
    parsed: object = None
    try:
        if _DAY.fullmatch(text):
            return pendulum.Date.fromisoformat(text)
        if _DAY.match(text) and text[10:11] in {"T", " "}:
            parsed = pendulum.parse(text, tz=time_zone, strict=True)
    except ValueError:
        parsed = None
    if not isinstance(parsed, pendulum.DateTime):
        raise errors.InvalidValue(
            "must be a day (YYYY-MM-DD) or a date and time (ISO 8601)", field="--at", value=text
        )
    taken: pendulum.Date = parsed.in_timezone(time_zone).date()
    return taken


def reading_row(reading: Observation) -> dict[str, Any]:
    """One recorded reading as ``carecore readings record`` prints it."""
    return {
        "id": reading.id,
        "patient_id": reading.patient_id,
        "measure": reading.measure,
        "loinc": reading.loinc,
        "value": str(reading.value),
        "unit": reading.unit,
        "on": reading.on.isoformat(),
        "findings": list(reading.findings),
        "urgent": bool(reading.findings),
    }


_COLUMNS = (
    "id",
    "patient_id",
    "measure",
    "loinc",
    "value",
    "unit",
    "on",
    "findings",
    "urgent",
)


@click.group()
def readings() -> None:
    """Home readings: blood pressure, weight, glucose, checked against the patient's care plans."""


@readings.command("record")
@click.argument("patient")
@click.option("--db", "db_url", required=True, metavar="URL", help="The store.")
@click.option("--code", required=True, metavar="LOINC", help="What was measured, as a LOINC code.")
@click.option("--value", required=True, metavar="NUMBER", help="The reading, e.g. 184 or 96.5.")
@click.option("--unit", required=True, metavar="UNIT", help="Its unit (UCUM), e.g. mm[Hg] or kg.")
@click.option(
    "--at",
    default=None,
    metavar="WHEN",
    help=(
        "When it was taken: YYYY-MM-DD, or a date and time (ISO 8601; without an offset, "
        "on the patient's clock). Default: now."
    ),
)
@click.option(
    "--measure",
    default=None,
    help=(
        "The measure's name (default: carecore's name for the LOINC code, for home-device "
        "codes such as 8480-6 systolic, 29463-7 body weight, 2339-0 glucose)."
    ),
)
@click.option(
    "--id",
    "reading_id",
    default=None,
    help="The reading's id (default: a new one). An id stored already is refused.",
)
@format_option()
@click.pass_context
def record(  # noqa: PLR0917 - one parameter per click option
    ctx: click.Context,
    patient: str,
    db_url: str,
    code: str,
    value: str,
    unit: str,
    at: str | None,
    measure: str | None,
    reading_id: str | None,
    fmt: str,
) -> None:
    """Record PATIENT's home reading and check it against their care plans.

    A reading in the red zone of the patient's symptom action plan, or past
    an alert threshold set on the plan, is urgent: in the same transaction
    the care team is sent a message (through the outbox and the notification
    rules), and the reading tops the care manager's worklist until someone
    acknowledges it (carecore worklist --acknowledge ID). Exits 0 when the
    reading is stored, urgent or not.
    """
    name = measure or HOME_MEASURES.get(code)
    if name is None:
        raise errors.InvalidValue(
            "is not a home-device code carecore names; give the measure's name with --measure",
            field="--code",
            value=code,
        )
    pm: pluggy.PluginManager = ctx.obj["pm"]
    with CareProgram.open(
        db_url, actor=current_actor(), plugin_manager=pm, create=False
    ) as program:
        with program.transaction("home reading: the patient's time zone") as tx:
            zone = tx.get(Patient, patient).time_zone
        reading = Observation(
            id=reading_id or f"reading-{uuid.uuid4().hex[:12]}",
            patient_id=patient,
            measure=name,
            loinc=code,
            value=value,
            unit=unit,
            on=reading_day(at, zone, program.clock.now()),
        )
        try:
            (stored,) = program.record_readings([reading], reason="home reading")
        except errors.ConflictError:
            raise errors.InvalidValue(
                "a reading with this id is stored already", field="--id", value=reading.id
            ) from None
    row = reading_row(stored)

    def table() -> None:
        click.echo(
            f"recorded {stored.id} for {stored.patient_id}: {stored.measure} "
            f"{stored.value} {stored.unit} on {stored.on}"
        )
        if stored.findings:
            click.echo(
                f"URGENT ({', '.join(stored.findings)}): the care manager is alerted through "
                f"the outbox, and the reading tops their worklist until acknowledged "
                f"(carecore worklist --acknowledge {stored.id})"
            )

    echo_records(fmt, [row], columns=_COLUMNS, table=table, data=row)
