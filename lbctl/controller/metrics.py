"""The controller's Prometheus metrics, in a registry of their own (one per controller, so that
tests and two controllers in one process never share counters).

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
* ``lbctl_state_transactions_total``: batches written to the state.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from lbctl.core.addresses import FAMILY_NAMES

#: Creation to publication, in seconds: sub-second buckets for the controller's own latency,
#: longer ones for Services that waited for a pool.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.in_use = Gauge("lbctl_allocator_addresses_in_use_total",
                            "Addresses allocated or held, per pool and IP family.",
                            ["pool", "family"], registry=r)
        self.capacity = Gauge("lbctl_allocator_addresses_total",
                              "Addresses a pool can hand out, per pool and IP family.",
                              ["pool", "family"], registry=r)
        self.allocations = Counter("lbctl_allocations", "Services assigned, published or "
                                   "released by the controller.", ["result"], registry=r)
        self.failures = Counter("lbctl_allocation_failures", "Services the controller could "
                                "not give an address, by reason.", ["reason"], registry=r)
        self.publication = Histogram("lbctl_publication_seconds", "Seconds from a Service's "
                                     "creation to the publication of its address.",
                                     buckets=BUCKETS, registry=r)
        self.watch_restarts = Counter("lbctl_watch_restarts", "Watches started again, by "
                                      "resource and reason.", ["resource", "reason"],
                                      registry=r)
        self.leader = Gauge("lbctl_leader", "1 while this replica is the leader.", registry=r)
        self.leader_transitions = Counter("lbctl_leader_transitions", "Times this replica "
                                          "became the leader.", registry=r)
        self.transactions = Counter("lbctl_state_transactions", "Batches of Services handled "
                                    "in one state transaction.", registry=r)
        self._pools: set[tuple[str, str]] = set()

    def set_usage(self, usage: Iterable[tuple[str, int, int, int]]) -> None:
        """``(pool, family, used, capacity)`` for every pool and family; pools no longer there
        disappear from the gauges."""
        seen = set()
        for pool, family, used, capacity in usage:
            labels = (pool, FAMILY_NAMES.get(family, str(family)))
            seen.add(labels)
            self.in_use.labels(*labels).set(used)
            self.capacity.labels(*labels).set(capacity)
        for labels in self._pools - seen:
            self.in_use.remove(*labels)
            self.capacity.remove(*labels)
        self._pools = seen
