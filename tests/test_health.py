"""The /healthz, /readyz and /metrics endpoint of the long-running commands, on loopback."""

from __future__ import annotations

import http.client
import socket

import pytest
from prometheus_client import CollectorRegistry, Counter

from lbctl import health
from lbctl.errors import RefusedError, UsageError
from lbctl.health import HealthServer, parse_address


def get(port: int, path: str, method: str = "GET") -> tuple[int, str, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read().decode()
    finally:
        connection.close()


def test_endpoints() -> None:
    registry = CollectorRegistry()
    Counter("lbctl_test_things", "Things.", registry=registry).inc(3)
    problems = {"live": "", "ready": "not synced with the API server yet"}
    server = HealthServer("127.0.0.1:0", registry, live=lambda: problems["live"],
                          ready=lambda: problems["ready"]).start()
    try:
        assert get(server.port, "/healthz") == (200, "text/plain; charset=utf-8", "ok\n")
        assert get(server.port, "/readyz") == (
            503, "text/plain; charset=utf-8", "not synced with the API server yet\n")
        problems["ready"] = ""
        assert get(server.port, "/readyz?verbose")[0] == 200
        code, kind, text = get(server.port, "/metrics")
        assert code == 200 and kind.startswith("text/plain; version=0.0.4")
        assert "lbctl_test_things_total 3.0" in text
        assert get(server.port, "/healthz", "HEAD")[::2] == (200, "")
        assert get(server.port, "/")[0] == 404
    finally:
        server.stop()


def test_a_silent_connection_is_closed() -> None:
    """Each open connection holds a thread: one that says nothing (a scraper keeping it alive,
    a half-open client) is closed after the idle timeout instead of kept forever."""
    assert health.IDLE_TIMEOUT == 30.0
    server = HealthServer("127.0.0.1:0", CollectorRegistry(), live=str, ready=str,
                          idle_timeout=0.2).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as idle:
            assert idle.recv(1) == b""  # closed by the server, well before our 5 s
        assert get(server.port, "/healthz")[0] == 200
    finally:
        server.stop()


@pytest.mark.parametrize(("text", "expected"), [
    (":8080", ("", 8080)),
    ("127.0.0.1:0", ("127.0.0.1", 0)),
    ("[::1]:9090", ("::1", 9090)),
])
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["8080", "host:", ":99999", "::1:80", "a:b"])
def test_bad_address(text: str) -> None:
    with pytest.raises(UsageError, match="--metrics-addr"):
        parse_address(text)


def test_port_in_use_is_refused() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RefusedError, match=f"cannot listen on 127.0.0.1:{port}"):
            HealthServer(f"127.0.0.1:{port}", CollectorRegistry(), live=str, ready=str).start()
