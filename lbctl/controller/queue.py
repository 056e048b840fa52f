"""The work queue: which Services to look at next.

Watch threads :meth:`~WorkQueue.add` keys; the one worker :meth:`~WorkQueue.take`\\ s them in
batches.  A key queued twice is looked at once (the worker reads the latest object from the
cache, so nothing is lost by coalescing).  A batch is everything queued when the worker asks,
at once, without waiting for more: an idle worker takes the first Service of a burst alone,
and whatever arrives while it records a batch is the next batch.  So a burst of creations
becomes batches that grow with the arrival rate (each one state transaction), and no Service
waits for a batch window.  A key that failed comes back after a delay
(:meth:`~WorkQueue.retry`), growing per key while it keeps failing.

Thread-safe.  Time comes from the injected ``clock`` (monotonic seconds).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

#: Seconds: the first retry of a failed key, doubled per failure up to MAX_RETRY.
FIRST_RETRY = 0.5
MAX_RETRY = 60.0


class WorkQueue(Generic[K]):
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._ready: dict[K, None] = {}  # insertion-ordered set
        self._later: list[tuple[float, int, K]] = []  # heap of (due, seq, key)
        self._seq = 0
        self._failures: dict[K, int] = {}
        self._scheduled: dict[K, float] = {}  # keys given to add_at, until due
        self._closed = False

    def __len__(self) -> int:
        with self._cond:
            return len(self._ready) + len(self._later)

    def add(self, keys: Iterable[K]) -> None:
        with self._cond:
            added = False
            for key in keys:
                self._ready[key] = None
                added = True
            if added:
                self._cond.notify_all()

    def retry(self, key: K) -> float:
        """Queue ``key`` again after a delay that doubles with each failure in a row; returns
        the delay."""
        with self._cond:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
            delay = min(FIRST_RETRY * float(2 ** failures), MAX_RETRY)
            self._seq += 1
            heapq.heappush(self._later, (self._clock() + delay, self._seq, key))
            self._cond.notify_all()
            return delay

    def now(self) -> float:
        """The queue's clock."""
        return self._clock()

    def add_at(self, key: K, due: float) -> None:
        """Queue ``key`` at ``due`` (the queue's clock); a key already waiting for an earlier
        moment keeps it."""
        with self._cond:
            if self._scheduled.get(key, float("inf")) <= due:
                return
            self._scheduled[key] = due
            self._seq += 1
            heapq.heappush(self._later, (due, self._seq, key))
            self._cond.notify_all()

    def forget(self, key: K) -> None:
        """``key`` succeeded: its next failure starts from the first delay again."""
        with self._cond:
            self._failures.pop(key, None)

    def close(self) -> None:
        """Wake the worker: :meth:`take` returns an empty batch from now on."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _promote(self, now: float) -> None:
        while self._later and self._later[0][0] <= now:
            due, _, key = heapq.heappop(self._later)
            if self._scheduled.get(key) == due:
                del self._scheduled[key]
            self._ready[key] = None

    def take(self, timeout: float | None = None) -> list[K]:
        """The next batch (in arrival order); waits up to ``timeout`` seconds for work (None:
        forever).  Empty when the timeout passed or the queue was closed."""
        with self._cond:
            deadline = None if timeout is None else self._clock() + timeout
            while True:
                if self._closed:
                    return []
                now = self._clock()
                self._promote(now)
                if self._ready:
                    break
                waits = [t for t in (deadline, self._later[0][0] if self._later else None)
                         if t is not None]
                if deadline is not None and now >= deadline:
                    return []
                self._cond.wait(None if not waits else max(0.0, min(waits) - now))
            batch = list(self._ready)
            self._ready.clear()
            return batch
