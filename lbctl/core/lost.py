"""A lost state: no state document, while Services of lbctl's show addresses it could have
handed out.

The state is the only record of which Service holds which address, and of the pools, their
reservations, the holds and the BGP peers.  When the document is missing (the ConfigMap was
deleted) while LoadBalancer Services lbctl serves (no class, or lbctl's) still show such
addresses in their statuses, the state was lost, or another load balancer published them
before lbctl ran: either way, starting over would be a guess: a new state would not record
those addresses (the speakers announce only recorded ones), and a pool added again would miss
its reservations.  Addresses lbctl never hands out do not count: one that can never be a VIP
(loopback, link-local...) and a Node's own address (k3s ServiceLB publishes the nodes'; a pool
may not hold one).  This module holds the rule once, for its callers:

* the controller stops allocating while the state is missing and such Services exist (it is
  not ready, and says why and how to recover);
* ``lbctl doctor`` reports it (``state.missing``);
* the speakers keep answering for what their last good state recorded (a deleted ConfigMap
  must not withdraw every address), and a speaker with no state of its own to answer from
  gives its Lease up, so that the others keep answering for its share;
* a write that would create a new state whose pools hold addresses that Services show, without
  recording them (``pool add`` of the pool that was there), is refused unless asked for
  explicitly.

The way back is the operator's choice: restore the document from a backup, or add the pools
again and record what the Services show (``lbctl adopt --all -A``).

Pure: no I/O; refusals are :class:`~lbctl.errors.RefusedError`, except that the Nodes could
not be listed (:func:`nodes_unknown`, a :class:`~lbctl.errors.PermissionDeniedError`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

from lbctl.core import service
from lbctl.core.addresses import canonical_ip, is_ip, parse_vip
from lbctl.core.nodes import node_addresses
from lbctl.core.state import ServiceKey, State
from lbctl.errors import LbctlError, PermissionDeniedError, RefusedError
from lbctl.ports import Obj

#: How many Services a message names before it says how many more there are.
NAMED = 3

#: The flag of ``pool add`` that starts a new state all the same.
NEW_STATE_FLAG = "--new-state"


@dataclass(frozen=True)
class Stranded:
    """A Service of lbctl's whose status shows addresses no state records for it."""

    key: ServiceKey
    ips: tuple[str, ...]


def stranded(services: Iterable[Obj], state: State | None = None, *,
             nodes: Iterable[Obj] = ()) -> list[Stranded]:
    """The Services of lbctl's (type LoadBalancer, lbctl's class or none) whose statuses show
    addresses that ``state`` does not record for them, with those addresses, sorted.  Only
    addresses lbctl would hand out count: with a state, those in its pools (the others are
    another allocator's business, or stale); with none (``None``), every address that may be a
    VIP and is no address of ``nodes``."""
    taken = {canonical_ip(ip) for node in nodes for ip in node_addresses(node) if is_ip(ip)}
    found = []
    for svc in services:
        if not service.is_ours(svc):
            continue
        key = service.key_of(svc)
        recorded = state.allocations.get(key) if state is not None else None
        ips = tuple(ip for ip in service.ingress_ips(svc)
                    if (recorded is None or ip not in recorded.ips)
                    and (_handed_out(ip, taken) if state is None
                         else is_ip(ip) and state.pool_of(ip) is not None))
        if ips:
            found.append(Stranded(key, ips))
    return sorted(found, key=lambda s: s.key)


def stranded_without_state(services: Collection[Obj],
                           nodes: Callable[[list[Stranded]], Iterable[Obj] | None], *,
                           known: Iterable[Obj] = ()) -> list[Stranded]:
    """With no state document: :func:`stranded`, with the Nodes asked for only when they may
    matter.  A Service showing an address that none of the ``known`` Nodes has (none known:
    any address) has ``nodes`` called, with those Services, for the Nodes to decide with (None:
    the known ones stand); the answer leaves their addresses out.  ``nodes`` does the caller's
    I/O (a LIST, a cache) and its error policy (refuse, or count every address as lbctl's)."""
    found = stranded(services, nodes=known)
    listed = nodes(found) if found else None
    return found if listed is None else stranded(services, nodes=listed)


def _handed_out(ip: str, taken: set[str]) -> bool:
    """Could lbctl have handed ``ip`` out (a VIP, and none of the nodes' addresses)?"""
    try:
        return str(parse_vip(ip)) not in taken
    except LbctlError:
        return False


def named(found: Sequence[Stranded]) -> str:
    """``shop/web (192.0.2.10), shop/db (192.0.2.11) and 4 more``."""
    shown = ", ".join(f"{ns}/{name} ({', '.join(s.ips)})"
                      for s in found[:NAMED] for ns, name in (s.key,))
    return shown + (f" and {len(found) - NAMED} more" if len(found) > NAMED else "")


def _services(found: Sequence[Stranded]) -> str:
    """``2 LoadBalancer Services show`` (the verb agrees)."""
    one = len(found) == 1
    return f"{len(found)} LoadBalancer Service{'' if one else 's'} show{'s' if one else ''}"


#: Where the lost records may still be.
_BACKUP = "restore the state from a backup (kubectl apply -f BACKUP.yaml)"
#: How to start a state that records them.
_AGAIN = (f"or start a new one (lbctl pool add NAME ADDRESS... {NEW_STATE_FLAG}, or lbctl pool "
          "import from the load balancer that published them) and record what the Services "
          "show: lbctl adopt --all -A")


#: What the controller (and doctor, on its behalf) does while the state is lost.
ALLOCATES_NOTHING = "lbctl allocates nothing until it is back"


def missing(location: str, found: Sequence[Stranded], meanwhile: str = ALLOCATES_NOTHING
            ) -> RefusedError:
    """The state is missing while ``found`` show addresses: what the controller, doctor and
    the speakers say, each with what it does ``meanwhile``."""
    return RefusedError(
        f"{location} is missing, but {_services(found)} addresses no state records: "
        f"{named(found)}; the state was deleted or lost (or another load balancer published "
        f"them), and {meanwhile}",
        hint=f"{_BACKUP}; {_AGAIN}")


def nodes_unknown(location: str, found: Sequence[Stranded], error: LbctlError, command: str
                  ) -> PermissionDeniedError:
    """The state is missing while ``found`` show addresses, and the Nodes may not be listed
    (``error``): whether those are the nodes' own cannot be told, so ``command`` refuses."""
    return PermissionDeniedError(
        f"{location} is missing, and {_services(found)} addresses no state records: "
        f"{named(found)}; lbctl cannot tell whether they are the Nodes' own (k3s ServiceLB "
        f"publishes them) or were lost with the state: {error.message}",
        hint="; ".join(filter(None, (f"{command} with no state needs list on nodes (lbctl rbac "
                                     "grants it)", error.hint))))


def refuse_new_state(location: str, new: State, services: Iterable[Obj]) -> None:
    """Refuse to create the state at ``location`` as ``new`` when Services show addresses of
    its pools that it does not record (the state that recorded them was lost)."""
    found = stranded(services, new)
    if found:
        raise RefusedError(
            f"{location} does not exist, and {_services(found)} addresses of the pools "
            f"it would hold without recording them: {named(found)}; the state may have been "
            "deleted or lost (or another load balancer published them)",
            hint=f"{_BACKUP}; or start a new one with {NEW_STATE_FLAG}, then record what the "
                 "Services show: lbctl adopt --all -A")
