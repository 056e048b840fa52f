"""The node's ports: what ``lbctl arp``, ``lbctl svc check`` and ``lbctl speaker`` need from the
machine they run on (raw ARP/NDP frames, TCP/HTTP probes, BGP sessions).

Apart from :mod:`lbctl.ports` (the Kubernetes API and the state's storage), so that a command
that only reads the cluster does not build these classes; this is their only home.  Same rules:
each port is a :class:`typing.Protocol`, the adapters (:mod:`lbctl.net`, :mod:`lbctl.bgp`)
implement them, tests implement them with fakes, and an implementation raises only
:mod:`lbctl.errors` classes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

# ------------------------------------------------------------------------------------------------
# Announcer port (owner: lbctl arp).  Used by lbctl.actions.arp; implemented by
# lbctl.net.announcer.RawAnnouncer.
# ------------------------------------------------------------------------------------------------

#: Which gratuitous ARP form to send for IPv4: opcode 1, opcode 2, or one of each per round.
ArpMode = Literal["request", "reply", "both"]


@dataclass(frozen=True)
class Sent:
    """Addresses announced alike: on one interface, as one MAC, chosen for one reason, with the
    same number of frames each.  One per group, not per address: ``--all`` on a large pool
    announces tens of thousands of addresses."""

    ips: tuple[str, ...]
    interface: str
    mac: str  # "02:00:00:00:00:01"
    frames: int  # per address, over all rounds
    via: str  # why this interface: "subnet 192.0.2.0/24", "default route", "--interface"


@dataclass(frozen=True)
class Probed:
    """Who answered a probe for one address: every distinct MAC, sorted."""

    ip: str
    interface: str
    macs: tuple[str, ...]
    via: str


class Announcer(Protocol):
    """Sends gratuitous ARP / unsolicited NA and probes addresses on the local links.

    Addresses are canonical text (IPv6 compressed).  The implementation picks the interface for
    each address: ``interface`` when given, else the one whose connected subnet holds the
    address, else the default-route interface of its family.  It checks every interface and
    opens every socket before it sends anything, so an error means nothing was sent.  Errors:
    :class:`~lbctl.errors.NotFoundError` (no such interface, no route),
    :class:`~lbctl.errors.RefusedError` (interface down, no carrier, not ARP-capable),
    :class:`~lbctl.errors.PermissionDeniedError` (no CAP_NET_RAW).
    """

    def announce(
        self,
        ips: Sequence[str],
        *,
        interface: str | None,
        count: int,
        interval: float,
        mode: ArpMode,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Sent]:
        """``count`` rounds, ``interval`` seconds apart; each round announces every address once
        (IPv4: one frame per form of ``mode``; IPv6: one NA).  ``progress(done, total)`` counts
        addresses announced over all rounds.  Every address is in exactly one result."""
        ...

    def probe(self, ips: Sequence[str], *, interface: str | None, timeout: float) -> list[Probed]:
        """Ask who has each address (IPv4: RFC 5227 probe; IPv6: DAD and ordinary Neighbor
        Solicitations), listen ``timeout`` seconds, and report who answered, in the order of
        ``ips``."""
        ...


# ------------------------------------------------------------------------------------------------
# Responder port (owner: lbctl speaker).  Used by lbctl.speaker; implemented by
# lbctl.net.responder.RawResponder.
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answering:
    """Addresses answered for on one interface, as one MAC, chosen for one reason."""

    ips: tuple[str, ...]
    interface: str
    mac: str
    via: str  # "subnet 192.0.2.0/24", "default route", "--interface"


@dataclass(frozen=True)
class Serving:
    """What :meth:`Responder.serve` set up: where each address is answered, and the addresses
    it cannot answer for (no usable interface), with the reason."""

    answering: tuple[Answering, ...]
    failed: Mapping[str, str]


class Responder(Protocol):
    """Answers ARP requests and IPv6 Neighbor Solicitations for a set of addresses, from a
    background thread, until :meth:`close`.  Nothing it does outlives the process: a crashed
    speaker leaves no address, route or neighbour entry behind.

    Interfaces follow the :class:`Announcer`'s rule (the one whose connected subnet holds the
    address, else the default route's), or every interface in ``interfaces`` when given, or,
    for an address in ``on``, every interface listed there for it (a pool's interfaces).
    Errors: :class:`~lbctl.errors.PermissionDeniedError` (no CAP_NET_RAW) from :meth:`serve`;
    an address without a usable interface is reported in :attr:`Serving.failed`, not raised.
    """

    def serve(self, ips: Collection[str], interfaces: Sequence[str] = (), *,
              on: Mapping[str, Sequence[str]] | None = None) -> Serving:
        """Answer for exactly ``ips`` from now on (canonical text); stop answering at once for
        every other address.  ``on``: the interfaces of some addresses, instead of the rule."""
        ...

    def answered(self) -> Mapping[str, int]:
        """Questions answered so far, by protocol: ``{"arp": n, "ndp": n}``."""
        ...

    def macs(self, interfaces: Sequence[str] = (), *,
             extra: Sequence[str] = ()) -> Mapping[str, str]:
        """The MAC of every interface an answer may come from (interface -> MAC): each of
        ``interfaces`` when given; else every interface that is up, can do ARP/NDP and has an
        address other than a link-local one, and the default routes' interfaces; and each of
        ``extra`` (the interfaces pools name) that is up and can do ARP/NDP.  Errors: as the
        :class:`Announcer`'s for reading interfaces (no ``ip`` command)."""
        ...

    def close(self) -> None:
        """Stop answering for everything and release the sockets."""
        ...


# ------------------------------------------------------------------------------------------------
# Prober port (owner: lbctl svc check, lbctl speaker health checks).  Implemented by
# lbctl.net.prober.SocketProber.
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeResult:
    """One L4/L7 check of ``host:port``."""

    ok: bool
    latency: float  # seconds until the verdict
    detail: str  # "connected", "HTTP 200", "connection refused", "timed out after 1 s", ...


class Prober(Protocol):
    """TCP connect, or HTTP GET of a path, to one address and port.  Never raises for a
    failed check (that is a result); only for a malformed address
    (:class:`~lbctl.errors.UsageError`)."""

    def check(self, host: str, port: int, *, http_path: str | None = None,
              timeout: float = 1.0) -> ProbeResult:
        """``http_path`` None: healthy when a TCP connection opens; else healthy on an HTTP
        answer below 400 to ``GET http_path``."""
        ...


# ------------------------------------------------------------------------------------------------
# BGP speaker port (owner: lbctl speaker).  Used by lbctl.speaker; implemented by
# lbctl.bgp.exabgp.ExaBGP (a child ExaBGP process: no BGP protocol code in lbctl).
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BGPSession:
    """One BGP neighbour this node peers with, as the implementation needs it."""

    peer: str  # the state's peer name: routes name it
    address: str  # the router's address
    asn: int  # the router's AS
    my_asn: int  # this node's AS
    local_address: str  # this node's address the session starts from
    router_id: str  # this node's BGP identifier (dotted quad)
    port: int = 179
    hold_time: int = 90  # seconds; 0 or at least 3
    # TCP MD5 (RFC 2385), already read from its Secret; never in a repr (a log line)
    password: str | None = field(default=None, repr=False)
    ebgp_multihop: bool = False


@dataclass(frozen=True)
class BGPRoute:
    """One prefix announced to one peer, next hop this node."""

    peer: str  # a BGPSession.peer
    prefix: str  # "192.0.2.10/32", "2001:db8::/124"
    local_pref: int | None = None
    communities: tuple[str, ...] = ()  # "64500:1", well-known names as "no-export"


@dataclass(frozen=True)
class BGPStatus:
    """What the implementation reports: each session's state by peer name (``established``,
    ``connecting``, ``down``) and how many routes it has been asked to announce."""

    sessions: Mapping[str, str]
    announced: int

    @property
    def established(self) -> int:
        return sum(1 for state in self.sessions.values() if state == "established")


class BGPSpeaker(Protocol):
    """Announces prefixes to BGP peers from this node until :meth:`close`.

    The sessions and routes are desired state: each call replaces what the previous call
    asked for, and the implementation sends only the difference (a session that went down and
    came up again gets every route again).  Nothing outlives the process: when the speaker
    dies, its sessions drop and the routers withdraw its routes themselves.
    Errors: :class:`~lbctl.errors.NotFoundError` when the BGP implementation is missing.
    """

    def configure(self, sessions: Sequence[BGPSession]) -> None:
        """Peer with exactly ``sessions`` (none: no BGP at all)."""
        ...

    def advertise(self, routes: Collection[BGPRoute]) -> None:
        """Announce exactly ``routes``; withdraw every other route announced before."""
        ...

    def status(self) -> BGPStatus: ...

    def close(self) -> None:
        """Withdraw everything and stop the sessions gracefully (the routers drop the routes
        at once, not after the hold time)."""
        ...
