"""The speaker process: watches, its Lease, and the loop that calls :meth:`Speaker.sync`.

Threads: one :class:`~lbctl.actions.reflector.Reflector` per watched kind (Services,
EndpointSlices, Nodes, the lease namespace's Leases, and the state ConfigMap by name: the
controller records an address before it publishes it, so the state is ahead of the Service's
status, and a change of the state reaches the speaker at once), one for the Lease (renew every
``retry`` seconds, with the health report, this node's MACs and its BGP summary as its
annotations: :mod:`lbctl.core.speakers`), one for the health checks when a Service asks for
one, and the main loop.  Any change wakes the main loop, which syncs at once; it also wakes
when a peer's Lease runs out or an announcement is due.

The annotations ride on every renewal (:class:`~lbctl.actions.leases.Elector`'s
``annotations``), never on a write of their own: a Lease someone deleted is recreated with
them, and one someone edited carries them again from the next renewal.

API traffic per node: five LIST+WATCH streams and one Lease renewal (a GET and a PUT) every
``retry`` seconds; the interfaces' MACs are read every ``RESYNC`` seconds.  None of it grows
with the number of Services or addresses.

BGP (when a :class:`~lbctl.nodeports.BGPSpeaker` is given): after each layer 2 sync the same facts
go to :class:`lbctl.speaker.bgp.BGPSide`, which peers and announces from this node.

While the state is lost (:mod:`lbctl.core.lost`) the speaker answers from its last good state;
one that has none holds no Lease and is not ready (:attr:`Speaker.stateless`).  The Lease is
first taken once the speaker has synced: before that it cannot tell whether it has a state to
answer from, and its peers, seeing it live, would hand it its share of the addresses.

Stopping (:meth:`Runner.stop`, from SIGTERM): BGP routes are withdrawn and the sessions closed
first (the routers stop sending traffic here at once); then the Lease is given up, so every
peer recomputes at once and the new owners announce; then this node stops answering and exits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from lbctl.actions.leases import Elector, utc_now
from lbctl.actions.reflector import Reflector
from lbctl.core.names import STATE_CONFIGMAP, SYSTEM_NAMESPACE
from lbctl.core.speakers import (
    BGP_ANNOTATION,
    MACS_ANNOTATION,
    BGPSummary,
    macs_text,
    named_interfaces,
)
from lbctl.core.state import ServiceKey
from lbctl.errors import LbctlError
from lbctl.nodeports import Announcer, BGPSpeaker, BGPStatus, Responder
from lbctl.ports import CONFIGMAPS, ENDPOINTSLICES, LEASES, NODES, SERVICES, KubeAPI
from lbctl.speaker.bgp import BGPSide
from lbctl.speaker.loop import (
    UNHEALTHY_ANNOTATION,
    Facts,
    Speaker,
    Stats,
    lease_name,
    unhealthy_text,
)
from lbctl.state.configmap import location_of

#: Lease timing: a dead speaker's addresses move within ``DURATION`` seconds of its last
#: renewal (the failover benchmark's p95 target is 3 s); each node renews every ``RETRY``.
DURATION = 2.0
RENEW_DEADLINE = 1.5
RETRY = 0.5
#: The loop recomputes at least this often even when nothing happens.
RESYNC = 30.0


@dataclass(frozen=True)
class Settings:
    node: str
    interfaces: Sequence[str] = ()
    lease_namespace: str = SYSTEM_NAMESPACE
    state_namespace: str = SYSTEM_NAMESPACE
    state_name: str = STATE_CONFIGMAP
    duration: float = DURATION
    renew_deadline: float = RENEW_DEADLINE
    retry: float = RETRY


class Runner:
    """Runs one speaker until :meth:`stop`."""

    def __init__(self, kube: KubeAPI, responder: Responder, announcer: Announcer,
                 settings: Settings, *, log: Callable[[str], None],
                 clock: Callable[[], datetime] = utc_now,
                 monotonic: Callable[[], float] = time.monotonic,
                 health: Callable[[Facts], set[ServiceKey]] | None = None,
                 bgp: BGPSpeaker | None = None) -> None:
        self.kube = kube
        self.settings = settings
        self.clock = clock  # wall clock: the Lease's timestamps, BGP's secret cache
        self.monotonic = monotonic  # deadlines: peers' liveness, announcements, wake-ups
        self.log = log
        self.stats = Stats()
        self.speaker = Speaker(settings.node, responder, announcer,
                               interfaces=settings.interfaces, log=log, stats=self.stats,
                               location=location_of(settings.state_namespace,
                                                    settings.state_name))
        self.elector = Elector(kube, settings.lease_namespace, lease_name(settings.node),
                               settings.node, duration=settings.duration,
                               renew_deadline=settings.renew_deadline, retry=settings.retry,
                               clock=clock, monotonic=monotonic,
                               annotations=self._lease_annotations)
        self.bgp = None if bgp is None else BGPSide(settings.node, bgp, kube, log=log)
        self._health = health
        self._stopping = threading.Event()
        self._dirty = threading.Event()
        self._synced = threading.Event()  # the first sync is done: the Lease may be taken
        self._unhealthy: set[ServiceKey] = set()
        self._macs = ""
        self._macs_extra: tuple[str, ...] = ()
        self._macs_read_at: datetime | None = None
        wait = self._stopping.wait
        changed = self._dirty.set
        self.reflectors: dict[str, Reflector] = {
            "services": Reflector(kube, SERVICES, on_change=changed, wait=wait),
            "endpointslices": Reflector(kube, ENDPOINTSLICES, on_change=changed, wait=wait),
            "nodes": Reflector(kube, NODES, on_change=changed, wait=wait),
            "leases": Reflector(kube, LEASES, namespace=settings.lease_namespace,
                                on_change=changed, wait=wait),
            # One name, by field selector: what RBAC's resourceNames allows to list and watch.
            "configmaps": Reflector(kube, CONFIGMAPS, namespace=settings.state_namespace,
                                    field_selector=f"metadata.name={settings.state_name}",
                                    on_change=changed, wait=wait),
        }
        self._threads: list[threading.Thread] = []
        self._lease_thread: threading.Thread | None = None

    # -- health of the process --------------------------------------------------------------

    def ready(self) -> str:
        """``""`` when synced and holding its Lease, else why not (for ``/readyz``).  While
        the state is lost, a speaker answering from its last good state stays ready (a rolling
        update of the DaemonSet replaces the pods that are not ready at once, which would
        forget it), and one with nothing to answer from says why it is not."""
        waiting = [name for name, r in self.reflectors.items() if not r.synced.is_set()]
        if waiting:
            return "waiting for the first list of " + ", ".join(waiting)
        if self.speaker.stateless:
            return self.speaker.lost
        if not self.elector.leading:
            error = self.elector.last_error
            return "Lease not held" + (f": {error.message}" if error else "")
        return ""

    def live(self) -> str:
        return ""

    # -- running ----------------------------------------------------------------------------

    def facts(self) -> Facts:
        r = self.reflectors
        state = r["configmaps"].get((self.settings.state_namespace, self.settings.state_name))
        lists = {name: x.snapshot() for name, x in r.items()}
        return Facts(services=lists["services"], endpoint_slices=lists["endpointslices"],
                     nodes=lists["nodes"], leases=lists["leases"], state=state)

    def start(self) -> None:
        for name, reflector in self.reflectors.items():
            thread = threading.Thread(target=reflector.run, name=f"lbctl-watch-{name}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        self._lease_thread = threading.Thread(target=self._hold_lease, name="lbctl-lease",
                                              daemon=True)
        self._lease_thread.start()
        if self._health is not None:
            thread = threading.Thread(target=self._check_health, name="lbctl-health-checks",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def run(self) -> None:
        """The main loop, in the calling thread, until :meth:`stop`; then hand over."""
        self.start()
        try:
            while not self._stopping.is_set():
                self._dirty.clear()
                wake = self._sync()
                timeout = RESYNC
                if wake is not None:
                    timeout = min(RESYNC, max(0.0, wake - self.monotonic()))
                self._dirty.wait(timeout)
        finally:
            self.hand_over()

    def stop(self) -> None:
        """Ask :meth:`run` to hand over and return (safe from a signal handler)."""
        self._stopping.set()
        self._dirty.set()

    def _sync(self) -> float | None:
        if any(not r.synced.is_set() for r in self.reflectors.values()):
            return None
        facts = self.facts()
        now, tick = self.clock(), self.monotonic()
        unhealthy = set(self._unhealthy)
        wake = self.speaker.sync(facts, tick, self_alive=self.elector.leading,
                                 unhealthy_here=unhealthy)
        self._synced.set()
        if self.bgp is not None:
            self.bgp.sync(facts.services, facts.endpoint_slices, facts.nodes,
                          self.speaker.state, now, unhealthy)
        return wake

    def bgp_status(self) -> BGPStatus | None:
        """The BGP sessions and announced routes (None: the speaker runs without BGP)."""
        return None if self.bgp is None else self.bgp.status()

    def hand_over(self) -> None:
        """Withdraw the BGP routes, give the Lease up (peers take over at once), then stop
        answering."""
        self._stopping.set()
        if self.bgp is not None:
            self.bgp.stop()
        if self._lease_thread is not None:
            self._lease_thread.join(timeout=10)
        released = self.elector.release()
        self.speaker.stop()
        if released:
            self.log("gave up the Lease: the other speakers take over")

    # -- the Lease thread -------------------------------------------------------------------

    def _hold_lease(self) -> None:
        while not self._synced.wait(0.05):  # (until then, is there a state to answer from?)
            if self._stopping.is_set():
                return
        leading = stateless = False
        while not self._stopping.is_set():
            was_stateless, stateless = stateless, self.speaker.stateless
            if stateless:  # nothing to answer from: the others keep this node's share
                self.elector.release()
                now_leading = False
                if not was_stateless:
                    self.log("holding no Lease while the state is lost: the other speakers "
                             "keep answering for this node's share")
            else:
                now_leading = self.elector.step()
                if self.elector.last_error is not None:
                    self.stats.lease_renewals_failed += 1
            if now_leading != leading:
                leading = now_leading
                if not stateless:
                    self.log("holding the Lease" if leading else
                             "lost the Lease: not answering until it is renewed")
                self._dirty.set()
            if self._stopping.wait(self.settings.retry):
                return

    def _read_macs(self) -> None:
        """Read this node's interfaces' MACs now and then, and at once when the interfaces the
        pools name change (``doctor --probe`` maps the MAC that answers for a VIP to a node
        with them; ownership reads a node's interfaces there); keep the last good answer on an
        error.  With ``--interface``, those alone: the pools' interfaces are not added."""
        now = self.clock()
        extra = () if self.settings.interfaces else named_interfaces(self.speaker.state)
        if (self._macs_read_at is not None and extra == self._macs_extra
                and (now - self._macs_read_at).total_seconds() < RESYNC):
            return
        self._macs_read_at = now
        self._macs_extra = extra
        try:
            self._macs = macs_text(self.speaker.responder.macs(self.settings.interfaces,
                                                              extra=extra))
        except LbctlError as exc:
            self.log(f"could not read this node's interfaces: {exc.logged()}")

    def _lease_annotations(self) -> dict[str, str | None]:
        """What this node publishes on its Lease, with every renewal: the Services whose
        health check fails here, the interfaces' MACs and the BGP summary (``None``: no such
        annotation)."""
        self._read_macs()
        return {UNHEALTHY_ANNOTATION: unhealthy_text(self._unhealthy) or None,
                MACS_ANNOTATION: self._macs or None,
                BGP_ANNOTATION: _bgp_text(self.bgp_status())}

    # -- the health-check thread ------------------------------------------------------------

    def _check_health(self) -> None:
        assert self._health is not None
        while not self._stopping.wait(1.0):
            if any(not r.synced.is_set() for r in self.reflectors.values()):
                continue
            failing = self._health(self.facts())
            if failing != self._unhealthy:
                for ns, name in sorted(failing - self._unhealthy):
                    self.log(f"health check of {ns}/{name} fails here: leaving its candidates")
                for ns, name in sorted(self._unhealthy - failing):
                    self.log(f"health check of {ns}/{name} passes here again")
                self._unhealthy = failing
                self._dirty.set()


def _bgp_text(status: BGPStatus | None) -> str | None:
    """The Lease's BGP annotation for ``status`` (None: no BGP to report)."""
    if status is None or not (status.sessions or status.announced):
        return None
    return BGPSummary(len(status.sessions), status.established, status.announced).text
