"""The controller's metrics as plain numbers; :mod:`lbctl.cli.controller` exposes them on
``/metrics`` in Prometheus' format (through prometheus-client, which only the CLI imports).

Names follow MetalLB's where they mean the same thing, with lbctl's prefix:

* ``lbctl_allocator_addresses_in_use_total{pool,family}`` and
  ``lbctl_allocator_addresses_total{pool,family}``: gauges, from the latest state;
* ``lbctl_allocations_total{result}``: Services assigned, published, released;
* ``lbctl_allocation_failures_total{reason}``: by the allocator's stable reason
  (``PoolExhausted``...) or the error kind (``Unreachable``, ``Conflict``...);
* ``lbctl_publication_seconds``: histogram, from a Service's ``creationTimestamp`` (whole
  seconds, as the API server records it) to the moment its address was published;
* ``lbctl_watch_restarts_total{resource,reason}``: ``closed``, ``expired`` (410), ``error``;
* ``lbctl_leader``: 1 while this replica leads; ``lbctl_leader_transitions_total``;
* ``lbctl_state_transactions_total``: batches written to the state;
* ``lbctl_state_missing``: 1 while the state is missing and Services of lbctl's show addresses
  (:mod:`lbctl.core.lost`): the controller allocates nothing.

Thread-safe: watches, the worker and the election update them from their own threads.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from lbctl.core.addresses import FAMILY_NAMES

#: Creation to publication, in seconds: sub-second buckets for the controller's own latency,
#: longer ones for Services that waited for a pool.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)


@dataclass
class Histogram:
    """Observations counted per upper bound (cumulative when read), with their sum."""

    bounds: tuple[float, ...] = BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, observations at or below it)``, ending with ``(inf, count)``."""
        out, running = [], 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.usage: dict[tuple[str, str], tuple[int, int]] = {}  # (pool, family): used, capacity
        self.allocations: dict[str, int] = {}
        self.failures: dict[str, int] = {}
        self.watch_restarts: dict[tuple[str, str], int] = {}
        self.publication = Histogram()
        self.leader = 0
        self.leader_transitions = 0
        self.transactions = 0
        self.state_missing = 0
        self._usage_source: Callable[[], Iterable[tuple[str, int, int, int]]] | None = None

    def allocated(self, result: str) -> None:
        with self._lock:
            self.allocations[result] = self.allocations.get(result, 0) + 1

    def failed(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self.failures[reason] = self.failures.get(reason, 0) + n

    def watch_restarted(self, resource: str, reason: str) -> None:
        with self._lock:
            key = (resource, reason)
            self.watch_restarts[key] = self.watch_restarts.get(key, 0) + 1

    def published(self, seconds: float) -> None:
        with self._lock:
            self.publication.observe(seconds)

    def transaction(self) -> None:
        with self._lock:
            self.transactions += 1

    def missing(self, now: bool) -> None:
        with self._lock:
            self.state_missing = 1 if now else 0

    def leading(self, now: bool) -> None:
        with self._lock:
            if now and not self.leader:
                self.leader_transitions += 1
            self.leader = 1 if now else 0

    def set_usage(self, usage: Iterable[tuple[str, int, int, int]]) -> None:
        """``(pool, family, used, capacity)`` for every pool and family; pools no longer there
        disappear."""
        fresh = _usage(usage)
        with self._lock:
            self.usage = fresh
            self._usage_source = None

    def usage_from(self, source: Callable[[], Iterable[tuple[str, int, int, int]]]) -> None:
        """Like :meth:`set_usage`, computed by ``source()`` only when a scrape reads it (the
        state changes with every batch; counting every pool's use at each one would cost the
        controller more than a batch)."""
        with self._lock:
            self._usage_source = source

    def snapshot(self) -> Metrics:
        """A consistent copy, for one scrape."""
        copy = Metrics()
        with self._lock:
            source = self._usage_source
        if source is not None:
            fresh = _usage(source())
            with self._lock:
                if self._usage_source is source:  # else a newer one came meanwhile
                    self.usage = fresh
                    self._usage_source = None
        with self._lock:
            copy.usage = dict(self.usage)
            copy.allocations = dict(self.allocations)
            copy.failures = dict(self.failures)
            copy.watch_restarts = dict(self.watch_restarts)
            copy.publication = Histogram(self.publication.bounds,
                                         list(self.publication.counts), self.publication.total)
            copy.leader, copy.leader_transitions = self.leader, self.leader_transitions
            copy.transactions = self.transactions
            copy.state_missing = self.state_missing
        return copy


def _usage(usage: Iterable[tuple[str, int, int, int]]) -> dict[tuple[str, str], tuple[int, int]]:
    return {(pool, FAMILY_NAMES.get(family, str(family))): (used, capacity)
            for pool, family, used, capacity in usage}
