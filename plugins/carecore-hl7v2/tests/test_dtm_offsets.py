"""A DTM's UTC offset is one signed quantity of hours and minutes (HL7 v2: +/-ZZZZ).

``-0030`` is 30 minutes west of UTC. python-hl7's ``parse_datetime`` gives
the minutes the hours' sign, and ``-00`` has none: it reads ``-0030`` as
``+00:30``. The intake follows the standard.
"""

from __future__ import annotations

import datetime as dt

import pytest
from carecore_hl7v2 import mapping
from carecore_hl7v2.ingest import handle

from carecore.model import AdtEvent


@pytest.mark.parametrize(
    ("offset", "minutes"),
    [
        ("-0030", -30),
        ("+0030", 30),
        ("-0045", -45),
        ("-0059", -59),
        ("-0000", 0),
        ("+0000", 0),
        ("-0130", -90),
        ("+0530", 330),
        ("+0545", 345),
        ("-0930", -570),
        ("-0600", -360),
        ("+1400", 840),
        ("-2359", -(23 * 60 + 59)),
        ("+2359", 23 * 60 + 59),
    ],
)
def test_the_offset_sign_applies_to_hours_and_minutes_alike(offset, minutes):
    at = mapping._instant(f"202603041530{offset}", field="MSH-7", time_zone=None, control_id="C1")
    assert at.utcoffset() == dt.timedelta(minutes=minutes)
    assert (at.hour, at.minute) == (15, 30)  # the wall time as sent, in that offset
    # The same instant as the UTC wall time less the offset.
    utc = dt.datetime(2026, 3, 4, 15, 30, tzinfo=dt.UTC) - dt.timedelta(minutes=minutes)
    assert at == utc


@pytest.mark.parametrize("offset", ["+2400", "-2400", "-2401", "+9959"])
def test_an_offset_of_a_day_or_more_is_refused(offset):
    with pytest.raises(mapping.Refused) as refused:
        mapping._instant(f"202603041530{offset}", field="MSH-7", time_zone=None, control_id="C1")
    assert refused.value.code == "AE"


def test_a_message_sent_at_minus_0030_is_stored_thirty_minutes_west_of_utc(program):
    a03 = (
        "MSH|^~\\&|ADT|GEN|CC|PRAC|202603041530-0030||ADT^A03|W30|P|2.5\r"
        "PID|1||P1^^^GEN^MR\r"
        "PV1|1|I|W3^301^A^GEN|||||||||||||||V9||||||||||||||||01||||||||"
        "202603011000-0030|202603041500-0030"
    )
    outcome = handle(program, a03)
    assert outcome.code == "AA", outcome.reason
    with program.transaction("check") as tx:
        (event,) = tx.all(AdtEvent)
    assert event.occurred_at.utcoffset() == dt.timedelta(minutes=-30)
    assert event.occurred_at.in_timezone("UTC").isoformat() == "2026-03-04T16:00:00+00:00"
