"""The upstream router's side of a BGP peer: FRR and BIRD 2 configuration text.

``lbctl bgp export`` prints what the router a :class:`~lbctl.core.bgp.Peer` names needs so that
every node's session comes up and the pools' addresses are accepted, and nothing else:

* a neighbour per node the peer admits (its node selectors), at the node's InternalIP of the
  peer's family (or at the peer's ``source_address``, when the nodes speak from that address),
  remote AS = the peer's ``my_asn`` (the cluster's), local AS = the peer's ``asn`` (the
  router's), its hold time, eBGP multihop when the peer asks for it;
* an import filter accepting only the prefixes the speakers announce for the pools this peer
  gets (:func:`accepted`): within each CIDR of a pool, lengths from the pool's aggregation
  length to /32 (/128); nothing is exported back to the nodes;
* ECMP: FRR ``maximum-paths`` (``maximum-paths ibgp`` for iBGP), BIRD ``merge paths on`` in the
  kernel protocol, so the router spreads traffic over every node announcing an address.

The password is never written: a comment names the Secret that holds it.

Pure: text in, text out.  The syntax follows the FRR and BIRD 2 user guides
(``ip prefix-list NAME seq N permit P [ge G] [le L]`` with len < ge <= le; BIRD prefix sets
``P{low,high}`` with len <= low <= high).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lbctl.core.addresses import format_ip, is_ip, parse_entry, parse_ip
from lbctl.core.bgp import PASSWORD_KEY, Peer, announces_bgp, cidr_lengths
from lbctl.core.state import State

FORMATS = ("frr", "bird")
#: How many equal paths the router installs per prefix (one per node announcing it): 16, the
#: most every FRR build accepts and BIRD's default limit of ``merge paths``.
MAX_PATHS = 16


@dataclass(frozen=True)
class Neighbour:
    node: str
    address: str


@dataclass(frozen=True)
class Accepted:
    """One import rule: ``network/length`` with prefix lengths ``low``..``high``."""

    network: str
    length: int
    low: int
    high: int
    pool: str

    @property
    def prefix(self) -> str:
        return f"{self.network}/{self.length}"


def _version(address: str) -> int:
    return parse_ip(address).version


def _labels(node: Mapping[str, Any]) -> dict[str, str]:
    meta = node.get("metadata") or {}
    return {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}


def neighbours(peer: Peer, nodes: Iterable[Mapping[str, Any]]) -> tuple[list[Neighbour],
                                                                        list[str]]:
    """The router's neighbours for ``peer``: one per node it admits, at the node's InternalIP of
    the peer's family (the peer's ``source_address`` instead, when set); and a note for each
    node left out and why."""
    family = _version(peer.address)
    found: list[Neighbour] = []
    notes: list[str] = []
    for node in sorted(nodes, key=lambda n: str((n.get("metadata") or {}).get("name") or "")):
        name = str((node.get("metadata") or {}).get("name") or "")
        if not peer.admits_node(_labels(node)):
            notes.append(f"node {name}: not selected by peer {peer.name}'s node selectors")
            continue
        if peer.source_address:
            found.append(Neighbour(name, peer.source_address))
            continue
        addresses = [str(a.get("address")) for a in (node.get("status") or {}).get("addresses")
                     or [] if isinstance(a, Mapping) and a.get("type") == "InternalIP"]
        usable = [a for a in addresses if is_ip(a) and _version(a) == family]
        if not usable:
            notes.append(f"node {name}: no IPv{family} InternalIP, left out")
            continue
        found.append(Neighbour(name, str(parse_ip(usable[0]))))
    unique: dict[str, Neighbour] = {}
    for item in found:  # nodes speaking from one source address are one neighbour
        unique.setdefault(item.address, item)
    return list(unique.values()), notes


def accepted(state: State, peer: Peer) -> list[Accepted]:
    """The prefixes the router accepts from the nodes for ``peer``: for each CIDR covering a
    BGP pool this peer gets (of the peer's family), lengths from the aggregation length (at
    least the CIDR's) to the host length.  A CIDR of a range narrower than the aggregation
    length is announced as its aggregate, which is accepted exactly."""
    family = _version(peer.address)
    bits = 32 if family == 4 else 128
    rules: dict[tuple[str, int, int, int], Accepted] = {}
    for name in sorted(state.pools):
        pool = state.pools[name]
        if not announces_bgp(pool.announce) or not pool.bgp.admits_peer(peer.name):
            continue
        length = pool.bgp.length(family)
        for text in pool.addresses:
            entry = parse_entry(text)
            if entry.version != family:
                continue
            first = entry.first
            for prefix in cidr_lengths(entry):
                size = 1 << (bits - prefix)
                if length >= prefix:
                    rule = Accepted(format_ip(family, first), prefix, length, bits, name)
                else:
                    mask = ~((1 << (bits - length)) - 1)
                    rule = Accepted(format_ip(family, first & mask), length, length, length,
                                    name)
                rules.setdefault((rule.network, rule.length, rule.low, rule.high), rule)
                first += size
    return list(rules.values())


def _secret_note(peer: Peer, comment: str) -> list[str]:
    if not peer.password_secret:
        return []
    return [f"{comment} TCP MD5 password: the value of key {PASSWORD_KEY} of Secret "
            f"kube-system/{peer.password_secret} (never printed by lbctl)"]


def _header(peer: Peer, comment: str, notes: Sequence[str]) -> list[str]:
    lines = [f"{comment} lbctl bgp export: the router {peer.address} (AS {peer.asn}) of peer "
             f"{peer.name}, for the cluster's nodes (AS {peer.my_asn})"]
    if peer.port != 179:
        lines.append(f"{comment} the nodes connect to port {peer.port}: make the router listen "
                     "there")
    lines += [f"{comment} {note}" for note in notes]
    return lines


def frr(state: State, peer: Peer, nodes: Iterable[Mapping[str, Any]]) -> str:
    """FRR configuration (``vtysh -f``, or frr.conf) for the router of ``peer``."""
    found, notes = neighbours(peer, nodes)
    rules = accepted(state, peer)
    family = _version(peer.address)
    ip = "ip" if family == 4 else "ipv6"
    afi = "ipv4" if family == 4 else "ipv6"
    group = f"LBCTL-{peer.name}"
    lines = _header(peer, "!", notes)
    lines += _secret_note(peer, "!")
    for seq, rule in enumerate(rules, start=1):
        text = f"{ip} prefix-list {group} seq {seq * 5} permit {rule.prefix}"
        if rule.low > rule.length:  # FRR: len < ge <= le
            text += f" ge {rule.low} le {rule.high}"
        elif rule.high > rule.length:
            text += f" le {rule.high}"
        lines.append(text)
    if not rules:
        lines.append(f"! no pool announces over BGP to peer {peer.name}: nothing is accepted")
        lines.append(f"{ip} prefix-list {group} seq 5 deny any")
    lines += [
        f"route-map {group}-IN permit 10",
        f" match {ip} address prefix-list {group}",
        "exit",
        f"route-map {group}-OUT deny 10",
        "exit",
    ]
    if family == 4:
        lines += [f"router bgp {peer.asn}", f" bgp router-id {peer.address}"]
    else:
        lines += [f"router bgp {peer.asn}"]
    lines += [f" neighbor {group} peer-group", f" neighbor {group} remote-as {peer.my_asn}"]
    if peer.hold_time != 90:
        lines.append(f" neighbor {group} timers {peer.hold_time // 3} {peer.hold_time}")
    if peer.ebgp_multihop:
        lines.append(f" neighbor {group} ebgp-multihop")
    for item in found:
        lines.append(f" neighbor {item.address} peer-group {group}")
        lines.append(f" neighbor {item.address} description {item.node}")
    lines += [
        f" address-family {afi} unicast",
        f"  neighbor {group} activate",
        f"  neighbor {group} route-map {group}-IN in",
        f"  neighbor {group} route-map {group}-OUT out",
        f"  maximum-paths {'ibgp ' if peer.ibgp else ''}{MAX_PATHS}",
        " exit-address-family",
        "exit",
    ]
    return "\n".join(lines) + "\n"


def bird(state: State, peer: Peer, nodes: Iterable[Mapping[str, Any]]) -> str:
    """BIRD 2 configuration (bird.conf) for the router of ``peer``."""
    found, notes = neighbours(peer, nodes)
    rules = accepted(state, peer)
    family = _version(peer.address)
    channel = "ipv4" if family == 4 else "ipv6"
    name = "lbctl_" + "".join(c if c.isalnum() else "_" for c in peer.name)
    lines = _header(peer, "#", notes)
    lines += _secret_note(peer, "#")
    if family == 4:
        lines.append(f"router id {peer.address};")
    else:
        lines.append("# router id 192.0.2.1;   BIRD needs an IPv4 router id: set one if the router "
                     "has no IPv4 address")
    lines += [
        "",
        "protocol device {",
        "}",
        "",
        "# a bird.conf that has a kernel protocol for this table already: add merge paths to",
        "# it instead of this one",
        f"protocol kernel {name}_kernel {{",
        f"  {channel} {{ export all; }};",
        "  merge paths on;   # ECMP: one next hop per node announcing an address",
        "}",
        "",
        f"filter {name}_import {{",
    ]
    if rules:
        sets = ", ".join(f"{r.prefix}{{{r.low},{r.high}}}" for r in rules)
        lines.append(f"  if net ~ [ {sets} ] then accept;")
    else:
        lines.append(f"  # no pool announces over BGP to peer {peer.name}: nothing is accepted")
    lines += ["  reject;", "}", "", f"template bgp {name} {{", f"  local as {peer.asn};",
              f"  hold time {peer.hold_time};"]
    if peer.ebgp_multihop:
        lines.append("  multihop;")
    lines += [f"  {channel} {{", f"    import filter {name}_import;", "    export none;",
              "  };", "}"]
    used: set[str] = set()
    for item in found:
        node = "".join(c if c.isalnum() else "_" for c in item.node)
        while node in used:  # "a-b" and "a.b" would both be a_b
            node += "_"
        used.add(node)
        lines += ["", f"protocol bgp {name}_{node} from {name} {{",
                  f"  neighbor {item.address} as {peer.my_asn};", "}"]
    return "\n".join(lines) + "\n"
