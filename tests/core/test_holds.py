"""Holds that expire: durations, the end as the state keeps it, and the one rule (an ended hold
is free), all with "now" passed in."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from lbctl.core.allocator import EXHAUSTED, Allocator, Request
from lbctl.core.holds import expired, live, parse_duration, with_end
from lbctl.core.state import Allocation, decode, encode
from lbctl.errors import InvalidStateError, UsageError
from tests.core.support import pool, refusal, state_of

NOW = datetime(2025, 1, 31, 12, 0, tzinfo=timezone.utc)
HOLD = Allocation("shop", "web", ("10.0.0.1",), "p")


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("7d", 604800), ("1d2h3m4s", 93784),
])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "1", "h", "1x", "-1h", "0s", "1m1h", "1.5h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_duration(text)
    assert caught.value.hint == "write it like 30m, 1h, 1h30m or 7d"


@pytest.mark.parametrize(("after", "is_expired"), [
    (timedelta(seconds=-1), False), (timedelta(0), True), (timedelta(hours=2), True),
])
def test_a_hold_ends_at_its_end(after: timedelta, is_expired: bool) -> None:
    hold = with_end(HOLD, NOW, timedelta(hours=1))
    assert hold.expires == "2025-01-31T13:00:00Z"
    assert expired(hold, NOW + timedelta(hours=1) + after) is is_expired


def test_a_hold_without_end_never_expires() -> None:
    assert not expired(HOLD, datetime(9999, 1, 1, tzinfo=timezone.utc))
    assert with_end(HOLD, NOW, None).expires == ""


def test_an_ended_hold_is_free_for_another_service() -> None:
    state = state_of(pool("p", "10.0.0.1/32"),
                     holds=[with_end(HOLD, NOW, timedelta(minutes=5))])
    assert refusal(Allocator(live(state, NOW)), Request("shop", "other")).reason == EXHAUSTED
    later = live(state, NOW + timedelta(minutes=5))
    assert later.holds == {}
    allocation, _ = Allocator(later).allocate(Request("shop", "other"))
    assert allocation.ips == ("10.0.0.1",)
    assert live(state, NOW) is state  # nothing ended: the same state


def test_the_end_round_trips_through_the_document() -> None:
    state = state_of(pool("p", "10.0.0.0/30"),
                     holds=[with_end(HOLD, NOW, timedelta(hours=1))])
    text = encode(state)
    assert "web: {ips: [10.0.0.1], pool: p, expires: '2025-01-31T13:00:00Z'}" in text
    assert decode(text) == state
    unquoted = text.replace("'2025-01-31T13:00:00Z'", "2025-01-31T13:00:00Z")
    assert decode(unquoted) == state


@pytest.mark.parametrize(("section", "value", "problem"), [
    ("holds", "tomorrow", "holds shop/web: expires must be a UTC time like "
                          "2025-01-31T12:00:00Z, not 'tomorrow'"),
    ("allocations", "'2025-01-31T13:00:00Z'", "allocations shop/web: only a hold has expires"),
])
def test_bad_ends_are_invalid(section: str, value: str, problem: str) -> None:
    text = (f"schemaVersion: 1\npools:\n  p: {{addresses: [10.0.0.0/30]}}\n{section}:\n"
            f"  shop:\n    web: {{ips: [10.0.0.1], pool: p, expires: {value}}}\n")
    with pytest.raises(InvalidStateError) as caught:
        decode(text)
    assert problem in caught.value.message
