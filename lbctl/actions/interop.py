"""Pool import and export: MetalLB and kube-vip configuration in, manifests for them out.

Import reads the other tool's configuration from files (already read by the CLI) or from the
cluster, converts it with :mod:`lbctl.core.interop`, and runs one state transaction that adds
every pool and adopts the Services already holding addresses in them.  Services come from the
cluster whenever lbctl talks to one (the configuration is read from it, or the state lives in
it); only offline, with every input from files, are the Services in those files adopted.

From the cluster: MetalLB's IPAddressPools (and its L2/BGP advertisements, to name what cannot be
imported) in MetalLB's namespace; when that API is not served or holds no pool, the legacy
ConfigMap ``config``; kube-vip's ConfigMap ``kubevip`` in kube-system.

Error policy: port errors pass through; "nothing to import" is
:class:`~lbctl.errors.NotFoundError`; conversion and state errors come from the core.  Warnings
go to the ``warn`` callback as soon as they are known (so they are shown even when the import is
then refused); nothing is printed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from lbctl.actions import Warn, ignore
from lbctl.core import calico
from lbctl.core import interop as core
from lbctl.core.interop import Imported
from lbctl.errors import NotFoundError
from lbctl.ports import CONFIGMAPS, SERVICES, KubeAPI, Obj, Resource, Source
from lbctl.state.store import Applied, StateStore

Tool = Literal["metallb", "kube-vip", "cilium"]

IPADDRESSPOOLS = Resource(core.METALLB_API, "ipaddresspools", "IPAddressPool")
L2ADVERTISEMENTS = Resource(core.METALLB_API, "l2advertisements", "L2Advertisement")
BGPADVERTISEMENTS = Resource(core.METALLB_API, "bgpadvertisements", "BGPAdvertisement")
#: MetalLB's BGPPeers (v1beta2, or v1beta1 on older releases) and Community aliases.
BGPPEERS = tuple(Resource(version, "bgppeers", "BGPPeer")
                 for version in (core.METALLB_PEER_API, core.METALLB_API))
COMMUNITIES = Resource(core.METALLB_API, "communities", "Community")
#: Calico's cluster-wide BGP settings, as the cluster stores them.
CALICO_BGPCONFIGURATIONS = Resource(f"{calico.CALICO_CRD_GROUP}/v1", "bgpconfigurations",
                                    "BGPConfiguration", namespaced=False)
#: Cilium's pools, cluster-scoped, at the versions Cilium serves (the newest first).
CILIUM_POOLS = tuple(Resource(version, "ciliumloadbalancerippools", core.CILIUM_KIND,
                              namespaced=False)
                     for version in ("cilium.io/v2", core.CILIUM_API))

DEFAULT_NAMESPACES: dict[Tool, str] = {
    "metallb": core.METALLB_NAMESPACE,
    "kube-vip": core.KUBEVIP_NAMESPACE,
    "cilium": "",  # its pools are cluster-scoped
}
_FROM = {"metallb": core.from_metallb, "kube-vip": core.from_kubevip,
         "cilium": core.from_cilium}
#: What holds a tool's pools, for the hint when none was found.
_POOLS_ARE = {
    "metallb": "MetalLB's IPAddressPools (kubectl get ipaddresspools -A -o yaml) or its legacy "
               "ConfigMap config",
    "kube-vip": "kube-vip's ConfigMap with cidr-SCOPE or range-SCOPE keys (kubectl -n "
                "kube-system get cm kubevip -o yaml)",
    "cilium": "Cilium's pools (kubectl get ciliumloadbalancerippools -o yaml)",
}


def _metallb_objects(kube: KubeAPI, namespace: str) -> list[Obj]:
    try:
        pools = kube.list(IPADDRESSPOOLS, namespace)
    except NotFoundError:  # MetalLB < 0.13: its CRDs are not installed
        pools = []
    if pools:
        return [*pools, *kube.list(L2ADVERTISEMENTS, namespace),
                *kube.list(BGPADVERTISEMENTS, namespace),
                *_optional(kube, BGPPEERS, namespace),
                *_optional(kube, (COMMUNITIES,), namespace)]
    try:
        return [kube.get(CONFIGMAPS, core.METALLB_LEGACY_CONFIGMAP, namespace)]
    except NotFoundError:
        raise NotFoundError(
            f"no MetalLB configuration in namespace {namespace}: no IPAddressPool and no "
            f"ConfigMap {core.METALLB_LEGACY_CONFIGMAP}",
            hint="name MetalLB's namespace with -n, or give its manifests with -f FILE",
        ) from None


def _optional(kube: KubeAPI, versions: Sequence[Resource], namespace: str) -> list[Obj]:
    """The objects of the first version served (kind and apiVersion filled in), or none."""
    for resource in versions:
        try:
            return [{**obj, "apiVersion": resource.group_version, "kind": resource.kind}
                    for obj in kube.list(resource, namespace)]
        except NotFoundError:  # not served: an older MetalLB, or no BGP at all
            continue
    return []


def _cilium_objects(kube: KubeAPI, namespace: str) -> list[Obj]:
    for resource in CILIUM_POOLS:
        try:
            return [{**obj, "apiVersion": resource.group_version, "kind": resource.kind}
                    for obj in kube.list(resource)]
        except NotFoundError:  # that version (or Cilium's CRD) is not served
            continue
    raise NotFoundError("no CiliumLoadBalancerIPPool resource on this cluster",
                        hint="is Cilium installed? or give its pools with -f FILE")


def _kubevip_objects(kube: KubeAPI, namespace: str) -> list[Obj]:
    try:
        return [kube.get(CONFIGMAPS, core.KUBEVIP_CONFIGMAP, namespace)]
    except NotFoundError:
        raise NotFoundError(
            f"no kube-vip configuration: ConfigMap {namespace}/{core.KUBEVIP_CONFIGMAP} not found",
            hint="name its namespace with -n, or give the ConfigMap with -f FILE",
        ) from None


def import_pools(
    store: StateStore,
    tool: Tool,
    *,
    inputs: Sequence[Source] = (),
    kube: KubeAPI | None = None,
    namespace: str | None = None,
    prefix: str = "",
    dry_run: bool = False,
    warn: Warn = ignore,
) -> Applied[Imported]:
    """Import the pools of ``tool`` from ``inputs`` (or, with none, from the cluster), named
    ``prefix + name``, and adopt the Services holding their addresses (from the cluster when
    ``kube`` is given, else from ``inputs``), item by item: what cannot be imported is in the
    result's ``failed``, the rest is written."""
    namespace = namespace or DEFAULT_NAMESPACES[tool]
    if inputs:
        objects = [obj for i in inputs for obj in core.parse_manifests(i.text, i.where)]
        source = ", ".join(i.label for i in inputs)
    else:
        assert kube is not None, "without inputs the configuration comes from the cluster"
        read = {"metallb": _metallb_objects, "kube-vip": _kubevip_objects,
                "cilium": _cilium_objects}[tool]
        objects = read(kube, namespace)
        source = f"the cluster (namespace {namespace})" if namespace else "the cluster"
    found = _FROM[tool](objects)
    for message in found.warnings:
        warn(message)
    if not found.pools:
        raise NotFoundError(f"no {tool} address pools in {source}",
                            hint=f"give {_POOLS_ARE[tool]}; the warnings say what was skipped")
    services: Sequence[Obj] = found.services
    if kube is not None:
        if found.services:
            warn(f"{len(found.services)} Services in {source} ignored: the cluster's own "
                 "Services are adopted")
        services = kube.list(SERVICES)
    applied = store.update(
        lambda state: core.import_pools(state, found, services, prefix=prefix), dry_run=dry_run)
    for message in applied.result.warnings:
        warn(message)
    return applied


def _calico_configuration(kube: KubeAPI | None) -> Obj | None:
    """Calico's BGPConfiguration ``default`` on the cluster, if lbctl talks to one that has it."""
    if kube is None:
        return None
    try:
        return kube.get(CALICO_BGPCONFIGURATIONS, calico.DEFAULT_CONFIGURATION)
    except NotFoundError:  # no Calico CRDs, or no such configuration yet
        return None


def export_pools(store: StateStore, tool: Tool | Literal["calico"], names: Sequence[str] = (),
                 *, namespace: str | None = None, kube: KubeAPI | None = None,
                 warn: Warn = ignore) -> tuple[Obj, ...]:
    """Manifests for ``tool`` describing the pools (all, or those named).  Calico: its
    BGPConfiguration ``default`` (``kube``: the cluster's, whose other settings are kept)."""
    state = store.load()
    if tool == "calico":
        document, warnings = calico.to_calico(core.selected_pools(state, names),
                                              _calico_configuration(kube))
        for message in warnings:
            warn(message)
        return (document,)
    namespace = namespace or DEFAULT_NAMESPACES[tool]
    if tool == "cilium":
        exported = core.to_cilium(state, names)
    else:
        convert = core.to_metallb if tool == "metallb" else core.to_kubevip
        exported = convert(state, names, namespace)
    for message in exported.warnings:
        warn(message)
    return exported.documents
