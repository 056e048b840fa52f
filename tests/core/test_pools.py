"""Pool changes: names, normal form, overlaps named precisely, removal, reservations."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lbctl.core.pools import (
    add_pool,
    get_pool,
    make_pool,
    remove_pool,
    reserve,
    unreserve,
)
from lbctl.core.state import Allocation, Pool, State
from lbctl.errors import ExitCode, LbctlError, NotFoundError, RefusedError, UsageError
from tests.core.support import pool, state_of

NAME_HINT = "use lower-case letters, digits, '-' and '.', starting and ending alphanumeric"


@pytest.mark.parametrize("name", ["a", "default", "web-1.example", "0", "a" * 63])
def test_valid_pool_names(name: str) -> None:
    assert make_pool(name, ["10.0.0.1"]).name == name


@pytest.mark.parametrize("name", ["", "Web", "-a", "a-", "a_b", "a b", "a" * 64, "a/b"])
def test_invalid_pool_name(name: str) -> None:
    with pytest.raises(UsageError) as caught:
        make_pool(name, ["10.0.0.1"])
    assert (caught.value.message, caught.value.hint) == (f"invalid pool name {name!r}", NAME_HINT)


def test_make_pool_normalises_its_input() -> None:
    made = make_pool("a", ["2001:DB8::/64", "10.0.0.9 - 10.0.0.20"],
                     namespaces=["web", "api", "web"], selectors=["tier in (b,a)", "app == x"])
    assert made.addresses == ("2001:db8::/64", "10.0.0.9-10.0.0.20")  # given order, canonical
    assert made.namespaces == ("api", "web")
    assert made.service_selectors == ("app=x", "tier in (a,b)")


@pytest.mark.parametrize(
    ("addresses", "message"),
    [
        pytest.param([], "pool a has no addresses", id="empty"),
        pytest.param(["10.0.0.0/24", "10.0.0.128-10.0.1.5"],
                     "pool a overlap: 10.0.0.0/24 and 10.0.0.128-10.0.1.5 share "
                     "10.0.0.128-10.0.0.255", id="own-entries-overlap"),
        pytest.param(["10.0.0.1", "10.0.0.1"], "pool a overlap: 10.0.0.1 and 10.0.0.1 share "
                     "10.0.0.1", id="same-address-twice"),
        pytest.param(["10.0.0.1/24"], "'10.0.0.1/24' has host bits set", id="bad-entry"),
    ],
)
def test_make_pool_refuses(addresses: list[str], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        make_pool("a", addresses)
    assert caught.value.message == message


def test_make_pool_refuses_a_bad_selector() -> None:
    with pytest.raises(UsageError, match="invalid label key '-x' in selector '-x'"):
        make_pool("a", ["10.0.0.1"], selectors=["-x"])


@pytest.mark.parametrize(
    ("existing", "new", "message"),
    [
        pytest.param(["10.0.0.0/24"], ["10.0.0.200-10.0.1.10"],
                     "pools a and b overlap: 10.0.0.0/24 and 10.0.0.200-10.0.1.10 share "
                     "10.0.0.200-10.0.0.255", id="cidr-and-range"),
        pytest.param(["10.0.0.5-10.0.0.9"], ["10.0.0.0/24"],
                     "pools b and a overlap: 10.0.0.0/24 and 10.0.0.5-10.0.0.9 share "
                     "10.0.0.5-10.0.0.9", id="new-contains-old"),
        pytest.param(["10.0.1.0/24", "2001:db8::/64"], ["2001:db8::ffff:0:0:1"],
                     "pools a and b overlap: 2001:db8::/64 and 2001:db8::ffff:0:0:1 share "
                     "2001:db8::ffff:0:0:1", id="ipv6-single"),
    ],
)
def test_add_pool_refuses_an_overlap(existing: list[str], new: list[str], message: str) -> None:
    state = state_of(pool("a", *existing))
    with pytest.raises(RefusedError) as caught:
        add_pool(state, pool("b", *new))
    assert caught.value.message == message
    assert caught.value.hint == ("give pool b addresses no other pool holds, or free them in pool "
                                 "a: lbctl pool set a --remove ADDRESS")
    assert caught.value.exit_code == ExitCode.REFUSED


@pytest.mark.parametrize(
    ("existing", "new"),
    [
        pytest.param("10.0.0.0/24", "10.0.1.0/24", id="adjacent"),
        pytest.param("10.0.0.0-10.0.0.9", "10.0.0.10", id="adjacent-range"),
        pytest.param("10.0.0.0/24", "::a00:0/120", id="same-integers-other-family"),
    ],
)
def test_add_pool_allows_disjoint_pools(existing: str, new: str) -> None:
    # Pool() directly: make_pool refuses ::a00:0/120 (IPv4-compatible), add_pool judges overlap
    state = add_pool(state_of(pool("a", existing)), Pool("b", (new,)))
    assert sorted(state.pools) == ["a", "b"]


def test_add_pool_refuses_a_duplicate_name() -> None:
    with pytest.raises(RefusedError, match="pool a already exists"):
        add_pool(state_of(pool("a", "10.0.0.0/24")), pool("a", "10.0.1.0/24"))


def alloc(name: str, ip: str, pool_name: str = "a") -> Allocation:
    return Allocation("web", name, (ip,), pool_name)


def test_remove_pool() -> None:
    state = state_of(pool("a", "10.0.0.0/24"), pool("b", "10.0.1.0/24"),
                     allocations=[alloc("x", "10.0.1.1", "b")])
    assert sorted(remove_pool(state, "a").pools) == ["b"]


@pytest.mark.parametrize(
    ("allocations", "holds", "message"),
    [
        pytest.param([alloc("x", "10.0.0.1")], [], "pool a is in use by web/x (10.0.0.1)",
                     id="allocation"),
        pytest.param([], [alloc("old", "10.0.0.2")], "pool a is in use by web/old (10.0.0.2)",
                     id="hold"),
        pytest.param([alloc(f"s{i}", f"10.0.0.{i}") for i in range(1, 8)], [],
                     "pool a is in use by web/s1 (10.0.0.1), web/s2 (10.0.0.2), "
                     "web/s3 (10.0.0.3), web/s4 (10.0.0.4), web/s5 (10.0.0.5) and 2 more",
                     id="many"),
    ],
)
def test_remove_pool_refuses_while_in_use(allocations: list[Allocation], holds: list[Allocation],
                                          message: str) -> None:
    state = state_of(pool("a", "10.0.0.0/24"), allocations=allocations, holds=holds)
    with pytest.raises(RefusedError) as caught:
        remove_pool(state, "a")
    assert caught.value.message == message


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda s: remove_pool(s, "x"), id="remove"),
        pytest.param(lambda s: reserve(s, "x", ["10.0.0.1"], ""), id="reserve"),
        pytest.param(lambda s: get_pool(s, "x"), id="get"),
    ],
)
def test_unknown_pool(change: Callable[[State], object]) -> None:
    state = state_of(pool("b", "10.0.1.0/24"), pool("a", "10.0.0.0/24"))
    with pytest.raises(NotFoundError) as caught:
        change(state)
    assert caught.value.message == "pool x not found (pools: a, b)"


def test_reserve_and_unreserve() -> None:
    state = state_of(pool("a", "10.0.0.0/24", "2001:db8::/64"))
    state = reserve(state, "a", ["10.0.0.1", "2001:DB8::0001"], "router")
    assert state.pools["a"].reservations == {"10.0.0.1": "router", "2001:db8::1": "router"}
    state = unreserve(state, "a", ["2001:db8::1"])
    assert state.pools["a"].reservations == {"10.0.0.1": "router"}


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        pytest.param(lambda s: reserve(s, "a", ["10.0.1.1"], ""), UsageError,
                     "10.0.1.1 is not in pool a (it is in pool b)", id="other-pool"),
        pytest.param(lambda s: reserve(s, "a", ["10.9.9.9"], ""), UsageError,
                     "10.9.9.9 is not in pool a (it is in no pool)", id="no-pool"),
        pytest.param(lambda s: reserve(s, "a", ["10.0.0.7"], ""), RefusedError,
                     "10.0.0.7 is in use by web/x", id="allocated"),
        pytest.param(lambda s: reserve(s, "a", ["10.0.0.8"], ""), RefusedError,
                     "10.0.0.8 is in use by web/old", id="held"),
        pytest.param(lambda s: unreserve(s, "a", ["10.0.0.9"]), NotFoundError,
                     "10.0.0.9 is not reserved in pool a", id="unreserve-unreserved"),
    ],
)
def test_reservation_refusals(change: Callable[[State], State], error: type[LbctlError],
                              message: str) -> None:
    state = state_of(pool("a", "10.0.0.0/24"), pool("b", "10.0.1.0/24"),
                     allocations=[alloc("x", "10.0.0.7")], holds=[alloc("old", "10.0.0.8")])
    with pytest.raises(error) as caught:
        change(state)
    assert caught.value.message == message
