"""A webhook receiver's check: signature, time window, replays, malformed headers (issue 20).

``verify`` once had no time window (a captured request verified forever) and
raised ``TypeError`` on a non-ASCII or missing signature.
"""

from __future__ import annotations

import contextlib

import pytest
from carecore_http import ReplayCache, sign, verify
from hypothesis import given
from hypothesis import strategies as st

from carecore import errors

SECRET = "s3cret"
BODY = b'{"id":"m1"}'
T0 = 1_772_614_800


def signed(timestamp: int = T0, body: bytes = BODY) -> tuple[str, bytes, str]:
    stamp = str(timestamp)
    return stamp, body, sign(SECRET, stamp, body)


def test_a_fresh_signed_request_verifies():
    assert verify(SECRET, *signed(), now=T0 + 10) is True


def test_a_wrong_signature_is_rejected():
    stamp, body, _ = signed()
    with pytest.raises(errors.WebhookRejected) as info:
        verify(SECRET, stamp, body, sign("other", stamp, body), now=T0)
    assert info.value.field == "signature"


def test_a_changed_body_is_rejected():
    stamp, _, signature = signed()
    with pytest.raises(errors.WebhookRejected):
        verify(SECRET, stamp, b'{"id":"m2"}', signature, now=T0)


@pytest.mark.parametrize("offset", [301, -301, 86_400 * 365])
def test_a_request_outside_the_window_is_rejected(offset):
    """A captured request verified forever: now five minutes either way by default."""
    with pytest.raises(errors.WebhookRejected) as info:
        verify(SECRET, *signed(), now=T0 + offset)
    assert info.value.field == "timestamp"


def test_the_window_is_a_parameter():
    assert verify(SECRET, *signed(), now=T0 + 900, window=1000)
    with pytest.raises(errors.WebhookRejected):
        verify(SECRET, *signed(), now=T0 + 61, window=60)


def test_a_replay_within_the_window_is_rejected_with_a_seen_set():
    seen: set[str] = set()
    request = signed()
    assert verify(SECRET, *request, now=T0, seen=seen)
    with pytest.raises(errors.WebhookRejected) as info:
        verify(SECRET, *request, now=T0 + 5, seen=seen)
    assert info.value.field == "signature"
    assert "replay" in info.value.reason
    # A different request is not a replay.
    assert verify(SECRET, *signed(T0 + 1), now=T0 + 5, seen=seen)


def test_a_rejected_request_is_not_remembered():
    seen: set[str] = set()
    stamp, body, signature = signed()
    with pytest.raises(errors.WebhookRejected):
        verify("other", stamp, body, signature, now=T0, seen=seen)
    assert seen == set()


def test_the_replay_cache_forgets_what_the_window_would_refuse_anyway():
    clock = [float(T0)]
    cache = ReplayCache(window=300, clock=lambda: clock[0])
    assert verify(SECRET, *signed(T0), now=clock[0], seen=cache)
    # A request stamped up to a window ahead is accepted; after two windows none can come back.
    clock[0] += 601
    assert verify(SECRET, *signed(T0 + 601), now=clock[0], seen=cache)
    assert len(cache) == 1
    with pytest.raises(errors.WebhookRejected):
        verify(SECRET, *signed(T0 + 601), now=clock[0] + 1, seen=cache)


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "sha256=",
        "sha256=" + "0" * 63,
        "sha256=" + "0" * 65,
        "sha256=" + "g" * 64,
        "sha256=" + "A" * 64,
        "sha1=" + "0" * 40,
        "sha256=" + "é" * 64,
        "sha256=" + "\u0660" * 64,  # Arabic-Indic digits: not ASCII hex
        b"sha256=" + b"0" * 64,
    ],
)
def test_a_malformed_signature_is_refused_with_a_typed_error(signature):
    """A non-ASCII or missing signature raised TypeError."""
    with pytest.raises(errors.WebhookRejected) as info:
        verify(SECRET, str(T0), BODY, signature, now=T0)
    assert info.value.field == "signature"


@pytest.mark.parametrize("timestamp", [None, "", "abc", "1.5", "-1", " 1772614800", "١٢٣", "1e9"])
def test_a_malformed_timestamp_is_refused_with_a_typed_error(timestamp):
    with pytest.raises(errors.WebhookRejected) as info:
        verify(SECRET, timestamp, BODY, "sha256=" + "0" * 64, now=T0)
    assert info.value.field == "timestamp"


@given(st.text(max_size=80), st.text(max_size=20))
def test_any_header_text_gives_true_or_a_typed_rejection(signature, timestamp):
    with contextlib.suppress(errors.WebhookRejected):
        assert verify(SECRET, timestamp, BODY, signature, now=T0) is True


def test_a_rejection_is_an_invalid_value():
    assert issubclass(errors.WebhookRejected, errors.InvalidValue)


@pytest.mark.parametrize("window", [0, -5, float("nan"), "300", True])
def test_a_bad_window_is_refused_by_name(window):
    with pytest.raises(errors.InvalidValue) as info:
        verify(SECRET, *signed(), now=T0, window=window)
    assert info.value.field == "window"
