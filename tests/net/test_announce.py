"""Announcements between network namespaces: the frames a neighbour receives, what its kernel
does with them, and how the interface is chosen.  Every test builds its own segment."""

from __future__ import annotations

from typing import Any

import pytest
from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6
from scapy.layers.l2 import ARP, Ether

from lbctl.errors import NotFoundError, RefusedError
from lbctl.net.announcer import RawAnnouncer
from lbctl.nodeports import Sent
from tests.net.netns import Frame, Lan, sh

pytestmark = pytest.mark.netns

VIP = "10.9.0.100"
VIP6 = "fd00:9::100"
OLD_MAC = "02:00:00:00:00:99"


def announce(ips: list[str], **options: Any) -> list[Sent]:
    """Runs inside a host namespace."""
    given = {"interface": None, "count": 1, "interval": 0.0, "mode": "both", **options}
    return RawAnnouncer().announce(ips, **given)


def arps(frames: list[Frame], mac: str) -> list[Ether]:
    packets = [Ether(f.data) for f in frames]
    return [p for p in packets if ARP in p and p.src == mac]


def nas(frames: list[Frame], mac: str) -> list[Ether]:
    packets = [Ether(f.data) for f in frames]
    return [p for p in packets if ICMPv6ND_NA in p and p.src == mac]


@pytest.fixture
def pair(lan: Lan) -> tuple[str, str]:
    """Host a (the announcer) and its neighbour b, dual-stack on one segment."""
    return (lan.host("a", "10.9.0.1/24", "fd00:9::1/64"),
            lan.host("b", "10.9.0.2/24", "fd00:9::2/64"))


@pytest.mark.parametrize(("mode", "opcodes"), [
    ("request", [1, 1]),
    ("reply", [2, 2]),
    ("both", [1, 2, 1, 2]),
])
def test_gratuitous_arp_frames_as_received(lan: Lan, pair: tuple[str, str], mode: str,
                                           opcodes: list[int]) -> None:
    a, b = pair
    mac = lan.mac(a)
    with lan.capture(b) as seen:
        sent = lan.run(a, announce, [VIP], count=2, interval=0.05, mode=mode)
    assert sent == [Sent((VIP,), "lan0", mac, len(opcodes), "subnet 10.9.0.0/24")]
    received = arps(seen, mac)
    assert [p[ARP].op for p in received] == opcodes
    for packet in received:
        assert (packet.dst, packet.type) == ("ff:ff:ff:ff:ff:ff", 0x0806)
        arp = packet[ARP]
        assert (arp.hwtype, arp.ptype, arp.hwlen, arp.plen) == (1, 0x0800, 6, 4)
        target_mac = mac if arp.op == 2 else "00:00:00:00:00:00"
        assert (arp.hwsrc, arp.psrc, arp.hwdst, arp.pdst) == (mac, VIP, target_mac, VIP)


def test_rounds_start_interval_apart(lan: Lan, pair: tuple[str, str]) -> None:
    a, b = pair
    with lan.capture(b) as seen:
        lan.run(a, announce, [VIP, "10.9.0.101"], count=3, interval=0.2, mode="request")
    times = [f.at for f in seen if ARP in Ether(f.data) and Ether(f.data).src == lan.mac(a)]
    assert len(times) == 6
    rounds = times[0::2]
    # Rounds are paced from the start (round k at start + k * interval), so a late first round
    # shortens the next gap: judge the span, and only that no two rounds go back to back.
    assert rounds[2] - rounds[0] > 0.25, times
    assert rounds[1] - rounds[0] > 0.05 and rounds[2] - rounds[1] > 0.05, times
    assert rounds[2] - rounds[0] < 0.8, times  # paced from the start, not stretched by delays
    assert all(times[i + 1] - times[i] < 0.1 for i in (0, 2, 4)), times  # a round goes at once


def test_unsolicited_na_as_received(lan: Lan, pair: tuple[str, str]) -> None:
    a, b = pair
    mac = lan.mac(a)
    with lan.capture(b) as seen:
        sent = lan.run(a, announce, [VIP6], count=3, interval=0.02)
    assert sent == [Sent((VIP6,), "lan0", mac, 3, "subnet fd00:9::/64")]
    received = nas(seen, mac)
    assert len(received) == 3
    for packet in received:
        assert (packet.dst, packet.type) == ("33:33:00:00:00:01", 0x86DD)
        ip = packet[IPv6]
        assert (ip.src, ip.dst, ip.hlim) == (lan.link_local(a), "ff02::1", 255)
        na = packet[ICMPv6ND_NA]
        assert (na.R, na.S, na.O, na.tgt) == (0, 0, 1, VIP6)
        assert packet[ICMPv6NDOptDstLLAddr].lladdr == mac


def test_dual_stack_addresses_are_reported_per_family(lan: Lan, pair: tuple[str, str]) -> None:
    a, b = pair
    mac = lan.mac(a)
    with lan.capture(b) as seen:
        sent = lan.run(a, announce, [VIP, VIP6, "10.9.0.101"], mode="both")
    assert sent == [
        Sent((VIP, "10.9.0.101"), "lan0", mac, 2, "subnet 10.9.0.0/24"),
        Sent((VIP6,), "lan0", mac, 1, "subnet fd00:9::/64"),
    ]
    assert [(p[ARP].op, p[ARP].psrc) for p in arps(seen, mac)] == [
        (1, VIP), (2, VIP), (1, "10.9.0.101"), (2, "10.9.0.101")]
    assert [p[ICMPv6ND_NA].tgt for p in nas(seen, mac)] == [VIP6]


@pytest.mark.parametrize("mode", ["request", "reply"])
def test_arp_accept_neighbour_learns_a_new_entry(lan: Lan, pair: tuple[str, str],
                                                 mode: str) -> None:
    a, b = pair
    lan.sysctl(b, {"net/ipv4/conf/lan0/arp_accept": "1"})
    assert lan.neighbour(b, VIP) is None
    lan.run(a, announce, [VIP], mode=mode)
    entry = lan.neighbour(b, VIP)
    assert entry is not None
    assert (entry["lladdr"], entry["state"]) == (lan.mac(a), ["STALE"])


@pytest.mark.parametrize("mode", ["request", "reply"])
def test_existing_entry_moves_to_the_announcer(lan: Lan, pair: tuple[str, str],
                                              mode: str) -> None:
    """arp_accept=0 (the default) and an entry updated a moment ago: only a frame Linux takes
    as gratuitous may override it inside ``locktime``, so this checks both forms are."""
    a, b = pair
    lan.sysctl(b, {"net/ipv4/conf/lan0/arp_accept": "0"})
    sh("ip", "-n", b, "neigh", "add", VIP, "lladdr", OLD_MAC, "dev", "lan0", "nud", "stale")
    lan.run(a, announce, [VIP], mode=mode)
    entry = lan.neighbour(b, VIP)
    assert entry is not None and entry["lladdr"] == lan.mac(a)


def test_existing_ipv6_entry_moves_to_the_announcer(lan: Lan, pair: tuple[str, str]) -> None:
    a, b = pair
    sh("ip", "-n", b, "-6", "neigh", "add", VIP6, "lladdr", OLD_MAC, "dev", "lan0", "nud", "stale")
    lan.run(a, announce, [VIP6])
    entry = lan.neighbour(b, VIP6)
    assert entry is not None and entry["lladdr"] == lan.mac(a)


def test_without_link_local_the_na_comes_from_the_announced_address(
        lan: Lan, pair: tuple[str, str]) -> None:
    a, b = pair
    sh("ip", "-n", a, "-6", "addr", "flush", "dev", "lan0", "scope", "link")
    sh("ip", "-n", b, "-6", "neigh", "add", VIP6, "lladdr", OLD_MAC, "dev", "lan0", "nud", "stale")
    with lan.capture(b) as seen:
        lan.run(a, announce, [VIP6])
    assert [p[IPv6].src for p in nas(seen, lan.mac(a))] == [VIP6]
    entry = lan.neighbour(b, VIP6)
    assert entry is not None and entry["lladdr"] == lan.mac(a)


# -- choosing the interface -----------------------------------------------------------------


@pytest.fixture
def uplinked(lan: Lan, pair: tuple[str, str]) -> tuple[str, str]:
    """Host a gets a second link, ``up0`` (10.8.0.1/24, peer ``up0p`` also in a) carrying the
    default route, and a down NOARP device holding 10.9.0.77/32, as kube-proxy's IPVS mode does
    with kube-ipvs0 (a dummy device; a veth here, so no dummy driver is needed)."""
    a, b = pair
    sh("ip", "-n", a, "link", "add", "up0", "type", "veth", "peer", "name", "up0p")
    sh("ip", "-n", a, "addr", "add", "10.8.0.1/24", "dev", "up0")
    sh("ip", "-n", a, "link", "set", "up0", "up")
    sh("ip", "-n", a, "link", "set", "up0p", "up")
    sh("ip", "-n", a, "route", "add", "default", "via", "10.8.0.254", "dev", "up0")
    sh("ip", "-n", a, "link", "add", "kube-ipvs0", "type", "veth", "peer", "name", "ipvs0p")
    sh("ip", "-n", a, "link", "set", "kube-ipvs0", "arp", "off")
    sh("ip", "-n", a, "addr", "add", "10.9.0.77/32", "dev", "kube-ipvs0")
    return a, b


def psrcs(frames: list[Frame], mac: str) -> list[str]:
    return [p[ARP].psrc for p in arps(frames, mac)]


def test_connected_subnet_then_default_route(lan: Lan, uplinked: tuple[str, str]) -> None:
    a, b = uplinked
    mac, up_mac = lan.mac(a), lan.mac(a, "up0")
    with lan.capture(a, "up0p") as upstream, lan.capture(b) as local:
        sent = lan.run(a, announce, ["10.9.0.77", "198.51.100.7"], mode="request")
    assert [(s.ips, s.interface, s.mac, s.via) for s in sent] == [
        (("10.9.0.77",), "lan0", mac, "subnet 10.9.0.0/24"),
        (("198.51.100.7",), "up0", up_mac, "default route"),
    ]
    assert psrcs(local, mac) == ["10.9.0.77"]
    assert psrcs(upstream, up_mac) == ["198.51.100.7"]


def test_interface_option_overrides_the_subnet(lan: Lan, uplinked: tuple[str, str]) -> None:
    a, b = uplinked
    with lan.capture(a, "up0p") as upstream, lan.capture(b) as local:
        sent = lan.run(a, announce, ["10.9.0.78"], interface="up0", mode="request")
    assert [(s.interface, s.via) for s in sent] == [("up0", "--interface")]
    assert psrcs(upstream, lan.mac(a, "up0")) == ["10.9.0.78"]
    assert psrcs(local, lan.mac(a)) == []


def test_missing_interface_is_not_found(lan: Lan, pair: tuple[str, str]) -> None:
    a, _ = pair
    with pytest.raises(NotFoundError, match="interface nope does not exist"):
        lan.run(a, announce, [VIP], interface="nope")


def test_a_down_interface_stops_everything_before_a_frame_leaves(
        lan: Lan, uplinked: tuple[str, str]) -> None:
    a, b = uplinked
    sh("ip", "-n", a, "link", "set", "up0", "down")
    with lan.capture(b) as local, pytest.raises(RefusedError, match="interface up0 is down"):
        lan.run(a, announce, ["10.9.0.5", "10.8.0.5"])
    assert psrcs(local, lan.mac(a)) == []
