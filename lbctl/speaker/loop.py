"""The speaker's decisions: facts in, addresses answered and announced out.

:class:`Speaker` is driven by :meth:`Speaker.sync` with a :class:`Facts` snapshot (the objects
the watches hold) and a ``tick``: seconds of a monotonic clock (``time.monotonic()``), never the
wall clock, so that a wall clock stepped forward (NTP at boot) does not expire every peer at
once and make two nodes answer for one address, nor a clock stepped back delay a failover.  It
keeps what it must remember between calls: when each peer's
Lease last changed (liveness by *this* node's clock, :class:`lbctl.core.leases.Observed`), which
addresses it answers, and the gratuitous announcements still due.  It never reads the API
server itself; :mod:`lbctl.speaker.run` feeds it from watches and renews the Lease, and tests
feed it directly with a fake tick, a fake responder and a fake announcer.

Per :meth:`sync`:

1. liveness: a speaker is alive while its Lease ``lbctl-speaker-<node>`` has a holder and has
   changed within its ``leaseDurationSeconds``; this node is alive while its own renewals
   succeed (``self_alive``), so it stops answering before its peers may take over;
2. ownership: :func:`lbctl.core.ownership.owners` on the state, Services, EndpointSlices, Nodes
   and what the Leases publish: the health reports (:data:`UNHEALTHY_ANNOTATION`) and the
   interfaces (``lbctl.io/macs``; this node's own too, so that it judges itself as the
   others do);
3. the addresses this node owns go to the responder in one call (lost ones stop at once),
   each on its pool's interfaces when the pool names some, else on this node's choice; each
   newly owned address (or one whose interfaces changed) gets gratuitous ARP / unsolicited NA
   there at once and then at :data:`GRATUITOUS_SCHEDULE` seconds, while it stays owned.

A state document that is missing while Services of lbctl's show addresses was lost
(:mod:`lbctl.core.lost`), not never written: the speaker keeps answering and announcing what
its last good state recorded (a deleted ConfigMap is no reason to withdraw every address), says
so once (``log``, :attr:`Speaker.lost`, ``Stats.state_missing``), and takes the state up again
when one is back.  A speaker that has no state of its own (it started while the state was lost)
answers for nothing: :attr:`Speaker.stateless` tells the runner to give its Lease up, so that
the others keep its share.

Error policy: nothing raises out of :meth:`sync` for a bad fact: an unreadable state document
or an address without an interface is logged (``log``) and the rest proceeds.  Port errors
from the responder (no CAP_NET_RAW) pass through: the process cannot do its job.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from lbctl.core import leases, lost, ownership
from lbctl.core import service as svc_core
from lbctl.core.ownership import Ownership
from lbctl.core.speakers import (
    LEASE_PREFIX,
    UNHEALTHY_ANNOTATION,
    interfaces_of,
    lease_name,
    unhealthy_of,
    unhealthy_text,
)
from lbctl.core.state import ServiceKey, State, decode
from lbctl.core.statefile import unwrap
from lbctl.errors import LbctlError
from lbctl.nodeports import Announcer, Responder
from lbctl.ports import Obj
from lbctl.state.configmap import DEFAULT_NAME, DEFAULT_NAMESPACE, document_of, location_of

#: Re-exported: the Lease's name and annotations are defined once, in lbctl.core.speakers.
__all__ = ["LEASE_PREFIX", "UNHEALTHY_ANNOTATION", "Facts", "Liveness", "Speaker", "Stats",
           "lease_name", "read_state", "unhealthy_of", "unhealthy_text"]

#: Seconds after taking an address over at which it is announced again (MetalLB spreads its
#: gratuitous frames over about 4 s): a frame lost on a busy switch does not strand clients.
GRATUITOUS_SCHEDULE = (0.0, 0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class Facts:
    """What the watches hold at one moment."""

    services: Sequence[Obj] = ()
    endpoint_slices: Sequence[Obj] = ()
    nodes: Sequence[Obj] = ()
    leases: Sequence[Obj] = ()  # the lease namespace's Leases (others are ignored)
    state: Obj | None = None  # the state ConfigMap, None when absent


@dataclass
class Stats:
    """Counters for ``/metrics``."""

    announced: int = 0  # addresses answered for now
    gratuitous_frames: int = 0
    ownership_changes: int = 0  # addresses gained or lost by this node
    lease_renewals_failed: int = 0
    state_missing: int = 0  # 1 while the state is lost (lbctl.core.lost)


@dataclass
class _Due:
    """The gratuitous rounds still due for one address."""

    taken: float  # tick
    rounds: list[float] = field(default_factory=lambda: list(GRATUITOUS_SCHEDULE))

    def next_at(self) -> float | None:
        return self.taken + self.rounds[0] if self.rounds else None


def read_state(configmap: Obj | None) -> State:
    """The state document in the state ConfigMap (empty when there is none)."""
    text, _ = document_of(configmap)
    if text is None:
        return State()
    document, _ = unwrap(text, "ConfigMap state")
    return decode(document, "the state ConfigMap")


class Liveness:
    """Which speakers are alive, judged by this node's monotonic clock from when each Lease last
    changed (so neither clock skew between nodes nor a wall clock set forward or back can keep
    a dead speaker alive or kill a live one)."""

    def __init__(self) -> None:
        self._seen: dict[str, leases.Observed] = {}

    def update(self, objs: Sequence[Obj], tick: float) -> None:
        seen = {}
        for obj in objs:
            name = str((obj.get("metadata") or {}).get("name") or "")
            if name.startswith(LEASE_PREFIX):
                node = name[len(LEASE_PREFIX):]
                seen[node] = leases.observe(self._seen.get(node), leases.record_of(obj), tick)
        self._seen = seen

    def alive(self, tick: float) -> set[str]:
        return {node for node, observed in self._seen.items()
                if observed.record.holder == node and not observed.expired(tick)}

    def next_expiry(self, tick: float) -> float | None:
        """The tick at which the next live speaker's claim runs out (a moment to recompute)."""
        times = [o.expires for node, o in self._seen.items()
                 if o.record.holder == node and not o.expired(tick)]
        return min(times, default=None)


class Speaker:
    """One node's speaker.  Not thread-safe: one thread calls :meth:`sync`."""

    def __init__(self, node: str, responder: Responder, announcer: Announcer, *,
                 interfaces: Sequence[str] = (), log: Callable[[str], None] = lambda _: None,
                 stats: Stats | None = None,
                 location: str = location_of(DEFAULT_NAMESPACE, DEFAULT_NAME)) -> None:
        self.node = node
        self.responder = responder
        self.announcer = announcer
        self.interfaces = tuple(interfaces)
        self.log = log
        self.stats = stats or Stats()
        self.liveness = Liveness()
        self.owned: dict[str, ownership.Group] = {}
        #: The interfaces each owned address is answered on (missing: this node's choice).
        self.on: dict[str, tuple[str, ...]] = {}
        self.ownership: Ownership = Ownership(())
        self._due: dict[str, _Due] = {}
        self._state_problem = ""
        self._state = State()
        self.location = location  # the state's, for messages
        #: While the state is lost: what is wrong and what this speaker does meanwhile.
        self.lost = ""
        self._kept = False  # self._state was read from a state document
        self._inputs: tuple[object, ...] | None = None
        self._candidates: list[ownership.Candidate] = []
        self._nodes: dict[str, ownership.NodeFacts] = {}
        self._decided: tuple[object, Ownership] | None = None

    # -- one decision -----------------------------------------------------------------------

    def compute(self, facts: Facts, tick: float, *, self_alive: bool,
                unhealthy_here: Collection[ServiceKey] = ()) -> Ownership:
        """The ownership every speaker computes from ``facts`` at ``tick``.

        Lease renewals arrive several times a second and change nothing but liveness: the
        candidates are recomputed only when the other facts are new objects (the runner passes
        the same sequences while nothing changed), and the owners only when the candidates,
        the live speakers or the health reports changed."""
        self.liveness.update(facts.leases, tick)
        live = self.liveness.alive(tick)
        live.discard(self.node)
        if self_alive:
            live.add(self.node)
        failing: dict[ServiceKey, set[str]] = {}
        for obj in facts.leases:
            name = str((obj.get("metadata") or {}).get("name") or "")
            node = name[len(LEASE_PREFIX):]
            if name.startswith(LEASE_PREFIX) and node != self.node:
                for key in unhealthy_of(obj):
                    failing.setdefault(key, set()).add(node)
        for key in unhealthy_here:
            failing.setdefault(key, set()).add(self.node)
        present = interfaces_of(facts.leases)
        inputs = (facts.services, facts.endpoint_slices, facts.nodes, facts.state)
        cached = self._inputs
        if cached is None or any(a is not b for a, b in zip(inputs, cached, strict=True)):
            self._state = self._read_state(facts)
            endpoints = svc_core.ready_nodes(facts.endpoint_slices)
            self._candidates = ownership.announced(self._state, facts.services, endpoints)
            self._nodes = {f.name: f for f in map(ownership.node_facts, facts.nodes)}
            self._inputs = inputs
            self._decided = None
        decision = (frozenset(live), {k: frozenset(v) for k, v in failing.items()}, present)
        if self._decided is None or self._decided[0] != decision:
            result = ownership.owners(self._candidates, self._nodes, live, self._state.pools,
                                      failing, present)
            self._decided = (decision, result)
        return self._decided[1]

    def sync(self, facts: Facts, tick: float, *, self_alive: bool,
             unhealthy_here: Collection[ServiceKey] = ()) -> float | None:
        """Decide, answer, announce.  Returns the tick at which to call again at the latest (a
        peer's Lease running out, an announcement due), or None."""
        self.ownership = self.compute(facts, tick, self_alive=self_alive,
                                      unhealthy_here=unhealthy_here)
        self.apply(self.ownership.owned_by(self.node), tick)
        self.announce_due(tick)
        return self.wake_at(tick)

    def apply(self, owned: Mapping[str, ownership.Group], tick: float) -> None:
        """Answer for exactly ``owned``, each address on its group's interfaces for it (else
        this node's choice); schedule announcements for the new ones and for those whose
        interfaces changed."""
        on = {ip: group.interfaces[ip] for ip, group in owned.items() if ip in group.interfaces}
        gained = [ip for ip in owned if ip not in self.owned]
        lost = [ip for ip in self.owned if ip not in owned]
        moved = [ip for ip in owned if ip in self.owned and on.get(ip) != self.on.get(ip)]
        if not gained and not lost and not moved:
            self.owned = dict(owned)
            return
        serving = self.responder.serve(list(owned), self.interfaces, on=on)
        for ip, why in sorted(serving.failed.items()):
            self.log(f"cannot answer for {ip}: {why}")
        for ip in lost:
            self._due.pop(ip, None)
            self.log(f"released {ip}")
        for ip in gained + moved:
            if ip in serving.failed:
                continue
            self._due[ip] = _Due(tick)
            if ip in moved:
                where = ", ".join(on.get(ip, ())) or "this node's own choice of interface"
                self.log(f"answering for {ip} on {where} now")
                continue
            services = ", ".join(f"{ns}/{name}" for ns, name in owned[ip].services)
            self.log(f"took over {ip} ({services})")
        self.stats.ownership_changes += len(gained) + len(lost)
        self.owned = {ip: g for ip, g in owned.items() if ip not in serving.failed}
        self.on = {ip: where for ip, where in on.items() if ip in self.owned}
        self.stats.announced = len(self.owned)

    def announce_due(self, tick: float) -> None:
        """Send the gratuitous rounds that are due, one announcement for all of them."""
        due = []
        for ip, entry in list(self._due.items()):
            at = entry.next_at()
            if at is None:
                del self._due[ip]
                continue
            if at <= tick:
                due.append(ip)
                while entry.rounds and entry.taken + entry.rounds[0] <= tick:
                    entry.rounds.pop(0)
                if not entry.rounds:
                    del self._due[ip]
        if not due:
            return
        by_interface: dict[str | None, list[str]] = {}
        for ip in due:
            for interface in self.on.get(ip) or self.interfaces or (None,):
                by_interface.setdefault(interface, []).append(ip)
        for interface, ips in by_interface.items():
            try:
                sent = self.announcer.announce(ips, interface=interface, count=1, interval=0.0,
                                               mode="both")
            except LbctlError as exc:
                self.log(f"gratuitous announcement of {', '.join(ips)} failed: {exc.logged()}")
                continue
            self.stats.gratuitous_frames += sum(s.frames * len(s.ips) for s in sent)

    def wake_at(self, tick: float) -> float | None:
        times = [t for t in (e.next_at() for e in self._due.values()) if t is not None]
        expiry = self.liveness.next_expiry(tick)
        if expiry is not None:
            times.append(expiry)
        return min(times, default=None)

    def stop(self) -> None:
        """Stop answering for everything, at once."""
        if self.owned:
            self.responder.serve([], self.interfaces)
            for ip in self.owned:
                self.log(f"released {ip}")
            self.stats.ownership_changes += len(self.owned)
        self.owned = {}
        self.on = {}
        self._due.clear()
        self.stats.announced = 0

    # -- reporting --------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def stateless(self) -> bool:
        """The state is lost and this speaker has none of its own to answer from."""
        return bool(self.lost) and not self._kept

    def _read_state(self, facts: Facts) -> State:
        configmap = facts.state
        if document_of(configmap)[0] is None:
            return self._missing(facts)
        try:
            state = read_state(configmap)
        except LbctlError as exc:
            if exc.message != self._state_problem:
                self.log(f"the state ConfigMap is unreadable, keeping the last good state: "
                         f"{exc.logged()}")
                self._state_problem = exc.message
            return self._state
        self._state_problem = ""
        self._kept = True
        self._found(f"{self.location} is back: answering for what it records")
        return state

    def _missing(self, facts: Facts) -> State:
        """No state document.  While Services show addresses it should record, it was lost:
        keep the last good state (said once); else there is no state yet, nor anything of
        lbctl's to announce."""
        stranded = lost.stranded(facts.services, nodes=facts.nodes)
        if not stranded:
            self._found(f"{self.location} is still missing, but no Service shows an address "
                        "it should record any more")
            self._kept = False
            return State()
        if not self.lost:
            meanwhile = ("this speaker keeps answering for what its last good state recorded "
                         "until it is back" if self._kept else
                         "this speaker has no state to answer from: it gives its Lease up "
                         "(the others keep answering) until the state is back")
            error = lost.missing(self.location, stranded, meanwhile)
            self.lost = error.message
            self.stats.state_missing = 1
            self.log(error.logged())
        return self._state

    def _found(self, line: str) -> None:
        """The state is no longer lost: say so, once."""
        if self.lost:
            self.lost = ""
            self.stats.state_missing = 0
            self.log(line)
