"""Ethernet frames for ARP and NDP: build the ones lbctl sends, parse the answers it listens for.

Owns the exact bytes on the wire; every field is set explicitly (no library defaults):

* gratuitous ARP *request* (RFC 5227 section 3 "ARP Announcement", RFC 5944 section 4.6):
  opcode 1, sender IP = target IP = the address, sender MAC = the interface MAC, target MAC
  all zeroes (RFC 5227: ignored, SHOULD be zero);
* gratuitous ARP *reply* (RFC 5944 section 4.6): opcode 2, sender IP = target IP, and target MAC
  = sender MAC.  Linux treats a reply as gratuitous only when the two MACs are equal; a reply
  with any other target MAC is an ordinary reply, subject to ``locktime`` and ``arp_accept``;
* ARP probe (RFC 5227 section 2.1.1): opcode 1, sender IP 0.0.0.0, target MAC zero;
* unsolicited Neighbor Advertisement (RFC 4861 sections 4.4 and 7.2.6): to ff02::1
  (33:33:00:00:00:01), hop limit 255, Router = 0, Solicited = 0, Override = 1, with a target
  link-layer address option;
* Neighbor Solicitation (RFC 4861 section 4.3, RFC 4862 section 5.4.2): to the target's
  solicited-node group, hop limit 255; the DAD form from ``::`` without options, the ordinary
  form from a link-local address with a source link-layer address option.

The responder (``lbctl speaker``) answers what it is asked, from the interface MAC:

* ARP reply (RFC 826): opcode 2, unicast to the asker's MAC, sender = (our MAC, the address),
  target = the asker's MAC and IP (0.0.0.0 for an RFC 5227 probe);
* solicited Neighbor Advertisement (RFC 4861 section 7.2.4): to the solicitation's source with
  S=1 O=1, or to all nodes with S=0 when the solicitation came from ``::`` (DAD).

Classic BPF programs (:func:`arp_request_filter`, :func:`ns_filter`) keep every other frame out
of Python: on a busy segment only the questions reach the responder.

Every ARP frame lbctl sends unasked goes to the Ethernet broadcast address.  Frames are not
padded to 60 bytes: the driver pads short frames, as it does for the kernel's own ARP.

Pure: no sockets, no I/O.  Addresses come in packed (4 or 16 bytes, 6 for MACs); callers parse
text.  The parsers return ``None`` for any frame that is not the answer they look for: a capture
holds everybody's traffic, and a foreign frame is not an error.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
BROADCAST_MAC = b"\xff" * 6
ZERO_MAC = bytes(6)
ZERO_IP4 = bytes(4)
UNSPECIFIED_IP6 = bytes(16)
ALL_NODES_IP6 = bytes.fromhex("ff020000000000000000000000000001")
ALL_NODES_MAC = bytes.fromhex("333300000001")

ARP_REQUEST = 1
ARP_REPLY = 2
ICMPV6 = 58
NDP_HOP_LIMIT = 255
ND_NEIGHBOR_SOLICIT = 135
ND_NEIGHBOR_ADVERT = 136
_OPT_SOURCE_LLADDR = 1
_OPT_TARGET_LLADDR = 2
_NA_OVERRIDE = 0x20000000
_NA_SOLICITED = 0x40000000

_ETH = struct.Struct("!6s6sH")
_ARP_FIXED = struct.Struct("!HHBBH")
_IP6 = struct.Struct("!IHBB16s16s")  # version/class/flow, payload length, next header, hops


def mac_text(mac: bytes) -> str:
    """``b"\\x02\\x00..."`` -> ``"02:00:00:00:00:01"``."""
    return mac.hex(":")


def mac_bytes(text: str) -> bytes:
    """``"02:00:00:00:00:01"`` -> six bytes."""
    return bytes.fromhex(text.replace(":", ""))


def _eth(dst: bytes, src: bytes, ethertype: int) -> bytes:
    return _ETH.pack(dst, src, ethertype)


def _arp_head(opcode: int) -> bytes:
    """The fixed ARP fields for Ethernet/IPv4: htype 1, ptype 0x0800, hlen 6, plen 4, opcode."""
    return _ARP_FIXED.pack(1, 0x0800, 6, 4, opcode)


def gratuitous_arp(mac: bytes, ips: Iterable[bytes], opcodes: Sequence[int]) -> list[bytes]:
    """Gratuitous ARP from ``mac`` for every address: one frame per opcode (1 request, 2 reply)
    per address, in the order given.

    The constant parts are built once and each frame is one concatenation, which keeps the
    sender close to the speed of sending one prebuilt frame in a loop.
    """
    eth = _eth(BROADCAST_MAC, mac, ETH_P_ARP)
    # (everything before the sender IP, the target MAC between the two IPs)
    forms = [(eth + _arp_head(op) + mac, mac if op == ARP_REPLY else ZERO_MAC) for op in opcodes]
    if len(forms) == 1:
        [(head, target_mac)] = forms
        return [head + ip + target_mac + ip for ip in ips]
    return [head + ip + target_mac + ip for ip in ips for head, target_mac in forms]


def arp_probe(mac: bytes, ip: bytes) -> bytes:
    """RFC 5227 probe: "who has ``ip``?" asked from 0.0.0.0, so no cache learns anything."""
    eth = _eth(BROADCAST_MAC, mac, ETH_P_ARP)
    return eth + _arp_head(ARP_REQUEST) + mac + ZERO_IP4 + ZERO_MAC + ip


def _fold(total: int) -> int:
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _sum16(data: bytes) -> int:
    """Unfolded one's-complement sum of 16-bit big-endian words (``data`` has even length)."""
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def _icmp6(src: bytes, dst: bytes, message: bytes) -> bytes:
    """An IPv6 packet carrying ``message`` (ICMPv6, checksum field zero) with its checksum set."""
    pseudo = src + dst + struct.pack("!I3xB", len(message), ICMPV6)
    checksum = ~_fold(_sum16(pseudo) + _sum16(message)) & 0xFFFF
    header = _IP6.pack(0x60000000, len(message), ICMPV6, NDP_HOP_LIMIT, src, dst)
    return header + message[:2] + struct.pack("!H", checksum) + message[4:]


def unsolicited_na(mac: bytes, src: bytes, target: bytes) -> bytes:
    """RFC 4861 unsolicited NA for ``target`` to all nodes, R=0 S=0 O=1, TLLA = ``mac``."""
    return neighbor_advertisement(mac, src, ALL_NODES_MAC, ALL_NODES_IP6, target, solicited=False)


def neighbor_advertisement(mac: bytes, src: bytes, dst_mac: bytes, dst: bytes, target: bytes,
                           *, solicited: bool) -> bytes:
    """An NA for ``target`` (R=0, O=1, S as given) with a target link-layer option."""
    flags = _NA_OVERRIDE | (_NA_SOLICITED if solicited else 0)
    message = (
        struct.pack("!BBHI", ND_NEIGHBOR_ADVERT, 0, 0, flags)
        + target
        + struct.pack("!BB", _OPT_TARGET_LLADDR, 1)
        + mac
    )
    return _eth(dst_mac, mac, ETH_P_IPV6) + _icmp6(src, dst, message)


def arp_reply(mac: bytes, ip: bytes, to_mac: bytes, to_ip: bytes) -> bytes:
    """The answer to "who has ``ip``?" asked by ``to_mac``/``to_ip``: unicast, from ``mac``."""
    return _eth(to_mac, mac, ETH_P_ARP) + _arp_head(ARP_REPLY) + mac + ip + to_mac + to_ip


@dataclass(frozen=True)
class Question:
    """Someone asks who has ``target``: ``mac``/``ip`` are the asker's (packed)."""

    target: bytes
    mac: bytes
    ip: bytes


def parse_arp_request(frame: bytes) -> Question | None:
    """An Ethernet/IPv4 ARP request (probes, sender 0.0.0.0, included)."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x06":
        return None
    if _ARP_FIXED.unpack_from(frame, 14) != (1, 0x0800, 6, 4, ARP_REQUEST):
        return None
    return Question(target=frame[38:42], mac=frame[22:28], ip=frame[28:32])


def parse_ns(frame: bytes) -> Question | None:
    """A Neighbor Solicitation that passes RFC 4861 section 7.1.1's checks (hop limit 255, code
    0, checksum, no source link-layer option from ``::``); ``mac`` is the source link-layer
    option, else the Ethernet source."""
    parsed = _nd_message(frame, ND_NEIGHBOR_SOLICIT)
    if parsed is None:
        return None
    src, message = parsed
    mac = frame[6:12]
    options = message[24:]
    while len(options) >= 8 and options[1]:
        size = options[1] * 8
        if options[0] == _OPT_SOURCE_LLADDR and size >= 8:
            if src == UNSPECIFIED_IP6:
                return None  # RFC 4861 7.1.1: DAD must not carry it
            mac = options[2:8]
            break
        options = options[size:]
    return Question(target=message[8:24], mac=mac, ip=src)


# --------------------------------------------------------------------------- classic BPF

_BPF_LD_H_ABS = 0x28
_BPF_LD_B_ABS = 0x30
_BPF_JEQ_K = 0x15
_BPF_RET_K = 0x06
_BPF_INSN = struct.Struct("=HBBI")


def _match_all(checks: Sequence[tuple[int, int, int]]) -> bytes:
    """A program accepting a frame when every ``(load, offset, value)`` holds."""
    program = []
    count = len(checks)
    for index, (load, offset, value) in enumerate(checks):
        program.append(_BPF_INSN.pack(load, 0, 0, offset))
        # on mismatch jump to the final "drop"; the jump skips the remaining pairs + "accept"
        program.append(_BPF_INSN.pack(_BPF_JEQ_K, 0, 2 * (count - index - 1) + 1, value))
    program.append(_BPF_INSN.pack(_BPF_RET_K, 0, 0, 0x40000))  # accept (whole frame)
    program.append(_BPF_INSN.pack(_BPF_RET_K, 0, 0, 0))  # drop
    return b"".join(program)


def arp_request_filter() -> bytes:
    """Classic BPF: Ethernet ARP frames with opcode 1 (requests and probes) only."""
    return _match_all([(_BPF_LD_H_ABS, 12, ETH_P_ARP), (_BPF_LD_H_ABS, 20, ARP_REQUEST)])


def ns_filter() -> bytes:
    """Classic BPF: IPv6 frames whose next header is ICMPv6 and type Neighbor Solicitation."""
    return _match_all([(_BPF_LD_H_ABS, 12, ETH_P_IPV6), (_BPF_LD_B_ABS, 20, ICMPV6),
                       (_BPF_LD_B_ABS, 54, ND_NEIGHBOR_SOLICIT)])


def solicited_node(target: bytes) -> bytes:
    """ff02::1:ffXX:XXXX, the group that receives solicitations for ``target``."""
    return bytes.fromhex("ff0200000000000000000001ff") + target[13:]


def neighbor_solicitation(mac: bytes, src: bytes, target: bytes) -> bytes:
    """NS for ``target`` to its solicited-node group.

    ``src`` = ``::`` gives the DAD form (RFC 4862: no source link-layer option allowed); any
    other source carries the source link-layer address option, so the answer comes back unicast.
    """
    group = solicited_node(target)
    message = struct.pack("!BBHI", ND_NEIGHBOR_SOLICIT, 0, 0, 0) + target
    if src != UNSPECIFIED_IP6:
        message += struct.pack("!BB", _OPT_SOURCE_LLADDR, 1) + mac
    return _eth(b"\x33\x33" + group[12:], mac, ETH_P_IPV6) + _icmp6(src, group, message)


def _nd_message(frame: bytes, kind: int) -> tuple[bytes, bytes] | None:
    """(IPv6 source, ICMPv6 message) of a Neighbor Discovery frame of type ``kind`` that passes
    RFC 4861's checks (sections 7.1.1, 7.1.2): hop limit 255, no extension headers, code 0, the
    ICMPv6 checksum.  A raw socket sees frames before the kernel checks them."""
    if len(frame) < 14 + 40 + 24 or frame[12:14] != b"\x86\xdd":
        return None
    _vtf, length, next_header, hops, src, dst = _IP6.unpack_from(frame, 14)
    message = frame[54 : 54 + length]
    if (
        next_header != ICMPV6
        or hops != NDP_HOP_LIMIT
        or len(message) != length
        or length < 24
        or length % 2
        or message[0] != kind
        or message[1] != 0
    ):
        return None
    pseudo = src + dst + struct.pack("!I3xB", length, ICMPV6)
    if _fold(_sum16(pseudo) + _sum16(message)) != 0xFFFF:
        return None
    return src, message


@dataclass(frozen=True)
class Answer:
    """Someone on the link claims ``ip`` (packed) for ``mac`` (packed)."""

    ip: bytes
    mac: bytes


def parse_arp_claim(frame: bytes) -> Answer | None:
    """Any ARP packet whose *sender* IP is set: its sender claims that address.

    RFC 5227 section 2.1.1: during a probe, an ARP packet (request or reply) from another host
    with sender IP = the probed address means the address is in use.  Probes (sender 0.0.0.0)
    claim nothing.
    """
    if len(frame) < 42 or frame[12:14] != b"\x08\x06":
        return None
    htype, ptype, hlen, plen, _opcode = _ARP_FIXED.unpack_from(frame, 14)
    if (htype, ptype, hlen, plen) != (1, 0x0800, 6, 4):
        return None
    spa = frame[28:32]
    if spa == ZERO_IP4:
        return None
    return Answer(ip=spa, mac=frame[22:28])


def parse_na(frame: bytes) -> Answer | None:
    """A Neighbor Advertisement: its target, and the target link-layer option's MAC (or the
    Ethernet source when the option is absent, as RFC 4861 allows for unicast answers).

    Enforces the RFC 4861 section 7.1.2 checks that matter here: hop limit 255, no extension
    headers, ICMPv6 code 0, and the ICMPv6 checksum: a raw socket sees frames before the kernel
    checks them, and a corrupt frame must not count as an owner.
    """
    parsed = _nd_message(frame, ND_NEIGHBOR_ADVERT)
    if parsed is None:
        return None
    _src, message = parsed
    mac = frame[6:12]
    options = message[24:]
    while len(options) >= 8 and options[1]:
        size = options[1] * 8
        if options[0] == _OPT_TARGET_LLADDR and size >= 8:
            mac = options[2:8]
            break
        options = options[size:]
    return Answer(ip=message[8:24], mac=mac)
