"""In a pod, ``lbctl controller`` reads the projected service-account token again when the
kubelet rotates it (bound tokens expire): the in-cluster configuration of the adapter, against
the fake apiserver over TLS (a throw-away certificate for 127.0.0.1), with time moved forward
instead of waited for."""

from __future__ import annotations

import datetime as real_datetime
import shutil
import ssl
import subprocess
import types
from pathlib import Path

import pytest

from lbctl import kube as adapter
from lbctl.errors import PermissionDeniedError
from lbctl.ports import NAMESPACES
from tests.kubefake.server import FakeKubeServer


@pytest.fixture
def tls_server(tmp_path: Path) -> FakeKubeServer:
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=kubernetes", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server = FakeKubeServer(token="first")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server._httpd.socket = context.wrap_socket(server._httpd.socket, server_side=True)
    return server


class _Later(real_datetime.datetime):
    """``datetime.now()`` two minutes ahead: the token's re-read is due."""

    @classmethod
    def now(cls, tz: real_datetime.tzinfo | None = None) -> _Later:  # type: ignore[override]
        return real_datetime.datetime.now(tz) + real_datetime.timedelta(minutes=2)  # type: ignore[return-value]


def test_a_rotated_token_is_read_again(tls_server: FakeKubeServer, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("first")
    shutil.copy(tmp_path / "cert.pem", account / "ca.crt")
    (account / "namespace").write_text("kube-system")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    environ = {"KUBERNETES_SERVICE_HOST": "127.0.0.1",
               "KUBERNETES_SERVICE_PORT": str(tls_server.port), "HOME": str(tmp_path)}
    with tls_server:
        kube = adapter.connect(environ=environ, service_account_dir=str(account),
                               sleep=lambda _: None)
        assert kube.default_namespace == "kube-system"
        kube.get(NAMESPACES, "default")  # authenticated with the first token
        (account / "token").write_text("second")  # the kubelet rotates it ...
        tls_server.token = "second"  # ... and the old one expires
        with pytest.raises(PermissionDeniedError):
            kube.get(NAMESPACES, "default")  # not re-read yet: the client caches it a minute
        import kubernetes.config.incluster_config as incluster

        later = types.SimpleNamespace(datetime=_Later, timedelta=real_datetime.timedelta)
        monkeypatch.setattr(incluster, "datetime", later)
        kube.get(NAMESPACES, "default")  # re-read: accepted
