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

:meth:`Reconciler.handle` hands one batch of keys to
:func:`lbctl.actions.services.reconcile_services`, the same decisions ``reconcile`` makes, in
one state transaction; it records the metrics, logs what changed, and queues again (with a
growing delay) the Services that failed for a reason that may pass (the API server unreachable,
a conflict).  A Service the allocator refused (pool exhausted...) waits for a change of pools
or a freed address instead.

The caches may lag the API server; that only costs a batch that finds nothing to do, since the
action reads the state itself and writes with compare-and-swap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from lbctl.actions import services as actions
from lbctl.controller.metrics import Metrics
from lbctl.controller.queue import WorkQueue
from lbctl.core import service as core
from lbctl.core.allocator import Allocator
from lbctl.core.leases import parse_micro_time
from lbctl.core.state import ServiceKey, State, decode
from lbctl.errors import LbctlError
from lbctl.ports import KubeAPI, Obj, WatchEvent
from lbctl.state.configmap import KEY
from lbctl.state.store import StateStore

#: ``log(level, message, fields)``: level is ``info``, ``warning`` or ``error``.
Log = Callable[[str, str, Mapping[str, object]], None]

#: Failure reasons that may pass by themselves: the Service is queued again after a delay.
TRANSIENT = frozenset({"Unreachable", "Conflict"})


def quiet(level: str, message: str, fields: Mapping[str, object]) -> None:
    """The default log: nothing."""


@dataclass(frozen=True)
class StateSnapshot:
    state: State
    resource_version: str


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
        self.snapshot: StateSnapshot | None = None
        self.batches = 0
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
            work = [key for key in sorted(gone | set(fresh))
                    if self._needs_work(key, fresh.get(key))]
        self.queue.add(work)

    def service_changed(self, event: WatchEvent) -> None:
        key = core.key_of(event.object)
        with self._lock:
            if event.type == "DELETED":
                self.services.pop(key, None)
                svc = None
            else:
                self.services[key] = svc = _slim(event.object)
            work = self._needs_work(key, svc)
        if work:
            self.queue.add([key])

    # ------------------------------------------------------------------ state watch

    def state_listed(self, items: list[Obj]) -> None:
        self._state_seen(items[0] if items else None)

    def state_changed(self, event: WatchEvent) -> None:
        self._state_seen(None if event.type == "DELETED" else event.object)

    def _state_seen(self, configmap: Obj | None) -> None:
        text = ((configmap or {}).get("data") or {}).get(KEY)
        version = str(((configmap or {}).get("metadata") or {}).get("resourceVersion", ""))
        try:
            state = decode(text, self.store.location)
        except LbctlError as exc:
            self._log("error", f"cannot read {self.store.location}: {exc.message}",
                      {"hint": exc.hint})
            return
        with self._lock:
            before = self.snapshot.state if self.snapshot is not None else None
            self.snapshot = StateSnapshot(state, version)
        self._usage(state)
        if before is None or _may_unblock(before, state):
            self.queue.add(self.pending())

    def _usage(self, state: State) -> None:
        allocator = Allocator(state)
        self.metrics.set_usage(
            (pool, family, used, capacity)
            for pool in sorted(state.pools)
            for family, (used, capacity) in sorted(allocator.usage(pool).items()))

    # ------------------------------------------------------------------ one batch

    def handle(self, keys: Iterable[ServiceKey]) -> actions.Batch | None:
        """Look at ``keys`` (one state transaction); None when the batch failed as a whole
        (then every key is queued again after a delay)."""
        keys = sorted(set(keys))
        with self._lock:
            services = dict(self.services)
        shown_before = {key: bool(core.ingress_ips(services[key])) for key in keys
                        if key in services}
        try:
            batch = actions.reconcile_services(
                self.kube, self.store, services, keys, now=self._clock(),
                warn=lambda message: self._log("warning", message, {}), workers=self.workers,
                executor=self.executor)
        except LbctlError as exc:
            self._log("error", f"batch of {len(keys)} Service(s) failed: {exc.message}",
                      {"hint": exc.hint})
            self.metrics.failed(actions.reason_of(exc), len(keys))
            for key in keys:
                self.queue.retry(key)
            return None
        self.batches += 1
        self.metrics.transaction()
        now = self._clock()
        released = False
        for outcome in batch.outcomes:
            key = (outcome.namespace, outcome.name)
            fields = {"service": f"{outcome.namespace}/{outcome.name}", "result": outcome.result}
            if outcome.result in (actions.ASSIGNED, actions.PUBLISHED):
                self.queue.forget(key)
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
        if released:  # freed addresses may serve Services that were waiting
            self.queue.add(self.pending())
        return batch

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


def _may_unblock(before: State, after: State) -> bool:
    """Could a Service the allocator refused before get an address now?  When pools changed
    or any recorded address (allocation or hold) went away."""
    if before.pools != after.pools:
        return True
    return any(key not in after.allocations or after.allocations[key] != record
               for key, record in before.allocations.items()) or any(
        key not in after.holds for key in before.holds)
