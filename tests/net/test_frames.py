"""The bytes lbctl puts on the wire, checked field by field with scapy as an independent parser,
and the parsers that decide who owns an address, fed frames built by scapy."""

from __future__ import annotations

import socket

import pytest
from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
)
from scapy.layers.l2 import ARP, Ether

from lbctl.net import frames

MAC = "02:00:00:00:00:0a"
OTHER = "02:00:00:00:00:0b"
VIP4 = "192.0.2.10"
VIP6 = "2001:db8::a:10"
LINK_LOCAL = "fe80::a"


def p4(ip: str) -> bytes:
    return socket.inet_pton(socket.AF_INET, ip)


def p6(ip: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, ip)


def icmp6_checksum_ok(packet: Ether) -> bool:
    """Rebuild with scapy computing the checksum itself, and compare."""
    layer = packet[IPv6].payload
    sent = layer.cksum
    rebuilt = Ether(bytes(packet))
    del rebuilt[IPv6].payload.cksum
    return bool(Ether(bytes(rebuilt))[IPv6].payload.cksum == sent)


@pytest.mark.parametrize(("opcode", "hwdst"), [
    (1, "00:00:00:00:00:00"),
    (2, MAC),  # RFC 5944 4.6; Linux takes a reply as gratuitous only with tha == sha
])
def test_gratuitous_arp_fields(opcode: int, hwdst: str) -> None:
    [frame] = frames.gratuitous_arp(frames.mac_bytes(MAC), [p4(VIP4)], [opcode])
    packet = Ether(frame)
    assert (packet.dst, packet.src, packet.type) == ("ff:ff:ff:ff:ff:ff", MAC, 0x0806)
    a = packet[ARP]
    assert (a.hwtype, a.ptype, a.hwlen, a.plen, a.op) == (1, 0x0800, 6, 4, opcode)
    assert (a.hwsrc, a.psrc, a.hwdst, a.pdst) == (MAC, VIP4, hwdst, VIP4)
    assert len(frame) == 42


def test_gratuitous_arp_both_forms_per_address_in_order() -> None:
    ips = ["192.0.2.1", "192.0.2.2"]
    built = frames.gratuitous_arp(frames.mac_bytes(MAC), [p4(ip) for ip in ips], [1, 2])
    assert [(Ether(f)[ARP].op, Ether(f)[ARP].psrc) for f in built] == [
        (1, "192.0.2.1"), (2, "192.0.2.1"), (1, "192.0.2.2"), (2, "192.0.2.2")]


def test_arp_probe_asks_from_zero_address() -> None:
    packet = Ether(frames.arp_probe(frames.mac_bytes(MAC), p4(VIP4)))
    assert packet.dst == "ff:ff:ff:ff:ff:ff"
    a = packet[ARP]
    assert (a.op, a.hwsrc, a.psrc, a.hwdst, a.pdst) == (1, MAC, "0.0.0.0", "00:00:00:00:00:00",
                                                         VIP4)


def test_unsolicited_na_fields() -> None:
    packet = Ether(frames.unsolicited_na(frames.mac_bytes(MAC), p6(LINK_LOCAL), p6(VIP6)))
    assert (packet.dst, packet.src, packet.type) == ("33:33:00:00:00:01", MAC, 0x86DD)
    ip = packet[IPv6]
    assert (ip.src, ip.dst, ip.hlim, ip.nh, ip.plen, ip.tc, ip.fl) == (
        LINK_LOCAL, "ff02::1", 255, 58, 32, 0, 0)
    na = packet[ICMPv6ND_NA]
    assert (na.type, na.code, na.R, na.S, na.O, na.res, na.tgt) == (136, 0, 0, 0, 1, 0, VIP6)
    option = packet[ICMPv6NDOptDstLLAddr]
    assert (option.type, option.len, option.lladdr) == (2, 1, MAC)
    assert icmp6_checksum_ok(packet)


@pytest.mark.parametrize("target", [VIP6, "fd00::1:2:3", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"])
def test_dad_solicitation_goes_from_unspecified_to_solicited_node(target: str) -> None:
    packet = Ether(frames.neighbor_solicitation(frames.mac_bytes(MAC), frames.UNSPECIFIED_IP6,
                                                p6(target)))
    tail = p6(target)[13:]
    group = socket.inet_ntop(socket.AF_INET6, bytes.fromhex("ff0200000000000000000001ff") + tail)
    assert packet.dst == "33:33:ff:" + tail.hex(":")
    ip = packet[IPv6]
    assert (ip.src, ip.dst, ip.hlim, ip.plen) == ("::", group, 255, 24)
    ns = packet[ICMPv6ND_NS]
    assert (ns.type, ns.code, ns.res, ns.tgt) == (135, 0, 0, target)
    assert ICMPv6NDOptSrcLLAddr not in packet  # RFC 4862: forbidden in DAD
    assert icmp6_checksum_ok(packet)


def test_ordinary_solicitation_carries_source_link_layer_address() -> None:
    packet = Ether(frames.neighbor_solicitation(frames.mac_bytes(MAC), p6(LINK_LOCAL), p6(VIP6)))
    assert (packet[IPv6].src, packet[IPv6].plen) == (LINK_LOCAL, 32)
    option = packet[ICMPv6NDOptSrcLLAddr]
    assert (option.type, option.len, option.lladdr) == (1, 1, MAC)
    assert icmp6_checksum_ok(packet)


# -- parsing answers ----------------------------------------------------------------------------


def arp_frame(op: int, psrc: str, pdst: str = VIP4, hwsrc: str = OTHER) -> bytes:
    return bytes(Ether(src=hwsrc, dst=MAC) / ARP(op=op, hwsrc=hwsrc, psrc=psrc, hwdst=MAC,
                                                 pdst=pdst))


@pytest.mark.parametrize("op", [1, 2])
def test_any_arp_with_the_address_as_sender_is_a_claim(op: int) -> None:
    answer = frames.parse_arp_claim(arp_frame(op, VIP4))
    assert answer == frames.Answer(p4(VIP4), frames.mac_bytes(OTHER))


def test_a_probe_from_someone_else_claims_nothing() -> None:
    assert frames.parse_arp_claim(arp_frame(1, "0.0.0.0")) is None


def test_non_arp_and_truncated_frames_claim_nothing() -> None:
    assert frames.parse_arp_claim(arp_frame(2, VIP4)[:41]) is None
    na = bytes(Ether(src=OTHER) / IPv6(hlim=255) / ICMPv6ND_NA(tgt=VIP6))
    assert frames.parse_arp_claim(na) is None


def na_frame(*, hlim: int = 255, option: bool = True, src: str = OTHER,
             lladdr: str = OTHER) -> bytes:
    packet = (Ether(src=src, dst="33:33:00:00:00:01") / IPv6(src="fe80::b", dst="ff02::1",
                                                             hlim=hlim)
              / ICMPv6ND_NA(tgt=VIP6, R=0, S=0, O=1))
    if option:
        packet = packet / ICMPv6NDOptDstLLAddr(lladdr=lladdr)
    return bytes(packet)


def test_na_owner_is_the_target_link_layer_address() -> None:
    answer = frames.parse_na(na_frame(src="02:00:00:00:00:ee", lladdr=OTHER))
    assert answer == frames.Answer(p6(VIP6), frames.mac_bytes(OTHER))


def test_na_without_option_is_owned_by_the_ethernet_source() -> None:
    answer = frames.parse_na(na_frame(option=False))
    assert answer == frames.Answer(p6(VIP6), frames.mac_bytes(OTHER))


def test_na_that_crossed_a_router_is_ignored() -> None:
    assert frames.parse_na(na_frame(hlim=254)) is None


def test_na_with_a_bad_checksum_is_ignored() -> None:
    data = bytearray(na_frame())
    data[-1] ^= 0x01  # flip a bit of the option's MAC; the checksum no longer matches
    assert frames.parse_na(bytes(data)) is None


def test_other_icmpv6_is_not_an_answer() -> None:
    ns = Ether(src=OTHER) / IPv6(hlim=255) / ICMPv6ND_NS(tgt=VIP6)
    assert frames.parse_na(bytes(ns)) is None
    assert frames.parse_na(arp_frame(2, VIP4)) is None


# --------------------------------------------------------------------------- the responder's


def test_arp_request_parsed_and_answered_unicast() -> None:
    asked = bytes(Ether(src=OTHER, dst="ff:ff:ff:ff:ff:ff") /
                  ARP(op=1, hwsrc=OTHER, psrc="192.0.2.99", pdst=VIP4))
    question = frames.parse_arp_request(asked)
    assert question == frames.Question(p4(VIP4), frames.mac_bytes(OTHER), p4("192.0.2.99"))
    reply = Ether(frames.arp_reply(frames.mac_bytes(MAC), question.target, question.mac,
                                   question.ip))
    assert (reply.dst, reply.src, reply.type) == (OTHER, MAC, 0x0806)
    assert (reply[ARP].op, reply[ARP].hwsrc, reply[ARP].psrc) == (2, MAC, VIP4)
    assert (reply[ARP].hwdst, reply[ARP].pdst) == (OTHER, "192.0.2.99")


@pytest.mark.parametrize("frame", [
    bytes(Ether(src=OTHER) / ARP(op=2, hwsrc=OTHER, psrc=VIP4, pdst=VIP4)),  # a reply
    bytes(Ether(src=OTHER) / IPv6()),  # not ARP
    bytes(Ether(src=OTHER) / ARP(op=1, hwsrc=OTHER, psrc="192.0.2.99", pdst=VIP4))[:40],
])
def test_non_requests_are_not_questions(frame: bytes) -> None:
    assert frames.parse_arp_request(frame) is None


def test_ns_parsed_with_its_source_link_layer_option() -> None:
    ns = bytes(Ether(src=OTHER, dst="33:33:ff:0a:00:10") /
               IPv6(src=LINK_LOCAL, dst="ff02::1:ff0a:10", hlim=255) /
               ICMPv6ND_NS(tgt=VIP6) / ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:0c"))
    assert frames.parse_ns(ns) == frames.Question(p6(VIP6), frames.mac_bytes("02:00:00:00:00:0c"),
                                                  p6(LINK_LOCAL))


@pytest.mark.parametrize("frame", [
    bytes(Ether(src=OTHER) / IPv6(src=LINK_LOCAL, hlim=64) / ICMPv6ND_NS(tgt=VIP6)),  # hops
    bytes(Ether(src=OTHER) / IPv6(src="::", hlim=255) / ICMPv6ND_NS(tgt=VIP6) /
          ICMPv6NDOptSrcLLAddr(lladdr=OTHER)),  # DAD with a source option: invalid
    bytes(Ether(src=OTHER) / IPv6(src=LINK_LOCAL, hlim=255) / ICMPv6ND_NA(tgt=VIP6)),  # an NA
])
def test_invalid_solicitations_are_ignored(frame: bytes) -> None:
    assert frames.parse_ns(frame) is None


def test_ns_with_a_bad_checksum_is_ignored() -> None:
    good = bytearray(bytes(Ether(src=OTHER) / IPv6(src=LINK_LOCAL, hlim=255) /
                           ICMPv6ND_NS(tgt=VIP6)))
    assert frames.parse_ns(bytes(good)) is not None
    good[56] ^= 0xFF
    assert frames.parse_ns(bytes(good)) is None


def test_solicited_na_fields() -> None:
    na = Ether(frames.neighbor_advertisement(frames.mac_bytes(MAC), p6(LINK_LOCAL),
                                             frames.mac_bytes(OTHER), p6("fe80::b"), p6(VIP6),
                                             solicited=True))
    assert (na.dst, na.src, na[IPv6].dst, na[IPv6].hlim) == (OTHER, MAC, "fe80::b", 255)
    assert (na[ICMPv6ND_NA].S, na[ICMPv6ND_NA].O, na[ICMPv6ND_NA].R) == (1, 1, 0)
    assert na[ICMPv6ND_NA].tgt == VIP6 and na[ICMPv6NDOptDstLLAddr].lladdr == MAC
    assert icmp6_checksum_ok(na)
