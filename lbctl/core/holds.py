"""Holds that expire: when a hold ends, and the state without the holds that have ended.

A hold (``lbctl release svc NAME --hold``) keeps a Service's addresses for the same
namespace/name.  ``--hold-for 1h`` gives it an end, recorded in the state as ``expires`` (UTC,
RFC 3339, seconds).  The one rule, used by every command that allocates or lists holds: **a hold
whose end is at or before "now" is free** — it no longer keeps its addresses from anyone.

Pure: no clock.  "now" is always an argument (an aware ``datetime``), so the rule is tested
without waiting.  Malformed durations raise :class:`lbctl.errors.UsageError`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from lbctl.core.state import STAMP, Allocation, State
from lbctl.errors import UsageError

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?\Z"


def parse_duration(text: str) -> timedelta:
    """``"1h30m"`` -> 90 minutes.  Units ``d``, ``h``, ``m``, ``s``, in that order; positive."""
    match = re.match(_DURATION, text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise UsageError(f"invalid duration {text!r}",
                         hint="write it like 30m, 1h, 1h30m or 7d")
    seconds = sum(int(n) * unit for n, unit in zip(match.groups(), _UNITS.values(),
                                                      strict=True) if n)
    if seconds <= 0:
        raise UsageError(f"invalid duration {text!r}: it must be longer than 0s",
                         hint="write it like 30m, 1h, 1h30m or 7d")
    return timedelta(seconds=seconds)


def stamp(moment: datetime) -> str:
    """The text of an end as the state keeps it (UTC, whole seconds)."""
    return moment.astimezone(timezone.utc).strftime(STAMP)


def parse_stamp(text: str) -> datetime:
    """The end recorded in the state; ``ValueError`` when it is not in :data:`STAMP` form."""
    return datetime.strptime(text, STAMP).replace(tzinfo=timezone.utc)


def ends(hold: Allocation) -> datetime | None:
    """When ``hold`` ends; None when it has no end (or the end cannot be read, which state
    validation reports)."""
    if not hold.expires:
        return None
    try:
        return parse_stamp(hold.expires)
    except ValueError:
        return None


def expired(hold: Allocation, now: datetime) -> bool:
    """Has the hold ended at ``now``?  A hold without an end never does."""
    end = ends(hold)
    return end is not None and end <= now


def live(state: State, now: datetime) -> State:
    """``state`` without the holds that have ended at ``now``: what every allocation sees."""
    kept = {key: hold for key, hold in state.holds.items() if not expired(hold, now)}
    return state if len(kept) == len(state.holds) else replace(state, holds=kept)


def with_end(hold: Allocation, now: datetime, duration: timedelta | None) -> Allocation:
    """The hold, ending ``duration`` after ``now`` (no end when ``duration`` is None)."""
    return replace(hold, expires=stamp(now + duration) if duration is not None else "")
