"""IP addresses and pool entries as integers: parsing, formatting, overlap, "buggy" addresses.

A pool entry is a CIDR (``10.0.0.0/24``), a range (``10.0.0.10-10.0.0.20``) or a single address;
each becomes an :class:`AddrRange`, an inclusive ``[first, last]`` interval of integers of one IP
family.  Everything above this module does arithmetic on those integers, which is what lets an
IPv6 /64 be counted and searched without ever being enumerated.

Which addresses can be a VIP at all is one rule here (:func:`never_vip`, :func:`check_vip`):
unspecified (``0.0.0.0``, ``::``) and the rest of "this network" ``0.0.0.0/8``, loopback
(``127.0.0.0/8``, ``::1``), link-local
(``169.254.0.0/16``, ``fe80::/10``), multicast (``224.0.0.0/4``, ``ff00::/8``), the limited
broadcast ``255.255.255.255``, and IPv4-mapped (``::ffff:0:0/96``) or IPv4-compatible
(``::/96``) IPv6, which name an IPv4 address in IPv6 spelling.  Pools (``pool add``, imports)
and requests (``--ip``, annotations, ``spec.loadBalancerIP``, reservations) are refused when
they hold one; a state document that already does is still read.

Pure: no I/O.  Malformed input raises :class:`lbctl.errors.UsageError` with the offending text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from typing import NamedTuple

from lbctl.errors import UsageError

IPV4 = 4
IPV6 = 6
FAMILY_NAMES = {IPV4: "IPv4", IPV6: "IPv6"}


class Address(NamedTuple):
    """One IP address: its family and its integer value.  Orders IPv4 before IPv6."""

    version: int
    value: int

    def __str__(self) -> str:
        return format_ip(self.version, self.value)


def _ipv4(text: str) -> int | None:
    """The value of an IPv4 address in its canonical spelling (four decimal numbers 0-255 in
    ASCII digits, no leading zeros), read without netaddr; None for any other text (netaddr
    then decides, as it always did: this only skips its import and its cost)."""
    parts = text.split(".")
    if len(parts) != 4:
        return None
    value = 0
    for part in parts:
        if not (part.isascii() and part.isdigit()) or len(part) > 3 or (
                part[0] == "0" and len(part) > 1):
            return None
        number = int(part)
        if number > 255:
            return None
        value = value << 8 | number
    return value


@lru_cache(maxsize=1 << 17)
def parse_ip(text: str) -> Address:
    """``"10.0.0.1"`` -> Address(4, 167772161).  Strict: no leading zeros, no shorthand.

    Cached: the same addresses are parsed again and again (decode, validate, allocate)."""
    value = _ipv4(text) if isinstance(text, str) else None
    if value is not None:
        return Address(IPV4, value)
    import netaddr  # IPv6, and every spelling the line above does not read

    try:
        ip = netaddr.IPAddress(text)
    except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
        raise UsageError(
            f"{text!r} is not an IP address",
            hint="write IPv4 as 192.0.2.10 and IPv6 as 2001:db8::10",
        ) from exc
    return Address(ip.version, ip.value)


@lru_cache(maxsize=1 << 17)
def format_ip(version: int, value: int) -> str:
    """The canonical text of an address (IPv6 compressed, lower case)."""
    if version == IPV4 and 0 <= value < 1 << 32:
        return f"{value >> 24}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"
    import netaddr

    return str(netaddr.IPAddress(value, version))


def is_ip(text: str) -> bool:
    """Whether ``text`` is an address :func:`parse_ip` reads (a status may show a host name)."""
    try:
        parse_ip(text)
    except UsageError:
        return False
    return True


@lru_cache(maxsize=1 << 17)
def canonical_ip(text: str) -> str:
    """Parse and re-format, so that ``2001:DB8::0001`` and ``2001:db8::1`` compare equal.

    Cached; an IPv4 address spelled canonically already (as every status and the state spell
    them) is its own canonical text, without an :class:`Address` made and formatted."""
    if isinstance(text, str) and _ipv4(text) is not None:
        return text
    return str(parse_ip(text))


@dataclass(frozen=True)
class AddrRange:
    """An inclusive interval of addresses of one family, remembering the text it came from."""

    version: int
    first: int
    last: int
    text: str

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def __contains__(self, addr: object) -> bool:
        return (
            isinstance(addr, Address)
            and addr.version == self.version
            and self.first <= addr.value <= self.last
        )

    def overlap(self, other: AddrRange) -> AddrRange | None:
        """The common part of two entries, or None."""
        if self.version != other.version:
            return None
        first, last = max(self.first, other.first), min(self.last, other.last)
        if first > last:
            return None
        return AddrRange(self.version, first, last, describe(self.version, first, last))


def describe(version: int, first: int, last: int) -> str:
    """``10.0.0.5`` or ``10.0.0.5-10.0.0.9``: how a block of addresses is shown to a person."""
    if first == last:
        return format_ip(version, first)
    return f"{format_ip(version, first)}-{format_ip(version, last)}"


def parse_entry(text: str) -> AddrRange:
    """Parse one pool entry: a CIDR, an ``a-b`` range or a single address."""
    text = text.strip()
    if not text:
        raise UsageError("empty address entry", hint="give a CIDR, a range a-b, or an address")
    if "/" in text:
        return _parse_cidr(text)
    if "-" in text:
        low_text, _, high_text = text.partition("-")
        low, high = parse_ip(low_text.strip()), parse_ip(high_text.strip())
        if low.version != high.version:
            raise UsageError(
                f"range {text!r} mixes IPv4 and IPv6",
                hint="give each family its own entry",
            )
        if low.value > high.value:
            raise UsageError(
                f"range {text!r} is reversed: {low} comes after {high}",
                hint=f"write it as {high}-{low}",
            )
        return AddrRange(low.version, low.value, high.value, f"{low}-{high}")
    addr = parse_ip(text)
    return AddrRange(addr.version, addr.value, addr.value, str(addr))


def _parse_cidr(text: str) -> AddrRange:
    address_part, _, prefix_part = text.partition("/")
    first = _ipv4(address_part)
    if first is not None and prefix_part.isascii() and prefix_part.isdigit() and (
            prefix_part == str(int(prefix_part)) and int(prefix_part) <= 32):
        size = 1 << (32 - int(prefix_part))
        if first % size == 0:  # canonical IPv4 without host bits; netaddr words the rest
            return AddrRange(IPV4, first, first + size - 1, text)
    import netaddr

    try:
        net = netaddr.IPNetwork(text)
        address_part, _, prefix_part = text.partition("/")
        netaddr.IPAddress(address_part)
        if not prefix_part.isdigit():
            raise ValueError(prefix_part)
    except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
        raise UsageError(
            f"{text!r} is not a valid CIDR",
            hint="write a network as 192.0.2.0/24 or 2001:db8::/64",
        ) from exc
    if net.ip != net.network:
        raise UsageError(
            f"{text!r} has host bits set",
            hint=f"did you mean {net.cidr}? or give a range like "
            f"{net.ip}-{netaddr.IPAddress(net.last, net.version)}",
        )
    return AddrRange(net.version, net.first, net.last, str(net.cidr))


def is_buggy(version: int, value: int) -> bool:
    """IPv4 addresses ending in .0 or .255, which some old network stacks drop."""
    return version == IPV4 and (value & 0xFF) in (0, 0xFF)


def count_buggy(version: int, first: int, last: int) -> int:
    """How many addresses in ``[first, last]`` end in .0 or .255, in O(1)."""
    if version != IPV4 or first > last:
        return 0
    return _buggy_upto(last) - _buggy_upto(first - 1)


def _buggy_upto(value: int) -> int:
    """Number of .0/.255 addresses in ``[0, value]``."""
    if value < 0:
        return 0
    blocks, rest = divmod(value + 1, 256)
    return 2 * blocks + (1 if rest > 0 else 0)


# --------------------------------------------------------------------------- never a VIP


def _block(cidr: str) -> tuple[int, int]:
    entry = _parse_cidr(cidr)
    return entry.first, entry.last


@cache
def _never_vip() -> tuple[tuple[int, int, int, str, str], ...]:
    """Blocks no VIP may come from: (family, first, last, what it is, the block as text).  The
    narrow IPv6 blocks come before ``::/96``, which holds them, so they are named for what they
    are.  Made on first use (IPv6 needs netaddr)."""
    return tuple((version, *_block(cidr), what, cidr) for version, cidr, what in (
        (IPV4, "0.0.0.0/32", "unspecified"),
        (IPV4, "0.0.0.0/8", "this-network"),
        (IPV4, "127.0.0.0/8", "loopback"),
        (IPV4, "169.254.0.0/16", "link-local"),
        (IPV4, "224.0.0.0/4", "multicast"),
        (IPV4, "255.255.255.255/32", "limited broadcast"),
        (IPV6, "::/128", "unspecified"),
        (IPV6, "::1/128", "loopback"),
        (IPV6, "::ffff:0:0/96", "IPv4-mapped IPv6"),
        (IPV6, "::/96", "IPv4-compatible IPv6"),
        (IPV6, "fe80::/10", "link-local"),
        (IPV6, "ff00::/8", "multicast"),
    ))


def never_vip(entry: AddrRange) -> tuple[str, str] | None:
    """Why (part of) ``entry`` can never be a load-balancer address: ``(message, hint)``, or
    None when every address of it may be one."""
    for version, first, last, what, cidr in _never_vip():
        if version != entry.version or entry.last < first or entry.first > last:
            continue
        if entry.size == 1:
            message = f"{entry.text} is {'an' if what[0] in 'aeiouI' else 'a'} {what} address"
        else:
            common = describe(version, max(first, entry.first), min(last, entry.last))
            message = f"{entry.text} holds {what} addresses ({common}, in {cidr})"
        if what.startswith("IPv4-") and entry.size == 1:
            v4 = format_ip(IPV4, entry.first & 0xFFFFFFFF)
            return message, f"write it as {v4}: IPv4 addresses are given in IPv4 spelling"
        return message, "a VIP must be a unicast address other hosts can reach: choose another"
    return None


def check_vip(entry: AddrRange) -> AddrRange:
    """``entry`` when every address of it may be a VIP; otherwise a
    :class:`~lbctl.errors.UsageError` saying which addresses and why."""
    found = never_vip(entry)
    if found is not None:
        raise UsageError(*found)
    return entry


def parse_vip(text: str) -> Address:
    """Parse an address a Service or a reservation asks for, refusing one that can never be a
    VIP (:func:`never_vip`)."""
    addr = parse_ip(text.strip())
    check_vip(AddrRange(addr.version, addr.value, addr.value, str(addr)))
    return addr
