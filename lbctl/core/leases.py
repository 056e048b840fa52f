"""Leases (``coordination.k8s.io/v1``): who holds one, until when, and the body that takes,
renews or gives it up.

Two long-running commands use Leases: ``lbctl controller`` elects one leader among its replicas
(Lease ``kube-system/lbctl-controller``), and ``lbctl speaker`` proves each node's liveness with
one Lease per node.  The rules live here once; :mod:`lbctl.actions.leases` does the reading and
writing through the :class:`~lbctl.ports.KubeAPI` port.

The rules follow client-go's leader election, because other tools (``kubectl get lease``, a
person at 3 a.m.) read the same fields:

* a Lease is **held** when ``holderIdentity`` is non-empty and it has not expired;
* a candidate judges expiry by *its own clock*, from when it last saw the record change
  (:class:`Observed`), not by comparing ``renewTime`` with its clock, so that clock skew
  between nodes cannot make two replicas leaders at once; that clock is a monotonic one
  (seconds, as ``time.monotonic()``), so that a wall clock set forward or back (NTP, a
  person) neither expires a live holder nor keeps a dead one; this is also how a speaker
  judges its peers' liveness; :func:`is_fresh` (the timestamps) is for reports, where no
  observation history exists;
* taking a Lease over sets ``acquireTime`` and counts a ``leaseTransitions``; renewing sets
  ``renewTime`` only; giving it up empties ``holderIdentity`` (with ``leaseDurationSeconds: 1``)
  so that a standby takes it at its next attempt instead of waiting out the duration.

Pure: no I/O, no clock; ``now`` (timezone-aware UTC, for the timestamps written) and ``tick``
(monotonic seconds, for deadlines) are passed in.  Bodies are new dictionaries:
the input object is never changed.  A malformed timestamp reads as absent, never as an error:
a Lease someone broke is a Lease nobody holds fresh.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

#: What the API calls a Lease, for bodies.
API_VERSION = "coordination.k8s.io/v1"
KIND = "Lease"

Obj = dict[str, Any]


def format_micro_time(when: datetime) -> str:
    """Kubernetes ``MicroTime``: ``2024-05-01T12:00:00.000000Z`` (UTC, microseconds)."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(text: object) -> datetime | None:
    """A ``MicroTime`` (or a plain RFC 3339 time, fraction optional, ``Z`` or an offset) as an
    aware UTC datetime; ``None`` for anything else."""
    if not isinstance(text, str) or not text:
        return None
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    if "." in value:  # fromisoformat before 3.11 takes exactly 3 or 6 fraction digits
        head, _, rest = value.partition(".")
        count = len(rest) - len(rest.lstrip("0123456789"))
        digits, zone = rest[:count], rest[count:]
        value = f"{head}.{(digits + '000000')[:6]}{zone}"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(timezone.utc)


@dataclass(frozen=True)
class LeaseRecord:
    """The fields of a Lease's ``spec`` that election reads."""

    holder: str  # "" when nobody holds it
    duration: float  # leaseDurationSeconds
    acquired: datetime | None
    renewed: datetime | None
    transitions: int

    @property
    def expires(self) -> datetime | None:
        """When the holder's claim runs out by the timestamps (None: never renewed)."""
        if self.renewed is None:
            return None
        return self.renewed + timedelta(seconds=self.duration)


def record_of(lease: Obj) -> LeaseRecord:
    """Read a Lease object (missing or malformed fields read as empty)."""
    spec = lease.get("spec") or {}
    if not isinstance(spec, dict):
        spec = {}
    holder = spec.get("holderIdentity")
    duration = spec.get("leaseDurationSeconds")
    transitions = spec.get("leaseTransitions")
    return LeaseRecord(
        holder=holder if isinstance(holder, str) else "",
        duration=float(duration) if isinstance(duration, int) and duration > 0 else 0.0,
        acquired=parse_micro_time(spec.get("acquireTime")),
        renewed=parse_micro_time(spec.get("renewTime")),
        transitions=transitions if isinstance(transitions, int) and transitions >= 0 else 0,
    )


def is_fresh(record: LeaseRecord, now: datetime, *, skew: float = 0.0) -> bool:
    """Held and, by its timestamps, not expired at ``now`` (``skew`` seconds of clock difference
    forgiven).  For reports; elections and liveness use :class:`Observed`."""
    expires = record.expires
    return bool(record.holder) and expires is not None and now < expires + timedelta(
        seconds=skew)


def age(record: LeaseRecord, now: datetime) -> timedelta | None:
    """How long the current holder has held it (since ``acquireTime``)."""
    return None if record.acquired is None else max(now - record.acquired, timedelta(0))


@dataclass(frozen=True)
class Observed:
    """A record as an observer last saw it, and when it changed, in seconds of the observer's
    monotonic clock (``time.monotonic()``: a wall clock set forward or back neither expires a
    live holder nor keeps a dead one).

    The holder's claim runs out ``duration`` seconds after the record last *changed* as seen
    here: a holder that stops renewing leaves the record unchanged, so it expires for every
    observer however wrong the observers' clocks are about each other's.  ``since`` and the
    ``tick`` of :meth:`expired` are readings of the same clock."""

    record: LeaseRecord
    since: float

    @property
    def expires(self) -> float:
        """The tick at which the holder's claim runs out unless the record changes."""
        return self.since + self.record.duration

    def expired(self, tick: float) -> bool:
        return tick >= self.expires

    def held_by_other(self, identity: str, tick: float) -> bool:
        """Someone else holds it and its claim has not run out: stand by."""
        return bool(self.record.holder) and self.record.holder != identity and not self.expired(
            tick)


def observe(previous: Observed | None, record: LeaseRecord, tick: float) -> Observed:
    """The new observation after reading ``record`` at ``tick`` (monotonic seconds): the clock
    restarts only when the record changed."""
    if previous is not None and previous.record == record:
        return previous
    return Observed(record, tick)


def _body(current: Obj | None, namespace: str, name: str) -> Obj:
    if current is None:
        return {"apiVersion": API_VERSION, "kind": KIND,
                "metadata": {"name": name, "namespace": namespace}, "spec": {}}
    body = copy.deepcopy(current)
    body.setdefault("apiVersion", API_VERSION)
    body.setdefault("kind", KIND)
    if not isinstance(body.get("spec"), dict):
        body["spec"] = {}
    return body


def claimed(current: Obj | None, identity: str, now: datetime, duration: float, *,
            namespace: str, name: str,
            annotations: Mapping[str, str | None] | None = None) -> Obj:
    """The body that makes ``identity`` the holder at ``now``: a renewal when it already holds
    the Lease, else a takeover (new ``acquireTime``, one more transition).  ``current`` is the
    Lease as read (its ``resourceVersion`` makes the write a compare-and-swap), or ``None`` to
    create it.  ``annotations``: what the holder publishes on its Lease, set on every claim (a
    value ``None`` removes the key), so that a Lease someone deleted or edited carries them
    again from the next write; other annotations are kept."""
    body = _body(current, namespace, name)
    if annotations:
        meta = body["metadata"] if isinstance(body.get("metadata"), dict) else {}
        body["metadata"] = meta
        found = meta.get("annotations")
        kept = dict(found) if isinstance(found, dict) else {}
        for key, value in annotations.items():
            if value is None:
                kept.pop(key, None)
            else:
                kept[key] = value
        if kept:
            meta["annotations"] = kept
        else:
            meta.pop("annotations", None)
    record = record_of(current) if current is not None else None
    spec = body["spec"]
    stamp = format_micro_time(now)
    if record is None or record.holder != identity or record.acquired is None:
        spec["acquireTime"] = stamp
        if record is not None and record.holder != identity:
            spec["leaseTransitions"] = record.transitions + 1
        else:
            spec.setdefault("leaseTransitions", 0)
    spec["holderIdentity"] = identity
    spec["leaseDurationSeconds"] = max(1, round(duration))
    spec["renewTime"] = stamp
    return body


def given_up(current: Obj, now: datetime) -> Obj:
    """The body that gives a held Lease up at once: no holder, a one-second duration."""
    body = _body(current, "", "")
    spec = body["spec"]
    stamp = format_micro_time(now)
    spec["holderIdentity"] = ""
    spec["leaseDurationSeconds"] = 1
    spec["acquireTime"] = stamp
    spec["renewTime"] = stamp
    return body
