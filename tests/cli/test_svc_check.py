"""``lbctl svc check``: probes on loopback addresses only (127.0.0.x are all this machine's),
against the fake kube-apiserver: one row per backend, exit 1 when a port has no healthy
backend."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli
from tests.kubefake.server import FakeKubeServer

VIP = "127.0.0.9"  # nothing listens there: refused at once


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self.send_response(200 if self.path == "/healthz" else 500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def node_port() -> Iterator[int]:
    """An HTTP server on 127.0.0.2:PORT only: node n1 serves, n2 (127.0.0.3) does not."""
    server = HTTPServer(("127.0.0.2", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def run(cli: Cli, kubeconfig: Path, kube_server: FakeKubeServer, node_port: int) -> Cli:
    for name, ip in (("n1", "127.0.0.2"), ("n2", "127.0.0.3")):
        kube_server.put_object({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                                "status": {"addresses": [{"type": "InternalIP",
                                                          "address": ip}]}})
    kube_server.put_object({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"type": "LoadBalancer",
                 "ports": [{"port": 80, "protocol": "TCP", "nodePort": node_port},
                           {"port": 53, "protocol": "UDP", "nodePort": 30053}]},
        "status": {"loadBalancer": {"ingress": [{"ip": VIP}]}}})

    def invoke(*args: str) -> Any:
        return cli(*args, "--kubeconfig", str(kubeconfig))

    return invoke


def test_a_dead_node_port_is_reported_and_one_live_backend_keeps_the_port_healthy(
        run: Cli, node_port: int) -> None:
    result = run("svc", "check", "web", "-n", "shop")
    assert result.code == 0, result.err
    rows = [line.split(None, 6) for line in result.out.splitlines()]
    assert rows[0] == ["SERVICE", "PORT", "BACKEND", "ADDRESS", "RESULT", "LATENCY", "DETAIL"]
    table = {(r[1], r[2]): (r[3], r[4], r[6]) for r in rows[1:]}
    assert table[("80/TCP", "vip")] == (f"{VIP}:80", "FAIL", "connection refused")
    assert table[("80/TCP", "n1")] == (f"127.0.0.2:{node_port}", "ok", "connected")
    assert table[("80/TCP", "n2")] == (f"127.0.0.3:{node_port}", "FAIL", "connection refused")
    assert table[("53/UDP", "n1")] == ("127.0.0.2:30053", "-", "not probed (TCP only)")


def test_http_checks_and_json(run: Cli, node_port: int) -> None:
    result = run("svc", "check", "svc/web", "-n", "shop", "--http", "/healthz", "-o", "json")
    assert result.code == 0
    doc = json.loads(result.out)
    assert (doc["kind"], doc["ok"]) == ("ServiceCheck", True)
    port = doc["items"][0]["ports"][0]
    assert (port["port"], port["healthy"]) == ("80/TCP", True)
    n1 = next(b for b in port["backends"] if b["target"] == "n1")
    assert (n1["address"], n1["port"], n1["ok"], n1["detail"]) == (
        "127.0.0.2", node_port, True, "HTTP 200")
    assert isinstance(n1["latencyMs"], float)


def test_no_healthy_backend_exits_1(run: Cli) -> None:
    result = run("svc", "check", "web", "-n", "shop", "--http", "/broken")
    assert result.code == 1
    assert result.err == "shop/web 80/TCP: no healthy backend\n"
    assert "HTTP 500" in result.out


def test_all_and_usage_errors(run: Cli) -> None:
    assert run("svc", "check", "--all", "-A").code == 0
    both = run("svc", "check", "web", "--all", "-n", "shop")
    assert (both.code, both.err.splitlines()[0]) == (
        2, "lbctl: error: name one Service or give --all")
    bad = run("svc", "check", "web", "-n", "shop", "--http", "healthz")
    assert (bad.code, bad.err.splitlines()[0]) == (
        2, "lbctl: error: --http 'healthz' is not a path")
    missing = run("svc", "check", "nope", "-n", "shop")
    assert missing.code == 3


def test_the_loopback_addresses_used_here_exist() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.3", 0))  # Linux answers the whole of 127/8
