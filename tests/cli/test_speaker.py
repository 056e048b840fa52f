"""``lbctl speaker`` (argument checks) and ``lbctl speaker status`` against the fake
kube-apiserver: exact output and exit codes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from lbctl.cli.context import App
from lbctl.core import leases
from lbctl.core.ownership import score
from tests.conftest import Cli
from tests.kubefake.server import FakeKubeServer

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
VIP = "192.0.2.10"


def lease(node: str, renewed: datetime, unhealthy: str = "") -> dict[str, Any]:
    body = leases.claimed(None, node, renewed, 2, namespace="kube-system",
                          name=f"lbctl-speaker-{node}")
    if unhealthy:
        body["metadata"]["annotations"] = {"lbctl.io/unhealthy": unhealthy}
    return body


@pytest.fixture
def run(cli: Cli, kubeconfig: Path, kube_server: FakeKubeServer,
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setattr(App, "now", lambda self: NOW)
    for name, labels in (("n1", {}), ("n2", {}), ("n3", {}),
                         ("n4", {"node.kubernetes.io/exclude-from-external-load-balancers": ""})):
        kube_server.put_object({"apiVersion": "v1", "kind": "Node",
                                "metadata": {"name": name, "labels": labels}})
    kube_server.put_object({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})
    kube_server.put_object({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-1", "namespace": "shop",
                     "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4", "endpoints": [{"addresses": ["10.244.0.1"], "nodeName": "n1"}]})
    for name in ("n1", "n2", "n4"):
        kube_server.put_object(lease(name, NOW - timedelta(seconds=1)))
    kube_server.put_object(lease("n3", NOW - timedelta(seconds=30)))  # dead

    def invoke(*args: str) -> Any:
        return cli(*args, "--kubeconfig", str(kubeconfig))

    assert invoke("pool", "add", "default", "192.0.2.10-192.0.2.11").code == 0
    assert invoke("assign", "svc", "web", "-n", "shop").code == 0
    return invoke


def test_speaker_needs_a_node_name(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NODE_NAME", raising=False)
    result = cli("speaker")
    assert result.code == 2
    assert result.err == (
        "lbctl: error: which node is this? --node is not given and NODE_NAME is not set\n"
        "hint: set NODE_NAME from spec.nodeName (the DaemonSet does), or pass --node NAME\n")


def test_status_table(run: Cli) -> None:
    owner, standby = sorted(["n1", "n2"], key=lambda n: score(n, VIP))
    result = run("speaker", "status")
    assert (result.code, result.err) == (0, "")
    lines = [line.split(None, 3) for line in result.out.splitlines()]
    assert lines[0] == ["NODE", "ALIVE", "RENEWED", "NOTE"]
    assert lines[1:5] == [
        ["n1", "yes", "11:59:59", "-"],
        ["n2", "yes", "11:59:59", "-"],
        ["n3", "no", "11:59:30", "-"],
        ["n4", "yes", "11:59:59", "labelled node.kubernetes.io/exclude-from-external-load-"
                                  "balancers"],
    ]
    assert result.out.splitlines()[6].split() == ["IP", "SERVICES", "OWNER", "STANDBY", "REASON"]
    assert result.out.splitlines()[7].split() == [VIP, "shop/web", owner, standby, "-"]


def test_status_wide_and_json_show_the_published_macs(run: Cli,
                                                       kube_server: FakeKubeServer) -> None:
    body = lease("n1", NOW - timedelta(seconds=1))
    body["metadata"]["annotations"] = {"lbctl.io/macs": "eth0=02:00:00:00:00:01,eth1=bad"}
    kube_server.put_object(body)
    result = run("speaker", "status", "-o", "wide")
    assert (result.code, result.err) == (0, "")
    lines = [line.split(None, 4) for line in result.out.splitlines()]
    assert lines[0] == ["NODE", "ALIVE", "RENEWED", "MACS", "NOTE"]
    assert lines[1:3] == [["n1", "yes", "11:59:59", "eth0=02:00:00:00:00:01", "-"],
                          ["n2", "yes", "11:59:59", "-", "-"]]
    doc = json.loads(run("speaker", "status", "-o", "json").out)
    assert [s["macs"] for s in doc["speakers"]] == [
        {"eth0": "02:00:00:00:00:01"}, {}, {}, {}]


def test_status_json_names_why_nodes_are_rejected(run: Cli) -> None:
    owner, standby = sorted(["n1", "n2"], key=lambda n: score(n, VIP))
    doc = json.loads(run("speaker", "status", "-o", "json").out)
    assert doc["kind"] == "SpeakerStatus"
    assert [s["node"] for s in doc["speakers"] if s["alive"]] == ["n1", "n2", "n4"]
    assert doc["addresses"] == [{
        "ip": VIP, "services": ["shop/web"], "owner": owner, "candidates": [owner, standby],
        "rejected": {"n4": "labelled node.kubernetes.io/exclude-from-external-load-balancers"},
        "reason": ""}]


def test_status_follows_a_reported_health_failure(run: Cli, kube_server: FakeKubeServer) -> None:
    owner, standby = sorted(["n1", "n2"], key=lambda n: score(n, VIP))
    kube_server.put_object(lease(owner, NOW - timedelta(seconds=1), unhealthy="shop/web"))
    doc = json.loads(run("speaker", "status", "-o", "json").out)
    assert doc["addresses"][0]["owner"] == standby
    assert doc["addresses"][0]["rejected"][owner] == "health check failing here"


def test_svc_show_names_the_speaker_that_answers(run: Cli) -> None:
    owner, standby = sorted(["n1", "n2"], key=lambda n: score(n, VIP))
    result = run("svc", "show", "web", "-n", "shop")
    assert result.code == 0, result.err
    assert "Announced by:" in result.out
    line = next(x for x in result.out.splitlines() if x.startswith("Announced by:"))
    assert line.split(None, 2)[2] == f"{owner} (standby: {standby})"
    doc = json.loads(run("svc", "show", "web", "-n", "shop", "-o", "json").out)
    assert doc["announcedBy"] == {"owner": owner, "candidates": [owner, standby], "reason": ""}
