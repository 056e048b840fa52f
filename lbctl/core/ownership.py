"""Layer 2 ownership: which node answers ARP/NDP for which address.

Every speaker, ``lbctl speaker status``, ``svc show`` and ``doctor --probe`` call :func:`owners`
with the same facts and so agree on one owner per address without talking to each other; there
is no election and nothing to store.  The rule (MetalLB's, made explicit):

* **What is announced**: an address the state records for a Service *and* the Service's
  ``status.loadBalancer.ingress`` shows (recorded and published), of a Service that has at
  least one ready or serving endpoint (EndpointSlices), in a pool announced by layer 2
  (``announce: layer2`` or ``both``; :mod:`lbctl.core.bgpannounce` takes the ``bgp`` ones
  through the same door).
* **Groups**: every address of a Service, and every Service sharing an address with it, go to
  the same node (a shared address cannot be answered from two places, and a dual-stack Service
  should not be split across nodes).  Services linked by shared addresses form one group.
* **Candidates** of a group: nodes with a live speaker (a fresh Lease), a Node object, neither
  labelled :data:`EXCLUDE_LABEL` nor ``NetworkUnavailable=True``; and for every announced
  Service of the group: admitted by its pool's ``nodeSelectors``, holding one of its pool's
  ``interfaces`` when the pool names some (:func:`interfaces_on`), hosting a ready endpoint when
  its ``externalTrafficPolicy`` is ``Local``, and not failing its health check there.
* **Interfaces**: a node's interfaces are those its speaker publishes on its Lease
  (``lbctl.io/macs``, :mod:`lbctl.core.speakers`: every interface it may answer from, the
  interfaces pools name included), so every reader judges from the same fact; a node whose
  speaker publishes none holds none.  The owner answers an address of such a pool on the
  pool's interfaces it has (:attr:`Group.interfaces`), other addresses on its own choice.
  MetalLB elects without looking at interfaces (a node without one then stays silent); lbctl
  leaves such a node out, so the address goes to a node that can answer.
* **Owner**: the candidate with the lowest SHA-256 of ``node#ip``, where ``ip`` is the group's
  key address: the first recorded address of each Service, the lowest of those when several
  Services share.  Adding or removing one node moves only the groups it wins or held.

Pure: no I/O and no clock.  Facts come in as plain values (:class:`NodeFacts`,
:class:`Candidate`), built from API objects by :func:`node_facts` and :func:`announced`.  Nothing
raises: a fact that cannot be read (a malformed health-check annotation) is reported in the
result instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lbctl.core import service as svc_core
from lbctl.core.addresses import parse_ip
from lbctl.core.bgp import BGP, LAYER2, announces_bgp, announces_layer2
from lbctl.core.nodes import node_addresses
from lbctl.core.state import ServiceKey, State

#: Nodes with this label never announce (the upstream label cloud load balancers honour).
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"

#: Per-Service health check a speaker runs on its own node: ``tcp`` or ``http:/path``.
HEALTH_CHECK_ANNOTATION = "lbctl.io/health-check"

#: Why a node is not a candidate (``speaker status``, ``svc show``), in the order checked.
NO_SPEAKER = "no live speaker"
NO_NODE = "no Node object"
EXCLUDED = f"labelled {EXCLUDE_LABEL}"
NETWORK_UNAVAILABLE = "NetworkUnavailable=True"
NOT_SELECTED = "not selected by the pool's nodeSelectors"
NO_INTERFACE = "none of the pool's interfaces here"
NO_LOCAL_ENDPOINT = "no ready endpoint here (externalTrafficPolicy Local)"
UNHEALTHY = "health check failing here"

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class NodeFacts:
    """What ownership needs to know about one Node."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    network_unavailable: bool = False

    def unfit(self) -> str:
        """Why this node may announce nothing at all, or ``""``."""
        if EXCLUDE_LABEL in self.labels:
            return EXCLUDED
        if self.network_unavailable:
            return NETWORK_UNAVAILABLE
        return ""


def node_facts(node: Obj) -> NodeFacts:
    """A Node object (API JSON) -> :class:`NodeFacts`."""
    meta = node.get("metadata") or {}
    conditions = (node.get("status") or {}).get("conditions") or []
    unavailable = any(
        c.get("type") == "NetworkUnavailable" and c.get("status") == "True"
        for c in conditions if isinstance(c, Mapping)
    )
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    return NodeFacts(str(meta.get("name") or ""), labels, unavailable)


@dataclass(frozen=True)
class HealthCheck:
    """``lbctl.io/health-check``: ``tcp`` (connect) or ``http:/path`` (GET, 2xx/3xx)."""

    kind: str  # "tcp" or "http"
    path: str = ""  # for "http"

    def __str__(self) -> str:
        return self.kind if self.kind == "tcp" else f"http:{self.path}"


def health_check(svc: Obj) -> HealthCheck | None:
    """The Service's health check, or None (none asked, or the annotation is malformed: a
    speaker never leaves the candidate set because of a typo; :func:`health_check_problem`
    says what is wrong)."""
    text = ((svc.get("metadata") or {}).get("annotations") or {}).get(HEALTH_CHECK_ANNOTATION)
    if not isinstance(text, str):
        return None
    text = text.strip()
    if text == "tcp":
        return HealthCheck("tcp")
    if text.startswith("http:/"):
        return HealthCheck("http", text[len("http:"):])
    return None


def health_check_problem(svc: Obj) -> str:
    """What is wrong with a malformed ``lbctl.io/health-check`` annotation, or ``""``."""
    text = ((svc.get("metadata") or {}).get("annotations") or {}).get(HEALTH_CHECK_ANNOTATION)
    if text is None or health_check(svc) is not None:
        return ""
    return (f"annotation {HEALTH_CHECK_ANNOTATION}={text!r} is neither 'tcp' nor 'http:/PATH'; "
            "it is ignored")


@dataclass(frozen=True)
class Candidate:
    """A Service whose addresses may be announced: recorded and published."""

    key: ServiceKey
    ips: tuple[str, ...]  # in recorded order: the first is the Service's key address
    pool: str
    local: bool  # externalTrafficPolicy: Local
    endpoints: frozenset[str]  # nodes with a ready or serving endpoint
    interfaces: tuple[str, ...] = ()  # the pool's interfaces; () the speakers' own choice


def announced(state: State, services: Iterable[Obj],
              endpoints: Mapping[ServiceKey, Collection[str]], *,
              mode: str = LAYER2) -> list[Candidate]:
    """The Services whose addresses are recorded in ``state`` and published in their status,
    with their endpoints' nodes (``endpoints``: :func:`lbctl.core.service.ready_nodes`), of
    the pools announced the ``mode`` way (``LAYER2`` or ``BGP`` of :mod:`lbctl.core.bgp`; a
    ``both`` pool is both).  A Service with no endpoint at all is left out: there is nothing
    to send its traffic to."""
    wanted = announces_bgp if mode == BGP else announces_layer2
    found = []
    for svc in services:
        if not svc_core.is_load_balancer(svc) or svc_core.is_foreign(svc):
            continue
        key = svc_core.key_of(svc)
        allocation = state.allocations.get(key)
        if allocation is None:
            continue
        pool = state.pools.get(allocation.pool)
        if not wanted(LAYER2 if pool is None else pool.announce):
            continue
        shown = set(svc_core.ingress_ips(svc))
        ips = tuple(ip for ip in allocation.ips if ip in shown)
        nodes = frozenset(endpoints.get(key, ()))
        if ips and nodes:
            found.append(Candidate(key, ips, allocation.pool,
                                   svc_core.traffic_policy(svc) == "Local", nodes,
                                   () if pool is None else pool.interfaces))
    return found


@dataclass(frozen=True)
class Group:
    """Addresses that go to one node, and who that is."""

    key_ip: str  # the address whose hash orders the nodes
    ips: tuple[str, ...]
    services: tuple[ServiceKey, ...]
    owner: str | None
    ranking: tuple[str, ...]  # every candidate, the owner first
    rejected: Mapping[str, str]  # node -> why it is not a candidate
    #: The owner's interfaces for each address whose pool names some (others: its own choice).
    interfaces: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        """Why nobody announces the group, or ``""`` when someone does."""
        if self.owner is not None:
            return ""
        if not self.rejected:
            return NO_SPEAKER
        reasons = sorted(set(self.rejected.values()))
        return "no eligible node: " + "; ".join(reasons)


class Ownership:
    """The result of :func:`owners`: every group, and lookups by address and by Service."""

    def __init__(self, groups: Iterable[Group]) -> None:
        self.groups = tuple(groups)
        self._by_ip = {ip: g for g in self.groups for ip in g.ips}
        self._by_service = {key: g for g in self.groups for key in g.services}

    def owner_of(self, ip: str) -> str | None:
        group = self._by_ip.get(ip)
        return None if group is None else group.owner

    def group_of_ip(self, ip: str) -> Group | None:
        return self._by_ip.get(ip)

    def group_of(self, key: ServiceKey) -> Group | None:
        return self._by_service.get(key)

    def owned_by(self, node: str) -> dict[str, Group]:
        """Every address ``node`` must answer for, with its group."""
        return {ip: g for g in self.groups if g.owner == node for ip in g.ips}


def interfaces_on(wanted: Iterable[str], present: Collection[str]) -> tuple[str, ...]:
    """The interfaces of a pool's list (``wanted``) that a node has (``present``): where that
    node answers the pool's addresses; none left, and the node may not own them."""
    return tuple(name for name in wanted if name in present)


def score(node: str, ip: str) -> bytes:
    """The SHA-256 of ``node#ip``: the lowest wins."""
    return hashlib.sha256(f"{node}#{ip}".encode()).digest()


def _ip_order(ip: str) -> tuple[int, int]:
    addr = parse_ip(ip)
    return (addr.version, addr.value)


def _groups(candidates: Iterable[Candidate]) -> list[list[Candidate]]:
    """Services linked by shared addresses (union-find over addresses), in a stable order."""
    parent: dict[ServiceKey, ServiceKey] = {}
    by_key: dict[ServiceKey, Candidate] = {}

    def find(key: ServiceKey) -> ServiceKey:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    first_holder: dict[str, ServiceKey] = {}
    for candidate in candidates:
        by_key[candidate.key] = candidate
        parent.setdefault(candidate.key, candidate.key)
        for ip in candidate.ips:
            other = first_holder.setdefault(ip, candidate.key)
            a, b = find(other), find(candidate.key)
            if a != b:
                parent[max(a, b)] = min(a, b)
    members: dict[ServiceKey, list[Candidate]] = {}
    for key in sorted(by_key):
        members.setdefault(find(key), []).append(by_key[key])
    return list(members.values())


def owners(
    candidates: Iterable[Candidate],
    nodes: Mapping[str, NodeFacts],
    live: Collection[str],
    node_selected: Mapping[str, Any] | None = None,
    unhealthy: Mapping[ServiceKey, Collection[str]] | None = None,
    interfaces: Mapping[str, Collection[str]] | None = None,
) -> Ownership:
    """Decide the owner of every announced address.

    ``candidates``: from :func:`announced`.  ``nodes``: Node facts by name.  ``live``: names of
    nodes whose speaker holds a fresh Lease.  ``node_selected``: pool name -> an object with
    ``admits_node(labels)`` (the state's :class:`~lbctl.core.state.Pool`); a pool missing here
    admits every node.  ``unhealthy``: per Service, the nodes where its health check fails.
    ``interfaces``: per node, the interfaces its speaker publishes (a node missing here has
    none: it owns no address of a pool that names interfaces).
    """
    pools = node_selected or {}
    failing = unhealthy or {}
    present = interfaces or {}
    speakers = sorted(set(live))
    groups = []
    for members in _groups(candidates):
        key_ip = min((m.ips[0] for m in members), key=_ip_order)
        ips = tuple(dict.fromkeys(ip for m in members for ip in m.ips))
        rejected: dict[str, str] = {}
        chosen = []
        for name in speakers:
            why = _why_not(name, members, nodes, pools, failing, present.get(name, ()))
            if why:
                rejected[name] = why
            else:
                chosen.append(name)
        ranking = tuple(sorted(chosen, key=lambda n: score(n, key_ip)))
        owner = ranking[0] if ranking else None
        groups.append(Group(
            key_ip=key_ip,
            ips=ips,
            services=tuple(m.key for m in members),
            owner=owner,
            ranking=ranking,
            rejected=rejected,
            interfaces={} if owner is None else {
                ip: interfaces_on(m.interfaces, present.get(owner, ()))
                for m in members if m.interfaces for ip in m.ips},
        ))
    return Ownership(tuple(groups))


def _why_not(name: str, members: list[Candidate], nodes: Mapping[str, NodeFacts],
             pools: Mapping[str, Any], failing: Mapping[ServiceKey, Collection[str]],
             present: Collection[str]) -> str:
    facts = nodes.get(name)
    if facts is None:
        return NO_NODE
    unfit = facts.unfit()
    if unfit:
        return unfit
    for member in members:
        pool = pools.get(member.pool)
        if pool is not None and not pool.admits_node(facts.labels):
            return NOT_SELECTED
        if member.interfaces and not interfaces_on(member.interfaces, present):
            return NO_INTERFACE
        if member.local and name not in member.endpoints:
            return NO_LOCAL_ENDPOINT
        if name in failing.get(member.key, ()):
            return UNHEALTHY
    return ""


def node_address(node: Obj) -> str | None:
    """Where a node's NodePorts answer: its first ``InternalIP``, else its first
    ``ExternalIP``."""
    return next(iter(node_addresses(node)), None)
