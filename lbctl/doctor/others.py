"""How to recognise the other load-balancer implementations that would fight lbctl.

MetalLB, kube-vip's cloud provider, k3s ServiceLB, OpenELB, PureLB and Cilium's LB IPAM each
watch Services of type LoadBalancer and write ``status.loadBalancer.ingress``; running one next
to lbctl means two writers for the same field.  Each :class:`Implementation` lists the traces
it leaves: workload names and container images, labels, ConfigMaps, custom resources and node
labels.  :func:`evidence` says which of those traces are present in a set of objects, the same
way for a live cluster and for a directory of manifests.

Pure data and pure functions; no I/O.  The custom resources listed in :data:`POOL_RESOURCES`
are the ones :mod:`lbctl.doctor.gather` lists on a live cluster (and the permissions in
:mod:`lbctl.core.permissions` cover exactly those).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lbctl.core.names import (
    KUBEVIP_CONFIGMAP,
    METALLB_LEGACY_CONFIGMAP,
    METALLB_NAMESPACE,
    SYSTEM_NAMESPACE,
)
from lbctl.core.service import LBCTL_CLASS
from lbctl.ports import Obj, Resource

#: The way out every implementation that honours loadBalancerClass offers (ends its hint).
_BY_CLASS = (f"or set spec.loadBalancerClass: {LBCTL_CLASS} on the Services lbctl should "
             "serve ({} ignores Services of another class)")


@dataclass(frozen=True)
class Implementation:
    check: str  # the check ID: "impl.metallb"
    name: str  # "MetalLB"
    images: tuple[str, ...] = ()  # substrings of container images
    workloads: tuple[str, ...] = ()  # Deployment/DaemonSet/Pod name patterns (fnmatch)
    labels: tuple[tuple[str, str], ...] = ()  # workload labels that name it
    configmaps: tuple[tuple[str, str], ...] = ()  # (namespace, name)
    groups: tuple[str, ...] = ()  # API groups of its custom resources
    node_labels: tuple[str, ...] = ()
    #: A workload alone is a dormant install: it acts only once a custom resource exists.
    dormant_without_resources: bool = False
    #: (namespace, ConfigMap, key, value) that switches it off.
    disabled_by: tuple[str, str, str, str] | None = None
    hint: str = ""


IMPLEMENTATIONS: tuple[Implementation, ...] = (
    Implementation(
        "impl.metallb", "MetalLB",
        images=("metallb/controller", "metallb/speaker"),
        labels=(("app", "metallb"), ("app.kubernetes.io/name", "metallb")),
        configmaps=((METALLB_NAMESPACE, METALLB_LEGACY_CONFIGMAP),),
        groups=("metallb.io",),
        hint="uninstall MetalLB, " + _BY_CLASS.format("MetalLB"),
    ),
    Implementation(
        "impl.kube-vip", "the kube-vip cloud provider",
        images=("kube-vip/kube-vip-cloud-provider",),
        workloads=("kube-vip-cloud-provider",),
        configmaps=((SYSTEM_NAMESPACE, KUBEVIP_CONFIGMAP),),
        hint="delete the kube-vip-cloud-provider Deployment and the kubevip ConfigMap, "
             + _BY_CLASS.format("kube-vip"),
    ),
    Implementation(
        "impl.servicelb", "k3s ServiceLB (klipper-lb)",
        images=("rancher/klipper-lb",),
        workloads=("svclb-*",),
        node_labels=("svccontroller.k3s.cattle.io/enablelb",),
        hint="start every k3s server with --disable=servicelb",
    ),
    Implementation(
        "impl.openelb", "OpenELB",
        images=("kubesphere/openelb", "openelb/openelb"),
        workloads=("openelb-manager", "openelb-controller", "openelb-speaker"),
        groups=("network.kubesphere.io",),
        hint="uninstall OpenELB",
    ),
    Implementation(
        "impl.purelb", "PureLB",
        images=("purelb/purelb/allocator", "purelb/purelb/lbnodeagent"),
        groups=("purelb.io",),
        hint="uninstall PureLB",
    ),
    Implementation(
        "impl.cilium", "Cilium LB IPAM",
        images=("cilium/operator",),
        workloads=("cilium-operator",),
        groups=("cilium.io",),
        dormant_without_resources=True,
        disabled_by=("kube-system", "cilium-config", "enable-lb-ipam", "false"),
        hint="delete the CiliumLoadBalancerIPPools, or set enable-lb-ipam: \"false\" in "
             "kube-system/cilium-config, " + _BY_CLASS.format("Cilium"),
    ),
)

#: The address-pool resources listed on a live cluster: each implementation's proof of being
#: configured.  A 404 means the CRD (or that version of it) is not installed; Cilium's pools are
#: listed at both versions it has served.
POOL_RESOURCES: tuple[Resource, ...] = (
    Resource("metallb.io/v1beta1", "ipaddresspools", "IPAddressPool"),
    Resource("cilium.io/v2", "ciliumloadbalancerippools", "CiliumLoadBalancerIPPool",
             namespaced=False),
    Resource("cilium.io/v2alpha1", "ciliumloadbalancerippools", "CiliumLoadBalancerIPPool",
             namespaced=False),
    Resource("network.kubesphere.io/v1alpha2", "eips", "Eip", namespaced=False),
    Resource("purelb.io/v1", "servicegroups", "ServiceGroup"),
)


@dataclass(frozen=True)
class Evidence:
    """What was found of one implementation: each trace as ``Kind namespace/name (why)``."""

    workloads: tuple[str, ...]
    resources: tuple[str, ...]  # custom resources and ConfigMaps: its configuration
    nodes: tuple[str, ...]
    disabled: str  # "" unless the switch in ``disabled_by`` is set

    @property
    def found(self) -> bool:
        return bool(self.workloads or self.resources or self.nodes)

    def all(self) -> tuple[str, ...]:
        return (*self.workloads, *self.resources, *self.nodes)


def _name(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name"))


def _images(obj: Obj) -> list[str]:
    spec: Mapping[str, Any] = obj.get("spec") or {}
    if obj.get("kind") != "Pod":
        spec = (spec.get("template") or {}).get("spec") or {}
    containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
    return [str(c.get("image") or "") for c in containers]


def _workload_trace(impl: Implementation, obj: Obj) -> str:
    """Why ``obj`` (a Deployment, DaemonSet or Pod) belongs to ``impl``; "" when it does not."""
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    labels = meta.get("labels") or {}
    found = next((image for image in _images(obj)
                  if any(marker in image for marker in impl.images)), None)
    if found:
        why = f"image {found}"
    elif any(fnmatch.fnmatchcase(name, pattern) for pattern in impl.workloads):
        why = "by name"
    elif any(labels.get(key) == value for key, value in impl.labels):
        why = "by label " + next(f"{k}={v}" for k, v in impl.labels if labels.get(k) == v)
    else:
        return ""
    return f"{obj.get('kind')} {_name(obj)} ({why})"


def evidence(impl: Implementation, *, workloads: Iterable[Obj], configmaps: Iterable[Obj],
             custom: Iterable[Obj], nodes: Iterable[Obj]) -> Evidence:
    """The traces of ``impl`` among the objects (any of which may be empty)."""
    found_workloads = tuple(trace for obj in workloads
                            if (trace := _workload_trace(impl, obj)))
    resources: list[str] = []
    disabled = ""
    for obj in configmaps:
        meta = obj.get("metadata") or {}
        place = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        if place in impl.configmaps:
            resources.append(f"ConfigMap {_name(obj)}")
        if impl.disabled_by and place == impl.disabled_by[:2]:
            key, value = impl.disabled_by[2:]
            if str((obj.get("data") or {}).get(key)) == value:
                disabled = f"ConfigMap {_name(obj)} sets {key}: {value!r}"
    for obj in custom:
        group = str(obj.get("apiVersion") or "").partition("/")[0]
        if group in impl.groups:
            resources.append(f"{obj.get('kind')} {_name(obj)}")
    found_nodes = tuple(
        f"Node {_name(node)} (label {label})"
        for node in nodes
        for label in impl.node_labels
        if label in ((node.get("metadata") or {}).get("labels") or {})
    )
    return Evidence(found_workloads, tuple(resources), found_nodes, disabled)
