"""Adopting: recording the addresses a Service's status already shows (published by MetalLB or
another controller before lbctl), with the same checks as an assignment.

``lbctl adopt`` and ``pool import`` both adopt; this module holds the rule once:

* the request is the Service's own (pool annotation, sharing key, ports, labels), asking for
  exactly the addresses its status shows, one per family shown;
* the allocator then applies every assignment check: the address lies in a pool the Service
  may use, is not reserved, not held for another Service, and is shared only as the sharing
  rules allow;
* an address another Service's status also shows is in use (the allocator's one used-address
  rule, ``AlreadyPublished``) unless the state records it for that Service (then the sharing
  rules judge it) or that Service is adopted in the same transaction (then the sharing rules
  judge the second of the two).

Pure: no I/O; refusals are :mod:`lbctl.errors` classes (the allocator's
:class:`~lbctl.core.allocator.AllocationError` carries a stable reason).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace

from lbctl.core import service
from lbctl.core.addresses import parse_ip
from lbctl.core.allocator import Allocator, Request
from lbctl.core.state import Allocation, ServiceKey, State
from lbctl.errors import RefusedError, UsageError
from lbctl.ports import Obj


def request_for(obj: Obj, ips: Sequence[str]) -> Request:
    """What adopting ``ips`` for ``obj`` asks of the allocator: the Service's own request, for
    exactly those addresses, one per family."""
    return replace(service.request(obj, ips=ips),
                   families=tuple(parse_ip(ip).version for ip in ips), require_all=True)


def published_except(published: Mapping[ServiceKey, Sequence[str]],
                     together: Collection[ServiceKey]) -> dict[ServiceKey, Sequence[str]]:
    """The allocator's ``published`` input for adopting ``together`` in one transaction: what
    the other Services show.  Of two Services adopted together that show one address, the
    first is recorded, and the sharing rules judge the second against it."""
    return {key: ips for key, ips in published.items() if key not in together}


def adopt(allocator: Allocator, obj: Obj, *, state: State) -> tuple[Allocation, bool]:
    """Record what ``obj``'s status shows in ``allocator`` (made from ``state``, the state the
    transaction started from, and :func:`published_except`).  Returns the allocation and
    whether it is new.  Raises when the Service is not lbctl's, shows nothing, or an
    assignment check refuses."""
    key = service.key_of(obj)
    who = service.ref(obj)
    service.check_ours(obj)
    ips = tuple(dict.fromkeys(service.ingress_ips(obj)))
    if not ips:
        raise UsageError(f"service {who} shows no address: there is nothing to adopt",
                         hint=f"give it one: lbctl assign svc {key[1]} -n {key[0]}")
    recorded = state.allocations.get(key)
    if recorded is not None and set(recorded.ips) != set(ips):
        raise RefusedError(
            f"service {who}: {service.condition(obj, recorded).detail}",
            hint=f"withdraw both and assign again: lbctl release svc {key[1]} -n {key[0]} "
                 f"--force && lbctl assign svc {key[1]} -n {key[0]}")
    return allocator.allocate(request_for(obj, ips))
