"""Service use cases: list and show, assign (one, every pending one, manifests), release,
reconcile.

Owns the order in which lbctl changes two places, the state and the cluster, so that a crash at
any point leaves nothing worse than an address reserved for nobody (which ``reconcile``
repairs), never one address published for two Services:

* **record before publishing**: an allocation is written to the state (compare-and-swap, the
  whole batch in one transaction) before ``status.loadBalancer.ingress`` is patched;
* **withdraw before forgetting**: the ingress is cleared before the state forgets the
  allocation;
* a publication the API server *refused* (403, 404, 422) is rolled back in the state, since
  nothing was published; one that may have reached the server (connection lost) is kept for
  ``reconcile`` to finish.

Every rule about a Service comes from :mod:`lbctl.core.service` and every allocation decision
from :class:`~lbctl.core.allocator.Allocator` (``svc show`` explains a pending Service by running
it on the current state, without writing).  Kubernetes is reached only through the
:class:`~lbctl.ports.KubeAPI` port; manifests arrive as text and leave as text (the command
reads and writes the files).  Time is passed in (``now``, for Events).  Nothing here prints,
touches a file or builds an adapter: warnings go to ``warn``, progress to ``progress``.

Events: ``assign svc`` records ``IPAllocated`` or ``AllocationFailed``; a batch (``--all``,
``reconcile``) records only ``AllocationFailed``, so that N Services cost N + 3 requests.

Error policy: :mod:`lbctl.errors` only.  Single-Service actions raise; batch actions never stop
at one Service's failure: each failure is an :class:`Outcome` with a stable ``reason``.  An Event
that cannot be recorded is a warning, never a failure.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from lbctl.actions import Warn, ignore
from lbctl.actions.listing import ServiceView
from lbctl.core import holds, pinning
from lbctl.core import service as core
from lbctl.core.addresses import is_ip
from lbctl.core.allocator import (
    AllocationError,
    Allocator,
    Followed,
    Granted,
    Request,
    allocate_many,
)
from lbctl.core.manifests import Manifest, without_states
from lbctl.core.state import Allocation, ServiceKey, State
from lbctl.errors import (
    ConflictError,
    LbctlError,
    NotFoundError,
    PermissionDeniedError,
    RefusedError,
    UnreachableError,
    UsageError,
)
from lbctl.ports import ENDPOINTSLICES, EVENTS, SERVICES, KubeAPI, Obj, Source
from lbctl.state.store import StateStore, Stored

#: Status patches and Events sent at once by a batch.
WORKERS = 16

Progress = Callable[[int, int], None]


# --------------------------------------------------------------------------- outcomes

ASSIGNED = "assigned"  # newly recorded in the state and published
PUBLISHED = "published"  # already recorded; the status did not show it, now it does
UNCHANGED = "unchanged"
RELEASED = "released"
HELD = "held"
PINNED = "pinned"
MOVED = "moved"  # a pin edited in a manifest moved the allocation
PRUNED = "pruned"  # assign -f --prune: the Service left the manifests
SKIPPED = "skipped"
DRIFT = "drift"
FAILED = "failed"


def reason_of(error: LbctlError) -> str:
    """A stable code for a failure (``-o json``, Event messages): the allocator's reason, or
    the kind of error."""
    if isinstance(error, AllocationError):
        return error.reason
    for kind, code in ((PermissionDeniedError, "Forbidden"), (NotFoundError, "NotFound"),
                       (UnreachableError, "Unreachable"), (ConflictError, "Conflict"),
                       (UsageError, "InvalidRequest")):
        if isinstance(error, kind):
            return code
    return "Refused"


@dataclass(frozen=True)
class Outcome:
    """What happened to one Service in a batch."""

    namespace: str
    name: str
    result: str  # ASSIGNED, PUBLISHED, UNCHANGED, RELEASED, PINNED, SKIPPED, DRIFT, FAILED
    ips: tuple[str, ...] = ()
    pool: str = ""
    reason: str = ""  # for FAILED and DRIFT
    message: str = ""
    hint: str = ""  # for FAILED: the way out, as an error's hint

    @property
    def ok(self) -> bool:
        return self.result not in (FAILED, DRIFT)


@dataclass(frozen=True)
class Batch:
    outcomes: list[Outcome]
    dry_run: bool = False

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


def _failed(key: ServiceKey, error: LbctlError) -> Outcome:
    return Outcome(key[0], key[1], FAILED, reason=reason_of(error), message=error.message,
                   hint=error.hint)


# --------------------------------------------------------------------------- reading


def _get(kube: KubeAPI, namespace: str, name: str) -> Obj:
    try:
        return kube.get(SERVICES, name, namespace)
    except NotFoundError as exc:
        raise NotFoundError(f"service {namespace}/{name} not found",
                            hint=f"kubectl get svc -n {namespace} lists the Services") from exc


@dataclass(frozen=True)
class Detail:
    """Everything ``svc show`` says about one Service."""

    view: ServiceView
    asked: core.Asked | None  # None when the request itself is malformed
    hold: Allocation | None
    problem: LbctlError | None  # why a pending Service gets no address
    would_get: Allocation | None  # what it would get now, when pending and nothing stops it


def show_service(kube: KubeAPI, store: StateStore, namespace: str, name: str, *,
                 now: datetime) -> Detail:
    """One Service, and for a pending one the allocator's answer on the current state (where
    holds that ended before ``now`` are free)."""
    svc = _get(kube, namespace, name)
    state = holds.live(store.load(), now)
    slices = kube.list(ENDPOINTSLICES, namespace,
                       label_selector=f"kubernetes.io/service-name={name}")
    allocation = state.allocation(namespace, name)
    view = ServiceView(svc, allocation, core.condition(svc, allocation),
                       core.ready_nodes(slices).get((namespace, name), ()))
    problem: LbctlError | None = None
    would_get = None
    asked = None
    try:
        asked = core.asked(svc)
        if core.is_ours(svc) and view.condition.state == core.PENDING:
            published = core.published(kube.list(SERVICES, None))
            would_get, _ = Allocator(state, published).allocate(core.request(svc))
    except LbctlError as exc:
        problem = exc
    return Detail(view, asked, state.holds.get((namespace, name)), problem, would_get)


# --------------------------------------------------------------------------- events


def _event_name(svc: Obj, reason: str, message: str, warning: bool) -> str:
    """The Event's name: the Service's name and a digest of what the Event says, so that the
    same Event recorded again finds the first one (client-go's recorder aggregates the same
    way, by involved object, reason and message)."""
    meta = svc.get("metadata") or {}
    key = "\n".join((str(meta.get("uid") or ""), reason, message, str(warning)))
    return f"{meta.get('name')}.{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def _record_event(kube: KubeAPI, svc: Obj, reason: str, message: str, now: datetime, *,
                  warning: bool = False, repeats: int = 1) -> str:
    """Record a core/v1 Event on ``svc``, or, when the same Event (reason and message) was
    recorded before, count it again there (``count`` + ``repeats``, ``lastTimestamp`` now), as
    client-go's recorder does: a failure repeated on every run stays one Event.  Return why it
    failed, or ``""``."""
    namespace, name = core.key_of(svc)
    meta = svc.get("metadata") or {}
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    event_name = _event_name(svc, reason, message, warning)
    body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name, "namespace": namespace},
        "involvedObject": {
            "apiVersion": "v1", "kind": "Service", "namespace": namespace, "name": name,
            "uid": meta.get("uid", ""), "resourceVersion": meta.get("resourceVersion", ""),
        },
        "reason": reason,
        "message": message,
        "type": "Warning" if warning else "Normal",
        "source": {"component": "lbctl"},
        "reportingComponent": "lbctl",
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": repeats,
    }
    try:
        try:
            kube.create(EVENTS, body, namespace)
        except ConflictError:  # recorded before: count it again
            seen = kube.get(EVENTS, event_name, namespace)
            kube.patch(EVENTS, event_name, {"count": int(seen.get("count") or 1) + repeats,
                                            "lastTimestamp": stamp}, namespace)
    except LbctlError as exc:
        return exc.message
    return ""


def _allocated_message(allocation: Allocation) -> str:
    return f"Assigned IP {', '.join(allocation.ips)} from pool {allocation.pool}"


class EventRecorder:
    """Events for a long-running caller: the same Event (Service, reason, message) repeated
    within ``interval`` seconds is counted here, not written; the next write after the
    interval adds the repeats to the Event's ``count``.  client-go's recorder does the same
    (its spam filter lets one Event per object through every five minutes once a burst is
    spent), so that a Service that keeps failing the same way costs the API server one write
    per interval, not one per retry.  Remembers at most ``size`` Events (the oldest go).
    Thread-safe; ``clock`` is monotonic seconds."""

    def __init__(self, kube: KubeAPI, *, interval: float = 300.0, size: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.kube = kube
        self.interval = interval
        self.size = size
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, int]] = {}  # name: (last write, repeats since)
        self.written = 0  # Events written (created or counted), for tests and metrics

    def record(self, svc: Obj, reason: str, message: str, now: datetime, *,
               warning: bool = False) -> str:
        """Like :func:`_record_event`: why it failed, or ``""`` (also when held back)."""
        name = _event_name(svc, reason, message, warning)
        tick = self._clock()
        with self._lock:
            last = self._seen.pop(name, None)
            if last is not None and tick - last[0] < self.interval:
                self._seen[name] = (last[0], last[1] + 1)  # held back; now the newest
                return ""
            self._seen[name] = (tick, 0)
            while len(self._seen) > self.size:
                del self._seen[next(iter(self._seen))]
            self.written += 1
        repeats = 1 + (last[1] if last is not None else 0)
        return _record_event(self.kube, svc, reason, message, now, warning=warning,
                             repeats=repeats)


# --------------------------------------------------------------------------- assign one


@dataclass(frozen=True)
class Assigned:
    namespace: str
    name: str
    allocation: Allocation
    result: str  # ASSIGNED (newly recorded), PUBLISHED (recorded before), UNCHANGED


def assign(kube: KubeAPI, store: StateStore, namespace: str, name: str, *,
           ips: Sequence[str] = (), pool: str | None = None, dry_run: bool = False,
           now: datetime, warn: Warn = ignore) -> Assigned:
    """Give one Service its address: record it in the state, then publish it in the status,
    then record an Event (``IPAllocated``, or ``AllocationFailed`` with the reason when the
    Service's request cannot be met).  Running it again on an assigned Service changes
    nothing."""
    svc = _get(kube, namespace, name)
    core.check_ours(svc)
    published = core.published(kube.list(SERVICES, None))

    def event(reason: str, message: str, *, warning: bool = False) -> None:
        failed = _record_event(kube, svc, reason, message, now, warning=warning)
        if failed:
            warn(f"could not record an Event on service {namespace}/{name}: {failed}")

    def refused(error: LbctlError) -> LbctlError:
        if not dry_run:
            event("AllocationFailed", f"{reason_of(error)}: {error.message}", warning=True)
        return error

    try:
        request = core.request(svc, ips, pool)
    except LbctlError as exc:
        raise refused(exc) from None

    def change(state: State) -> tuple[State, tuple[Allocation, bool] | LbctlError]:
        state = holds.live(state, now)
        found = core.condition(svc, state.allocation(namespace, name))
        if found.drift in (core.UNRECORDED, core.MISMATCH):
            raise RefusedError(
                f"service {namespace}/{name}: {found.detail}; lbctl does not overwrite an "
                "address it did not publish",
                hint=f"record it: lbctl adopt svc {name} -n {namespace}; or, if it is stale, "
                     f"withdraw it: lbctl release svc {name} -n {namespace} --force"
                if found.drift == core.UNRECORDED else
                f"withdraw both and assign again: lbctl release svc {name} -n {namespace} "
                f"--force && lbctl assign svc {name} -n {namespace}",
            )
        allocator = Allocator(state, published)
        try:
            result = allocator.allocate(request)
        except LbctlError as exc:
            return state, exc
        return allocator.state(), result

    outcome = store.update(change, dry_run=dry_run).result
    if isinstance(outcome, LbctlError):
        raise refused(outcome)
    allocation, new = outcome
    shown = set(core.ingress_ips(svc)) == set(allocation.ips)
    result = ASSIGNED if new else UNCHANGED if shown else PUBLISHED
    if dry_run or shown:
        return Assigned(namespace, name, allocation, result)
    try:
        _publish(kube, svc, allocation)
    except LbctlError as exc:
        raise _after_failed_publish(store, {request.key: (exc, new)}, warn)[request.key] from exc
    event("IPAllocated", _allocated_message(allocation))
    return Assigned(namespace, name, allocation, result)


def _publish(kube: KubeAPI, svc: Obj, allocation: Allocation) -> Obj:
    """The Service as the API server stored it, its status showing ``allocation``."""
    namespace, name = core.key_of(svc)
    return kube.patch(SERVICES, name, core.ingress_patch(allocation.ips), namespace,
                      subresource="status")


def _definite(error: LbctlError) -> bool:
    """The API server answered and refused, so the status surely did not change."""
    return not isinstance(error, (UnreachableError, ConflictError))


def _after_failed_publish(store: StateStore, failures: Mapping[ServiceKey, tuple[LbctlError,
                                                                              bool]],
                          warn: Warn) -> dict[ServiceKey, LbctlError]:
    """Forget new allocations whose publication was refused (nothing was published, so the
    state may forget them); keep the others for ``reconcile``.  Returns each error with a hint
    that says which of the two happened.  ``failures``: key -> (error, newly allocated)."""
    undo = [key for key, (error, new) in failures.items() if new and _definite(error)]
    rolled_back = False
    if undo:
        def change(state: State) -> tuple[State, None]:
            allocator = Allocator(state)
            for namespace, name in undo:
                allocator.release(namespace, name)
            return allocator.state(), None

        try:
            store.update(change)
            rolled_back = True
        except LbctlError as exc:
            warn(f"could not take back {len(undo)} unpublished allocation(s) from "
                 f"{store.location}: {exc.message}; lbctl reconcile will")
    explained: dict[ServiceKey, LbctlError] = {}
    for key, (error, new) in failures.items():
        if new and _definite(error) and rolled_back:
            note = "the state no longer holds an address for it"
        else:
            note = "the address stays recorded in the state; lbctl reconcile publishes it"
        explained[key] = type(error)(error.message, f"{error.hint}; {note}" if error.hint
                                     else note)
    return explained


# --------------------------------------------------------------------------- batches


@dataclass
class _Plan:
    """What one batch will do: Services to allocate (and publish), allocations to forget."""

    allocate: list[Obj] = field(default_factory=list)
    forget: list[ServiceKey] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)  # decided without any change
    published: dict[ServiceKey, tuple[str, ...]] = field(default_factory=dict)  # every status


@dataclass(frozen=True)
class _Job:
    """One Service after the state transaction: its allocation, or why it has none."""

    svc: Obj
    result: Allocation | LbctlError
    new: bool = False

    @property
    def key(self) -> ServiceKey:
        return core.key_of(self.svc)

    def outcome(self) -> Outcome:
        if isinstance(self.result, LbctlError):
            return _failed(self.key, self.result)
        return Outcome(*self.key, ASSIGNED if self.new else PUBLISHED, self.result.ips,
                       self.result.pool)


#: ``record_event(svc, reason, message, now, warning=...) -> why it failed, or ""``: how a
#: batch writes its ``AllocationFailed`` Events (a long-running caller passes one that
#: aggregates repeats, :class:`EventRecorder`).
RecordEvent = Callable[..., str]


@dataclass
class Recorded:
    """A batch after its state transaction: what was decided without touching any status
    (releases, drift reports), and what is left to publish or explain."""

    outcomes: list[Outcome]
    jobs: list[_Job]
    dry_run: bool = False
    stored: Stored | None = None  # the state document after the transaction
    written: bool = False  # whether the transaction wrote it

    @property
    def keys(self) -> list[ServiceKey]:
        return [job.key for job in self.jobs]


def _record(store: StateStore, plan: _Plan, *, dry_run: bool, now: datetime,
            base: Stored | None = None, followed: Followed | None = None) -> Recorded:
    """The one state transaction of a batch: release what the plan forgets, allocate the rest
    (the first half of *record before publishing*)."""
    services = {core.key_of(svc): svc for svc in plan.allocate}
    requests = core.requests(plan.allocate)

    def change(state: State) -> tuple[State, list[_Job]]:
        live = holds.live(state, now)
        # Only allocations are forgotten: a hold made meanwhile (release --hold) stays.
        forget = [key for key in plan.forget if key in live.allocations]
        done = allocate_many(live, requests, release=forget, published=plan.published,
                             followed=followed)
        return done.state, [_Job(services[key], answer.allocation, answer.new)
                            if isinstance(answer, Granted) else _Job(services[key], answer)
                            for key, answer in done.answers.items()]

    applied = store.update(change, dry_run=dry_run, base=base)
    outcomes = list(plan.outcomes) + [Outcome(namespace, name, RELEASED)
                                      for namespace, name in plan.forget]
    return Recorded(outcomes, applied.result, dry_run, applied.stored, applied.written)


class Publication:
    """The second half of a batch: the status PATCHes (and ``AllocationFailed`` Events) of a
    :class:`Recorded` batch, started on ``executor`` at once; :meth:`finish` waits for them and
    takes back, in the state, what the API server refused to publish.  A long-running caller
    records its next batch while this one's PATCHes are in flight; ``published(key, version,
    shown)`` is told of each Service as soon as the API server answered its PATCH: the
    resourceVersion it gave the Service and the addresses its status now shows."""

    def __init__(self, kube: KubeAPI, recorded: Recorded, *, now: datetime,
                 executor: Executor, record_event: RecordEvent | None = None,
                 published: Callable[[ServiceKey, str, tuple[str, ...]], None] | None = None,
                 ) -> None:
        self.recorded = recorded
        events: RecordEvent = record_event or functools.partial(_record_event, kube)

        def work(job: _Job) -> tuple[LbctlError | None, str]:
            """Publish, or say in an Event why not: (publish error, Event error).  A batch
            records no ``IPAllocated`` Event: the status shows the address, and an Event per
            Service would double the requests (N+3 instead of 2N+3)."""
            if isinstance(job.result, LbctlError):
                message = f"{reason_of(job.result)}: {job.result.message}"
                return None, events(job.svc, "AllocationFailed", message, now, warning=True)
            try:
                answer = _publish(kube, job.svc, job.result)
                if published is not None:
                    published(job.key, str((answer.get("metadata") or {}).get(
                        "resourceVersion") or ""), core.ingress_ips(answer))
            except LbctlError as exc:
                return exc, ""
            return None, ""

        self.futures = {executor.submit(work, job): job for job in recorded.jobs}

    def finish(self, store: StateStore, *, warn: Warn = ignore,
               progress: Progress | None = None) -> Batch:
        jobs = self.recorded.jobs
        failures: dict[ServiceKey, tuple[LbctlError, bool]] = {}
        event_errors: list[str] = []
        if progress is not None:
            progress(0, len(jobs))
        for done, future in enumerate(as_completed(self.futures), start=1):
            job = self.futures[future]
            publish_error, event_error = future.result()
            if publish_error is not None:
                failures[job.key] = (publish_error, job.new)
            if event_error:
                event_errors.append(event_error)
            if progress is not None:
                progress(done, len(jobs))
        explained = _after_failed_publish(store, failures, warn)
        outcomes = list(self.recorded.outcomes)
        for job in jobs:
            outcomes.append(_failed(job.key, explained[job.key]) if job.key in explained
                            else job.outcome())
        if event_errors:
            warn(f"could not record {len(event_errors)} Event(s); first: {event_errors[0]}")
        return Batch(_sorted(outcomes))


def _run(kube: KubeAPI, store: StateStore, plan: _Plan, *, dry_run: bool, now: datetime,
         warn: Warn, progress: Progress | None, workers: int = WORKERS) -> Batch:
    """One state transaction for the whole plan, then the status patches and Events in
    parallel, then the rollback of refused publications."""
    recorded = _record(store, plan, dry_run=dry_run, now=now)
    if dry_run:
        return Batch(_sorted(recorded.outcomes + [job.outcome() for job in recorded.jobs]),
                     dry_run=True)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(recorded.jobs)))) as pool:
        publication = Publication(kube, recorded, now=now, executor=pool)
        return publication.finish(store, warn=warn, progress=progress)


def _sorted(outcomes: list[Outcome]) -> list[Outcome]:
    return sorted(outcomes, key=lambda o: (o.namespace, o.name))


def assign_all(kube: KubeAPI, store: StateStore, namespace: str | None, *,
               dry_run: bool = False, now: datetime, warn: Warn = ignore,
               progress: Progress | None = None, workers: int = WORKERS) -> Batch:
    """Assign every Service of ours in ``namespace`` (None: all) whose status shows no address:
    the pending ones, and those recorded but not yet published.  One LIST, one state
    transaction (a read and a write), then one status PATCH per Service, ``workers`` at a
    time, and an ``AllocationFailed`` Event on each Service that got no address."""
    services = kube.list(SERVICES, None)  # every status counts, whatever the namespace
    plan = _Plan(allocate=core.to_assign(services, namespace), published=core.published(services))
    return _run(kube, store, plan, dry_run=dry_run, now=now, warn=warn, progress=progress,
                workers=workers)


def reconcile(kube: KubeAPI, store: StateStore, namespace: str | None, *,
              dry_run: bool = False, now: datetime, warn: Warn = ignore,
              progress: Progress | None = None, workers: int = WORKERS) -> Batch:
    """One pass that makes the state and the cluster agree where it is safe to:

    * assigns pending Services, and publishes allocations the status does not show (a crash
      between recording and publishing): the Services ``assign --all`` picks;
    * releases the orphans (:func:`lbctl.core.service.orphans`: allocations whose Service is
      gone, no longer of type LoadBalancer, or now of another class), withdrawing the address
      from a status lbctl published first;
    * reports, without touching it, a status that shows an address the state does not record
      for that Service (it may belong to another controller, or be stale)."""
    services = kube.list(SERVICES, None)  # every status counts, whatever the namespace
    by_key = {core.key_of(s): s for s in services}
    state = store.load()
    keys = {key for key in (*by_key, *state.allocations) if namespace in (None, key[0])}
    plan = _reconcile_plan(kube, by_key, state, keys, dry_run=dry_run, republish=False)
    return _run(kube, store, plan, dry_run=dry_run, now=now, warn=warn, progress=progress,
                workers=workers)


def record_services(kube: KubeAPI, store: StateStore, services: Mapping[ServiceKey, Obj],
                    keys: Iterable[ServiceKey], *, now: datetime, base: Stored | None = None,
                    published: Mapping[ServiceKey, tuple[str, ...]] | None = None,
                    followed: Followed | None = None) -> Recorded:
    """``reconcile`` for the Services ``keys`` only, with the Services already known: the
    controller's batch, up to its state transaction (then :class:`Publication`).
    ``services`` is every Service the caller knows (all namespaces and classes: their statuses
    make addresses used); a key absent from it is a deleted Service.

    The same decisions as :func:`reconcile`, in one state transaction, with one difference: a
    status that shows other addresses than the state records *for that Service* is re-published
    from the state (the controller owns those statuses); a status showing addresses the state
    does not record at all is still only reported.  No LIST: one state write when something
    changed, planned on, and compare-and-swapped against, ``base`` (the document as the caller
    last saw it; read when None), read again only if it was not the latest; withdrawals
    (orphans) are PATCHed before the write.  :attr:`Recorded.stored` is the document after.
    ``published``: :func:`lbctl.core.service.published` of ``services``, when the caller keeps
    it already; ``followed``: the caller's allocators, from one batch to the next
    (:class:`lbctl.core.allocator.Followed`)."""
    base = base or store.read()
    plan = _reconcile_plan(kube, services, base.state, set(keys), dry_run=False,
                           republish=True, published=published)
    return _record(store, plan, dry_run=False, now=now, base=base, followed=followed)


def _reconcile_plan(kube: KubeAPI, by_key: Mapping[ServiceKey, Obj], state: State,
                    keys: Collection[ServiceKey], *, dry_run: bool, republish: bool,
                    published: Mapping[ServiceKey, tuple[str, ...]] | None = None) -> _Plan:
    """What reconciling the Services (and allocations) ``keys`` will do; ``by_key``: every
    Service, by key (with ``published``, what their statuses show, when known).  It costs what
    ``keys`` holds, not what the cluster and the state hold (the controller's batches)."""
    mine = [by_key[key] for key in keys if key in by_key]
    plan = _Plan(allocate=core.to_assign(mine),
                 published=dict(published) if published is not None
                 else core.published(by_key.values()))
    for svc in sorted(mine, key=core.key_of):
        key = core.key_of(svc)
        if not core.is_ours(svc):
            continue
        found = core.condition(svc, state.allocations.get(key))
        if found.state != core.DRIFT or found.drift == core.UNPUBLISHED:
            continue
        if republish and found.drift == core.MISMATCH:
            plan.allocate.append(svc)
        else:
            plan.outcomes.append(Outcome(key[0], key[1], DRIFT, core.ingress_ips(svc),
                                         reason=found.drift, message=found.detail))
    allocations = state.allocations
    recorded = [allocations[key] for key in keys if key in allocations]
    for orphan in core.orphans(recorded, by_key):
        _forget_orphan(kube, orphan, plan, dry_run=dry_run)
    return plan


def _forget_orphan(kube: KubeAPI, orphan: core.Orphan, plan: _Plan, *, dry_run: bool) -> None:
    """Withdraw the address from the status when the orphan says so, then plan to forget it."""
    key = orphan.allocation.key
    if orphan.withdraw and not dry_run:
        try:
            kube.patch(SERVICES, key[1], core.ingress_patch(()), key[0], subresource="status")
        except LbctlError as exc:
            plan.outcomes.append(_failed(key, exc))
            return
    if orphan.withdraw:  # (a dry run predicts the same) the address is free once forgotten
        plan.published.pop(key, None)
    plan.forget.append(key)


# --------------------------------------------------------------------------- release


@dataclass(frozen=True)
class Released:
    namespace: str
    name: str
    record: Allocation  # what was released (or is now held, or was withdrawn with force)
    held: bool  # kept as a hold for the same namespace/name
    withdrawn: bool  # the status was cleared now
    orphan: bool  # the Service no longer exists
    left: tuple[str, ...] = ()  # addresses the status shows that were not lbctl's: untouched
    unchanged: bool = False
    offline: bool = False  # no cluster: only the state changed
    forced: bool = False  # the state recorded nothing: an unrecorded address was withdrawn


def _not_recorded(store: StateStore, namespace: str, name: str,
                  shown: Sequence[str]) -> NotFoundError:
    if shown:
        return NotFoundError(
            f"service {namespace}/{name} has no address in {store.location}; its status shows "
            f"{', '.join(shown)}, which lbctl did not record",
            hint=f"record it: lbctl adopt svc {name} -n {namespace}; or withdraw it from the "
                 f"status: lbctl release svc {name} -n {namespace} --force")
    return NotFoundError(f"service {namespace}/{name} has no address in {store.location}",
                         hint="lbctl svc list shows the assigned Services")


def release(kube: KubeAPI | None, store: StateStore, namespace: str, name: str, *,
            hold: bool = False, hold_for: timedelta | None = None, force: bool = False,
            now: datetime | None = None, dry_run: bool = False) -> Released:
    """Withdraw a Service's address from its status, then forget it in the state (or keep it
    as a hold with ``hold``, ending ``hold_for`` after ``now`` when given).  Works for a Service
    that no longer exists.  Without a cluster (``kube`` None: a state file in a GitOps
    repository) only the state changes.  ``force`` also withdraws addresses the status shows
    that lbctl did not record (published by another controller, or stale)."""
    hold = hold or hold_for is not None
    state = store.load()
    key = (namespace, name)
    record = state.allocations.get(key)
    svc: Obj | None = None
    if kube is not None:
        try:
            svc = kube.get(SERVICES, name, namespace)
        except NotFoundError:
            svc = None
    shown = core.ingress_ips(svc) if svc is not None else ()
    if record is None and key not in state.holds:
        if not (force and shown and kube is not None and svc is not None):
            raise _not_recorded(store, namespace, name, shown)
        return _withdraw_unrecorded(kube, state, svc, hold=hold, dry_run=dry_run)
    if force and svc is not None and core.is_foreign(svc):
        core.check_ours(svc)  # another class's status is not lbctl's to clear
    ours = core.shows_only(shown, record) or (force and bool(shown))
    if ours and not dry_run and kube is not None:
        kube.patch(SERVICES, name, core.ingress_patch(()), namespace, subresource="status")

    def change(current: State) -> tuple[State, tuple[Allocation, bool]]:
        if hold and key not in current.allocations and key in current.holds:
            held = current.holds[key]
            if hold_for is None or now is None:
                return current, (held, True)
            renewed = holds.with_end(held, now, hold_for)
            return (replace(current, holds={**current.holds, key: renewed}),
                    (renewed, renewed == held))
        allocator = Allocator(current)
        released = allocator.release(namespace, name, hold=hold)
        if released is None:
            raise NotFoundError(f"service {namespace}/{name} has no address in {store.location}",
                                hint="someone released it at the same time")
        after = allocator.state()
        if hold and hold_for is not None and now is not None:
            released = holds.with_end(after.holds[key], now, hold_for)
            after = replace(after, holds={**after.holds, key: released})
        return after, (released, False)

    applied = store.update(change, dry_run=dry_run)
    released, unchanged = applied.result
    return Released(namespace, name, released, held=hold, withdrawn=ours and not dry_run,
                    orphan=svc is None and kube is not None, left=() if ours else shown,
                    unchanged=unchanged, offline=kube is None)


def _withdraw_unrecorded(kube: KubeAPI, state: State, svc: Obj, *, hold: bool,
                         dry_run: bool) -> Released:
    """``release --force`` of a Service whose status shows addresses the state does not
    record: clear the status; the state has nothing to forget."""
    namespace, name = core.key_of(svc)
    core.check_ours(svc)
    shown = core.ingress_ips(svc)
    if hold:
        raise UsageError(f"service {namespace}/{name}: lbctl did not record "
                         f"{', '.join(shown)}, so it has nothing to hold",
                         hint=f"record it first: lbctl adopt svc {name} -n {namespace}")
    if not dry_run:
        kube.patch(SERVICES, name, core.ingress_patch(()), namespace, subresource="status")
    pools = {state.pool_of(ip) for ip in shown if is_ip(ip)} - {None}
    record = Allocation(namespace, name, shown, pool=",".join(sorted(p for p in pools if p)))
    return Released(namespace, name, record, held=False, withdrawn=not dry_run, orphan=False,
                    forced=True)


# --------------------------------------------------------------------------- manifests


@dataclass(frozen=True)
class Rewritten:
    source: Source
    text: str  # the new text (the same text when nothing changed)

    @property
    def changed(self) -> bool:
        return self.text != self.source.text


def _without_states(source: Source, warn: Callable[[str], None]) -> Source:
    text, lines = without_states(source.text, source.where)
    for line in lines:
        warn(f"{source.where}:{line}: the state document is left out of the manifests printed "
             "(a copy would be stale once lbctl records an allocation); apply the --state "
             "file itself")
    return Source(source.name, text) if lines else source


def assign_manifests(store: StateStore, sources: Sequence[Source], *, namespace: str,
                     now: datetime, prune: bool = False, dry_run: bool = False,
                     in_place: bool = False, warn: Callable[[str], None] = lambda m: None,
                     ) -> tuple[list[Rewritten], Batch]:
    """Allocate for every LoadBalancer Service of ours in the manifests (same allocator, same
    state, one transaction) and pin each address in the annotation
    ``metallb.io/loadBalancerIPs`` of its text.  A Service without ``metadata.namespace`` is in
    ``namespace``.  Services whose text cannot be edited safely are refused before the state
    changes; another class's Services are skipped.  A state file among the sources (the
    ConfigMap manifest ``--state`` writes, or a bare state document) is no manifest: it is left
    out of the result.  Unless ``in_place`` (each file rewritten where it is), a state document
    among other documents (a ``kustomize build`` stream, a ``List`` item) is cut out of the
    text returned, with a warning: the manifests printed never carry the state.  That cut is
    proved before the state changes.

    The manifests are the user's intent (:mod:`lbctl.core.pinning`): a pin edited by hand moves
    the allocation when the new address is valid and free (else the Service keeps its address
    and fails, saying why); with ``prune``, allocations of Services no longer in the manifests
    are forgotten."""
    if not in_place:
        sources = [_without_states(source, warn) for source in sources]
    read = [(Manifest(source.text, source.where), source) for source in sources]
    manifests = [manifest for manifest, _ in read if not manifest.state]
    sources = [source for manifest, source in read if not manifest.state]
    outcomes: list[Outcome] = []
    requests: dict[ServiceKey, Request | LbctlError] = {}
    refused: set[ServiceKey] = set()
    for manifest in manifests:
        for found in manifest.services:
            key = core.key_of(found.obj, namespace)
            where = f"{manifest.source}:{found.line}"
            try:
                if core.is_foreign(found.obj):
                    outcomes.append(Outcome(*key, SKIPPED,
                                            message=core.condition(found.obj, None).detail))
                    continue
                if not key[1]:
                    raise UsageError(f"{where}: a Service without metadata.name")
                if found.problem:
                    raise RefusedError(f"{where}: {found.problem}",
                                       hint=f"write the annotation {core.PIN_ANNOTATION} by hand")
                requests.setdefault(key, core.request(found.obj, default_namespace=namespace))
            except LbctlError as exc:
                outcomes.append(_failed(key, exc))
                refused.add(key)
    for key in refused:  # the same Service elsewhere in the manifests is not assigned either
        requests.pop(key, None)
    present = {core.key_of(found.obj, namespace) for manifest in manifests
               for found in manifest.services}

    # what the manifests' statuses show is in use, as doctor -f counts it
    published = core.published([found.obj for manifest in manifests
                                for found in manifest.services], namespace)

    def change(state: State) -> tuple[State, pinning.Pinned]:
        done = pinning.pin(holds.live(state, now), requests, present=present, prune=prune,
                           published=published)
        return done.state, done

    pinned = store.update(change, dry_run=dry_run).result
    results = {key: answer.allocation if isinstance(answer, Granted) else answer
               for key, answer in pinned.answers.items()}
    outcomes += [_failed(key, r) for key, r in results.items() if isinstance(r, LbctlError)]
    outcomes += [Outcome(*record.key, PRUNED, record.ips, record.pool,
                         message="no longer in the manifests") for record in pinned.pruned]
    allocated = {key: r for key, r in results.items() if isinstance(r, Allocation)}
    rewritten = []
    for manifest, source in zip(manifests, sources, strict=True):
        mine = {found.index: core.key_of(found.obj, namespace) for found in manifest.services
                if core.key_of(found.obj, namespace) in allocated}
        try:
            text, edited = manifest.pin({i: allocated[key].ips for i, key in mine.items()})
        except RefusedError as exc:
            rewritten.append(Rewritten(source, source.text))
            outcomes += [_failed(key, exc) for key in mine.values()]
            continue
        rewritten.append(Rewritten(source, text))
        for index, key in mine.items():
            allocation = allocated[key]
            was = pinned.moved.get(key)
            if was is not None:
                outcomes.append(Outcome(*key, MOVED, allocation.ips, allocation.pool,
                                        message=f"was {', '.join(was.ips)} (pool {was.pool})"))
                continue
            outcomes.append(Outcome(*key, PINNED if index in edited else UNCHANGED,
                                    allocation.ips, allocation.pool))
    return rewritten, Batch(_sorted(outcomes), dry_run=dry_run)
