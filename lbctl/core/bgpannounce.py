"""BGP announcements: which sessions a node opens and which prefixes it announces on each.

Every speaker calls :func:`sessions` and :func:`routes` with the facts it watches; the result is
the desired state of its BGP speaker (:class:`lbctl.nodeports.BGPSpeaker`).  The rule (MetalLB's BGP
mode):

* **Sessions**: a node peers with every peer of the state whose ``nodeSelectors`` admit it (none:
  every node), unless the node announces nothing at all (:meth:`NodeFacts.unfit`).
* **Routes**: an address of a pool announced over BGP (``announce: bgp`` or ``both``) goes to a
  peer from *every* node that is eligible for it — no election: the router spreads the traffic
  over the nodes (ECMP).  Eligible is the layer 2 rule of :mod:`lbctl.core.ownership`, asked for
  this node alone: the address is recorded and published, its Service has a ready endpoint, the
  pool's ``nodeSelectors`` admit the node, with ``externalTrafficPolicy: Local`` only a node
  with a ready endpoint, and not a node where the Service's health check fails.  Addresses
  shared by several Services go together, as in layer 2.
* **What**: each address as its pool's aggregate (``Advertisement.prefix``: ``/32`` and
  ``/128`` by default), next hop the node itself, to the peers the pool's advertisement names
  (none: all) of the address's family; the advertisement's communities (well-known names as
  numbers) and, to iBGP peers only, its local preference.

Pure: no I/O and no clock.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from lbctl.core import ownership
from lbctl.core.addresses import parse_ip
from lbctl.core.bgp import WELL_KNOWN, Peer
from lbctl.core.ownership import Candidate, NodeFacts
from lbctl.core.state import ServiceKey, State
from lbctl.nodeports import BGPRoute


def sessions(state: State, node: NodeFacts | None) -> list[Peer]:
    """The peers ``node`` opens a session to, by name."""
    if node is None or node.unfit():
        return []
    return [state.peers[name] for name in sorted(state.peers)
            if state.peers[name].admits_node(node.labels)]


def _family(address: str) -> int:
    return parse_ip(address).version


def routes(state: State, candidates: Iterable[Candidate], node: NodeFacts | None,
           unhealthy: Mapping[ServiceKey, Collection[str]] | None = None) -> set[BGPRoute]:
    """Every route ``node`` announces (``candidates``: ``ownership.announced(state, services,
    endpoints, mode=BGP)``; ``unhealthy``: per Service, the nodes where its check fails)."""
    peers = sessions(state, node)
    if node is None or not peers:
        return set()
    candidates = list(candidates)
    pool_of = {ip: c.pool for c in candidates for ip in c.ips}
    # the groups this node would own if it were the only speaker: those it is eligible for
    alone = ownership.owners(candidates, {node.name: node}, [node.name], state.pools, unhealthy)
    found = set()
    for group in alone.groups:
        if group.owner != node.name:
            continue
        for ip in group.ips:
            pool = state.pools.get(pool_of[ip])
            if pool is None:
                continue
            advertisement = pool.bgp
            prefix = advertisement.prefix(ip)
            communities = tuple(WELL_KNOWN.get(c, c) for c in advertisement.communities)
            for peer in peers:
                if not advertisement.reaches(peer, _family(ip)):
                    continue
                found.add(BGPRoute(peer.name, prefix,
                                   advertisement.local_pref if peer.ibgp else None,
                                   communities))
    return found

