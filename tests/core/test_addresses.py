"""Pool entries: what a user may write, the canonical form lbctl stores, and every refusal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbctl.core.addresses import (
    IPV4,
    IPV6,
    canonical_ip,
    count_buggy,
    format_ip,
    is_buggy,
    parse_entry,
    parse_ip,
)
from lbctl.errors import ExitCode, UsageError

V4_10 = 10 << 24  # 10.0.0.0
V6_DB8 = 0x20010DB8 << 96  # 2001:db8::


@pytest.mark.parametrize(
    ("text", "version", "first", "last", "canonical"),
    [
        pytest.param("10.0.0.0/24", IPV4, V4_10, V4_10 + 255, "10.0.0.0/24", id="cidr"),
        pytest.param("10.0.0.0/024", IPV4, V4_10, V4_10 + 255, "10.0.0.0/24", id="cidr-padded"),
        pytest.param("10.0.0.7/32", IPV4, V4_10 + 7, V4_10 + 7, "10.0.0.7/32", id="cidr-host"),
        pytest.param("10.0.0.10-10.0.0.20", IPV4, V4_10 + 10, V4_10 + 20, "10.0.0.10-10.0.0.20",
                     id="range"),
        pytest.param(" 10.0.0.10 - 10.0.0.20 ", IPV4, V4_10 + 10, V4_10 + 20,
                     "10.0.0.10-10.0.0.20", id="range-spaces"),
        pytest.param("10.0.0.5-10.0.0.5", IPV4, V4_10 + 5, V4_10 + 5, "10.0.0.5-10.0.0.5",
                     id="range-one"),
        pytest.param("10.0.0.5", IPV4, V4_10 + 5, V4_10 + 5, "10.0.0.5", id="single"),
        pytest.param("2001:DB8::/64", IPV6, V6_DB8, V6_DB8 + 2**64 - 1, "2001:db8::/64",
                     id="cidr6"),
        pytest.param("2001:db8::0001-2001:db8::00FF", IPV6, V6_DB8 + 1, V6_DB8 + 255,
                     "2001:db8::1-2001:db8::ff", id="range6"),
        pytest.param("2001:0db8:0:0:0:0:0:0010", IPV6, V6_DB8 + 16, V6_DB8 + 16, "2001:db8::10",
                     id="single6"),
    ],
)
def test_parse_entry(text: str, version: int, first: int, last: int, canonical: str) -> None:
    entry = parse_entry(text)
    assert (entry.version, entry.first, entry.last, entry.text) == (version, first, last,
                                                                    canonical)
    assert entry.size == last - first + 1
    assert parse_entry(entry.text) == entry  # the canonical text reads back to itself


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        pytest.param("", "empty address entry", "give a CIDR, a range a-b, or an address",
                     id="empty"),
        pytest.param("10.0.0.256", "'10.0.0.256' is not an IP address",
                     "write IPv4 as 192.0.2.10 and IPv6 as 2001:db8::10", id="octet"),
        pytest.param("010.0.0.1", "'010.0.0.1' is not an IP address",
                     "write IPv4 as 192.0.2.10 and IPv6 as 2001:db8::10", id="leading-zero"),
        pytest.param("10.1", "'10.1' is not an IP address",
                     "write IPv4 as 192.0.2.10 and IPv6 as 2001:db8::10", id="shorthand"),
        pytest.param("fe80::1%eth0", "'fe80::1%eth0' is not an IP address",
                     "write IPv4 as 192.0.2.10 and IPv6 as 2001:db8::10", id="zone"),
        pytest.param("10.0.0.1-10.0.0.x", "'10.0.0.x' is not an IP address",
                     "write IPv4 as 192.0.2.10 and IPv6 as 2001:db8::10", id="range-bad-end"),
        pytest.param("10.0.0.0/33", "'10.0.0.0/33' is not a valid CIDR",
                     "write a network as 192.0.2.0/24 or 2001:db8::/64", id="prefix-too-long"),
        pytest.param("10.0.0.0/255.255.255.0", "'10.0.0.0/255.255.255.0' is not a valid CIDR",
                     "write a network as 192.0.2.0/24 or 2001:db8::/64", id="netmask"),
        pytest.param("10.0/8", "'10.0/8' is not a valid CIDR",
                     "write a network as 192.0.2.0/24 or 2001:db8::/64", id="cidr-shorthand"),
        pytest.param("10.0.0.1/24", "'10.0.0.1/24' has host bits set",
                     "did you mean 10.0.0.0/24? or give a range like 10.0.0.1-10.0.0.255",
                     id="host-bits"),
        pytest.param("2001:db8::1/64", "'2001:db8::1/64' has host bits set",
                     "did you mean 2001:db8::/64? or give a range like "
                     "2001:db8::1-2001:db8::ffff:ffff:ffff:ffff", id="host-bits6"),
        pytest.param("10.0.0.9-10.0.0.1",
                     "range '10.0.0.9-10.0.0.1' is reversed: 10.0.0.9 comes after 10.0.0.1",
                     "write it as 10.0.0.1-10.0.0.9", id="reversed"),
        pytest.param("10.0.0.1-2001:db8::1", "range '10.0.0.1-2001:db8::1' mixes IPv4 and IPv6",
                     "give each family its own entry", id="two-families"),
    ],
)
def test_parse_entry_refuses(text: str, message: str, hint: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_entry(text)
    assert (caught.value.message, caught.value.hint) == (message, hint)
    assert caught.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        pytest.param("192.0.2.1", "192.0.2.1", id="v4"),
        pytest.param("2001:DB8::0001", "2001:db8::1", id="v6-upper-padded"),
        pytest.param("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", id="v6-longest-zero-run"),
    ],
)
def test_canonical_ip(text: str, canonical: str) -> None:
    assert canonical_ip(text) == canonical


def test_ipv4_sorts_before_ipv6() -> None:
    assert sorted([parse_ip("::1"), parse_ip("255.255.255.255"), parse_ip("0.0.0.1")]) == [
        parse_ip("0.0.0.1"), parse_ip("255.255.255.255"), parse_ip("::1")]


@pytest.mark.parametrize(
    ("entry", "buggy"),
    [
        pytest.param("10.0.0.0/24", 2, id="one-24"),
        pytest.param("10.0.0.0/16", 512, id="a-16"),
        pytest.param("10.0.0.1-10.0.0.254", 0, id="inside-24"),
        pytest.param("10.0.0.255-10.0.1.0", 2, id="straddle"),
        pytest.param("10.0.0.200-10.0.2.10", 4, id="three-24s"),
        pytest.param("10.0.0.0", 1, id="single-0"),
        pytest.param("10.0.0.0/30", 1, id="small-cidr"),
        pytest.param("2001:db8::/120", 0, id="v6-never"),
    ],
)
def test_count_buggy(entry: str, buggy: int) -> None:
    parsed = parse_entry(entry)
    assert count_buggy(parsed.version, parsed.first, parsed.last) == buggy


@given(st.integers(0, 2**32 - 1), st.integers(0, 2000))
def test_count_buggy_equals_enumeration(first: int, length: int) -> None:
    last = min(first + length, 2**32 - 1)
    expected = sum(is_buggy(IPV4, value) for value in range(first, last + 1))
    assert count_buggy(IPV4, first, last) == expected


# --------------------------------------------------------------------------- never a VIP


@pytest.mark.parametrize("text", [
    "223.255.255.255", "240.0.0.1", "169.253.255.255", "169.255.0.0", "126.255.255.255",
    "128.0.0.0", "1.0.0.0", "255.255.255.254", "100.64.0.1", "10.0.0.0/8",
    "fec0::1", "fe7f:ffff::1", "fc00::/7", "2001:db8::/32",
    "::1:0:0:1", "::fffe:c0a8:11e", "feff::1",
])
def test_addresses_that_may_be_a_vip(text: str) -> None:
    from lbctl.core.addresses import never_vip

    assert never_vip(parse_entry(text)) is None


@pytest.mark.parametrize(("text", "message"), [
    ("0.255.255.255", "0.255.255.255 is a this-network address"),
    ("126.0.0.0-127.0.0.0", "126.0.0.0-127.0.0.0 holds loopback addresses (127.0.0.0, in "
                            "127.0.0.0/8)"),
    ("169.254.255.255", "169.254.255.255 is a link-local address"),
    ("239.255.255.255", "239.255.255.255 is a multicast address"),
    ("255.255.255.0/24", "255.255.255.0/24 holds limited broadcast addresses (255.255.255.255, "
                         "in 255.255.255.255/32)"),
    ("febf::1", "febf::1 is a link-local address"),
    ("ff00::", "ff00:: is a multicast address"),
    ("::ffff:0.0.0.1", "::ffff:0.0.0.1 is an IPv4-mapped IPv6 address"),
    ("::0.0.0.2", "::2 is an IPv4-compatible IPv6 address"),
    ("::/127", "::/127 holds unspecified addresses (::, in ::/128)"),
])
def test_addresses_that_never_are(text: str, message: str) -> None:
    from lbctl.core.addresses import check_vip, never_vip

    found = never_vip(parse_entry(text))
    assert found is not None and found[0] == message
    with pytest.raises(UsageError) as caught:
        check_vip(parse_entry(text))
    assert caught.value.exit_code == ExitCode.USAGE


def test_an_ipv4_mapped_address_is_told_its_ipv4_spelling() -> None:
    from lbctl.core.addresses import parse_vip

    with pytest.raises(UsageError) as caught:
        parse_vip("::ffff:192.168.1.30")
    assert caught.value.hint == ("write it as 192.168.1.30: IPv4 addresses are given in IPv4 "
                                 "spelling")


# --- the IPv4 reading without netaddr agrees with netaddr ------------------------------------

_IPV4ISH = st.text(alphabet="0123456789./ -x:٣", max_size=20)


def _netaddr(text: str) -> tuple[int, int] | None:
    import netaddr

    try:
        ip = netaddr.IPAddress(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return None
    return ip.version, ip.value


@given(st.one_of(_IPV4ISH, st.integers(0, 2**32 - 1).map(
    lambda v: ".".join(str(v >> s & 255) for s in (24, 16, 8, 0)))))
def test_addresses_read_as_netaddr_reads_them(text: str) -> None:
    """parse_ip reads canonical IPv4 itself (no netaddr import on an IPv4 cluster): whatever it
    reads that way, netaddr reads as the same address, and what netaddr refuses it refuses."""
    expected = _netaddr(text)
    try:
        found = parse_ip(text)
    except UsageError:
        assert expected is None, text
    else:
        assert (found.version, found.value) == expected, text


@given(st.integers(0, 2**32 - 1), st.integers(0, 32))
def test_ipv4_networks_and_their_text_read_as_netaddr_reads_them(value: int, prefix: int) -> None:
    import netaddr

    network = value >> (32 - prefix) << (32 - prefix) if prefix else 0
    text = f"{format_ip(4, network)}/{prefix}"
    assert format_ip(4, value) == str(netaddr.IPAddress(value, 4))
    net = netaddr.IPNetwork(text)
    entry = parse_entry(text)
    assert (entry.version, entry.first, entry.last, entry.text) == (4, net.first, net.last,
                                                                    str(net.cidr))
    if prefix < 32:
        with pytest.raises(UsageError, match="has host bits set"):
            parse_entry(f"{format_ip(4, network | 1)}/{prefix}")
