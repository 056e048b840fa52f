"""Calico's BGP next to lbctl's: what Calico's resources say, where they collide with lbctl's
peers, and the ``BGPConfiguration`` that makes Calico announce lbctl's pools.

Calico runs BGP from every node itself (``calico-node``: a full mesh between nodes, and the
``BGPPeer`` routers).  A router keeps one session per neighbour address, so when lbctl's
speakers peer with a router Calico's nodes already peer with, the two sessions from each node
collide (the Netris essay's warning).  The way out is to let Calico announce lbctl's addresses
over the sessions it has: its ``BGPConfiguration`` ``default`` lists them in
``spec.serviceLoadBalancerIPs`` (:func:`to_calico` writes it), and lbctl stops peering with that
router.

Reads both spellings of Calico's resources: ``projectcalico.org/v3`` (calicoctl, Calico's API
server) and ``crd.projectcalico.org/v1`` (what the cluster stores).

Pure: plain objects in, findings and manifests out; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lbctl.core.addresses import AddrRange, format_ip, is_ip, parse_entry, parse_ip
from lbctl.core.bgp import Peer, cidr_lengths
from lbctl.core.state import Pool, State
from lbctl.errors import LbctlError
from lbctl.ports import Obj

#: What ``pool export --format calico`` writes (calicoctl's API; the Calico API server serves it
#: to kubectl too), and what the cluster stores (read by doctor).
CALICO_API = "projectcalico.org/v3"
CALICO_CRD_GROUP = "crd.projectcalico.org"
GROUPS = ("projectcalico.org", CALICO_CRD_GROUP)
#: The BGPConfiguration Calico reads its cluster-wide settings from.
DEFAULT_CONFIGURATION = "default"
#: Calico's node agent, which runs BIRD on every node.
CALICO_NODE = "calico-node"



def is_calico(obj: Obj, kind: str) -> bool:
    group = str(obj.get("apiVersion") or "").partition("/")[0]
    return obj.get("kind") == kind and group in GROUPS


def _mapping(value: Any) -> Obj:
    """``value`` when it is a mapping, else an empty one: a field of another shape (a manifest
    given with ``-f`` is not checked by an API server) holds nothing lbctl reads."""
    return value if isinstance(value, dict) else {}


def _name(obj: Obj) -> str:
    return str(_mapping(obj.get("metadata")).get("name") or "")


@dataclass(frozen=True)
class CalicoPeer:
    """A Calico ``BGPPeer``: the router address its nodes peer with."""

    name: str
    address: str
    asn: int | None


def peer_address(text: str) -> str | None:
    """The address of Calico's ``peerIP``: ``192.0.2.1``, ``192.0.2.1:179``,
    ``[2001:db8::1]:179`` or ``2001:db8::1``; None when it is none of those."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    return str(parse_ip(text)) if is_ip(text) else None


def calico_peers(objects: Iterable[Obj]) -> list[CalicoPeer]:
    found = []
    for obj in objects:
        if not is_calico(obj, "BGPPeer"):
            continue
        spec = _mapping(obj.get("spec"))
        address = peer_address(str(spec.get("peerIP") or ""))
        if address is not None:
            asn = spec.get("asNumber")
            found.append(CalicoPeer(_name(obj), address, asn if isinstance(asn, int) else None))
    return sorted(found, key=lambda p: p.name)


def configuration(objects: Iterable[Obj]) -> Obj | None:
    """Calico's ``BGPConfiguration`` ``default``, if there is one."""
    for obj in objects:
        if is_calico(obj, "BGPConfiguration") and _name(obj) == DEFAULT_CONFIGURATION:
            return obj
    return None


def calico_node(workloads: Iterable[Obj]) -> Obj | None:
    """The ``calico-node`` DaemonSet (any namespace: kube-system or calico-system)."""
    for obj in workloads:
        if obj.get("kind") == "DaemonSet" and _name(obj) == CALICO_NODE:
            return obj
    return None


@dataclass(frozen=True)
class Conflict:
    """An lbctl peer whose router Calico's nodes peer with too."""

    peer: Peer
    calico: CalicoPeer

    @property
    def message(self) -> str:
        return (f"lbctl peer {self.peer.name} ({self.peer.address}) is Calico BGPPeer "
                f"{self.calico.name}'s router too: each node would open two BGP sessions to "
                "it, Calico's and lbctl's, and the router keeps one per neighbour")


def conflicts(state: State, objects: Iterable[Obj]) -> list[Conflict]:
    calico = calico_peers(objects)
    return [Conflict(peer, other) for name, peer in sorted(state.peers.items())
            for other in calico if other.address == peer.address]


def service_cidrs(pools: Iterable[Pool]) -> list[str]:
    """The CIDRs that cover the pools' addresses exactly (a range becomes several)."""
    out: list[str] = []
    for pool in pools:
        for entry in pool.entries:
            first = entry.first
            for length in cidr_lengths(entry):
                out.append(f"{format_ip(entry.version, first)}/{length}")
                first += 1 << ((32 if entry.version == 4 else 128) - length)
    return out


def announced(config: Obj | None) -> list[AddrRange]:
    """What Calico announces as LoadBalancer addresses: its ``serviceLoadBalancerIPs``."""
    if config is None:
        return []
    found = []
    items = _mapping(config.get("spec")).get("serviceLoadBalancerIPs")
    for item in items if isinstance(items, list) else []:
        try:
            found.append(parse_entry(str(_mapping(item).get("cidr") or "")))
        except LbctlError:  # another tool's value, not an address: it covers nothing
            continue
    return found


def uncovered(pools: Iterable[Pool], config: Obj | None) -> list[tuple[Pool, list[str]]]:
    """Each pool with the entries Calico's ``serviceLoadBalancerIPs`` do not cover."""
    ranges = announced(config)
    out = []
    for pool in pools:
        missing = [entry.text for entry in pool.entries
                   if _covered(entry, ranges) < entry.size]
        if missing:
            out.append((pool, missing))
    return out


def _covered(entry: AddrRange, ranges: Sequence[AddrRange]) -> int:
    spans = sorted((max(r.first, entry.first), min(r.last, entry.last)) for r in ranges
                   if r.version == entry.version and r.first <= entry.last
                   and r.last >= entry.first)
    total, reach = 0, entry.first - 1
    for first, last in spans:
        first = max(first, reach + 1)
        if last >= first:
            total += last - first + 1
            reach = last
    return total


def to_calico(pools: Sequence[Pool], current: Obj | None = None) -> tuple[Obj, list[str]]:
    """The ``BGPConfiguration`` ``default`` whose ``serviceLoadBalancerIPs`` are the pools'
    CIDRs, and warnings.  ``current`` (the cluster's, when known) keeps its other settings and
    the entries that lie outside every pool; without it, the document holds that list alone."""
    warnings: list[str] = []
    spec: dict[str, Any] = {}
    cidrs = service_cidrs(pools)
    if current is not None:
        spec = dict(_mapping(current.get("spec")))
        mine = [entry for pool in pools for entry in pool.entries]
        kept = [r.text for r in announced(current)
                if not any(r.version == e.version and r.first <= e.last and r.last >= e.first
                           for e in mine)]
        if kept:
            warnings.append(f"Calico's serviceLoadBalancerIPs outside lbctl's pools are kept: "
                            f"{', '.join(kept)}")
        cidrs = [*kept, *cidrs]
    else:
        warnings.append("BGPConfiguration default holds only serviceLoadBalancerIPs: applied as "
                        "it is, it replaces Calico's other BGP settings (asNumber, "
                        "nodeToNodeMeshEnabled, ...); run it against the cluster to keep them, or "
                        "merge by hand")
    spec["serviceLoadBalancerIPs"] = [{"cidr": c} for c in cidrs]
    document = {"apiVersion": CALICO_API, "kind": "BGPConfiguration",
                "metadata": {"name": DEFAULT_CONFIGURATION}, "spec": spec}
    return document, warnings
