"""lbctl's own HTTP transport: the standard library's ``http.client`` straight to the API server,
for a :class:`ClusterConfig`.

Owns the TLS context (CA file or data, client certificate and key, ``insecure-skip-tls-verify``,
``tls-server-name``), the credentials of each request (a bearer token — re-read from its file
whenever the file changes, so a rotated service-account token is picked up — or basic auth),
gzip, one pool of keep-alive connections shared by parallel requests, and urllib3's retry policy
of before: a connection that cannot be made is retried twice, a request that got no answer
once when it is idempotent, never one that got an HTTP status (the client decides those).  A
kept-alive connection the server closed meanwhile is noticed before it is used again.

A proxy (``proxy-url``, else the ``HTTPS_PROXY``/``NO_PROXY`` environment, as the official
client does) is served by :mod:`lbctl.kube.proxied` over urllib3, which speaks to http and https
proxies; :func:`build` chooses.  Importing this module imports neither urllib3 nor yaml.

Error policy: it raises what ``http.client``, the socket layer and zlib raise (``errors``); the
client translates them.  It never puts a credential in an exception.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import select
import socket
import ssl
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from lbctl.kube.kubeconfig import ClusterConfig, Pem, read_token

#: Batches patch Services 16 at a time; keep a connection for each, and some to spare.
POOL_SIZE = 32
#: urllib3's policy of before: connections retried twice, requests without answer once.
CONNECT_RETRIES = 2
READ_RETRIES = 1
BACKOFF = 0.05
#: Methods a request without an answer may be sent again for (urllib3's list).
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
_PROXY_VARIABLES = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy",
                    "ALL_PROXY")


class Credentials:
    """The headers every request carries (User-Agent, gzip, basic auth) and the bearer token,
    re-read from its file when the file changes."""

    def __init__(self, config: ClusterConfig) -> None:
        self._config = config
        self._token = config.token
        self._token_stamp = _stamp(config.token_file)
        headers = {"User-Agent": "lbctl"}
        if config.compression:
            headers["Accept-Encoding"] = "gzip"
        if config.username is not None and config.password is not None and not self._token:
            pair = f"{config.username}:{config.password}".encode("latin-1", "replace")
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        self.headers = headers

    def of(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The headers of one request: ``headers`` and the credentials."""
        sent = {**self.headers, **headers}
        token = self.token()
        if token:
            sent["Authorization"] = f"Bearer {token}"
        return sent

    def token(self) -> str | None:
        """The token; from its file when there is one, re-read when the file changed (a
        service account's token rotates; kubectl re-reads it too).  A file that cannot be read
        at the moment leaves the last token in use."""
        path = self._config.token_file
        if path is not None:
            stamp = _stamp(path)
            if stamp != self._token_stamp:
                try:
                    self._token = read_token(path) or self._token
                    self._token_stamp = stamp
                except OSError:
                    pass
        return self._token


def _stamp(path: str | None) -> tuple[int, int, int] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _name(host: str) -> str | bytes:
    """A host name as the resolver and TLS are handed it: an ASCII name as bytes.  Given text,
    both encode it with the IDNA codec, whose first use imports ``encodings.idna``,
    ``stringprep`` and ``unicodedata`` (some 3 ms of every command); an ASCII name encodes to
    the same bytes either way (a label the codec would refuse is refused by the resolver)."""
    return host.encode("ascii") if host.isascii() else host


def _create_connection(address: tuple[str, int], timeout: Any = None,
                       source_address: tuple[str, int] | None = None) -> socket.socket:
    host, port = address
    return socket.create_connection((_name(host), port), timeout, source_address)  # type: ignore[arg-type]


class _Connection(http.client.HTTPConnection):
    """HTTP; the server's name reaches the resolver through :func:`_name`."""

    def __init__(self, host: str, port: int | None, *, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        # http.client's hook for how its connect() opens the socket
        self._create_connection = _create_connection


class _TLSConnection(_Connection):
    """HTTPS with lbctl's context, and ``tls-server-name`` as the name checked and sent."""

    default_port = 443

    def __init__(self, host: str, port: int | None, *, timeout: float,
                 context: ssl.SSLContext, server_name: str) -> None:
        super().__init__(host, port, timeout=timeout)
        self._context = context
        self._server_name = server_name

    def connect(self) -> None:
        super().connect()
        self.sock = self._context.wrap_socket(self.sock, server_hostname=_name(self._server_name))


class _Response:
    """:class:`lbctl.kube.client.Response` over an ``http.client`` response: the body decoded
    from gzip, the connection back to the pool once the body was read to its end."""

    def __init__(self, raw: http.client.HTTPResponse, connection: http.client.HTTPConnection,
                 done: Callable[[http.client.HTTPConnection, bool], None]) -> None:
        self.status = raw.status
        self.headers = raw.headers
        self._raw = raw
        self._connection: http.client.HTTPConnection | None = connection
        self._done = done
        gzipped = (raw.headers.get("Content-Encoding") or "").strip().lower() == "gzip"
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None

    def read(self) -> bytes:
        data = self._raw.read()
        if self._inflate is not None:
            data = self._inflate.decompress(data) + self._inflate.flush()
        return data

    def stream(self, amt: int, decode_content: bool = True) -> Iterator[bytes]:
        """The body as it arrives (a watch), ``amt`` bytes at most at a time."""
        while True:
            chunk = self._raw.read1(amt)
            if not chunk:
                break
            if self._inflate is not None and decode_content:
                chunk = self._inflate.decompress(chunk)
            if chunk:
                yield chunk
        if self._inflate is not None and decode_content:
            rest = self._inflate.flush()
            if rest:
                yield rest

    def release_conn(self) -> None:
        """The connection back to the pool when the body was read to its end and the server
        keeps it open; closed otherwise."""
        if self._connection is not None:
            reusable = self._raw.isclosed() and not self._raw.will_close
            self._done(self._connection, reusable)
            self._connection = None

    def close(self) -> None:
        self._raw.close()
        if self._connection is not None:
            self._done(self._connection, False)
            self._connection = None


class HttpTransport:
    """:class:`lbctl.kube.client.Transport` over ``http.client``, with a pool of keep-alive
    connections (at most :data:`POOL_SIZE` kept idle) shared by the threads that use it."""

    errors: tuple[type[BaseException], ...] = (http.client.HTTPException, OSError, zlib.error)

    def __init__(self, config: ClusterConfig, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.host = config.server
        parts = urlsplit(config.server)
        self._secure = parts.scheme == "https"
        self._address = (parts.hostname or "", parts.port)
        self._prefix = parts.path.rstrip("/")
        self._context = _ssl_context(config) if self._secure else None
        self._server_name = config.tls_server_name or self._address[0]
        self._credentials = Credentials(config)
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._sleep = sleep
        # The idle connections are closed when the transport goes, or at the latest at exit.
        weakref.finalize(self, _close_all, self._idle)

    def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None,
        body: Any,
        headers: Mapping[str, str],
        timeout: tuple[float, float],
    ) -> _Response:
        target = self._prefix + path + ("?" + urlencode(query) if query else "")
        data = None if body is None else json.dumps(body).encode()
        sent = self._credentials.of(headers)
        connect_retries, read_retries, failures = CONNECT_RETRIES, READ_RETRIES, 0
        while True:
            try:
                connection = self._connection(timeout)
            except OSError as exc:  # no connection: nothing reached the server
                if connect_retries == 0 or isinstance(exc, ssl.SSLError):  # TLS: same again
                    raise
                connect_retries -= 1
            else:
                try:
                    assert connection.sock is not None
                    connection.sock.settimeout(timeout[1])
                    connection.request(method, target, body=data, headers=sent)
                    raw = connection.getresponse()
                except (OSError, http.client.HTTPException):  # sent, maybe; no answer
                    connection.close()
                    if read_retries == 0 or method not in IDEMPOTENT:
                        raise
                    read_retries -= 1
                else:
                    return _Response(raw, connection, self._done)
            failures += 1
            if failures > 1:
                self._sleep(BACKOFF * 2 ** (failures - 1))

    def _connection(self, timeout: tuple[float, float]) -> http.client.HTTPConnection:
        """An idle connection the server has not closed, else a new one (connected)."""
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                break
            if not _dropped(connection):
                return connection
            connection.close()
        host, port = self._address
        if self._context is not None:
            connection = _TLSConnection(host, port, timeout=timeout[0], context=self._context,
                                        server_name=self._server_name)
        else:
            connection = _Connection(host, port, timeout=timeout[0])
        try:
            connection.connect()
        except BaseException:
            connection.close()
            raise
        return connection

    def _done(self, connection: http.client.HTTPConnection, reusable: bool) -> None:
        if reusable:
            with self._lock:
                if len(self._idle) < POOL_SIZE:
                    self._idle.append(connection)
                    return
        connection.close()


def _close_all(connections: list[http.client.HTTPConnection]) -> None:
    while connections:
        connections.pop().close()


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle connection was closed by the server (or has bytes nobody asked for):
    its socket is readable while no request is out."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _ssl_context(config: ClusterConfig) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if config.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif config.ca is not None:
        if config.ca.file is not None:
            context.load_verify_locations(cafile=config.ca.file)
        else:
            assert config.ca.data is not None
            context.load_verify_locations(cadata=config.ca.data.decode("ascii", "replace"))
    else:
        context.load_default_certs()
    if config.client_cert is not None and config.client_key is not None:
        _load_client_pair(context, config.client_cert, config.client_key)
    return context


def _load_client_pair(context: ssl.SSLContext, cert: Pem, key: Pem) -> None:
    """``load_cert_chain`` reads only files.  Data forms (``client-certificate-data``, what
    kubeadm, k3s and kind write) are handed to it as anonymous in-memory files (Linux
    ``memfd_create``, read through ``/proc/self/fd``): the key never touches a disk and nothing is
    left to remove.  Where those do not exist, a private temporary directory is used, removed as
    soon as the context holds them."""
    if cert.file is not None and key.file is not None:
        context.load_cert_chain(cert.file, key.file)
        return
    opened: list[int] = []
    try:
        paths = [pem.file or _in_memory(pem.read(), opened) for pem in (cert, key)]
    except OSError:  # no memfd_create, or no /proc: the temporary directory below
        pass
    else:
        context.load_cert_chain(paths[0], paths[1])
        return
    finally:
        for fd in opened:
            os.close(fd)
    import tempfile  # only where in-memory files are missing: keeps start-up light

    with tempfile.TemporaryDirectory(prefix="lbctl-") as private:  # mode 0700
        paths = []
        for name, pem in (("cert.pem", cert), ("key.pem", key)):
            if pem.file is not None:
                paths.append(pem.file)
                continue
            target = Path(private) / name
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem.read())
            paths.append(str(target))
        context.load_cert_chain(paths[0], paths[1])


def _in_memory(data: bytes, opened: list[int]) -> str:
    """A path that reads ``data`` from an anonymous in-memory file, which stays open (``opened``
    gets its descriptor) until the caller closes it; ``OSError`` where there is no such file."""
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is None:
        raise OSError("no memfd_create here")
    fd = memfd_create("lbctl-pem", getattr(os, "MFD_CLOEXEC", 0))
    opened.append(fd)
    written = 0
    while written < len(data):
        written += os.write(fd, data[written:])
    path = f"/proc/self/fd/{fd}"
    if not os.path.exists(path):
        raise OSError(f"{path} cannot be read here")
    return path


def build(config: ClusterConfig, env: Mapping[str, str]) -> Any:
    """The transport for ``config``: this module's without a proxy, urllib3's
    (:mod:`lbctl.kube.proxied`) behind an http(s) proxy; ``None`` when neither can serve it: a
    SOCKS proxy, or certificates that do not load (the official client then reports them as it
    always did)."""
    proxy = config.proxy_url or environment_proxy(config.server, env)
    if proxy is not None and not proxy.startswith(("http://", "https://")):
        return None
    try:
        if proxy is not None:
            from lbctl.kube import proxied

            return proxied.ProxyTransport(config, proxy=proxy)
        return HttpTransport(config)
    except (OSError, ValueError):  # ssl.SSLError is an OSError
        return None


def environment_proxy(server: str, env: Mapping[str, str]) -> str | None:
    """``HTTPS_PROXY``/``HTTP_PROXY`` for the server's scheme unless ``NO_PROXY`` covers it
    (the official client's rule, :func:`no_proxy_covers`).  Any scheme: the caller decides
    whether it can use it."""
    if not any(env.get(name) for name in _PROXY_VARIABLES):
        return None
    parts = urlsplit(server)
    scheme = parts.scheme
    proxy = (env.get(f"{scheme}_proxy") or env.get(f"{scheme.upper()}_PROXY")
             or env.get("all_proxy") or env.get("ALL_PROXY"))
    if not proxy:
        return None
    no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
    if no_proxy and no_proxy_covers(server, no_proxy):
        return None
    return proxy


def no_proxy_covers(server: str, no_proxy: str) -> bool:
    """Whether a ``NO_PROXY`` list covers ``server``, as the official client (and kubectl)
    read it: ``*``; a host name, itself or as a domain suffix (a leading dot optional), with or
    without its port; an IP address or a network in CIDR notation (``10.0.0.0/8``)."""
    parts = urlsplit(server)
    host = (parts.hostname or "").lower()
    if not host:
        return True
    netloc = parts.netloc.lower().rpartition("@")[2]
    import ipaddress

    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for entry in (item.strip().lower() for item in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        if ip is not None:
            try:
                if ip in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
        entry = entry.lstrip(".")
        if host == entry or host.endswith("." + entry) or netloc == entry or (
                netloc.endswith("." + entry)):
            return True
    return False
