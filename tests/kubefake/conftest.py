"""Fixtures for the fake API server's contract tests: the real client, and raw HTTP.

``kube_server`` and ``kubeconfig`` come from :mod:`tests.kubefake.fixtures` (loaded by the
top-level conftest).  The contract tests talk through the official ``kubernetes`` client, as
lbctl does, and through ``http.client`` where the client cannot say what is needed.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kubefake.server import FakeKubeServer
from tests.kubefake.support import Raw


@pytest.fixture
def api(kubeconfig: Path) -> Iterator[Any]:
    from kubernetes import config

    client = config.new_client_from_config(config_file=str(kubeconfig))
    yield client
    client.close()


@pytest.fixture
def core(api: Any) -> Any:
    from kubernetes import client

    return client.CoreV1Api(api)


@pytest.fixture
def raw(kube_server: FakeKubeServer) -> Raw:
    """``raw(method, path, body=None, headers=None) -> (status, decoded JSON or bytes)``."""

    def request(
        method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", kube_server.port, timeout=10)
        try:
            payload = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
            connection.request(method, path, body=payload, headers=headers or {})
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        try:
            return response.status, json.loads(data)
        except ValueError:
            return response.status, data

    return request
