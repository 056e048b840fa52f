"""The responder between network namespaces: a neighbour's kernel resolves an owned address
(ARP and NDP) to the responder's MAC, nothing answers for an address no longer owned, and the
BPF filters keep other traffic out."""

from __future__ import annotations

import os
import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from scapy.layers.inet6 import ICMPv6ND_NA
from scapy.layers.l2 import ARP, Ether

from lbctl.net.announcer import RawAnnouncer
from lbctl.net.responder import RawResponder
from lbctl.nodeports import Answering
from tests.net.netns import Child, Lan

pytestmark = pytest.mark.netns

VIP = "10.9.0.100"
VIP6 = "fd00:9::100"


def _responder(first: list[str], then: list[str] | None, ready: int, go_on: int,
               done: int) -> dict[str, Any]:
    """Inside a host: answer for ``first``; after a byte on ``go_on``, for ``then``; stop at a
    byte on ``done``.  Reports what serve() returned and the counters."""
    responder = RawResponder()
    try:
        served = responder.serve(first)
        os.write(ready, b"!")
        if then is not None:
            select.select([go_on], [], [])
            os.read(go_on, 1)
            responder.serve(then)
            os.write(ready, b"!")
        select.select([done], [], [])
        return {"served": served, "answered": dict(responder.answered())}
    finally:
        responder.close()


class Running:
    def __init__(self, child: Child, ready: int, go_on: int, done: int) -> None:
        self.child, self.ready, self.go_on, self.done = child, ready, go_on, done
        self.result: dict[str, Any] = {}

    def wait_ready(self) -> None:
        assert select.select([self.ready], [], [], 10)[0], "responder did not start"
        assert os.read(self.ready, 1) == b"!"

    def switch(self) -> None:
        os.write(self.go_on, b"!")
        self.wait_ready()


@contextmanager
def responding(lan: Lan, host: str, first: list[str],
               then: list[str] | None = None) -> Iterator[Running]:
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    done_r, done_w = os.pipe()
    child = Child(host, _responder, first, then, ready_w, go_r, done_r,
                  close=(ready_r, go_w, done_w))
    for fd in (ready_w, go_r, done_r):
        os.close(fd)
    running = Running(child, ready_r, go_w, done_w)
    try:
        running.wait_ready()
        yield running
    finally:
        os.write(done_w, b"!")
        running.result = child.result()
        for fd in (ready_r, go_w, done_w):
            os.close(fd)


def _resolve(ip: str) -> None:
    """Make the kernel resolve ``ip``: send it a datagram (nobody needs to read it)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        for _ in range(3):
            sock.sendto(b"x", (ip, 9))
            time.sleep(0.1)


def _probe(ips: list[str]) -> list[tuple[str, ...]]:
    return [p.macs for p in RawAnnouncer().probe(ips, interface=None, timeout=0.3)]


@pytest.fixture
def pair(lan: Lan) -> tuple[str, str]:
    return (lan.host("a", "10.9.0.1/24", "fd00:9::1/64"),
            lan.host("b", "10.9.0.2/24", "fd00:9::2/64"))


def test_a_neighbours_kernel_resolves_owned_addresses_to_the_responder(
        lan: Lan, pair: tuple[str, str]) -> None:
    a, b = pair
    mac = lan.mac(a)
    with responding(lan, a, [VIP, VIP6]) as running:
        lan.run(b, _resolve, VIP)
        lan.run(b, _resolve, VIP6)
        for ip in (VIP, VIP6):
            entry = lan.neighbour(b, ip)
            assert entry is not None and entry.get("lladdr") == mac, (ip, entry)
            assert "FAILED" not in entry.get("state", [])
    served = running.result["served"]
    assert served.answering == (Answering((VIP,), "lan0", mac, "subnet 10.9.0.0/24"),
                                Answering((VIP6,), "lan0", mac, "subnet fd00:9::/64"))
    assert served.failed == {}
    assert running.result["answered"]["arp"] >= 1
    assert running.result["answered"]["ndp"] >= 1


def test_probes_see_exactly_the_responder_and_only_for_owned_addresses(
        lan: Lan, pair: tuple[str, str]) -> None:
    a, b = pair
    mac = lan.mac(a)
    with responding(lan, a, [VIP, VIP6], then=[VIP6]) as running:
        assert lan.run(b, _probe, [VIP, VIP6, "10.9.0.101"]) == [(mac,), (mac,), ()]
        running.switch()  # VIP is no longer owned: not one more answer for it
        assert lan.run(b, _probe, [VIP, VIP6]) == [(), (mac,)]


def test_replies_are_unicast_from_the_interface_mac(lan: Lan, pair: tuple[str, str]) -> None:
    a, b = pair
    mac, asker = lan.mac(a), lan.mac(b)
    with responding(lan, a, [VIP, VIP6]), lan.capture(b) as seen:
        lan.run(b, _resolve, VIP)
        lan.run(b, _resolve, VIP6)
    packets = [Ether(f.data) for f in seen]
    replies = [p for p in packets if ARP in p and p[ARP].op == 2 and p.src == mac]
    assert replies, "no ARP reply"
    for reply in replies:
        assert (reply.dst, reply[ARP].hwsrc, reply[ARP].psrc) == (asker, mac, VIP)
        assert (reply[ARP].hwdst, reply[ARP].pdst) == (asker, "10.9.0.2")
    advertisements = [p for p in packets if ICMPv6ND_NA in p and p.src == mac]
    assert advertisements, "no NA"
    for na in advertisements:
        assert na.dst == asker and na[ICMPv6ND_NA].tgt == VIP6
        assert (na[ICMPv6ND_NA].S, na[ICMPv6ND_NA].O, na[ICMPv6ND_NA].R) == (1, 1, 0)


def test_an_address_without_a_usable_interface_is_reported_not_raised(
        lan: Lan, pair: tuple[str, str]) -> None:
    a, _ = pair
    # 192.0.2.7 is in no connected subnet and the host has no default route
    with responding(lan, a, [VIP, "192.0.2.7"]) as running:
        pass
    served = running.result["served"]
    assert [x.ips for x in served.answering] == [(VIP,)]
    assert set(served.failed) == {"192.0.2.7"}
    assert "no interface for 192.0.2.7" in served.failed["192.0.2.7"]


def _groups(namespace: str) -> set[str]:
    """The IPv6 multicast groups ``lan0`` holds in ``namespace``."""
    import json

    from tests.net.netns import sh

    raw = json.loads(sh("ip", "-n", namespace, "-j", "-6", "maddr", "show", "dev", "lan0"))
    return {str(entry["address"]) for link in raw for entry in link.get("maddr", [])
            if "address" in entry}


def test_the_solicited_node_group_is_held_exactly_while_the_address_is_owned(
        lan: Lan, pair: tuple[str, str]) -> None:
    """Snooping switches forward an NS only to members of the target's solicited-node group."""
    a, _ = pair
    group = "ff02::1:ff00:100"  # fd00:9::100
    assert group not in _groups(a)
    with responding(lan, a, [VIP6], then=[VIP]) as running:
        assert group in _groups(a)
        running.switch()
        assert group not in _groups(a)
