"""Credentials and TLS on both transports, and the promise that no secret is ever shown.

Each test runs on lbctl's own transport and on the official client's: the same kubeconfig must
work (or fail) the same way on both.  Secret tests run every failing path through the real CLI,
with and without ``--debug``, and grep everything it printed for the token, the password and the
client key.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lbctl import kube
from lbctl.errors import UnreachableError, UsageError
from tests.conftest import Cli
from tests.kube.conftest import Pki
from tests.kubefake.server import FakeKubeServer

TOKEN = "s3cret-token-abcdefghijklmnop"
PASSWORD = "pa55word-never-shown"


@pytest.fixture(params=["fast", "official"])
def official(request: pytest.FixtureRequest) -> bool:
    return request.param == "official"


def write(path: Path, server: str, user: dict[str, Any], **cluster: Any) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, **cluster}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }
    path.write_text(json.dumps(config))
    return path


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


# --- tokens --------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["token", "tokenFile"])
def test_a_token_with_surrounding_whitespace_is_stripped_as_kubectl_does(
    tmp_path: Path, official: bool, form: str
) -> None:
    with FakeKubeServer(token=TOKEN) as server:
        token_file = tmp_path / "token"
        token_file.write_text(f"{TOKEN}\n")
        user = {"token": f" {TOKEN}\n"} if form == "token" else {"tokenFile": "token"}
        client = kube.connect(str(write(tmp_path / "kc", server.url, user)), official=official)
        assert client.server_version() == "v1.30.4"
        assert client.fast is not official


def test_a_token_with_a_line_break_inside_is_refused_without_quoting_it(
    tmp_path: Path, official: bool
) -> None:
    with FakeKubeServer(token=TOKEN) as server:
        path = write(tmp_path / "kc", server.url, {"token": f"{TOKEN}\nX-Injected: 1"})
        with pytest.raises(UsageError) as info:
            kube.connect(str(path), official=official).server_version()
    assert "cannot be sent in an HTTP header" in info.value.message
    assert TOKEN not in info.value.message + info.value.hint


def test_a_rotated_service_account_token_is_read_again(
    tmp_path: Path, kube_server: FakeKubeServer
) -> None:
    account = tmp_path / "sa"
    account.mkdir()
    (account / "token").write_text("first-token-0123456789\n")
    (account / "ca.crt").write_bytes(b"")
    kube_server.token = "first-token-0123456789"
    env = {"KUBECONFIG": str(tmp_path / "none"), "KUBERNETES_SERVICE_HOST": "127.0.0.1",
           "KUBERNETES_SERVICE_PORT": str(kube_server.port)}
    config = kube.kubeconfig.in_cluster(env, account)
    assert config is not None
    # The fake speaks HTTP: keep the in-cluster settings, change only the scheme.
    plain = kube.kubeconfig.ClusterConfig(
        server=kube_server.url, context=None, namespace=config.namespace, token=config.token,
        token_file=config.token_file,
    )
    client = kube.KubeClient(kube.transport.HttpTransport(plain), default_namespace="default",
                             context=None)
    assert client.server_version() == "v1.30.4"
    (account / "token").write_text("second-token-9876543210\n")
    kube_server.token = "second-token-9876543210"
    assert client.server_version() == "v1.30.4"


# --- TLS -----------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["file", "data"])
def test_the_servers_certificate_is_checked_against_the_ca(
    tmp_path: Path, pki: Pki, tls_server: FakeKubeServer, official: bool, form: str
) -> None:
    ca = {"certificate-authority": str(pki.ca)} if form == "file" else {
        "certificate-authority-data": b64(pki.ca)}
    good = write(tmp_path / "good", tls_server.url, {"token": tls_server.token}, **ca)
    assert kube.connect(str(good), official=official).server_version() == "v1.30.4"
    wrong = {"certificate-authority": str(pki.other_ca)} if form == "file" else {
        "certificate-authority-data": b64(pki.other_ca)}
    bad = write(tmp_path / "bad", tls_server.url, {"token": tls_server.token}, **wrong)
    with pytest.raises(UnreachableError, match="TLS handshake failed") as info:
        kube.connect(str(bad), official=official).server_version()
    assert tls_server.token not in info.value.message  # type: ignore[operator]


def test_tls_server_name_names_the_certificate_to_expect(
    tmp_path: Path, pki: Pki, tls_server: FakeKubeServer, official: bool
) -> None:
    url = f"https://localhost:{tls_server.port}"  # not in the certificate
    user = {"token": tls_server.token}
    named = write(tmp_path / "named", url, user, **{"certificate-authority": str(pki.ca),
                                                    "tls-server-name": "apiserver.test"})
    assert kube.connect(str(named), official=official).server_version() == "v1.30.4"
    unnamed = write(tmp_path / "unnamed", url, user, **{"certificate-authority": str(pki.ca)})
    with pytest.raises(UnreachableError, match="TLS handshake failed"):
        kube.connect(str(unnamed), official=official).server_version()


def test_a_tls_request_by_host_name_loads_no_idna_codec(
    tmp_path: Path, pki: Pki, tls_server: FakeKubeServer
) -> None:
    """lbctl's transport hands an ASCII host name to the resolver and to TLS as bytes: the
    certificate is still checked against the name (``tls-server-name``, ``localhost``), and the
    IDNA codec, which text would make them import, stays unloaded (start-up time)."""
    url = f"https://localhost:{tls_server.port}"
    user = {"token": tls_server.token}
    named = write(tmp_path / "named", url, user, **{"certificate-authority": str(pki.ca),
                                                    "tls-server-name": "apiserver.test"})
    unnamed = write(tmp_path / "unnamed", url, user, **{"certificate-authority": str(pki.ca)})
    code = (
        "import sys\n"
        "from lbctl import kube\n"
        "from lbctl.errors import UnreachableError\n"
        "print(kube.connect(sys.argv[1]).server_version())\n"
        "try:\n"
        "    kube.connect(sys.argv[2]).server_version()\n"
        "except UnreachableError as exc:\n"
        "    print('TLS handshake failed' in exc.message)\n"
        "print('encodings.idna' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(named), str(unnamed)],
                          capture_output=True, text=True, check=True)
    version, refused, idna = done.stdout.splitlines()
    assert (version, refused, idna) == ("v1.30.4", "True", "False")


@pytest.mark.parametrize("form", ["file", "data", "relative"])
def test_client_certificates_in_every_form(
    tmp_path: Path, pki: Pki, mtls_server: FakeKubeServer, official: bool, form: str
) -> None:
    if form == "data":
        user = {"client-certificate-data": b64(pki.client_cert),
                "client-key-data": b64(pki.client_key)}
    elif form == "file":
        user = {"client-certificate": str(pki.client_cert), "client-key": str(pki.client_key)}
    else:  # relative to the kubeconfig's directory
        user = {"client-certificate": "client.crt", "client-key": "client.key"}
    ca = {"certificate-authority": str(pki.ca)}
    path = write(pki.ca.parent / f"kc-{form}-{official}", mtls_server.url, user, **ca)
    assert kube.connect(str(path), official=official).server_version() == "v1.30.4"
    without = write(tmp_path / "without", mtls_server.url, {}, **ca)
    with pytest.raises(UnreachableError):
        kube.connect(str(without), official=official).server_version()


@pytest.mark.parametrize("memfd", [True, False], ids=["in-memory", "no-memfd"])
def test_client_certificate_data_is_loaded_from_memory_or_a_private_directory(
    tmp_path: Path, pki: Pki, mtls_server: FakeKubeServer, monkeypatch: pytest.MonkeyPatch,
    memfd: bool,
) -> None:
    """``client-certificate-data`` and ``client-key-data`` reach the TLS context as in-memory
    files: no temporary directory is made, the key is written to no disk.  Where there are no
    in-memory files, a private temporary directory serves, and is removed."""
    import tempfile

    made: list[str] = []
    real = tempfile.TemporaryDirectory

    def spy(*args: Any, **kwargs: Any) -> Any:
        directory = real(*args, **kwargs)
        made.append(directory.name)
        return directory

    monkeypatch.setattr(tempfile, "TemporaryDirectory", spy)
    if not memfd:
        monkeypatch.delattr(os, "memfd_create")
    user = {"client-certificate-data": b64(pki.client_cert),
            "client-key-data": b64(pki.client_key)}
    path = write(tmp_path / "kc", mtls_server.url, user, **{"certificate-authority": str(pki.ca)})
    assert kube.connect(str(path)).server_version() == "v1.30.4"
    assert len(made) == (0 if memfd else 1)
    assert not any(os.path.exists(directory) for directory in made)


def test_insecure_skip_tls_verify_prints_no_warning(
    tmp_path: Path, tls_server: FakeKubeServer, official: bool
) -> None:
    """The user chose it in the kubeconfig; kubectl says nothing, neither does lbctl (urllib3
    would print an InsecureRequestWarning for every request)."""
    tls_server.put_object({"apiVersion": "v1", "kind": "Service",
                           "metadata": {"name": "web", "namespace": "shop"},
                           "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})
    path = write(tmp_path / "kc", tls_server.url, {"token": tls_server.token},
                 **{"insecure-skip-tls-verify": True})
    env = {**os.environ, "LBCTL_KUBE_CLIENT": "official" if official else "fast",
           "PYTHONWARNINGS": "default"}
    done = subprocess.run(
        [sys.executable, "-m", "lbctl", "svc", "list", "-A", "--kubeconfig", str(path)],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines()[1].split()[:3] == ["shop", "web", "<pending>"]


# --- secrets never shown -------------------------------------------------------------------


def _key_lines(pki: Pki) -> list[str]:
    return [line for line in pki.client_key.read_text().splitlines()
            if not line.startswith("-----")]


SCENARIOS = ["401", "403", "404", "500", "refused", "drop", "line-break", "tls", "basic-401"]


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_failing_path_shows_a_token_a_password_or_a_key(
    cli: Cli, tmp_path: Path, pki: Pki, official: bool, scenario: str, debug: bool,
) -> None:
    user: dict[str, Any] = {"token": f"{TOKEN}\n"}
    cluster: dict[str, Any] = {}
    if scenario == "line-break":
        user = {"token": f"{TOKEN}\r\n{TOKEN}"}
    elif scenario == "tls":  # an HTTPS URL on a plain-HTTP server, with a client key
        user = {"token": TOKEN, "client-certificate-data": b64(pki.client_cert),
                "client-key-data": b64(pki.client_key)}
        cluster = {"insecure-skip-tls-verify": True}
    elif scenario == "basic-401":
        user = {"username": "alice", "password": PASSWORD}
    server = FakeKubeServer(token="the-servers-own-token-xyz" if scenario == "401" else TOKEN)
    url = server.url.replace("http://", "https://") if scenario == "tls" else server.url
    path = write(tmp_path / "kc", url, user, **cluster)
    faults: dict[str, Any] = {"404": 404, "500": 500, "drop": "drop"}
    if scenario in faults:
        server.inject(faults[scenario], times=None)
    if scenario == "403":
        server.deny("list", "services")
    if scenario == "refused":
        server.stop()  # nothing listens on the port any more
    else:
        server.start()
    try:
        env = {"LBCTL_KUBE_CLIENT": "official" if official else "fast"}
        args = ["svc", "list", "-A", "--kubeconfig", str(path), *(["--debug"] if debug else [])]
        result = cli(*args, env=env)
    finally:
        if scenario != "refused":
            server.stop()
    shown = result.out + result.err
    assert result.code != 0, shown
    assert "lbctl: error: " in result.err, shown
    for secret in [TOKEN, PASSWORD, b64(pki.client_key), *_key_lines(pki)]:
        assert secret not in shown, (scenario, shown)
    assert ("Traceback" in result.err) == debug  # the traceback went through the redaction


def test_an_exec_plugin_that_fails_is_one_clean_error(cli: Cli, tmp_path: Path) -> None:
    with FakeKubeServer(token=TOKEN) as server:
        path = write(tmp_path / "kc", server.url, {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "sh",
            "args": ["-c", "echo 'login expired' >&2; exit 3"]}})
        result = cli("svc", "list", "-A", "--kubeconfig", str(path))
    assert result.code == 6
    lines = result.err.splitlines()
    assert len(lines) == 2 and "ERROR:root" not in result.err
    assert lines[0].startswith(f"lbctl: error: cannot get credentials from {path}: ")
    assert lines[1] == "hint: check the user section of the kubeconfig (its exec plugin)"
