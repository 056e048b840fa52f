"""Probes between network namespaces: the frames sent, and who is reported as answering."""

from __future__ import annotations

import time

import pytest
from scapy.layers.inet6 import ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, IPv6
from scapy.layers.l2 import ARP, Ether

from lbctl.net.announcer import PROBE_ROUNDS, RawAnnouncer
from lbctl.nodeports import Probed
from tests.net.netns import Child, Lan, sh

pytestmark = pytest.mark.netns

TIMEOUT = 0.3
FAMILIES = pytest.mark.parametrize(("prefix", "owned", "free"), [
    ("24", "10.9.0.50", "10.9.0.51"),
    ("64", "fd00:9::50", "fd00:9::51"),
], ids=["ipv4", "ipv6"])


def probe(ips: list[str]) -> list[Probed]:
    """Runs inside a host namespace."""
    return RawAnnouncer().probe(ips, interface=None, timeout=TIMEOUT)


def prober(lan: Lan) -> str:
    return lan.host("a", "10.9.0.1/24", "fd00:9::1/64")


def lan_subnet(prefix: str) -> str:
    return "10.9.0.0/24" if prefix == "24" else "fd00:9::/64"


@FAMILIES
def test_the_owner_is_reported(lan: Lan, prefix: str, owned: str, free: str) -> None:
    a = prober(lan)
    b = lan.host("b", f"{owned}/{prefix}")
    assert lan.run(a, probe, [owned]) == [
        Probed(owned, "lan0", (lan.mac(b),), f"subnet {lan_subnet(prefix)}")]


@FAMILIES
def test_two_owners_are_both_reported(lan: Lan, prefix: str, owned: str, free: str) -> None:
    a = prober(lan)
    b = lan.host("b", f"{owned}/{prefix}")
    c = lan.host("c", f"{owned}/{prefix}")
    [result] = lan.run(a, probe, [owned])
    assert result.macs == tuple(sorted([lan.mac(b), lan.mac(c)]))


@FAMILIES
def test_nobody_answers_for_a_free_address(lan: Lan, prefix: str, owned: str,
                                           free: str) -> None:
    a = prober(lan)
    b = lan.host("b", f"{owned}/{prefix}")
    started = time.monotonic()
    results = lan.run(a, probe, [free, owned])
    assert time.monotonic() - started >= TIMEOUT
    assert [(r.ip, r.macs) for r in results] == [(free, ()), (owned, (lan.mac(b),))]


def test_probe_frames(lan: Lan) -> None:
    a = prober(lan)
    b = lan.host("b")
    mac = lan.mac(a)
    with lan.capture(b) as seen:
        lan.run(a, probe, ["10.9.0.50", "fd00:9::50"])
    packets = [Ether(f.data) for f in seen if Ether(f.data).src == mac]
    arps = [p[ARP] for p in packets if ARP in p]
    assert [(arp.op, arp.hwsrc, arp.psrc, arp.hwdst, arp.pdst) for arp in arps] == [
        (1, mac, "0.0.0.0", "00:00:00:00:00:00", "10.9.0.50")] * PROBE_ROUNDS
    solicitations = [p for p in packets if ICMPv6ND_NS in p]
    assert [(p[IPv6].src, p[IPv6].dst, p[IPv6].hlim, p[ICMPv6ND_NS].tgt, p.dst)
            for p in solicitations] == [
        ("::", "ff02::1:ff00:50", 255, "fd00:9::50", "33:33:ff:00:00:50"),
        (lan.link_local(a), "ff02::1:ff00:50", 255, "fd00:9::50", "33:33:ff:00:00:50"),
    ] * PROBE_ROUNDS
    assert ICMPv6NDOptSrcLLAddr not in solicitations[0]
    assert solicitations[1][ICMPv6NDOptSrcLLAddr].lladdr == mac


def test_without_link_local_the_dad_form_alone_finds_the_owner(lan: Lan) -> None:
    a = prober(lan)
    b = lan.host("b", "fd00:9::50/64")
    # No link-local address, for good: the kernel adds one when it handles the link's
    # carrier, which it may do after a flush on a loaded machine, unless told not to.
    sh("ip", "-n", a, "link", "set", "lan0", "addrgenmode", "none")
    sh("ip", "-n", a, "-6", "addr", "flush", "dev", "lan0", "scope", "link")
    assert "inet6" not in sh("ip", "-n", a, "-6", "addr", "show", "dev", "lan0", "scope", "link")
    with lan.capture(b) as seen:
        [result] = lan.run(a, probe, ["fd00:9::50"])
    assert result.macs == (lan.mac(b),)
    sources = [Ether(f.data)[IPv6].src for f in seen
               if ICMPv6ND_NS in Ether(f.data) and Ether(f.data).src == lan.mac(a)]
    assert sources == ["::"] * PROBE_ROUNDS


def _probe_stalled_after_the_first_round(ips: list[str]) -> list[Probed]:
    """Runs inside a host namespace: the prober is not scheduled for longer than the whole
    timeout right after its first round left (a loaded machine)."""
    from lbctl.net import announcer

    send_all = announcer.PacketSocket.send_all
    sent = []

    def stalling(self: announcer.PacketSocket, batch: list[bytes]) -> None:
        send_all(self, batch)
        sent.append(len(batch))
        if len(sent) == 1:
            time.sleep(TIMEOUT + 0.2)

    announcer.PacketSocket.send_all = stalling  # type: ignore[method-assign]
    return probe(ips)


@FAMILIES
def test_a_stalled_prober_still_sends_every_round_and_reads_the_answers(
        lan: Lan, prefix: str, owned: str, free: str) -> None:
    """The answer to the first round is queued while the prober stalls past its deadline: it
    is read, and the other rounds still go out (before, the probe ended at once: the owner
    looked absent and one round had gone out)."""
    a = prober(lan)
    b = lan.host("b", f"{owned}/{prefix}")
    with lan.capture(b) as seen:
        [result] = lan.run(a, _probe_stalled_after_the_first_round, [owned])
    assert result.macs == (lan.mac(b),)
    mine = [Ether(f.data) for f in seen if Ether(f.data).src == lan.mac(a)]
    probes = [p for p in mine if (ARP in p if prefix == "24" else ICMPv6ND_NS in p)]
    assert len(probes) == PROBE_ROUNDS * (1 if prefix == "24" else 2)


def test_a_lost_first_round_does_not_make_an_address_look_free(lan: Lan) -> None:
    """The owner answers only from the second round on (its address appears after the first
    probe left): the probe still reports it, because probes are repeated over the timeout."""
    a = prober(lan)
    b = lan.host("b")
    child = Child(a, RawAnnouncer().probe, ["10.9.0.50"], kwargs={"interface": None,
                                                                 "timeout": 0.9})
    time.sleep(0.15)  # the first round (t=0) has gone unanswered; the next is at t=0.3
    sh("ip", "-n", b, "addr", "add", "10.9.0.50/24", "dev", "lan0")
    [result] = child.result()
    assert result.macs == (lan.mac(b),)
