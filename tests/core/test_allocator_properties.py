"""Properties of the allocator over random pools and random allocate/release/hold sequences.

Every step checks what users rely on: no address is held by two Services unless they validly
share it; every address lies in its pool and the pool admits the Service; the state validates; a
refusal changes nothing; and the choice, the usage and the capacity equal those of a brute-force
reference that knows nothing of the allocator's runs.  The state each sequence ends in survives
its codec unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from itertools import count

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lbctl.core.addresses import IPV4, IPV6, canonical_ip, describe, format_ip, is_buggy
from lbctl.core.allocator import AllocationError, Allocator, Followed, Request, allocate_many
from lbctl.core.pools import make_pool
from lbctl.core.sharing import conflict
from lbctl.core.state import Pool, State, decode, encode, validate
from lbctl.errors import UsageError
from tests.core.support import state_of

V4_BASE = 10 << 24  # 10.0.0.0
V6_BASE = 0x20010DB8 << 96  # 2001:db8::
NAMESPACES = ("a", "b")
#: Fixed labels per Service name, so a Service's labels never change between requests.
LABELS: dict[str, dict[str, str]] = {
    "s0": {"app": "web"}, "s1": {"tier": "a"}, "s2": {"app": "web", "canary": "1"}, "s3": {},
    "s4": {"app": "api", "tier": "b"}, "s5": {"app": "web", "tier": "a"},
}
SELECTORS = ("app=web", "tier in (a,b)", "!canary")
PORTS = ("TCP/80", "UDP/80", "TCP/443")
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------- the reference


def addresses(pool: Pool, family: int) -> Iterator[int]:
    """The pool's addresses of one family that may be handed out, in allocation order: not the
    .0/.255 ones with avoidBuggyIPs, not the Subnet-Router anycast address (the first) of an
    IPv6 CIDR larger than a /127."""
    for entry in pool.entries:
        if entry.version == family:
            anycast = family == IPV6 and "/" in entry.text and entry.size > 2
            for value in range(entry.first + anycast, entry.last + 1):
                if not (pool.avoid_buggy_ips and is_buggy(family, value)):
                    yield value


def taken(state: State) -> set[str]:
    return {ip for record in state.all_records() for ip in record.ips}


def reference_lowest_free(state: State, pool: Pool, family: int) -> str | None:
    """Walks the pool address by address; stops at the first free one (so a /64 is fine)."""
    used = taken(state) | set(pool.reservations)
    return next((format_ip(family, v) for v in addresses(pool, family)
                 if format_ip(family, v) not in used), None)


def reference_pick(state: State, request: Request) -> tuple[str, ...] | None:
    """What a fresh Service asking for any address should get (None: nothing)."""
    if request.pool:
        candidates = [state.pools[request.pool]]
    else:
        candidates = sorted((p for p in state.pools.values() if p.auto_assign),
                            key=lambda p: (p.priority is None, p.priority or 0, p.name))
    for pool in candidates:
        if not pool.admits(request.namespace, request.labels):
            continue
        families = [f for f in request.families if f in pool.families]
        if not families or families[0] != request.families[0] or (
                request.require_all and families != list(request.families)):
            continue
        picks = [reference_lowest_free(state, pool, f) for f in families]
        # RequireDualStack: every family; PreferDualStack: the first, the others when free.
        if None not in (picks if request.require_all else picks[:1]):
            return tuple(ip for ip in picks if ip is not None)
    return None


def brute_usage(state: State, pool: Pool) -> dict[int, tuple[int, int]]:
    used_ips = taken(state) | set(pool.reservations)
    out = {}
    for family in sorted(pool.families):
        values = [format_ip(family, v) for v in addresses(pool, family)]
        out[family] = (sum(ip in used_ips for ip in values), len(values))
    return out


def check_invariants(allocator: Allocator, small: bool) -> State:
    state = allocator.state()
    assert validate(state) == []
    records = list(state.all_records())
    for i, first in enumerate(records):
        assert not first.ips or state.pools[first.pool].admits(first.namespace,
                                                               LABELS[first.name])
        for ip in first.ips:
            assert state.pool_of(ip) == first.pool
        for second in records[i + 1:]:
            if set(first.ips) & set(second.ips):
                assert conflict(first, second) == ""
    if small:
        for name, pool in state.pools.items():
            assert allocator.usage(name) == brute_usage(state, pool)
            assert Allocator(state).usage(name) == allocator.usage(name)
    return state


# ------------------------------------------------------------------------------- strategies


@st.composite
def pool_sets(draw: st.DrawFn, huge: bool = False) -> list[Pool]:
    """1-3 disjoint pools of 1-3 entries each: small IPv4 ranges that often cross a .255/.0
    boundary and small IPv6 ranges, or (``huge``) an IPv6 /64 and an IPv4 /16 as well."""
    slots = count()
    pools = []
    for index in range(draw(st.integers(1, 3))):
        texts = []
        for _ in range(draw(st.integers(1, 3))):
            slot = next(slots)
            if huge and draw(st.booleans()):
                texts.append(draw(st.sampled_from([f"2001:db8:{slot}::/64",
                                                   f"10.{100 + slot}.0.0/16"])))
            elif draw(st.booleans()):
                first = V4_BASE + slot * 1024 + draw(st.integers(0, 700))
                texts.append(describe(IPV4, first, first + draw(st.integers(0, 30))))
            else:
                first = V6_BASE + slot * 2**64 + draw(st.integers(0, 3))
                texts.append(describe(IPV6, first, first + draw(st.integers(0, 6))))
        pool = make_pool(
            f"p{index}", texts,
            auto_assign=draw(st.integers(0, 4)) > 0,
            avoid_buggy_ips=draw(st.booleans()),
            namespaces=draw(st.lists(st.sampled_from(NAMESPACES), max_size=1)),
            selectors=draw(st.lists(st.sampled_from(SELECTORS), max_size=2)),
            priority=draw(st.none() | st.integers(0, 2)),
        )
        candidates = sorted({format_ip(e.version, v) for e in pool.entries
                             for v in range(e.first, min(e.last, e.first + 20) + 1)})
        reserved = draw(st.lists(st.sampled_from(candidates), max_size=2, unique=True))
        pools.append(dataclasses.replace(pool, reservations={ip: "" for ip in reserved}))
    return pools


def explicit_candidates(pools: list[Pool]) -> list[str]:
    """Addresses worth asking for by name: the start of every entry, and one outside them all."""
    return sorted({format_ip(e.version, v) for p in pools for e in p.entries
                   for v in range(e.first, min(e.last, e.first + 3) + 1)}) + ["192.0.2.1"]


@st.composite
def requests(draw: st.DrawFn, pools: list[Pool]) -> Request:
    name = draw(st.sampled_from(sorted(LABELS)))
    families = draw(st.sampled_from([(IPV4,), (IPV4,), (IPV6,), (IPV4, IPV6), (IPV6, IPV4)]))
    explicit = draw(st.sampled_from(["none", "none", "none", "ip", "pool"]))
    ips: tuple[str, ...] = ()
    if explicit == "ip":
        ips = tuple(draw(st.lists(st.sampled_from(explicit_candidates(pools)), min_size=1,
                                  max_size=2, unique=True)))
    sharing_key = draw(st.sampled_from(["", "", "k1", "k2"]))
    return Request(
        namespace=draw(st.sampled_from(NAMESPACES)),
        name=name,
        labels=LABELS[name],
        families=families,
        require_all=draw(st.booleans()),
        ips=ips,
        pool=draw(st.sampled_from([p.name for p in pools])) if explicit == "pool" else None,
        sharing_key=sharing_key,
        ports=tuple(draw(st.lists(st.sampled_from(PORTS), min_size=1, max_size=2, unique=True)))
        if sharing_key else (),
        backend=draw(st.sampled_from(["", "app=web"])) if sharing_key else "",
    )


# ------------------------------------------------------------------------------- the properties


def run_steps(data: st.DataObject, pools: list[Pool], steps: int, small: bool) -> None:
    allocator = Allocator(state_of(*pools))
    for _ in range(steps):
        before = allocator.state()
        if data.draw(st.integers(0, 3)) == 0:
            namespace = data.draw(st.sampled_from(NAMESPACES))
            name = data.draw(st.sampled_from(sorted(LABELS)))
            hold = data.draw(st.booleans())
            key = (namespace, name)
            released = allocator.release(namespace, name, hold=hold)
            after = allocator.state()
            if key in before.allocations:
                assert released == before.allocations[key]
                assert key not in after.allocations
                assert (key in after.holds) is hold
            elif hold:
                assert released is None and after == before
            else:
                assert released == before.holds.get(key) and key not in after.holds
        else:
            attempt(allocator, before, data.draw(requests(pools)))
        check_invariants(allocator, small)
    final = allocator.state()
    assert decode(encode(final)) == final


def attempt(allocator: Allocator, before: State, request: Request) -> None:
    expected = None
    fresh = request.key not in before.allocations and request.key not in before.holds
    if fresh and not request.ips and not request.sharing_key:
        expected = reference_pick(before, request)
    try:
        allocation, new = allocator.allocate(request)
    except (AllocationError, UsageError):
        assert allocator.state() == before  # a refusal changes nothing
        assert expected is None
        return
    existing = before.allocations.get(request.key)
    assert new is (existing is None)
    if existing is not None:
        assert allocation == existing
        return
    if request.ips:
        assert set(allocation.ips) == {canonical_ip(ip) for ip in request.ips}
    elif request.key in before.holds:
        assert allocation.ips == before.holds[request.key].ips  # the hold comes back
    elif not request.sharing_key:
        assert allocation.ips == expected
        # Release, then allocate again: the same lowest address comes back.
        allocator.release(request.namespace, request.name)
        assert allocator.state() == before
        assert allocator.allocate(request)[0] == allocation


@FAST
@given(st.data())
def test_small_pools_match_the_reference(data: st.DataObject) -> None:
    run_steps(data, data.draw(pool_sets()), data.draw(st.integers(1, 25)), small=True)


@FAST
@given(st.data())
def test_huge_pools_keep_every_rule(data: st.DataObject) -> None:
    run_steps(data, data.draw(pool_sets(huge=True)), data.draw(st.integers(1, 25)), small=False)


@FAST
@given(st.data())
def test_a_held_service_gets_its_address_back(data: st.DataObject) -> None:
    pools = data.draw(pool_sets())
    allocator = Allocator(state_of(*pools))
    fill = [data.draw(requests(pools)) for _ in range(data.draw(st.integers(1, 8)))]
    got = {}
    for request in fill:
        try:
            allocation, new = allocator.allocate(request)
        except (AllocationError, UsageError):
            continue
        if new:
            got[request.key] = (request, allocation)
    if not got:
        return
    request, allocation = got[data.draw(st.sampled_from(sorted(got)))]
    allocator.release(request.namespace, request.name, hold=True)
    for other in [data.draw(requests(pools)) for _ in range(data.draw(st.integers(0, 8)))]:
        held = request.key in allocator.state().holds  # until the Service itself comes back
        try:
            taken_now, new = allocator.allocate(other)
        except (AllocationError, UsageError):
            continue
        if held and new and other.key != request.key:
            assert not set(taken_now.ips) & set(allocation.ips)  # nobody else takes it
    assert decode(encode(check_invariants(allocator, small=True))) == allocator.state()
    if request.key in allocator.state().holds:
        again = allocator.allocate(dataclasses.replace(request, ips=(), pool=None))[0]
        assert again.ips == allocation.ips


def _answers(done: object) -> dict[object, object]:
    """allocate_many's answers, comparable: an allocation, or the refusal's reason and text."""
    return {key: answer if not isinstance(answer, Exception)
            else (type(answer).__name__, getattr(answer, "reason", ""), str(answer))
            for key, answer in done.answers.items()}  # type: ignore[attr-defined]


@FAST
@given(st.data())
def test_a_followed_allocator_answers_as_a_fresh_one_batch_after_batch(
        data: st.DataObject) -> None:
    """The controller's batches: each plans on the state the last one made (or, now and then,
    on a state another writer made), with releases, statuses that come and go (its own
    publications, other controllers' addresses, a status that is not an address).  The
    allocator carried from batch to batch gives every answer, and the state, that an allocator
    built afresh for that batch gives; and a copy never changes the one it was made from."""
    pools = data.draw(pool_sets())
    candidates = explicit_candidates(pools)
    followed = Followed()
    state = state_of(*pools)
    published: dict[tuple[str, str], tuple[str, ...]] = {}
    for _ in range(data.draw(st.integers(1, 8))):
        if data.draw(st.integers(0, 4)) == 0:  # another writer: an equal state, decoded anew
            state = decode(encode(state))
        for key in data.draw(st.lists(st.sampled_from(sorted(state.allocations) or [("a", "s0")]),
                                      max_size=2)):
            if key in state.allocations:  # its own publication
                published[key] = state.allocations[key].ips
        for _ in range(data.draw(st.integers(0, 2))):  # others' statuses, which come and go
            key = (data.draw(st.sampled_from(NAMESPACES)), data.draw(st.sampled_from(
                ["x0", "x1", *sorted(LABELS)])))
            shown = data.draw(st.lists(st.sampled_from([*candidates, "not-an-ip"]), max_size=2))
            if shown:
                published[key] = tuple(shown)
            else:
                published.pop(key, None)
        batch = {}
        for request in [data.draw(requests(pools)) for _ in range(data.draw(st.integers(0, 5)))]:
            batch[request.key] = request
        release = data.draw(st.lists(st.sampled_from(sorted(state.allocations) or [("a", "s0")]),
                                     max_size=2))
        fresh = allocate_many(state, batch, release=release, published=dict(published))
        carried = allocate_many(state, batch, release=release, published=dict(published),
                                followed=followed)
        assert carried.state == fresh.state
        assert _answers(carried) == _answers(fresh)
        assert carried.released == fresh.released
        # Two copies of the remembered allocator: what one does, the other does not see.
        first = followed.allocator(carried.state, published)
        second = followed.allocator(carried.state, published)
        for request in batch.values():
            try:
                first.allocate(dataclasses.replace(request, name="copy-" + request.name))
            except (AllocationError, UsageError):
                pass
        assert second.state() == carried.state
        for name in {p.name for p in pools}:
            assert second.usage(name) == Allocator(carried.state, published).usage(name)
        state = carried.state
