"""Instants read back from a store's text are what pendulum.instance makes of them.

The store reads an instant's ISO text and builds it with the zone pendulum
gives its UTC offset, found once per offset (issue 17, the HL7 listener reads
episodes back): the same value, zone, fold and spelling as
``pendulum.instance(datetime.fromisoformat(text))``.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from hypothesis import given
from hypothesis import strategies as st

from carecore.storage._kinds import _load_instant

offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)
seconds_offsets = st.integers(min_value=-86399, max_value=86399).map(
    lambda seconds: dt.timezone(dt.timedelta(seconds=seconds))
)


def _same(text: str) -> None:
    got = _load_instant(text)
    want = pendulum.instance(dt.datetime.fromisoformat(text))
    assert type(got) is type(want)
    assert got == want
    assert repr(got) == repr(want)
    assert got.fold == want.fold
    assert repr(got.tzinfo) == repr(want.tzinfo)
    assert got.timezone_name == want.timezone_name
    assert got.isoformat() == want.isoformat()


@given(
    st.datetimes(
        min_value=dt.datetime(1, 1, 2),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=dt.datetime(9999, 12, 30),  # noqa: DTZ001
        timezones=st.one_of(offsets, seconds_offsets, st.just(dt.UTC)),
    )
)
def test_an_iso_text_reads_back_as_pendulum_instance_reads_it(at):
    _same(at.isoformat())
    _same(at.isoformat())  # the offset's zone found the first time, kept


def test_utc_naive_and_odd_spellings_read_back_alike():
    for text in (
        "2026-03-04T15:00:00+00:00",
        "2026-03-04T15:00:00-00:00",
        "2026-03-04T15:00:00Z",
        "2026-03-04T15:00:00",  # no offset: pendulum reads it as UTC
        "2026-03-04T15:00:00.123456-06:00",
        "2026-03-04T15:00:00+05:45",
        "2026-03-04T15:00:00+01:00:30",
    ):
        _same(text)


def test_a_datetime_from_a_driver_is_left_to_pendulum():
    # A named zone (a driver's), a fold, an offset named otherwise: pendulum.instance's answer.
    import zoneinfo

    for value in (
        dt.datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("America/Chicago")),
        dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1), "UTC")),
        dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(0), "XYZ")),
    ):
        got, want = _load_instant(value), pendulum.instance(value)
        assert repr(got) == repr(want)
        assert got.fold == want.fold
    already = pendulum.datetime(2026, 3, 4, tz="America/Chicago")
    assert _load_instant(already) is already
