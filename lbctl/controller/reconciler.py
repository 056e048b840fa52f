"""What the controller knows, what deserves work, and one batch of work.

:class:`Reconciler` keeps two caches fed by the watches: every Service (all namespaces, all
classes: any Service's status makes an address used) and the latest state document.  From each
change it decides, cheaply and without asking the API server, whether a Service needs looking
at, and queues its key:

* a Service of ours whose status does not show exactly what the state records for it (new,
  pending, recorded but unpublished, drifted);
* a Service that was deleted, or is no longer of type LoadBalancer or ours, while the state
  records an address for it;
* every pending Service, when the state's pools changed or addresses were freed (a pool added
  with the CLI, a release), since the allocator may now have an answer.

:meth:`Reconciler.start` hands one batch of keys to
:func:`lbctl.actions.services.record_services`, the same decisions ``reconcile`` makes, in
one state transaction, and starts the status PATCHes; :meth:`Reconciler.finish` waits for them
(the worker records the next batch meanwhile), records the metrics, logs what changed, and
queues again (with a growing delay) the Services that failed for a reason that may pass (the
API server unreachable, a conflict).  A Service the allocator refused (pool exhausted...)
waits for a change of pools or a freed address instead, with a growing delay per refusal when
it is a freed address; its ``AllocationFailed`` Event is written once per five minutes at most
(:class:`lbctl.actions.services.EventRecorder`), its repeats counted.

The caches may lag the API server.  A batch plans on the state document as the watch (or the
controller's own last write) left it, and writes with that version, without reading it: when
someone else changed it meanwhile, the compare-and-swap refuses the write and the batch runs
again on the document read afresh.  Safety rests on that compare-and-swap, never on the cache.

A state document that is missing while Services of ours show addresses lbctl could have
handed out was lost, not never written (:mod:`lbctl.core.lost`; the Nodes are listed then,
since their addresses are never lbctl's, and their addresses kept while the document is
missing; listed again, once per NODES_TTL at most, while the state looks lost: a node may
have joined, or the listing failed): no batch runs then (the controller would start
a state that records none of them); the error is logged once, with the way back, and counted
(``lbctl_state_missing``).  When a state is there again, or no such Service is left, that is
logged, the gauge follows, and every Service is looked at.
A Service the controller just published is seen published (the API server's answer) until
the watch brings that version, so that a batch that looks at it sooner does not publish it
again.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime

from lbctl.actions import services as actions
from lbctl.controller.metrics import Metrics
from lbctl.controller.queue import WorkQueue
from lbctl.core import lost
from lbctl.core import service as core
from lbctl.core.allocator import Allocator, Followed
from lbctl.core.leases import parse_micro_time
from lbctl.core.nodes import addresses_only
from lbctl.core.state import ServiceKey, State
from lbctl.errors import LbctlError
from lbctl.ports import NODES, KubeAPI, Obj, WatchEvent
from lbctl.state.configmap import document_of
from lbctl.state.store import StateStore, Stored

#: ``log(level, message, fields)``: level is ``info``, ``warning`` or ``error``.
Log = Callable[[str, str, Mapping[str, object]], None]

#: Failure reasons that may pass by themselves: the Service is queued again after a delay.
TRANSIENT = frozenset({"Unreachable", "Conflict"})
#: Seconds: a Service the allocator refused is looked at again, when addresses are freed, no
#: sooner than this after the refusal, doubled per refusal in a row up to REFUSED_MAX.
REFUSED_FIRST = 1.0
REFUSED_MAX = 60.0
#: How many of the last Service versions (and own state writes) the watches are remembered to
#: have brought.
RECENT = 4096
#: Seconds a publication stands in for the cache's copy of a Service at most (its watch event
#: comes within milliseconds; past this the cache decides again, at worst a second PATCH).
PATCHED_TTL = 30.0
#: Seconds the Nodes listed while the state document is missing stand while the state looks
#: lost (a Service shows an address of none of them) before they are listed again.
NODES_TTL = 60.0


def quiet(level: str, message: str, fields: Mapping[str, object]) -> None:
    """The default log: nothing."""


@dataclass(frozen=True)
class InFlight:
    """A batch recorded in the state whose publications are under way."""

    publication: actions.Publication
    services: dict[ServiceKey, Obj]  # the cache as the batch saw it
    shown_before: dict[ServiceKey, bool]  # whether each status showed an address already


class Reconciler:
    def __init__(self, kube: KubeAPI, store: StateStore, queue: WorkQueue[ServiceKey],
                 metrics: Metrics, *, clock: Callable[[], datetime], log: Log = quiet,
                 workers: int = actions.WORKERS) -> None:
        self.kube = kube
        self.store = store
        self.queue = queue
        self.metrics = metrics
        self._clock = clock
        self._log = log
        self.workers = workers
        self._lock = threading.Lock()
        self.services: dict[ServiceKey, Obj] = {}
        self._published: dict[ServiceKey, tuple[str, ...]] = {}  # what their statuses show
        # The state document as last seen (the watch, or this controller's own writes): what a
        # batch plans on and compare-and-swaps against.  Never what safety rests on: a stale
        # one makes the write fail (409), and the batch runs again on the document read afresh.
        self.snapshot: Stored | None = None
        # The resourceVersions of this controller's writes whose watch events have not come
        # back yet, oldest first; and the last ones the watch brought (a write's event may
        # come before the writer is back).
        self._echoes: list[str] = []
        self._watched: deque[str] = deque(maxlen=64)
        # How many times the state watch LISTed (its first listing, then one per 410 Gone): a
        # batch that took its document before the last listing cannot know whether its own
        # (see :meth:`_adopt`).
        self._listings = 0
        self.batches = 0
        self._in_flight: set[ServiceKey] = set()  # recorded, publication under way
        # Services this controller published (the resourceVersion the API server gave each,
        # what its status shows, when) until the watch brings that version into the cache: a
        # batch that looks at one sooner sees it published (so it is not published twice).
        self._patched: dict[ServiceKey, tuple[str, tuple[str, ...], float]] = {}
        # The (Service, resourceVersion) pairs the watch brought last: a publication whose
        # version is among them is in the cache already (or something newer is).
        self._recent: deque[tuple[ServiceKey, str]] = deque()
        self._recent_set: set[tuple[ServiceKey, str]] = set()
        self._deferred: set[ServiceKey] = set()  # queued again while in flight
        # Refused by the allocator (pool full...): when, by the queue's clock, a freed address
        # may have it looked at again, and how many refusals in a row.
        self._refused: dict[ServiceKey, tuple[float, int]] = {}
        self.events = actions.EventRecorder(kube)
        # Each batch's allocator starts from the last one's when it plans on the state that one
        # made (this controller's own last write): not every address marked again per batch.
        self.allocators = Followed()
        # The Services that make the state lost (found missing while they show addresses):
        # decided, logged and counted by one thread at a time (:meth:`state_lost`), on the
        # latest view: every change of what that decision reads (the Services, the document,
        # the Nodes) counts in _seen, and a decision that something changed under is taken
        # again.  No I/O under _deciding: the Nodes are listed outside it, under _listing.
        self._found: list[lost.Stranded] = []
        self._deciding = threading.Lock()  # (taken before _lock, never inside it)
        self._listing = threading.Lock()  # (never taken with another lock held)
        self._seen = 0
        # While the state document is missing: when (the queue's clock) the Nodes were listed,
        # and their addresses.
        self._nodes: tuple[float, list[Obj]] | None = None
        # The status PATCHes of every batch, on threads started once.
        self.executor = ThreadPoolExecutor(max_workers=max(1, workers),
                                           thread_name_prefix="publish")

    # ------------------------------------------------------------------ what needs work

    def _needs_work(self, key: ServiceKey, svc: Obj | None) -> bool:
        state = self.snapshot.state if self.snapshot is not None else None
        if state is None:
            return svc is not None and core.is_ours(svc)
        allocation = state.allocations.get(key)
        if svc is None or not core.is_ours(svc):
            return allocation is not None
        return core.condition(svc, allocation).state != core.ASSIGNED

    def pending(self) -> list[ServiceKey]:
        """Services of ours whose status shows no address."""
        with self._lock:
            return [key for key, svc in self.services.items()
                    if core.is_ours(svc) and not core.ingress_ips(svc)]

    def everything(self) -> list[ServiceKey]:
        """Every Service known and every Service the state records: a full pass."""
        with self._lock:
            keys = set(self.services)
            if self.snapshot is not None:
                keys |= set(self.snapshot.state.allocations)
        return sorted(keys)

    # ------------------------------------------------------------------ Services watch

    def services_listed(self, items: list[Obj]) -> None:
        """A fresh LIST: replace the cache; whatever vanished was deleted unseen."""
        fresh = {core.key_of(svc): _slim(svc) for svc in items}
        with self._lock:
            gone = set(self.services) - set(fresh)
            self.services = fresh
            self._published = core.published(fresh.values())
            self._patched.clear()
            for key, svc in fresh.items():
                self._remember(key, _version_of(svc))
            work = [key for key in sorted(gone | set(fresh))
                    if self._needs_work(key, fresh.get(key))]
            self._seen += 1
            lost_before = bool(self._found)
        self.queue.add(work)
        if lost_before:
            self.state_lost(wait=False)

    def service_changed(self, event: WatchEvent) -> None:
        key = core.key_of(event.object)
        with self._lock:
            version = _version_of(event.object)
            self._remember(key, version)
            patched = self._patched.get(key)
            if patched is not None and (event.type == "DELETED" or version == patched[0]):
                del self._patched[key]  # the cache has caught up
            if event.type == "DELETED":
                self.services.pop(key, None)
                self._published.pop(key, None)
                self._refused.pop(key, None)
                svc = None
            else:
                self.services[key] = svc = _slim(event.object)
                shown = core.ingress_ips(svc)
                if shown:
                    self._published[key] = shown
                else:
                    self._published.pop(key, None)
            work = self._needs_work(key, svc)
            self._seen += 1
            lost_before = bool(self._found)
        if work:
            self.queue.add([key])
        if lost_before and (svc is None or not core.is_ours(svc) or not core.ingress_ips(svc)):
            self.state_lost(wait=False)  # (was it the last Service that showed an address?)

    # ------------------------------------------------------------------ state watch

    def state_listed(self, items: list[Obj]) -> None:
        with self._lock:
            self._listings += 1
            self._echoes.clear()  # a listing is the latest there is
        self._state_seen(items[0] if items else None)

    def state_changed(self, event: WatchEvent) -> None:
        self._state_seen(None if event.type == "DELETED" else event.object)

    def _state_seen(self, configmap: Obj | None) -> None:
        version = _version_of(configmap)
        with self._lock:
            self._watched.append(version)
            if version and version in self._echoes:
                # This controller's own write, known since it was written; or an older one
                # of its writes, superseded.
                del self._echoes[:self._echoes.index(version) + 1]
                return
            if self._echoes and configmap is not None:
                # Another writer's, before this controller's last write (the watch brings
                # the writes in order): that write was a compare-and-swap on top of it, so
                # the snapshot holds this change already.
                return
        try:
            stored = self.store.stored(*document_of(configmap))
        except LbctlError as exc:
            self._log("error", f"cannot read {self.store.location}: {exc.message}",
                      {"hint": exc.hint})
            return
        self._adopt(stored)

    def _adopt(self, stored: Stored, *, written: bool = False,
               listings: int | None = None) -> None:
        """``stored``, from the watch or this controller's own transaction (``written``: its
        write, whose watch event is still to come; ``listings``: :attr:`_listings` when the
        batch took its document), is adopted unless the watch has brought a later document
        since.  A batch's document is never adopted once the state watch has LISTed again
        meanwhile: the LIST may have gone past it (the watch will never bring it) and brought
        a later one, or it may not (the watch brings it, as it brings anyone's change);
        resourceVersions are opaque, so which one it was is not asked."""
        with self._lock:
            if listings is not None and listings != self._listings:
                return
            if not written and self._echoes:
                return  # this controller wrote meanwhile, on top of it (see _state_seen)
            version = _version_of(stored.version)
            if version in self._watched and version != self._watched[-1]:
                # The document a batch planned on, or wrote, and the watch has brought a later
                # one since (the CLI's, during the batch): that one stays the latest.
                return
            before = self.snapshot.state if self.snapshot is not None else None
            self.snapshot = stored
            self._seen += 1
            if stored.text is not None:
                self._nodes = None  # (listed again when the document is missing again)
            lost_before = bool(self._found)
        if stored.text is None or lost_before:
            self.state_lost(wait=False)  # (lost now? or back: then it says so)
        state = stored.state
        if before is state:
            return
        self._usage(state)
        if before is None or before.pools != state.pools:
            self.queue.add(self.pending())  # an operator's change: every one at once
        elif _freed(before, state):
            self.retry_pending()

    def _expect_echo(self, stored: Stored) -> None:
        """(Under the lock.)  This controller wrote ``stored``: its watch event, when it comes,
        is known for an echo (:meth:`_state_seen`) rather than decoded and compared as another
        writer's change.  Called as soon as the write returned, before its PATCHes start (they
        give the watch thread the time to bring the event)."""
        version = _version_of(stored.version)
        if version and version not in self._watched:  # (else the watch brought it already)
            self._echoes.append(version)
            del self._echoes[:-RECENT]  # (a watch that brings nothing any more)

    def _usage(self, state: State) -> None:
        def usage() -> Iterator[tuple[str, int, int, int]]:
            allocator = Allocator(state)
            return ((pool, family, used, capacity)
                    for pool in sorted(state.pools)
                    for family, (used, capacity) in sorted(allocator.usage(pool).items()))

        self.metrics.usage_from(usage)

    def state_lost(self, *, wait: bool = True) -> list[lost.Stranded]:
        """The Services that make the state lost (none: it is not).  Say so when that changes:
        that it is lost, that it is back, or that it is still missing but no Service shows an
        address it should record any more (then look at every Service: their batches were
        dropped meanwhile).  Any thread may ask (a batch, a watch, the readiness probe); one
        decides at a time, on the latest view (a change during the decision has it taken
        again), so that each change is said and counted once, the last word follows the last
        change, and /readyz, the gauge and the log agree (Nodes listed again for one of them
        are listed for all).

        The Nodes, when the decision needs them listed (again), are listed with no lock held
        that a watch takes (the API server may take its timeouts and retries), by one thread
        at a time, and the decision is taken again with them.  A thread that does not
        ``wait`` (a watch's: the answer is not its business) leaves a decision that needs
        the Nodes another thread is listing to that thread, which decides after its LIST,
        on a view that holds this change, and gets the last decision meanwhile."""
        listed: tuple[float, list[Obj]] | None = None
        while True:
            with self._deciding:
                found = self._decide(listed)
            if found is not None:
                return found
            if not self._listing.acquire(blocking=wait):
                with self._lock:
                    return self._found
            try:
                listed = self._nodes_listed()
            finally:
                self._listing.release()

    def _decide(self, listed: tuple[float, list[Obj]] | None) -> list[lost.Stranded] | None:
        """(Under _deciding.)  :meth:`state_lost`'s decision, said and counted; None (nothing
        decided) when the Nodes must be listed first."""
        while True:
            with self._lock:
                seen = self._seen
            found = self._stranded(listed)
            if found is None:
                return None
            with self._lock:
                if self._seen != seen:
                    continue  # (a watch changed what it was decided on: again)
                was, self._found = bool(self._found), found
                back = self.snapshot is None or self.snapshot.text is not None
                break
        if found and not was:
            self.metrics.missing(True)
            error = lost.missing(self.store.location, found)
            self._log("error", error.message, {"hint": error.hint})
        elif was and not found:
            self.metrics.missing(False)
            self._log("info", f"{self.store.location} is back: looking at every Service"
                      if back else f"{self.store.location} is still missing, but no "
                      "Service shows an address it should record any more: looking at "
                      "every Service", {})
            self.queue.add(self.everything())
        return found

    def _stranded(self, listed: tuple[float, list[Obj]] | None) -> list[lost.Stranded] | None:
        """(Under _deciding.)  The Services of ours that show addresses lbctl could have
        handed out while the state document is missing; None when the Nodes are to be listed
        first: never listed, or over NODES_TTL ago (and not ``listed`` for this decision),
        while a Service shows an address none of them has."""
        with self._lock:
            if self.snapshot is None or self.snapshot.text is not None:
                return []
            services = list(self.services.values())
            nodes = self._nodes
        stale = nodes is None or (nodes is not listed
                                  and self.queue.now() >= nodes[0] + NODES_TTL)
        needed = False

        def fresh(found: list[lost.Stranded]) -> None:
            nonlocal needed
            needed = stale  # (else the Nodes listed lately stand)

        found = lost.stranded_without_state(services, fresh,
                                            known=nodes[1] if nodes is not None else ())
        return None if needed else found

    def _nodes_listed(self) -> tuple[float, list[Obj]] | None:
        """(Under _listing.)  The Nodes while the state document is missing (None: it is back),
        listed now unless another thread listed them while this one waited, and kept."""
        with self._lock:
            if self.snapshot is None or self.snapshot.text is not None:
                return None
            nodes = self._nodes
        now = self.queue.now()
        if nodes is not None and now < nodes[0] + NODES_TTL:
            return nodes
        listed = (now, self._list_nodes())
        with self._lock:
            if self.snapshot is not None and self.snapshot.text is None:
                self._nodes = listed  # (else back meanwhile: listed again next time)
                self._seen += 1
        return listed

    def _list_nodes(self) -> list[Obj]:
        """The Nodes, their addresses only (none when they cannot be listed: then their
        addresses count as lbctl's too, the safe side)."""
        try:
            return [addresses_only(node) for node in self.kube.list(NODES)]
        except LbctlError as exc:
            self._log("warning", f"cannot list the Nodes: {exc.message}; a Service showing "
                      "a node's address counts as lbctl's", {"hint": exc.hint})
            return []

    # ------------------------------------------------------------------ one batch

    def handle(self, keys: Iterable[ServiceKey]) -> actions.Batch | None:
        """One batch, waited for: :meth:`start`, then :meth:`finish`."""
        started = self.start(keys)
        return None if started is None else self.finish(started)

    def start(self, keys: Iterable[ServiceKey]) -> InFlight | None:
        """Record ``keys`` in one state transaction and start publishing them (their status
        PATCHes run on :attr:`executor`); :meth:`finish` waits for them.  None when there was
        nothing to start, or the transaction failed as a whole (then every key is queued
        again after a delay).  A key whose previous publication is still in flight waits for
        it (it is queued again when that one finishes), so it is not published twice."""
        with self._lock:
            wanted = list(dict.fromkeys(keys))  # as queued: the oldest first
            busy = [key for key in wanted if key in self._in_flight]
            self._deferred.update(busy)
            keys = [key for key in wanted if key not in self._in_flight]
            services = dict(self.services)
            expired = self.queue.now() - PATCHED_TTL
            for key in [k for k, (_, _, when) in self._patched.items() if when < expired]:
                del self._patched[key]  # (a watch event missed: the cache is the judge again)
            for key in keys:
                if key in self._patched and key in services:
                    services[key] = _showing(services[key], self._patched[key][1])
            published = dict(self._published)
            published.update((key, shown) for key, (_, shown, _) in self._patched.items())
            base = self.snapshot
            listings = self._listings
        if not keys or (base is not None and base.text is None and self.state_lost()):
            return None  # (while the state is lost: every key is queued when it is back)
        shown_before = {key: bool(core.ingress_ips(services[key])) for key in keys
                        if key in services}
        now = self._clock()
        try:
            recorded = actions.record_services(self.kube, self.store, services, keys, now=now,
                                               base=base, published=published,
                                               followed=self.allocators)
        except LbctlError as exc:
            self._log("error", f"batch of {len(keys)} Service(s) failed: {exc.message}",
                      {"hint": exc.hint})
            self.metrics.failed(actions.reason_of(exc), len(keys))
            for key in keys:
                self.queue.retry(key)
            return None
        # The PATCHes in the order the Services were queued, the oldest first (the allocator
        # serves them by name).
        order = {key: index for index, key in enumerate(keys)}
        recorded = replace(recorded, jobs=sorted(recorded.jobs,
                                                 key=lambda job: order.get(job.key, len(order))))
        with self._lock:
            self._in_flight.update(recorded.keys)
            if recorded.written and recorded.stored is not None and listings == self._listings:
                self._expect_echo(recorded.stored)  # (after a LIST it may never come: _adopt)
        # The PATCHes first: the rest is bookkeeping that no Service waits for.
        publication = actions.Publication(self.kube, recorded, now=now, executor=self.executor,
                                          record_event=self.events.record,
                                          published=self._published_now)
        self.batches += 1
        self.metrics.transaction()
        if recorded.stored is not None:
            self._adopt(recorded.stored, written=recorded.written, listings=listings)
        return InFlight(publication, services, shown_before)

    def finish(self, started: InFlight) -> actions.Batch:
        """Wait for a batch's publications, then log, count, and queue what needs another
        look: Services refused for a reason that may pass, and pending Services when
        addresses were freed."""
        try:
            batch = started.publication.finish(
                self.store, warn=lambda message: self._log("warning", message, {}))
        finally:
            with self._lock:
                keys = started.publication.recorded.keys
                self._in_flight.difference_update(keys)
                again = [key for key in keys if key in self._deferred]
                self._deferred.difference_update(again)
            self.queue.add(again)
        now = self._clock()
        services, shown_before = started.services, started.shown_before
        released = False
        for outcome in batch.outcomes:
            key = (outcome.namespace, outcome.name)
            fields = {"service": f"{outcome.namespace}/{outcome.name}", "result": outcome.result}
            if outcome.result in (actions.ASSIGNED, actions.PUBLISHED):
                self.queue.forget(key)
                self._refused.pop(key, None)
                self.metrics.allocated(outcome.result)
                self._log("info", f"{outcome.result} {', '.join(outcome.ips)} "
                          f"(pool {outcome.pool})",
                          {**fields, "ips": list(outcome.ips), "pool": outcome.pool})
                svc = services.get(key)
                if svc is not None and not shown_before.get(key):
                    self._observe_publication(svc, now)
            elif outcome.result == actions.RELEASED:
                released = True
                self.queue.forget(key)
                self.metrics.allocated(outcome.result)
                self._log("info", "released", fields)
            elif not outcome.ok:
                self.metrics.failed(outcome.reason or "Unknown")
                self._log("warning", f"{outcome.reason}: {outcome.message}",
                          {**fields, "reason": outcome.reason})
                if outcome.reason in TRANSIENT:
                    self.queue.retry(key)
                else:
                    self._refused_again(key)
        if released:  # freed addresses may serve Services that were waiting
            self.retry_pending()
        return batch

    def _published_now(self, key: ServiceKey, version: str, shown: tuple[str, ...]) -> None:
        """(A publishing thread.)  The API server answered ``key``'s status PATCH: until the
        watch brings ``version``, batches see the status as it now is."""
        with self._lock:
            if key in self.services and (key, version) not in self._recent_set:
                self._patched[key] = (version, shown, self.queue.now())

    def _remember(self, key: ServiceKey, version: str) -> None:
        """(Under the lock.)  The watch brought ``version`` of ``key``."""
        self._recent.append((key, version))
        self._recent_set.add((key, version))
        if len(self._recent) > RECENT:
            self._recent_set.discard(self._recent.popleft())

    def _refused_again(self, key: ServiceKey) -> None:
        """The allocator refused ``key`` (again): the next look that a freed address brings
        waits a little longer each time (see :meth:`retry_pending`)."""
        with self._lock:
            _, count = self._refused.get(key, (0.0, 0))
            self._refused[key] = (self.queue.now() + min(REFUSED_FIRST * 2.0 ** count,
                                                         REFUSED_MAX), count + 1)

    def retry_pending(self) -> None:
        """Addresses were freed: look at every pending Service again, except that a Service
        refused recently waits for the end of its back-off (it is queued for then), so that a
        cluster where Services come and go does not retry every pending Service, and write its
        Event, at every release.  A change of pools retries every one at once instead."""
        now = self.queue.now()
        keys = self.pending()
        with self._lock:
            due = {key: self._refused[key][0] for key in keys
                   if key in self._refused and self._refused[key][0] > now}
        self.queue.add([key for key in keys if key not in due])
        for key, when in due.items():
            self.queue.add_at(key, when)

    def _observe_publication(self, svc: Obj, now: datetime) -> None:
        created = parse_micro_time((svc.get("metadata") or {}).get("creationTimestamp"))
        if created is not None:
            self.metrics.published(max(0.0, (now - created).total_seconds()))


#: What the cache drops from each Service: read by nothing in lbctl, and on a real cluster
#: often most of the object's size.
_HEAVY_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def _slim(svc: Obj) -> Obj:
    """The Service without ``managedFields`` and kubectl's last-applied copy of itself."""
    meta = svc.get("metadata")
    if not isinstance(meta, dict) or not ("managedFields" in meta or any(
            a in (meta.get("annotations") or {}) for a in _HEAVY_ANNOTATIONS)):
        return svc
    meta = {k: v for k, v in meta.items() if k != "managedFields"}
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        meta["annotations"] = {k: v for k, v in annotations.items()
                               if k not in _HEAVY_ANNOTATIONS}
    return {**svc, "metadata": meta}


def _version_of(obj: object) -> str:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return str((meta or {}).get("resourceVersion") or "")


def _showing(svc: Obj, shown: tuple[str, ...]) -> Obj:
    """The Service with a status that shows ``shown``."""
    status = svc.get("status")
    status = status if isinstance(status, dict) else {}
    return {**svc, "status": {**status, "loadBalancer": {"ingress": [{"ip": ip}
                                                                     for ip in shown]}}}


def _freed(before: State, after: State) -> bool:
    """Did any recorded address (allocation or hold) go away?  Then a Service the allocator
    refused before may get an address now."""
    return not before.allocations.items() <= after.allocations.items() or bool(
        before.holds.keys() - after.holds.keys())
