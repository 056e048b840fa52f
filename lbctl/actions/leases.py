"""Leases through the :class:`~lbctl.ports.KubeAPI` port: read one, and hold one.

:class:`Elector` takes, renews and gives up one Lease under one identity, with the rules of
:mod:`lbctl.core.leases`.  ``lbctl controller`` runs one per replica on the shared Lease
``kube-system/lbctl-controller`` (one leader, the others stand by); ``lbctl speaker`` runs one
per node on its own Lease (always the holder: the Lease only proves it is alive).

Timing (client-go's, scaled by ``duration``): every ``retry`` seconds a replica tries to take
or renew the Lease.  A leader whose renewals keep failing for ``renew_deadline`` seconds stops
leading *before* its claim (``duration``) runs out, so that by the time another replica may
take over, the old leader has stopped.  Still, nothing unsafe follows if two replicas lead at
once: the state's compare-and-swap keeps every address for one Service.

Two clocks are passed in: ``clock() -> aware UTC datetime`` for the Lease's timestamps
(``renewTime``, ``acquireTime``: wall-clock, as Kubernetes requires) and ``monotonic() ->
seconds`` for every deadline (the renew deadline, a silent holder's expiry), so that a wall
clock set forward or back neither ends a healthy leadership nor makes a replica take a Lease
still held.  Waiting is passed in too (``wait(seconds) -> True when asked to stop``), so the
loop runs in tests in milliseconds.

Error policy: :meth:`Elector.step` never raises for an API failure: a failure is a round in
which this replica did not renew (``last_error`` says why).  :func:`read` raises
:mod:`lbctl.errors` classes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from lbctl.core import leases as core
from lbctl.core.names import CONTROLLER, CONTROLLER_LEASE, SYSTEM_NAMESPACE
from lbctl.errors import ConflictError, LbctlError, NotFoundError, PermissionDeniedError
from lbctl.ports import LEASES, PODS, KubeAPI, Obj

Clock = Callable[[], datetime]
#: ``wait(seconds)``: sleep, returning True early when the caller must stop.
Wait = Callable[[float], bool]

#: client-go's defaults: a claim lasts 15 s, a leader gives up after 10 s without renewing, and
#: every replica tries every 2 s.
DURATION = 15.0
RENEW_DEADLINE = 10.0
RETRY = 2.0


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class LeaseInfo:
    """A Lease as read, for status reports."""

    namespace: str
    name: str
    record: core.LeaseRecord
    resource_version: str


def read(kube: KubeAPI, namespace: str, name: str) -> LeaseInfo | None:
    """The Lease, or None when it does not exist."""
    try:
        obj = kube.get(LEASES, name, namespace)
    except NotFoundError:
        return None
    meta = obj.get("metadata") or {}
    return LeaseInfo(namespace, name, core.record_of(obj), str(meta.get("resourceVersion", "")))


class Elector:
    """Holds (or waits for) one Lease as ``identity``.  Not thread-safe: one thread steps it;
    others may read :attr:`leading`."""

    def __init__(self, kube: KubeAPI, namespace: str, name: str, identity: str, *,
                 duration: float = DURATION, renew_deadline: float = RENEW_DEADLINE,
                 retry: float = RETRY, clock: Clock = utc_now,
                 monotonic: Callable[[], float] = time.monotonic,
                 annotations: Callable[[], Mapping[str, str | None]] | None = None) -> None:
        """``annotations()``: what the holder publishes on the Lease, written with every claim
        (:func:`lbctl.core.leases.claimed`): a Lease recreated after a deletion carries them
        from its first write, with no write of its own."""
        if not 0 < retry < renew_deadline < duration:
            raise ValueError("leases need 0 < retry < renew_deadline < duration")
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.duration = duration
        self.renew_deadline = renew_deadline
        self.retry = retry
        self._clock = clock
        self._monotonic = monotonic
        self._annotations = annotations
        self._observed: core.Observed | None = None
        self._current: Obj | None = None
        self._renewed_at: float | None = None  # monotonic, last successful write as leader
        self.leading = False
        self.last_error: LbctlError | None = None
        self.transitions = 0  # how often this replica became leader

    @property
    def holder(self) -> str:
        """The holder as last seen ("" when none or not read yet)."""
        return self._observed.record.holder if self._observed is not None else ""

    def step(self) -> bool:
        """One round: read the Lease, take or renew it if allowed.  Returns :attr:`leading`."""
        now, tick = self._clock(), self._monotonic()
        try:
            self._round(now, tick)
            self.last_error = None
        except LbctlError as exc:
            self.last_error = exc
            if self.leading and (self._renewed_at is None or
                                 tick - self._renewed_at >= self.renew_deadline):
                self.leading = False
        return self.leading

    def _round(self, now: datetime, tick: float) -> None:
        try:
            current: Obj | None = self.kube.get(LEASES, self.name, self.namespace)
        except NotFoundError:
            current = None
        if current is not None:
            self._observed = core.observe(self._observed, core.record_of(current), tick)
            if self._observed.held_by_other(self.identity, tick):
                self.leading = False
                return
        body = core.claimed(current, self.identity, now, self.duration,
                            namespace=self.namespace, name=self.name,
                            annotations=self._annotations() if self._annotations else None)
        try:
            if current is None:
                written = self.kube.create(LEASES, body, self.namespace)
            else:
                written = self.kube.replace(LEASES, body)
        except ConflictError:
            # Another replica wrote first: it leads (or renewed) this round.
            self.leading = False
            return
        if not self.leading:
            self.transitions += 1
        self.leading = True
        self._renewed_at = tick
        self._current = written
        self._observed = core.observe(self._observed, core.record_of(written), tick)

    def release(self) -> bool:
        """Give the Lease up now, if this replica holds it, so a standby takes over at once.
        Returns whether it was given up."""
        was_leading, self.leading = self.leading, False
        if not was_leading:
            return False
        try:
            current = self.kube.get(LEASES, self.name, self.namespace)
            if core.record_of(current).holder != self.identity:
                return False
            self.kube.replace(LEASES, core.given_up(current, self._clock()))
        except LbctlError as exc:
            self.last_error = exc
            return False
        return True

    def run(self, wait: Wait, on_change: Callable[[bool], None] | None = None,
            on_error: Callable[[LbctlError], None] | None = None) -> None:
        """Step every ``retry`` seconds until ``wait`` says stop; call ``on_change(leading)``
        whenever leadership changes, and ``on_error(error)`` when a round fails otherwise than
        the round before (a Lease that stays forbidden is reported once, not every round).  On
        the way out: ``on_change(False)`` (when leading), then the Lease is given up."""
        leading = False
        reported: str | None = None
        try:
            while True:
                now_leading = self.step()
                error = self.last_error
                if error is not None and error.message != reported and on_error is not None:
                    on_error(error)
                reported = error.message if error is not None else None
                if now_leading != leading and on_change is not None:
                    on_change(now_leading)
                leading = now_leading
                if wait(self.retry):
                    return
        finally:
            if leading and on_change is not None:
                on_change(False)  # stop acting first, then let a standby take over
            self.release()


# --------------------------------------------------------------------------- status


@dataclass(frozen=True)
class Replica:
    """A controller pod, as ``controller status`` lists it."""

    name: str
    phase: str  # Running, Pending, ...
    ready: bool
    node: str
    leader: bool


@dataclass(frozen=True)
class ControllerStatus:
    lease: str  # "kube-system/lbctl-controller"
    record: core.LeaseRecord | None  # None: no Lease
    leading: bool  # a holder whose claim has not run out (by the timestamps)
    now: datetime
    pods_namespace: str
    replicas: tuple[Replica, ...] = ()
    pods_problem: str = ""  # why the pods could not be listed


def controller_status(kube: KubeAPI, namespace: str, name: str, pods_namespace: str, *,
                      now: datetime, skew: float = 2.0) -> ControllerStatus:
    """The leader Lease and the controller pods (labelled ``app.kubernetes.io/name`` =
    ``lbctl-controller`` in ``pods_namespace``).  A Lease renewed within its duration (plus
    ``skew`` seconds of clock difference) means a controller leads."""
    info = read(kube, namespace, name)
    record = info.record if info is not None else None
    leading = record is not None and core.is_fresh(record, now, skew=skew)
    try:
        pods = kube.list(PODS, pods_namespace,
                         label_selector=f"app.kubernetes.io/name={CONTROLLER}")
    except PermissionDeniedError as exc:  # the Lease still answers the question
        return ControllerStatus(f"{namespace}/{name}", record, leading, now, pods_namespace,
                                (), pods_problem=exc.message)
    replicas = []
    for pod in sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("name", ""))):
        pod_name = str((pod.get("metadata") or {}).get("name", ""))
        status = pod.get("status") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in status.get("conditions") or [] if isinstance(c, dict))
        replicas.append(Replica(pod_name, str(status.get("phase") or "Unknown"), ready,
                                str((pod.get("spec") or {}).get("nodeName") or ""),
                                leading and record is not None and record.holder == pod_name))
    return ControllerStatus(f"{namespace}/{name}", record, leading, now, pods_namespace,
                            tuple(replicas))


@dataclass(frozen=True)
class Serving:
    """Whether an ``lbctl controller`` serves lbctl's Services right now."""

    leader: str | None  # the replica that leads, when one does
    detail: str  # one line for a person


def serving(kube: KubeAPI, *, now: datetime, namespace: str = SYSTEM_NAMESPACE,
            name: str = CONTROLLER_LEASE, skew: float = 2.0) -> Serving:
    """Read the controller's Lease: a fresh holder serves every Service of lbctl's class.  A
    Lease that cannot be read (403) gives an answer that says so, never an error."""
    try:
        info = read(kube, namespace, name)
    except LbctlError as exc:
        return Serving(None, f"unknown (cannot read the Lease {namespace}/{name}: "
                             f"{exc.message})")
    if info is not None and core.is_fresh(info.record, now, skew=skew):
        return Serving(info.record.holder, f"{info.record.holder} serves it (leader of the "
                                           f"Lease {namespace}/{name})")
    if info is None:
        return Serving(None, "none runs: only lbctl assign and reconcile give it an address")
    return Serving(None, "none leads: the controller's Lease was not renewed; lbctl "
                         "controller status says more")
