"""Pool changes, as pure functions of a :class:`~lbctl.core.state.State` (how full each pool
is: :mod:`lbctl.core.used`).

Each change takes a state and returns a new one, or raises an :mod:`lbctl.errors` class naming
exactly what is wrong (the overlapping pools and addresses, the allocations that keep a pool in
use).  :func:`cluster_overlaps` is the one rule for a pool that holds a cluster's own addresses
(a node's InternalIP/ExternalIP, a pod CIDR, a ClusterIP in use): ``pool add`` refuses such a
pool and doctor reports it.  The state store runs these functions inside its compare-and-swap
loop, so they must be deterministic and free of I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from lbctl.core.addresses import (
    AddrRange,
    canonical_ip,
    check_vip,
    describe,
    format_ip,
    parse_entry,
    parse_vip,
)
from lbctl.core.bgp import (
    ANNOUNCE_MODES,
    LAYER2,
    Advertisement,
    advertisement_problems,
    announces_bgp,
    announces_layer2,
    make_advertisement,
)
from lbctl.core.interfaces import name_problem
from lbctl.core.nodes import typed_node_addresses
from lbctl.core.state import Pool, State, overlaps
from lbctl.errors import LbctlError, NotFoundError, RefusedError, UsageError

_NAME = r"[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?\Z"
#: A namespace's name, as Kubernetes takes it: a DNS label.
_NAMESPACE = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z"


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
    interfaces: Iterable[str] = (),
    announce: str = LAYER2,
    bgp: Advertisement = Advertisement(),
) -> Pool:
    """Validate user input into a :class:`Pool` with normalised entries and selectors, and
    namespaces Kubernetes can have.  The BGP options ``bgp`` (see :mod:`lbctl.core.bgp`) need
    ``announce`` bgp or both; whether the peers they name exist is checked when the pool joins
    a state.  ``interfaces`` (Linux names, :mod:`lbctl.core.interfaces`) need ``announce``
    layer2 or both."""
    if not re.match(_NAME, name):
        raise UsageError(
            f"invalid pool name {name!r}",
            hint="use lower-case letters, digits, '-' and '.', starting and ending alphanumeric",
        )
    namespaces = list(namespaces)
    for namespace in namespaces:
        if not re.match(_NAMESPACE, namespace):
            raise UsageError(f"invalid namespace {namespace!r} for pool {name}",
                             hint="a namespace's name is up to 63 lower-case letters, digits "
                                  "and '-', starting and ending alphanumeric (kubectl get "
                                  "namespaces lists them)")
    interfaces = list(interfaces)
    for interface in interfaces:
        problem = name_problem(interface)
        if problem:
            raise UsageError(problem, hint="give the name `ip -br link` shows on the nodes "
                                           "(up to 15 characters, no '/', ':' or spaces)")
    from lbctl.core.selectors import parse_selector

    entries = [check_vip(parse_entry(text)) for text in addresses]
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
        interfaces=tuple(sorted(set(interfaces))),
        announce=announce,
        bgp=make_advertisement(
            aggregation_length=bgp.aggregation_length,
            aggregation_length_v6=bgp.aggregation_length_v6, local_pref=bgp.local_pref,
            communities=bgp.communities, peers=bgp.peers),
    )
    inner = overlaps([pool])
    if inner:
        raise UsageError(inner[0], hint="give each address once")
    if announce not in ANNOUNCE_MODES:  # a caller's bug: --announce is a choice, import maps
        raise ValueError(f"invalid announce mode {announce!r} for pool {name}")
    if pool.interfaces and not announces_layer2(announce):
        raise UsageError(f"pool {name} announces with {announce} only: interfaces do not apply "
                         "(they choose where ARP/NDP is answered)",
                         hint="announce it in layer 2 too (--announce both), or leave the "
                              "interfaces out")
    if not announces_bgp(announce) and not pool.bgp.is_default:
        raise UsageError(f"pool {name} announces with {announce} only: BGP options do not apply",
                         hint="add --announce bgp (or both) to announce it over BGP")
    found = advertisement_problems(pool.bgp, pool.entries, pool.bgp.peers, f"pool {name}")
    if found:
        raise UsageError(found[0], hint="a pool's addresses are announced as prefixes of at "
                         "least their own length: lbctl pool add --help")
    return pool


def _check_peers(state: State, pool: Pool) -> None:
    """Refuse a pool whose BGP advertisement names a peer the state does not have."""
    missing = [name for name in pool.bgp.peers if name not in state.peers]
    if missing:
        known = ", ".join(sorted(state.peers)) or "none"
        raise NotFoundError(f"pool {pool.name}: BGP peer {missing[0]} not found (peers: {known})",
                            hint=f"add it: lbctl bgp peer add {missing[0]} --address A "
                                 "--asn N --my-asn M (lbctl bgp peer list shows the peers)")


def add_pool(state: State, pool: Pool) -> State:
    """Add a new pool; refuse a duplicate name or any overlap with another pool."""
    if pool.name in state.pools:
        raise RefusedError(
            f"pool {pool.name} already exists",
            hint=f"change it in place (lbctl pool set {pool.name} --add ADDRESS) or choose "
                 "another name",
        )
    _refuse_overlaps(state.pools.values(), pool)
    _check_peers(state, pool)
    return _with_pool(state, pool)


def _refuse_overlaps(others: Iterable[Pool], pool: Pool) -> None:
    """Refuse ``pool`` when it shares an address with one of ``others``, naming the way out."""
    others = [p for p in others if p.name != pool.name]
    found = overlaps([*others, pool])
    if not found:
        return
    holder = next((p.name for p in others
                   if any(e.overlap(f) is not None for e in p.entries for f in pool.entries)),
                  None)
    if holder is None:
        raise RefusedError(found[0], hint="give each address once")
    raise RefusedError(found[0], hint=f"give pool {pool.name} addresses no other pool holds, or "
                                      f"free them in pool {holder}: lbctl pool set {holder} "
                                      "--remove ADDRESS")


def set_pool(
    state: State,
    name: str,
    *,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    auto_assign: bool | None = None,
    avoid_buggy_ips: bool | None = None,
    priority: int | None = None,
    drop_priority: bool = False,
    namespaces: Iterable[str] | None = None,
    selectors: Iterable[str] | None = None,
    node_selectors: Iterable[str] | None = None,
    interfaces: Iterable[str] | None = None,
    announce: str | None = None,
    bgp: Mapping[str, Any] | None = None,
) -> State:
    """Change a pool in place (``None``: keep as it is; an empty ``node_selectors``: every
    node announces again; empty ``interfaces``: the speakers' own choice of interface again;
    ``drop_priority``: no priority, the pool is tried after those that have one).
    ``bgp``: the :class:`~lbctl.core.bgp.Advertisement` fields to change
    (``{"local_pref": 100}``); a pool set to announce ``layer2`` only drops its BGP options
    unless ``bgp`` gives some (then it is refused), and one set to announce ``bgp`` only
    drops its interfaces unless ``interfaces`` gives some (refused too).  ``add`` grows it
    (refused when the new addresses overlap another pool, or the pool itself); ``remove`` cuts
    addresses out of its entries (each must lie wholly in the pool) and is refused while an
    allocation, a hold or a reservation uses an address that would fall out, naming them."""
    pool = get_pool(state, name)
    cut = [parse_entry(text) for text in remove]
    for entry in cut:
        inside = sum(common.size for e in pool.entries if (common := e.overlap(entry)))
        if inside != entry.size:
            raise UsageError(f"{entry.text} is not wholly in pool {name} "
                             f"({', '.join(pool.addresses)})",
                             hint=f"lbctl pool show {name} lists its addresses")
    kept = [piece for entry in pool.entries for piece in _carve(entry, cut)]
    if not kept and not list(add):
        raise RefusedError(f"pool {name} would have no addresses left",
                           hint=f"remove the pool instead: lbctl pool remove {name}")
    mode = pool.announce if announce is None else announce
    advertisement = pool.bgp
    if announce is not None and not announces_bgp(announce) and not bgp:
        advertisement = Advertisement()
    advertisement = replace(advertisement, **(bgp or {}))
    if interfaces is None:
        interfaces = pool.interfaces if announces_layer2(mode) else ()
    # The namespaces are checked when given: a pool a state kept from before that check
    # (-n Shop) is changed all the same, keeping them (doctor does not flag them either).
    new = replace(make_pool(
        name, [*kept, *add],
        auto_assign=pool.auto_assign if auto_assign is None else auto_assign,
        avoid_buggy_ips=pool.avoid_buggy_ips if avoid_buggy_ips is None else avoid_buggy_ips,
        namespaces=() if namespaces is None else namespaces,
        selectors=pool.service_selectors if selectors is None else selectors,
        priority=None if drop_priority else pool.priority if priority is None else priority,
        node_selectors=pool.node_selectors if node_selectors is None else node_selectors,
        interfaces=interfaces,
        announce=mode,
        bgp=advertisement,
    ), reservations=pool.reservations)
    if namespaces is None:
        new = replace(new, namespaces=pool.namespaces)
    _check_peers(state, new)
    outside = State(pools={name: new})
    users = [r for r in state.all_records() if r.pool == name
             and any(outside.pool_of(ip) != name for ip in r.ips)]
    if users:
        shown = ", ".join(f"{r.ref} ({', '.join(r.ips)})" for r in users[:5])
        more = f" and {len(users) - 5} more" if len(users) > 5 else ""
        raise RefusedError(
            f"pool {name} would no longer hold addresses allocated to {shown}{more}",
            hint="release those Services first (lbctl release svc NAME -n NS), or remove "
                 "other addresses")
    reserved = [ip for ip in pool.reservations if outside.pool_of(ip) != name]
    if reserved:
        raise RefusedError(
            f"pool {name} would no longer hold its reserved {', '.join(sorted(reserved))}",
            hint=f"unreserve them first: lbctl pool unreserve {name} {' '.join(sorted(reserved))}")
    _refuse_overlaps(state.pools.values(), new)
    return _with_pool(state, new)


def _carve(entry: AddrRange, cut: Iterable[AddrRange]) -> list[str]:
    """The texts of what is left of ``entry`` once ``cut`` is taken out of it: the entry's own
    text when nothing is cut, else ranges (``a-b``) and single addresses."""
    pieces = [(entry.first, entry.last)]
    for gone in cut:
        if gone.version != entry.version:
            continue
        pieces = [part for first, last in pieces  # what lies below the cut, and above it
                  for part in ((first, min(last, gone.first - 1)),
                               (max(first, gone.last + 1), last))
                  if part[0] <= part[1]]
    if pieces == [(entry.first, entry.last)]:
        return [entry.text]
    return [describe(entry.version, first, last) for first, last in pieces]


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
        parse_vip(ip)  # never a VIP: refused before "not in pool" says less
        actual = state.pool_of(ip)
        if actual != name:
            where = f"pool {actual}" if actual else "no pool"
            raise UsageError(f"{ip} is not in pool {name} (it is in {where})",
                             hint=f"lbctl pool show {name} lists its addresses")
        holders = state.holders(ip)
        if holders:
            raise RefusedError(
                f"{ip} is in use by {', '.join(h.ref for h in holders)}",
                hint=f"release it first (lbctl release svc {holders[0].name} -n "
                     f"{holders[0].namespace})",
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


# ------------------------------------------------------------------------ the cluster's addresses

#: Kinds of :class:`Overlap`.
NODE_ADDRESS = "node-address"
POD_CIDR = "pod-cidr"
CLUSTER_IP = "cluster-ip"

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Overlap:
    """A pool that holds one of the cluster's own addresses."""

    kind: str  # NODE_ADDRESS, POD_CIDR, CLUSTER_IP
    pool: str
    address: str  # the node's address or ClusterIP; the common part of a pod CIDR
    owner: str  # the node's name, or the Service as namespace/name
    message: str  # "pool web contains 10.0.0.5, the InternalIP of node n1"
    objects: tuple[str, ...]  # ("pool/web", "node/n1")


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _pool_holding(state: State, ip: str) -> str | None:
    """The pool holding ``ip``, unless it reserves it (then lbctl never hands it out)."""
    try:
        name = state.pool_of(ip)
        return None if name is None or canonical_ip(ip) in state.pools[name].reservations \
            else name
    except LbctlError:  # not an address at all: in no pool
        return None


def cluster_overlaps(pools: Iterable[Pool], nodes: Iterable[Obj],
                     services: Iterable[Obj]) -> list[Overlap]:
    """Every place where one of ``pools`` holds a node's address, overlaps a node's pod CIDR, or
    holds a Service's ClusterIP.  Reserved addresses do not count: they are never handed out."""
    state = State(pools={pool.name: pool for pool in pools})
    nodes = list(nodes)
    found = []
    for node in nodes:
        for kind, ip in typed_node_addresses(node):
            name = _pool_holding(state, ip)
            if name is not None:
                found.append(Overlap(NODE_ADDRESS, name, ip, _name(node),
                                     f"pool {name} contains {ip}, the {kind} of node "
                                     f"{_name(node)}", (f"pool/{name}", f"node/{_name(node)}")))
    for node in nodes:
        spec = node.get("spec") or {}
        cidrs = spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else [])
        for cidr in cidrs:
            try:
                pod_range = parse_entry(str(cidr))
            except LbctlError:
                continue
            for pool in state.pools.values():
                for entry in pool.entries:
                    common = entry.overlap(pod_range)
                    if common is not None:
                        found.append(Overlap(
                            POD_CIDR, pool.name, common.text, _name(node),
                            f"pool {pool.name} entry {entry.text} overlaps pod CIDR {cidr} of "
                            f"node {_name(node)} ({common.text})",
                            (f"pool/{pool.name}", f"node/{_name(node)}")))
    for svc in services:
        meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
        ref = f"{meta.get('namespace') or 'default'}/{_name(svc)}"
        for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]:
            name = _pool_holding(state, str(ip)) if ip and ip != "None" else None
            if name is not None:
                found.append(Overlap(CLUSTER_IP, name, str(ip), ref,
                                     f"pool {name} contains {ip}, the ClusterIP of service {ref}",
                                     (f"pool/{name}", f"service/{ref}")))
    return found


def refuse_cluster_overlaps(pools: Iterable[Pool], nodes: Iterable[Obj],
                            services: Iterable[Obj], flag: str) -> None:
    """Refuse pools that hold the cluster's own addresses (:func:`cluster_overlaps`), naming
    them; ``flag`` is the option that overrides the check, for the hint."""
    found = cluster_overlaps(pools, nodes, services)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise RefusedError(
            found[0].message + more,
            hint="a VIP there would break the node, the pods or the Service: take those "
                 f"addresses out of the pool, or pass {flag} if you mean it",
        )
