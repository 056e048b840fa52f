"""Builders shared by the core tests: pools, states and allocators from short literals."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from lbctl.core.allocator import AllocationError, Allocator, Request
from lbctl.core.pools import add_pool, make_pool
from lbctl.core.state import Allocation, Pool, State


def pool(name: str, *addresses: str, **options: Any) -> Pool:
    """``pool("a", "10.0.0.0/30", auto_assign=False)``: a validated pool."""
    return make_pool(name, addresses, **options)


def state_of(*pools: Pool, allocations: Iterable[Allocation] = (),
             holds: Iterable[Allocation] = ()) -> State:
    state = State()
    for item in pools:
        state = add_pool(state, item)
    return State(
        pools=state.pools,
        allocations={a.key: a for a in allocations},
        holds={h.key: h for h in holds},
    )


def allocator_of(*pools: Pool) -> Allocator:
    return Allocator(state_of(*pools))


def ips_of(allocator: Allocator, *requests: Request) -> list[tuple[str, ...]]:
    """Allocate each request in turn; the addresses each one got."""
    return [allocator.allocate(request)[0].ips for request in requests]


def refusal(allocator: Allocator, request: Request) -> AllocationError:
    """The :class:`AllocationError` that allocating ``request`` raises."""
    with pytest.raises(AllocationError) as caught:
        allocator.allocate(request)
    return caught.value
