"""The used-address rule on the fake cluster: an address any Service shows in its status --
another controller's, another class's, one set by hand -- is never handed to a second Service,
by ``assign svc`` (explicit or automatic), ``assign --all``, ``reconcile`` or doctor's
prediction; and doctor predicts exactly what ``assign --all --dry-run`` does."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lbctl import kube
from lbctl.actions.services import reason_of
from lbctl.core.state import Allocation
from lbctl.doctor import checks, gather
from lbctl.errors import LbctlError
from lbctl.state.configmap import ConfigMapBackend
from lbctl.state.store import StateStore
from tests.conftest import Cli, Result
from tests.kubefake.server import FakeKubeServer


def put(server: FakeKubeServer, name: str, namespace: str = "shop", *,
        status: tuple[str, ...] = (), annotations: dict[str, str] | None = None,
        **spec: Any) -> None:
    body: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], **spec},
    }
    if status:
        body["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in status]}}
    server.put_object(body)


def shown(server: FakeKubeServer, name: str, namespace: str = "shop") -> list[str]:
    obj = server.get_object("services", name, namespace)
    assert obj is not None
    return [i["ip"] for i in obj.get("status", {}).get("loadBalancer", {}).get("ingress", [])]


@pytest.fixture
def run(cli: Cli, kubeconfig: Path) -> Cli:
    def invoke(*args: str) -> Result:
        return cli(*args, "--kubeconfig", str(kubeconfig))

    assert invoke("pool", "add", "default", "10.55.0.0-10.55.0.3").code == 0
    return invoke


#: Who shows 10.55.0.0 already: MetalLB in another namespace, a Service of another class, a
#: status set by hand on a Service lbctl would otherwise serve.
PUBLISHERS = {
    "another-controller": {"namespace": "metallb-app"},
    "another-class": {"namespace": "shop", "loadBalancerClass": "example.com/cloud"},
    "set-by-hand": {"namespace": "edge"},
}


@pytest.mark.parametrize("publisher", sorted(PUBLISHERS))
def test_explicit_request_for_a_published_address_is_refused(
        run: Cli, kube_server: FakeKubeServer, publisher: str) -> None:
    spec = dict(PUBLISHERS[publisher])
    namespace = spec.pop("namespace")
    put(kube_server, "owner", namespace, status=("10.55.0.0",), **spec)
    put(kube_server, "web")
    result = run("assign", "svc", "web", "-n", "shop", "--ip", "10.55.0.0")
    assert (result.code, result.out, result.err) == (
        4, "",
        f"lbctl: error: 10.55.0.0 is already published by service {namespace}/owner (its "
        "status.loadBalancer.ingress shows it)\n"
        "hint: ask for another address; if that status is stale, withdraw it: lbctl release "
        f"svc owner -n {namespace} --force\n")
    assert shown(kube_server, "web") == []
    state = kube_server.get_object("configmaps", "lbctl-state", "kube-system")
    assert state is not None and "web" not in state["data"]["state.yaml"]  # nothing recorded


@pytest.mark.parametrize("publisher", sorted(PUBLISHERS))
def test_automatic_allocation_skips_a_published_address(
        run: Cli, kube_server: FakeKubeServer, publisher: str) -> None:
    spec = dict(PUBLISHERS[publisher])
    namespace = spec.pop("namespace")
    put(kube_server, "owner", namespace, status=("10.55.0.0",), **spec)
    put(kube_server, "web")
    result = run("assign", "svc", "web", "-n", "shop")
    assert (result.code, result.out) == (0, "service/web assigned 10.55.0.1 (pool default)\n")
    assert shown(kube_server, "owner", namespace) == ["10.55.0.0"]


def test_a_published_annotation_request_is_refused_with_an_event_reason(
        run: Cli, kube_server: FakeKubeServer) -> None:
    put(kube_server, "owner", "other", status=("10.55.0.2",))
    put(kube_server, "web", annotations={"metallb.io/loadBalancerIPs": "10.55.0.2"})
    result = run("assign", "svc", "web", "-n", "shop")
    assert result.code == 4
    events = [e for e in kube_server.objects_of("events")
              if e["involvedObject"]["name"] == "web"]
    assert [e["reason"] for e in events] == ["AllocationFailed"]
    assert events[0]["message"].startswith("AlreadyPublished: 10.55.0.2 is already published "
                                           "by service other/owner")


def test_assign_all_skips_every_published_address(run: Cli, kube_server: FakeKubeServer) -> None:
    put(kube_server, "metallb", "elsewhere", status=("10.55.0.0",))
    put(kube_server, "cloud", "shop", status=("10.55.0.2",), loadBalancerClass="example.com/c")
    for name in ("a", "b", "c"):
        put(kube_server, name)
    result = run("assign", "svc", "--all", "-n", "shop", "-o", "json")
    items = {i["name"]: (i["result"], i["ips"], i["reason"])
             for i in json.loads(result.out)["items"]}
    assert result.code == 1
    assert items == {"a": ("assigned", ["10.55.0.1"], ""),
                     "b": ("assigned", ["10.55.0.3"], ""),
                     "c": ("failed", [], "PoolExhausted")}
    published = [ip for s in kube_server.objects_of("services") for ip in
                 [i["ip"] for i in s.get("status", {}).get("loadBalancer", {}).get("ingress", [])]]
    assert sorted(published) == ["10.55.0.0", "10.55.0.1", "10.55.0.2", "10.55.0.3"]


def test_assign_all_explicit_request_for_a_published_address_fails_alone(
        run: Cli, kube_server: FakeKubeServer) -> None:
    put(kube_server, "cloud", "shop", status=("10.55.0.1",), loadBalancerClass="example.com/c")
    put(kube_server, "pinned", annotations={"metallb.io/loadBalancerIPs": "10.55.0.1"})
    put(kube_server, "web")
    result = run("assign", "svc", "--all", "-n", "shop", "-o", "json")
    items = {i["name"]: (i["result"], i["reason"]) for i in json.loads(result.out)["items"]}
    assert items == {"pinned": ("failed", "AlreadyPublished"), "web": ("assigned", "")}
    assert shown(kube_server, "pinned") == []


def test_reconcile_never_gives_a_published_address_away(
        run: Cli, kube_server: FakeKubeServer) -> None:
    put(kube_server, "web")
    assert run("assign", "svc", "web", "-n", "shop").code == 0  # 10.55.0.0
    # the Service moves to another class: reconcile forgets the allocation but leaves the
    # other controller's status alone, and the address stays in use while it shows it
    put(kube_server, "web", loadBalancerClass="example.com/cloud", status=("10.55.0.0",))
    put(kube_server, "hand", "edge", status=("10.55.0.1",))
    put(kube_server, "new")
    result = run("reconcile", "-o", "json")
    items = {(i["namespace"], i["name"]): (i["result"], i["ips"], i["reason"])
             for i in json.loads(result.out)["items"]}
    assert items == {
        ("edge", "hand"): ("drift", ["10.55.0.1"], "unrecorded"),
        ("shop", "new"): ("assigned", ["10.55.0.2"], ""),
        ("shop", "web"): ("released", [], ""),
    }
    assert shown(kube_server, "web") == ["10.55.0.0"]


def _prediction(server: FakeKubeServer, kubeconfig: Path) -> dict[str, tuple[Any, ...]]:
    api = kube.connect(str(kubeconfig), None)
    facts = gather.live(api, ConfigMapBackend(api))
    answers, _ = checks.Context(facts).pending
    return {f"{k[0]}/{k[1]}": ([], None, reason_of(a)) if isinstance(a, LbctlError)
            else (list(a.ips), a.pool, "") for k, a in answers.items()}


def test_doctor_predicts_what_assign_all_dry_run_does(
        run: Cli, kube_server: FakeKubeServer, kubeconfig: Path) -> None:
    assert run("pool", "add", "gold", "10.56.0.0/31", "--no-auto-assign").code == 0
    put(kube_server, "metallb", "elsewhere", status=("10.55.0.1",))
    put(kube_server, "cloud", "shop", status=("10.55.0.2",), loadBalancerClass="example.com/c")
    put(kube_server, "z-first", "a-ns")
    put(kube_server, "gold", "shop", annotations={"metallb.io/address-pool": "gold"})
    put(kube_server, "taken", "shop", annotations={"metallb.io/loadBalancerIPs": "10.55.0.2"})
    put(kube_server, "bad", "shop", annotations={"metallb.io/loadBalancerIPs": "nonsense"})
    for name in ("m", "n", "o"):
        put(kube_server, name, "shop")
    api = kube.connect(str(kubeconfig), None)
    ended = Allocation("shop", "ghost", ("10.55.0.3",), "default", expires="2020-01-01T00:00:00Z")
    StateStore(ConfigMapBackend(api)).update(
        lambda state: (replace(state, holds={ended.key: ended}), None))
    dry = run("assign", "svc", "--all", "-A", "--dry-run", "-o", "json")
    did = {f"{i['namespace']}/{i['name']}": (i["ips"], i["pool"], i["reason"])
           for i in json.loads(dry.out)["items"]}
    assert did == _prediction(kube_server, kubeconfig)
    assert did["shop/taken"][2] == "AlreadyPublished"
    assert did["a-ns/z-first"] == (["10.55.0.0"], "default", "")  # namespace order first
    assert did["shop/m"] == (["10.55.0.3"], "default", "")  # the hold has ended: free


# --------------------------------------------------------------------------- pool add on a cluster

NODE = {
    "apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
    "spec": {"podCIDRs": ["10.244.0.0/24"]},
    "status": {"addresses": [{"type": "InternalIP", "address": "192.168.7.11"}]},
}


def test_pool_add_refuses_the_clusters_own_addresses_unless_told(
        cli: Cli, kubeconfig: Path, kube_server: FakeKubeServer, tmp_path: Path) -> None:
    kube_server.put_object(NODE)
    result = cli("pool", "add", "lan", "192.168.7.0/28", "--kubeconfig", str(kubeconfig))
    assert (result.code, result.out, result.err) == (
        4, "",
        "lbctl: error: pool lan contains 192.168.7.11, the InternalIP of node node-1\n"
        "hint: a VIP there would break the node, the pods or the Service: take those addresses "
        "out of the pool, or pass --allow-cluster-overlap if you mean it\n")
    assert kube_server.get_object("configmaps", "lbctl-state", "kube-system") is None
    result = cli("pool", "add", "lan", "192.168.7.0/28", "--allow-cluster-overlap",
                 "--kubeconfig", str(kubeconfig))
    assert (result.code, result.out) == (0, "pool/lan created\n")
    # doctor still reports what the flag let through: one rule, two callers
    doctor = cli("doctor", "--kubeconfig", str(kubeconfig), "-o", "json")
    found = {c["id"]: c for c in json.loads(doctor.out)["checks"]}
    assert [f["message"] for f in found["pool.node-overlap"]["findings"]] == [
        "pool lan contains 192.168.7.11, the InternalIP of node node-1"]
    # a local state file is not the cluster's: no check, no cluster needed
    offline = cli("pool", "add", "lan", "192.168.7.0/28", "--state", str(tmp_path / "lb.yaml"))
    assert (offline.code, offline.out) == (0, "pool/lan created\n")


def test_assign_f_counts_the_statuses_the_manifests_show(cli: Cli, tmp_path: Path) -> None:
    state = str(tmp_path / "lb.yaml")
    assert cli("pool", "add", "default", "10.55.0.0-10.55.0.3", "--state", state).code == 0
    (tmp_path / "app.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: cloud, namespace: shop}\n"
        "spec: {type: LoadBalancer, loadBalancerClass: example.com/c, ports: [{port: 80}]}\n"
        "status: {loadBalancer: {ingress: [{ip: 10.55.0.0}]}}\n"
        "---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
        "spec: {type: LoadBalancer, ports: [{port: 80}]}\n")
    result = cli("assign", "-f", str(tmp_path / "app.yaml"), "--state", state)
    assert result.code == 0, result.err
    assert ("metadata: {annotations: {metallb.io/loadBalancerIPs: \"10.55.0.1\"}, name: web, "
            "namespace: shop}\n") in result.out  # not 10.55.0.0, which "cloud" shows
    assert result.err.endswith("1 pinned, 1 skipped\n")
