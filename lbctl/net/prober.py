"""SocketProber: the :class:`lbctl.nodeports.Prober` port with the standard library.

Owns one health check: open a TCP connection to ``host:port`` and, for HTTP, send
``GET path HTTP/1.1`` and read the status line (2xx and 3xx are healthy, as the kubelet's
HTTP probes judge).  Each check has its own deadline; nothing is retried here (callers repeat
checks on their own schedule) and nothing is logged.

Error policy: a failed connection or answer is a :class:`~lbctl.nodeports.ProbeResult` with
``ok=False`` and the reason; nothing raises.
"""

from __future__ import annotations

import http.client
import socket
import time

from lbctl.nodeports import ProbeResult


class SocketProber:
    def check(self, host: str, port: int, *, http_path: str | None = None,
              timeout: float = 1.0) -> ProbeResult:
        start = time.monotonic()
        if http_path is None:
            try:
                with socket.create_connection((host, port), timeout=timeout):
                    pass
            except OSError as exc:
                return ProbeResult(False, time.monotonic() - start, _reason(exc, timeout))
            return ProbeResult(True, time.monotonic() - start, "connected")
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            connection.request("GET", http_path, headers={"User-Agent": "lbctl-check",
                                                          "Connection": "close"})
            status = connection.getresponse().status
        except (OSError, http.client.HTTPException) as exc:
            return ProbeResult(False, time.monotonic() - start, _reason(exc, timeout))
        finally:
            connection.close()
        return ProbeResult(status < 400, time.monotonic() - start, f"HTTP {status}")


def _reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
