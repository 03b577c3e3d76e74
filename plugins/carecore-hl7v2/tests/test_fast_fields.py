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
