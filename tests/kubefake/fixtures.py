"""Pytest fixtures for the fake kube-apiserver (loaded with ``pytest_plugins``).

``kube_server`` is a fresh, started :class:`~tests.kubefake.FakeKubeServer` per test, stopped
afterwards; ``kubeconfig`` is the path of a kubeconfig pointing at it, in ``tmp_path``.  The
``kubeconfig`` fixture also clears proxy variables from the environment, so that a developer's
``HTTP_PROXY`` cannot route test traffic for 127.0.0.1 anywhere else.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kubefake.server import FakeKubeServer

_PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


@pytest.fixture
def kube_server() -> Iterator[FakeKubeServer]:
    with FakeKubeServer() as server:
        yield server


@pytest.fixture
def kubeconfig(
    kube_server: FakeKubeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return kube_server.write_kubeconfig(tmp_path / "kubeconfig")
