"""The transport behind an http(s) proxy: urllib3 to the API server through ``proxy-url`` (or
the ``HTTPS_PROXY`` environment), for a :class:`ClusterConfig`; and the urllib3 settings the
official client shares (:func:`retry_policy`, :func:`quiet_if_insecure`).

:func:`lbctl.kube.transport.build` chooses it only when a proxy is configured (urllib3 speaks
to http and https proxies, tunnelling TLS); without one, :mod:`lbctl.kube.transport` speaks
``http.client`` itself.  TLS, credentials and gzip are the same as there.

Error policy: it raises what urllib3 and the socket layer raise (``errors``); the client
translates them.  It never puts a credential in an exception.
"""

from __future__ import annotations

import json
import ssl
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import urllib3

from lbctl.kube.kubeconfig import ClusterConfig
from lbctl.kube.transport import POOL_SIZE, Credentials, _ssl_context


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


class ProxyTransport:
    """:class:`lbctl.kube.client.Transport` over urllib3, through a proxy."""

    errors: tuple[type[BaseException], ...] = (urllib3.exceptions.HTTPError, OSError)

    def __init__(self, config: ClusterConfig, *, proxy: str) -> None:
        """``proxy``: an ``http(s)://`` proxy URL (:func:`lbctl.kube.transport.build` finds
        it)."""
        self.host = config.server
        pool: dict[str, Any] = {"maxsize": POOL_SIZE, "retries": retry_policy(), "block": False}
        if config.server.startswith("https://"):
            pool["ssl_context"] = _ssl_context(config)
            pool["cert_reqs"] = ssl.CERT_NONE if config.insecure else ssl.CERT_REQUIRED
            if config.tls_server_name:
                pool["server_hostname"] = config.tls_server_name
            quiet_if_insecure(config.insecure)
        self._credentials = Credentials(config)
        self._pool = urllib3.ProxyManager(proxy, **pool)

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
        return self._pool.request(
            method,
            url,
            body=None if body is None else json.dumps(body).encode(),
            headers=self._credentials.of(headers),
            timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]),
            preload_content=False,
        )
