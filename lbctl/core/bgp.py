"""BGP in the state: peers, and how a pool's addresses are announced to them.

This module owns the BGP vocabulary every layer shares: a :class:`Peer` (one BGP session each
eligible node opens: the router's address and AS, the cluster's AS, port, hold time, the Secret
holding its password, source address, eBGP multihop, node selectors), a pool's announcement mode
(:data:`LAYER2`, :data:`BGP`, :data:`BOTH`) and its :class:`Advertisement` (MetalLB's
BGPAdvertisement options: aggregation length per family, local preference, communities, the
peers it goes to).  The rules are MetalLB's and live here once; the state's ``validate()``, the
CLI, doctor, the controller and the speaker all use them:

* a peer's ASNs are 1..4294967295, its port 1..65535, its hold time 0 or 3..65535 seconds;
  eBGP multihop is refused for iBGP (``asn == my_asn``); a source address has the peer's family;
* an aggregation length is 0..32 (IPv4) or 0..128 (IPv6) and never shorter than a prefix of the
  pool (a range counts as the CIDRs that cover it; MetalLB refuses ``/26`` for a ``/28`` pool:
  the aggregate would announce addresses outside it);
* a community is ``AS:VALUE`` (two 16-bit numbers), a well-known name (:data:`WELL_KNOWN`), or
  ``large:A:B:C`` (three 32-bit numbers); local preference 0..4294967295 is sent to iBGP peers
  only, as BGP defines it.

A password is never here: a peer names the Secret (key ``password``) that holds it, and, when
lbctl created that Secret itself, its uid: the one object lbctl may delete when no peer names it
any more.

Pure: no I/O.  ``*_problems`` functions return messages (the state's validation collects them);
``make_*`` functions raise :class:`lbctl.errors.UsageError` for bad input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from lbctl.core.addresses import AddrRange, format_ip, is_ip, parse_ip
from lbctl.errors import LbctlError, UsageError

if TYPE_CHECKING:  # the selectors' module is imported where a selector is parsed
    from lbctl.core.selectors import Selector

#: How a pool's addresses are announced: ARP/NDP from one elected node (the default), BGP from
#: every eligible node, or both at once.
LAYER2 = "layer2"
BGP = "bgp"
BOTH = "both"
ANNOUNCE_MODES = (LAYER2, BGP, BOTH)

DEFAULT_PORT = 179
DEFAULT_HOLD_TIME = 90
MIN_HOLD_TIME = 3  # RFC 4271: 0 (no keepalives) or at least 3 seconds
MAX_HOLD_TIME = 65535
MAX_ASN = 4294967295
MAX_U32 = 4294967295
#: The key of the Secret named by ``password_secret`` (as MetalLB's ``passwordSecret``).
PASSWORD_KEY = "password"

#: Well-known communities by the names routers use (RFC 1997, 3765, 7999, 8326).
WELL_KNOWN = {
    "no-export": "65535:65281",
    "no-advertise": "65535:65282",
    "no-export-subconfed": "65535:65283",
    "no-peer": "65535:65284",
    "blackhole": "65535:666",
    "graceful-shutdown": "65535:0",
}

_NAME = r"[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?\Z"
#: A Secret's name: a DNS subdomain.
_SECRET = r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\Z"
_NUMBER = r"[0-9]{1,10}\Z"
#: An object's uid (a UUID, as the API server makes them; any short token of that alphabet).
_UID = r"[0-9a-zA-Z-]{1,128}\Z"


@dataclass(frozen=True)
class Peer:
    """A BGP router each eligible node opens a session to.  ``asn`` is the router's AS,
    ``my_asn`` the cluster's; ``node_selectors`` (normalised selector texts) limit which nodes
    peer with it (none: every node); ``password_secret_uid`` is the uid of the Secret
    ``password_secret`` when lbctl created it (``--password-file``), None when it came from
    elsewhere."""

    name: str
    address: str
    asn: int
    my_asn: int
    port: int = DEFAULT_PORT
    hold_time: int = DEFAULT_HOLD_TIME
    password_secret: str | None = None
    source_address: str | None = None
    ebgp_multihop: bool = False
    node_selectors: tuple[str, ...] = ()
    password_secret_uid: str | None = None

    @property
    def ibgp(self) -> bool:
        return self.asn == self.my_asn

    @cached_property
    def parsed_node_selectors(self) -> tuple[Selector, ...]:
        from lbctl.core.selectors import parse_selector

        return tuple(parse_selector(s) for s in self.node_selectors)

    def admits_node(self, labels: Mapping[str, str]) -> bool:
        """Does a node with ``labels`` peer with this router?  Every node when the peer has no
        node selectors, else a node matching one of them (as MetalLB's BGPPeer)."""
        if not self.node_selectors:
            return True
        return any(selector.matches(labels) for selector in self.parsed_node_selectors)


@dataclass(frozen=True)
class Advertisement:
    """How a pool's addresses are announced over BGP (MetalLB's BGPAdvertisement).  Each
    address is announced as its ``/aggregation_length`` (IPv4) or ``/aggregation_length_v6``
    (IPv6) prefix; ``peers`` empty: to every peer."""

    aggregation_length: int = 32
    aggregation_length_v6: int = 128
    local_pref: int | None = None
    communities: tuple[str, ...] = ()
    peers: tuple[str, ...] = ()

    @property
    def is_default(self) -> bool:
        return self == Advertisement()

    def length(self, version: int) -> int:
        return self.aggregation_length if version == 4 else self.aggregation_length_v6

    def admits_peer(self, name: str) -> bool:
        return not self.peers or name in self.peers

    def reaches(self, peer: Peer, version: int) -> bool:
        """Is an IPv``version`` address announced to ``peer``?  To a peer this advertisement
        admits, of the address's family (an IPv4 session carries IPv4 routes)."""
        return self.admits_peer(peer.name) and parse_ip(peer.address).version == version

    def unheard(self, families: Iterable[int], peers: Iterable[Peer]) -> list[int]:
        """The address families (of ``families``) that no peer of ``peers`` is sent: a pool's
        addresses of those families reach no router over BGP."""
        peers = list(peers)
        return sorted(v for v in set(families) if not any(self.reaches(p, v) for p in peers))

    def prefix(self, ip: str) -> str:
        """The prefix announced for ``ip``: ``192.0.2.10/32``, or with an aggregation length of
        24, ``192.0.2.0/24``."""
        addr = parse_ip(ip)
        bits = 32 if addr.version == 4 else 128
        length = self.length(addr.version)
        network = addr.value & ~((1 << (bits - length)) - 1)
        return f"{format_ip(addr.version, network)}/{length}"


def announces_bgp(mode: str) -> bool:
    return mode in (BGP, BOTH)


def announces_layer2(mode: str) -> bool:
    return mode in (LAYER2, BOTH)


# --------------------------------------------------------------------------- validation


def _number(value: int, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def peer_problems(peer: Peer) -> list[str]:
    """Everything wrong with one peer, as MetalLB validates a BGPPeer."""
    where = f"peer {peer.name}"
    found = []
    if not re.match(_NAME, peer.name):
        found.append(f"{where}: invalid name (lower-case letters, digits, '-' and '.')")
    if not is_ip(peer.address):
        found.append(f"{where}: address {peer.address!r} is not an IP address")
    elif str(parse_ip(peer.address)) != peer.address:
        found.append(f"{where}: address {peer.address!r} is not in canonical form "
                     f"({parse_ip(peer.address)})")
    for label, value in (("asn", peer.asn), ("myASN", peer.my_asn)):
        if not _number(value, 1, MAX_ASN):
            found.append(f"{where}: {label} must be 1..{MAX_ASN}, not {value!r}")
    if not _number(peer.port, 1, 65535):
        found.append(f"{where}: port must be 1..65535, not {peer.port!r}")
    if not _number(peer.hold_time, 0, MAX_HOLD_TIME) or 0 < peer.hold_time < MIN_HOLD_TIME:
        found.append(f"{where}: holdTime must be 0 or {MIN_HOLD_TIME}..{MAX_HOLD_TIME} seconds, "
                     f"not {peer.hold_time!r}")
    if peer.password_secret is not None and not re.match(_SECRET, peer.password_secret):
        found.append(f"{where}: passwordSecret {peer.password_secret!r} is not a Secret name")
    if peer.password_secret_uid is not None and (
            peer.password_secret is None or not re.match(_UID, peer.password_secret_uid)):
        found.append(f"{where}: passwordSecretUID {peer.password_secret_uid!r} must be the uid "
                     "of the Secret passwordSecret names (lbctl records it when it creates it)")
    if peer.source_address is not None:
        if not is_ip(peer.source_address):
            found.append(f"{where}: sourceAddress {peer.source_address!r} is not an IP address")
        elif str(parse_ip(peer.source_address)) != peer.source_address:
            found.append(f"{where}: sourceAddress {peer.source_address!r} is not in canonical "
                         f"form ({parse_ip(peer.source_address)})")
        elif is_ip(peer.address) and (parse_ip(peer.source_address).version
                                      != parse_ip(peer.address).version):
            found.append(f"{where}: sourceAddress {peer.source_address} and address "
                         f"{peer.address} are of different IP families")
    if peer.ebgp_multihop and peer.ibgp:
        found.append(f"{where}: ebgpMultiHop is for eBGP only, and asn = myASN = {peer.asn} "
                     "makes this an iBGP session")
    from lbctl.core.selectors import parse_selector

    for text in peer.node_selectors:
        try:
            parse_selector(text)
        except LbctlError as exc:
            found.append(f"{where}: {exc.message}")
    return found


def duplicate_peers(peers: Iterable[Peer]) -> list[str]:
    """Two peers a node would open the same session for (same address, port and node
    selectors)."""
    seen: dict[tuple[str, int, tuple[str, ...]], str] = {}
    found = []
    for peer in sorted(peers, key=lambda p: p.name):
        key = (peer.address, peer.port, peer.node_selectors)
        if key in seen:
            found.append(f"peers {seen[key]} and {peer.name} are the same session "
                         f"({peer.address} port {peer.port})")
        else:
            seen[key] = peer.name
    return found


def community_problem(text: str) -> str | None:
    """Why ``text`` is not a community, or None: ``AS:VALUE`` (16-bit each), a well-known name,
    or ``large:A:B:C`` (32-bit each)."""
    if text in WELL_KNOWN:
        return None
    parts = text.split(":")
    if parts[0] == "large":
        if len(parts) == 4 and all(re.match(_NUMBER, p) and int(p) <= MAX_U32 for p in parts[1:]):
            return None
        return f"invalid large community {text!r} (large:A:B:C, each 0..{MAX_U32})"
    if len(parts) == 2 and all(re.match(_NUMBER, p) and int(p) <= 65535 for p in parts):
        return None
    return (f"invalid community {text!r} (AS:VALUE with each 0..65535, large:A:B:C, or one of "
            f"{', '.join(sorted(WELL_KNOWN))})")


def normal_community(text: str) -> str:
    """A community as stored: well-known names in lower case, numbers without leading zeros."""
    text = text.strip()
    if text.lower() in WELL_KNOWN:
        return text.lower()
    head, _, rest = text.partition(":")
    if head.lower() == "large":
        parts = rest.split(":")
        prefix = "large:"
    else:
        parts = text.split(":")
        prefix = ""
    if all(re.match(_NUMBER, p) for p in parts):
        return prefix + ":".join(str(int(p)) for p in parts)
    return text


def cidr_lengths(entry: AddrRange) -> list[int]:
    """The prefix lengths of the fewest CIDRs that cover ``entry`` exactly (a CIDR: its own)."""
    bits = 32 if entry.version == 4 else 128
    lengths = []
    first = entry.first
    while first <= entry.last:
        size = first & -first if first else 1 << bits  # the largest block aligned at ``first``
        while size > entry.last - first + 1:
            size >>= 1
        lengths.append(bits - size.bit_length() + 1)
        first += size
    return lengths


def advertisement_problems(advertisement: Advertisement, entries: Iterable[AddrRange],
                           peers: Iterable[str], where: str) -> list[str]:
    """Everything wrong with a pool's advertisement: aggregation lengths out of range or shorter
    than a prefix of the pool (``entries``), bad communities or local preference, peers that
    do not exist (``peers``: the names the state knows)."""
    found = []
    for label, value, bits in (("aggregationLength", advertisement.aggregation_length, 32),
                               ("aggregationLengthV6", advertisement.aggregation_length_v6, 128)):
        if not _number(value, 0, bits):
            found.append(f"{where}: {label} must be 0..{bits}, not {value!r}")
    if not found:
        for entry in entries:
            shortest = min(cidr_lengths(entry))
            length = advertisement.length(entry.version)
            if length < shortest:
                label = "aggregationLength" if entry.version == 4 else "aggregationLengthV6"
                found.append(f"{where}: {label} {length} is shorter than the prefix /{shortest} "
                             f"of {entry.text}: the aggregate would announce addresses outside "
                             "the pool")
    if advertisement.local_pref is not None and not _number(advertisement.local_pref, 0,
                                                            MAX_U32):
        found.append(f"{where}: localPref must be 0..{MAX_U32}, not "
                     f"{advertisement.local_pref!r}")
    for community in advertisement.communities:
        problem = community_problem(community)
        if problem:
            found.append(f"{where}: {problem}")
    known = set(peers)
    for name in advertisement.peers:
        if name not in known:
            found.append(f"{where}: BGP peer {name} does not exist")
    return found


def _refuse(problems: list[str], hint: str) -> None:
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UsageError(problems[0] + more, hint=hint)


def make_peer(
    name: str,
    address: str,
    asn: int,
    my_asn: int,
    *,
    port: int = DEFAULT_PORT,
    hold_time: int = DEFAULT_HOLD_TIME,
    password_secret: str | None = None,
    source_address: str | None = None,
    ebgp_multihop: bool = False,
    node_selectors: Iterable[str] = (),
) -> Peer:
    """Validate user input into a :class:`Peer` (addresses canonical, selectors normalised)."""
    from lbctl.core.selectors import parse_selector

    canonical = [str(parse_ip(a.strip())) if is_ip(a.strip()) else a
                 for a in (address, source_address or "")]
    try:
        selectors = tuple(sorted({str(parse_selector(s)) for s in node_selectors}))
    except UsageError as exc:
        raise UsageError(f"peer {name}: {exc.message}", hint=exc.hint) from exc
    peer = Peer(name=name, address=canonical[0], asn=asn, my_asn=my_asn, port=port,
                hold_time=hold_time, password_secret=password_secret,
                source_address=canonical[1] or None, ebgp_multihop=ebgp_multihop,
                node_selectors=selectors)
    _refuse(peer_problems(peer), "lbctl bgp peer add --help shows the rules and an example")
    return peer


def make_advertisement(
    *,
    aggregation_length: int = 32,
    aggregation_length_v6: int = 128,
    local_pref: int | None = None,
    communities: Iterable[str] = (),
    peers: Iterable[str] = (),
) -> Advertisement:
    """An :class:`Advertisement` from user input: communities normalised, sorted, each once;
    peers sorted, each once.  Checked against a pool by :func:`advertisement_problems`."""
    normal = sorted({normal_community(c) for c in communities})
    _refuse([p for p in map(community_problem, normal) if p],
            "example: --community 64500:100 --community no-export")
    return Advertisement(aggregation_length=aggregation_length,
                         aggregation_length_v6=aggregation_length_v6, local_pref=local_pref,
                         communities=tuple(normal), peers=tuple(sorted(set(peers))))
