"""GitOps rules of ``assign -f``: the manifests are the user's intent.

Two rules, pure, on top of :func:`~lbctl.core.allocator.allocate_many`:

* **a pinned address edited by hand moves the allocation.**  A Service whose manifest asks for
  addresses (or a pool) other than the ones the state records gets the new ones when they are
  valid and free: the old allocation is released and the new one made in the same transaction.
  When the new request cannot be met, the Service keeps what it has, and the answer says which
  addresses it keeps, what it asked for, and the allocator's exact reason.
* **prune**: with ``prune``, the allocations of Services that are no longer in the manifests
  are forgotten (holds are kept: a hold is an explicit wish).

Pure: no I/O.  The caller writes :attr:`Pinned.state` (or, for a dry run, does not).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from lbctl.core.addresses import parse_ip
from lbctl.core.allocator import AllocationError, Answer, Granted, Request, allocate_many
from lbctl.core.state import Allocation, ServiceKey, State
from lbctl.errors import LbctlError


@dataclass(frozen=True)
class Pinned:
    state: State
    answers: dict[ServiceKey, Answer]
    moved: dict[ServiceKey, Allocation]  # Services whose allocation moved: what they had
    pruned: tuple[Allocation, ...]  # allocations forgotten: their Service left the manifests


def differs(recorded: Allocation, request: Request) -> bool:
    """Does the request ask for something other than what the state records?"""
    if request.ips and {str(parse_ip(ip)) for ip in request.ips} != set(recorded.ips):
        return True
    return bool(request.pool) and request.pool != recorded.pool


def pin(state: State, requests: Mapping[ServiceKey, Request | LbctlError], *,
        present: Collection[ServiceKey], prune: bool = False,
        published: Mapping[ServiceKey, Sequence[str]] | None = None) -> Pinned:
    """Allocate the manifests' requests, moving edited pins and (with ``prune``) forgetting
    the allocations of Services not in ``present`` (every Service the manifests name).
    ``published``: what the manifests' statuses show (the allocator's used addresses)."""
    gone = [key for key in sorted(state.allocations) if key not in present] if prune else []
    moving = {key: state.allocations[key] for key, request in requests.items()
              if isinstance(request, Request) and key in state.allocations
              and differs(state.allocations[key], request)}
    done = allocate_many(state, requests, release=[*gone, *moving], published=published)
    stuck = {key: answer for key, answer in done.answers.items()
             if key in moving and not isinstance(answer, Granted)}
    if stuck:  # those keep what they have: run again without moving them
        kept = {key: request for key, request in requests.items() if key not in stuck}
        done = allocate_many(state, kept,
                             release=[*gone, *(key for key in moving if key not in stuck)],
                             published=published)
        done.answers.update({key: _kept(moving[key], requests[key], error)
                             for key, error in stuck.items()})
    pruned = tuple(record for record in done.released if record.key in set(gone))
    return Pinned(done.state, {key: done.answers[key] for key in requests},
                  {key: record for key, record in moving.items() if key not in stuck}, pruned)


def _kept(old: Allocation, request: Request | LbctlError, error: LbctlError) -> LbctlError:
    """Why an edited pin did not move the allocation, and what the Service keeps."""
    asked = (", ".join(request.ips) or f"pool {request.pool}"
             if isinstance(request, Request) else "another address")
    message = (f"{old.ref} keeps {', '.join(old.ips)} (pool {old.pool}): the manifest asks "
               f"for {asked}, and {error.message}")
    if isinstance(error, AllocationError):
        return AllocationError(error.reason, message, hint=error.hint)
    return type(error)(message, error.hint)
