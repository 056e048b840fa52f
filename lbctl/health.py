"""The HTTP endpoint of the long-running commands: ``/healthz``, ``/readyz`` and ``/metrics``.

``lbctl controller`` and ``lbctl speaker`` each start one :class:`HealthServer` on
``--metrics-addr``.  The kubelet's probes read ``/healthz`` (is the process working: restart it
if not) and ``/readyz`` (is it ready: synced with the API server); Prometheus scrapes
``/metrics`` in its text format, from the registry the command filled (prometheus-client).
What "healthy" and "ready" mean is the command's business: it passes two callables that return
``""`` when all is well, else the reason, which the endpoint returns with HTTP 503.

The server runs in a daemon thread, one thread per connection; a connection silent for
:data:`IDLE_TIMEOUT` seconds is closed (idle keep-alive connections would pile up threads).
It serves nothing else (404) and answers only GET and HEAD.  It must not log requests (probes
arrive every few seconds).

Error policy: an address that does not parse is a :class:`~lbctl.errors.UsageError`; a port that
cannot be bound is a :class:`~lbctl.errors.RefusedError` (in use) or
:class:`~lbctl.errors.PermissionDeniedError`; both name the address.  Once serving, a failure
inside a request (a metrics collector or a check that raises: a bug) never reaches the
command's stderr as a traceback and never stops the server: that request is answered 500 with
one line, the same line goes to ``log``, and every other endpoint keeps answering (a scrape
that fails as a whole is what prometheus-client's own servers do too).
"""

from __future__ import annotations

import errno
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.exposition import generate_latest

from lbctl.errors import PermissionDeniedError, RefusedError, UsageError

#: The text format every Prometheus reads (``generate_latest`` writes it).
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: ``check() -> ""`` when all is well, else why not.
Check = Callable[[], str]
#: Seconds a connection may stay silent (each one holds a thread while open).
IDLE_TIMEOUT = 30.0
TEXT = "text/plain; charset=utf-8"


def log_to_stderr(line: str) -> None:
    """The default ``log``: one line on stderr."""
    print(f"lbctl: {line}", file=sys.stderr, flush=True)


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` (every address), ``[IPV6]:PORT`` -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"invalid --metrics-addr {text!r}: expected HOST:PORT",
                         hint="for example :8080, 127.0.0.1:8080 or [::1]:8080")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise UsageError(f"invalid --metrics-addr {text!r}: put an IPv6 address in brackets",
                         hint="for example [::1]:8080")
    return host, int(port)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    health: HealthServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A request that failed outside :meth:`HealthServer.respond` (a client that hung up
        mid-answer...): one line, not socketserver's traceback on stderr."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):  # a vanished client is not worth a line
            self.health.log(f"health endpoint: {type(exc).__name__}: {exc}")


class _Server6(_Server):
    """IPv6, and with the any-address ``::`` IPv4 too (an IPv6-only cluster probes the pod's
    IPv6 address, a dual-stack one either)."""

    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        if self.server_address[0] == "::" and hasattr(socket, "IPV6_V6ONLY"):
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.health.idle_timeout)  # silent: closed

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, *, body: bool) -> None:
        code, content_type, data = self.server.health.respond(self.path.split("?", 1)[0])
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)


class HealthServer:
    """Serves the three endpoints from ``registry`` (a prometheus-client ``CollectorRegistry``)
    and the two checks."""

    def __init__(self, address: str, registry: Any, *, live: Check, ready: Check,
                 idle_timeout: float = IDLE_TIMEOUT,
                 log: Callable[[str], None] = log_to_stderr) -> None:
        self.address = address
        self.idle_timeout = idle_timeout
        self.registry = registry
        self.live = live
        self.ready = ready
        self.log = log
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._httpd is not None, "start() first"
        return int(self._httpd.server_address[1])

    def respond(self, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for a GET of ``path``: 500 and one logged line when
        answering it raised."""
        try:
            return self._respond(path)
        except Exception as exc:  # the endpoint's boundary: a collector's or check's bug
            line = f"{path}: {type(exc).__name__}: {exc}"
            self.log(f"cannot serve {line}")
            return 500, TEXT, f"internal error serving {line}\n".encode()

    def _respond(self, path: str) -> tuple[int, str, bytes]:
        if path in ("/healthz", "/livez", "/readyz"):
            problem = (self.ready if path == "/readyz" else self.live)()
            if problem:
                return 503, TEXT, f"{problem}\n".encode()
            return 200, TEXT, b"ok\n"
        if path == "/metrics":
            return 200, METRICS_CONTENT_TYPE, generate_latest(self.registry)
        return 404, TEXT, b"not found: try /healthz, /readyz, /metrics\n"

    def start(self) -> HealthServer:
        host, port = parse_address(self.address)
        if not host:  # ":PORT": every address, both families where the machine has IPv6
            host = "::" if socket.has_ipv6 and _ipv6_works() else "0.0.0.0"
        kind = _Server6 if ":" in host else _Server
        try:
            httpd = kind((host, port), _Handler)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise PermissionDeniedError(
                    f"cannot listen on {self.address}: permission denied",
                    hint="ports below 1024 need privileges; pick another --metrics-addr") from exc
            raise RefusedError(f"cannot listen on {self.address}: {exc.strerror or exc}",
                               hint="another process may use the port; pick another "
                                    "--metrics-addr") from exc
        httpd.health = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="lbctl-health", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def _ipv6_works() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM):
            return True
    except OSError:
        return False
