"""Gathering doctor's :class:`~lbctl.doctor.facts.Facts`: from a live cluster, or from files.

:func:`live` reads everything through the :class:`~lbctl.ports.KubeAPI` port, each thing once:
Services, Nodes, EndpointSlices, the kube-proxy ConfigMap, kube-system's pods, Deployments and
DaemonSets, the ConfigMaps and address-pool resources of other implementations, and one
SelfSubjectAccessReview per permission in :data:`lbctl.core.permissions.PERMISSIONS`.
:func:`offline` reads manifests (files and directories, multi-document YAML or JSON, ``kind:
List``) as ``assign -f`` reads them (:func:`lbctl.core.manifests.read_objects`) and recognises
the state document by its ``schemaVersion``.  Both read the state through
the :class:`~lbctl.ports.StateBackend` port when one is given, and both can probe the allocated
addresses through the :class:`~lbctl.nodeports.Announcer` port.

What cannot be read becomes :class:`~lbctl.doctor.facts.Absent` with the reason, so the checks
that need it are skipped, not passed: a 403 (the ``rbac.permissions`` check names the missing
permission), a custom resource whose CRD is not installed (an empty list: nothing configured),
a kind no file holds.

Error policy: an unreachable API server ends the run (:class:`~lbctl.errors.UnreachableError`,
exit 7): nothing could be checked.  A path that does not exist, a file that is not YAML, or a
document that is not a Kubernetes object is a :class:`~lbctl.errors.UsageError`, worded as
``assign -f`` words it.  A failed probe is recorded as
:class:`~lbctl.doctor.facts.ProbeFailed`, never raised: the rest of the report still stands.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TypeVar

import yaml

from lbctl.core import calico, speakers
from lbctl.core.kubeproxy import CONFIGMAP_KEY
from lbctl.core.kubeproxy import KIND as PROXY_KIND
from lbctl.core.manifests import read_objects
from lbctl.core.names import CONTROLLER_LEASE, KUBE_PROXY, SYSTEM_NAMESPACE
from lbctl.core.permissions import PERMISSIONS, Permission
from lbctl.core.state import decode
from lbctl.core.statefile import document_of, unwrap
from lbctl.doctor.facts import (
    Absent,
    Facts,
    Known,
    ProbeFailed,
    ProxyConfigText,
    StateText,
)
from lbctl.doctor.others import IMPLEMENTATIONS, POOL_RESOURCES
from lbctl.errors import LbctlError, NotFoundError, PermissionDeniedError, RefusedError, UsageError
from lbctl.nodeports import Announcer, Probed
from lbctl.ports import (
    CONFIGMAPS,
    DAEMONSETS,
    DEPLOYMENTS,
    ENDPOINTSLICES,
    LEASES,
    NODES,
    PODS,
    SERVICES,
    KubeAPI,
    Obj,
    Resource,
    Source,
    StateBackend,
)

T = TypeVar("T")

#: Namespaced kinds whose manifests may leave out the namespace (kubectl puts them in default).
_NAMESPACED = frozenset({"Service", "EndpointSlice", "ConfigMap", "Deployment", "DaemonSet",
                         "Pod"})


@dataclass(frozen=True)
class ProbeOptions:
    """``--probe``: the port to probe through and how (``interface`` None: by route)."""

    announcer: Announcer
    interface: str | None = None
    timeout: float = 1.0
    #: Where the speakers' Leases live (``lbctl speaker --lease-namespace``).
    lease_namespace: str = SYSTEM_NAMESPACE


# --------------------------------------------------------------------------- live


def _readable(read: Callable[[], T]) -> Known[T]:
    """What ``read`` returns; on a 403, Absent with the API server's own words ("forbidden:
    cannot list deployments.apps ...")."""
    try:
        return read()
    except PermissionDeniedError as exc:
        return Absent(exc.message)


def _state(backend: StateBackend) -> StateText:
    try:
        text, _ = backend.read()
    except RefusedError as exc:  # not UTF-8: the document is there and unreadable
        return StateText(None, backend.location, problem=exc.message)
    return StateText(text, backend.location)


def _kube_proxy(kube: KubeAPI) -> ProxyConfigText | None:
    try:
        configmap = kube.get(CONFIGMAPS, KUBE_PROXY, SYSTEM_NAMESPACE)
    except NotFoundError:
        return None
    text = (configmap.get("data") or {}).get(CONFIGMAP_KEY)
    return ProxyConfigText(text if isinstance(text, str) else "",
                           f"ConfigMap {SYSTEM_NAMESPACE}/{KUBE_PROXY}")


def _configmaps(kube: KubeAPI) -> list[Obj]:
    wanted = sorted({place for impl in IMPLEMENTATIONS for place in impl.configmaps}
                    | {impl.disabled_by[:2] for impl in IMPLEMENTATIONS if impl.disabled_by})
    found = []
    for namespace, name in wanted:
        try:
            found.append(kube.get(CONFIGMAPS, name, namespace))
        except NotFoundError:
            continue
    return found


def _custom(kube: KubeAPI) -> list[Obj]:
    found: dict[tuple[str, str, str], Obj] = {}
    for resource in POOL_RESOURCES:
        try:
            items = kube.list(resource)
        except NotFoundError:  # the CRD (or this version of it) is not installed
            continue
        for obj in items:
            meta = obj.get("metadata") or {}
            obj.setdefault("apiVersion", resource.group_version)
            obj.setdefault("kind", resource.kind)
            found.setdefault((resource.kind, str(meta.get("namespace") or ""),
                              str(meta.get("name"))), obj)
    return list(found.values())


#: Calico's BGP resources (cluster-scoped), as the cluster stores them.
CALICO_RESOURCES = tuple(Resource(f"{calico.CALICO_CRD_GROUP}/v1", plural, kind,
                                  namespaced=False)
                         for plural, kind in (("bgpconfigurations", "BGPConfiguration"),
                                              ("bgppeers", "BGPPeer")))


def _calico(kube: KubeAPI) -> list[Obj]:
    found = []
    for resource in CALICO_RESOURCES:
        try:
            items = kube.list(resource)
        except NotFoundError:  # Calico's CRDs are not installed
            continue
        found += [{**obj, "apiVersion": resource.group_version, "kind": resource.kind}
                  for obj in items]
    return found


def _workloads(kube: KubeAPI) -> list[Obj]:
    # LIST answers leave out each item's kind; the evidence names it.
    return [{**obj, "kind": resource.kind} for resource in (DEPLOYMENTS, DAEMONSETS)
            for obj in kube.list(resource)]


def _controller_lease(kube: KubeAPI) -> Obj | None:
    try:
        return kube.get(LEASES, CONTROLLER_LEASE, SYSTEM_NAMESPACE)
    except NotFoundError:
        return None


def _speaker_leases(kube: KubeAPI, namespace: str) -> list[Obj]:
    return [lease for lease in kube.list(LEASES, namespace)
            if speakers.node_of(lease) is not None]


def _permissions(kube: KubeAPI) -> list[tuple[Permission, bool]]:
    return [(p, kube.can_i(p.verb, p.resource, p.group, p.namespace, p.subresource,
                           name=p.name or ""))
            for p in PERMISSIONS if p.operator]


def _quiet(what: str) -> None:
    """The default ``progress``: say nothing."""


def live(kube: KubeAPI, state: StateBackend, *, context: str | None = None,
         probe: ProbeOptions | None = None,
         progress: Callable[[str], None] = _quiet, now: datetime | None = None) -> Facts:
    """Everything doctor checks, read from the cluster ``kube`` talks to.  ``progress`` is told
    what is being read next ("Services", "permissions", ...)."""
    progress("the API server")
    version = kube.server_version()  # unreachable: fail now, before anything else
    progress("the state document")
    state_text = _readable(lambda: _state(state))
    progress("Services, Nodes and EndpointSlices")
    services = _readable(lambda: kube.list(SERVICES))
    nodes = _readable(lambda: kube.list(NODES))
    endpoint_slices = _readable(lambda: kube.list(ENDPOINTSLICES))
    progress("kube-proxy's configuration")
    kube_proxy = _readable(lambda: _kube_proxy(kube))
    system_pods = _readable(lambda: kube.list(PODS, SYSTEM_NAMESPACE))
    progress("workloads and resources of other load balancers")
    workloads = _readable(lambda: _workloads(kube))
    configmaps = _readable(lambda: _configmaps(kube))
    custom = _readable(lambda: _custom(kube))
    calico_objects = _readable(lambda: _calico(kube))
    progress("the controller's Lease")
    controller_lease = _readable(lambda: _controller_lease(kube))
    speaker_leases = Absent("not asked for: add --probe") if probe is None else _readable(
        lambda: _speaker_leases(kube, probe.lease_namespace))
    read_at = now or datetime.now(timezone.utc)
    progress("permissions")
    permissions = _readable(lambda: _permissions(kube))
    if probe is not None:
        progress("who answers for each allocated address")
    return Facts(
        mode="live",
        source=f"context {context or '(current)'}, Kubernetes {version}",
        state=state_text,
        services=services,
        nodes=nodes,
        endpoint_slices=endpoint_slices,
        kube_proxy=kube_proxy,
        system_pods=system_pods,
        workloads=workloads,
        configmaps=configmaps,
        custom=custom,
        permissions=permissions,
        probes=_probe(state_text, probe),
        controller_lease=controller_lease,
        speaker_leases=speaker_leases,
        read_at=read_at,
        calico=calico_objects,
    )


# --------------------------------------------------------------------------- probes


def _probe(state: Known[StateText],
           probe: ProbeOptions | None) -> Known[list[Probed]] | ProbeFailed:
    if probe is None:
        return Absent("not asked for: add --probe (needs CAP_NET_RAW and the same layer-2 "
                      "segment as the nodes)")
    if isinstance(state, Absent):
        return Absent(f"no state to take the allocated addresses from ({state.reason})")
    try:
        decoded = decode(state.text, state.source) if not state.problem else None
    except LbctlError:
        decoded = None
    if decoded is None:
        return Absent("the state document is invalid (see state.*)")
    ips = list(dict.fromkeys(ip for key in sorted(decoded.allocations)
                             for ip in decoded.allocations[key].ips
                             if decoded.by_layer2(decoded.allocations[key].pool)))
    if not ips:
        return []
    try:
        return probe.announcer.probe(ips, interface=probe.interface, timeout=probe.timeout)
    except LbctlError as exc:
        return ProbeFailed(exc.message + (f" ({exc.hint})" if exc.hint else ""))


# --------------------------------------------------------------------------- offline


@dataclass
class _Found:
    """Every object read from the files, by kind."""

    paths: list[str] = field(default_factory=list)
    states: list[tuple[str, str]] = field(default_factory=list)  # (where, text)
    #: The files that are a state file alone (``--state`` can name them; not a state document
    #: among other documents, whose ``where`` is ``path:line``).
    state_files: list[str] = field(default_factory=list)
    objects: dict[str, list[Obj]] = field(default_factory=dict)
    proxy: list[ProxyConfigText] = field(default_factory=list)

    def of(self, *kinds: str) -> list[Obj]:
        return [obj for kind in kinds for obj in self.objects.get(kind, [])]


def _add(found: _Found, obj: Obj, path: str) -> None:
    kind = str(obj.get("kind") or "")
    if kind in _NAMESPACED:
        meta = obj.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
    if kind == PROXY_KIND:
        found.proxy.append(ProxyConfigText(yaml.safe_dump(obj), f"file {path}"))
    elif (kind == "ConfigMap" and (obj.get("metadata") or {}).get("name") == KUBE_PROXY
          and isinstance((obj.get("data") or {}).get(CONFIGMAP_KEY), str)):
        found.proxy.append(ProxyConfigText(obj["data"][CONFIGMAP_KEY], f"file {path}"))
    found.objects.setdefault(kind, []).append(obj)


def _scan(sources: Sequence[Source]) -> _Found:
    found = _Found()
    for source in sources:
        found.paths.append(source.name)
        read = read_objects(source.text, source.where)  # as assign -f reads them
        if read.state:
            document, _ = unwrap(source.text, f"state file {source.name}")
            found.states.append((source.name, document or ""))
            found.state_files.append(source.name)
            continue
        found.states += [(f"{source.name}:{placed.line}", document_of(placed.obj))
                         for placed in read.states]
        for placed in read.objects:
            _add(found, placed.obj, source.name)
    return found


def _present(items: list[Obj], missing: str) -> Known[list[Obj]]:
    return items if items else Absent(missing)


def offline(sources: Sequence[Source], state: StateBackend | None = None, *,
            given: Sequence[str] = (), probe: ProbeOptions | None = None) -> Facts:
    """Everything doctor can check from files alone (the ``-f`` inputs, already read; ``given``
    names them as the user did, for the report).  ``state`` (``--state``) wins over a state
    document found among them."""
    found = _scan(sources)
    state_text: Known[StateText]
    if state is not None:
        state_text = _readable(lambda: _state(state))
    elif len(found.states) > 1:
        raise UsageError(
            "several state documents: " + ", ".join(path for path, _ in found.states),
            hint="name the one to check with --state PATH",
        )
    elif found.states:
        path, text = found.states[0]
        state_text = StateText(text, f"state file {path}")
    else:
        state_text = Absent("no state document among the files: give one with --state PATH")
    if len(found.proxy) > 1:
        raise UsageError(
            "several kube-proxy configurations: " + ", ".join(p.source for p in found.proxy),
            hint="give doctor the one the cluster uses",
        )
    state_path = getattr(state, "path", None) or (found.state_files[0] if found.state_files
                                                  else "")
    command = " ".join(["lbctl assign", *(f"-f {shlex.quote(p)}" for p in given or found.paths),
                        *([f"--state {shlex.quote(state_path)}"] if state_path else [])])
    cluster = "offline: no cluster"
    files = len(found.paths)
    where = f"{files} file{'s' if files != 1 else ''}" if sources else "the state file alone"
    return Facts(
        mode="offline",
        assign_command=command if sources else "",
        state_option=f" --state {shlex.quote(state_path)}" if state_path else "",
        source=f"{where} ({', '.join(given or found.paths)})" if sources else where,
        state=state_text,
        services=_present(found.of("Service"), "no Service manifests among the files"),
        nodes=_present(found.of("Node"), "no Node manifests among the files"),
        endpoint_slices=_present(found.of("EndpointSlice"),
                                 "no EndpointSlices among the files (readiness is known only "
                                 "on a cluster)"),
        kube_proxy=found.proxy[0] if found.proxy else Absent(
            "no kube-proxy configuration among the files"),
        system_pods=[pod for pod in found.of("Pod")
                     if (pod.get("metadata") or {}).get("namespace") == SYSTEM_NAMESPACE],
        workloads=found.of("Deployment", "DaemonSet", "Pod"),
        configmaps=found.of("ConfigMap"),
        custom=[obj for kind, objs in found.objects.items() for obj in objs
                if str(obj.get("apiVersion") or "").partition("/")[0]
                in {g for impl in IMPLEMENTATIONS for g in impl.groups}],
        permissions=Absent(f"{cluster} to ask"),
        calico=[obj for objs in found.objects.values() for obj in objs
                if calico.is_calico(obj, "BGPConfiguration") or calico.is_calico(obj, "BGPPeer")],
        probes=_probe(state_text, probe),
    )
