"""``lbctl assign`` honours what other implementations pin (kube-vip's and Cilium's annotations)
and refuses a Service whose requests disagree, naming both values: exact output and exit codes
against the fake kube-apiserver."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, Result
from tests.kubefake.server import FakeKubeServer


def put(server: FakeKubeServer, name: str, annotations: dict[str, str] | None = None,
        **spec: Any) -> None:
    server.put_object({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": "shop", "annotations": annotations or {}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], **spec},
    })


def shown(server: FakeKubeServer, name: str) -> list[str]:
    obj = server.get_object("services", name, "shop") or {}
    return [i["ip"] for i in obj.get("status", {}).get("loadBalancer", {}).get("ingress", [])]


@pytest.fixture
def run(cli: Cli, kubeconfig: Path) -> Cli:
    def invoke(*args: str) -> Result:
        return cli(*args, "--kubeconfig", str(kubeconfig))

    assert invoke("pool", "add", "default", "192.0.2.10-192.0.2.19").code == 0
    return invoke


@pytest.mark.parametrize("key", ["kube-vip.io/loadbalancerIPs", "lbipam.cilium.io/ips"])
def test_an_address_pinned_by_another_implementation_is_kept(
        run: Cli, kube_server: FakeKubeServer, key: str) -> None:
    put(kube_server, "web", {key: "192.0.2.15"})
    result = run("assign", "svc", "web", "-n", "shop")
    assert (result.code, result.out) == (0, "service/web assigned 192.0.2.15 (pool default)\n")
    assert shown(kube_server, "web") == ["192.0.2.15"]
    show = json.loads(run("svc", "show", "web", "-n", "shop", "-o", "json").out)
    assert show["requested"] == {"ips": ["192.0.2.15"], "pool": None, "source": key}


def test_cilium_sharing_key_shares_an_address(run: Cli, kube_server: FakeKubeServer) -> None:
    put(kube_server, "dns-udp", {"lbipam.cilium.io/ips": "192.0.2.12",
                                 "lbipam.cilium.io/sharing-key": "dns"},
        ports=[{"port": 53, "protocol": "UDP"}])
    put(kube_server, "dns-tcp", {"lbipam.cilium.io/ips": "192.0.2.12",
                                 "lbipam.cilium.io/sharing-key": "dns"},
        ports=[{"port": 53, "protocol": "TCP"}])
    result = run("assign", "--all", "-n", "shop", "--no-headers")
    assert (result.code, result.out) == (0, (
        "shop   dns-tcp   assigned   192.0.2.12   default   -\n"
        "shop   dns-udp   assigned   192.0.2.12   default   -\n"))


def test_requests_that_disagree_are_refused_naming_both(run: Cli,
                                                       kube_server: FakeKubeServer) -> None:
    put(kube_server, "web", {"kube-vip.io/loadbalancerIPs": "192.0.2.15"},
        loadBalancerIP="192.0.2.16")
    result = run("assign", "svc", "web", "-n", "shop")
    assert (result.code, result.out, result.err) == (4, "", (
        "lbctl: error: service shop/web asks for two different things: "
        "kube-vip.io/loadbalancerIPs is 192.0.2.15, spec.loadBalancerIP is 192.0.2.16\n"
        "hint: keep one request, or make them agree (MetalLB refuses such a Service too)\n"))
    assert shown(kube_server, "web") == []
    batch = run("assign", "--all", "-n", "shop", "-o", "json")
    assert batch.code == 1
    item = json.loads(batch.out)["items"][0]
    assert (item["result"], item["reason"]) == ("failed", "ConflictingRequests")
    events = [e for e in kube_server.objects_of("events")
              if e.get("reason") == "AllocationFailed"]
    assert events and "kube-vip.io/loadbalancerIPs is 192.0.2.15" in events[-1]["message"]


def test_ip_flag_that_disagrees_with_the_service_is_refused(
        run: Cli, kube_server: FakeKubeServer) -> None:
    put(kube_server, "web", {"metallb.io/loadBalancerIPs": "192.0.2.15"})
    result = run("assign", "svc", "web", "-n", "shop", "--ip", "192.0.2.11")
    assert (result.code, result.err.splitlines()[0]) == (4, (
        "lbctl: error: service shop/web asks for two different things: --ip is 192.0.2.11, "
        "metallb.io/loadBalancerIPs is 192.0.2.15"))
    agreeing = run("assign", "svc", "web", "-n", "shop", "--ip", "192.0.2.15")
    assert (agreeing.code, agreeing.out) == (0, "service/web assigned 192.0.2.15 "
                                                "(pool default)\n")
