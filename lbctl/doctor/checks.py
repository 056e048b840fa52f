"""Every doctor check: a pure function from :class:`~lbctl.doctor.facts.Facts` to findings.

Each :class:`Check` has a stable ID (``group.name``; docs/doctor.md explains each one and how to
fix what it finds) and judges one thing.  The judging itself belongs to the core, never to this
module: the state document is decoded and validated by :func:`lbctl.core.state.decode`, pool
usage comes from :func:`lbctl.core.used.usage`, why a Service stays pending from the
:class:`~lbctl.core.allocator.Allocator`, a Service's request and condition from
:mod:`lbctl.core.service`, sharing from :func:`lbctl.core.sharing.conflict`, strictARP from
:mod:`lbctl.core.kubeproxy`, other implementations from :mod:`lbctl.doctor.others`.  This module
only sorts those answers into findings with a message, a hint and the objects involved.

A check whose facts are :class:`~lbctl.doctor.facts.Absent` is skipped with the reason.  An
:class:`~lbctl.errors.LbctlError` inside one check becomes an error finding of that check; the
other checks still run.  Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from lbctl.core import calico, holds, kubeproxy, leases, lost, speakers
from lbctl.core import service as svc_core
from lbctl.core.addresses import count_buggy, is_buggy, parse_ip
from lbctl.core.allocator import EXHAUSTED, Allocated, AllocationError, Granted, allocate_many
from lbctl.core.bgp import announces_bgp, announces_layer2
from lbctl.core.names import CONTROLLER, CONTROLLER_LEASE, SYSTEM_NAMESPACE
from lbctl.core.pinning import differs
from lbctl.core.pools import CLUSTER_IP, NODE_ADDRESS, POD_CIDR, Overlap, cluster_overlaps
from lbctl.core.probe import judge
from lbctl.core.sharing import conflicts
from lbctl.core.state import Allocation, Problem, ServiceKey, State, decode, problems_of
from lbctl.core.used import usage
from lbctl.doctor.facts import Absent, Facts, Known, ProbeFailed
from lbctl.doctor.others import IMPLEMENTATIONS, Implementation, evidence
from lbctl.doctor.report import CheckResult, Finding, Severity
from lbctl.errors import LbctlError, UsageError
from lbctl.nodeports import Probed
from lbctl.ports import Obj

T = TypeVar("T")

#: Utilisation at or above which a pool gets a warning.
FULL_WARNING = 0.9


class _Skip(Exception):
    """Raised by :meth:`Context.need`: the check cannot run; the message says why."""


@dataclass(frozen=True)
class _Sharer:
    """A Service as :func:`lbctl.core.sharing.conflict` sees it."""

    ref: str
    sharing_key: str
    ports: tuple[str, ...]
    backend: str


def _ok(message: str) -> list[Finding]:
    return [Finding("pass", message)]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 'es' if word.endswith('s') else 's'}"


def _svc_object(key: ServiceKey) -> str:
    return f"service/{key[0]}/{key[1]}"


def _assign_hint(key: ServiceKey) -> str:
    return f"lbctl assign svc {key[1]} -n {key[0]}"


# --------------------------------------------------------------------------- the state document

class Context:
    """The facts, and what the core derives from them once per run (the decoded state, the
    Services that are lbctl's, the allocator's answer for each pending Service)."""

    def __init__(self, facts: Facts) -> None:
        self.facts = facts

    def need(self, fact: Known[T]) -> T:
        if isinstance(fact, Absent):
            raise _Skip(fact.reason)
        return fact

    # ------------------------------------------------------------------ the state

    @cached_property
    def _decoded(self) -> tuple[State | None, list[Problem]]:
        """The state (None unless it is sound), and every problem with the document."""
        text = self.need(self.facts.state)
        if text.problem:  # not even text: state.parse reports it
            return None, []
        try:
            return decode(text.text, text.source), []
        except LbctlError as exc:
            return None, problems_of(exc)

    @property
    def state_problems(self) -> list[Problem]:
        return self._decoded[1]

    @property
    def state(self) -> State:
        """The decoded state; checks that need it skip when it cannot be trusted."""
        text = self.need(self.facts.state)
        state = self._decoded[0]
        if state is None:
            raise _Skip("the state document cannot be read (see state.parse)" if text.problem
                        else "the state document is invalid (see the state.* checks)")
        return state

    def recorded(self, key: ServiceKey) -> Allocation | None:
        """The Service's allocation, when the state can be read (None otherwise)."""
        try:
            return self.state.allocation(*key)
        except _Skip:
            return None

    # ------------------------------------------------------------------ Services

    @property
    def services(self) -> list[Obj]:
        return self.need(self.facts.services)

    @cached_property
    def by_key(self) -> dict[ServiceKey, Obj]:
        return {svc_core.key_of(svc): svc for svc in self.services}

    @cached_property
    def ours(self) -> list[tuple[ServiceKey, Obj]]:
        """lbctl's Services (type LoadBalancer, no other class), sorted."""
        return sorted((key, svc) for key, svc in self.by_key.items() if svc_core.is_ours(svc))

    def condition(self, key: ServiceKey, svc: Obj) -> svc_core.Condition:
        return svc_core.condition(svc, self.state.allocation(*key))

    @cached_property
    def prediction(self) -> Allocated:
        """What ``lbctl assign --all -A`` would do: the same Services, the same order, the same
        used addresses, the same holds (those that ended when the facts were read are free),
        the same allocator (a test holds doctor to it)."""
        read_at = self.facts.read_at
        state = self.state if read_at is None else holds.live(self.state, read_at)
        return allocate_many(state, svc_core.requests(svc_core.to_assign(self.services)),
                             published=svc_core.published(self.services))

    @cached_property
    def pending(self) -> tuple[dict[ServiceKey, Allocation | LbctlError], State]:
        """What the allocator gives each pending Service (no allocation in the state yet), in
        order, as ``lbctl assign --all`` would; and the state after it."""
        done = self.prediction
        answers = {key: answer.allocation if isinstance(answer, Granted) else answer
                   for key, answer in done.answers.items()
                   if self.state.allocation(*key) is None}
        return answers, done.state


Run = Callable[[Context], list[Finding]]


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    run: Run


def _state_check(check: str, title: str) -> Run:
    def run(ctx: Context) -> list[Finding]:
        text = ctx.need(ctx.facts.state)
        if text.problem:  # not even text
            if check != "state.parse":
                raise _Skip("the state document cannot be read (see state.parse)")
            mine = [text.problem]
        else:
            problems = ctx.state_problems
            if text.text is None and not problems:
                return _ok(f"{text.source}: no state document yet (no pools, no allocations)")
            mine = [p.message for p in problems if f"state.{p.kind}" == check]
            if not mine and any(p.fatal for p in problems):
                raise _Skip("the state document cannot be read (see state.parse and "
                            "state.schema)")
        if not mine:
            return _ok(f"{text.source}: {title}")
        return [Finding("error", p if p.startswith(text.source) else f"{text.source}: {p}",
                        _STATE_HINTS[check]) for p in mine]

    return run


_STATE_HINTS = {
    "state.parse": "fix the document by hand or restore a backup; lbctl never overwrites a "
                   "document it cannot read",
    "state.schema": "upgrade lbctl: it reads only the schema versions it knows, and never "
                    "overwrites a newer document",
    "state.pool-overlap": "move the shared addresses out of one of the pools",
    "state.shared-ip": "release one of the Services (lbctl release svc NAME -n NS), or give "
                       "both the same sharing key, distinct ports and the same traffic policy",
    "state.outside-pool": "put the address back into its pool, or release the Service",
    "state.consistency": "correct the entry by hand; lbctl refuses to change the document "
                         "until it is sound",
}


def check_state_missing(ctx: Context) -> list[Finding]:
    """:mod:`lbctl.core.lost`: no state document, while Services of lbctl's show addresses."""
    text = ctx.need(ctx.facts.state)
    if text.text is not None or text.problem:
        return _ok(f"{text.source}: the state document exists")
    nodes = ctx.facts.nodes
    found = lost.stranded(ctx.services, nodes=[] if isinstance(nodes, Absent) else nodes)
    if not found:
        return _ok(f"{text.source}: no state document yet, and no Service shows an address "
                   "it should record")
    error = lost.missing(text.source, found)
    return [Finding("error", error.message, error.hint,
                    tuple(_svc_object(s.key) for s in found))]


# --------------------------------------------------------------------------- pools


def _pool_of(state: State, ip: str) -> str | None:
    try:
        return state.pool_of(ip)
    except LbctlError:  # not an address at all: it is in no pool
        return None


def _overlaps(ctx: Context, kind: str) -> list[Overlap]:
    """The one rule ``pool add`` also applies (:func:`lbctl.core.pools.cluster_overlaps`)."""
    nodes = ctx.need(ctx.facts.nodes) if kind != CLUSTER_IP else []
    services = ctx.services if kind == CLUSTER_IP else []
    return [o for o in cluster_overlaps(ctx.state.pools.values(), nodes, services)
            if o.kind == kind]


def check_node_overlap(ctx: Context) -> list[Finding]:
    nodes = ctx.need(ctx.facts.nodes)
    findings = [Finding(
        "error", o.message,
        f"take it out of the pool, or keep lbctl from handing it out: lbctl pool "
        f"reserve {o.pool}{ctx.facts.state_option} {o.address} --note 'node {o.owner}'",
        o.objects)
        for o in _overlaps(ctx, NODE_ADDRESS)]
    return findings or _ok(f"no pool contains an address of the {_plural(len(nodes), 'node')}")


def check_pod_cidr_overlap(ctx: Context) -> list[Finding]:
    findings = [Finding(
        "error", o.message, "pool addresses must not be pod addresses: move the pool to a free "
                            "range of the node network", o.objects)
        for o in _overlaps(ctx, POD_CIDR)]
    return findings or _ok("no pool overlaps a pod CIDR")


def check_cluster_ip_overlap(ctx: Context) -> list[Finding]:
    findings = [Finding(
        "error", o.message, "the pool overlaps the Service CIDR: take those addresses out of "
                            "the pool", o.objects)
        for o in _overlaps(ctx, CLUSTER_IP)]
    return findings or _ok(f"no pool contains a ClusterIP of the "
                           f"{_plural(len(ctx.services), 'Service')}")


def check_buggy_ips(ctx: Context) -> list[Finding]:
    state = ctx.state
    findings = []
    for pool in sorted(state.pools.values(), key=lambda p: p.name):
        if pool.avoid_buggy_ips:
            continue
        reserved = [parse_ip(ip) for ip in pool.reservations]
        for entry in pool.entries:
            count = count_buggy(entry.version, entry.first, entry.last) - sum(
                1 for addr in reserved if addr in entry and is_buggy(addr.version, addr.value))
            if count:
                findings.append(Finding(
                    "warning", f"pool {pool.name} entry {entry.text} holds "
                               f"{_plural(count, 'address')} ending in .0 or .255, which some "
                               "clients and routers drop as network or broadcast addresses",
                    f"turn on avoidBuggyIPs: lbctl pool set {pool.name}"
                    f"{ctx.facts.state_option} --avoid-buggy-ips (or start and end the range "
                    "inside the subnet)",
                    (f"pool/{pool.name}",)))
    return findings or _ok("no pool hands out addresses ending in .0 or .255")


def check_utilisation(ctx: Context) -> list[Finding]:
    findings = []
    for name, families in usage(ctx.state).items():
        for family in families:
            if family.capacity and family.used / family.capacity >= FULL_WARNING:
                percent = family.used * 100 // family.capacity
                findings.append(Finding(
                    "warning", f"pool {name} is {percent}% used: {family.used} of "
                               f"{family.capacity} {family.family} addresses allocated, held or "
                               "reserved",
                    f"add addresses (lbctl pool set {name}{ctx.facts.state_option} --add "
                    "ADDRESS) or release unused ones",
                    (f"pool/{name}",)))
    return findings or _ok(f"every pool is less than {int(FULL_WARNING * 100)}% used")


def check_exhausted(ctx: Context) -> list[Finding]:
    answers, after = ctx.pending
    starved = [key for key, answer in answers.items()
               if isinstance(answer, AllocationError) and answer.reason == EXHAUSTED]
    findings = []
    for name, families in usage(after).items():
        full = [f.family for f in families if f.capacity and not f.free]
        pool = after.pools[name]
        waiting = [key for key in starved
                   if pool.admits(key[0], (ctx.by_key[key].get("metadata") or {}).get("labels")
                                  or {})]
        if full and waiting:
            findings.append(Finding(
                "error", f"pool {name} has too few free {'/'.join(full)} addresses: "
                         f"{_plural(len(waiting), 'pending Service')} it serves would get none: "
                         + ", ".join(f"{k[0]}/{k[1]}" for k in waiting),
                f"add addresses to the pool (lbctl pool set {name}{ctx.facts.state_option} "
                "--add ADDRESS) or release unused ones",
                (f"pool/{name}", *(_svc_object(k) for k in waiting))))
    return findings or _ok("no Service is pending for lack of addresses")


# --------------------------------------------------------------------------- Services


def check_pending(ctx: Context) -> list[Finding]:
    answers, _ = ctx.pending
    findings = []
    for key, answer in answers.items():
        who = f"service {key[0]}/{key[1]}"
        if isinstance(answer, Allocation):
            findings.append(Finding(
                "warning", f"{who} is pending; the allocator would give it "
                           f"{', '.join(answer.ips)} from pool {answer.pool}",
                f"pin it: {ctx.facts.assign_command} --in-place" if ctx.facts.assign_command
                else f"assign it: {_assign_hint(key)} (or lbctl assign --all -A)",
                (_svc_object(key), f"pool/{answer.pool}")))
        else:
            why = (f"{answer.reason}: {answer.message}" if isinstance(answer, AllocationError)
                   else answer.message)
            findings.append(Finding("error", f"{who} is pending: {why}", answer.hint,
                                    (_svc_object(key),)))
    return findings or _ok(f"no LoadBalancer Service is pending "
                           f"({_plural(len(ctx.ours), 'Service')} checked)")


def check_drift(ctx: Context) -> list[Finding]:
    findings = []
    for key, svc in ctx.ours:
        found = ctx.condition(key, svc)
        if found.state != svc_core.DRIFT:
            continue
        who = f"service {key[0]}/{key[1]}"
        if found.drift == svc_core.UNPUBLISHED and "status" not in svc:
            continue  # a manifest without a status says nothing about what is published
        if found.drift == svc_core.UNPUBLISHED:
            findings.append(Finding("warning", f"{who}: {found.detail}",
                                    f"publish it: {_assign_hint(key)}", (_svc_object(key),)))
        elif found.drift == svc_core.UNRECORDED:
            findings.append(Finding(
                "error", f"{who}: {found.detail}",
                "if another controller set the status, see the impl.* checks; otherwise "
                f"record what it shows: lbctl adopt svc {key[1]} -n {key[0]} (or withdraw "
                f"it: lbctl release svc {key[1]} -n {key[0]} --force)",
                (_svc_object(key),)))
        else:
            findings.append(Finding(
                "error", f"{who}: {found.detail}",
                "if another controller set the status, see the impl.* checks; otherwise "
                f"withdraw both and assign again: lbctl release svc {key[1]} -n {key[0]} "
                f"--force && {_assign_hint(key)}",
                (_svc_object(key),)))
    return findings or _ok("every LoadBalancer Service shows what the state records")


def check_orphans(ctx: Context) -> list[Finding]:
    state = ctx.state
    findings = []
    offline = ctx.facts.assign_command
    for orphan in svc_core.orphans(state.allocations.values(), ctx.by_key):
        record = orphan.allocation
        findings.append(Finding(
            "warning", f"the state allocates {', '.join(record.ips)} (pool {record.pool}) to "
                       f"service {record.ref}, which "
                       + ("is not in the manifests" if offline and record.key not in ctx.by_key
                          else orphan.detail),
            f"forget the Services no longer in the manifests: {offline} --prune" if offline
            else f"lbctl reconcile frees it (or: lbctl release svc {record.name} -n "
                 f"{record.namespace})", (_svc_object(record.key), f"pool/{record.pool}")))
    return findings or _ok(f"every allocation belongs to a Service "
                           f"({_plural(len(state.allocations), 'allocation')})")


def check_pinned(ctx: Context) -> list[Finding]:
    """A Service (a manifest, offline) asks for addresses or a pool other than what the state
    records: the rule assign -f follows to move the allocation (:mod:`lbctl.core.pinning`)."""
    findings = []
    for key, svc in ctx.ours:
        recorded = ctx.state.allocation(*key)
        try:
            request = svc_core.request(svc)
        except LbctlError:
            continue  # svc.requested-ip reports a malformed request
        if recorded is None or not differs(recorded, request):
            continue
        asked = ", ".join(request.ips) or f"pool {request.pool}"
        hint = (f"move it: {ctx.facts.assign_command} --in-place (or put "
                f"{', '.join(recorded.ips)} back in the manifest)" if ctx.facts.assign_command
                else f"move it: lbctl release svc {key[1]} -n {key[0]} && lbctl assign svc "
                     f"{key[1]} -n {key[0]}")
        findings.append(Finding(
            "error", f"service {key[0]}/{key[1]} asks for {asked}, but the state records "
                     f"{', '.join(recorded.ips)} (pool {recorded.pool}) for it", hint,
            (_svc_object(key), f"pool/{recorded.pool}")))
    return findings or _ok("every Service asks for what the state records for it")


def check_outside_pools(ctx: Context) -> list[Finding]:
    state = ctx.state
    findings = []
    for key, svc in ctx.ours:
        for ip in svc_core.ingress_ips(svc):
            if _pool_of(state, ip) is None:
                findings.append(Finding(
                    "warning", f"service {key[0]}/{key[1]} shows {ip}, which is in no pool",
                    "add the address to a pool and record it, or clear the Service's status "
                    f"(lbctl release svc {key[1]} -n {key[0]})",
                    (_svc_object(key),)))
    return findings or _ok("every published address lies in a pool")


def check_shared_ip(ctx: Context) -> list[Finding]:
    holders: dict[str, list[tuple[ServiceKey, Obj]]] = {}
    for key, svc in sorted(ctx.by_key.items()):
        if svc_core.is_load_balancer(svc):
            for ip in svc_core.ingress_ips(svc):
                holders.setdefault(ip, []).append((key, svc))
    findings = []
    for ip, users in sorted(holders.items()):
        sharers = [_Sharer(f"{k[0]}/{k[1]}", svc_core.sharing_key(s), svc_core.ports(s),
                           svc_core.backend(s)) for k, s in users]
        for first, second, why in conflicts(sharers):
            findings.append(Finding(
                "error", f"{ip} is shown by services {first.ref} and {second.ref}, "
                         f"which may not share it: {why}",
                "move one of them to another address; to share on purpose, give both "
                "the annotation metallb.io/allow-shared-ip with one key",
                (f"service/{first.ref}", f"service/{second.ref}")))
    return findings or _ok("no address is shown by two Services that may not share it")


def check_requested_ip(ctx: Context) -> list[Finding]:
    state = ctx.state
    findings = []
    for key, svc in ctx.ours:
        who = f"service {key[0]}/{key[1]}"
        try:
            asked = svc_core.asked(svc)
        except UsageError as exc:
            findings.append(Finding("error", exc.message, exc.hint, (_svc_object(key),)))
            continue
        for ip in asked.ips:
            if _pool_of(state, ip) is None:
                findings.append(Finding(
                    "error", f"{who} asks for {ip} ({asked.source}), which is in no pool",
                    f"ask for an address of a pool (lbctl pool list{ctx.facts.state_option}),"
                    " or add it to one",
                    (_svc_object(key),)))
    return findings or _ok("every requested address lies in a pool")


def check_local_endpoints(ctx: Context) -> list[Finding]:
    ready = svc_core.ready_nodes(ctx.need(ctx.facts.endpoint_slices))
    findings = []
    local = 0
    for key, svc in ctx.ours:
        if svc_core.traffic_policy(svc) != "Local":
            continue
        local += 1
        allocation = ctx.recorded(key)
        ips = svc_core.ingress_ips(svc) or (allocation.ips if allocation else ())
        if ips and not ready.get(key):
            findings.append(Finding(
                "warning", f"service {key[0]}/{key[1]} has externalTrafficPolicy: Local and no "
                           f"ready endpoint, so no node may announce {', '.join(ips)}",
                f"check its pods (kubectl -n {key[0]} get endpointslices -l "
                f"kubernetes.io/service-name={key[1]}), or use externalTrafficPolicy: Cluster",
                (_svc_object(key),)))
    return findings or _ok(f"every addressed externalTrafficPolicy: Local Service has a ready "
                           f"endpoint ({_plural(local, 'such Service')})")


def check_deprecated_annotations(ctx: Context) -> list[Finding]:
    current, old = svc_core.PREFIXES
    findings = []
    for key, svc in ctx.ours:
        annotations = (svc.get("metadata") or {}).get("annotations") or {}
        for name in sorted(a for a in annotations if a.startswith(old)):
            findings.append(Finding(
                "info", f"service {key[0]}/{key[1]} uses the deprecated annotation {name}",
                f"rename it to {current}{name[len(old):]} (lbctl reads both; MetalLB deprecated "
                "the old prefix)",
                (_svc_object(key),)))
    return findings or _ok(f"no Service uses a {old} annotation")


# --------------------------------------------------------------------------- kube-proxy


def _yaml_value(value: kubeproxy.Scalar) -> str:
    """A value as it reads in YAML: ``false``, ``"false"``, unset."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, str) else str(value)


def check_strict_arp(ctx: Context) -> list[Finding]:
    found = ctx.need(ctx.facts.kube_proxy)
    if found is not None:
        try:
            config = kubeproxy.read_config(found.text, found.source)
        except LbctlError as exc:
            return [Finding("error", f"cannot read kube-proxy's configuration: {exc.message}",
                            exc.hint)]  # every reading error has its hint
        if config.requires_strict_arp and not config.strict:
            now = _yaml_value(config.strict_arp)
            return [Finding(
                "error", f"{found.source}: kube-proxy runs in IPVS mode without "
                         f"ipvs.strictARP: true (it is {now}), so every node answers ARP for "
                         "every LoadBalancer address",
                "lbctl kube-proxy diff shows the change; lbctl kube-proxy apply --restart "
                "makes it", ("configmap/kube-system/kube-proxy",))]
        mode = config.mode or "iptables (the default)"
        need = "strictARP is set" if config.requires_strict_arp else "strictARP is not needed"
        return _ok(f"{found.source}: mode {mode}; {need}")
    embedded = kubeproxy.detect_embedded(ctx.need(ctx.facts.nodes),
                                         ctx.need(ctx.facts.system_pods))
    if embedded is None:
        raise _Skip("no kube-proxy ConfigMap kube-system/kube-proxy (kube-proxy may be "
                    "replaced by the CNI, or configured on each node)")
    error = embedded.error()
    missing = [n for n in embedded.nodes if not n.ok]
    if missing:
        return [Finding("error", f"{error.message}; in IPVS mode without ipvs-strict-arp: "
                                 + ", ".join(n.node for n in missing), error.hint,
                        tuple(f"node/{n.node}" for n in missing))]
    if embedded.unread:
        return [Finding("warning", error.message, error.hint,
                        tuple(f"node/{n}" for n in embedded.unread))]
    return _ok(embedded.summary() + ": strictARP is set or not needed on every node")


# --------------------------------------------------------------------------- other implementations


def _listed(ctx: Context, fact: Known[list[Obj]]) -> list[Obj]:
    """Offline, a kind no file holds is simply not there; live, it could not be read."""
    if isinstance(fact, Absent) and ctx.facts.mode == "offline":
        return []
    return ctx.need(fact)


def _implementation_check(impl: Implementation) -> Run:
    def run(ctx: Context) -> list[Finding]:
        facts = ctx.facts
        sources: dict[str, Known[list[Obj]]] = {"workloads": facts.workloads}
        if impl.configmaps or impl.disabled_by:
            sources["configmaps"] = facts.configmaps
        if impl.groups:
            sources["custom"] = facts.custom
        if impl.node_labels:
            sources["nodes"] = facts.nodes
        read = {name: _listed(ctx, fact) for name, fact in sources.items()}
        found = evidence(impl, workloads=read["workloads"], configmaps=read.get("configmaps", []),
                         custom=read.get("custom", []), nodes=read.get("nodes", []))
        offline = facts.mode == "offline"
        if not found.found:
            where = "among the files" if offline else "in the cluster"
            return _ok(f"no trace of {impl.name} {where}")
        traces = "; ".join(found.all())
        objects = tuple(found.all())
        if found.disabled:
            return [Finding("pass", f"{impl.name} is installed but switched off: "
                                    f"{found.disabled}", "", objects)]
        if impl.dormant_without_resources and not found.resources:
            return [Finding("info", f"{impl.name} is installed ({traces}) but dormant: it "
                                    "assigns addresses once one of its pools exists",
                            impl.hint, objects)]
        where = "appears among the files" if offline else "runs in the cluster"
        return [Finding("warning", f"{impl.name} {where}: {traces}; it would fight lbctl over "
                                   "the same LoadBalancer Services", impl.hint, objects)]

    return run


# --------------------------------------------------------------------------- permissions


def check_permissions(ctx: Context) -> list[Finding]:
    answers = ctx.need(ctx.facts.permissions)
    findings = [
        Finding("warning", f"this identity may not {p.describe()}: lbctl needs it only where "
                           f"{p.namespace} exists (another load balancer's namespace), to "
                           f"{p.why} ({', '.join(p.commands)})",
                "where it exists, grant it with lbctl rbac --metallb")
        if p.optional else
        Finding("error", f"this identity may not {p.describe()}: lbctl needs it to {p.why} "
                         f"({', '.join(p.commands)})",
                "grant it (lbctl's RBAC manifests hold every permission lbctl uses), or run "
                "lbctl as an identity that has it")
        for p, allowed in answers if not allowed
    ]
    return findings or _ok(f"this identity holds all {len(answers)} permissions lbctl uses")


# --------------------------------------------------------------------------- the controller


def check_controller(ctx: Context) -> list[Finding]:
    """A controller that is installed runs and leads; one that led stopped renewing."""
    lease = ctx.need(ctx.facts.controller_lease)
    now = ctx.facts.read_at
    if now is None:
        raise _Skip("no time of reading")
    workloads = ctx.facts.workloads
    installed = [] if isinstance(workloads, Absent) else [
        w for w in workloads if w.get("kind") == "Deployment"
        and (w.get("metadata") or {}).get("name") == CONTROLLER]
    where = f"Lease {SYSTEM_NAMESPACE}/{CONTROLLER_LEASE}"
    objects = tuple(f"deployment/{(w.get('metadata') or {}).get('namespace')}/{CONTROLLER}"
                    for w in installed)
    hint = ("kubectl get pods -A -l app.kubernetes.io/name=lbctl-controller; "
            "lbctl controller status")
    if lease is None:
        if installed:
            return [Finding("error", f"the {CONTROLLER} Deployment is installed but no replica "
                                     f"has ever held the {where}: the controller is not running",
                            hint, objects)]
        return [Finding("info", "no lbctl controller runs: Services get addresses only from "
                                "lbctl assign and reconcile",
                        "lbctl install prints the manifests that run one")]
    record = leases.record_of(lease)
    if leases.is_fresh(record, now, skew=2.0):
        return _ok(f"controller {record.holder} leads ({where}, renewed "
                   f"{svc_core.age(record.renewed, now)} ago)")
    if not record.holder and not installed and not isinstance(workloads, Absent):
        return [Finding("info", f"no lbctl controller runs (the last one gave up the {where} "
                                f"{svc_core.age(record.renewed, now)} ago)",
                        "lbctl install prints the manifests that run one")]
    why = ("the last leader gave the Lease up" if not record.holder else
           f"{record.holder} stopped renewing it {svc_core.age(record.renewed, now)} ago")
    return [Finding("error", f"no lbctl controller leads: {why} ({where}); new Services stay "
                             "pending", hint, objects)]


# --------------------------------------------------------------------------- BGP and Calico

_CALICO_WAY_OUT = ("let Calico announce lbctl's pools over its own sessions: lbctl pool export "
                   "--format calico | calicoctl apply -f -")


def check_unheard(ctx: Context) -> list[Finding]:
    state = ctx.state
    routed = sorted(name for name, pool in state.pools.items() if announces_bgp(pool.announce))
    if not routed:
        return _ok("no pool is announced over BGP")
    unheard = state.unheard(routed)
    # Calico's nodes announce the families whose entries its serviceLoadBalancerIPs cover
    # (the way out bgp.calico-peers suggests): those reach its routers.
    facts = ctx.facts.calico
    config = None if isinstance(facts, Absent) else calico.configuration(facts)
    if unheard and calico.announced(config):
        pools = [state.pools[name] for name in unheard]
        missing = {pool.name: {e.version for e in pool.entries if e.text in entries}
                   for pool, entries in calico.uncovered(pools, config)}
        unheard = {name: kept for name, families in unheard.items()
                   if (kept := [v for v in families if v in missing.get(name, ())])}
    findings = []
    for name, families in unheard.items():
        pool = state.pools[name]
        both = announces_layer2(pool.announce)
        if pool.bgp.peers and any(parse_ip(p.address).version in families
                                  for p in state.peers.values()):
            hint = (f"its advertisement names only {', '.join(pool.bgp.peers)}: lbctl pool set "
                    f"{name}{ctx.facts.state_option} --all-bgp-peers (or --bgp-peer PEER for a "
                    "peer of that family)")
        else:
            hint = (f"add a BGP peer of that family: lbctl bgp peer add NAME"
                    f"{ctx.facts.state_option} --address A --asn N --my-asn M")
        findings.append(Finding(
            "warning" if both else "error",
            f"pool {name} is announced over BGP, but no BGP peer is sent its "
            f"{' and '.join(f'IPv{v}' for v in families)} addresses: no router learns a route "
            "to them, so Services that get them are "
            + ("reachable only from the nodes' own segment (ARP/NDP)" if both else
               "unreachable"),
            hint, (f"pool/{name}",)))
    return findings or _ok(f"the addresses of each pool announced over BGP are sent to a router "
                           f"({_plural(len(routed), 'pool')})")


def check_calico_peers(ctx: Context) -> list[Finding]:
    objects = ctx.need(ctx.facts.calico)
    state = ctx.state
    if not state.peers:
        return _ok("lbctl has no BGP peers")
    findings = [Finding(
        "error", c.message,
        f"{_CALICO_WAY_OUT}, then lbctl bgp peer remove {c.peer.name}; or peer lbctl's "
        "speakers with another router address",
        (f"bgppeer/{c.peer.name}", f"bgppeer.crd.projectcalico.org/{c.calico.name}"))
        for c in calico.conflicts(state, objects)]
    if findings:
        return findings
    seen = [_plural(len(calico.calico_peers(objects)), "Calico BGPPeer")]
    workloads = ctx.facts.workloads
    node = None if isinstance(workloads, Absent) else calico.calico_node(workloads)
    if node is not None:
        where = (node.get("metadata") or {}).get("namespace") or "default"
        seen.insert(0, f"calico-node runs in {where}")
    return _ok(f"no lbctl peer is a router Calico's nodes peer with ({'; '.join(seen)})")


def check_calico_service_ips(ctx: Context) -> list[Finding]:
    config = calico.configuration(ctx.need(ctx.facts.calico))
    listed = calico.announced(config)
    if not listed:
        return _ok("Calico announces no LoadBalancer addresses (no serviceLoadBalancerIPs)")
    state = ctx.state
    findings = [Finding(
        "error", f"Calico announces LoadBalancer addresses ({', '.join(r.text for r in listed)}) "
                 f"but not pool {pool.name}'s {', '.join(missing)}: Services that get them are "
                 "unreachable from the routers Calico peers with",
        "make Calico's list cover every pool: lbctl pool export --format calico | calicoctl "
        "apply -f -", (f"pool/{pool.name}", "bgpconfiguration.crd.projectcalico.org/default"))
        for pool, missing in calico.uncovered(
            sorted(state.pools.values(), key=lambda p: p.name), config)]
    return findings or _ok(f"Calico's serviceLoadBalancerIPs cover every pool "
                           f"({_plural(len(state.pools), 'pool')})")


# --------------------------------------------------------------------------- the wire


def check_probe(ctx: Context) -> list[Finding]:
    probes = ctx.facts.probes
    if isinstance(probes, ProbeFailed):
        return [Finding("error", f"the probe could not run: {probes.reason}",
                        "run doctor --probe as root (or with CAP_NET_RAW) on a host in the "
                        "nodes' layer-2 segment")]
    answered = ctx.need(probes)
    if not answered:
        return _ok("no address of a layer2 or both pool is allocated, so there is nothing to "
                   "probe")
    refs = {ip: record.ref for record in ctx.state.allocations.values() for ip in record.ips}
    computed = _speakers(ctx)
    if isinstance(computed, speakers.Status):
        return _probe_against_owners(answered, computed, refs)
    findings = []
    for probed in answered:
        verdict = judge(probed, "one")
        if verdict.ok:
            continue
        ref = refs.get(probed.ip)
        host = "128" if ":" in probed.ip else "32"  # a gratuitous ARP alone answers nothing
        hint = (f"nothing holds it: run lbctl's speakers (lbctl install --speaker | kubectl "
                f"apply -f -), or hold it on one node (there: ip addr add {probed.ip}/{host} "
                f"dev IF, then lbctl arp announce {probed.ip}) (probed via {probed.interface})"
                if verdict.status == "none" else
                f"make one node hold the address; check lbctl kube-proxy diff (probed via "
                f"{probed.interface})")
        findings.append(Finding(
            "error", f"service {ref}: {verdict.detail}" if ref else verdict.detail,
            hint, (f"service/{ref}",) if ref else ()))
    findings = findings or _ok(f"each of the {_plural(len(answered), 'allocated address')} is "
                               "answered by exactly one MAC")
    if computed:
        findings.append(Finding("info", f"who answers was not compared with the computed "
                                        f"owners: {computed}"))
    return findings


def _speakers(ctx: Context) -> speakers.Status | str:
    """The owners the speakers compute, or why they cannot be compared ("" when no lbctl
    speaker runs: other tools announce, and only "exactly one MAC" can be checked)."""
    leases_found = ctx.facts.speaker_leases
    if isinstance(leases_found, Absent):
        return "" if ctx.facts.mode == "offline" else leases_found.reason
    if not leases_found:
        return ""
    for fact in (ctx.facts.services, ctx.facts.nodes, ctx.facts.endpoint_slices):
        if isinstance(fact, Absent):
            return fact.reason
    now = ctx.facts.read_at
    if now is None:
        return "the time of the reading is unknown"
    return speakers.status(ctx.state, ctx.services, ctx.need(ctx.facts.endpoint_slices),
                           ctx.need(ctx.facts.nodes), leases_found, now)


def _mac_of(mac: str, computed: speakers.Status) -> str:
    nodes = computed.nodes_of_mac(mac)
    if not nodes:
        return f"{mac} (no speaker publishes it)"
    return f"node {' or '.join(nodes)} ({mac})"


def _probe_against_owners(answered: Sequence[Probed], computed: speakers.Status,
                          refs: dict[str, str]) -> list[Finding]:
    """Each address must be answered by exactly its computed owner's MAC; one nobody should
    announce (no ready endpoint, no eligible node) by nobody."""
    findings = []
    owned = quiet = 0
    for probed in answered:
        ref = refs[probed.ip]  # the probed addresses are the state's allocated ones
        group = computed.ownership.group_of_ip(probed.ip)
        owner = group.owner if group is not None else None
        who = [_mac_of(mac, computed) for mac in probed.macs]
        where = f" (probed via {probed.interface})"
        prefix = f"service {ref}: {probed.ip}"
        objects = (f"service/{ref}",)
        if owner is None:
            why = group.reason if group is not None else (
                "it is not published or has no ready endpoint")
            if not who:
                quiet += 1
                continue
            severity: Severity = "warning" if len(who) == 1 else "error"
            findings.append(Finding(
                severity, f"{prefix} is answered by {', '.join(who)} though no node should "
                          f"announce it ({why})",
                "another announcer (a stale arp announce, another load balancer, or kube-proxy "
                "in IPVS mode without strictARP) answers for it; lbctl svc show "
                f"{ref.partition('/')[2]} -n {ref.partition('/')[0]} shows why no node should"
                + where, objects))
        elif not who:
            findings.append(Finding(
                "error", f"{prefix} is answered by no node; its computed owner is {owner}",
                f"check the lbctl-speaker pod on {owner} (its logs, lbctl speaker status) "
                "and that this host shares the nodes' layer-2 segment" + where, objects))
        elif len(who) > 1:
            findings.append(Finding(
                "error", f"{prefix} is answered by {len(who)} MACs, a conflict: "
                         f"{', '.join(who)}; its computed owner is {owner}",
                "make only the owner answer: another announcer, a stale arp announce, or "
                "kube-proxy in IPVS mode without strictARP (see lbctl kube-proxy diff)" + where,
                objects))
        elif owner not in computed.nodes_of_mac(probed.macs[0]):
            findings.append(Finding(
                "error", f"{prefix} is answered by the wrong node: {who[0]}; its computed "
                         f"owner is {owner}",
                f"the speakers disagree, or something else answers: compare lbctl speaker "
                f"status with the speaker logs on {owner}" + where, objects))
        else:
            owned += 1
    if findings:
        return findings
    message = (f"each of the {_plural(owned, 'announced address')} is answered by its "
               "computed owner's MAC alone")
    if quiet:
        message += (f"; {_plural(quiet, 'address')} no node should announce "
                    f"{'is' if quiet == 1 else 'are'} answered by none")
    return _ok(message)


# --------------------------------------------------------------------------- the registry

CHECKS: tuple[Check, ...] = (
    *(Check(check, title, _state_check(check, title)) for check, title in (
        ("state.parse", "the state document is readable YAML with the known fields"),
        ("state.schema", "the state document's schemaVersion is one this lbctl knows"),
        ("state.pool-overlap", "no two pools (or entries of one pool) share an address"),
        ("state.shared-ip", "no address is held twice without valid sharing"),
        ("state.outside-pool", "every allocation lies inside its own pool"),
        ("state.consistency", "pools, reservations and allocations are well formed"),
    )),
    Check("state.missing", "the state document exists whenever Services show addresses",
          check_state_missing),
    Check("pool.node-overlap", "no pool contains a node's address", check_node_overlap),
    Check("pool.pod-cidr-overlap", "no pool overlaps a node's pod CIDR", check_pod_cidr_overlap),
    Check("pool.cluster-ip-overlap", "no pool contains a Service ClusterIP in use",
          check_cluster_ip_overlap),
    Check("pool.buggy-ips", "pools without avoidBuggyIPs hold no .0/.255 addresses",
          check_buggy_ips),
    Check("pool.utilisation", f"no pool is {int(FULL_WARNING * 100)}% used or more",
          check_utilisation),
    Check("pool.exhausted", "no pool is full while Services it serves are pending",
          check_exhausted),
    Check("svc.pending", "no LoadBalancer Service is waiting for an address", check_pending),
    Check("svc.drift", "each Service's status shows exactly what the state records",
          check_drift),
    Check("svc.orphan", "every allocation in the state belongs to an existing Service",
          check_orphans),
    Check("svc.pinned", "every address a Service asks for is the one the state records",
          check_pinned),
    Check("svc.outside-pools", "every address a Service shows lies in a pool",
          check_outside_pools),
    Check("svc.shared-ip", "no address is shown by two Services that may not share it",
          check_shared_ip),
    Check("svc.requested-ip", "every requested address (annotation, spec.loadBalancerIP) lies "
          "in a pool", check_requested_ip),
    Check("svc.local-no-endpoints", "each addressed externalTrafficPolicy: Local Service has a "
          "ready endpoint", check_local_endpoints),
    Check("svc.deprecated-annotation", "no Service uses the old metallb.universe.tf/ "
          "annotations", check_deprecated_annotations),
    Check("kube-proxy.strict-arp", "kube-proxy in IPVS mode has strictARP", check_strict_arp),
    *(Check(impl.check, f"{impl.name} is not installed next to lbctl",
            _implementation_check(impl)) for impl in IMPLEMENTATIONS),
    Check("bgp.unheard", "a BGP peer (or Calico) is sent the addresses of each pool announced "
          "over BGP",
          check_unheard),
    Check("bgp.calico-peers", "lbctl's speakers and Calico's nodes do not peer with the same "
          "router", check_calico_peers),
    Check("bgp.calico-service-ips", "Calico's serviceLoadBalancerIPs, when set, cover every "
          "pool", check_calico_service_ips),
    Check("rbac.permissions", "the current identity holds every permission lbctl uses",
          check_permissions),
    Check("controller.leader", "an installed lbctl controller runs and has a leader",
          check_controller),
    Check("net.probe", "each allocated address is answered by exactly one MAC, its computed "
                       "owner's (--probe)",
          check_probe),
)

IDS: tuple[str, ...] = tuple(check.id for check in CHECKS)
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(check.id.partition(".")[0] for check in CHECKS))


def selected(skip: Iterable[str]) -> set[str]:
    """The check IDs named by ``--skip`` values: an ID, a group (``svc``) or ``group.*``."""
    chosen: set[str] = set()
    for item in skip:
        group = item[:-2] if item.endswith(".*") else item
        if item in IDS:
            chosen.add(item)
        elif group in GROUPS:
            chosen.update(i for i in IDS if i.partition(".")[0] == group)
        else:
            raise UsageError(f"unknown check {item!r} in --skip",
                             hint=f"checks: {', '.join(IDS)}; groups: {', '.join(GROUPS)}")
    return chosen


def diagnose(facts: Facts, skip: Sequence[str] = ()) -> tuple[CheckResult, ...]:
    """Run every check on ``facts``, in registry order; ``skip`` as :func:`selected` reads it."""
    skipped = selected(skip)
    ctx = Context(facts)
    results = []
    for check in CHECKS:
        findings: list[Finding]
        if check.id in skipped:
            findings = [Finding("skip", "skipped with --skip")]
        else:
            try:
                findings = check.run(ctx)
            except _Skip as exc:
                findings = [Finding("skip", str(exc))]
            except LbctlError as exc:
                findings = [Finding("error", f"the check could not finish: {exc.message}",
                                    exc.hint)]
        results.append(CheckResult(check.id, check.title, tuple(findings)))
    return tuple(results)

