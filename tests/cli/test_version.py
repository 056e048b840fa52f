"""``lbctl version``: the client version always, the server's when it answers, exit 0 either way."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest

from lbctl import __version__
from tests.conftest import Cli
from tests.kubefake import FakeKubeServer


@pytest.fixture(autouse=True)
def outside_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    """No in-cluster service account either, whatever machine the tests run on."""
    for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)


def test_short_is_the_number_and_asks_no_cluster(cli: Cli, kube_server: FakeKubeServer,
                                                 kubeconfig: Path) -> None:
    result = cli("version", "--short", "--kubeconfig", str(kubeconfig))
    assert (result.code, result.out, result.err) == (0, f"{__version__}\n", "")
    assert len(kube_server.requests) == 0


def test_client_and_server(cli: Cli, kubeconfig: Path) -> None:
    result = cli("version", "--kubeconfig", str(kubeconfig))
    assert (result.code, result.out, result.err) == (
        0, f"Client Version: {__version__}\nServer Version: v1.30.4\n", "")


def test_client_only(cli: Cli, kube_server: FakeKubeServer, kubeconfig: Path) -> None:
    result = cli("version", "--client", "--kubeconfig", str(kubeconfig))
    assert (result.code, result.out, result.err) == (0, f"Client Version: {__version__}\n", "")
    assert len(kube_server.requests) == 0


def test_json(cli: Cli, kubeconfig: Path) -> None:
    result = cli("version", "-o", "json", "--kubeconfig", str(kubeconfig))
    assert result.code == 0
    assert json.loads(result.out) == {
        "clientVersion": {"version": __version__, "python": platform.python_version()},
        "serverVersion": {"gitVersion": "v1.30.4"},
    }


def test_without_any_cluster_configuration(cli: Cli) -> None:
    result = cli("version")
    assert (result.code, result.out) == (0, f"Client Version: {__version__}\n")
    assert result.err == ("Server Version: unavailable (no Kubernetes configuration found "
                          "(looked in ~/.kube/config, the in-cluster service account))\n")
    result = cli("version", "-o", "json")
    assert result.code == 0
    assert "serverVersion" not in json.loads(result.out)


def test_a_server_that_fails(cli: Cli, kube_server: FakeKubeServer, kubeconfig: Path) -> None:
    kube_server.inject(503, path="^/version$", times=None)
    result = cli("version", "--kubeconfig", str(kubeconfig))
    assert (result.code, result.out) == (0, f"Client Version: {__version__}\n")
    assert result.err.startswith("Server Version: unavailable (the API server at "
                                 f"{kube_server.url} is not answering normally")


def test_refused_credentials(cli: Cli, tmp_path: Path) -> None:
    with FakeKubeServer(token="secret-token") as server:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", token="wrong-token")
        result = cli("version", "--kubeconfig", str(kubeconfig))
    assert (result.code, result.out) == (0, f"Client Version: {__version__}\n")
    assert result.err == ("Server Version: unavailable (the API server rejected the "
                          "credentials (401 Unauthorized))\n")


def test_wide_is_not_a_version_format(cli: Cli) -> None:
    result = cli("version", "-o", "wide")
    assert (result.code, result.err) == (
        2, "lbctl: error: -o wide is not supported here\nhint: choose one of: table, json, "
           "yaml, name\n")
