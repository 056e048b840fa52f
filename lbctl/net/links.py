"""The host's interfaces, and which one carries an address.

Owns the facts lbctl needs about network interfaces (name, MAC, flags, addresses, default
routes) and the rule that picks the interface for an address:

1. ``--interface`` when given;
2. else the interface whose connected subnet holds the address (longest prefix wins), counting
   only interfaces that can do ARP/NDP: an address that kube-proxy's IPVS mode put on the
   ``kube-ipvs0`` dummy device (NOARP) must not select that device;
3. else the interface of the default route of the address's family (lowest metric).

The chosen interface must exist, be Ethernet-like without NOARP, be up and have a carrier;
otherwise frames would go nowhere and the user would believe they went out.

Facts come from iproute2's JSON output (``ip -j addr``, ``ip -j route``), read once per command
by :meth:`Links.read`; :meth:`Links.choose` and everything else here is pure, so the selection
rule is tested without a network.  Nothing here sends a frame.

Errors: :class:`~lbctl.errors.NotFoundError` for a missing interface or route (and a missing
``ip`` command), :class:`~lbctl.errors.RefusedError` for an unusable interface or unreadable
iproute2 output, :class:`~lbctl.errors.UsageError` for text that is not an address.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lbctl.errors import NotFoundError, RefusedError, UsageError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Interfaces a user can look at to pick another one.
_LIST_HINT = "list interfaces with `ip -br link` and pick one with --interface IF"


@dataclass(frozen=True)
class Iface:
    """One interface, as far as announcing is concerned."""

    name: str
    mac: str
    link_type: str  # "ether", "loopback", "none", ...
    flags: frozenset[str]  # "UP", "LOWER_UP", "NOARP", ...
    networks: tuple[IPNetwork, ...]  # connected subnets of its addresses
    link_local: str | None  # an IPv6 link-local address usable as a source

    @property
    def can_arp(self) -> bool:
        return self.link_type == "ether" and "NOARP" not in self.flags

    def check(self) -> None:
        """Refuse an interface that cannot put an ARP/NDP frame on the wire right now."""
        if not self.can_arp:
            why = "has NOARP set" if self.link_type == "ether" else f"is {self.link_type}"
            raise RefusedError(
                f"interface {self.name} {why}: it cannot carry ARP or NDP", hint=_LIST_HINT
            )
        if "UP" not in self.flags:
            raise RefusedError(
                f"interface {self.name} is down", hint=f"bring it up: ip link set {self.name} up"
            )
        if "LOWER_UP" not in self.flags:
            raise RefusedError(
                f"interface {self.name} has no carrier: frames sent there reach nobody",
                hint=f"check its cable or peer, or {_LIST_HINT}",
            )


@dataclass(frozen=True)
class Choice:
    """The interface for one address, and why it was chosen (for ``-o wide`` and JSON)."""

    iface: Iface
    via: str


class Links:
    """A snapshot of the interfaces, and the selection rule.

    Built for thousands of addresses per command (``arp announce --all``): subnets are compared
    as integers, longest prefix first, each default route is looked up once, and each chosen
    interface is checked once.
    """

    def __init__(self, ifaces: Mapping[str, Iface],
                 default_route: Callable[[int], str | None]) -> None:
        """``default_route(version)`` names the interface of the default route of IPv4 (4) or
        IPv6 (6), or returns None when there is none."""
        self.ifaces = ifaces
        self._default_route = default_route
        self._defaults: dict[int, Choice] = {}
        subnets = sorted(
            ((net.prefixlen, net.version, int(net.network_address), int(net.netmask),
              Choice(iface, f"subnet {net}"))
             for iface in ifaces.values() if iface.can_arp for net in iface.networks),
            key=lambda subnet: -subnet[0],
        )
        #: Per IP version: (network address, netmask, choice), the most specific first.
        self._subnets: dict[int, list[tuple[int, int, Choice]]] = {
            version: [(network, mask, choice) for _, v, network, mask, choice in subnets
                      if v == version]
            for version in (4, 6)
        }

    @classmethod
    def read(cls) -> Links:
        """Read the current network namespace's interfaces through ``ip -j``."""
        return cls(
            ifaces=parse_addr(_ip_json(["addr", "show"])),
            default_route=lambda version: parse_default_route(
                _ip_json([f"-{version}", "route", "show", "default"])),
        )

    def choose(self, ip: str, interface: str | None = None) -> Choice:
        """The interface to announce or probe ``ip`` on; see the module docstring for the rule."""
        return self.choose_all([ip], interface)[ip]

    def choose_all(self, ips: Sequence[str], interface: str | None = None) -> dict[str, Choice]:
        """:meth:`choose` for every address at once."""
        if interface is not None:
            iface = self.ifaces.get(interface)
            if iface is None:
                raise NotFoundError(f"interface {interface} does not exist", hint=_LIST_HINT)
            iface.check()
            return dict.fromkeys(ips, Choice(iface, "--interface"))
        chosen: dict[str, Choice] = {}
        used: dict[str, Iface] = {}
        subnets = self._subnets
        for ip in ips:  # the hot loop of a large announcement: kept flat
            version = 6 if ":" in ip else 4
            value = int.from_bytes(_pack(ip, version), "big")
            for network, netmask, candidate in subnets[version]:
                if value & netmask == network:
                    choice = candidate
                    break
            else:
                choice = self._defaults.get(version) or self._default(version, ip)
            chosen[ip] = choice
            used[choice.iface.name] = choice.iface
        for iface in used.values():
            iface.check()
        return chosen

    def macs(self, interfaces: Sequence[str] = (), *,
             extra: Sequence[str] = ()) -> dict[str, str]:
        """The interfaces an answer may come from, with their MACs (lower case): each of
        ``interfaces`` that exists; else those the subnet rule can pick (up, ARP-capable, with
        an address that is not link-local: the veths of pods have only link-local ones) and
        the default routes' interfaces; and each of ``extra`` (named by pools: it needs no
        address) that is up and ARP-capable."""
        if interfaces:
            names = [name for name in interfaces if name in self.ifaces]
        else:
            names = [iface.name for iface in self.ifaces.values()
                     if iface.can_arp and "UP" in iface.flags
                     and any(not net.network_address.is_link_local for net in iface.networks)]
            for version in (4, 6):
                default = self._default_route(version)
                if default is not None and default in self.ifaces and self.ifaces[
                        default].can_arp:
                    names.append(default)
        names.extend(name for name in extra if name in self.ifaces
                     and self.ifaces[name].can_arp and "UP" in self.ifaces[name].flags)
        return {name: self.ifaces[name].mac.lower() for name in sorted(set(names))
                if self.ifaces[name].mac}

    def _default(self, version: int, ip: str) -> Choice:
        name = self._default_route(version)
        family = f"IPv{version}"
        if name is None:
            raise NotFoundError(
                f"no interface for {ip}: no connected subnet holds it and there is no "
                f"{family} default route",
                hint="name the interface with --interface IF",
            )
        iface = self.ifaces.get(name)
        if iface is None:  # the route names a device that vanished since `ip addr` ran
            raise NotFoundError(f"interface {name} of the {family} default route does not exist",
                                hint=_LIST_HINT)
        choice = self._defaults[version] = Choice(iface, "default route")
        return choice


def _pack(ip: str, version: int) -> bytes:
    try:
        return socket.inet_pton(socket.AF_INET6 if version == 6 else socket.AF_INET, ip)
    except OSError as exc:
        raise UsageError(f"{ip!r} is not an IP address",
                         hint="write IPv4 as 192.0.2.10 and IPv6 as 2001:db8::10") from exc


def _ip_json(args: Sequence[str]) -> Any:
    """Run ``ip -j ARGS`` and decode its JSON."""
    command = ["ip", "-j", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise NotFoundError(
            "the `ip` command (iproute2) is not installed",
            hint="install iproute2; lbctl reads interfaces and routes with it",
        ) from exc
    except OSError as exc:  # not executable, no file descriptor left for its pipes...
        raise RefusedError(
            f"cannot run `ip`: {exc.strerror or exc}",
            hint="raise the limit of open files (ulimit -n 1024), then run the command again"
            if exc.errno in (errno.EMFILE, errno.ENFILE)
            else "lbctl needs iproute2 with JSON output (ip -j)",
        ) from exc
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no message"])[0]
        raise RefusedError(f"`{' '.join(command)}` failed: {first}",
                           hint="lbctl needs iproute2 with JSON output (ip -j)")
    try:
        return json.loads(done.stdout or "[]")
    except json.JSONDecodeError as exc:
        raise RefusedError(f"`{' '.join(command)}` did not print JSON",
                           hint="lbctl needs iproute2 with JSON output (ip -j)") from exc


def parse_addr(raw: Any) -> dict[str, Iface]:
    """``ip -j addr show`` output -> interfaces by name."""
    ifaces = {}
    for link in raw:
        networks = []
        link_local = None
        for info in link.get("addr_info", []):
            if info.get("family") not in ("inet", "inet6") or info.get("dadfailed"):
                continue
            address = ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}")
            networks.append(address.network)
            if address.version == 6 and address.ip.is_link_local and link_local is None:
                link_local = str(address.ip)
        name = link["ifname"]
        ifaces[name] = Iface(
            name=name,
            mac=link.get("address", ""),
            link_type=link.get("link_type", "none"),
            flags=frozenset(link.get("flags", [])),
            networks=tuple(networks),
            link_local=link_local,
        )
    return ifaces


def parse_default_route(raw: Any) -> str | None:
    """``ip -j route show default`` output -> the device of the lowest-metric default route.

    A multipath route names its devices under ``nexthops``; the first one is taken.
    """
    best: tuple[int, str] | None = None
    for route in raw:
        dev = route.get("dev") or next(
            (hop["dev"] for hop in route.get("nexthops", []) if "dev" in hop), None
        )
        if dev is None:  # unreachable/blackhole default routes carry no device
            continue
        candidate = (int(route.get("metric", 0)), dev)
        if best is None or candidate[0] < best[0]:
            best = candidate
    return None if best is None else best[1]
