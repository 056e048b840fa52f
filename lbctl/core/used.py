"""Used addresses: each pool entry's used addresses, and how full each pool is.

An address is used here when the state uses it: an allocation or a hold records it, or its pool
reserves it (README, "Used addresses"; what Services show on top of that is the allocator's
business, :mod:`lbctl.core.allocator`).  Each pool entry keeps its used addresses as sorted,
merged runs (:class:`Entry`), so finding the lowest free address is a binary search and marking
one is O(log runs): the cost does not grow with the size of a pool (an IPv6 /64 is never
enumerated) nor, in practice, with the number of allocations.  :class:`Entries` holds the entries
of a state's pools and finds the entry of an address; :func:`usage` is how full each pool is
(``pool list``, ``pool show``, doctor), counted on the same runs the allocator searches, without
importing the allocator.

Pure: no I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import NamedTuple

from lbctl.core.addresses import (
    FAMILY_NAMES,
    IPV4,
    IPV6,
    Address,
    AddrRange,
    count_buggy,
    is_buggy,
    parse_ip,
)
from lbctl.core.state import Pool, State


class Entry:
    """One pool entry and the runs of its used addresses.

    Unavailable addresses are never handed out: IPv4 .0/.255 with ``avoidBuggyIPs``, and the
    first address of an IPv6 CIDR entry larger than a /127 — its Subnet-Router anycast address
    (RFC 4291 section 2.6.1), which routers on the link answer for.

    Invariants: ``starts``/``ends`` are sorted, disjoint, inclusive runs whose ends are used
    addresses; every *available* address inside a run is used; between two runs lies at least one
    available, unused address (runs separated only by unavailable addresses are merged).
    """

    __slots__ = ("range", "pool", "avoid", "anycast", "starts", "ends", "used")

    def __init__(self, entry: AddrRange, pool: Pool) -> None:
        self.range = entry
        self.pool = pool
        self.avoid = pool.avoid_buggy_ips and entry.version == IPV4
        self.anycast = (entry.first if entry.version == IPV6 and "/" in entry.text
                        and entry.size > 2 else None)
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.used = 0

    def copy(self) -> Entry:
        copy = Entry.__new__(Entry)
        copy.range, copy.pool, copy.avoid, copy.anycast = (self.range, self.pool, self.avoid,
                                                           self.anycast)
        copy.starts, copy.ends, copy.used = list(self.starts), list(self.ends), self.used
        return copy

    @property
    def capacity(self) -> int:
        buggy = count_buggy(self.range.version, self.range.first, self.range.last)
        return (self.range.size - (buggy if self.avoid else 0)
                - (0 if self.anycast is None else 1))

    def available(self, value: int) -> bool:
        return value != self.anycast and not (self.avoid and is_buggy(IPV4, value))

    def _next_available(self, value: int) -> int:
        if self.avoid:
            low = value & 0xFF
            value += 1 if low == 0 else 2 if low == 0xFF else 0
        return value + 1 if value == self.anycast else value

    def _prev_available(self, value: int) -> int:
        if self.avoid:
            low = value & 0xFF
            value -= 2 if low == 0 else 1 if low == 0xFF else 0
        return value - 1 if value == self.anycast else value

    def _run(self, value: int) -> int:
        """Index of the run containing ``value``, or -1."""
        index = bisect.bisect_right(self.starts, value) - 1
        return index if index >= 0 and self.ends[index] >= value else -1

    def is_used(self, value: int) -> bool:
        return self.available(value) and self._run(value) >= 0

    def lowest_free(self) -> int | None:
        value = self._next_available(self.range.first)
        if self.starts and self.starts[0] <= value:
            value = self._next_available(self.ends[0] + 1)
        return value if value <= self.range.last else None

    def mark(self, value: int) -> None:
        """Mark ``value``, an available address of this entry, used (it may be already)."""
        index = bisect.bisect_right(self.starts, value) - 1
        if index >= 0 and self.ends[index] >= value:
            return
        if index >= 0 and self._next_available(self.ends[index] + 1) == value:
            self.ends[index] = value
        else:
            index += 1
            self.starts.insert(index, value)
            self.ends.insert(index, value)
        if index + 1 < len(self.starts) and (
            self._next_available(self.ends[index] + 1) == self.starts[index + 1]
        ):
            self.ends[index] = self.ends.pop(index + 1)
            del self.starts[index + 1]
        self.used += 1

    def unmark(self, value: int) -> None:
        index = self._run(value)
        start, end = self.starts[index], self.ends[index]
        if start == end:
            del self.starts[index], self.ends[index]
        elif value == start:
            self.starts[index] = self._next_available(value + 1)
        elif value == end:
            self.ends[index] = self._prev_available(value - 1)
        else:
            self.ends[index] = self._prev_available(value - 1)
            self.starts.insert(index + 1, self._next_available(value + 1))
            self.ends.insert(index + 1, end)
        self.used -= 1


class Entries:
    """Every entry of some pools, each with its used addresses, and the index that finds the
    entry holding an address (pools never overlap)."""

    __slots__ = ("of", "_keys", "_index")

    def __init__(self, pools: Iterable[Pool]) -> None:
        #: Each pool's entries, in the pool's order.
        self.of = {pool.name: [Entry(e, pool) for e in pool.entries] for pool in pools}
        pairs = sorted(
            ((e.range.version, e.range.first), e) for es in self.of.values() for e in es
        )
        self._keys = [k for k, _ in pairs]
        self._index = [e for _, e in pairs]

    def copy(self) -> Entries:
        """A copy whose marking leaves this one as it is."""
        copies = {id(entry): entry.copy() for entry in self._index}
        copy = Entries.__new__(Entries)
        copy.of = {name: [copies[id(e)] for e in entries] for name, entries in self.of.items()}
        copy._keys = self._keys  # never changed
        copy._index = [copies[id(e)] for e in self._index]
        return copy

    def entry_for(self, ip: str) -> Entry | None:
        """The entry holding ``ip``, or None when no pool does."""
        return self._entry_of(parse_ip(ip))

    def _entry_of(self, addr: Address) -> Entry | None:
        index = bisect.bisect_right(self._keys, (addr.version, addr.value)) - 1
        if index >= 0 and addr in self._index[index].range:
            return self._index[index]
        return None

    def mark(self, ip: str) -> None:
        """``ip`` is used (nothing happens to an address no pool holds, or one never handed
        out)."""
        addr = parse_ip(ip)
        entry = self._entry_of(addr)
        if entry is not None and entry.available(addr.value):
            entry.mark(addr.value)

    def usage(self, pool: str) -> dict[int, tuple[int, int]]:
        """Per family: (used, capacity) of a pool, exact for any size."""
        out: dict[int, tuple[int, int]] = {}
        for entry in self.of[pool]:
            used, capacity = out.get(entry.range.version, (0, 0))
            out[entry.range.version] = (used + entry.used, capacity + entry.capacity)
        return out


def marked(state: State) -> Entries:
    """The entries of the state's pools with every address the state uses marked: reserved,
    allocated or held."""
    entries = Entries(state.pools.values())
    for pool in state.pools.values():
        for ip in pool.reservations:
            entries.mark(ip)
    for record in state.all_records():
        for ip in record.ips:
            entries.mark(ip)
    return entries


class FamilyUsage(NamedTuple):
    """How full one IP family of a pool is."""

    family: str  # "IPv4" / "IPv6"
    used: int  # allocated, held and reserved addresses
    capacity: int  # every address the pool may hand out (exact for any size)

    @property
    def free(self) -> int:
        return self.capacity - self.used


def usage(state: State) -> dict[str, list[FamilyUsage]]:
    """Used and capacity per pool and family, exact, without enumerating any pool."""
    entries = marked(state)
    return {
        name: [FamilyUsage(FAMILY_NAMES[family], used, capacity)
               for family, (used, capacity) in sorted(entries.usage(name).items())]
        for name in sorted(state.pools)
    }
