"""Compare-and-swap retries: the one policy for every read-modify-write lbctl does against a
versioned store (the state document in :mod:`lbctl.state.store`, kube-proxy's ConfigMap in
:mod:`lbctl.actions.kubeproxy`, and whatever the controller writes next).

An *attempt* reads, computes and writes with the version it read; when the write loses the race
(a 409, a changed file) the attempt returns :data:`LOST` and :func:`compare_and_swap` runs it
again, at most ``attempts`` times in all.  Between attempts it waits a random part (``jitter``)
of a window that starts at :data:`BACKOFF` seconds and doubles, capped at :data:`MAX_BACKOFF`, so
that writers that collided do not collide again in lockstep.

Pure: the clock and the randomness are passed in (``sleep``, ``jitter``); errors other than a lost
race propagate from the attempt unchanged, and giving up raises what ``gave_up`` builds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, Union

T = TypeVar("T")

#: How many times an attempt runs (the first time, then after each lost race) before giving up.
ATTEMPTS = 8
#: Seconds: the first retry waits up to this long, each next one up to twice as long ...
BACKOFF = 0.02
#: ... but never more than this.
MAX_BACKOFF = 1.0


class Lost:
    """What an attempt returns when its write lost the race (use :data:`LOST`)."""

    def __repr__(self) -> str:
        return "LOST"


LOST = Lost()


def delay(retry: int, jitter: float) -> float:
    """Seconds to wait before retry number ``retry`` (1 for the first), ``jitter`` in [0, 1)."""
    return jitter * min(BACKOFF * (1 << (retry - 1)), MAX_BACKOFF)


def compare_and_swap(attempt: Callable[[int], Union[T, Lost]], *,
                     gave_up: Callable[[int], Exception], sleep: Callable[[float], None],
                     jitter: Callable[[], float], attempts: int = ATTEMPTS) -> T:
    """Run ``attempt(0)``, ``attempt(1)``, ... until one does not return :data:`LOST`, and
    return what it returned; after ``attempts`` lost races raise ``gave_up(attempts)``."""
    for number in range(attempts):
        if number:
            sleep(delay(number, jitter()))
        outcome = attempt(number)
        if not isinstance(outcome, Lost):
            return outcome
    raise gave_up(attempts)
