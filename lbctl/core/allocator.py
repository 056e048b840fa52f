"""The allocator: which address a Service gets, and why it gets none.

Rules (README, "Allocation"): a Service asks for explicit addresses (flags, MetalLB annotations,
``spec.loadBalancerIP``, or its own hold) or for any address.  Any address means the lowest free
address of the first entry with space, in pools tried by priority (lower first, unset last) then
name; ``autoAssign: false`` pools serve only explicit requests; ``avoidBuggyIPs`` skips IPv4
``.0``/``.255``; an IPv6 CIDR entry (larger than a /127) never hands out its first address, the
Subnet-Router anycast address; reserved and held addresses are never handed out; a pool serves
only the namespaces and label selectors it names; an address is shared only as
:mod:`lbctl.core.sharing` allows; dual-stack requests take one address per family from one pool.

**Used addresses** are one rule (README, "Used addresses"): an address is in use when the state
records it (allocation or hold), a reservation names it, or *any* Service shows it in its
``status.loadBalancer.ingress`` -- lbctl's or another controller's, of any
``loadBalancerClass``.  Callers pass what the Services show as ``published``
(:func:`lbctl.core.service.published`); automatic allocation skips those addresses and an explicit
request for one is refused with reason ``AlreadyPublished``, naming the Service that shows it.
A Service's own status never blocks it, and an address a Service shows *and* the state records
for it is judged by the sharing rules like any allocation.

Batches: :func:`allocate_many` is the one "release these, allocate each of those, collect each
refusal" loop that ``assign --all``, ``reconcile``, ``assign -f``, doctor and the controller
share.

Cost: each pool entry keeps its used addresses as sorted, merged runs (:mod:`lbctl.core.used`,
which ``pool list`` counts on without this module), so finding the lowest free address is a
binary search and marking one is O(log runs): the per-allocation cost does not grow with the size
of a pool (an IPv6 /64 is never enumerated) nor, in practice, with the number of allocations.

Pure: no I/O.  The allocator works on its own copy of a :class:`State`; :meth:`Allocator.state`
returns the new state.  Refusals raise :class:`AllocationError` whose ``reason`` is a stable code
(also used as the Kubernetes Event reason detail and in ``-o json``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Union

from lbctl.core.addresses import FAMILY_NAMES, IPV4, format_ip, parse_ip
from lbctl.core.sharing import conflict
from lbctl.core.state import Allocation, Pool, ServiceKey, State
from lbctl.core.used import marked
from lbctl.errors import LbctlError, NotFoundError, RefusedError, UsageError

# Stable reason codes (README, "Why a Service stays pending").
NO_POOL = "NoPoolAdmits"
NOT_PERMITTED = "PoolNotPermitted"
OUT_OF_POOL = "OutsidePools"
EXHAUSTED = "PoolExhausted"
WRONG_FAMILY = "WrongIPFamily"
SHARING = "SharingConflict"
RESERVED = "Reserved"
HELD = "Held"
BUGGY = "BuggyIP"
ANYCAST = "SubnetRouterAnycast"
ALREADY = "AlreadyAllocated"
PUBLISHED = "AlreadyPublished"


class AllocationError(RefusedError):
    """The allocator cannot give the Service what it asks for; ``reason`` says which rule."""

    def __init__(self, reason: str, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.reason = reason


@dataclass(frozen=True)
class Request:
    """What one Service asks of the allocator (built from a Service object by the caller)."""

    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    families: tuple[int, ...] = (IPV4,)  # wanted families, primary first
    require_all: bool = True  # False for PreferDualStack: fewer families is fine
    ips: tuple[str, ...] = ()  # explicit addresses
    pool: str | None = None  # explicit pool
    sharing_key: str = ""
    ports: tuple[str, ...] = ()  # "TCP/80"
    backend: str = ""

    @property
    def key(self) -> ServiceKey:
        return (self.namespace, self.name)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def pool_order(pools: Mapping[str, Pool]) -> list[Pool]:
    """Pools in the order the allocator tries them: priority (lower first, unset last), name."""
    return sorted(
        pools.values(),
        key=lambda p: (p.priority is None, p.priority if p.priority is not None else 0, p.name),
    )


def widen_command(pool: Pool, request: Request) -> str:
    """The ``lbctl pool set`` that makes ``pool`` serve ``request`` on its own (hints): its
    namespaces plus the Service's (``-n`` replaces the list, so every one is named), its
    Service selectors dropped when none matches, autoAssign turned on when it is off."""
    flags = []
    if pool.namespaces and request.namespace not in pool.namespaces:
        flags += [f"-n {ns}" for ns in sorted({*pool.namespaces, request.namespace})]
    if pool.service_selectors and not any(s.matches(request.labels) for s in pool.selectors):
        flags.append("--any-labels")
    if not pool.auto_assign and not request.pool and not request.ips:
        flags.append("--auto-assign")
    return " ".join(["lbctl pool set", pool.name, *flags])


class Allocator:
    """Allocates and releases addresses on a private copy of a state.

    ``published``: what each Service's ``status.loadBalancer.ingress`` shows, for every Service
    the caller knows of (any namespace, any class, lbctl's or not); see the module docstring.
    """

    def __init__(self, state: State,
                 published: Mapping[ServiceKey, Sequence[str]] | None = None) -> None:
        self._base = state  # what the allocator does not change (BGP peers) comes from here
        self._pools = dict(state.pools)
        self._allocations = dict(state.allocations)
        self._holds = dict(state.holds)
        self._order = pool_order(self._pools)
        self._owners: dict[str, list[Allocation]] = {}
        self._by_sharing_key: dict[str, set[ServiceKey]] = {}
        self._entries = marked(state)
        for record in state.all_records():
            self._own(record)
        self._shown_by: dict[str, list[ServiceKey]] = {}
        self._published: dict[ServiceKey, Sequence[str]] = dict(published or {})
        for key, shown in sorted(self._published.items()):
            self._show(key, shown)

    def _fork(self, state: State) -> Allocator:
        """A copy of this allocator for ``state``, which must equal :meth:`state`: what it
        changes leaves this one as it is.  Costs a copy of its dictionaries, not the marking of
        every address again.  (Owner lists, sharing-key sets and shown-by lists are replaced,
        never changed in place, so the copies share them.)"""
        fork = object.__new__(Allocator)
        fork._base = state
        fork._pools = self._pools  # never changed by an allocator
        fork._allocations = dict(self._allocations)
        fork._holds = dict(self._holds)
        fork._order = self._order
        fork._owners = dict(self._owners)
        fork._by_sharing_key = dict(self._by_sharing_key)
        fork._entries = self._entries.copy()
        fork._shown_by = dict(self._shown_by)
        fork._published = self._published
        return fork

    def _republish(self, published: Mapping[ServiceKey, Sequence[str]]) -> None:
        """What the Services show is now ``published``: only the statuses that changed since
        are looked at."""
        before = self._published
        if before.items() <= published.items():  # (a test in C) nothing went or changed
            for key in published.keys() - before.keys():
                self._show(key, published[key])
        else:
            for key, shown in before.items():
                if published.get(key) != shown:
                    self._unshow(key, shown)
            for key, shown in published.items():
                if before.get(key) != shown:
                    self._show(key, shown)
        self._published = dict(published)

    def _canonical(self, ip: str) -> str | None:
        """A shown address as the state writes it; None when it is not an address (such a
        status blocks nothing)."""
        if ip in self._owners:  # a recorded address is canonical
            return ip
        try:
            return str(parse_ip(ip))
        except UsageError:
            return None

    def _show(self, key: ServiceKey, shown: Sequence[str]) -> None:
        for ip in shown:
            canonical = self._canonical(ip)
            if canonical is None:
                continue
            if canonical not in self._owners:  # (an owned address is marked already)
                self._entries.mark(canonical)
            keys = [*self._shown_by.get(canonical, ())]
            bisect.insort(keys, key)
            self._shown_by[canonical] = keys

    def _unshow(self, key: ServiceKey, shown: Sequence[str]) -> None:
        for ip in shown:
            canonical = self._canonical(ip)
            if canonical is None:
                continue
            keys = [k for k in self._shown_by.get(canonical, ()) if k != key]
            if keys:
                self._shown_by[canonical] = keys
                continue
            self._shown_by.pop(canonical, None)
            if canonical not in self._owners:
                self._free(canonical)

    # ------------------------------------------------------------------ lookups

    def _add_owner(self, record: Allocation) -> None:
        for ip in record.ips:
            if ip not in self._owners:
                self._entries.mark(ip)
        self._own(record)

    def _own(self, record: Allocation) -> None:
        """``record`` owns its addresses (already marked used)."""
        for ip in record.ips:
            self._owners[ip] = [*self._owners.get(ip, ()), record]
        if record.sharing_key:
            keys = self._by_sharing_key.get(record.sharing_key, set())
            self._by_sharing_key[record.sharing_key] = keys | {record.key}

    def _remove_owner(self, record: Allocation) -> None:
        for ip in record.ips:
            owners = [o for o in self._owners.get(ip, []) if o is not record]
            if owners:
                self._owners[ip] = owners
                continue
            self._owners.pop(ip, None)
            if ip not in self._shown_by:
                self._free(ip)
        if record.sharing_key and record.sharing_key in self._by_sharing_key:
            keys = self._by_sharing_key[record.sharing_key]
            self._by_sharing_key[record.sharing_key] = keys - {record.key}

    def _free(self, ip: str) -> None:
        """``ip`` (canonical) is neither recorded nor shown any more: free, unless reserved."""
        entry = self._entries.entry_for(ip)
        if entry is None or ip in entry.pool.reservations:
            return
        value = parse_ip(ip).value
        if entry.is_used(value):
            entry.unmark(value)

    def state(self) -> State:
        return replace(self._base, pools=self._pools, allocations=dict(self._allocations),
                       holds=dict(self._holds))

    def usage(self, pool: str) -> dict[int, tuple[int, int]]:
        """Per family: (used, capacity) of a pool, exact for any size."""
        return self._entries.usage(pool)

    # ------------------------------------------------------------------ allocate

    def allocate(self, request: Request) -> tuple[Allocation, bool]:
        """Give ``request`` its addresses.  Returns the allocation and whether it is new; an
        already-allocated Service that asks for nothing different gets its allocation back."""
        existing = self._allocations.get(request.key)
        if existing is not None:
            return self._confirm(existing, request), False
        hold = self._holds.get(request.key)
        if request.ips:
            ips = self._check_explicit(request, request.ips)
        elif hold is not None:
            ips = self._check_explicit(request, hold.ips)
        else:
            ips = self._reuse_shared(request) or self._pick(request)
        if hold is not None:
            self._remove_owner(hold)
            del self._holds[request.key]
        pool = self._entries.entry_for(ips[0])
        assert pool is not None  # every path above checked pool membership
        record = Allocation(
            namespace=request.namespace,
            name=request.name,
            ips=ips,
            pool=pool.pool.name,
            sharing_key=request.sharing_key,
            ports=request.ports if request.sharing_key else (),
            backend=request.backend if request.sharing_key else "",
        )
        self._allocations[request.key] = record
        self._add_owner(record)
        return record, True

    def _confirm(self, existing: Allocation, request: Request) -> Allocation:
        wanted = {str(parse_ip(ip)) for ip in request.ips}
        if (wanted and wanted != set(existing.ips)) or (
            request.pool and request.pool != existing.pool
        ):
            asked = ", ".join(sorted(wanted)) if wanted else f"pool {request.pool}"
            raise AllocationError(
                ALREADY,
                f"{request.ref} already has {', '.join(existing.ips)} from pool {existing.pool}, "
                f"not {asked}",
                hint=f"release it first: lbctl release svc {request.name} -n {request.namespace}",
            )
        return existing

    def _check_explicit(self, request: Request, ips: tuple[str, ...]) -> tuple[str, ...]:
        addrs = [parse_ip(ip) for ip in ips]
        families = [a.version for a in addrs]
        if len(set(families)) != len(families):
            raise UsageError(
                f"{request.ref} asks for two addresses of one family: {', '.join(ips)}",
                hint="ask for at most one IPv4 and one IPv6 address",
            )
        wrong = [str(a) for a in addrs if a.version not in request.families]
        missing = [f for f in request.families if f not in families]
        if wrong or (request.require_all and missing):
            fams = "/".join(FAMILY_NAMES[f] for f in request.families)
            raise AllocationError(
                WRONG_FAMILY,
                f"{request.ref} is {fams} (spec.ipFamilies) but asks for {', '.join(ips)}",
                hint="ask for one address per family in spec.ipFamilies",
            )
        entries = []
        for addr in addrs:
            entry = self._entries.entry_for(str(addr))
            if entry is None:
                raise AllocationError(
                    OUT_OF_POOL,
                    f"{addr} is outside every pool",
                    hint="lbctl pool list shows the pools; add one with lbctl pool add NAME "
                         "ADDRESS...",
                )
            entries.append(entry)
        pool = entries[0].pool
        if any(e.pool.name != pool.name for e in entries):
            raise AllocationError(
                NOT_PERMITTED,
                f"{', '.join(ips)} lie in different pools "
                f"({', '.join(sorted({e.pool.name for e in entries}))})",
                hint="a dual-stack Service takes both addresses from one pool",
            )
        if request.pool and request.pool != pool.name:
            self._pool_named(request.pool)
            raise AllocationError(
                NOT_PERMITTED,
                f"{', '.join(ips)} is in pool {pool.name}, not in the requested pool "
                f"{request.pool}",
                hint="drop the pool request or ask for an address in that pool",
            )
        self._check_admits(pool, request)
        for addr, entry in zip(addrs, entries, strict=True):
            ip = str(addr)
            if ip in pool.reservations:
                note = pool.reservations[ip]
                raise AllocationError(
                    RESERVED,
                    f"{ip} is reserved in pool {pool.name}" + (f" ({note})" if note else ""),
                    hint=f"ask for another address, or: lbctl pool unreserve {pool.name} {ip}",
                )
            if addr.value == entry.anycast:
                raise AllocationError(
                    ANYCAST,
                    f"{ip} is the Subnet-Router anycast address of {entry.range.text}, which "
                    "routers on the link answer for",
                    hint="ask for another address",
                )
            if not entry.available(addr.value):
                raise AllocationError(
                    BUGGY,
                    f"{ip} ends in .0 or .255 and pool {pool.name} avoids such addresses",
                    hint="ask for another address",
                )
            self._check_published(ip, request)
            self._check_sharing(ip, request)
        return tuple(str(a) for a in addrs)

    def _check_published(self, ip: str, request: Request) -> None:
        """Refuse an address another Service shows, unless the state records it for that
        Service (then the sharing rules judge it)."""
        recorded = {owner.key for owner in self._owners.get(ip, [])}
        for key in self._shown_by.get(ip, ()):
            if key != request.key and key not in recorded:
                raise AllocationError(
                    PUBLISHED,
                    f"{ip} is already published by service {key[0]}/{key[1]} (its "
                    "status.loadBalancer.ingress shows it)",
                    hint=f"ask for another address; if that status is stale, withdraw it: "
                         f"lbctl release svc {key[1]} -n {key[0]} --force",
                )

    def _check_sharing(self, ip: str, request: Request) -> None:
        for owner in self._owners.get(ip, []):
            if owner.key == request.key:
                continue
            if owner.key in self._holds and self._holds[owner.key] is owner:
                raise AllocationError(
                    HELD,
                    f"{ip} is held for {owner.ref}",
                    hint=f"lbctl release svc {owner.name} -n {owner.namespace} drops the hold",
                )
            why = conflict(request, owner)
            if why:
                raise AllocationError(
                    SHARING,
                    f"{ip} is used by {owner.ref}, which may not share it: {why}",
                    hint="give both Services the same metallb.io/allow-shared-ip key and "
                    "distinct ports, or ask for another address",
                )

    def _check_admits(self, pool: Pool, request: Request) -> None:
        if not pool.admits(request.namespace, request.labels):
            raise AllocationError(
                NOT_PERMITTED,
                f"pool {pool.name} does not serve {request.ref} (it serves {pool.scope()})",
                hint=f"ask for another pool, or widen it: {widen_command(pool, request)}",
            )

    def _pool_named(self, name: str) -> Pool:
        pool = self._pools.get(name)
        if pool is None:
            raise NotFoundError(
                f"pool {name} not found",
                hint="lbctl pool list shows the pools",
            )
        return pool

    def _reuse_shared(self, request: Request) -> tuple[str, ...]:
        """An address already used under the same sharing key, if the rules allow it."""
        if not request.sharing_key:
            return ()
        for key in sorted(self._by_sharing_key.get(request.sharing_key, ())):
            other = self._allocations.get(key) or self._holds[key]
            pool = self._pools.get(other.pool)
            if pool is None or not (pool.name == request.pool if request.pool
                                    else pool.auto_assign):
                continue  # only the requested pool, else pools with autoAssign
            try:
                return self._check_explicit(request, other.ips)
            except (AllocationError, UsageError):
                continue
        return ()

    def _pick(self, request: Request) -> tuple[str, ...]:
        if request.pool:
            candidates = [self._pool_named(request.pool)]
            self._check_admits(candidates[0], request)
        else:
            candidates = [
                p for p in self._order if p.auto_assign and p.admits(request.namespace,
                                                                     request.labels)
            ]
        if not candidates:
            scopes = "; ".join(
                f"{p.name}: {p.scope()}" + ("" if p.auto_assign else " (autoAssign off)")
                for p in self._order
            ) or "there are no pools"
            widen = (f", or widen one: {widen_command(self._order[0], request)}"
                     if self._order else "")
            raise AllocationError(
                NO_POOL,
                f"no pool with autoAssign serves {request.ref} ({scopes})",
                hint=f"add a pool: lbctl pool add NAME ADDRESS...{widen}",
            )
        reasons: list[tuple[str, str]] = []
        full = ""  # the first exhausted pool, for the hint
        for pool in candidates:
            # The first family is required, of every pool tried (PreferDualStack included):
            # a pool without it is skipped, never used for a later family instead.
            families = [f for f in request.families if f in pool.families]
            if not families or families[0] != request.families[0] or (
                    request.require_all and len(families) < len(request.families)):
                lacking = [FAMILY_NAMES[f] for f in request.families if f not in pool.families]
                reasons.append((WRONG_FAMILY, f"pool {pool.name} has no {'/'.join(lacking)} "
                                              "addresses"))
                continue
            picks = []
            for index, family in enumerate(families):
                value = self._lowest_free(pool, family)
                if value is not None:
                    picks.append(format_ip(family, value))
                elif request.require_all or index == 0:
                    used, capacity = self.usage(pool.name)[family]
                    full = full or pool.name
                    reasons.append((EXHAUSTED, f"pool {pool.name} is exhausted "
                                               f"({used} of {capacity} {FAMILY_NAMES[family]} "
                                               "addresses used)"))
                    break
                # PreferDualStack: a further family may be missing; the first one may not
            else:
                return tuple(picks)
        code = EXHAUSTED if any(c == EXHAUSTED for c, _ in reasons) else WRONG_FAMILY
        raise AllocationError(
            code,
            f"no address for {request.ref}: " + "; ".join(text for _, text in reasons),
            hint=f"add addresses (lbctl pool set {full} --add ADDRESS) or "
                 "release unused ones (lbctl svc list)"
            if code == EXHAUSTED
            else "add a pool with addresses of the Service's IP family",
        )

    def _lowest_free(self, pool: Pool, family: int) -> int | None:
        for entry in self._entries.of[pool.name]:
            if entry.range.version == family:
                value = entry.lowest_free()
                if value is not None:
                    return value
        return None

    # ------------------------------------------------------------------ release

    def release(self, namespace: str, name: str, *, hold: bool = False) -> Allocation | None:
        """Forget a Service's allocation (or its hold); with ``hold``, keep the addresses
        reserved for the same namespace/name.  Returns what was released, or None."""
        key = (namespace, name)
        record = self._allocations.pop(key, None)
        if record is None:
            if hold:  # already held: keep it so
                return None
            held = self._holds.pop(key, None)
            if held is not None:
                self._remove_owner(held)
            return held
        self._remove_owner(record)
        if hold:
            self._holds[key] = record
            self._add_owner(record)
        return record


# --------------------------------------------------------------------------- batches


@dataclass(frozen=True)
class Granted:
    """What a request got: its allocation, and whether it is new (False: the state already
    recorded it, and the request asked for nothing different)."""

    allocation: Allocation
    new: bool


#: The answer for one Service: what it got, or why it got nothing.
Answer = Union[Granted, LbctlError]


@dataclass(frozen=True)
class Allocated:
    """The result of :func:`allocate_many`."""

    state: State  # the state after every release and allocation
    answers: dict[ServiceKey, Answer]  # one per request, in request order
    released: tuple[Allocation, ...]  # what the releases freed (allocations or holds)


class Followed:
    """Allocators for a caller that allocates on each state it wrote (the controller: one
    transaction per batch of Services).  The allocator of a batch is remembered with the
    state it produced; the next batch planned on that state (or an equal one) starts from a
    copy of it, told only which statuses changed, instead of marking every recorded and shown
    address again.  Any other state (another writer's) gets a new allocator.  Same rules,
    same answers: only the cost differs.  Thread-safe: what is remembered is never changed,
    and is replaced in one assignment."""

    def __init__(self) -> None:
        self._last: tuple[State, Allocator] | None = None

    def allocator(self, state: State,
                  published: Mapping[ServiceKey, Sequence[str]] | None = None) -> Allocator:
        last = self._last
        if last is None or not (last[0] is state or last[0] == state):
            return Allocator(state, published)
        allocator = last[1]._fork(state)
        allocator._republish(published or {})
        return allocator

    def remember(self, state: State, allocator: Allocator) -> None:
        """``state`` is what ``allocator`` made (:meth:`Allocator.state`), and it is changed no
        more."""
        self._last = (state, allocator)


def allocate_many(state: State, requests: Mapping[ServiceKey, Request | LbctlError], *,
                  release: Iterable[ServiceKey] = (),
                  published: Mapping[ServiceKey, Sequence[str]] | None = None,
                  followed: Followed | None = None) -> Allocated:
    """Release the Services in ``release``, then allocate each request in order on what is
    left, collecting each refusal instead of stopping at it.

    A request given as an error (the Service's own request could not be built, e.g. a malformed
    annotation) is answered with that error, so a caller keeps one mapping from Service to
    answer.  ``published`` is the Services' statuses (see :class:`Allocator`).  Pure: the
    caller writes :attr:`Allocated.state` (or, for a dry run or a prediction, does not).
    ``followed``: where a caller that allocates on one state after another keeps its
    allocators (:class:`Followed`)."""
    allocator = (followed.allocator(state, published) if followed is not None
                 else Allocator(state, published))
    released = tuple(record for record in (allocator.release(*key) for key in release)
                     if record is not None)
    answers: dict[ServiceKey, Answer] = {}
    for key, request in requests.items():
        if isinstance(request, LbctlError):
            answers[key] = request
            continue
        try:
            answers[key] = Granted(*allocator.allocate(request))
        except LbctlError as exc:
            answers[key] = exc
    after = allocator.state()
    if followed is not None:
        followed.remember(after, allocator)
    return Allocated(after, answers, released)
