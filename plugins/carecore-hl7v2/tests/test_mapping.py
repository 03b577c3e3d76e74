"""HL7 v2 ADT to carecore events: the published samples, generated messages, refusals."""

from __future__ import annotations

from pathlib import Path

import pendulum
import pytest
from carecore_hl7v2 import Refused, parse, to_event
from carecore_hl7v2.ingest import handle, split_messages
from hypothesis import given, settings
from hypothesis import strategies as st

from carecore.model import AdtEventKind, CareSetting, DeadLetter, PatientClass, TransitionEpisode


def samples_dir() -> Path:
    """The sample HL7 v2 ADT messages (origin and licence: data/SOURCES.md)."""
    return Path(__file__).with_name("data")


SAMPLES = sorted(samples_dir().glob("*.hl7"))


def test_there_are_twelve_samples():
    assert len(SAMPLES) == 12


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_sample_maps_to_an_event(path):
    raw = path.read_bytes()
    message = parse(raw)
    event = to_event(message, time_zone="America/New_York")
    trigger = str(message.segment("MSH")[9]).split("^")[1]
    assert (
        event.kind.value
        == {"A01": "admit", "A03": "discharge", "A04": "register", "A08": "update"}[trigger]
    )
    assert event.patient_id
    assert event.occurred_at.tzinfo is not None
    assert event.source_key.endswith(str(message.segment("MSH")[10]))


def test_a03_sample_fields():
    event = to_event(parse((samples_dir() / "ADT-A03-01.hl7").read_bytes()))
    assert event.kind is AdtEventKind.DISCHARGE
    assert event.patient_id == "PATID1234"  # the MR identifier of PID-3
    assert event.discharged_at == pendulum.datetime(
        2015, 2, 9, 10, 24, 19, tz="UTC"
    )  # 11:34:19+01:10
    assert event.patient_class is PatientClass.PREADMIT
    assert event.to_setting is None  # PV1-36 holds a local text, not a NUBC code


def test_samples_imported_together_store_each_control_id_once(program):
    outcomes = [handle(program, path.read_bytes()) for path in SAMPLES]
    assert all(o.code == "AA" for o in outcomes)
    stored = [o for o in outcomes if o.stored]
    assert len(stored) + sum(o.duplicate for o in outcomes) == 12
    again = [handle(program, path.read_bytes()) for path in SAMPLES]
    assert not any(o.stored for o in again)
    assert program.store.check().ok


# -- generated messages ---------------------------------------------------------------

_text = st.text(
    alphabet=st.characters(codec="latin-1", exclude_characters="\r\n\x0b\x1c"), max_size=12
)


@st.composite
def adt_messages(draw):
    trigger = draw(st.sampled_from(["A01", "A02", "A03", "A04", "A08", "A11", "A13"]))
    offset = draw(st.sampled_from(["-0600", "+0000", "+0530", "-0430", ""]))
    day = draw(st.dates(min_value=pendulum.Date(2020, 1, 1), max_value=pendulum.Date(2030, 12, 31)))
    hour = draw(st.integers(0, 23))
    stamp = f"{day:%Y%m%d}{hour:02d}{draw(st.integers(0, 59)):02d}{offset}"
    later = f"{day:%Y%m%d}235900{offset}"
    control = draw(st.text(alphabet="ABCDEFGHJK0123456789", min_size=4, max_size=12))
    ids = draw(
        st.lists(st.text(alphabet="0123456789", min_size=1, max_size=8), min_size=1, max_size=3)
    )
    types = draw(
        st.lists(st.sampled_from(["MR", "SS", "PI", ""]), min_size=len(ids), max_size=len(ids))
    )
    pid3 = "~".join(f"{i}^^^HOSP^{t}" for i, t in zip(ids, types, strict=True))
    name = (
        draw(_text)
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("~", "\\R\\")
        .replace("&", "\\T\\")
    )
    pv1 = ["PV1", "1", draw(st.sampled_from(["I", "O", "E", "P", "R", ""])), "W1^101^A^GEN"] + [
        ""
    ] * 42
    pv1[19] = draw(st.text(alphabet="V0123456789", min_size=1, max_size=6))
    pv1[36] = draw(st.sampled_from(["01", "03", "06", "20", "62", "", "99"]))
    pv1[44] = stamp
    pv1[45] = later if trigger == "A03" and draw(st.booleans()) else ""
    segments = [
        f"MSH|^~\\&|ADT|GEN|CC|PRAC|{stamp}||ADT^{trigger}^ADT_{trigger}|{control}|P|2.{draw(st.integers(3, 8))}",
        f"EVN|{trigger}|{stamp}",
        f"PID|1||{pid3}||{name}^Test",
        "|".join(pv1),
    ]
    separator = draw(st.sampled_from(["\r", "\n", "\r\n"]))
    bom = "\ufeff" if draw(st.booleans()) else ""
    return bom + separator.join(segments), trigger, offset, ids, types


@settings(max_examples=150, deadline=None)
@given(adt_messages())
def test_generated_messages_map_or_are_refused_with_a_reason(case):
    raw, trigger, offset, ids, types = case
    message = parse(raw)
    if not offset:
        with pytest.raises(Refused) as info:
            to_event(message)
        assert info.value.code == "AE"
        assert "offset" in info.value.reason
        event = to_event(message, time_zone="America/Chicago")
    else:
        event = to_event(message)
    assert (
        event.kind.value
        == {
            "A01": "admit",
            "A02": "transfer",
            "A03": "discharge",
            "A04": "register",
            "A08": "update",
            "A11": "cancel_admit",
            "A13": "cancel_discharge",
        }[trigger]
    )
    expected = next((i for i, t in zip(ids, types, strict=True) if t == "MR"), ids[0])
    assert event.patient_id == expected
    if trigger == "A03":
        assert event.discharged_at is not None


@pytest.mark.parametrize(
    ("raw", "code", "words"),
    [
        ("PID|1||123", "AR", "MSH"),
        (
            "MSH|^~\\&|ADT|GEN|CC|PRAC|20260304||ORU^R01|M1|P|2.5\rPID|1||123^^^H^MR",
            "AR",
            "only ADT",
        ),
        ("MSH|^~\\&|ADT|GEN|CC|PRAC|20260304||ADT^A99|M2|P|2.5\rPID|1||123^^^H^MR", "AR", "A99"),
        (
            "MSH|^~\\&|ADT|GEN|CC|PRAC|202603041200-0600||ADT^A03|M3|P|2.5\rEVN|A03|202603041200-0600",
            "AE",
            "PID",
        ),
        (
            "MSH|^~\\&|ADT|GEN|CC|PRAC|202603041200-0600||ADT^A03|M4|P|2.5\rPID|1||^^^H^MR",
            "AE",
            "PID-3",
        ),
        ("MSH|^~\\&|ADT|GEN|CC|PRAC|2026-03-04||ADT^A03|M5|P|2.5\rPID|1||9^^^H^MR", "AE", "MSH-7"),
    ],
)
def test_malformed_messages_are_naked_and_kept(program, raw, code, words):
    outcome = handle(program, raw)
    assert (outcome.code, outcome.dead_letter, outcome.stored) == (code, True, False)
    assert words in outcome.reason
    assert f"MSA|{code}|" in outcome.ack
    with program.transaction("check") as tx:
        (letter,) = tx.all(DeadLetter)
    assert letter.raw.startswith(raw.split("\r")[0][:3])
    assert handle(program, raw).dead_letter  # answered again, kept once
    with program.transaction("check") as tx:
        assert len(tx.all(DeadLetter)) == 1


def test_a_discharge_through_ingest_opens_its_episode(program):
    pv1 = ["PV1", "1", "I", "W3^301^A^GEN"] + [""] * 42
    pv1[19], pv1[36], pv1[44], pv1[45] = "V9", "01", "202603011000-0600", "202603041500-0600"
    raw = (
        "MSH|^~\\&|ADT|GEN|CC|PRAC|202603041530-0600||ADT^A03|MSG42|P|2.5\rPID|1||P1^^^GEN^MR\r"
        + "|".join(pv1)
    )
    outcome = handle(program, raw)
    assert outcome.code == "AA"
    assert "MSA|AA|MSG42" in outcome.ack
    with program.transaction("check") as tx:
        (episode,) = tx.all(TransitionEpisode)
    assert (episode.from_setting, episode.to_setting, episode.contact_due) == (
        CareSetting.INPATIENT_ACUTE,
        CareSetting.HOME,
        pendulum.Date(2026, 3, 6),
    )


def test_split_messages_handles_batches():
    one = "MSH|^~\\&|A|B|C|D|20260304||ADT^A01|1|P|2.5\rPID|1||1^^^H^MR"
    two = one.replace("|1|P", "|2|P")
    batch = f"FHS|^~\\&\rBHS|^~\\&\r{one}\r{two}\rBTS|2\rFTS|1"
    assert split_messages(batch) == [one, two]


def test_to_event_refuses_what_is_not_a_message_or_a_time_zone():
    from carecore import errors

    with pytest.raises(errors.InvalidValue) as info:
        to_event("MSH|^~\\&|A")
    assert info.value.field == "message"
    with pytest.raises(errors.InvalidValue) as zone:
        to_event(parse((samples_dir() / "ADT-A03-01.hl7").read_bytes()), time_zone="Mars/Base")
    assert (zone.value.field, zone.value.value) == ("time_zone", "Mars/Base")


def _a03(admitted: str, discharged: str, *, sent: str = "202603041530", evn: str = "") -> str:
    """A minimal A03 with these MSH-7, PV1-44 and PV1-45 texts (and an EVN-2, when given)."""
    pv1 = ["PV1", "1", "I", "W3^301^A^GEN"] + [""] * 42
    pv1[19], pv1[36], pv1[44], pv1[45] = "V9", "01", admitted, discharged
    return (
        f"MSH|^~\\&|ADT|GEN|CC|PRAC|{sent}||ADT^A03|D1|P|2.5\r"
        + (f"EVN|A03|{evn}\r" if evn else "")
        + "PID|1||P1^^^GEN^MR\r"
        + "|".join(pv1)
    )


@pytest.mark.parametrize("written", ["2026-03-04", "2026/03/04", "20260304 1500", "202603041500Z"])
def test_a_time_not_in_the_hl7_form_is_refused_not_misread(written):
    # python-hl7 reads "2026-03-04" as 1 January 2026 and "20260304 1500" as midnight:
    # a discharge would be stored on the wrong day, with no word. It is refused instead.
    with pytest.raises(Refused) as caught:
        to_event(parse(_a03("202603011000", written)), time_zone="America/Chicago")
    assert caught.value.field == "PV1-45"
    assert written not in str(caught.value)
    # the same time in the HL7 form is taken
    event = to_event(parse(_a03("202603011000", "202603041500")), time_zone="America/Chicago")
    assert event.occurred_at.date() == pendulum.Date(2026, 3, 4)


@pytest.mark.parametrize("precision", ["S", "M", "D", ""])
def test_a_ts_with_its_degree_of_precision_is_read_as_its_time(precision):
    # A TS field (MSH-7, EVN-2, EVN-6, PV1-44, PV1-45 up to v2.5) may carry a second
    # component, the degree of precision, kept for backward compatibility: the time is the
    # first component, and the message is taken as the same one without it.
    def a03(tail: str) -> str:
        at = "202603041530-0600" + tail
        return _a03("202603011000-0600" + tail, "202603041500-0600" + tail, sent=at, evn=at)

    event = to_event(parse(a03(f"^{precision}")))
    plain = to_event(parse(a03("")))
    assert event.occurred_at == plain.occurred_at == pendulum.parse("2026-03-04T15:30:00-06:00")
    assert event.discharged_at == plain.discharged_at == pendulum.parse("2026-03-04T15:00:00-06:00")
    assert event.admitted_at == plain.admitted_at == pendulum.parse("2026-03-01T10:00:00-06:00")


@pytest.mark.parametrize("written", ["^M", "202603041500-0600^M~202603041600-0600"])
def test_a_ts_without_its_time_or_repeated_is_refused(written):
    # A degree of precision with no time, or a repeated TS, is not a time: refused (AE)
    # naming the field, not read as no time or as its first repetition.
    with pytest.raises(Refused) as caught:
        to_event(parse(_a03("202603011000-0600", written, sent="202603041530-0600")))
    assert (caught.value.code, caught.value.field) == ("AE", "PV1-45")
