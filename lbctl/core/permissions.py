"""Every Kubernetes API permission lbctl uses, in one list, each with the reason it is needed.

This list is the single source for two consumers: ``lbctl doctor`` asks the API server whether
the current identity holds each permission (a SelfSubjectAccessReview per entry, check
``rbac.permissions``), and the RBAC manifests lbctl generates are built from it.  A command that
starts calling the API in a new way adds its permission here, and both follow.

Each entry is what an RBAC rule grants: a verb on a resource (and subresource) of an API group,
in one namespace or in all of them, on one named object or on any.  ``create`` can never be
limited to a name (the name is not known when the request is authorised), so no ``create``
entry has one.

Pure data: no I/O, no imports beyond the standard library and :mod:`lbctl.core.names`.
"""

from __future__ import annotations

from dataclasses import dataclass

from lbctl.core.names import (
    CONTROLLER_LEASE,
    FOREIGN_NAMESPACES,
    KUBE_PROXY,
    KUBEVIP_CONFIGMAP,
    METALLB_LEGACY_CONFIGMAP,
    METALLB_NAMESPACE,
    STATE_CONFIGMAP,
    SYSTEM_NAMESPACE,
)


@dataclass(frozen=True)
class Permission:
    verb: str  # "get", "list", "create", "update", "patch"
    group: str  # "" for the core API group
    resource: str  # plural: "services"
    why: str  # what lbctl does with it, for a person reading doctor's report or the RBAC
    commands: tuple[str, ...]  # the lbctl commands that use it
    subresource: str = ""  # "status"
    namespace: str | None = None  # None: every namespace (or a cluster-scoped resource)
    name: str | None = None  # None: any object
    #: False: held only by the ServiceAccount of the long-running command that uses it (``lbctl
    #: install``), never by the operator's identity (``lbctl rbac``, checked by doctor).
    operator: bool = True

    @property
    def optional(self) -> bool:
        """Needed only on clusters running another load balancer (its namespace exists)."""
        return self.namespace in FOREIGN_NAMESPACES

    @property
    def cluster_wide(self) -> bool:
        """Needs a ClusterRole (every namespace, or a cluster-scoped resource)."""
        return self.namespace is None

    def describe(self) -> str:
        """``patch services/status (all namespaces)``, ``get configmaps kube-system/lbctl-state``,
        ``list deployments.apps (all namespaces)``."""
        resource = self.resource + (f".{self.group}" if self.group else "")
        if self.subresource:
            resource += f"/{self.subresource}"
        if self.namespace is None:
            where = f" {self.name}" if self.name else " (all namespaces)"
        else:
            where = f" {self.namespace}/{self.name}" if self.name else f" in {self.namespace}"
        return f"{self.verb} {resource}{where}"


_SVC = ("svc list", "svc show", "assign", "release", "reconcile", "adopt", "pool add",
        "pool import", "doctor", "controller", "speaker", "speaker status", "svc check")
_STATE = ("pool", "assign", "release", "reconcile", "adopt", "arp announce", "doctor",
          "controller", "speaker", "speaker status")
_PROXY = ("kube-proxy diff", "kube-proxy apply", "doctor")

PERMISSIONS: tuple[Permission, ...] = (
    # Services and their published addresses.
    Permission("get", "", "services", "read the Service being assigned, released, adopted or "
               "checked", ("svc show", "assign", "release", "adopt", "svc check")),
    Permission("list", "", "services", "find LoadBalancer Services and the ClusterIPs in use",
               _SVC),
    Permission("watch", "", "services", "assign new LoadBalancer Services as they appear; "
               "announce them", ("controller", "speaker")),
    Permission("patch", "", "services", "publish the address in status.loadBalancer.ingress, "
               "and withdraw it", ("assign", "release", "reconcile", "controller"),
               subresource="status"),
    Permission("create", "", "events", "record on the Service why it got no address",
               ("assign", "reconcile", "controller")),
    Permission("get", "", "events", "find the same Event recorded before, to count it again",
               ("assign", "reconcile", "controller")),
    Permission("patch", "", "events", "count a repeated Event again instead of adding one",
               ("assign", "reconcile", "controller")),
    Permission("list", "discovery.k8s.io", "endpointslices",
               "find the nodes with ready endpoints of externalTrafficPolicy: Local Services",
               ("svc list", "svc show", "doctor", "speaker", "speaker status")),
    Permission("watch", "discovery.k8s.io", "endpointslices",
               "announce only Services with ready endpoints, from nodes hosting one (Local)",
               ("speaker",)),
    # The speakers' state (their view of pools and allocations) and liveness.
    Permission("list", "coordination.k8s.io", "leases", "find which speakers are alive "
               "(and which MAC is whose)",
               ("speaker", "speaker status", "svc show", "doctor --probe"),
               namespace=SYSTEM_NAMESPACE),
    Permission("watch", "coordination.k8s.io", "leases", "notice at once when a speaker dies "
               "or hands over", ("speaker",), namespace=SYSTEM_NAMESPACE),
    Permission("get", "coordination.k8s.io", "leases", "renew this node's speaker Lease",
               ("speaker",), namespace=SYSTEM_NAMESPACE),
    Permission("update", "coordination.k8s.io", "leases", "renew this node's speaker Lease "
               "(lbctl-speaker-<node>: any name, nodes come and go) with its failing health "
               "checks, MACs and BGP summary", ("speaker",), namespace=SYSTEM_NAMESPACE),
    Permission("watch", "", "nodes", "never announce from excluded or unavailable nodes; "
               "apply pools' node selectors", ("speaker",)),
    # The state document.
    Permission("get", "", "configmaps", "read the state document", _STATE,
               namespace=SYSTEM_NAMESPACE, name=STATE_CONFIGMAP),
    Permission("list", "", "configmaps", "follow the state document (pools changed with the CLI, "
               "addresses recorded)", ("controller", "speaker"), namespace=SYSTEM_NAMESPACE,
               name=STATE_CONFIGMAP),
    Permission("watch", "", "configmaps", "follow the state document (pools changed with the "
               "CLI, addresses recorded)", ("controller", "speaker"), namespace=SYSTEM_NAMESPACE,
               name=STATE_CONFIGMAP),
    Permission("create", "", "configmaps", "create the state ConfigMap on the first change",
               ("pool", "assign", "controller"), namespace=SYSTEM_NAMESPACE),
    Permission("update", "", "configmaps", "write the state document (compare-and-swap)",
               ("pool", "assign", "release", "reconcile", "adopt", "controller"),
               namespace=SYSTEM_NAMESPACE, name=STATE_CONFIGMAP),
    # BGP peers' passwords: a new Secret lbctl-bgp-<peer>, never read or changed by the CLI.
    Permission("create", "", "secrets", "store a BGP peer's password (--password-file)",
               ("bgp peer add",), namespace=SYSTEM_NAMESPACE),
    # ... deleted (that object: its uid, recorded when it was created) when no peer names it.
    Permission("delete", "", "secrets", "delete the password Secret bgp peer add|set created, "
               "once no peer names it", ("bgp peer remove", "bgp peer set"),
               namespace=SYSTEM_NAMESPACE),
    # ... read by the speakers only (peers name their Secret: RBAC cannot name it in advance).
    Permission("get", "", "secrets", "read a BGP peer's TCP MD5 password (its passwordSecret)",
               ("speaker",), namespace=SYSTEM_NAMESPACE, operator=False),
    # The controller's leader election.
    Permission("get", "coordination.k8s.io", "leases", "find the controller's leader",
               ("controller", "controller status", "svc show", "doctor"),
               namespace=SYSTEM_NAMESPACE, name=CONTROLLER_LEASE),
    Permission("create", "coordination.k8s.io", "leases", "create the leader Lease, or a "
               "speaker's, the first time", ("controller", "speaker"), namespace=SYSTEM_NAMESPACE),
    Permission("update", "coordination.k8s.io", "leases", "take and renew leadership",
               ("controller",), namespace=SYSTEM_NAMESPACE, name=CONTROLLER_LEASE),
    # kube-proxy's strictARP.
    Permission("get", "", "configmaps", "read kube-proxy's configuration (strictARP)", _PROXY,
               namespace=SYSTEM_NAMESPACE, name=KUBE_PROXY),
    Permission("update", "", "configmaps", "set ipvs.strictARP: true", ("kube-proxy apply",),
               namespace=SYSTEM_NAMESPACE, name=KUBE_PROXY),
    Permission("get", "apps", "daemonsets", "follow kube-proxy's rollout",
               ("kube-proxy apply",), namespace=SYSTEM_NAMESPACE, name=KUBE_PROXY),
    Permission("patch", "apps", "daemonsets", "restart kube-proxy so it reads the change",
               ("kube-proxy apply",), namespace=SYSTEM_NAMESPACE, name=KUBE_PROXY),
    Permission("list", "", "pods", "read RKE2's kube-proxy flags from its static pods", _PROXY,
               namespace=SYSTEM_NAMESPACE),
    Permission("list", "", "nodes", "node addresses (never lbctl's, even with no state) and pod "
               "CIDRs; k3s/RKE2 kube-proxy flags",
               ("pool add", "adopt", "kube-proxy diff", "doctor", "speaker", "speaker status",
                "svc check", "svc show", "controller")),
    # Other load balancers: the traces doctor looks for, the configuration pool import reads.
    Permission("list", "apps", "deployments", "find other load-balancer controllers",
               ("doctor",)),
    Permission("list", "apps", "daemonsets", "find other load-balancer speakers and k3s "
               "ServiceLB", ("doctor",)),
    Permission("get", "", "configmaps", "read kube-vip cloud provider's address ranges",
               ("pool import", "doctor"), namespace=SYSTEM_NAMESPACE, name=KUBEVIP_CONFIGMAP),
    Permission("get", "", "configmaps", "read MetalLB's configuration (before MetalLB 0.13)",
               ("pool import", "doctor"), namespace=METALLB_NAMESPACE,
               name=METALLB_LEGACY_CONFIGMAP),
    Permission("get", "", "configmaps", "find whether Cilium's LB IPAM is switched off",
               ("doctor",), namespace=SYSTEM_NAMESPACE, name="cilium-config"),
    Permission("list", "metallb.io", "ipaddresspools", "read MetalLB's address pools",
               ("pool import", "doctor")),
    Permission("list", "metallb.io", "l2advertisements",
               "name the MetalLB advertisements an import leaves behind", ("pool import",),
               namespace=METALLB_NAMESPACE),
    Permission("list", "metallb.io", "bgpadvertisements",
               "read which MetalLB pools are announced over BGP, and how", ("pool import",),
               namespace=METALLB_NAMESPACE),
    Permission("list", "metallb.io", "bgppeers", "read MetalLB's BGP peers", ("pool import",),
               namespace=METALLB_NAMESPACE),
    Permission("list", "metallb.io", "communities", "read MetalLB's BGP community aliases",
               ("pool import",), namespace=METALLB_NAMESPACE),
    Permission("list", "cilium.io", "ciliumloadbalancerippools",
               "find and read Cilium LB IPAM address pools", ("pool import", "doctor")),
    Permission("list", "crd.projectcalico.org", "bgpconfigurations",
               "check that Calico's serviceLoadBalancerIPs cover the pools", ("doctor",)),
    Permission("get", "crd.projectcalico.org", "bgpconfigurations",
               "keep Calico's other BGP settings in the exported BGPConfiguration",
               ("pool export",)),
    Permission("list", "crd.projectcalico.org", "bgppeers",
               "find routers Calico's nodes peer with, which lbctl's speakers must not",
               ("doctor",)),
    Permission("list", "network.kubesphere.io", "eips", "find OpenELB address pools",
               ("doctor",)),
    Permission("list", "purelb.io", "servicegroups", "find PureLB address pools", ("doctor",)),
)
