"""Which interface an address is announced on, from recorded iproute2 output (no network)."""

from __future__ import annotations

from typing import Any

import pytest

from lbctl.errors import NotFoundError, RefusedError, UsageError
from lbctl.net.links import Links, parse_addr, parse_default_route


def link(name: str, mac: str, flags: list[str], *addrs: tuple[str, str, int],
         link_type: str = "ether") -> dict[str, Any]:
    """One element of `ip -j addr show`, as iproute2 prints it."""
    return {
        "ifindex": 1, "ifname": name, "flags": flags, "mtu": 1500, "operstate": "UP",
        "link_type": link_type, "address": mac, "broadcast": "ff:ff:ff:ff:ff:ff",
        "addr_info": [
            {"family": family, "local": local, "prefixlen": prefix, "scope": "global"}
            for family, local, prefix in addrs
        ],
    }


UP = ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"]
HOST = [
    link("lo", "00:00:00:00:00:00", ["LOOPBACK", "UP", "LOWER_UP"], ("inet", "127.0.0.1", 8),
         link_type="loopback"),
    link("eth0", "02:00:00:00:00:01", UP, ("inet", "10.0.0.5", 24),
         ("inet6", "fd00::5", 64), ("inet6", "fe80::1", 64)),
    link("eth1", "02:00:00:00:00:02", UP, ("inet", "10.1.0.5", 16)),
    link("vlan7", "02:00:00:00:00:07", UP, ("inet", "10.1.7.5", 24)),
    # kube-proxy in IPVS mode binds every LoadBalancer IP to this NOARP dummy device.
    link("kube-ipvs0", "6e:00:00:00:00:09", ["BROADCAST", "NOARP"], ("inet", "10.0.0.40", 32),
         ("inet", "198.51.100.7", 32)),
    link("eth2", "02:00:00:00:00:03", ["BROADCAST", "MULTICAST"], ("inet", "10.2.0.5", 24)),
    link("eth3", "02:00:00:00:00:04", ["NO-CARRIER", "BROADCAST", "MULTICAST", "UP"],
         ("inet", "10.3.0.5", 24)),
]
HOST_MACS = {entry["ifname"]: entry["address"] for entry in HOST}


def links(v4: str | None = "eth1", v6: str | None = None) -> Links:
    routes = {4: v4, 6: v6}
    return Links(ifaces=parse_addr(HOST), default_route=routes.__getitem__)


@pytest.mark.parametrize(("ip", "iface", "via"), [
    ("10.0.0.77", "eth0", "subnet 10.0.0.0/24"),
    ("fd00::77", "eth0", "subnet fd00::/64"),
    ("10.1.7.77", "vlan7", "subnet 10.1.7.0/24"),  # longest prefix beats eth1's /16
    ("10.1.9.77", "eth1", "subnet 10.1.0.0/16"),
    ("10.0.0.40", "eth0", "subnet 10.0.0.0/24"),  # not kube-ipvs0, which holds it as a /32
    ("198.51.100.7", "eth1", "default route"),  # only kube-ipvs0 "holds" it: use the route
    ("203.0.113.9", "eth1", "default route"),
])
def test_connected_subnet_then_default_route(ip: str, iface: str, via: str) -> None:
    choice = links().choose(ip)
    assert (choice.iface.name, choice.iface.mac, choice.via) == (iface, HOST_MACS[iface], via)


def test_interface_option_wins_over_the_subnet() -> None:
    choice = links().choose("10.0.0.77", "eth1")
    assert (choice.iface.name, choice.via) == ("eth1", "--interface")


def test_link_local_address_is_kept_for_ipv6_sources() -> None:
    assert links().ifaces["eth0"].link_local == "fe80::1"
    assert links().ifaces["eth1"].link_local is None


def test_no_route_for_the_family_is_not_found() -> None:
    with pytest.raises(NotFoundError) as caught:
        links(v6=None).choose("2001:db8::1")
    assert caught.value.message == (
        "no interface for 2001:db8::1: no connected subnet holds it and there is no IPv6 "
        "default route")
    assert "--interface" in caught.value.hint


def test_missing_interface_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="interface eth9 does not exist"):
        links().choose("10.0.0.77", "eth9")


@pytest.mark.parametrize(("ip", "interface", "message", "hint"), [
    ("10.2.0.9", None, "interface eth2 is down", "ip link set eth2 up"),
    ("10.0.0.9", "eth2", "interface eth2 is down", "ip link set eth2 up"),
    ("10.3.0.9", None, "interface eth3 has no carrier", "cable"),
    ("10.0.0.9", "lo", "interface lo is loopback: it cannot carry ARP or NDP", "--interface"),
    ("10.0.0.9", "kube-ipvs0", "interface kube-ipvs0 has NOARP set", "--interface"),
])
def test_unusable_interface_is_refused(ip: str, interface: str | None, message: str,
                                       hint: str) -> None:
    with pytest.raises(RefusedError) as caught:
        links().choose(ip, interface)
    assert caught.value.message.startswith(message)
    assert hint in caught.value.hint


def test_default_route_pointing_at_a_down_interface_is_refused() -> None:
    with pytest.raises(RefusedError, match="eth2 is down"):
        links(v4="eth2").choose("203.0.113.9")


def test_default_route_lowest_metric_wins_and_multipath_uses_first_hop() -> None:
    assert parse_default_route([
        {"dst": "default", "gateway": "10.0.0.1", "dev": "eth0", "metric": 200},
        {"dst": "default", "gateway": "10.1.0.1", "dev": "eth1", "metric": 100},
    ]) == "eth1"
    assert parse_default_route([
        {"dst": "default", "flags": [], "nexthops": [
            {"gateway": "10.0.0.1", "dev": "eth0", "weight": 1},
            {"gateway": "10.1.0.1", "dev": "eth1", "weight": 1}]},
    ]) == "eth0"
    assert parse_default_route([{"type": "unreachable", "dst": "default"}]) is None
    assert parse_default_route([]) is None


def test_addresses_that_failed_dad_are_not_connected() -> None:
    raw = [link("eth0", "02:00:00:00:00:01", UP)]
    raw[0]["addr_info"] = [{"family": "inet6", "local": "fd00::5", "prefixlen": 64,
                            "dadfailed": True, "tentative": True}]
    assert parse_addr(raw)["eth0"].networks == ()


def test_empty_address_objects_are_skipped() -> None:
    """iproute2 prints an address that a filter removed as ``{}``."""
    raw = [link("eth0", "02:00:00:00:00:01", UP, ("inet", "10.0.0.5", 24))]
    raw[0]["addr_info"].insert(0, {})
    assert [str(net) for net in parse_addr(raw)["eth0"].networks] == ["10.0.0.0/24"]


def test_text_that_is_not_an_address_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="'10.0.0.300' is not an IP address"):
        links().choose("10.0.0.300")


def test_macs_are_those_of_the_interfaces_an_answer_may_come_from() -> None:
    """What a speaker publishes on its Lease for doctor --probe: not loopback, not NOARP
    kube-ipvs0, not a down interface, not a pod's veth (link-local only); the default route's
    interface even without an address of its own."""
    host = [*HOST,
            link("veth1a2b", "AA:00:00:00:00:0A", UP, ("inet6", "fe80::a", 64)),
            link("bond0", "02:00:00:00:00:0b", UP)]
    found = Links(ifaces=parse_addr(host), default_route={4: "bond0", 6: None}.__getitem__)
    assert found.macs() == {"bond0": "02:00:00:00:00:0b", "eth0": "02:00:00:00:00:01",
                            "eth1": "02:00:00:00:00:02", "eth3": "02:00:00:00:00:04",
                            "vlan7": "02:00:00:00:00:07"}
    assert found.macs(["veth1a2b", "gone0"]) == {"veth1a2b": "aa:00:00:00:00:0a"}


def test_interfaces_pools_name_are_added_when_up_and_arp_capable() -> None:
    """A pool's interface needs no address (a VLAN carrying only VIPs); a down one, a NOARP
    one or one the host lacks is left out, so the node is not eligible for that pool."""
    host = [*HOST, link("vlan20", "02:00:00:00:00:14", UP)]
    found = Links(ifaces=parse_addr(host), default_route={4: "eth1", 6: None}.__getitem__)
    default = found.macs()
    assert "vlan20" not in default
    assert found.macs(extra=["vlan20", "eth2", "kube-ipvs0", "gone0"]) == {
        **default, "vlan20": "02:00:00:00:00:14"}
    assert found.macs(["eth0"], extra=["vlan20"]) == {"eth0": "02:00:00:00:00:01",
                                                      "vlan20": "02:00:00:00:00:14"}
