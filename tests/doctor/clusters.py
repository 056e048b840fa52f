"""The example directories, as files for offline doctor and as objects for the fake API server.

``examples/`` holds a clean GitOps directory and directories with planted problems (their
README lists which check each problem trips).  The live tests seed the fake kube-apiserver with
the very same objects, so that one example is one situation, checked both ways.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.kubefake import FakeKubeServer
from tests.kubefake.resources import BY_KIND

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

Obj = dict[str, Any]


def _load(directory: Path) -> tuple[list[Obj], str | None]:
    objects: list[Obj] = []
    state = None
    for path in sorted(directory.rglob("*.yaml")):
        text = path.read_text()
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
        if len(docs) == 1 and "schemaVersion" in docs[0] and "kind" not in docs[0]:
            state = text
            continue
        for doc in docs:
            objects.extend(doc["items"] if doc.get("kind") == "List" else [doc])
    return objects, state


def state_of(example: str) -> str | None:
    return _load(EXAMPLES / example)[1]


def seed(server: FakeKubeServer, example: str, *, publish: bool = False,
         extra: tuple[Obj, ...] = ()) -> None:
    """Put the example's objects (the kinds the fake serves) and its state ConfigMap into
    ``server``.  ``publish`` sets each allocated Service's status to its allocation, as
    ``lbctl assign`` would have."""
    objects, state = _load(EXAMPLES / example)
    allocations = (yaml.safe_load(state) or {}).get("allocations") or {} if state else {}
    for obj in [*objects, *extra]:
        if (obj.get("apiVersion"), obj.get("kind")) not in BY_KIND:
            continue  # custom resources: the fake has no CRDs, like a cluster without them
        meta = obj.get("metadata") or {}
        record = (allocations.get(meta.get("namespace") or "default") or {}).get(meta.get("name"))
        if publish and obj.get("kind") == "Service" and record:
            obj = {**obj, "status": {"loadBalancer": {"ingress": [{"ip": ip}
                                                                  for ip in record["ips"]]}}}
        server.put_object(obj)
    if state is not None:
        server.put_object({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "lbctl-state", "namespace": "kube-system"},
            "data": {"state.yaml": state},
        })


def workload(kind: str, namespace: str, name: str, image: str,
             labels: dict[str, str] | None = None) -> Obj:
    """A Deployment or DaemonSet running one container."""
    return {
        "apiVersion": "apps/v1", "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": name, "image": image}]}}},
    }


def ready_slice(namespace: str, service: str, node: str) -> Obj:
    """An EndpointSlice with one ready endpoint of ``service`` on ``node``."""
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": f"{service}-abcde", "namespace": namespace,
                     "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.244.0.9"], "conditions": {"ready": True},
                       "nodeName": node}],
        "ports": [{"port": 8443, "protocol": "TCP"}],
    }


#: MetalLB as its manifests install it: what the live "broken" cluster runs.
METALLB = (
    workload("Deployment", "metallb-system", "controller", "quay.io/metallb/controller:v0.14.8",
             {"app": "metallb", "component": "controller"}),
    workload("DaemonSet", "metallb-system", "speaker", "quay.io/metallb/speaker:v0.14.8",
             {"app": "metallb", "component": "speaker"}),
)
