"""BGP peer changes, as pure functions of a :class:`~lbctl.core.state.State`.

Each change takes a state and returns a new one, or raises an :mod:`lbctl.errors` class naming
what is wrong (a peer that exists already, a second peer for the same session, a peer a pool's
advertisement still names).  The peer itself is validated by :func:`lbctl.core.bgp.make_peer`.
The state store runs these inside its compare-and-swap loop: deterministic, no I/O.

Password Secrets lbctl created (a peer's ``password_secret_uid``) are deleted once no peer names
them (:func:`released_secrets`, after the change is written).  While another peer still names
such a Secret, a change passes its uid on to that peer, so that the last one to go takes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from lbctl.core.bgp import Peer, duplicate_peers, make_peer
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


def released_secrets(before: State, after: State) -> list[tuple[str, str]]:
    """The Secrets lbctl created (name, uid) that a peer of ``before`` names and no peer of
    ``after`` does: lbctl deletes them (that object, by its uid)."""
    named = {p.password_secret for p in after.peers.values()}
    return sorted({(p.password_secret, p.password_secret_uid) for p in before.peers.values()
                   if p.password_secret and p.password_secret_uid
                   and p.password_secret not in named})


def _keep_owners(before: State, after: State) -> State:
    """Pass the uid of each Secret lbctl created whose owner in ``before`` no longer holds it
    in ``after`` to the first other peer (by name) that still names it."""
    owned = {p.password_secret: p.password_secret_uid for p in after.peers.values()
             if p.password_secret_uid}
    peers = dict(after.peers)
    for old in sorted(before.peers.values(), key=lambda p: p.name):
        secret, uid = old.password_secret, old.password_secret_uid
        if not secret or not uid or secret in owned:
            continue
        heir = next((p for n, p in sorted(peers.items()) if p.password_secret == secret), None)
        if heir is not None:
            peers[heir.name] = replace(heir, password_secret_uid=uid)
            owned[secret] = uid
    return replace(after, peers=peers)


def secret_users(state: State, secret: str) -> list[str]:
    """The peers that name the Secret ``secret``, by name."""
    return sorted(n for n, p in state.peers.items() if p.password_secret == secret)


def change_peer(state: State, name: str, changes: Mapping[str, Any]) -> tuple[State, Peer]:
    """Change fields of a peer in place (``changes``: :class:`~lbctl.core.bgp.Peer` field ->
    value): the result is validated as a new peer is (:func:`lbctl.core.bgp.make_peer`, then
    :func:`add_peer`'s session rule).  The uid of a Secret lbctl created stays with the peer
    while it names that Secret; a new ``password_secret`` comes with its own
    ``password_secret_uid`` (None: not lbctl's)."""
    old = get_peer(state, name)
    merged = replace(old, **changes)
    peer = make_peer(name, merged.address, merged.asn, merged.my_asn, port=merged.port,
                     hold_time=merged.hold_time, password_secret=merged.password_secret,
                     source_address=merged.source_address,
                     ebgp_multihop=merged.ebgp_multihop, node_selectors=merged.node_selectors)
    uid = (old.password_secret_uid if peer.password_secret == old.password_secret
           else changes.get("password_secret_uid"))
    peer = replace(peer, password_secret_uid=uid)
    return _keep_owners(state, add_peer(state, peer, replace_existing=True)), peer


def secret_name(state: State, peer: str) -> str:
    """The name of a new Secret for ``peer``'s password: ``lbctl-bgp-PEER``, or while a peer
    names that one (a password changed), ``lbctl-bgp-PEER-2``, ``-3``...: the speakers read a
    new name at once, and the old Secret serves until the state names the new one."""
    named = {p.password_secret for p in state.peers.values()}
    base = f"lbctl-bgp-{peer}"
    return next(candidate for candidate in
                (base if n == 1 else f"{base}-{n}" for n in range(1, len(named) + 2))
                if candidate not in named)


def remove_peer(state: State, name: str) -> State:
    """Remove a peer; refuse while a pool's BGP advertisement names it.  A password Secret lbctl
    created for it that another peer names passes to that peer (:func:`released_secrets`)."""
    get_peer(state, name)
    users = sorted(p.name for p in state.pools.values() if name in p.bgp.peers)
    if users:
        raise RefusedError(
            f"BGP peer {name} is named by the advertisement of pool {', '.join(users)}",
            hint=f"take it out first: lbctl pool set {users[0]} --bgp-peer ... (the other "
                 "peers), or announce to every peer with --all-bgp-peers")
    return _keep_owners(state, replace(state, peers={k: v for k, v in state.peers.items()
                                                     if k != name}))
