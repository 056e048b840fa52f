"""Fixtures for the kubeconfig and transport tests: a private PKI made with ``openssl`` (a CA,
a server certificate for 127.0.0.1 and ``apiserver.test``, a client certificate), and HTTPS fake
API servers built from it."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.kubefake.server import FakeKubeServer


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing the server shows


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ca(directory: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.crt", cwd=directory)


def _signed(directory: Path, name: str, subject: str, extensions: str) -> None:
    (directory / f"{name}.ext").write_text(extensions)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
             "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=directory)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.crt",
             cwd=directory)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (CI installs it)")
    directory = tmp_path_factory.mktemp("pki")
    _ca(directory, "ca")
    _ca(directory, "other")
    _signed(directory, "server", "/CN=kube-apiserver",
            "subjectAltName=IP:127.0.0.1,DNS:apiserver.test\nextendedKeyUsage=serverAuth\n")
    _signed(directory, "client", "/CN=alice/O=admins", "extendedKeyUsage=clientAuth\n")
    return Pki(directory / "ca.crt", directory / "server.crt", directory / "server.key",
               directory / "client.crt", directory / "client.key", directory / "other.crt")


def server_context(pki: Pki, *, client_certs: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    if client_certs:
        context.load_verify_locations(cafile=pki.ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


@pytest.fixture
def tls_server(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeServer]:
    """An HTTPS fake API server that also requires a bearer token."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with FakeKubeServer(tls=server_context(pki), token="tls-token-0123456789") as server:
        yield server


@pytest.fixture
def mtls_server(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeServer]:
    """An HTTPS fake API server that accepts only clients with a certificate of the CA."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with FakeKubeServer(tls=server_context(pki, client_certs=True)) as server:
        yield server
