"""The speaker's BGP side: facts in, sessions and routes for the BGP speaker
(:class:`~lbctl.nodeports.BGPSpeaker`).

:class:`BGPSide` is driven by :meth:`BGPSide.sync` from the speaker's main loop, with the same
:class:`~lbctl.speaker.loop.Facts` and decoded state as the layer 2 side.  The rules are in
:mod:`lbctl.core.bgpannounce` (which peers this node opens a session to, which prefixes it
announces on each); this module adds what needs the world: this node's addresses (the session's
local address is the peer's ``sourceAddress``, else the node's InternalIP of the peer's family;
the router id is its first IPv4 address), and passwords read from their Secrets
(``kube-system/<passwordSecret>``, key ``password``) through the :class:`~lbctl.ports.KubeAPI`
port, cached for :data:`SECRET_TTL` seconds.

Unlike layer 2, BGP does not depend on this node's Lease: every eligible node announces, and a
node cut off from the API server keeps announcing what it last knew (as MetalLB's speakers do);
a node that dies takes its sessions down with it, and the routers withdraw its routes.

Error policy: nothing raises out of :meth:`BGPSide.sync`; a Secret that cannot be read leaves
that peer out (logged once), an error of the BGP speaker is logged once and retried at the next
sync.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from lbctl.core import bgpannounce, ownership
from lbctl.core import service as svc_core
from lbctl.core.addresses import parse_ip
from lbctl.core.bgp import BGP, PASSWORD_KEY, Peer
from lbctl.core.names import SYSTEM_NAMESPACE
from lbctl.core.nodes import node_addresses
from lbctl.core.state import ServiceKey, State
from lbctl.errors import LbctlError, keep_secret
from lbctl.nodeports import BGPRoute, BGPSession, BGPSpeaker, BGPStatus
from lbctl.ports import SECRETS, KubeAPI, Obj

#: Seconds a password read from its Secret is used before it is read again.
SECRET_TTL = 60.0


def _version(address: str) -> int | None:
    try:
        return parse_ip(address).version
    except LbctlError:
        return None


class BGPSide:
    """One node's BGP announcements.  Not thread-safe: the speaker's main loop calls it (the
    BGP speaker's child process must be started from that long-lived thread)."""

    def __init__(self, node: str, bgp: BGPSpeaker, kube: KubeAPI, *,
                 log: Callable[[str], None], secret_namespace: str = SYSTEM_NAMESPACE) -> None:
        self.node = node
        self.bgp = bgp
        self.kube = kube
        self.log = log
        self.secret_namespace = secret_namespace
        self._passwords: dict[str, tuple[str | None, datetime]] = {}
        self._said: set[str] = set()
        self._inputs: tuple[object, ...] | None = None
        self._wanted: tuple[list[BGPSession], set[BGPRoute]] | None = None

    def sync(self, services: Collection[Obj], endpoint_slices: Collection[Obj],
             nodes: Collection[Obj], state: State, now: datetime,
             unhealthy_here: Collection[ServiceKey] = ()) -> None:
        """Peer and announce as the facts say.  The sessions and routes are recomputed only
        when the facts are new objects (or a password is due to be read again); the BGP speaker
        is told every time (it sends nothing when nothing changed, and starts ExaBGP again if
        it died)."""
        inputs = (services, endpoint_slices, nodes, state, frozenset(unhealthy_here))
        expired = any(now - at > timedelta(seconds=SECRET_TTL)
                      for _, at in self._passwords.values())
        if expired or self._wanted is None or self._inputs is None or not all(
                a is b or a == b for a, b in zip(inputs, self._inputs, strict=True)):
            node_obj = next((n for n in nodes
                             if (n.get("metadata") or {}).get("name") == self.node), None)
            facts = None if node_obj is None else ownership.node_facts(node_obj)
            candidates = ownership.announced(state, services,
                                             svc_core.ready_nodes(endpoint_slices), mode=BGP)
            unhealthy = {key: {self.node} for key in unhealthy_here}
            self._wanted = (
                self._sessions(bgpannounce.sessions(state, facts), node_obj, now),
                bgpannounce.routes(state, candidates, facts, unhealthy))
            self._inputs = inputs
        try:
            self.bgp.configure(self._wanted[0])
            self.bgp.advertise(self._wanted[1])
        except LbctlError as exc:
            self._say(f"BGP: {exc.logged()}")

    def status(self) -> BGPStatus:
        return self.bgp.status()

    def stop(self) -> None:
        """Withdraw everything and end the sessions (the routers drop the routes at once)."""
        self.bgp.close()

    # -- sessions ---------------------------------------------------------------------------

    def _sessions(self, peers: list[Peer], node: Obj | None, now: datetime) -> list[BGPSession]:
        addresses = node_addresses(node)
        ipv4 = [a for a in addresses if _version(a) == 4]
        router_id = ipv4[0] if ipv4 else None
        found = []
        for peer in peers:
            family = _version(peer.address)
            local = peer.source_address or next(
                (a for a in addresses if _version(a) == family), None)
            if local is None or router_id is None:
                self._say(f"BGP peer {peer.name}: node {self.node} has no "
                          f"{'IPv4' if router_id is None else f'IPv{family}'} address "
                          f"to peer from")
                continue
            password = None
            if peer.password_secret:
                password = self._password(peer, now)
                if password is None:
                    continue
            found.append(BGPSession(
                peer=peer.name, address=peer.address, asn=peer.asn, my_asn=peer.my_asn,
                local_address=local, router_id=router_id, port=peer.port,
                hold_time=peer.hold_time, password=password,
                ebgp_multihop=peer.ebgp_multihop))
        return found

    def _password(self, peer: Peer, now: datetime) -> str | None:
        name = str(peer.password_secret)
        cached = self._passwords.get(name)
        if cached is not None and now - cached[1] <= timedelta(seconds=SECRET_TTL):
            return cached[0]
        password = None
        where = f"Secret {self.secret_namespace}/{name}"
        try:
            secret = self.kube.get(SECRETS, name, self.secret_namespace)
            encoded = (secret.get("data") or {}).get(PASSWORD_KEY)
            if not isinstance(encoded, str):
                self._say(f"BGP peer {peer.name}: {where} has no key {PASSWORD_KEY}: "
                          "no session")
            else:
                password = base64.b64decode(encoded, validate=True).decode()
                keep_secret(password)  # redacted from every message from now on
        except LbctlError as exc:
            self._say(f"BGP peer {peer.name}: cannot read its password from {where}, no "
                      f"session: {exc.logged()}")
        except (binascii.Error, UnicodeDecodeError):
            self._say(f"BGP peer {peer.name}: {where} key {PASSWORD_KEY} is not base64 "
                      "UTF-8 text: no session")
        self._passwords[name] = (password, now)
        return password

    def _say(self, line: str) -> None:
        """Log a problem once (until it changes)."""
        if line not in self._said:
            self._said.add(line)
            self.log(line)
