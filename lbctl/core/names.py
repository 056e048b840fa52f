"""The Kubernetes names lbctl knows by heart: where it keeps its state, kube-proxy's and other
load balancers' configuration, its controller's Lease, the speakers' identity.

Apart from :mod:`lbctl.core.permissions` (the permissions that use them), so that reading the
state (``svc list``, ``pool list``) does not build the permission list.  Pure data.
"""

from __future__ import annotations

#: Where lbctl keeps its state by default, and where kubeadm keeps kube-proxy's configuration.
SYSTEM_NAMESPACE = "kube-system"
STATE_CONFIGMAP = "lbctl-state"
KUBE_PROXY = "kube-proxy"
#: Where MetalLB and kube-vip's cloud provider keep the configuration ``pool import`` reads.
METALLB_NAMESPACE = "metallb-system"
METALLB_LEGACY_CONFIGMAP = "config"
KUBEVIP_CONFIGMAP = "kubevip"
#: The Lease ``lbctl controller`` replicas elect their leader with, and who runs them.
CONTROLLER_LEASE = "lbctl-controller"
CONTROLLER = "lbctl-controller"
#: The speakers' identity (each keeps its own Lease ``lbctl-speaker-<node>`` in kube-system).
SPEAKER = "lbctl-speaker"
#: Namespaces every cluster has: manifests may put objects there without creating them first.
BUILTIN_NAMESPACES = frozenset({"default", SYSTEM_NAMESPACE, "kube-public", "kube-node-lease"})
#: Namespaces that exist only where another load balancer is installed.  A permission there is
#: optional: ``lbctl rbac`` grants it only when asked (a Role in a missing namespace makes
#: ``kubectl apply`` fail), and doctor reports it missing as a warning, not an error.
FOREIGN_NAMESPACES = frozenset({METALLB_NAMESPACE})
