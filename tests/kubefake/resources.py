"""What the fake API server serves: resource types, discovery documents, defaults, validation.

Owns the static knowledge of each resource (group, version, plural, kind, scope, subresources,
short names, supported field selectors), the discovery documents kubectl reads (``/api``,
``/apis``, ``/api/v1``, ``/apis/<g>/<v>``), and the per-kind defaulting and validation a real
server applies on write (Service ``type``/``clusterIP``/``ipFamilies``, name formats, the 1 MiB
ConfigMap limit, load-balancer ingress IPs).  It holds no objects and does no I/O; the Service
IP and node-port allocator keeps only the addresses it handed out.

Error policy: validation failures raise :class:`status.ApiError` 422 ``Invalid`` with the real
server's field paths and messages.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.kubefake.status import ApiError, invalid

ALL_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")
OBJECT_FIELDS = ("metadata.name", "metadata.namespace")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    subresources: tuple[str, ...] = ()
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    extra_fields: tuple[str, ...] = ()
    #: "subdomain" (RFC 1123 subdomain), "label" (RFC 1123 label) or "label1035".
    name_format: str = "subdomain"

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def field_selectors(self) -> tuple[str, ...]:
        return OBJECT_FIELDS + self.extra_fields


_EVENT_FIELDS = tuple(
    f"involvedObject.{f}"
    for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
) + ("reason", "reportingComponent", "source", "type")

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType(
        "",
        "v1",
        "namespaces",
        "Namespace",
        namespaced=False,
        subresources=("status",),
        short_names=("ns",),
        name_format="label",
    ),
    ResourceType(
        "",
        "v1",
        "nodes",
        "Node",
        namespaced=False,
        subresources=("status",),
        short_names=("no",),
        extra_fields=("spec.unschedulable",),
    ),
    ResourceType(
        "",
        "v1",
        "services",
        "Service",
        subresources=("status",),
        short_names=("svc",),
        name_format="label1035",
    ),
    ResourceType("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    ResourceType("", "v1", "secrets", "Secret"),
    ResourceType(
        "",
        "v1",
        "pods",
        "Pod",
        subresources=("status",),
        short_names=("po",),
        extra_fields=("spec.nodeName", "status.phase"),
    ),
    ResourceType("", "v1", "events", "Event", short_names=("ev",), extra_fields=_EVENT_FIELDS),
    ResourceType("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    ResourceType("events.k8s.io", "v1", "events", "Event", short_names=("ev",)),
    ResourceType(
        "apps", "v1", "daemonsets", "DaemonSet", subresources=("status",), short_names=("ds",)
    ),
    ResourceType(
        "apps", "v1", "deployments", "Deployment", subresources=("status",), short_names=("deploy",)
    ),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease"),
    # Calico's BGP configuration (its CRDs; cluster-scoped), which doctor reads.
    ResourceType("crd.projectcalico.org", "v1", "bgpconfigurations", "BGPConfiguration",
                 namespaced=False),
    ResourceType("crd.projectcalico.org", "v1", "bgppeers", "BGPPeer", namespaced=False),
    # What `lbctl rbac` and `lbctl install` print, so that applying them can be tested.
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole",
                 namespaced=False),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterrolebindings",
                 "ClusterRoleBinding", namespaced=False),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    ResourceType(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        namespaced=False,
        verbs=("create",),
    ),
)

BY_PATH: dict[tuple[str, str, str], ResourceType] = {
    (r.group, r.version, r.plural): r for r in RESOURCES
}
BY_KIND: dict[tuple[str, str], ResourceType] = {(r.api_version, r.kind): r for r in RESOURCES}


def lookup(plural: str) -> ResourceType:
    """``"services"``, ``"deployments.apps"``, ``"events.events.k8s.io"``; plain ``"events"``
    is the core one."""
    name, _, group = plural.partition(".")
    for resource in RESOURCES:
        if resource.plural == name and (
            resource.group == group or (not group and not resource.group)
        ):
            return resource
    for resource in RESOURCES:
        if resource.plural == name and not group:
            return resource
    raise KeyError(f"the fake serves no resource {plural!r}")


# --- discovery -------------------------------------------------------------------------------


def _groups() -> dict[str, list[ResourceType]]:
    groups: dict[str, list[ResourceType]] = {}
    for resource in RESOURCES:
        if resource.group:
            groups.setdefault(resource.group, []).append(resource)
    return groups


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group_doc(group: str, resources: list[ResourceType]) -> dict[str, Any]:
    versions = sorted({r.version for r in resources})
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list() -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_doc(g, rs) for g, rs in sorted(_groups().items())],
    }


def api_group(group: str) -> dict[str, Any] | None:
    resources = _groups().get(group)
    if resources is None:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group, resources)}


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    served = [r for r in RESOURCES if r.group == group and r.version == version]
    if not served:
        return None
    entries: list[dict[str, Any]] = []
    for r in served:
        entry: dict[str, Any] = {
            "name": r.plural,
            "singularName": r.kind.lower(),
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": list(r.verbs) + (["deletecollection"] if "delete" in r.verbs else []),
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        entries.append(entry)
        for sub in r.subresources:
            entries.append(
                {
                    "name": f"{r.plural}/{sub}",
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": r.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": entries,
    }


# --- names -----------------------------------------------------------------------------------

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_NAME_RULES: dict[str, tuple[re.Pattern[str], int, str]] = {
    "subdomain": (
        re.compile(rf"{_LABEL}(\.{_LABEL})*"),
        253,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
        "'-' or '.', and must start and end with an alphanumeric character (e.g. "
        "'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ),
    "label": (
        re.compile(_LABEL),
        63,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
        "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
        "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
    ),
    "label1035": (
        re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?"),
        63,
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
        "with an alphabetic character, and end with an alphanumeric character (e.g. "
        "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
    ),
}


def name_causes(resource: ResourceType, name: str) -> list[tuple[str, str]]:
    """Why ``name`` is not a valid object name for ``resource`` (empty list: it is valid)."""
    if not name:
        return [("metadata.name", "Required value: name or generateName is required")]
    pattern, limit, explanation = _NAME_RULES[resource.name_format]
    causes = []
    if len(name) > limit:
        causes.append(
            ("metadata.name", f'Invalid value: "{name}": must be no more than {limit} characters')
        )
    if not pattern.fullmatch(name):
        causes.append(("metadata.name", f'Invalid value: "{name}": {explanation}'))
    return causes


# --- Service defaults ------------------------------------------------------------------------


@dataclass
class ServiceAllocator:
    """Cluster IPs (one range per IP family) and node ports, like the real allocators."""

    cidrs: tuple[str, ...] = ("10.96.0.0/12", "fd00:10:96::/108")
    node_ports: range = range(30000, 32768)
    _used_ips: set[str] = field(default_factory=set)
    _used_ports: set[int] = field(default_factory=set)
    _next: dict[str, Iterator[Any]] = field(default_factory=dict)
    _networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._networks = [ipaddress.ip_network(c) for c in self.cidrs]  # parsed once

    def families(self) -> list[str]:
        return [_family(network.network_address) for network in self._networks]

    def allocate_ip(self, family: str) -> str:
        for cidr, network in zip(self.cidrs, self._networks, strict=True):
            if _family(network.network_address) != family:
                continue
            # The first ten addresses stay free, as kube-dns' 10.96.0.10 convention expects.
            hosts = self._next.setdefault(cidr, itertools.islice(network.hosts(), 10, None))
            for address in hosts:
                text = str(address)
                if text not in self._used_ips:
                    self._used_ips.add(text)
                    return text
            raise ApiError(
                500,
                f"Internal error occurred: failed to allocate a serviceIP: range {cidr} is full",
            )
        raise ApiError(500, f"Internal error occurred: no service CIDR for {family}")

    def claim_ips(self, ips: Iterable[str]) -> None:
        self._used_ips.update(ip for ip in ips if ip != "None")

    def release(self, service: dict[str, Any]) -> None:
        spec = service.get("spec", {})
        self._used_ips.difference_update(spec.get("clusterIPs") or [])
        self._used_ports.difference_update(p.get("nodePort") for p in spec.get("ports") or [])

    def allocate_port(self) -> int:
        for port in self.node_ports:
            if port not in self._used_ports:
                self._used_ports.add(port)
                return port
        raise ApiError(500, "Internal error occurred: failed to allocate a nodePort: range is full")

    def claim_ports(self, ports: Iterable[int]) -> None:
        self._used_ports.update(ports)


def _family(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return "IPv4" if address.version == 4 else "IPv6"


def _ip_family(text: str) -> str | None:
    try:
        return _family(ipaddress.ip_address(text))
    except ValueError:
        return None


def default_service(
    service: dict[str, Any], old: dict[str, Any] | None, allocator: ServiceAllocator
) -> list[tuple[str, str]]:
    """Fill in what the API server defaults and allocates on a Service, in place.

    ``old`` is the stored Service on update: its cluster IPs and node ports are kept when the
    new spec leaves them out (the real server's "patch allocated values").  Returns validation
    causes (empty when the spec is valid); nothing is allocated when there are causes.
    """
    spec = service.setdefault("spec", {})
    old_spec = (old or {}).get("spec", {})
    spec.setdefault("type", "ClusterIP")
    service.setdefault("status", {"loadBalancer": {}})
    svc_type = spec["type"]
    if svc_type not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        return [
            (
                "spec.type",
                f'Unsupported value: "{svc_type}": supported values: '
                '"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
            )
        ]
    headless = spec.get("clusterIP") == "None"
    if svc_type != "ExternalName" and not spec.get("ports") and not headless:
        return [("spec.ports", "Required value")]
    if svc_type == "ExternalName":
        return []
    if old_spec and not spec.get("clusterIP") and old_spec.get("clusterIPs"):
        spec["clusterIP"] = old_spec["clusterIP"]
        spec["clusterIPs"] = list(old_spec["clusterIPs"])
    causes = _default_families(spec, allocator)
    if causes:
        return causes
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    old_ports = {p.get("port"): p.get("nodePort") for p in old_spec.get("ports") or []}
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
        # A LoadBalancer Service with allocateLoadBalancerNodePorts: false gets none (1.24+).
        wants_node_port = svc_type == "NodePort" or (
            svc_type == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is not False)
        if wants_node_port and not port.get("nodePort"):
            port["nodePort"] = old_ports.get(port.get("port")) or allocator.allocate_port()
    if svc_type in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if svc_type == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    allocator.claim_ports(p["nodePort"] for p in spec.get("ports") or [] if p.get("nodePort"))
    return []


def _default_families(spec: dict[str, Any], allocator: ServiceAllocator) -> list[tuple[str, str]]:
    cluster_families = allocator.families()
    policy = spec.setdefault("ipFamilyPolicy", "SingleStack")
    given = [ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if ip]
    if policy not in ("SingleStack", "PreferDualStack", "RequireDualStack"):
        return [
            (
                "spec.ipFamilyPolicy",
                f'Unsupported value: "{policy}": supported values: '
                '"PreferDualStack", "RequireDualStack", "SingleStack"',
            )
        ]
    families = list(spec.get("ipFamilies") or [])
    if not families:
        first = _ip_family(given[0]) if given and given[0] != "None" else None
        families = [first or cluster_families[0]]
        if policy != "SingleStack" and len(cluster_families) > 1:
            families.append(next(f for f in cluster_families if f != families[0]))
    if policy == "RequireDualStack" and len(cluster_families) < 2:
        return [
            (
                "spec.ipFamilyPolicy",
                'Invalid value: "RequireDualStack": this cluster is '
                "not configured for dual-stack services",
            )
        ]
    for ip in given:
        if ip != "None" and _ip_family(ip) is None:
            return [
                (
                    "spec.clusterIPs[0]",
                    f'Invalid value: "{ip}": must be a valid IP address, '
                    '(e.g. 10.9.8.7 or 2001:db8::ffff) or "None"',
                )
            ]
    spec["ipFamilies"] = families
    if given == ["None"]:
        spec["clusterIPs"] = ["None"]
        return []
    ips = list(given)
    for family in families[len(ips) :]:
        ips.append(allocator.allocate_ip(family))
    allocator.claim_ips(ips)
    spec["clusterIP"] = ips[0]
    spec["clusterIPs"] = ips
    return []


def validate_status(obj: dict[str, Any], resource: ResourceType) -> list[tuple[str, str]]:
    """Status validation: load-balancer ingress addresses must be IPs."""
    if resource.plural != "services":
        return []
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    causes = []
    for i, entry in enumerate(ingress):
        ip = entry.get("ip") if isinstance(entry, dict) else None
        if ip is not None and _ip_family(str(ip)) is None:
            causes.append(
                (
                    f"status.loadBalancer.ingress[{i}].ip",
                    f'Invalid value: "{ip}": must be a valid IP address',
                )
            )
    return causes


CONFIGMAP_LIMIT = 1024 * 1024


def validate(obj: dict[str, Any], resource: ResourceType) -> list[tuple[str, str]]:
    """Kind-specific validation of a whole object (not its name)."""
    causes = validate_status(obj, resource)
    if resource.plural == "configmaps":
        size = sum(len(k) + len(str(v).encode()) for k, v in (obj.get("data") or {}).items())
        for key, value in (obj.get("binaryData") or {}).items():
            try:  # base64 in JSON; what counts is the size of the decoded bytes
                size += len(key) + len(base64.b64decode(str(value), validate=True))
            except binascii.Error:
                causes.append((f"binaryData[{key}]", "Invalid value: must be base64"))
        if size > CONFIGMAP_LIMIT:
            causes.append(("[]", f"Too long: must have at most {CONFIGMAP_LIMIT} bytes"))
    return causes


def raise_invalid(resource: ResourceType, name: str, causes: list[tuple[str, str]]) -> None:
    if causes:
        raise invalid(resource.kind, resource.group, name, causes)
