"""``lbctl svc list|show``: exact output and exit codes against the fake kube-apiserver."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from lbctl.cli.context import App
from tests.conftest import Cli
from tests.kubefake.server import FakeKubeServer


def put(server: FakeKubeServer, name: str, namespace: str = "shop", *,
        status: tuple[str, ...] = (), **spec: Any) -> None:
    body: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], **spec},
    }
    if status:
        body["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in status]}}
    server.put_object(body)


@pytest.fixture
def run(cli: Cli, kubeconfig: Path, kube_server: FakeKubeServer,
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``cli`` on the fake cluster, with the clock 5 minutes after the first Service."""
    put(kube_server, "web", ports=[{"port": 443}, {"port": 53, "protocol": "UDP"}],
        externalTrafficPolicy="Local", selector={"app": "web"})
    put(kube_server, "api")
    put(kube_server, "dns", namespace="infra", loadBalancerClass="example.com/cloud")
    put(kube_server, "plain", type="ClusterIP")
    created = kube_server.get_object("services", "web", "shop")["metadata"]  # type: ignore[index]
    start = datetime.strptime(created["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ")
    monkeypatch.setattr(App, "now", lambda self: start.replace(tzinfo=timezone.utc)
                        + timedelta(minutes=5, seconds=30))

    def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
        return cli(*args, "--kubeconfig", str(kubeconfig), env=env)

    assert invoke("pool", "add", "default", "192.0.2.10-192.0.2.11").code == 0
    return invoke


def test_list_all_namespaces(run: Cli) -> None:
    assert run("assign", "svc", "api", "-n", "shop").code == 0
    result = run("svc", "list", "-A")
    assert (result.code, result.err) == (0, "")
    assert result.out == (
        "NAMESPACE   NAME   EXTERNAL-IP   POOL      PORTS            TRAFFIC-POLICY   AGE     "
        "STATE\n"
        "infra       dns    <pending>     -         80/TCP           Cluster          5m30s   "
        "foreign\n"
        "shop        api    192.0.2.10    default   80/TCP           Cluster          5m30s   "
        "assigned\n"
        "shop        web    <pending>     -         443/TCP,53/UDP   Local            5m30s   "
        "pending\n"
    )


def test_list_one_namespace_wide_shows_ready_nodes(run: Cli,
                                                   kube_server: FakeKubeServer) -> None:
    kube_server.put_object({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-1", "namespace": "shop",
                     "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"], "nodeName": "node-2"},
                      {"addresses": ["10.0.0.2"], "nodeName": "node-1"}],
    })
    result = run("svc", "list", "-n", "shop", "-o", "wide", "--no-headers")
    assert result.out == (
        "api   <pending>   -   80/TCP           Cluster   5m30s   pending   <none>\n"
        "web   <pending>   -   443/TCP,53/UDP   Local     5m30s   pending   node-1,node-2\n"
    )


def test_list_drift(run: Cli, kube_server: FakeKubeServer) -> None:
    put(kube_server, "api", status=("198.51.100.9",))
    result = run("svc", "list", "-n", "shop", "-o", "name")
    assert result.out == "service/api\nservice/web\n"
    doc = json.loads(run("svc", "list", "-n", "shop", "-o", "json").out)
    assert doc["kind"] == "ServiceList"
    item = doc["items"][0]
    created = item.pop("creationTimestamp")
    assert created.endswith("Z")
    assert item == {
        "namespace": "shop", "name": "api", "state": "drift",
        "detail": "status shows 198.51.100.9, which the state does not record",
        "externalIPs": ["198.51.100.9"], "allocated": [], "pool": None, "ports": ["80/TCP"],
        "externalTrafficPolicy": "Cluster", "loadBalancerClass": None,
    }


def test_list_nothing(run: Cli) -> None:
    result = run("svc", "list", "-n", "empty")
    assert (result.code, result.out, result.err) == (
        0, "", "No LoadBalancer Services found in namespace empty.\n")



# The reads of svc list go out at once (the state while the Services are listed); which error a
# failing listing reports must not depend on which answer arrives first: the Services' LIST's,
# else the state's, else the EndpointSlices' (-o wide), as when they were read in turn.

STATE_PATH = "/configmaps/lbctl-state$"
FORBIDDEN_STATE = ("lbctl: error: forbidden: cannot get configmaps in namespace kube-system\n"
                   "hint: kubectl auth can-i get configmaps -n kube-system\n")
FORBIDDEN_LIST = ("lbctl: error: forbidden: cannot list services at cluster scope\n"
                  "hint: kubectl auth can-i list services\n")


def test_list_says_why_the_state_cannot_be_read_when_the_services_can(
        run: Cli, kube_server: FakeKubeServer) -> None:
    kube_server.deny("get", "configmaps")
    result = run("svc", "list", "-A")
    assert (result.code, result.out, result.err) == (6, "", FORBIDDEN_STATE)


def test_list_reports_an_unreadable_state_after_a_slow_list(
        run: Cli, kube_server: FakeKubeServer) -> None:
    kube_server.inject(0.3, "GET", "/services$")  # the state's answer comes first
    kube_server.inject(503, "GET", STATE_PATH, times=None)
    result = run("svc", "list", "-A")
    assert (result.code, result.out) == (7, "")
    assert result.err.startswith("lbctl: error: the API server at http://127.0.0.1:")
    assert "is not answering normally: " in result.err and "(HTTP 503)\n" in result.err


def test_list_reports_the_services_error_even_when_the_state_failed_first(
        run: Cli, kube_server: FakeKubeServer) -> None:
    kube_server.inject(0.3, "GET", "/services$")
    kube_server.deny("list", "services")
    kube_server.deny("get", "configmaps")
    result = run("svc", "list", "-A")
    assert (result.code, result.out, result.err) == (6, "", FORBIDDEN_LIST)


def test_list_refuses_an_invalid_state_read_alongside(
        run: Cli, kube_server: FakeKubeServer) -> None:
    state = kube_server.get_object("configmaps", "lbctl-state", "kube-system")
    assert state is not None
    state["data"]["state.yaml"] = "schemaVersion: 1\npools: [oops]\n"
    kube_server.put_object(state)
    result = run("svc", "list", "-n", "shop")
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        "lbctl: error: ConfigMap kube-system/lbctl-state is invalid: pools must be a mapping "
        "(line 2, column 8)\nhint: run `lbctl doctor` for the full list; lbctl will not "
        "overwrite an invalid document\n")


def test_list_wide_reports_the_state_before_the_endpoint_slices(
        run: Cli, kube_server: FakeKubeServer) -> None:
    kube_server.inject(0.3, "GET", STATE_PATH)  # the EndpointSlices' answer comes first
    kube_server.deny("list", "endpointslices")
    kube_server.deny("get", "configmaps")
    result = run("svc", "list", "-n", "shop", "-o", "wide")
    assert (result.code, result.out, result.err) == (6, "", FORBIDDEN_STATE)
    kube_server.inject(0.3, "GET", "/services$")
    result = run("svc", "list", "-n", "shop", "-o", "wide")
    assert (result.code, result.out, result.err) == (6, "", FORBIDDEN_STATE)


def test_list_wide_says_why_the_endpoint_slices_cannot_be_read(
        run: Cli, kube_server: FakeKubeServer) -> None:
    kube_server.deny("list", "endpointslices")
    result = run("svc", "list", "-n", "shop", "-o", "wide")
    assert (result.code, result.out, result.err) == (
        6, "", "lbctl: error: forbidden: cannot list endpointslices.discovery.k8s.io in "
               "namespace shop\nhint: kubectl auth can-i list endpointslices.discovery.k8s.io "
               "-n shop\n")


def test_show_an_assigned_service(run: Cli) -> None:
    assert run("assign", "svc", "api", "-n", "shop").code == 0
    result = run("svc", "show", "api", "-n", "shop")
    assert result.code == 0
    assert result.out == (
        "Name:             api\n"
        "Namespace:        shop\n"
        "Type:             LoadBalancer\n"
        "Class:            <none>\n"
        "State:            assigned\n"
        "External IPs:     192.0.2.10\n"
        "Allocated:        192.0.2.10 (pool default)\n"
        "Requested:        any address (automatic)\n"
        "Sharing key:      <none>\n"
        "IP families:      IPv4 (SingleStack)\n"
        "Traffic policy:   Cluster\n"
        "Ports:            80/TCP\n"
        "Ready nodes:      <none>\n"
        "Controller:       none runs: only lbctl assign and reconcile give it an address\n"
    )


def test_show_explains_an_exhausted_pool(run: Cli, kube_server: FakeKubeServer) -> None:
    assert run("assign", "svc", "--all", "-n", "shop").code == 0
    put(kube_server, "third")
    result = run("svc", "show", "third", "-n", "shop")
    assert result.out.splitlines()[-1] == (
        "Why pending:      PoolExhausted: no address for shop/third: pool default is exhausted "
        "(2 of 2 IPv4 addresses used)")
    doc = json.loads(run("svc", "show", "third", "-n", "shop", "-o", "json").out)
    assert doc["why"] == {
        "reason": "PoolExhausted",
        "message": "no address for shop/third: pool default is exhausted (2 of 2 IPv4 addresses "
                   "used)"}
    assert (doc["wouldGet"], doc["requested"]) == (
        None, {"ips": [], "pool": None, "source": "automatic"})


def test_show_what_a_pending_service_would_get(run: Cli, kube_server: FakeKubeServer) -> None:
    put(kube_server, "pinned", loadBalancerIP="192.0.2.11")
    result = run("svc", "show", "pinned", "-n", "shop")
    lines = result.out.splitlines()
    assert lines[7] == "Requested:        192.0.2.11 (from spec.loadBalancerIP)"
    assert lines[-1] == ("Would get:        192.0.2.11 from pool default "
                         "(lbctl assign svc pinned)")


def test_show_missing_service(run: Cli) -> None:
    result = run("svc", "show", "nope", "-n", "shop")
    assert (result.code, result.out, result.err) == (
        3, "", "lbctl: error: service shop/nope not found\n"
               "hint: kubectl get svc -n shop lists the Services\n")


def test_show_a_service_lbctl_does_not_serve(run: Cli) -> None:
    lines = run("svc", "show", "plain", "-n", "shop").out.splitlines()
    assert lines[4] == "State:            ignored"
    assert lines[-1] == "Not served:       type ClusterIP, not LoadBalancer"
    lines = run("svc", "show", "dns", "-n", "infra").out.splitlines()
    assert (lines[3], lines[4]) == ("Class:            example.com/cloud",
                                    "State:            foreign")
    assert lines[-1] == "Not served:       loadBalancerClass example.com/cloud"


def test_a_command_that_needs_the_cluster_does_not_suggest_the_offline_file(cli: Cli) -> None:
    result = cli("svc", "list")
    assert result.code == 7
    assert result.err.splitlines()[1] == "hint: pass --kubeconfig, or set KUBECONFIG"
