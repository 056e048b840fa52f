"""When two Services may share one address (MetalLB's rules, which are sound).

Two Services may hold the same IP only when all of these hold:

* both carry the same, non-empty sharing key (``metallb.io/allow-shared-ip``);
* no protocol/port pair appears in both (``TCP/80`` and ``UDP/80`` may share);
* they have the same backend: both ``externalTrafficPolicy: Cluster``, or both ``Local`` with the
  same pod selector, so that the node announcing the address has endpoints for both.

Pure: no I/O, no exceptions; :func:`conflict` returns the reason as text, or ``""``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, TypeVar


class Sharer(Protocol):
    @property
    def ref(self) -> str: ...

    @property
    def sharing_key(self) -> str: ...

    @property
    def ports(self) -> tuple[str, ...]: ...

    @property
    def backend(self) -> str: ...


def conflict(first: Sharer, second: Sharer) -> str:
    """Why ``first`` and ``second`` may not share an address; ``""`` when they may."""
    if not first.sharing_key or not second.sharing_key:
        unkeyed = first if not first.sharing_key else second
        return f"{unkeyed.ref} has no sharing key"
    if first.sharing_key != second.sharing_key:
        return (
            f"sharing keys differ ({first.sharing_key!r} on {first.ref}, "
            f"{second.sharing_key!r} on {second.ref})"
        )
    common = sorted(set(first.ports) & set(second.ports))
    if common:
        return f"both use {', '.join(common)}"
    if first.backend != second.backend:
        return (
            "they have different backends (externalTrafficPolicy Local needs the same pod "
            "selector on both, and Local and Cluster never share)"
        )
    return ""


S = TypeVar("S", bound=Sharer)


def conflicts(holders: Sequence[S]) -> Iterator[tuple[S, S, str]]:
    """Every pair of ``holders`` (of one address) that may not share it, with the reason."""
    for i, first in enumerate(holders):
        for second in holders[i + 1:]:
            why = conflict(first, second)
            if why:
                yield first, second, why
