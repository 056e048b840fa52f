"""Building :class:`~lbctl.doctor.facts.Facts` in tests: a live-looking cluster by default, every
fact overridable, and small object factories."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lbctl.doctor import checks
from lbctl.doctor.facts import Facts, StateText
from lbctl.doctor.report import CheckResult

Obj = dict[str, Any]

STATE = """\
schemaVersion: 1
pools:
  default: {addresses: [192.0.2.10-192.0.2.19]}
allocations:
  web:
    frontend: {ips: [192.0.2.10], pool: default}
"""


def facts(**given: Any) -> Facts:
    base = Facts(
        mode="live", source="test", state=StateText(STATE, "ConfigMap kube-system/lbctl-state"),
        services=[], nodes=[], endpoint_slices=[], kube_proxy=None, system_pods=[],
        workloads=[], configmaps=[], custom=[], permissions=[], probes=[],
    )
    return replace(base, **given)


def run(check: str, found: Facts) -> CheckResult:
    """The result of one check on ``found``."""
    return next(r for r in checks.diagnose(found) if r.id == check)


def service(name: str, namespace: str = "web", *, ips: tuple[str, ...] = (),
            annotations: dict[str, str] | None = None, policy: str = "Cluster",
            ports: tuple[int, ...] = (80,), status: bool = True, **spec: Any) -> Obj:
    obj: Obj = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": policy,
                 "selector": {"app": name},
                 "ports": [{"port": p, "protocol": "TCP"} for p in ports], **spec},
    }
    if status:
        obj["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}
    return obj


def node(name: str, address: str, pod_cidr: str = "10.244.0.0/24",
         **meta: Any) -> Obj:
    return {
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": name, **meta},
        "spec": {"podCIDRs": [pod_cidr]},
        "status": {"addresses": [{"type": "InternalIP", "address": address},
                                 {"type": "Hostname", "address": name}],
                   "nodeInfo": {"kubeletVersion": "v1.30.4"}},
    }
