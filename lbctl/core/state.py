"""The state document: pools, allocations and holds, and its YAML codec.

The state is one YAML document (``schemaVersion: 1``) kept in a ConfigMap or a local file.  This
module owns its shape: the immutable :class:`State` value, :func:`decode` (text -> State, with
schema migrations and full validation) and :func:`encode` (State -> text, deterministic: sorted,
stable, compact enough for >15,000 allocations in one 1 MiB ConfigMap).

Shape (see README, "The state document")::

    schemaVersion: 1
    pools:
      default:
        addresses: [192.0.2.10-192.0.2.49, 2001:db8::/64]
        autoAssign: true
        avoidBuggyIPs: false
        namespaces: [web]               # optional: only Services in these namespaces
        serviceSelectors: [app=web]     # optional: only Services matching one of these
        nodeSelectors: [zone=a]         # optional: announced only from nodes matching one
        interfaces: [eth1]              # optional: answered only on these (layer 2)
        priority: 10                    # optional: lower is tried first; unset pools come last
        reservations: {192.0.2.11: router}
        announce: bgp                   # optional: layer2 (the default), bgp or both
        bgp: {aggregationLength: 32, aggregationLengthV6: 128, localPref: 100,
              communities: ['64500:100', no-export], peers: [router]}
                                        # optional, bgp/both only (lbctl.core.bgp): localPref,
                                        # communities and peers (default: every peer) optional
    peers:                              # optional: BGP routers every eligible node peers with
      router: {address: 192.0.2.1, asn: 64501, myASN: 64500, port: 179, holdTime: 90,
               passwordSecret: router-bgp, sourceAddress: 192.0.2.5, ebgpMultiHop: true,
               nodeSelectors: [rack=a]}  # the last four optional
               # passwordSecretUID: the uid of the passwordSecret lbctl created (it deletes
               # that Secret when no peer names it any more)
    allocations:
      web:                              # namespace
        frontend: {ips: [192.0.2.10], pool: default}
        api: {ips: [192.0.2.12], pool: default, sharingKey: k, ports: [TCP/443], backend: ""}
    holds:                              # released with --hold: kept for the same namespace/name
      web:
        old: {ips: [192.0.2.13], pool: default}

Pure: no I/O.  A document that fails validation raises :class:`lbctl.errors.InvalidStateError`
listing every problem; callers must never overwrite such a document.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from lbctl.core.addresses import AddrRange, describe, is_ip, parse_entry, parse_ip
from lbctl.core.bgp import (
    ANNOUNCE_MODES,
    DEFAULT_HOLD_TIME,
    DEFAULT_PORT,
    LAYER2,
    Advertisement,
    Peer,
    advertisement_problems,
    announces_bgp,
    announces_layer2,
    duplicate_peers,
    peer_problems,
)
from lbctl.core.interfaces import problems as interface_problems
from lbctl.core.sharing import conflicts
from lbctl.errors import InvalidStateError, LbctlError, UsageError

if TYPE_CHECKING:  # the selectors' module is imported where a selector is parsed, and the
    # YAML reader and writer where a text is read or written (a cached state reads none)
    import yaml
    from yaml.nodes import Node

    from lbctl.core.selectors import Selector

SCHEMA_VERSION = 1

#: How a hold's end (``expires``) is written: UTC, RFC 3339, whole seconds.
STAMP = "%Y-%m-%dT%H:%M:%SZ"

#: Migrations from schema version N to N+1, applied in order by :func:`decode`.  Each takes and
#: returns the raw document (plain dicts).  Empty while only version 1 exists.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}

ServiceKey = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class Pool:
    """An address pool: its entries as written, who it serves and how it is announced."""

    name: str
    addresses: tuple[str, ...]
    auto_assign: bool = True
    avoid_buggy_ips: bool = False
    namespaces: tuple[str, ...] = ()
    service_selectors: tuple[str, ...] = ()
    priority: int | None = None
    reservations: Mapping[str, str] = field(default_factory=dict)  # canonical IP -> note
    node_selectors: tuple[str, ...] = ()  # which nodes may announce its addresses (layer 2)
    interfaces: tuple[str, ...] = ()  # answered only on these (layer 2); () the speaker's choice
    announce: str = LAYER2  # LAYER2, BGP or BOTH (lbctl.core.bgp)
    bgp: Advertisement = Advertisement()  # how it is announced over BGP (BGP, BOTH only)

    @cached_property
    def entries(self) -> tuple[AddrRange, ...]:
        return tuple(parse_entry(text) for text in self.addresses)

    @property
    def families(self) -> frozenset[int]:
        return frozenset(entry.version for entry in self.entries)

    @cached_property
    def selectors(self) -> tuple[Selector, ...]:
        """The parsed ``service_selectors``: parsed once, not on every :meth:`admits`."""
        from lbctl.core.selectors import parse_selector

        return tuple(parse_selector(s) for s in self.service_selectors)

    def admits(self, namespace: str, labels: Mapping[str, str]) -> bool:
        """May a Service in ``namespace`` with ``labels`` get an address from this pool?"""
        if self.namespaces and namespace not in self.namespaces:
            return False
        if not self.service_selectors:
            return True
        return any(selector.matches(labels) for selector in self.selectors)

    @cached_property
    def parsed_node_selectors(self) -> tuple[Selector, ...]:
        from lbctl.core.selectors import parse_selector

        return tuple(parse_selector(s) for s in self.node_selectors)

    def admits_node(self, labels: Mapping[str, str]) -> bool:
        """May a node with ``labels`` announce this pool's addresses?  Any node when the pool
        has no node selectors, else a node matching one of them (as MetalLB's
        ``L2Advertisement.nodeSelectors``)."""
        if not self.node_selectors:
            return True
        return any(selector.matches(labels) for selector in self.parsed_node_selectors)

    def scope(self) -> str:
        """Who this pool serves, for messages: ``namespaces web,api; selectors app=web``."""
        parts = []
        if self.namespaces:
            parts.append("namespaces " + ",".join(self.namespaces))
        if self.service_selectors:
            parts.append("selectors " + " | ".join(self.service_selectors))
        return "; ".join(parts) or "every Service"


@dataclass(frozen=True)
class Allocation:
    """The addresses one Service holds (an allocation), or keeps while released (a hold)."""

    namespace: str
    name: str
    ips: tuple[str, ...]
    pool: str
    sharing_key: str = ""
    ports: tuple[str, ...] = ()  # "TCP/80"; recorded only for shared addresses
    backend: str = ""  # "" for externalTrafficPolicy Cluster, else the pod selector
    expires: str = ""  # holds only: when the hold ends (STAMP, UTC); "" never

    @property
    def key(self) -> ServiceKey:
        return (self.namespace, self.name)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class State:
    """The whole state document: pools, allocations, holds and BGP peers."""

    pools: Mapping[str, Pool] = field(default_factory=dict)
    allocations: Mapping[ServiceKey, Allocation] = field(default_factory=dict)
    holds: Mapping[ServiceKey, Allocation] = field(default_factory=dict)
    peers: Mapping[str, Peer] = field(default_factory=dict)  # BGP peers by name

    @cached_property
    def _entry_index(self) -> tuple[list[tuple[int, int]], list[tuple[AddrRange, str]]]:
        pairs = _sorted_entries(self.pools.values())
        return [(e.version, e.first) for e, _ in pairs], pairs

    def pool_of(self, ip: str) -> str | None:
        """The name of the pool whose addresses contain ``ip`` (pools never overlap)."""
        addr = parse_ip(ip)
        keys, pairs = self._entry_index
        index = bisect.bisect_right(keys, (addr.version, addr.value)) - 1
        if index >= 0 and addr in pairs[index][0]:
            return pairs[index][1]
        return None

    def allocation(self, namespace: str, name: str) -> Allocation | None:
        return self.allocations.get((namespace, name))

    def by_layer2(self, pool: str) -> bool:
        """Whether ARP/NDP answers for the addresses of ``pool`` (``announce: layer2`` or
        ``both``; a pool not in the state counts as layer 2, the default).  A ``bgp`` pool's
        addresses are routed to the nodes: nobody answers for them, and nobody may."""
        found = self.pools.get(pool)
        return found is None or announces_layer2(found.announce)

    def unheard(self, names: Iterable[str] | None = None) -> dict[str, list[int]]:
        """Each pool (of ``names``; every pool when None) announced over BGP whose addresses of
        a family no BGP peer is sent, with those families (4, 6): they reach no router."""
        chosen = self.pools if names is None else {n: self.pools[n] for n in names
                                                   if n in self.pools}
        found = {}
        for name in sorted(chosen):
            pool = chosen[name]
            if announces_bgp(pool.announce):
                missing = pool.bgp.unheard(pool.families, self.peers.values())
                if missing:
                    found[name] = missing
        return found

    def holders(self, ip: str) -> list[Allocation]:
        """Every allocation and hold that uses ``ip`` (several only when shared)."""
        return [a for a in self.all_records() if ip in a.ips]

    def all_records(self) -> Iterator[Allocation]:
        yield from self.allocations.values()
        yield from self.holds.values()


# --------------------------------------------------------------------------- decoding


class Problem(NamedTuple):
    """One thing wrong with a state document.  ``kind`` is a stable code that says which rule
    it breaks (doctor files it under the check ``state.<kind>``): ``parse`` (not YAML, not the
    document's shape), ``schema``, ``pool-overlap``, ``shared-ip``, ``outside-pool``,
    ``consistency`` (everything else).  ``fatal``: validation stopped there, so the absence of
    other problems proves nothing."""

    kind: str
    message: str
    fatal: bool = False

    def __str__(self) -> str:
        return self.message


class _Problems:
    """Collects every problem of the document's shape instead of stopping at the first; with
    the document's node, each message ends with the line and column of the value at fault."""

    def __init__(self, root: Node | None = None) -> None:
        self.items: list[Problem] = []
        self.root = root

    def add(self, message: str, path: tuple[Any, ...] = (), key: bool = False) -> None:
        self.items.append(Problem("parse", message + self._where(path, key)))

    def check(self, ok: bool, message: str, path: tuple[Any, ...] = (),
              key: bool = False) -> bool:
        if not ok:
            self.add(message, path, key)
        return ok

    def _where(self, path: tuple[Any, ...], key: bool) -> str:
        """`` (line L, column C)`` of the value at ``path`` (of its key with ``key``)."""
        if self.root is None:
            return ""
        from yaml.nodes import SequenceNode

        from lbctl.core import yamlkit

        node: Node = self.root
        for step in path:
            if isinstance(node, SequenceNode) and isinstance(step, int) and (
                    0 <= step < len(node.value)):
                node = node.value[step]
                continue
            found = yamlkit.entry(node, str(step))
            if found is None:
                break
            node = found[0] if key and step is path[-1] else found[1]
        mark = node.start_mark
        return f" (line {mark.line + 1}, column {mark.column + 1})"


def decode(text: str | None, source: str = "state", *, doctor: str = "lbctl doctor") -> State:
    """Parse and validate a state document; ``None`` or empty text is the empty state.
    ``doctor`` is the command that lists every problem of this document (named in the hint of
    an invalid one): ``lbctl doctor --state FILE`` for a state file.

    Strict: a value of the wrong type (a list where a note belongs, a mapping as a sharing key,
    a key that is not a string) is a problem, never converted, so that the next write cannot
    change what the document says.  Each such problem names its line and column."""
    return decode_with_data(text, source, doctor=doctor)[0]


def decode_with_data(text: str | None, source: str = "state", *,
                     doctor: str = "lbctl doctor") -> tuple[State, dict[str, Any] | None]:
    """:func:`decode`, and the data read from the document that the state was built from
    (after migrations; None for an empty document): :func:`from_valid` builds the same state
    from it again."""
    if text is None or not text.strip():
        return State(), None
    from lbctl.core import yamlkit

    try:
        raw = yamlkit.load(text, source)
    except yamlkit.YAMLInputError as exc:
        where = f" (line {exc.line}, column {exc.column})"
        raise _refused(exc.message, _NOT_OVERWRITTEN,
                       [Problem("parse", exc.problem + where, fatal=True)]) from exc
    if raw is None:
        return State(), None
    if not isinstance(raw, dict):
        raise _invalid(source, [Problem("parse", "the document is not a mapping", fatal=True)],
                       doctor)
    version = raw.get("schemaVersion")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _invalid(source, [Problem(
            "schema", f"schemaVersion must be a positive integer, not {version!r}", fatal=True)],
            doctor)
    if version > SCHEMA_VERSION:
        message = (f"{source} has schemaVersion {version}; this lbctl understands up to "
                   f"{SCHEMA_VERSION}")
        raise _refused(message,
                       "upgrade lbctl; it never overwrites a document it does not understand",
                       [Problem("schema", message, fatal=True)])
    for step in range(version, SCHEMA_VERSION):
        raw = MIGRATIONS[step](raw)
    problems = _Problems()
    state = _build(raw, problems)
    if problems.items and version == SCHEMA_VERSION:  # say where, from a second reading
        located = _Problems(yamlkit.load_all(text, source, nodes=True)[0].node)
        _build(raw, located)
        problems = located
    problems.items.extend(validate(state))
    if problems.items:
        raise _invalid(source, problems.items, doctor)
    return state, raw


def from_valid(data: dict[str, Any]) -> State:
    """The state of a document that :func:`decode_with_data` decoded without a problem, built
    again from the ``data`` it returned, without reading the document or checking the state
    again (:mod:`lbctl.state.cache`).  A problem met all the same raises ValueError: never a
    state built past one."""
    problems = _Problems()
    state = _build(data, problems)
    if problems.items:
        raise ValueError(f"not the data of a valid state document: {problems.items[0]}")
    return state


_NOT_OVERWRITTEN = "fix it by hand or restore a backup; lbctl will not overwrite it"


def _invalid(source: str, problems: list[Problem], doctor: str) -> InvalidStateError:
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return _refused(
        f"{source} is invalid: {problems[0]}{more}",
        f"run `{doctor}` for the full list; lbctl will not overwrite an invalid document",
        problems,
    )


def _refused(message: str, hint: str, problems: list[Problem]) -> InvalidStateError:
    error = InvalidStateError(message, hint=hint)
    error.problems = problems  # type: ignore[attr-defined]
    return error


def problems_of(error: LbctlError) -> list[Problem]:
    """Every problem an :class:`InvalidStateError` from :func:`decode` found."""
    return list(getattr(error, "problems", [Problem("parse", error.message, fatal=True)]))


_TOP_FIELDS = {"schemaVersion", "pools", "allocations", "holds", "peers"}
_POOL_FIELDS = {
    "addresses", "autoAssign", "avoidBuggyIPs", "namespaces", "serviceSelectors", "priority",
    "reservations", "nodeSelectors", "interfaces", "announce", "bgp",
}
_ADVERTISEMENT_FIELDS = {
    "aggregationLength", "aggregationLengthV6", "localPref", "communities", "peers",
}
_PEER_FIELDS = {
    "address", "asn", "myASN", "port", "holdTime", "passwordSecret", "passwordSecretUID",
    "sourceAddress", "ebgpMultiHop", "nodeSelectors",
}
_ALLOC_FIELDS = {"ips", "pool", "sharingKey", "ports", "backend", "expires"}


def _unknown(raw: Mapping[str, Any], known: set[str], where: str, path: tuple[Any, ...],
             problems: _Problems) -> None:
    if raw.keys() <= known:
        return
    for key in sorted(set(raw) - known, key=str):
        problems.add(f"unknown field {key!r} in {where}", (*path, key), key=True)


# The readers of one value below check first and write their message only for a value at
# fault: a state of a thousand allocations holds ten thousand values, nearly always sound.
# ``field`` (when given) names the value inside ``where``/``path``.

def _at(where: str, path: tuple[Any, ...], field: str | None) -> tuple[str, tuple[Any, ...]]:
    return (where, path) if field is None else (f"{where}: {field}", (*path, field))


def _mapping(value: Any, where: str, path: tuple[Any, ...],
             problems: _Problems) -> dict[str, Any]:
    """A mapping whose keys are all strings (a key such as ``1`` or ``null`` is refused, not
    turned into text: ``1`` and ``'1'`` would become one key)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(f"{where} must be a mapping", path)
        return {}
    for key in value:
        if not isinstance(key, str):
            break
    else:
        return value  # the usual case: nothing to leave out (nobody changes what is returned)
    out = {}
    for key, item in value.items():
        if isinstance(key, str):
            out[key] = item
        else:
            problems.add(f"{where}: the key {key!r} must be a string (quote it)", (*path, key),
                         key=True)
    return out


def _strings(value: Any, where: str, path: tuple[Any, ...],
             problems: _Problems, field: str | None = None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, str):
                break
        else:
            return tuple(value)
    where, path = _at(where, path, field)
    problems.add(f"{where} must be a list of strings", path)
    return ()


def _string(value: Any, where: str, path: tuple[Any, ...], problems: _Problems,
            field: str | None = None) -> str:
    """A string field; absent (or null) is the empty string, anything else is refused."""
    if value is None:
        return ""
    if isinstance(value, str):
        return str(value)
    where, path = _at(where, path, field)
    problems.add(f"{where} must be a string, not {value!r}", path)
    return ""


def _build(raw: dict[str, Any], problems: _Problems) -> State:
    _unknown(raw, _TOP_FIELDS, "the document", (), problems)
    pools = {}
    for name, body in _mapping(raw.get("pools"), "pools", ("pools",), problems).items():
        where, path = f"pool {name}", ("pools", name)
        body = _mapping(body, where, path, problems)
        _unknown(body, _POOL_FIELDS, where, path, problems)
        flags = {}
        for key in ("autoAssign", "avoidBuggyIPs"):
            value = body.get(key, key == "autoAssign")
            problems.check(isinstance(value, bool), f"{where}: {key} must be true or false",
                           (*path, key))
            flags[key] = bool(value)
        priority = body.get("priority")
        problems.check(
            priority is None or (isinstance(priority, int) and not isinstance(priority, bool)),
            f"{where}: priority must be an integer", (*path, "priority"),
        )
        where_notes = f"{where} reservations"
        notes = (*path, "reservations")
        reservations = {
            ip: _string(note, f"{where_notes}: the note of {ip}", (*notes, ip), problems)
            for ip, note in _mapping(body.get("reservations"), where_notes, notes,
                                     problems).items()
        }
        pools[name] = Pool(
            name=name,
            addresses=_strings(body.get("addresses"), f"{where}: addresses",
                               (*path, "addresses"), problems),
            auto_assign=flags["autoAssign"],
            avoid_buggy_ips=flags["avoidBuggyIPs"],
            namespaces=_strings(body.get("namespaces"), f"{where}: namespaces",
                                (*path, "namespaces"), problems),
            service_selectors=_strings(body.get("serviceSelectors"),
                                       f"{where}: serviceSelectors",
                                       (*path, "serviceSelectors"), problems),
            priority=priority if isinstance(priority, int) else None,
            reservations=reservations,
            node_selectors=_strings(body.get("nodeSelectors"), f"{where}: nodeSelectors",
                                    (*path, "nodeSelectors"), problems),
            interfaces=_strings(body.get("interfaces"), f"{where}: interfaces",
                                (*path, "interfaces"), problems),
            announce=_string(body.get("announce"), f"{where}: announce", (*path, "announce"),
                             problems) or LAYER2,
            bgp=_advertisement(body.get("bgp"), f"{where} bgp", (*path, "bgp"), problems),
        )
    return State(
        pools=pools,
        allocations=_records(raw.get("allocations"), "allocations", problems),
        holds=_records(raw.get("holds"), "holds", problems),
        peers=_peers(raw.get("peers"), problems),
    )


def _integer(value: Any, default: int | None, where: str, path: tuple[Any, ...],
             problems: _Problems) -> int | None:
    """An integer field (never a boolean); absent is ``default``."""
    if value is None:
        return default
    if problems.check(isinstance(value, int) and not isinstance(value, bool),
                      f"{where} must be an integer, not {value!r}", path):
        return int(value)
    return default


def _advertisement(value: Any, where: str, path: tuple[Any, ...],
                   problems: _Problems) -> Advertisement:
    body = _mapping(value, where, path, problems)
    _unknown(body, _ADVERTISEMENT_FIELDS, where, path, problems)
    default = Advertisement()
    return Advertisement(
        aggregation_length=_integer(
            body.get("aggregationLength"), default.aggregation_length,
            f"{where}: aggregationLength", (*path, "aggregationLength"), problems) or 0,
        aggregation_length_v6=_integer(
            body.get("aggregationLengthV6"), default.aggregation_length_v6,
            f"{where}: aggregationLengthV6", (*path, "aggregationLengthV6"), problems) or 0,
        local_pref=_integer(body.get("localPref"), None, f"{where}: localPref",
                            (*path, "localPref"), problems),
        communities=_strings(body.get("communities"), f"{where}: communities",
                             (*path, "communities"), problems),
        peers=_strings(body.get("peers"), f"{where}: peers", (*path, "peers"), problems),
    )


def _peers(value: Any, problems: _Problems) -> dict[str, Peer]:
    peers = {}
    for name, body in _mapping(value, "peers", ("peers",), problems).items():
        where, path = f"peer {name}", ("peers", name)
        body = _mapping(body, where, path, problems)
        _unknown(body, _PEER_FIELDS, where, path, problems)

        def number(key: str, default: int | None, body: dict[str, Any] = body,
                   where: str = where, path: tuple[Any, ...] = path) -> int:
            return _integer(body.get(key), default, f"{where}: {key}", (*path, key),
                            problems) or 0

        for key in ("address", "asn", "myASN"):
            problems.check(key in body, f"{where}: {key} is required", path)
        multihop = body.get("ebgpMultiHop", False)
        problems.check(isinstance(multihop, bool), f"{where}: ebgpMultiHop must be true or false",
                       (*path, "ebgpMultiHop"))
        peers[name] = Peer(
            name=name,
            address=_string(body.get("address"), f"{where}: address", (*path, "address"),
                            problems),
            asn=number("asn", None),
            my_asn=number("myASN", None),
            port=number("port", DEFAULT_PORT),
            hold_time=number("holdTime", DEFAULT_HOLD_TIME),
            password_secret=_string(body.get("passwordSecret"), f"{where}: passwordSecret",
                                    (*path, "passwordSecret"), problems) or None,
            password_secret_uid=_string(body.get("passwordSecretUID"),
                                        f"{where}: passwordSecretUID",
                                        (*path, "passwordSecretUID"), problems) or None,
            source_address=_string(body.get("sourceAddress"), f"{where}: sourceAddress",
                                   (*path, "sourceAddress"), problems) or None,
            ebgp_multihop=multihop is True,
            node_selectors=_strings(body.get("nodeSelectors"), f"{where}: nodeSelectors",
                                    (*path, "nodeSelectors"), problems),
        )
    return peers


def _records(value: Any, section: str, problems: _Problems) -> dict[ServiceKey, Allocation]:
    records = {}
    for namespace, services in _mapping(value, section, (section,), problems).items():
        for name, body in _mapping(services, f"{section} {namespace}", (section, namespace),
                                   problems).items():
            where, path = f"{section} {namespace}/{name}", (section, namespace, name)
            body = _mapping(body, where, path, problems)
            _unknown(body, _ALLOC_FIELDS, where, path, problems)
            get = body.get
            pool = get("pool")
            if not isinstance(pool, str):
                problems.add(f"{where}: pool must be a pool name", (*path, "pool"))
            expires = get("expires")
            records[(namespace, name)] = Allocation(
                namespace=namespace,
                name=name,
                ips=_strings(get("ips"), where, path, problems, "ips"),
                pool=str(pool),
                sharing_key=_string(get("sharingKey"), where, path, problems, "sharingKey"),
                ports=_strings(get("ports"), where, path, problems, "ports"),
                backend=_string(get("backend"), where, path, problems, "backend"),
                expires="" if expires is None else _expires(
                    expires, section, where, (*path, "expires"), problems),
            )
    return records


def _expires(value: Any, section: str, where: str, path: tuple[Any, ...],
             problems: _Problems) -> str:
    """A hold's end: absent, or a UTC time written as :data:`STAMP`."""
    if value is None:
        return ""
    if section != "holds":
        problems.add(f"{where}: only a hold has expires", path)
        return ""
    if isinstance(value, datetime):  # YAML reads an unquoted time as a timestamp
        value = value.astimezone(timezone.utc).strftime(STAMP) if value.tzinfo else ""
    try:
        datetime.strptime(str(value), STAMP)
    except ValueError:
        problems.add(f"{where}: expires must be a UTC time like 2025-01-31T12:00:00Z, "
                     f"not {value!r}", path)
        return ""
    return str(value)


def validate(state: State) -> list[Problem]:
    """Every inconsistency in a state: bad pools, overlaps, allocations outside their pool,
    addresses held twice without valid sharing.  Empty when the state is sound."""
    problems: list[Problem] = []

    def add(kind: str, message: str) -> None:
        problems.append(Problem(kind, message))

    valid_pools: dict[str, Pool] = {}
    for pool in state.pools.values():
        try:
            if not pool.entries:
                add("consistency", f"pool {pool.name} has no addresses")
                continue
            selectors = (*pool.service_selectors, *pool.node_selectors)
            if selectors:  # (a state without any never imports their parser)
                from lbctl.core.selectors import parse_selector

                for selector in selectors:
                    parse_selector(selector)
        except LbctlError as exc:
            add("consistency", f"pool {pool.name}: {exc.message}")
            continue
        for message in interface_problems(pool.interfaces, f"pool {pool.name} interfaces"):
            add("consistency", message)
        if pool.interfaces and not announces_layer2(pool.announce):
            add("consistency", f"pool {pool.name} has interfaces but announce is "
                               f"{pool.announce}: no node answers ARP/NDP for it")
        valid_pools[pool.name] = pool
    for overlap in overlaps(valid_pools.values()):
        add("pool-overlap", overlap)
    for message in bgp_problems(state, valid_pools.values()):
        add("consistency", message)
    checked = State(pools=valid_pools)
    for pool in valid_pools.values():
        for ip in pool.reservations:
            found = _check_ip(checked, ip, pool.name, f"pool {pool.name} reservation")
            if found:
                add("consistency", found[1])
    users: dict[str, list[Allocation]] = {}
    for record in state.all_records():
        if not record.ips:
            add("consistency", f"{record.ref} has no ips")
        if len(record.ips) > 1:  # one address cannot be two of a family
            families = [parse_ip(ip).version for ip in record.ips if is_ip(ip)]
            if len(families) != len(set(families)):
                add("consistency", f"{record.ref} has two addresses of one family")
        for ip in record.ips:
            if not _sound_ip(checked, ip, record.pool):
                found = _check_ip(checked, ip, record.pool, record.ref)
                assert found is not None
                add(*found)
                continue
            users.setdefault(ip, []).append(record)
            if ip in state.pools[record.pool].reservations:
                add("consistency", f"{record.ref} uses {ip}, which pool {record.pool} reserves")
    for ip, holders in sorted(users.items()):
        for first, second, why in conflicts(holders):
            add("shared-ip", f"{ip} is held by {first.ref} and {second.ref}: {why}")
    return problems


def bgp_problems(state: State, pools: Iterable[Pool] | None = None) -> list[str]:
    """Everything wrong with the state's BGP settings: each peer (:func:`lbctl.core.bgp.
    peer_problems`), two peers for one session, and each pool's announcement mode and
    advertisement (``pools``: those whose addresses are valid; default every pool)."""
    found = [message for name in sorted(state.peers)
             for message in peer_problems(state.peers[name])]
    found.extend(duplicate_peers(state.peers.values()))
    for pool in sorted(state.pools.values() if pools is None else pools, key=lambda p: p.name):
        where = f"pool {pool.name}"
        if pool.announce not in ANNOUNCE_MODES:
            found.append(f"{where}: announce must be one of {', '.join(ANNOUNCE_MODES)}, not "
                         f"{pool.announce!r}")
        elif not announces_bgp(pool.announce) and not pool.bgp.is_default:
            found.append(f"{where} has BGP options but announce is {pool.announce}")
        found.extend(advertisement_problems(pool.bgp, pool.entries, state.peers, where))
    return found


def _sound_ip(state: State, ip: str, pool: str) -> bool:
    """Whether :func:`_check_ip` finds nothing wrong with ``ip`` (asked first: it is nearly
    always so, and then no message is written)."""
    try:
        addr = parse_ip(ip)
    except UsageError:  # what is_ip() catches
        return False
    return str(addr) == ip and state.pool_of(ip) == pool


def _check_ip(state: State, ip: str, pool: str, who: str) -> tuple[str, str] | None:
    """(kind, message) when ``ip`` is not a canonical address of ``pool``; None when it is."""
    if not is_ip(ip):
        return "consistency", f"{who}: {ip!r} is not an IP address"
    if str(parse_ip(ip)) != ip:
        return "consistency", f"{who}: {ip!r} is not in canonical form ({parse_ip(ip)})"
    actual = state.pool_of(ip)
    if actual is None:
        return "outside-pool", f"{who}: {ip} is outside every pool"
    if actual != pool:
        return "outside-pool", f"{who}: {ip} is in pool {actual}, not in pool {pool}"
    return None


def _sorted_entries(pools: Iterable[Pool]) -> list[tuple[AddrRange, str]]:
    """Every entry of ``pools`` with its pool's name, in address order (family, then first)."""
    return sorted(
        ((entry, pool.name) for pool in pools for entry in pool.entries),
        key=lambda pair: (pair[0].version, pair[0].first),
    )


def overlaps(pools: Iterable[Pool]) -> list[str]:
    """Overlaps between entries of different pools (and within one pool), named precisely."""
    items = _sorted_entries(pools)
    found = []
    reach: tuple[AddrRange, str] | None = None  # the entry seen so far that reaches furthest
    for entry, name in items:
        if reach is not None:
            common = reach[0].overlap(entry)
            if common is not None:
                where = f"pools {reach[1]} and {name}" if reach[1] != name else f"pool {name}"
                found.append(
                    f"{where} overlap: {reach[0].text} and {entry.text} share "
                    f"{describe(common.version, common.first, common.last)}"
                )
        if reach is None or reach[0].version != entry.version or entry.last > reach[0].last:
            reach = (entry, name)
    return found


# --------------------------------------------------------------------------- encoding


class _Flow(dict[str, Any]):
    """A mapping written on one line: ``{ips: [192.0.2.10], pool: default}``."""


# --------------------------------------------------------------------------- YAML
#
# The text is read by lbctl's one YAML reader (lbctl.core.yamlkit: libyaml's events, limits on
# size, depth and aliases, duplicate keys and unusual tags refused) and written by feeding
# libyaml's emitter events, not through PyYAML's representer, which is pure Python and costs
# 3-7x more than the emitting on a large state.  Plain scalars are resolved with PyYAML's own
# resolver, so the bytes are those ``yaml.safe_dump`` would write.  PyYAML is imported by the
# first text read or written: a command whose state comes from the cache never imports it.


def _dump(document: dict[str, Any]) -> str:
    """``yaml.safe_dump`` of a document of mappings (block; :class:`_Flow`: one line), lists
    (one line), strings, integers and booleans, with ``sort_keys=False`` and ``width=4096``."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return str(yaml.emit(_events(document), Dumper=dumper, width=4096))


def _events(document: dict[str, Any]) -> Iterator[yaml.Event]:
    import yaml

    from lbctl.core.yamlkit import STR

    resolve: Callable[[type[yaml.Node], str, tuple[bool, bool]], str] = (
        yaml.resolver.Resolver().resolve)

    def events_of(data: Any) -> Iterator[yaml.Event]:
        if isinstance(data, dict):
            yield yaml.MappingStartEvent(None, None, True, flow_style=isinstance(data, _Flow))
            for key, value in data.items():
                yield from events_of(key)
                yield from events_of(value)
            yield yaml.MappingEndEvent()
        elif isinstance(data, list):
            yield yaml.SequenceStartEvent(None, None, True, flow_style=True)
            for item in data:
                yield from events_of(item)
            yield yaml.SequenceEndEvent()
        elif isinstance(data, bool):
            yield yaml.ScalarEvent(None, "tag:yaml.org,2002:bool", (True, False),
                                   "true" if data else "false")
        elif isinstance(data, int):
            yield yaml.ScalarEvent(None, "tag:yaml.org,2002:int", (True, False), str(data))
        else:
            plain = resolve(yaml.ScalarNode, data, (True, False)) == STR
            yield yaml.ScalarEvent(None, STR, (plain, True), data)

    yield yaml.StreamStartEvent()
    yield yaml.DocumentStartEvent(explicit=False)
    yield from events_of(document)
    yield yaml.DocumentEndEvent(explicit=False)
    yield yaml.StreamEndEvent()


def to_document(state: State) -> dict[str, Any]:
    """The state as plain data in its stable shape (also what ``-o json`` shows)."""
    document = {
        "schemaVersion": SCHEMA_VERSION,
        "pools": _pools_document(state),
        "allocations": _encode_records(state.allocations),
        "holds": _encode_records(state.holds),
    }
    if state.peers:
        document["peers"] = _peers_document(state)
    return document


def _peers_document(state: State) -> dict[str, Any]:
    return {name: peer_document(state.peers[name]) for name in sorted(state.peers)}


def _pools_document(state: State) -> dict[str, Any]:
    pools: dict[str, Any] = {}
    for name in sorted(state.pools):
        pool = state.pools[name]
        body: dict[str, Any] = {
            "addresses": list(pool.addresses),
            "autoAssign": pool.auto_assign,
            "avoidBuggyIPs": pool.avoid_buggy_ips,
        }
        if pool.namespaces:
            body["namespaces"] = list(pool.namespaces)
        if pool.service_selectors:
            body["serviceSelectors"] = list(pool.service_selectors)
        if pool.priority is not None:
            body["priority"] = pool.priority
        if pool.node_selectors:
            body["nodeSelectors"] = list(pool.node_selectors)
        if pool.interfaces:
            body["interfaces"] = list(pool.interfaces)
        if pool.reservations:
            body["reservations"] = _Flow(sorted(pool.reservations.items(), key=_ip_sort_key))
        if pool.announce != LAYER2:
            body["announce"] = pool.announce
        if not pool.bgp.is_default:
            body["bgp"] = advertisement_document(pool.bgp)
        pools[name] = body
    return pools


def advertisement_document(advertisement: Advertisement) -> dict[str, Any]:
    """A pool's BGP advertisement in its stable shape (the aggregation lengths always, the
    rest when set)."""
    body: dict[str, Any] = _Flow(
        aggregationLength=advertisement.aggregation_length,
        aggregationLengthV6=advertisement.aggregation_length_v6,
    )
    if advertisement.local_pref is not None:
        body["localPref"] = advertisement.local_pref
    if advertisement.communities:
        body["communities"] = list(advertisement.communities)
    if advertisement.peers:
        body["peers"] = list(advertisement.peers)
    return body


def peer_document(peer: Peer) -> dict[str, Any]:
    """A BGP peer in its stable shape: address, asn, myASN, port and holdTime always;
    passwordSecret (and passwordSecretUID), sourceAddress, ebgpMultiHop and nodeSelectors when
    set."""
    body: dict[str, Any] = _Flow(address=peer.address, asn=peer.asn, myASN=peer.my_asn,
                                 port=peer.port, holdTime=peer.hold_time)
    if peer.password_secret:
        body["passwordSecret"] = peer.password_secret
    if peer.password_secret_uid:
        body["passwordSecretUID"] = peer.password_secret_uid
    if peer.source_address:
        body["sourceAddress"] = peer.source_address
    if peer.ebgp_multihop:
        body["ebgpMultiHop"] = True
    if peer.node_selectors:
        body["nodeSelectors"] = list(peer.node_selectors)
    return body


def _ip_sort_key(item: tuple[str, str]) -> tuple[int, int]:
    addr = parse_ip(item[0])
    return (addr.version, addr.value)


def _encode_records(records: Mapping[ServiceKey, Allocation]) -> dict[str, Any]:
    out: dict[str, dict[str, Any]] = {}
    for (namespace, name) in sorted(records):
        out.setdefault(namespace, {})[name] = _record_document(records[(namespace, name)])
    return out


def _record_document(record: Allocation) -> _Flow:
    body = _Flow(ips=list(record.ips), pool=record.pool)
    if record.sharing_key:
        body.update(sharingKey=record.sharing_key, ports=list(record.ports),
                    backend=record.backend)
    if record.expires:
        body.update(expires=record.expires)
    return body


def encode(state: State) -> str:
    """Deterministic YAML text of a state: same state, same bytes."""
    return _dump(to_document(state))


_SECTIONS = ("allocations", "holds")
#: Namespaces and names longer than this are left to the whole-document path (a YAML key
#: over 128 characters is written in another form).
_LONGEST_KEY = 100


class Encoder:
    """:func:`encode`, for a writer that encodes one state after another (the controller: a
    transaction per batch of Services).  The document is the same bytes; what it costs
    follows the change, not the size: each allocation's and hold's line (and each namespace's)
    is remembered from the last text, with the text of each namespace's block (its line and
    its records' lines, in order).  A state that differs in a few records is the text of the
    pools (encoded again only when they changed), the blocks of the namespaces that did not
    change, and the blocks of those that did, made again from the remembered lines and the new
    ones, each encoded by libyaml in a small document of the same shape.

    Every remembered piece is checked for the one shape it can have (a namespace line at
    indent 2, a record at indent 4, one line each); anything else (a long key, a wrapped
    line) is encoded with the whole document.  Thread-safe: each call replaces what is
    remembered in one assignment, and never changes what it remembered before."""

    def __init__(self) -> None:
        self._sections: dict[str, _Section] = {}
        self._head: tuple[Mapping[str, Pool], str] | None = None

    def encode(self, state: State) -> str:
        if not self._sections:
            return self._whole(state)
        sections: dict[str, _Section] = {}
        parts = [self._pools(state)]
        for section, found in ((s, _records_of(state, s)) for s in _SECTIONS):
            if not found:
                parts.append(f"{section}: {{}}\n")
                continue
            known = self._sections.get(section) or _Section({}, {}, {}, {}, {})
            before = known.records
            # What changed: a writer that keeps the unchanged records (the allocator does)
            # makes this one identity test per record.
            if before.items() <= found.items():  # (a test in C) records were only added
                new = {key: found[key] for key in found.keys() - before.keys()}
            else:
                new = {key: record for key, record in found.items()
                       if (was := before.get(key)) is not record and was != record}
            if any(len(key[0]) > _LONGEST_KEY or len(key[1]) > _LONGEST_KEY for key in new):
                return self._whole(state)
            added = [key for key in new if key not in before]
            gone = before.keys() - found.keys() if len(before) + len(added) != len(found) else ()
            lines = dict(known.lines)
            namespace_lines = dict(known.namespace_lines)
            members = dict(known.members)
            blocks = dict(known.blocks)
            if new:
                # A namespace without a line has no record in ``before``: every one of its
                # records is new, and its line comes with theirs.
                pieces = _pieces(section, new)
                if pieces is None:
                    return self._whole(state)
                lines.update(pieces[0])
                namespace_lines.update(pieces[1])
            # The namespaces whose blocks change, with their keys (copies, changed here).
            touched: dict[str, list[ServiceKey]] = {key[0]: [] for key in new}
            touched.update((key[0], []) for key in gone)
            for namespace in touched:
                touched[namespace] = list(members.get(namespace, ()))
            for key in gone:
                del lines[key]
                touched[key[0]].remove(key)
            for key in added:
                bisect.insort(touched[key[0]], key)
            for namespace, keys in touched.items():
                if keys:
                    members[namespace] = keys
                    blocks[namespace] = namespace_lines[namespace] + "".join(
                        map(lines.__getitem__, keys))
                else:
                    del members[namespace], blocks[namespace], namespace_lines[namespace]
            parts.append(f"{section}:\n")
            parts.extend(blocks[namespace] for namespace in sorted(blocks))
            sections[section] = _Section(found, lines, namespace_lines, members, blocks)
        if state.peers:
            parts.append(_dump({"peers": _peers_document(state)}))
        self._sections = sections
        return "".join(parts)

    def _pools(self, state: State) -> str:
        head = self._head
        if head is not None and head[0] == state.pools:
            return head[1]
        text = _dump({"schemaVersion": SCHEMA_VERSION, "pools": _pools_document(state)})
        self._head = (state.pools, text)
        return text

    def _whole(self, state: State) -> str:
        """The whole document, by :func:`encode`; its lines remembered where each record is
        one line."""
        text = encode(state)
        sections: dict[str, _Section] = {}
        for section, found in ((s, _records_of(state, s)) for s in _SECTIONS):
            if not found:
                continue
            start = text.find(f"\n{section}:\n")
            pieces = None if start < 0 else _split(text[start + len(section) + 3:], found)
            if pieces is None:
                return text  # nothing remembered: the next call encodes the whole again
            lines, namespace_lines = pieces
            members: dict[str, list[ServiceKey]] = {}
            for key in sorted(found):
                members.setdefault(key[0], []).append(key)
            blocks = {namespace: namespace_lines[namespace] + "".join(map(lines.__getitem__,
                                                                          keys))
                      for namespace, keys in members.items()}
            sections[section] = _Section(found, lines, namespace_lines, members, blocks)
        self._sections = sections
        return text


class _Section(NamedTuple):
    """What :class:`Encoder` remembers of a section (allocations, holds) as it last wrote it:
    its records, each one's line, each namespace's line, each namespace's keys in order and
    its block of text.  Never changed once made."""

    records: Mapping[ServiceKey, Allocation]
    lines: dict[ServiceKey, str]
    namespace_lines: dict[str, str]
    members: dict[str, list[ServiceKey]]
    blocks: dict[str, str]


def _records_of(state: State, section: str) -> Mapping[ServiceKey, Allocation]:
    return state.allocations if section == "allocations" else state.holds


def _pieces(section: str, records: Mapping[ServiceKey, Allocation],
            ) -> tuple[dict[ServiceKey, str], dict[str, str]] | None:
    """The lines of ``records`` (and of their namespaces) as the whole document has them,
    encoded in a document of the same shape; None when they are not one line each."""
    text = _dump({section: _encode_records(records)})
    return _split(text[len(section) + 2:], records)


def _split(body: str, records: Mapping[ServiceKey, Allocation],
           ) -> tuple[dict[ServiceKey, str], dict[str, str]] | None:
    """Cut the body of a section (from its first namespace line on) into one line per
    namespace and per record, in the document's order, checking each line's shape; None when
    the lines are not those (or ``body`` goes on past the section)."""
    lines = body.splitlines(keepends=True)
    keys = sorted(records)
    namespaces: dict[str, str] = {}
    out: dict[ServiceKey, str] = {}
    index = 0
    last = None
    for key in keys:
        if key[0] != last:
            if index >= len(lines) or not _shaped(lines[index], 2):
                return None
            namespaces[key[0]] = lines[index]
            index += 1
            last = key[0]
        if index >= len(lines) or not _shaped(lines[index], 4):
            return None
        out[key] = lines[index]
        index += 1
    return out, namespaces


def _shaped(line: str, indent: int) -> bool:
    """A line of a block mapping's entry at ``indent``: a simple key, on one line."""
    return (line.endswith("\n") and line[:indent] == " " * indent
            and line[indent] not in " ?-#\n" and ":" in line)
