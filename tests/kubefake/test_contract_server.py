"""Contract: fault injection, the request log, discovery, kubectl, load, the standalone runner."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.kubefake.server import FakeKubeServer, Request
from tests.kubefake.support import Raw, configmap, service

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed on this machine"
)


@pytest.mark.parametrize(
    ("code", "reason", "message"),
    [
        (500, "InternalError", "Internal error occurred: injected fault"),
        (503, "ServiceUnavailable", "the server is currently unable to handle the request"),
        (
            429,
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        ),
        (
            409,
            "Conflict",
            'Operation cannot be fulfilled on configmaps "x": the object has been modified; '
            "please apply your changes to the latest version and try again",
        ),
        (
            403,
            "Forbidden",
            'configmaps "x" is forbidden: User "alice" cannot get resource "configmaps" '
            'in API group "" in the namespace "default"',
        ),
    ],
)
def test_injected_status_codes_carry_real_status_bodies(
    raw: Raw, kube_server: FakeKubeServer, code: int, reason: str, message: str
) -> None:
    # Raw HTTP: the official client itself retries a 429 that has a Retry-After header.
    raw("POST", "/api/v1/namespaces/default/configmaps", configmap("x"))
    kube_server.inject(code, method="GET", path=r"/configmaps/x$")

    got, status = raw("GET", "/api/v1/namespaces/default/configmaps/x")

    assert (got, status["kind"], status["status"]) == (code, "Status", "Failure")
    assert (status["code"], status["reason"], status["message"]) == (code, reason, message)
    assert raw("GET", "/api/v1/namespaces/default/configmaps/x")[0] == 200  # one-shot


def test_a_429_says_when_to_retry(raw: Raw, kube_server: FakeKubeServer) -> None:
    kube_server.inject(429)
    connection = http.client.HTTPConnection("127.0.0.1", kube_server.port, timeout=5)
    connection.request("GET", "/api/v1/namespaces")
    response = connection.getresponse()
    response.read()
    connection.close()
    assert (response.status, response.getheader("Retry-After")) == (429, "1")


def test_drop_closes_the_connection_without_a_response(kube_server: FakeKubeServer) -> None:
    kube_server.inject("drop", path="/api/v1/namespaces$")
    connection = http.client.HTTPConnection("127.0.0.1", kube_server.port, timeout=5)
    connection.request("GET", "/api/v1/namespaces")
    with pytest.raises(http.client.RemoteDisconnected):
        connection.getresponse()
    connection.close()


def test_a_delay_slows_the_request_which_then_succeeds(
    raw: Raw, kube_server: FakeKubeServer
) -> None:
    kube_server.inject(0.3, method="GET")
    started = time.monotonic()
    status, _ = raw("GET", "/api/v1/namespaces")
    assert status == 200 and time.monotonic() - started >= 0.3


def test_a_fault_can_be_limited_to_watches(raw: Raw, kube_server: FakeKubeServer) -> None:
    fault = kube_server.inject(410, method="GET", path="/configmaps$", watch=True)
    assert raw("GET", "/api/v1/namespaces/default/configmaps")[0] == 200  # a LIST passes
    connection = http.client.HTTPConnection("127.0.0.1", kube_server.port, timeout=5)
    connection.request("GET", "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1")
    response = connection.getresponse()
    response.read()
    connection.close()
    assert (response.status, fault.hits) == (410, 1)


def test_after_and_times_choose_which_requests_fail(raw: Raw, kube_server: FakeKubeServer) -> None:
    fault = kube_server.inject(503, method="GET", path="/namespaces$", times=2, after=2)
    raw(
        "POST", "/api/v1/namespaces/default/configmaps", configmap("x")
    )  # other method: not counted
    codes = [raw("GET", "/api/v1/namespaces")[0] for _ in range(5)]
    assert codes == [200, 200, 503, 503, 200]
    assert fault.hits == 2


def test_a_fault_without_a_count_lasts_until_the_test_ends(
    raw: Raw, kube_server: FakeKubeServer
) -> None:
    kube_server.inject(500, times=None)
    assert [raw("GET", "/version")[0] for _ in range(3)] == [500, 500, 500]


@pytest.mark.parametrize("fault", [200, 99, "boom", -1.0, True])
def test_nonsense_faults_are_refused(kube_server: FakeKubeServer, fault: Any) -> None:
    with pytest.raises(ValueError, match="fault must be"):
        kube_server.inject(fault)


def test_the_request_log_records_method_path_and_query(
    core: Any, kube_server: FakeKubeServer
) -> None:
    kube_server.requests.reset()
    core.list_namespaced_service("default", label_selector="app=web", limit=5)
    core.create_namespaced_config_map("default", configmap("x"))
    assert list(kube_server.requests) == [
        Request(
            "GET", "/api/v1/namespaces/default/services", {"labelSelector": "app=web", "limit": "5"}
        ),
        Request("POST", "/api/v1/namespaces/default/configmaps", {}),
    ]
    kube_server.requests.reset()
    assert len(kube_server.requests) == 0


def test_version_and_discovery_documents(raw: Raw, kube_server: FakeKubeServer) -> None:
    assert raw("GET", "/version")[1]["gitVersion"] == "v1.30.4"
    assert raw("GET", "/api")[1]["versions"] == ["v1"]
    groups = {g["name"] for g in raw("GET", "/apis")[1]["groups"]}
    assert groups == {
        "apps", "authorization.k8s.io", "coordination.k8s.io", "crd.projectcalico.org",
        "discovery.k8s.io", "events.k8s.io", "rbac.authorization.k8s.io",
    }
    core = {r["name"]: r for r in raw("GET", "/api/v1")[1]["resources"]}
    assert core["services"]["shortNames"] == ["svc"] and core["nodes"]["namespaced"] is False
    assert "services/status" in core and "configmaps/status" not in core
    apps = raw("GET", "/apis/apps/v1")[1]
    assert {r["name"] for r in apps["resources"]} >= {
        "deployments",
        "daemonsets",
        "deployments/status",
    }
    assert raw("GET", "/apis/nothing.example/v1")[0] == 404


def test_unknown_paths_and_methods(raw: Raw) -> None:
    status, body = raw("GET", "/api/v1/widgets")
    assert (status, body["message"]) == (404, "the server could not find the requested resource")
    assert raw("PUT", "/api/v1/namespaces/default/configmaps")[0] == 405
    assert raw("GET", "/api/v1/namespaces/default/configmaps/x/status")[0] == 404
    assert raw("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews/x", {})[0] == 405


@needs_kubectl
def test_kubectl_lists_services_in_all_namespaces(
    kube_server: FakeKubeServer, kubeconfig: Path
) -> None:
    kube_server.put_object(
        {
            **service("web", type="LoadBalancer"),
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}},
        }
    )
    kube_server.put_object(service("dns", "kube-system", ports=[{"port": 53, "protocol": "UDP"}]))

    as_json = _kubectl(kubeconfig, "get", "svc", "-A", "-o", "json")
    table = _kubectl(kubeconfig, "get", "svc", "-A")

    listed = json.loads(as_json)
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed["items"]] == [
        ("default", "web"),
        ("kube-system", "dns"),
    ]
    assert listed["items"][0]["status"]["loadBalancer"]["ingress"] == [{"ip": "192.0.2.1"}]
    header, web, dns = (line.split() for line in table.splitlines())
    assert header == ["NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert web[:3] + web[4:6] == ["default", "web", "LoadBalancer", "192.0.2.1", "80:30000/TCP"]
    assert dns[4:6] == ["<none>", "53/UDP"]


@needs_kubectl
def test_kubectl_reads_configmaps_in_kube_system(
    kube_server: FakeKubeServer, kubeconfig: Path
) -> None:
    kube_server.put_object(configmap("kube-proxy", "kube-system", **{"config.conf": "mode: ipvs"}))
    table = _kubectl(kubeconfig, "get", "cm", "-n", "kube-system")
    assert [line.split()[:2] for line in table.splitlines()] == [
        ["NAME", "DATA"],
        ["kube-proxy", "1"],
    ]
    data = json.loads(
        _kubectl(kubeconfig, "get", "cm", "kube-proxy", "-n", "kube-system", "-o", "json")
    )
    assert data["data"] == {"config.conf": "mode: ipvs"}


def _kubectl(kubeconfig: Path, *args: str) -> str:
    assert KUBECTL is not None
    done = subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_listing_a_thousand_services_does_not_stall(kube_server: FakeKubeServer, raw: Raw) -> None:
    # How fast the fake serves is measured in bench/ (its numbers depend on the machine's load);
    # this bound only catches a LIST that hangs or degrades by orders of magnitude.
    for i in range(1000):
        kube_server.put_object(service(f"svc-{i:04d}", f"ns-{i % 10}", type="LoadBalancer"))
    raw("GET", "/api/v1/services")  # warm up the connection path
    started = time.perf_counter()
    status, body = raw("GET", "/api/v1/services")
    elapsed = time.perf_counter() - started
    assert status == 200 and len(body["items"]) == 1000
    assert elapsed < 10, f"LIST of 1,000 Services took {elapsed:.3f} s"


def test_thirty_two_concurrent_clients(kube_server: FakeKubeServer) -> None:
    versions: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", kube_server.port, timeout=10)
        try:
            for i in range(5):
                body = json.dumps(configmap(f"c{n}-{i}")).encode()
                connection.request("POST", "/api/v1/namespaces/default/configmaps", body=body)
                created = connection.getresponse()
                payload = json.loads(created.read())
                connection.request("GET", "/api/v1/configmaps?limit=10")
                listed = connection.getresponse()
                listed.read()
                with lock:
                    versions.append(payload["metadata"]["resourceVersion"])
                    if (created.status, listed.status) != (201, 200):
                        failures.append(f"{created.status} {listed.status}")
        except OSError as exc:
            with lock:
                failures.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    assert len(versions) == len(set(versions)) == 160
    assert len(kube_server.objects_of("configmaps")) == 160


def test_the_standalone_runner_serves_seeded_objects(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\n"
        "spec: {type: LoadBalancer, ports: [{port: 80}]}\n---\n"
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: cfg, namespace: kube-system}}\n"
    )
    kubeconfig = tmp_path / "kubeconfig"
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.kubefake",
            "--kubeconfig",
            str(kubeconfig),
            "--seed",
            str(seed),
        ],
        cwd=root,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()
        assert banner.startswith("kubefake: serving http://127.0.0.1:"), banner
        server = json.loads(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        host, port = server.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        connection.request("GET", "/api/v1/services")
        names = [
            i["metadata"]["name"] for i in json.loads(connection.getresponse().read())["items"]
        ]
        connection.request("GET", "/api/v1/namespaces/kube-system/configmaps/cfg")
        assert connection.getresponse().status == 200
        connection.close()
        assert names == ["web"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_the_standalone_runner_reports_a_bad_seed(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: s}\n")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.kubefake",
            "--kubeconfig",
            str(tmp_path / "kc"),
            "--seed",
            str(seed),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert done.returncode == 2
    assert done.stderr.startswith("kubefake: error: cannot seed from")
    assert "PersistentVolume" in done.stderr


def test_the_server_counts_the_connections_it_accepts(kube_server: FakeKubeServer) -> None:
    before = kube_server.connections
    connection = http.client.HTTPConnection("127.0.0.1", kube_server.port, timeout=5)
    for _ in range(3):  # one kept-alive connection, three requests
        connection.request("GET", "/version")
        connection.getresponse().read()
    connection.close()
    other = http.client.HTTPConnection("127.0.0.1", kube_server.port, timeout=5)
    other.request("GET", "/version")
    other.getresponse().read()
    other.close()
    assert kube_server.connections - before == 2


def _exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` on a new connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_http_framing_keep_alive_close_and_header_case(kube_server: FakeKubeServer) -> None:
    body = json.dumps(configmap("framed", a="1")).encode()
    received = _exchange(
        kube_server.port,
        b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n"
        b"content-TYPE: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        + b"GET /api/v1/namespaces/default/configmaps/framed HTTP/1.1\r\nHost: x\r\n"
        b"Connection: close\r\n\r\n",
    )
    # Both answered on the one connection, which the server then closed, as asked.
    assert received.startswith(b"HTTP/1.1 201 Created\r\n")
    assert received.count(b"HTTP/1.1 ") == 2
    assert b"}HTTP/1.1 200 OK\r\n" in received
    assert received.endswith(b'"data":{"a":"1"}}')
    # HTTP/1.0 closes after one answer unless the client asks to keep the connection.
    assert _exchange(kube_server.port, b"GET /version HTTP/1.0\r\n\r\n").startswith(
        b"HTTP/1.1 200 OK\r\n"
    )


def test_http_framing_expect_continue_and_malformed_requests(
    kube_server: FakeKubeServer,
) -> None:
    body = json.dumps(configmap("waited")).encode()
    received = _exchange(
        kube_server.port,
        b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nExpect: 100-continue\r\n"
        b"Content-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
        % (len(body), body),
    )
    assert received.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n")
    assert _exchange(kube_server.port, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert _exchange(kube_server.port, b"GET / HTTP/2.0\r\n\r\n").startswith(b"HTTP/1.1 505 ")
    many = b"".join(b"X-%d: y\r\n" % i for i in range(101))
    assert _exchange(kube_server.port, b"GET /version HTTP/1.1\r\n" + many + b"\r\n").startswith(
        b"HTTP/1.1 431 "
    )
