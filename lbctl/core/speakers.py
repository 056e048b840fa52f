"""What the speakers' Leases say, and the ownership a one-shot reader computes from them.

Every ``lbctl speaker`` holds one Lease, ``lbctl-speaker-<node>`` (in ``kube-system`` unless
``--lease-namespace``), whose holder is the node itself.  Besides liveness it carries three
annotations the speaker writes with every renewal of the Lease (no write of their own, never
one per Service; a Lease someone deleted is recreated with them):

* :data:`UNHEALTHY_ANNOTATION` ``lbctl.io/unhealthy``: the Services whose health check fails
  on that node, ``ns/name,ns/name`` (sorted); absent when none fails;
* :data:`MACS_ANNOTATION` ``lbctl.io/macs``: the interfaces the speaker may answer ARP/NDP
  from, with their MACs, ``eth0=02:42:0a:00:00:0b,eth1=...`` (sorted by interface, MACs in
  lower case): the speaker's default choices and, of the interfaces pools name, those that
  are up and can carry ARP/NDP (all within ``--interface`` when given).  ``doctor --probe``
  maps the MAC that answers for a VIP back to a node with it, and ownership reads a node's
  interfaces here (:func:`interfaces_of`; a pool's ``interfaces``);
* :data:`BGP_ANNOTATION` ``lbctl.io/bgp``: the speaker's BGP sessions and routes,
  ``ESTABLISHED/SESSIONS ROUTES`` (``1/2 7``); absent on a speaker with no BGP peer.

:func:`status` is what ``speaker status``, ``svc show`` and ``doctor --probe`` compute: from the
state and one read of Services, EndpointSlices, Nodes and the lease namespace's Leases, the
owner of every announced address (:func:`lbctl.core.ownership.owners`, the speakers' own
call).  A one-shot reader has no history of observations, so a speaker counts as alive when
its Lease is fresh by its timestamps (:func:`lbctl.core.leases.is_fresh`, ``skew`` forgiven).

Pure: no I/O, no clock (``now`` is passed in).  A malformed annotation reads as empty.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lbctl.core import leases, ownership
from lbctl.core import service as svc_core
from lbctl.core.ownership import Ownership
from lbctl.core.state import ServiceKey, State

#: Each speaker's Lease is ``lbctl-speaker-<node>`` in the lease namespace.
LEASE_PREFIX = "lbctl-speaker-"
#: On a speaker's Lease: the Services whose health check fails on its node (``ns/name,...``).
UNHEALTHY_ANNOTATION = "lbctl.io/unhealthy"
#: On a speaker's Lease: the interfaces it may answer from and their MACs (``if=mac,...``).
MACS_ANNOTATION = "lbctl.io/macs"
#: On a speaker's Lease: its BGP sessions and routes (``ESTABLISHED/SESSIONS ROUTES``).
BGP_ANNOTATION = "lbctl.io/bgp"

Obj = Mapping[str, Any]


def lease_name(node: str) -> str:
    return LEASE_PREFIX + node


def node_of(lease: Obj) -> str | None:
    """The node whose speaker Lease this is, or None for any other Lease."""
    name = str((lease.get("metadata") or {}).get("name") or "")
    if not name.startswith(LEASE_PREFIX) or name == LEASE_PREFIX:
        return None
    return name[len(LEASE_PREFIX):]


def _annotation(lease: Obj, key: str) -> str:
    value = ((lease.get("metadata") or {}).get("annotations") or {}).get(key)
    return value if isinstance(value, str) else ""


def unhealthy_of(lease: Obj) -> set[ServiceKey]:
    """The Services a speaker's Lease reports as failing their health check on its node."""
    found = set()
    for item in _annotation(lease, UNHEALTHY_ANNOTATION).split(","):
        namespace, sep, name = item.strip().partition("/")
        if sep and namespace and name:
            found.add((namespace, name))
    return found


def unhealthy_text(keys: Collection[ServiceKey]) -> str:
    return ",".join(f"{ns}/{name}" for ns, name in sorted(keys))


def _is_mac(text: str) -> bool:
    octets = text.split(":")
    return len(octets) == 6 and all(
        len(o) == 2 and all(c in "0123456789abcdef" for c in o) for o in octets)


def macs_of(lease: Obj) -> dict[str, str]:
    """The interfaces a speaker's Lease publishes, with their MACs (lower case); an item that
    is not ``interface=MAC`` is left out."""
    found = {}
    for item in _annotation(lease, MACS_ANNOTATION).split(","):
        interface, sep, mac = item.strip().rpartition("=")
        if sep and interface and _is_mac(mac.lower()):
            found[interface] = mac.lower()
    return found


def interfaces_of(lease_objs: Iterable[Obj]) -> dict[str, frozenset[str]]:
    """Per node, the interfaces its speaker's Lease publishes (what ownership judges a pool's
    ``interfaces`` by)."""
    found = {}
    for lease in lease_objs:
        node = node_of(lease)
        if node is not None:
            found[node] = frozenset(macs_of(lease))
    return found


def named_interfaces(state: State) -> tuple[str, ...]:
    """The interfaces the state's pools name (sorted): a speaker publishes each it has that is
    up and can carry ARP/NDP, beside its default choices."""
    return tuple(sorted({name for pool in state.pools.values() for name in pool.interfaces}))


def macs_text(macs: Mapping[str, str]) -> str:
    return ",".join(f"{interface}={mac.lower()}" for interface, mac in sorted(macs.items()))


@dataclass(frozen=True)
class BGPSummary:
    """A speaker's BGP at a glance, as its Lease reports it."""

    sessions: int  # peers that select the node
    established: int
    routes: int  # prefix and peer pairs announced

    @property
    def text(self) -> str:
        """The :data:`BGP_ANNOTATION` value."""
        return f"{self.established}/{self.sessions} {self.routes}"


def bgp_of(lease: Obj) -> BGPSummary | None:
    """The BGP summary a speaker's Lease reports, or None (no BGP, or unreadable)."""
    try:
        sessions, routes = _annotation(lease, BGP_ANNOTATION).split()
        established, total = sessions.split("/")
        return BGPSummary(int(total), int(established), int(routes))
    except ValueError:
        return None


@dataclass(frozen=True)
class SpeakerInfo:
    node: str
    alive: bool
    renewed: datetime | None
    unfit: str  # why the node announces nothing, or ""
    unhealthy: tuple[str, ...]  # Services whose health check fails there (ns/name)
    macs: Mapping[str, str] = field(default_factory=dict)  # interface -> MAC
    bgp: BGPSummary | None = None  # its BGP sessions and routes (None: no BGP peer)


@dataclass(frozen=True)
class Status:
    ownership: Ownership
    speakers: tuple[SpeakerInfo, ...]

    def nodes_of_mac(self, mac: str) -> tuple[str, ...]:
        """The nodes whose speaker publishes ``mac`` (normally one)."""
        wanted = mac.lower()
        return tuple(s.node for s in self.speakers if wanted in s.macs.values())


def status(state: State, services: Iterable[Obj], endpoint_slices: Iterable[Obj],
           nodes: Iterable[Obj], lease_objs: Iterable[Obj], now: datetime, *,
           skew: float = 1.0) -> Status:
    """Every speaker found among ``lease_objs`` and the owner of every announced address."""
    facts = {f.name: f for f in map(ownership.node_facts, nodes)}
    infos = []
    live = set()
    failing: dict[ServiceKey, set[str]] = {}
    for lease in lease_objs:
        node = node_of(lease)
        if node is None:
            continue
        record = leases.record_of(dict(lease))
        alive = record.holder == node and leases.is_fresh(record, now, skew=skew)
        if alive:
            live.add(node)
        bad = unhealthy_of(lease)
        for key in bad:
            failing.setdefault(key, set()).add(node)
        node_facts = facts.get(node)
        infos.append(SpeakerInfo(
            node=node, alive=alive, renewed=record.renewed,
            unfit=ownership.NO_NODE if node_facts is None else node_facts.unfit(),
            unhealthy=tuple(f"{ns}/{n}" for ns, n in sorted(bad)),
            macs=macs_of(lease), bgp=bgp_of(lease)))
    candidates = ownership.announced(state, services, svc_core.ready_nodes(endpoint_slices))
    result = ownership.owners(candidates, facts, live, state.pools, failing,
                              {info.node: frozenset(info.macs) for info in infos})
    return Status(result, tuple(sorted(infos, key=lambda i: i.node)))
