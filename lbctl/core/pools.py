"""Pool changes and pool usage, as pure functions of a :class:`~lbctl.core.state.State`.

Each change takes a state and returns a new one, or raises an :mod:`lbctl.errors` class naming
exactly what is wrong (the overlapping pools and addresses, the allocations that keep a pool in
use).  The state store runs these functions inside its compare-and-swap loop, so they must be
deterministic and free of I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from lbctl.core.addresses import FAMILY_NAMES, format_ip, parse_entry
from lbctl.core.allocator import Allocator
from lbctl.core.selectors import parse_selector
from lbctl.core.state import Pool, State, overlaps
from lbctl.errors import NotFoundError, RefusedError, UsageError

_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?\Z")


def make_pool(
    name: str,
    addresses: Iterable[str],
    *,
    auto_assign: bool = True,
    avoid_buggy_ips: bool = False,
    namespaces: Iterable[str] = (),
    selectors: Iterable[str] = (),
    priority: int | None = None,
    node_selectors: Iterable[str] = (),
) -> Pool:
    """Validate user input into a :class:`Pool` with normalised entries and selectors."""
    if not _NAME.match(name):
        raise UsageError(
            f"invalid pool name {name!r}",
            hint="use lower-case letters, digits, '-' and '.', starting and ending alphanumeric",
        )
    entries = [parse_entry(text) for text in addresses]
    if not entries:
        raise UsageError(f"pool {name} has no addresses",
                         hint="example: lbctl pool add default 192.0.2.10-192.0.2.49")
    pool = Pool(
        name=name,
        addresses=tuple(e.text for e in entries),
        auto_assign=auto_assign,
        avoid_buggy_ips=avoid_buggy_ips,
        namespaces=tuple(sorted(set(namespaces))),
        service_selectors=tuple(sorted({str(parse_selector(s)) for s in selectors})),
        priority=priority,
        node_selectors=tuple(sorted({str(parse_selector(s)) for s in node_selectors})),
    )
    inner = overlaps([pool])
    if inner:
        raise UsageError(inner[0], hint="give each address once")
    return pool


def add_pool(state: State, pool: Pool) -> State:
    """Add a new pool; refuse a duplicate name or any overlap with another pool."""
    if pool.name in state.pools:
        raise RefusedError(
            f"pool {pool.name} already exists",
            hint=f"remove it first (lbctl pool remove {pool.name}) or choose another name",
        )
    found = overlaps([*state.pools.values(), pool])
    if found:
        raise RefusedError(found[0], hint="pools may not share addresses")
    return _with_pool(state, pool)


def get_pool(state: State, name: str) -> Pool:
    pool = state.pools.get(name)
    if pool is None:
        known = ", ".join(sorted(state.pools)) or "none"
        raise NotFoundError(f"pool {name} not found (pools: {known})",
                            hint="lbctl pool list shows the pools")
    return pool


def remove_pool(state: State, name: str) -> State:
    """Remove a pool; refuse while any address in it is allocated or held, naming them."""
    get_pool(state, name)
    users = [r for r in state.all_records() if r.pool == name]
    if users:
        shown = ", ".join(f"{r.ref} ({', '.join(r.ips)})" for r in users[:5])
        more = f" and {len(users) - 5} more" if len(users) > 5 else ""
        raise RefusedError(
            f"pool {name} is in use by {shown}{more}",
            hint="release those Services first (lbctl release svc NAME -n NS)",
        )
    return replace(state, pools={k: v for k, v in state.pools.items() if k != name})


#: The most addresses one reserve or unreserve names: each is one line of the state document.
MAX_RESERVED = 1024


def expand(items: Iterable[str]) -> list[str]:
    """Addresses, ranges (``a-b``) and CIDRs -> the canonical addresses they name, in order,
    each once; refuses more than :data:`MAX_RESERVED`."""
    found: dict[str, None] = {}
    for text in items:
        entry = parse_entry(text)
        if len(found) + entry.size > MAX_RESERVED:
            raise UsageError(
                f"{text} names {entry.size} addresses; reserve at most {MAX_RESERVED} at once",
                hint="a block that large belongs outside the pool: lbctl pool set NAME --remove "
                     "ADDR")
        for value in range(entry.first, entry.last + 1):
            found.setdefault(format_ip(entry.version, value))
    return list(found)


def reserve(state: State, name: str, ips: Iterable[str], note: str | None) -> State:
    """Keep addresses (or ranges, CIDRs) of a pool from ever being handed out; refuse ones
    already in use.  ``note`` None keeps the note an address already has ("" for a new one)."""
    pool = get_pool(state, name)
    reservations = dict(pool.reservations)
    for ip in expand(ips):
        actual = state.pool_of(ip)
        if actual != name:
            where = f"pool {actual}" if actual else "no pool"
            raise UsageError(f"{ip} is not in pool {name} (it is in {where})",
                             hint=f"lbctl pool show {name} lists its addresses")
        holders = state.holders(ip)
        if holders:
            raise RefusedError(
                f"{ip} is in use by {', '.join(h.ref for h in holders)}",
                hint="release it first (lbctl release svc NAME -n NS)",
            )
        reservations[ip] = reservations.get(ip, "") if note is None else note
    return _with_pool(state, replace(pool, reservations=reservations))


def unreserve(state: State, name: str, ips: Iterable[str]) -> State:
    """Make reserved addresses allocatable again."""
    pool = get_pool(state, name)
    reservations = dict(pool.reservations)
    for ip in expand(ips):
        if ip not in reservations:
            raise NotFoundError(f"{ip} is not reserved in pool {name}",
                                hint=f"lbctl pool show {name} lists its reservations")
        del reservations[ip]
    return _with_pool(state, replace(pool, reservations=reservations))


def _with_pool(state: State, pool: Pool) -> State:
    return replace(state, pools={**state.pools, pool.name: pool})


@dataclass(frozen=True)
class FamilyUsage:
    family: str  # "IPv4" / "IPv6"
    used: int  # allocated, held and reserved addresses
    capacity: int  # every address the pool may hand out (exact for any size)

    @property
    def free(self) -> int:
        return self.capacity - self.used


def usage(state: State) -> dict[str, list[FamilyUsage]]:
    """Used and capacity per pool and family, exact, without enumerating any pool."""
    allocator = Allocator(state)
    return {
        name: [
            FamilyUsage(FAMILY_NAMES[family], used, capacity)
            for family, (used, capacity) in sorted(allocator.usage(name).items())
        ]
        for name in sorted(state.pools)
    }
