"""BGP peer changes, as pure functions of a :class:`~lbctl.core.state.State`.

Each change takes a state and returns a new one, or raises an :mod:`lbctl.errors` class naming
what is wrong (a peer that exists already, a second peer for the same session, a peer a pool's
advertisement still names).  The peer itself is validated by :func:`lbctl.core.bgp.make_peer`.
The state store runs these inside its compare-and-swap loop: deterministic, no I/O.
"""

from __future__ import annotations

from dataclasses import replace

from lbctl.core.bgp import Peer, duplicate_peers
from lbctl.core.state import State
from lbctl.errors import NotFoundError, RefusedError


def get_peer(state: State, name: str) -> Peer:
    peer = state.peers.get(name)
    if peer is None:
        known = ", ".join(sorted(state.peers)) or "none"
        raise NotFoundError(f"BGP peer {name} not found (peers: {known})",
                            hint="lbctl bgp peer list shows the peers")
    return peer


def add_peer(state: State, peer: Peer, *, replace_existing: bool = False) -> State:
    """Add a peer; refuse a name in use (unless ``replace_existing``: the peer is changed in
    place) and a second peer for a session another peer already opens."""
    if peer.name in state.peers and not replace_existing:
        raise RefusedError(f"BGP peer {peer.name} already exists",
                           hint=f"remove it first (lbctl bgp peer remove {peer.name}) or choose "
                                "another name")
    peers = {**state.peers, peer.name: peer}
    found = duplicate_peers(peers.values())
    if found:
        raise RefusedError(found[0], hint="one peer per router address and port (or give them "
                                          "different --node-selector)")
    return replace(state, peers=peers)


def remove_peer(state: State, name: str) -> State:
    """Remove a peer; refuse while a pool's BGP advertisement names it."""
    get_peer(state, name)
    users = sorted(p.name for p in state.pools.values() if name in p.bgp.peers)
    if users:
        raise RefusedError(
            f"BGP peer {name} is named by the advertisement of pool {', '.join(users)}",
            hint=f"take it out first: lbctl pool set {users[0]} --bgp-peer ... (the other "
                 "peers), or announce to every peer with --all-bgp-peers")
    return replace(state, peers={k: v for k, v in state.peers.items() if k != name})
