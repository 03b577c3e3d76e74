"""The intake's own field reader gives, field for field, what python-hl7 gives (one truth).

The listener reads the fields it maps straight from the text of a message
with the standard separators; python-hl7 reads every other message. These
tests hold the two readings equal, and the events and acknowledgments made
from them.
"""

from __future__ import annotations

import hl7
import pytest
from carecore_hl7v2 import mapping
from carecore_hl7v2.mapping import _Fields, _read
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_mapping import SAMPLES

# Text with every separator and the escape character in it, and spaces to be stripped.
_TEXT = st.text(alphabet="AB1 ^~&\\.-", max_size=8)
_FIELD = st.lists(_TEXT, max_size=4).map("~".join)
_NAMES = st.sampled_from(["PID", "PV1", "EVN", "ZZZ", "PD1", "NK1", "OBX", "X", ""])
_SEGMENT = st.tuples(_NAMES, st.lists(_FIELD, max_size=50)).map(lambda s: "|".join([s[0], *s[1]]))


def _message(msh: list[str], segments: list[str]) -> str:
    return "\r".join(["|".join(["MSH", "^~\\&", *msh]), *segments])


def _same_fields(text: str) -> None:
    fast = _Fields.split(text)
    assert fast is not None
    slow = _Fields.of(hl7.parse(text))
    names = set(slow.segments) | set(fast.segments)
    assert set(fast.segments) == set(slow.segments)
    for name in names:
        for n in range(60):
            assert fast.raw(name, n) == slow.raw(name, n), (name, n)
            assert fast.has(name, n) == slow.has(name, n) or (name == "MSH" and n == 3), (name, n)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FIELD, min_size=1, max_size=20), st.lists(_SEGMENT, max_size=6))
@example(["ADT", "GEN", "CC", "PRAC", "20260304", "", "ADT^A03", "M1"], ["PID|1||P1^^^GEN^MR"])
def test_the_fast_reader_reads_every_field_as_python_hl7_does(msh, segments):
    _same_fields(_message(msh, segments))


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_each_sample_is_read_alike(path):
    text = mapping.clean(path.read_bytes())
    assert _Fields.split(text) is not None  # the samples use the standard separators
    _same_fields(text)
    fast, slow = _read(text), _Fields.of(mapping.parse(text))
    kwargs = {"time_zone": "America/Chicago", "identifier_type": "MR"}
    assert mapping._to_event(fast, **kwargs) == mapping._to_event(slow, **kwargs)
    assert mapping._demographics(fast) == mapping._demographics(slow)
    ack_fast, ack_slow = mapping._ack(fast), mapping._ack(slow)
    # The ACK's own control id and time differ from one call to the next.
    assert ack_fast.split("|")[:6] == ack_slow.split("|")[:6]
    assert ack_fast.split("\r")[1] == ack_slow.split("\r")[1]


@pytest.mark.parametrize(
    "text",
    [
        "MSH#^~\\&#ADT#GEN\rPID#1##P1",  # other field separator
        "MSH|^~\\&#|ADT|GEN\rPID|1||P1",  # a fifth encoding character
        "MSH|^~\\&|ADT|GEN\rPID|1||P1\rMSH|^~\\&|X",  # a second header segment
        "MSH|^~\\&|ADT|GEN\rBHS|^~\\&|X",
        "MSH|^~\\&",  # no field after the encoding characters
    ],
)
def test_what_python_hl7_reads_its_own_way_is_left_to_it(text):
    assert _Fields.split(text) is None
    fields = _read(text)
    slow = _Fields.of(hl7.parse(text))
    assert fields.segments == slow.segments


def test_an_unreadable_message_is_refused_as_before():
    with pytest.raises(mapping.Refused) as caught:
        _read("MSH")
    assert caught.value.code == "AR"


def _instant_as_python_hl7_reads_it(text, time_zone):  # noqa: PLR0911 - one return a case
    """A time as the intake read it with python-hl7's parse_datetime (its code before).

    But for one thing python-hl7 gets wrong: it reads an offset under an hour west of
    UTC (``-0030``) as east of it (``+00:30``); HL7's sign is the whole offset's.
    """
    import datetime as dt

    import pendulum

    if not text:
        return None
    found = mapping._DTM.fullmatch(text)
    if found is None:
        return "refused"
    try:
        parsed = hl7.parse_datetime(text)
    except (ValueError, TypeError):
        return "refused"
    if found.group(7) == "-00" and parsed.utcoffset():
        parsed = parsed.replace(tzinfo=dt.timezone(-parsed.utcoffset()))
    if parsed.tzinfo is None:
        if time_zone is None:
            return "no offset"
        return pendulum.instance(parsed.replace(tzinfo=None), tz=time_zone)
    at = pendulum.instance(parsed)
    try:
        at.utcoffset()  # an offset of a day or more raised here, out of the intake
    except ValueError:
        return "refused"  # what the intake answers now
    return at


_DIGITS = st.text(alphabet="0123456789", min_size=0, max_size=16)
_TIME = st.one_of(
    _DIGITS,
    st.builds(
        lambda date, fraction, sign, offset: date + fraction + sign + offset,
        st.sampled_from(
            [
                *("2026", "202603", "20260304", "2026030415", "202603041530", "20260304153045"),
                *("20260308023000", "20261101013000", "20260230", "20261304", "20260304250000"),
            ]
        ),
        st.sampled_from(["", ".1", ".25", ".125", ".9999", ".12345"]),
        st.sampled_from(["", "+", "-"]),
        st.sampled_from(["", "0000", "0600", "0030", "0545", "1400", "99", "2360"]),
    ),
)


@settings(max_examples=400, deadline=None)
@given(_TIME, st.sampled_from([None, "America/Chicago", "Asia/Kathmandu", "UTC"]))
@example("20260308023000", "America/Chicago")  # a time the clocks skip
@example("20261101013000", "America/Chicago")  # a time that comes twice
@example("20260304153045.1234-0030", None)
def test_times_are_read_as_python_hl7_reads_them(text, time_zone):
    before = _instant_as_python_hl7_reads_it(text, time_zone)
    try:
        now = mapping._instant(text, field="MSH-7", time_zone=time_zone, control_id="C1")
    except mapping.Refused as refused:
        now = "no offset" if "no UTC offset" in str(refused) else "refused"
    assert now == before
    if now is not None and not isinstance(now, str):
        assert (now.tzinfo, now.fold, now.microsecond) == (
            before.tzinfo,
            before.fold,
            before.microsecond,
        )
        assert now.utcoffset() == before.utcoffset()
