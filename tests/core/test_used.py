"""Used addresses and how full each pool is: exact for any size, each address counted once."""

from __future__ import annotations

from lbctl.core.pools import reserve
from lbctl.core.state import Allocation, State
from lbctl.core.used import FamilyUsage, usage
from tests.core.support import pool, state_of


def alloc(name: str, *ips: str, pool_name: str = "a", sharing_key: str = "") -> Allocation:
    return Allocation("web", name, ips, pool_name, sharing_key=sharing_key)


def test_usage_is_exact() -> None:
    base = pool("a", "10.0.0.0/23", "10.0.2.0-10.0.2.9", "2001:db8::/64", avoid_buggy_ips=True)
    state = reserve(state_of(base), "a", ["10.0.0.1", "2001:db8::1"], "")
    state = State(pools=state.pools, allocations={("web", "x"): alloc("x", "10.0.0.2")},
                  holds={("web", "old"): alloc("old", "10.0.2.5")})
    assert usage(state) == {"a": [
        FamilyUsage("IPv4", 3, 512 - 4 + 10 - 1),  # a reservation, an allocation, a hold
        FamilyUsage("IPv6", 1, 2**64 - 1),  # less the Subnet-Router anycast address
    ]}
    assert usage(state)["a"][1].free == 2**64 - 2


def test_a_shared_address_is_one_used_address_and_every_pool_is_counted() -> None:
    """Two Services sharing an address use one; a dual-stack allocation uses one of each
    family; a pool nobody uses is listed, empty."""
    state = state_of(pool("a", "192.0.2.0/30", "2001:db8::10-2001:db8::11"),
                     pool("b", "198.51.100.7"))
    state = State(pools=state.pools, allocations={
        ("web", "x"): alloc("x", "192.0.2.1", "2001:db8::10", sharing_key="k"),
        ("web", "y"): alloc("y", "192.0.2.1", sharing_key="k"),
    })
    assert {name: [(u.family, u.used, u.free) for u in found]
            for name, found in usage(state).items()} == {
        "a": [("IPv4", 1, 3), ("IPv6", 1, 1)],
        "b": [("IPv4", 0, 1)],
    }
