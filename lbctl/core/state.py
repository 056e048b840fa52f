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
        priority: 10                    # optional: lower is tried first; unset pools come last
        reservations: {192.0.2.11: router}
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
from functools import cached_property
from typing import Any

import yaml

from lbctl.core.addresses import AddrRange, describe, parse_entry, parse_ip
from lbctl.core.selectors import parse_selector
from lbctl.errors import InvalidStateError, LbctlError

SCHEMA_VERSION = 1

#: Migrations from schema version N to N+1, applied in order by :func:`decode`.  Each takes and
#: returns the raw document (plain dicts).  Empty while only version 1 exists.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}

ServiceKey = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class Pool:
    name: str
    addresses: tuple[str, ...]
    auto_assign: bool = True
    avoid_buggy_ips: bool = False
    namespaces: tuple[str, ...] = ()
    service_selectors: tuple[str, ...] = ()
    priority: int | None = None
    reservations: Mapping[str, str] = field(default_factory=dict)  # canonical IP -> note

    @cached_property
    def entries(self) -> tuple[AddrRange, ...]:
        return tuple(parse_entry(text) for text in self.addresses)

    @property
    def families(self) -> frozenset[int]:
        return frozenset(entry.version for entry in self.entries)

    def admits(self, namespace: str, labels: Mapping[str, str]) -> bool:
        """May a Service in ``namespace`` with ``labels`` get an address from this pool?"""
        if self.namespaces and namespace not in self.namespaces:
            return False
        if not self.service_selectors:
            return True
        return any(parse_selector(s).matches(labels) for s in self.service_selectors)

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
    namespace: str
    name: str
    ips: tuple[str, ...]
    pool: str
    sharing_key: str = ""
    ports: tuple[str, ...] = ()  # "TCP/80"; recorded only for shared addresses
    backend: str = ""  # "" for externalTrafficPolicy Cluster, else the pod selector

    @property
    def key(self) -> ServiceKey:
        return (self.namespace, self.name)

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class State:
    pools: Mapping[str, Pool] = field(default_factory=dict)
    allocations: Mapping[ServiceKey, Allocation] = field(default_factory=dict)
    holds: Mapping[ServiceKey, Allocation] = field(default_factory=dict)

    @cached_property
    def _entry_index(self) -> tuple[list[tuple[int, int]], list[tuple[AddrRange, str]]]:
        pairs = sorted(
            ((entry, pool.name) for pool in self.pools.values() for entry in pool.entries),
            key=lambda pair: (pair[0].version, pair[0].first),
        )
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

    def holders(self, ip: str) -> list[Allocation]:
        """Every allocation and hold that uses ``ip`` (several only when shared)."""
        return [a for a in self.all_records() if ip in a.ips]

    def all_records(self) -> Iterator[Allocation]:
        yield from self.allocations.values()
        yield from self.holds.values()


# --------------------------------------------------------------------------- decoding


class _Problems:
    """Collects every validation problem instead of stopping at the first."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def check(self, ok: bool, message: str) -> bool:
        if not ok:
            self.add(message)
        return ok


def decode(text: str | None, source: str = "state") -> State:
    """Parse and validate a state document; ``None`` or empty text is the empty state."""
    if text is None or not text.strip():
        return State()
    try:
        raw = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidStateError(
            f"{source} is not valid YAML{where}",
            hint="fix it by hand or restore a backup; lbctl will not overwrite it",
        ) from exc
    if raw is None:
        return State()
    if not isinstance(raw, dict):
        raise _invalid(source, ["the document is not a mapping"])
    version = raw.get("schemaVersion")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _invalid(source, [f"schemaVersion must be a positive integer, not {version!r}"])
    if version > SCHEMA_VERSION:
        raise InvalidStateError(
            f"{source} has schemaVersion {version}; this lbctl understands up to {SCHEMA_VERSION}",
            hint="upgrade lbctl; it never overwrites a document it does not understand",
        )
    for step in range(version, SCHEMA_VERSION):
        raw = MIGRATIONS[step](raw)
    problems = _Problems()
    state = _build(raw, problems)
    problems.items.extend(validate(state))
    if problems.items:
        raise _invalid(source, problems.items)
    return state


def _invalid(source: str, problems: list[str]) -> InvalidStateError:
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    error = InvalidStateError(
        f"{source} is invalid: {problems[0]}{more}",
        hint="run `lbctl doctor` for the full list; lbctl will not overwrite an invalid document",
    )
    error.problems = problems  # type: ignore[attr-defined]
    return error


def problems_of(error: LbctlError) -> list[str]:
    """Every problem an :class:`InvalidStateError` from :func:`decode` found."""
    return list(getattr(error, "problems", [error.message]))


_TOP_FIELDS = {"schemaVersion", "pools", "allocations", "holds"}
_POOL_FIELDS = {
    "addresses", "autoAssign", "avoidBuggyIPs", "namespaces", "serviceSelectors", "priority",
    "reservations",
}
_ALLOC_FIELDS = {"ips", "pool", "sharingKey", "ports", "backend"}


def _unknown(raw: Mapping[str, Any], known: set[str], where: str, problems: _Problems) -> None:
    for key in sorted(set(raw) - known, key=str):
        problems.add(f"unknown field {key!r} in {where}")


def _mapping(value: Any, where: str, problems: _Problems) -> dict[Any, Any]:
    if value is None:
        return {}
    if problems.check(isinstance(value, dict), f"{where} must be a mapping"):
        return dict(value)
    return {}


def _strings(value: Any, where: str, problems: _Problems) -> tuple[str, ...]:
    if value is None:
        return ()
    if problems.check(
        isinstance(value, list) and all(isinstance(v, str) for v in value),
        f"{where} must be a list of strings",
    ):
        return tuple(value)
    return ()


def _build(raw: dict[str, Any], problems: _Problems) -> State:
    _unknown(raw, _TOP_FIELDS, "the document", problems)
    pools = {}
    for name, body in _mapping(raw.get("pools"), "pools", problems).items():
        where = f"pool {name}"
        body = _mapping(body, where, problems)
        _unknown(body, _POOL_FIELDS, where, problems)
        flags = {}
        for key in ("autoAssign", "avoidBuggyIPs"):
            value = body.get(key, key == "autoAssign")
            problems.check(isinstance(value, bool), f"{where}: {key} must be true or false")
            flags[key] = bool(value)
        priority = body.get("priority")
        problems.check(
            priority is None or (isinstance(priority, int) and not isinstance(priority, bool)),
            f"{where}: priority must be an integer",
        )
        reservations = {
            str(ip): "" if note is None else str(note)
            for ip, note in _mapping(body.get("reservations"), f"{where} reservations",
                                     problems).items()
        }
        pools[str(name)] = Pool(
            name=str(name),
            addresses=_strings(body.get("addresses"), f"{where}: addresses", problems),
            auto_assign=flags["autoAssign"],
            avoid_buggy_ips=flags["avoidBuggyIPs"],
            namespaces=_strings(body.get("namespaces"), f"{where}: namespaces", problems),
            service_selectors=_strings(
                body.get("serviceSelectors"), f"{where}: serviceSelectors", problems
            ),
            priority=priority if isinstance(priority, int) else None,
            reservations=reservations,
        )
    return State(
        pools=pools,
        allocations=_records(raw.get("allocations"), "allocations", problems),
        holds=_records(raw.get("holds"), "holds", problems),
    )


def _records(value: Any, section: str, problems: _Problems) -> dict[ServiceKey, Allocation]:
    records = {}
    for namespace, services in _mapping(value, section, problems).items():
        for name, body in _mapping(services, f"{section} {namespace}", problems).items():
            where = f"{section} {namespace}/{name}"
            body = _mapping(body, where, problems)
            _unknown(body, _ALLOC_FIELDS, where, problems)
            pool = body.get("pool")
            problems.check(isinstance(pool, str), f"{where}: pool must be a pool name")
            records[(str(namespace), str(name))] = Allocation(
                namespace=str(namespace),
                name=str(name),
                ips=_strings(body.get("ips"), f"{where}: ips", problems),
                pool=str(pool),
                sharing_key=str(body.get("sharingKey") or ""),
                ports=_strings(body.get("ports"), f"{where}: ports", problems),
                backend=str(body.get("backend") or ""),
            )
    return records


def validate(state: State) -> list[str]:
    """Every inconsistency in a state: bad pools, overlaps, allocations outside their pool,
    addresses held twice without valid sharing.  Empty when the state is sound."""
    from lbctl.core.sharing import conflict  # sharing depends on this module's types

    problems: list[str] = []
    valid_pools: dict[str, Pool] = {}
    for pool in state.pools.values():
        try:
            if not pool.entries:
                problems.append(f"pool {pool.name} has no addresses")
                continue
            for selector in pool.service_selectors:
                parse_selector(selector)
        except LbctlError as exc:
            problems.append(f"pool {pool.name}: {exc.message}")
            continue
        valid_pools[pool.name] = pool
    problems.extend(overlaps(valid_pools.values()))
    checked = State(pools=valid_pools)
    for pool in valid_pools.values():
        for ip in pool.reservations:
            problems.extend(_check_ip(checked, ip, pool.name, f"pool {pool.name} reservation"))
    users: dict[str, list[Allocation]] = {}
    for record in state.all_records():
        if not record.ips:
            problems.append(f"{record.ref} has no ips")
        families = [parse_ip(ip).version for ip in record.ips if _is_ip(ip)]
        if len(families) != len(set(families)):
            problems.append(f"{record.ref} has two addresses of one family")
        for ip in record.ips:
            found = _check_ip(checked, ip, record.pool, record.ref)
            problems.extend(found)
            if not found:
                users.setdefault(ip, []).append(record)
                reserved = state.pools[record.pool].reservations.get(ip)
                if reserved is not None:
                    problems.append(f"{record.ref} uses {ip}, which pool {record.pool} reserves")
    for ip, holders in sorted(users.items()):
        for i, first in enumerate(holders):
            for second in holders[i + 1 :]:
                why = conflict(first, second)
                if why:
                    problems.append(f"{ip} is held by {first.ref} and {second.ref}: {why}")
    return problems


def _is_ip(text: str) -> bool:
    try:
        parse_ip(text)
    except LbctlError:
        return False
    return True


def _check_ip(state: State, ip: str, pool: str, who: str) -> list[str]:
    if not _is_ip(ip):
        return [f"{who}: {ip!r} is not an IP address"]
    if str(parse_ip(ip)) != ip:
        return [f"{who}: {ip!r} is not in canonical form ({parse_ip(ip)})"]
    actual = state.pool_of(ip)
    if actual is None:
        return [f"{who}: {ip} is outside every pool"]
    if actual != pool:
        return [f"{who}: {ip} is in pool {actual}, not in pool {pool}"]
    return []


def overlaps(pools: Iterable[Pool]) -> list[str]:
    """Overlaps between entries of different pools (and within one pool), named precisely."""
    items = sorted(
        ((entry, pool.name) for pool in pools for entry in pool.entries),
        key=lambda pair: (pair[0].version, pair[0].first),
    )
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


# libyaml's C emitter and parser when PyYAML has them (about 10x faster on a large state); the
# pure-Python ones otherwise.  Both produce the same bytes for this document's shape.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    pass


def _represent_flow(dumper: yaml.SafeDumper, data: _Flow) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


_Dumper.add_representer(_Flow, _represent_flow)
_Dumper.add_representer(list, _represent_list)


def to_document(state: State) -> dict[str, Any]:
    """The state as plain data in its stable shape (also what ``-o json`` shows)."""
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
        if pool.reservations:
            body["reservations"] = _Flow(sorted(pool.reservations.items(), key=_ip_sort_key))
        pools[name] = body
    return {
        "schemaVersion": SCHEMA_VERSION,
        "pools": pools,
        "allocations": _encode_records(state.allocations),
        "holds": _encode_records(state.holds),
    }


def _ip_sort_key(item: tuple[str, str]) -> tuple[int, int]:
    addr = parse_ip(item[0])
    return (addr.version, addr.value)


def _encode_records(records: Mapping[ServiceKey, Allocation]) -> dict[str, Any]:
    out: dict[str, dict[str, Any]] = {}
    for (namespace, name) in sorted(records):
        record = records[(namespace, name)]
        body = _Flow(ips=list(record.ips), pool=record.pool)
        if record.sharing_key:
            body.update(sharingKey=record.sharing_key, ports=list(record.ports),
                        backend=record.backend)
        out.setdefault(namespace, {})[name] = body
    return out


def encode(state: State) -> str:
    """Deterministic YAML text of a state: same state, same bytes."""
    return yaml.dump(
        to_document(state), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=4096
    )
