"""``lbctl reconcile``: the crash rule end to end, exact output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import Cli, Result
from tests.kubefake.server import FakeKubeServer

NAMES = [f"svc-{i}" for i in range(6)]


def put(server: FakeKubeServer, name: str, *, status: tuple[str, ...] = ()) -> None:
    body: dict[str, object] = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "shop"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
    }
    if status:
        body["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in status]}}
    server.put_object(body)


def published(server: FakeKubeServer) -> dict[str, list[str]]:
    return {s["metadata"]["name"]: [i["ip"] for i in s["status"]["loadBalancer"].get(
        "ingress", [])] for s in server.objects_of("services")}


def recorded(server: FakeKubeServer) -> dict[str, list[str]]:
    obj = server.get_object("configmaps", "lbctl-state", "kube-system")
    assert obj is not None
    allocations = yaml.safe_load(obj["data"]["state.yaml"])["allocations"]
    return {name: body["ips"] for name, body in allocations.get("shop", {}).items()}


@pytest.fixture
def run(cli: Cli, kubeconfig: Path, kube_server: FakeKubeServer) -> Cli:
    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return cli(*args, "--kubeconfig", str(kubeconfig), env=env)

    assert invoke("pool", "add", "default", "192.0.2.0/28").code == 0
    for name in NAMES:
        put(kube_server, name)
    return invoke


def test_connection_dropped_after_k_of_n_patches_then_reconcile(
        run: Cli, kube_server: FakeKubeServer) -> None:
    kube_server.inject("drop", method="PATCH", path="/status$", after=2, times=4)
    batch = run("assign", "svc", "--all", "-n", "shop", "-o", "json")
    assert batch.code == 1
    items = json.loads(batch.out)["items"]
    assert sorted(i["result"] for i in items) == ["assigned"] * 2 + ["failed"] * 4
    assert {i["reason"] for i in items if i["result"] == "failed"} == {"Unreachable"}
    assert batch.err == "2 assigned, 4 failed\n"
    assert len(recorded(kube_server)) == 6  # recorded before published: nothing lost

    dry = run("reconcile", "--dry-run")
    assert (dry.code, dry.err) == (0, "4 published (dry run)\n")
    assert sum(bool(ips) for ips in published(kube_server).values()) == 2

    result = run("reconcile")
    assert (result.code, result.err) == (0, "4 published\n")
    shown = published(kube_server)
    assert shown == recorded(kube_server)  # no orphans, nothing unpublished
    addresses = [ip for ips in shown.values() for ip in ips]
    assert len(addresses) == len(set(addresses)) == 6  # no duplicates

    again = run("reconcile")
    assert (again.code, again.out, again.err) == (0, "", "nothing to do\n")


def test_drift_is_reported_and_left_alone(run: Cli, kube_server: FakeKubeServer) -> None:
    assert run("assign", "svc", "--all", "-n", "shop").code == 0
    put(kube_server, "stranger", status=("198.51.100.7",))
    result = run("reconcile")
    assert result.code == 1
    assert result.out == (
        "NAMESPACE   NAME       RESULT   EXTERNAL-IP    POOL   MESSAGE\n"
        "shop        stranger   drift    198.51.100.7   -      status shows 198.51.100.7, which "
        "the state does not record\n"
    )
    assert result.err == "1 drift\n"
    assert published(kube_server)["stranger"] == ["198.51.100.7"]
