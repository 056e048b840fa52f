"""``lbctl install``: the manifests that run the controller, as kubectl would apply them."""

from __future__ import annotations

import json
from typing import Any

import yaml

from lbctl import __version__
from tests.conftest import Cli


def docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def test_defaults(cli: Cli) -> None:
    result = cli("install")
    assert (result.code, result.err) == (0, "")
    found = docs(result.out)
    assert [(d["kind"], d["metadata"].get("namespace")) for d in found] == [
        ("ServiceAccount", "kube-system"), ("ClusterRole", None), ("ClusterRoleBinding", None),
        ("Role", "kube-system"), ("RoleBinding", "kube-system"),
        ("Deployment", "kube-system"), ("PodDisruptionBudget", "kube-system")]
    assert {d["metadata"]["name"] for d in found} == {"lbctl-controller"}
    deployment = found[5]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "lbctl-controller"
    [container] = pod["containers"]
    assert container["image"] == f"lbctl:{__version__}"
    assert container["args"] == ["controller", "--metrics-addr=:8080", "--log-format=json"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["resources"]["requests"] == {"cpu": "50m", "memory": "64Mi"}
    security = container["securityContext"]
    assert security["runAsNonRoot"] and security["readOnlyRootFilesystem"]
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert not security["allowPrivilegeEscalation"]
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in (
        container["env"])
    term = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert found[6]["spec"] == {"maxUnavailable": 1, "selector": {
        "matchLabels": {"app.kubernetes.io/name": "lbctl-controller"}}}


def test_least_privilege_rbac(cli: Cli) -> None:
    found = docs(cli("install").out)
    cluster, role = found[1]["rules"], found[3]["rules"]
    assert cluster == [
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "get", "patch"]},
        # nodes: listed while the state is missing (a node's address is never lbctl's)
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]},
        {"apiGroups": [""], "resources": ["services"], "verbs": ["list", "watch"]},
        {"apiGroups": [""], "resources": ["services/status"], "verbs": ["patch"]},
    ]
    assert role == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "update",
                                                                   "watch"],
         "resourceNames": ["lbctl-state"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
         "verbs": ["get", "update"], "resourceNames": ["lbctl-controller"]},
    ]
    assert found[4]["subjects"] == [
        {"kind": "ServiceAccount", "name": "lbctl-controller", "namespace": "kube-system"}]


def test_image_namespace_replicas_and_json(cli: Cli) -> None:
    result = cli("install", "--image", "registry.example/lbctl:1", "-n", "lb-system",
                 "--replicas", "3", "-o", "json")
    assert result.code == 0, result.err
    listing = json.loads(result.out)
    assert (listing["apiVersion"], listing["kind"]) == ("v1", "List")
    # lb-system is not on every cluster: created first, so kubectl apply works on a fresh one.
    assert listing["items"][0] == {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "lb-system", "labels": {"app.kubernetes.io/part-of": "lbctl"}}}
    assert all(d["kind"] != "Namespace" for d in json.loads(
        cli("install", "-o", "json").out)["items"])
    deployment = next(d for d in listing["items"] if d["kind"] == "Deployment")
    assert deployment["metadata"]["namespace"] == "lb-system"
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "registry.example/lbctl:1")
    # The state and the Lease stay in kube-system, wherever the controller runs.
    role = next(d for d in listing["items"] if d["kind"] == "RoleBinding")
    assert role["metadata"]["namespace"] == "kube-system"
    assert role["subjects"][0]["namespace"] == "lb-system"


def test_bad_input(cli: Cli) -> None:
    result = cli("install", "--replicas", "0")
    assert result.code == 2 and result.out == ""
    assert "lbctl: error:" in result.err and "--replicas" in result.err
    result = cli("install", "--image", "bad image")
    assert (result.code, result.out) == (2, "")
    assert result.err == ("lbctl: error: invalid --image 'bad image'\n"
                          "hint: for example ghcr.io/me/lbctl:0.1.0\n")
    result = cli("install", "-o", "wide")
    assert (result.code, result.err) == (2, "lbctl: error: -o wide is not supported here\n"
                                            "hint: choose one of: yaml, json\n")


def test_speaker_daemonset_and_its_rbac(cli: Cli) -> None:
    result = cli("install", "--speaker")
    assert (result.code, result.err) == (0, "")
    found = docs(result.out)
    speaker = [d for d in found if d["metadata"]["name"] == "lbctl-speaker"]
    assert [d["kind"] for d in speaker] == ["ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                                           "Role", "RoleBinding", "DaemonSet"]
    assert len(found) == len(docs(cli("install").out)) + 6  # the controller's are still there
    cluster, role, daemonset = speaker[1]["rules"], speaker[3]["rules"], speaker[5]
    assert cluster == [
        {"apiGroups": [""], "resources": ["nodes", "services"], "verbs": ["list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
         "verbs": ["list", "watch"]},
    ]
    assert role == [  # the state ConfigMap by name only; Secrets read (BGP passwords), nothing
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"],
         "resourceNames": ["lbctl-state"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
         "verbs": ["create", "get", "list", "update", "watch"]},
    ]
    pod = daemonset["spec"]["template"]["spec"]
    assert (pod["hostNetwork"], pod["serviceAccountName"]) == (True, "lbctl-speaker")
    [container] = pod["containers"]
    assert container["args"] == ["speaker", "--metrics-addr=:7473"]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["NET_RAW"]}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # ... but ExaBGP (BGP peers) needs a private directory: /tmp is an emptyDir in memory
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"medium": "Memory",
                                                          "sizeLimit": "16Mi"}}]
    assert {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}} in (
        container["env"])
    assert container["ports"] == [{"name": "metrics", "containerPort": 7473, "protocol": "TCP"}]
