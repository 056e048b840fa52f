"""lbctl's own HTTP transport: urllib3 straight to the API server, for a :class:`ClusterConfig`.

Owns the TLS context (CA file or data, client certificate and key, ``insecure-skip-tls-verify``,
``tls-server-name``), the proxy (``proxy-url``, else the ``HTTPS_PROXY``/``NO_PROXY``
environment, as the official client does), the credentials of each request (a bearer token —
re-read from its file whenever the file changes, so a rotated service-account token is picked up
— or basic auth), gzip, and one pool of keep-alive connections shared by parallel requests.

Importing this module imports urllib3 (a dependency of the official client, never the client
itself); :func:`lbctl.kube.connect` imports it only on the fast path.

Error policy: it raises what urllib3 and the socket layer raise (``errors``); the client
translates them.  It never puts a credential in an exception.
"""

from __future__ import annotations

import json
import os
import ssl
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3

from lbctl.kube.kubeconfig import ClusterConfig, Pem, read_token

#: Batches patch Services 16 at a time; keep a connection for each, and some to spare.
POOL_SIZE = 32
_PROXY_VARIABLES = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy",
                    "ALL_PROXY")


def retry_policy() -> urllib3.util.Retry:
    """Connection errors are retried by urllib3 (cheap, and they never reached the server); a
    read error is retried once for idempotent methods.  HTTP statuses are retried by the client,
    so urllib3 must neither retry nor raise on them (not even on Retry-After)."""
    return urllib3.util.Retry(
        total=3, connect=2, read=1, status=0, other=0, redirect=0, backoff_factor=0.05,
        respect_retry_after_header=False, raise_on_status=False,
    )


def quiet_if_insecure(insecure: bool) -> None:
    """The user chose ``insecure-skip-tls-verify``: kubectl does not nag about it, nor does
    lbctl (urllib3 would warn on every request)."""
    if insecure:
        warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)


class HttpTransport:
    """:class:`lbctl.kube.client.Transport` over urllib3."""

    errors: tuple[type[BaseException], ...] = (urllib3.exceptions.HTTPError, OSError)

    def __init__(self, config: ClusterConfig, *, proxy: str | None = None) -> None:
        """``proxy``: an ``http(s)://`` proxy URL (:func:`build` finds it)."""
        self.host = config.server
        self._config = config
        self._token = config.token
        self._token_stamp = _stamp(config.token_file)
        secure = config.server.startswith("https://")
        pool: dict[str, Any] = {"maxsize": POOL_SIZE, "retries": retry_policy(), "block": False}
        if secure:
            pool["ssl_context"] = _ssl_context(config)
            pool["cert_reqs"] = ssl.CERT_NONE if config.insecure else ssl.CERT_REQUIRED
            if config.tls_server_name:
                pool["server_hostname"] = config.tls_server_name
            quiet_if_insecure(config.insecure)
        headers = {"User-Agent": "lbctl"}
        if config.compression:
            headers["Accept-Encoding"] = "gzip"
        if config.username is not None and config.password is not None and not self._token:
            headers.update(urllib3.util.make_headers(
                basic_auth=f"{config.username}:{config.password}"))
        self._headers = headers
        self._pool: urllib3.PoolManager = (
            urllib3.ProxyManager(proxy, **pool) if proxy else urllib3.PoolManager(**pool)
        )

    def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None,
        body: Any,
        headers: Mapping[str, str],
        timeout: tuple[float, float],
    ) -> Any:
        url = self.host + path + ("?" + urlencode(query) if query else "")
        sent = {**self._headers, **headers}
        token = self._current_token()
        if token:
            sent["Authorization"] = f"Bearer {token}"
        return self._pool.request(
            method,
            url,
            body=None if body is None else json.dumps(body).encode(),
            headers=sent,
            timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]),
            preload_content=False,
        )

    def _current_token(self) -> str | None:
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
    """``load_cert_chain`` reads only files: data forms go through a private temporary
    directory that is removed as soon as the context holds them."""
    if cert.file is not None and key.file is not None:
        context.load_cert_chain(cert.file, key.file)
        return
    import tempfile  # only for the data forms: keeps start-up light

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


def build(config: ClusterConfig, env: Mapping[str, str]) -> HttpTransport | None:
    """The transport for ``config``, or ``None`` when it cannot serve it: a SOCKS proxy, or
    certificates that do not load (the official client then reports them as it always did)."""
    proxy = config.proxy_url or environment_proxy(config.server, env)
    if proxy is not None and not proxy.startswith(("http://", "https://")):
        return None
    try:
        return HttpTransport(config, proxy=proxy)
    except (OSError, ValueError):  # ssl.SSLError is an OSError
        return None


def environment_proxy(server: str, env: Mapping[str, str]) -> str | None:
    """``HTTPS_PROXY``/``HTTP_PROXY`` for the server's scheme unless ``NO_PROXY`` covers it
    (the official client's rule).  Any scheme: the caller decides whether it can use it."""
    if not any(env.get(name) for name in _PROXY_VARIABLES):
        return None
    import urllib.request

    parts = urlsplit(server)
    scheme = parts.scheme
    proxy = (env.get(f"{scheme}_proxy") or env.get(f"{scheme.upper()}_PROXY")
             or env.get("all_proxy") or env.get("ALL_PROXY"))
    if not proxy:
        return None
    no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if no_proxy and bypass(parts.hostname or "", {"no": no_proxy}):
        return None
    return proxy
