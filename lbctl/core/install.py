"""The manifests that run lbctl's long-running commands on a cluster (``lbctl install``).

Each component is one workload and its identity: a ServiceAccount with least-privilege RBAC
built from :data:`lbctl.core.permissions.PERMISSIONS` (the entries whose ``commands`` name the
component's command), the workload itself, and what keeps it available.  Today:

* **controller**: a Deployment of ``lbctl controller`` replicas (one leads through the Lease
  ``kube-system/lbctl-controller``, the others stand by), spread over nodes, and a
  PodDisruptionBudget so that a drain never takes every replica at once.
* **speaker**: a DaemonSet of ``lbctl speaker`` on every node (control-plane nodes included),
  with host networking (it answers ARP/NDP on the node's interfaces) and only the NET_RAW
  capability added; ``NODE_NAME`` from ``spec.nodeName``.  Its Leases live in kube-system,
  where its RBAC grants them.

A component is a function ``(Target) -> list[manifest]``; :func:`manifests` concatenates the
ones asked for, so another long-running command (the speaker's DaemonSet) adds a function and a
flag, and shares :func:`container` (probes, resources, a non-root read-only container).

Pure: builds plain dictionaries, reads no file and no cluster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lbctl import __version__
from lbctl.core.names import CONTROLLER, SPEAKER
from lbctl.core.permissions import PERMISSIONS, Permission
from lbctl.core.rbac import meta, namespace_document, service_account_rbac

Obj = dict[str, Any]

#: The image ``lbctl install`` names unless ``--image`` says otherwise: what the Containerfile
#: builds (``podman build -t lbctl:VERSION .``).
DEFAULT_IMAGE = f"lbctl:{__version__}"
DEFAULT_NAMESPACE = "kube-system"
METRICS_PORT = 8080
#: The speaker's metrics port: on the host network, so not 8080 (MetalLB's speaker uses 7472).
SPEAKER_METRICS_PORT = 7473
#: The non-root user of the image (the Containerfile creates it).
USER_ID = 65532


@dataclass(frozen=True)
class Target:
    """Where and what to install."""

    image: str = DEFAULT_IMAGE
    namespace: str = DEFAULT_NAMESPACE
    replicas: int = 2


def labels(name: str, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": component,
            "app.kubernetes.io/part-of": "lbctl"}


def permissions_of(command: str, permissions: Iterable[Permission] = PERMISSIONS
                   ) -> list[Permission]:
    """The permissions one long-running command uses."""
    return [p for p in permissions if command in p.commands]


def container(name: str, image: str, args: Sequence[str], *, cpu: str = "50m",
              memory: str = "64Mi", memory_limit: str = "256Mi",
              port: int = METRICS_PORT) -> Obj:
    """The container of a long-running command: its identity from the downward API, the
    metrics port, liveness (``/healthz``) and readiness (``/readyz``) probes, resource requests,
    and a non-root, read-only, capability-free security context."""
    probe = {"httpGet": {"path": "/healthz", "port": "metrics"}, "periodSeconds": 10,
             "timeoutSeconds": 3, "failureThreshold": 3}
    return {
        "name": name,
        "image": image,
        "args": list(args),
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_NAMESPACE",
             "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        ],
        "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}],
        "livenessProbe": probe,
        "readinessProbe": {**probe, "httpGet": {"path": "/readyz", "port": "metrics"},
                           "periodSeconds": 5},
        "resources": {"requests": {"cpu": cpu, "memory": memory},
                      "limits": {"memory": memory_limit}},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": USER_ID,
            "runAsGroup": USER_ID,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def controller(target: Target) -> list[Obj]:
    """ServiceAccount, RBAC, Deployment and PodDisruptionBudget of ``lbctl controller``."""
    name, ns = CONTROLLER, target.namespace
    tags = labels(name, "controller")
    selector = {"app.kubernetes.io/name": name}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name, ns, tags),
        "spec": {
            "replicas": target.replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": tags,
                             "annotations": {"prometheus.io/scrape": "true",
                                             "prometheus.io/port": str(METRICS_PORT)}},
                "spec": {
                    "serviceAccountName": name,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {"runAsNonRoot": True,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container(
                        "controller", target.image,
                        ["controller", f"--metrics-addr=:{METRICS_PORT}", "--log-format=json"])],
                    # One replica per node where possible: losing a node loses one replica.
                    "affinity": {"podAntiAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [{
                            "weight": 100,
                            "podAffinityTerm": {"labelSelector": {"matchLabels": selector},
                                                "topologyKey": "kubernetes.io/hostname"}}]}},
                    "tolerations": [{"key": "node-role.kubernetes.io/control-plane",
                                     "operator": "Exists", "effect": "NoSchedule"}],
                },
            },
        },
    }
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(name, ns, tags),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
    }
    rbac = service_account_rbac(permissions_of("controller"), name, ns, tags)
    return [*rbac, deployment, budget]


def speaker(target: Target) -> list[Obj]:
    """ServiceAccount, RBAC and DaemonSet of ``lbctl speaker``."""
    name, ns = SPEAKER, target.namespace
    tags = labels(name, "speaker")
    selector = {"app.kubernetes.io/name": name}
    main = container("speaker", target.image,
                     ["speaker", f"--metrics-addr=:{SPEAKER_METRICS_PORT}"],
                     port=SPEAKER_METRICS_PORT)
    main["env"].append({"name": "NODE_NAME",
                        "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}})
    # Raw sockets need CAP_NET_RAW, which a non-root process cannot hold without ambient
    # capabilities (Kubernetes sets none): root in the container, every other capability
    # dropped, read-only root filesystem, as MetalLB's speaker.
    main["securityContext"] = {
        "runAsUser": 0,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"], "add": ["NET_RAW"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    # The only writable place: ExaBGP's configuration and API socket, for BGP peers.
    main["volumeMounts"] = [{"name": "tmp", "mountPath": "/tmp"}]
    daemonset = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta(name, ns, tags),
        "spec": {
            "selector": {"matchLabels": selector},
            "updateStrategy": {"type": "RollingUpdate",
                               "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": tags,
                             "annotations": {"prometheus.io/scrape": "true",
                                             "prometheus.io/port": str(SPEAKER_METRICS_PORT)}},
                "spec": {
                    "serviceAccountName": name,
                    "hostNetwork": True,
                    "dnsPolicy": "ClusterFirstWithHostNet",
                    # SIGTERM hands every address over at once; a few seconds suffice.
                    "terminationGracePeriodSeconds": 10,
                    "containers": [main],
                    "volumes": [{"name": "tmp",
                                 "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}],
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "tolerations": [
                        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                         "effect": "NoSchedule"},
                        {"key": "node-role.kubernetes.io/master", "operator": "Exists",
                         "effect": "NoSchedule"},
                    ],
                },
            },
        },
    }
    rbac = service_account_rbac(permissions_of("speaker"), name, ns, tags)
    return [*rbac, daemonset]


#: The components ``lbctl install`` knows, by name, in the order they are printed.
COMPONENTS: dict[str, Callable[[Target], list[Obj]]] = {"controller": controller,
                                                         "speaker": speaker}


def manifests(target: Target, components: Iterable[str] = ("controller",)) -> list[Obj]:
    """Every manifest of the components asked for, in ``kubectl apply`` order per component;
    first the Namespace when it is not one every cluster has (so that the output applies on a
    fresh cluster)."""
    created = namespace_document(target.namespace, {"app.kubernetes.io/part-of": "lbctl"})
    return [*([created] if created else []),
            *(doc for name in components for doc in COMPONENTS[name](target))]
