"""The /healthz, /readyz and /metrics endpoint of the long-running commands, on loopback."""

from __future__ import annotations

import http.client
import socket
from typing import Any

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


def test_a_failing_collector_or_check_is_one_logged_line_and_a_500(
        capfd: pytest.CaptureFixture[str]) -> None:
    """A metrics collector that raises (a bug) costs that scrape only: /metrics answers 500
    with one line, the log gets the same line, no traceback reaches stderr, and the probes
    keep answering; so does a check that raises."""

    class Broken:
        def collect(self) -> Any:
            raise ZeroDivisionError("division by zero")

    registry = CollectorRegistry()
    registry.register(Broken())
    lines: list[str] = []
    broken_live = {"raise": False}

    def live() -> str:
        if broken_live["raise"]:
            raise KeyError("node")
        return ""

    server = HealthServer("127.0.0.1:0", registry, live=live, ready=str,
                          log=lines.append).start()
    try:
        assert get(server.port, "/metrics") == (
            500, "text/plain; charset=utf-8",
            "internal error serving /metrics: ZeroDivisionError: division by zero\n")
        assert get(server.port, "/healthz")[0] == 200
        assert get(server.port, "/readyz")[0] == 200
        broken_live["raise"] = True
        assert get(server.port, "/healthz")[:2] == (500, "text/plain; charset=utf-8")
        assert get(server.port, "/readyz")[0] == 200
    finally:
        server.stop()
    assert lines == ["cannot serve /metrics: ZeroDivisionError: division by zero",
                     "cannot serve /healthz: KeyError: 'node'"]
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and captured.err == ""


def test_the_default_log_is_one_line_on_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    class Broken:
        def collect(self) -> Any:
            raise RuntimeError("boom")

    registry = CollectorRegistry()
    registry.register(Broken())
    server = HealthServer("127.0.0.1:0", registry, live=str, ready=str).start()
    try:
        assert get(server.port, "/metrics")[0] == 500
    finally:
        server.stop()
    assert capfd.readouterr().err == "lbctl: cannot serve /metrics: RuntimeError: boom\n"
