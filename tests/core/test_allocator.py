"""The allocator's rules, one table per rule; every refusal checks its reason code and message."""

from __future__ import annotations

from typing import Any

import pytest

from lbctl.core.addresses import IPV4, IPV6
from lbctl.core.allocator import (
    ALREADY,
    ANYCAST,
    BUGGY,
    EXHAUSTED,
    HELD,
    NO_POOL,
    NOT_PERMITTED,
    OUT_OF_POOL,
    RESERVED,
    SHARING,
    WRONG_FAMILY,
    AllocationError,
    Allocator,
    Request,
)
from lbctl.core.pools import reserve
from lbctl.core.state import Pool
from lbctl.errors import ExitCode, NotFoundError, UsageError
from tests.core.support import allocator_of, ips_of, pool, refusal, state_of


def req(name: str, namespace: str = "web", **fields: Any) -> Request:
    return Request(namespace, name, **fields)


def many(count: int, **fields: Any) -> list[Request]:
    return [req(f"s{i}", **fields) for i in range(count)]


def firsts(allocator: Allocator, requests: list[Request]) -> list[str]:
    return [ips[0] for ips in ips_of(allocator, *requests)]


# ------------------------------------------------------------------------------- ordering


@pytest.mark.parametrize(
    ("pools", "expected"),
    [
        pytest.param([pool("a", "10.0.0.10-10.0.0.11", "10.0.0.1-10.0.0.2")],
                     ["10.0.0.10", "10.0.0.11", "10.0.0.1", "10.0.0.2"],
                     id="entries-in-given-order"),
        pytest.param([pool("a", "10.0.0.0/31", "10.0.0.8")],
                     ["10.0.0.0", "10.0.0.1", "10.0.0.8"], id="cidr-then-single"),
        pytest.param([pool("b", "10.0.1.0/31"), pool("a", "10.0.0.0/31")],
                     ["10.0.0.0", "10.0.0.1", "10.0.1.0", "10.0.1.1"], id="by-name"),
        pytest.param([pool("a", "10.0.0.0"), pool("z", "10.0.9.0", priority=5),
                      pool("y", "10.0.8.0", priority=-1), pool("m", "10.0.7.0", priority=5)],
                     ["10.0.8.0", "10.0.7.0", "10.0.9.0", "10.0.0.0"],
                     id="priority-then-name-unset-last"),
        pytest.param([pool("a", "10.0.0.0/31", auto_assign=False), pool("b", "10.0.1.0")],
                     ["10.0.1.0"], id="skips-auto-assign-off"),
        pytest.param([pool("a", "10.0.0.254-10.0.1.1", avoid_buggy_ips=True)],
                     ["10.0.0.254", "10.0.1.1"], id="avoid-buggy-range"),
        pytest.param([pool("a", "10.0.0.254-10.0.1.1")],
                     ["10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"], id="buggy-allowed"),
        pytest.param([pool("a", "2001:db8:1::fffe/127", "2001:db8::/64")],
                     ["2001:db8:1::fffe", "2001:db8:1::ffff", "2001:db8::1"], id="ipv6"),
    ],
)
def test_order_of_allocation(pools: list[Pool], expected: list[str]) -> None:
    families = (IPV6,) if ":" in expected[0] else (IPV4,)
    allocator = allocator_of(*pools)
    assert firsts(allocator, many(len(expected), families=families)) == expected


def test_avoid_buggy_ips_across_every_24_of_a_16() -> None:
    allocator = allocator_of(pool("a", "10.1.0.0/16", avoid_buggy_ips=True))
    got = firsts(allocator, many(254 * 3 + 1))
    assert got[:2] == ["10.1.0.1", "10.1.0.2"]
    assert got[253:256] == ["10.1.0.254", "10.1.1.1", "10.1.1.2"]
    assert got[-1] == "10.1.3.1"
    assert not [ip for ip in got if ip.endswith((".0", ".255"))]


def test_released_address_is_the_next_one_handed_out() -> None:
    allocator = allocator_of(pool("a", "10.0.0.0/24"))
    assert firsts(allocator, many(4)) == ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3"]
    allocator.release("web", "s1")
    allocator.release("web", "s2")
    assert firsts(allocator, [req("n1"), req("n2"), req("n3")]) == [
        "10.0.0.1", "10.0.0.2", "10.0.0.4"]


@pytest.mark.parametrize(
    ("released", "then"),
    [
        pytest.param("10.0.0.254", ["10.0.0.254", "10.0.1.4"], id="before-the-skip"),
        pytest.param("10.0.1.1", ["10.0.1.1", "10.0.1.4"], id="after-the-skip"),
        pytest.param("10.0.0.252", ["10.0.0.252", "10.0.1.4"], id="inside"),
    ],
)
def test_release_beside_skipped_buggy_addresses(released: str, then: list[str]) -> None:
    allocator = allocator_of(pool("a", "10.0.0.250-10.0.1.4", avoid_buggy_ips=True))
    got = firsts(allocator, many(8))
    assert got == ["10.0.0.250", "10.0.0.251", "10.0.0.252", "10.0.0.253", "10.0.0.254",
                   "10.0.1.1", "10.0.1.2", "10.0.1.3"]
    allocator.release("web", f"s{got.index(released)}")
    assert firsts(allocator, [req("n1"), req("n2")]) == then
    assert refusal(allocator, req("n3")).reason == EXHAUSTED


def test_ipv6_64_is_counted_exactly_without_enumeration() -> None:
    allocator = allocator_of(pool("a", "2001:db8::/64"), pool("all", "4000::/2"))
    assert allocator.usage("a") == {IPV6: (0, 2**64 - 1)}  # less the Subnet-Router anycast
    assert allocator.usage("all") == {IPV6: (0, 2**126 - 1)}
    assert firsts(allocator, many(3, families=(IPV6,))) == [
        "2001:db8::1", "2001:db8::2", "2001:db8::3"]
    assert allocator.usage("a") == {IPV6: (3, 2**64 - 1)}


@pytest.mark.parametrize(("entry", "first", "capacity"), [
    ("2001:db8::/120", "2001:db8::1", 255),  # the Subnet-Router anycast address is skipped
    ("2001:db8::/127", "2001:db8::", 2),  # RFC 6164: both addresses of a /127 are usable
    ("2001:db8::/128", "2001:db8::", 1),
    ("2001:db8::-2001:db8::f", "2001:db8::", 16),  # a range says exactly what it means
    ("10.0.0.0/24", "10.0.0.0", 256),  # IPv4 has avoidBuggyIPs for this
])
def test_the_ipv6_subnet_router_anycast_address_is_never_handed_out(
    entry: str, first: str, capacity: int
) -> None:
    allocator = allocator_of(pool("a", entry))
    family = IPV6 if ":" in entry else IPV4
    assert firsts(allocator, many(1, families=(family,))) == [first]
    assert allocator.usage("a") == {family: (1, capacity)}


def test_asking_for_the_subnet_router_anycast_address_is_refused() -> None:
    allocator = allocator_of(pool("a", "2001:db8::/64"))
    error = refusal(allocator, req("x", families=(IPV6,), ips=("2001:db8::",)))
    assert (error.reason, error.message) == (
        ANYCAST, "2001:db8:: is the Subnet-Router anycast address of 2001:db8::/64, which "
                 "routers on the link answer for")


# ------------------------------------------------------------------------------- explicit requests


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        pytest.param(req("x", ips=("10.0.0.7",)), ("10.0.0.7",), id="ip-in-auto-assign-off-pool"),
        pytest.param(req("x", pool="manual"), ("10.0.0.0",), id="auto-assign-off-pool-by-name"),
        pytest.param(req("x", ips=("2001:DB8::0007",), families=(IPV6,)), ("2001:db8::7",),
                     id="canonical-ipv6"),
        pytest.param(req("x", ips=("10.0.1.0",)), ("10.0.1.0",), id="buggy-ip-in-a-plain-pool"),
    ],
)
def test_explicit_requests(request_: Request, expected: tuple[str, ...]) -> None:
    allocator = allocator_of(pool("manual", "10.0.0.0/24", "2001:db8::/120", auto_assign=False),
                             pool("auto", "10.0.1.0/24"))
    allocation, new = allocator.allocate(request_)
    assert (allocation.ips, new) == (expected, True)


def test_reallocation_is_idempotent() -> None:
    allocator = allocator_of(pool("a", "10.0.0.0/24"))
    first, new = allocator.allocate(req("x"))
    again, again_new = allocator.allocate(req("x", ips=("10.0.0.0",), pool="a"))
    assert (new, again_new, again) == (True, False, first)
    assert allocator.usage("a") == {IPV4: (1, 256)}


# ------------------------------------------------------------------------------- dual-stack

DUAL = pool("dual", "10.0.0.0/24", "2001:db8::/64")


@pytest.mark.parametrize(
    ("pools", "request_", "expected"),
    [
        pytest.param([DUAL], req("x", families=(IPV4, IPV6)), ("10.0.0.0", "2001:db8::1"),
                     id="require-dual"),
        pytest.param([DUAL], req("x", families=(IPV6, IPV4)), ("2001:db8::1", "10.0.0.0"),
                     id="ipv6-primary"),
        pytest.param([pool("a", "10.0.1.0/24"), DUAL], req("x", families=(IPV4, IPV6)),
                     ("10.0.0.0", "2001:db8::1"), id="require-dual-skips-single-stack-pool"),
        pytest.param([pool("a", "10.0.1.0/24"), DUAL],
                     req("x", families=(IPV4, IPV6), require_all=False), ("10.0.1.0",),
                     id="prefer-dual-falls-back-to-one"),
        pytest.param([DUAL], req("x", families=(IPV4, IPV6), require_all=False,
                                 ips=("2001:db8::9",)), ("2001:db8::9",),
                     id="prefer-dual-explicit-one"),
        pytest.param([DUAL], req("x", families=(IPV4, IPV6), ips=("2001:db8::9", "10.0.0.9")),
                     ("2001:db8::9", "10.0.0.9"), id="explicit-pair"),
    ],
)
def test_dual_stack(pools: list[Pool], request_: Request, expected: tuple[str, ...]) -> None:
    assert allocator_of(*pools).allocate(request_)[0].ips == expected


def test_prefer_dual_stack_takes_one_family_when_the_other_is_exhausted() -> None:
    tight = pool("tight", "10.0.0.0/32", "2001:db8::/127")
    allocator = allocator_of(tight)
    prefer = {"families": (IPV4, IPV6), "require_all": False}
    assert allocator.allocate(req("a", **prefer))[0].ips == ("10.0.0.0", "2001:db8::")
    assert allocator.allocate(req("b", families=(IPV6, IPV4), require_all=False))[0].ips == (
        "2001:db8::1",)  # its primary family is free; IPv4 is exhausted
    with pytest.raises(AllocationError) as caught:  # the primary family may not be missing
        allocator.allocate(req("c", **prefer))
    assert caught.value.reason == EXHAUSTED
    assert allocator.usage("tight") == {IPV4: (1, 1), IPV6: (2, 2)}


def test_require_dual_stack_takes_both_families_or_nothing() -> None:
    allocator = allocator_of(pool("t", "10.0.0.0/32", "2001:db8::/127"))
    allocator.allocate(req("a"))  # the only IPv4 address
    with pytest.raises(AllocationError) as caught:
        allocator.allocate(req("b", families=(IPV6, IPV4)))
    assert caught.value.reason == EXHAUSTED
    assert allocator.usage("t") == {IPV4: (1, 1), IPV6: (0, 2)}


def test_explicit_two_addresses_of_one_family_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        allocator_of(DUAL).allocate(req("x", ips=("10.0.0.1", "10.0.0.2")))
    assert caught.value.message == "web/x asks for two addresses of one family: 10.0.0.1, 10.0.0.2"


# ------------------------------------------------------------------------------- sharing


def test_same_sharing_key_reuses_the_address() -> None:
    allocator = allocator_of(pool("a", "10.0.0.0/24"))
    got = firsts(allocator, [
        req("a", sharing_key="k", ports=("TCP/80",)),
        req("b", sharing_key="k", ports=("TCP/443",)),
        req("c", sharing_key="k", ports=("UDP/80",)),
        req("d", sharing_key="k", ports=("TCP/80",)),  # port clash with a: a new address
        req("e", sharing_key="other", ports=("TCP/8080",)),
        req("f"),
    ])
    assert got == ["10.0.0.0"] * 3 + ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    allocator.release("web", "a")
    allocator.release("web", "b")
    assert firsts(allocator, [req("g")]) == ["10.0.0.4"]  # c still holds 10.0.0.0
    allocator.release("web", "c")
    assert firsts(allocator, [req("h")]) == ["10.0.0.0"]


def test_sharing_key_does_not_reach_into_an_auto_assign_off_pool() -> None:
    allocator = allocator_of(pool("manual", "10.0.0.0/24", auto_assign=False),
                             pool("auto", "10.0.1.0/24"))
    firsts(allocator, [req("a", ips=("10.0.0.5",), sharing_key="k", ports=("TCP/80",))])
    assert firsts(allocator, [req("b", sharing_key="k", ports=("TCP/443",)),
                              req("c", sharing_key="k", ports=("TCP/8443",), pool="manual")]) == [
        "10.0.1.0", "10.0.0.5"]


def test_explicit_shared_address_with_compatible_services() -> None:
    allocator = allocator_of(pool("a", "10.0.0.0/24"))
    got = firsts(allocator, [
        req("a", sharing_key="k", ports=("TCP/80",), backend="app=x"),
        req("b", ips=("10.0.0.0",), sharing_key="k", ports=("TCP/81",), backend="app=x"),
    ])
    assert got == ["10.0.0.0", "10.0.0.0"]
    assert allocator.usage("a") == {IPV4: (1, 256)}


# ------------------------------------------------------------------------------- holds


def test_hold_keeps_the_address_for_the_same_service() -> None:
    allocator = allocator_of(pool("a", "10.0.0.0/24"))
    firsts(allocator, [req("x"), req("y")])
    released = allocator.release("web", "x", hold=True)
    assert released is not None and released.ips == ("10.0.0.0",)
    assert list(allocator.state().holds) == [("web", "x")]
    assert firsts(allocator, [req("z")]) == ["10.0.0.2"]  # another Service: not the held one
    error = refusal(allocator, req("w", ips=("10.0.0.0",)))
    assert (error.reason, error.message, error.hint) == (
        HELD, "10.0.0.0 is held for web/x", "lbctl release svc x -n web drops the hold")
    assert allocator.allocate(req("x"))[0].ips == ("10.0.0.0",)  # the held Service gets it back
    assert allocator.state().holds == {}


def test_held_service_may_ask_for_another_address() -> None:
    allocator = allocator_of(pool("a", "10.0.0.0/24"))
    firsts(allocator, [req("x")])
    allocator.release("web", "x", hold=True)
    assert firsts(allocator, [req("x", ips=("10.0.0.9",)), req("y")]) == ["10.0.0.9", "10.0.0.0"]


def test_release_without_hold_drops_a_hold() -> None:
    allocator = allocator_of(pool("a", "10.0.0.0/24"))
    firsts(allocator, [req("x")])
    allocator.release("web", "x", hold=True)
    assert allocator.release("web", "x") is not None
    assert allocator.state().holds == {}
    assert firsts(allocator, [req("y")]) == ["10.0.0.0"]


def test_release_with_hold_of_a_held_service_keeps_the_hold() -> None:
    allocator = allocator_of(pool("a", "10.0.0.0/24"))
    firsts(allocator, [req("x")])
    allocator.release("web", "x", hold=True)
    assert allocator.release("web", "x", hold=True) is None  # nothing more to release
    assert list(allocator.state().holds) == [("web", "x")]
    assert firsts(allocator, [req("y")]) == ["10.0.0.1"]


def test_release_of_an_unknown_service() -> None:
    allocator = allocator_of(pool("a", "10.0.0.0/24"))
    assert allocator.release("web", "nobody") is None
    assert allocator.state() == state_of(pool("a", "10.0.0.0/24"))


# ------------------------------------------------------------------------------- refusals

SCOPED = pool("scoped", "10.0.0.0/24", namespaces=["web"], selectors=["app=web", "tier in (a,b)"])
SHARE_80 = req("a", sharing_key="k", ports=("TCP/80",))


@pytest.mark.parametrize(
    ("pools", "before", "request_", "reason", "message"),
    [
        pytest.param([], [], req("x"), NO_POOL,
                     "no pool with autoAssign serves web/x (there are no pools)", id="no-pools"),
        pytest.param([pool("m", "10.0.0.0/24", auto_assign=False)], [], req("x"), NO_POOL,
                     "no pool with autoAssign serves web/x (m: every Service (autoAssign off))",
                     id="only-auto-assign-off"),
        pytest.param([SCOPED], [], req("x", namespace="api", labels={"app": "web"}), NO_POOL,
                     "no pool with autoAssign serves api/x (scoped: namespaces web; selectors "
                     "app=web | tier in (a,b))", id="namespace-scope"),
        pytest.param([SCOPED], [], req("x", labels={"app": "api"}), NO_POOL,
                     "no pool with autoAssign serves web/x (scoped: namespaces web; selectors "
                     "app=web | tier in (a,b))", id="selector-scope"),
        pytest.param([SCOPED], [], req("x", pool="scoped"), NOT_PERMITTED,
                     "pool scoped does not serve web/x (it serves namespaces web; selectors "
                     "app=web | tier in (a,b))", id="explicit-pool-out-of-scope"),
        pytest.param([SCOPED], [], req("x", namespace="api", ips=("10.0.0.5",)), NOT_PERMITTED,
                     "pool scoped does not serve api/x (it serves namespaces web; selectors "
                     "app=web | tier in (a,b))", id="explicit-ip-out-of-scope"),
        pytest.param([pool("a", "10.0.0.0/24"), pool("b", "10.0.1.0/24")], [],
                     req("x", ips=("10.0.0.1",), pool="b"), NOT_PERMITTED,
                     "10.0.0.1 is in pool a, not in the requested pool b",
                     id="ip-outside-requested-pool"),
        pytest.param([pool("a", "10.0.0.0/24"), pool("b", "2001:db8::/64")], [],
                     req("x", ips=("10.0.0.1", "2001:db8::1"), families=(IPV4, IPV6)),
                     NOT_PERMITTED, "10.0.0.1, 2001:db8::1 lie in different pools (a, b)",
                     id="dual-stack-across-pools"),
        pytest.param([pool("a", "10.0.0.0/24")], [], req("x", ips=("10.9.9.9",)), OUT_OF_POOL,
                     "10.9.9.9 is outside every pool", id="outside-every-pool"),
        pytest.param([pool("a", "10.0.0.0/24", avoid_buggy_ips=True)], [],
                     req("x", ips=("10.0.0.255",)), BUGGY,
                     "10.0.0.255 ends in .0 or .255 and pool a avoids such addresses",
                     id="explicit-buggy"),
        pytest.param([pool("a", "10.0.0.0/24")], [req("a")],
                     req("b", ips=("10.0.0.0",), sharing_key="k"), SHARING,
                     "10.0.0.0 is used by web/a, which may not share it: web/a has no sharing "
                     "key", id="explicit-ip-of-unkeyed-service"),
        pytest.param([pool("a", "10.0.0.0/24")], [SHARE_80], req("b", ips=("10.0.0.0",)),
                     SHARING, "10.0.0.0 is used by web/a, which may not share it: web/b has no "
                     "sharing key", id="unkeyed-explicit-ip-of-keyed-service"),
        pytest.param([pool("a", "10.0.0.0/24")], [SHARE_80],
                     req("b", ips=("10.0.0.0",), sharing_key="k", ports=("TCP/80",)), SHARING,
                     "10.0.0.0 is used by web/a, which may not share it: both use TCP/80",
                     id="explicit-ip-port-clash"),
        pytest.param([pool("a", "10.0.0.0/24")], [SHARE_80],
                     req("b", ips=("10.0.0.0",), sharing_key="k", ports=("TCP/81",),
                         backend="app=b"), SHARING,
                     "10.0.0.0 is used by web/a, which may not share it: they have different "
                     "backends (externalTrafficPolicy Local needs the same pod selector on both, "
                     "and Local and Cluster never share)", id="explicit-ip-local-vs-cluster"),
        pytest.param([pool("a", "10.0.0.0/24")], [], req("x", ips=("2001:db8::1",)),
                     WRONG_FAMILY, "web/x is IPv4 (spec.ipFamilies) but asks for 2001:db8::1",
                     id="explicit-wrong-family"),
        pytest.param([DUAL], [], req("x", ips=("10.0.0.1",), families=(IPV4, IPV6)),
                     WRONG_FAMILY, "web/x is IPv4/IPv6 (spec.ipFamilies) but asks for 10.0.0.1",
                     id="require-dual-explicit-one"),
        pytest.param([pool("a", "10.0.0.0/24"), pool("b", "2001:db8::/64")], [],
                     req("x", families=(IPV4, IPV6)), WRONG_FAMILY,
                     "no address for web/x: pool a has no IPv6 addresses; pool b has no IPv4 "
                     "addresses", id="require-dual-no-dual-pool"),
        pytest.param([pool("a", "10.0.0.0/24")], [], req("x", families=(IPV6,)), WRONG_FAMILY,
                     "no address for web/x: pool a has no IPv6 addresses", id="ipv6-from-ipv4"),
        pytest.param([pool("a", "10.0.0.0/31"), pool("b", "10.0.1.0", "10.0.1.9")], many(4),
                     req("x"), EXHAUSTED, "no address for web/x: pool a is exhausted (2 of 2 "
                     "IPv4 addresses used); pool b is exhausted (2 of 2 IPv4 addresses used)",
                     id="exhausted"),
        pytest.param([pool("a", "10.0.0.0/24", "2001:db8::/127")],
                     many(2, families=(IPV6,)), req("x", families=(IPV4, IPV6)), EXHAUSTED,
                     "no address for web/x: pool a is exhausted (2 of 2 IPv6 addresses used)",
                     id="exhausted-one-family"),
        pytest.param([pool("a", "10.0.0.0/24")], [req("x")], req("x", ips=("10.0.0.5",)),
                     ALREADY, "web/x already has 10.0.0.0 from pool a, not 10.0.0.5",
                     id="already-other-ip"),
        pytest.param([pool("a", "10.0.0.0/24"), pool("b", "10.0.1.0/24")], [req("x")],
                     req("x", pool="b"), ALREADY,
                     "web/x already has 10.0.0.0 from pool a, not pool b", id="already-other-pool"),
    ],
)
def test_refusals(pools: list[Pool], before: list[Request], request_: Request, reason: str,
                  message: str) -> None:
    allocator = allocator_of(*pools)
    ips_of(allocator, *before)
    unchanged = allocator.state()
    error = refusal(allocator, request_)
    assert (error.reason, error.message) == (reason, message)
    assert error.exit_code == ExitCode.REFUSED
    assert allocator.state() == unchanged  # a refusal changes nothing


def test_exhausted_counts_reservations_and_hints() -> None:
    state = reserve(state_of(pool("a", "10.0.0.0/30", avoid_buggy_ips=True)), "a",
                    ["10.0.0.1"], "gw")
    allocator = Allocator(state)
    assert firsts(allocator, many(2)) == ["10.0.0.2", "10.0.0.3"]
    error = refusal(allocator, req("x"))
    assert (error.reason, error.message, error.hint) == (
        EXHAUSTED, "no address for web/x: pool a is exhausted (3 of 3 IPv4 addresses used)",
        "add addresses (lbctl pool set a --add ADDRESS) or release unused ones (lbctl svc list)")


@pytest.mark.parametrize(
    ("note", "message"),
    [
        pytest.param("router", "10.0.0.1 is reserved in pool a (router)", id="with-note"),
        pytest.param("", "10.0.0.1 is reserved in pool a", id="without-note"),
    ],
)
def test_reserved_address_is_never_handed_out(note: str, message: str) -> None:
    allocator = Allocator(reserve(state_of(pool("a", "10.0.0.0/30")), "a", ["10.0.0.1"], note))
    assert firsts(allocator, many(3)) == ["10.0.0.0", "10.0.0.2", "10.0.0.3"]
    error = refusal(allocator, req("x", ips=("10.0.0.1",)))
    assert (error.reason, error.message, error.hint) == (
        RESERVED, message, "ask for another address, or: lbctl pool unreserve a 10.0.0.1")


@pytest.mark.parametrize(
    "request_",
    [pytest.param(req("x", pool="nope"), id="pool"),
     pytest.param(req("x", ips=("10.0.0.1",), pool="nope"), id="ip-and-pool")],
)
def test_unknown_requested_pool(request_: Request) -> None:
    with pytest.raises(NotFoundError, match="pool nope not found"):
        allocator_of(pool("a", "10.0.0.0/24")).allocate(request_)
