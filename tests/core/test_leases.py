"""Lease rules: timestamps, freshness, observation-based expiry, and the bodies that take, renew
and give a Lease up (what ``kubectl get lease -o yaml`` shows after each)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from lbctl.core import leases

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("text", "expected"), [
    ("2024-05-01T12:00:00.000000Z", T0),
    ("2024-05-01T12:00:00Z", T0),
    ("2024-05-01T12:00:00.5Z", T0 + timedelta(milliseconds=500)),
    ("2024-05-01T12:00:00.123456789Z", T0 + timedelta(microseconds=123456)),
    ("2024-05-01T14:00:00+02:00", T0),
    ("2024-05-01T12:00:00", None),  # no zone: refused, not guessed
    ("yesterday", None),
    ("", None),
    (None, None),
    (17, None),
])
def test_parse_micro_time(text: object, expected: datetime | None) -> None:
    assert leases.parse_micro_time(text) == expected


def test_format_micro_time_round_trips() -> None:
    when = T0 + timedelta(microseconds=7)
    assert leases.format_micro_time(when) == "2024-05-01T12:00:00.000007Z"
    assert leases.parse_micro_time(leases.format_micro_time(when)) == when


def _lease(holder: str = "a", renewed: datetime = T0, duration: int = 15,
           transitions: int = 2) -> dict[str, object]:
    return {"metadata": {"name": "l", "namespace": "kube-system", "resourceVersion": "9"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration,
                     "acquireTime": leases.format_micro_time(T0 - timedelta(minutes=1)),
                     "renewTime": leases.format_micro_time(renewed),
                     "leaseTransitions": transitions}}


def test_record_of_reads_spec_and_tolerates_garbage() -> None:
    record = leases.record_of(_lease())
    assert (record.holder, record.duration, record.renewed, record.transitions) == (
        "a", 15.0, T0, 2)
    assert record.expires == T0 + timedelta(seconds=15)
    broken = leases.record_of({"spec": {"holderIdentity": 3, "leaseDurationSeconds": "x",
                                        "renewTime": "never", "leaseTransitions": -1}})
    assert broken == leases.LeaseRecord("", 0.0, None, None, 0)
    assert leases.record_of({"spec": "nonsense"}).holder == ""


@pytest.mark.parametrize(("holder", "at", "skew", "fresh"), [
    ("a", T0 + timedelta(seconds=14), 0.0, True),
    ("a", T0 + timedelta(seconds=15), 0.0, False),
    ("a", T0 + timedelta(seconds=16), 2.0, True),
    ("", T0, 0.0, False),
])
def test_is_fresh(holder: str, at: datetime, skew: float, fresh: bool) -> None:
    assert leases.is_fresh(leases.record_of(_lease(holder)), at, skew=skew) is fresh


def test_observed_expiry_follows_the_observers_clock_not_the_timestamps() -> None:
    # The holder's clock is an hour behind: by the timestamps it expired long ago, but an
    # observer that just saw the record change waits the whole duration.
    record = leases.record_of(_lease(renewed=T0 - timedelta(hours=1)))
    seen = leases.observe(None, record, 100.0)  # monotonic seconds
    assert seen.held_by_other("b", 114.0)
    assert not seen.held_by_other("b", 115.0)
    assert seen.expires == 115.0
    assert not seen.held_by_other("a", 100.0)  # its own claim never blocks the holder
    # The same record read again does not restart the clock; a renewal does.
    assert leases.observe(seen, record, 110.0) is seen
    renewed = leases.record_of(_lease(renewed=T0))
    assert leases.observe(seen, renewed, 110.0).since == 110.0


def test_claim_creates_a_lease() -> None:
    body = leases.claimed(None, "me", T0, 15, namespace="kube-system", name="l")
    assert body == {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "l", "namespace": "kube-system"},
        "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15,
                 "acquireTime": "2024-05-01T12:00:00.000000Z",
                 "renewTime": "2024-05-01T12:00:00.000000Z", "leaseTransitions": 0}}


def test_claim_renews_own_lease_and_takes_over_anothers() -> None:
    current = _lease("me")
    later = T0 + timedelta(seconds=5)
    renewed = leases.claimed(current, "me", later, 15, namespace="x", name="y")
    assert renewed["spec"]["renewTime"] == leases.format_micro_time(later)
    assert renewed["spec"]["acquireTime"] == current["spec"]["acquireTime"]  # type: ignore[index]
    assert renewed["spec"]["leaseTransitions"] == 2
    assert renewed["metadata"]["resourceVersion"] == "9"  # the write is a compare-and-swap
    taken = leases.claimed(current, "other", later, 15, namespace="x", name="y")
    assert taken["spec"]["holderIdentity"] == "other"
    assert taken["spec"]["acquireTime"] == leases.format_micro_time(later)
    assert taken["spec"]["leaseTransitions"] == 3
    assert current["spec"]["holderIdentity"] == "me"  # type: ignore[index]  # input untouched


@pytest.mark.parametrize(("found", "wanted", "written"), [
    (None, {"a": "1", "b": None}, {"a": "1"}),  # a created Lease carries them
    ({"a": "0", "b": "2", "c": "3"}, {"a": "1", "b": None}, {"a": "1", "c": "3"}),
    ({"b": "2"}, {"b": None}, None),  # the last one removed: no empty mapping left
    ({"c": "3"}, {}, {"c": "3"}),
])
def test_claim_writes_the_holders_annotations_and_keeps_others(
        found: dict[str, str] | None, wanted: dict[str, str | None],
        written: dict[str, str] | None) -> None:
    current = None if found is None else _lease("me")
    if current is not None:
        current["metadata"]["annotations"] = dict(found or {})  # type: ignore[index]
    body = leases.claimed(current, "me", T0, 15, namespace="x", name="y", annotations=wanted)
    assert body["metadata"].get("annotations") == written
    if current is not None:
        assert current["metadata"]["annotations"] == found  # type: ignore[index]


def test_given_up_empties_the_holder() -> None:
    body = leases.given_up(_lease("me"), T0)
    record = leases.record_of(body)
    assert (record.holder, record.duration, record.transitions) == ("", 1.0, 2)
    assert not leases.is_fresh(record, T0)


def test_age() -> None:
    record = leases.record_of(_lease())
    assert leases.age(record, T0) == timedelta(minutes=1)
    assert leases.age(leases.record_of({}), T0) is None
