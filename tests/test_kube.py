"""lbctl.kube against the fake API server: every KubeAPI method, configuration loading, and
the translation of every failure into lbctl's errors (and of nothing else).

Every test runs twice: on lbctl's own transport (the fast path) and on the official client's
(``connect(official=True)``): both must behave the same."""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lbctl import kube
from lbctl.errors import (
    ConflictError,
    LbctlError,
    NoClusterConfigError,
    NotFoundError,
    PermissionDeniedError,
    RefusedError,
    UnreachableError,
    UsageError,
)
from lbctl.ports import CONFIGMAPS, DEPLOYMENTS, NODES, SERVICES, Resource
from tests.kubefake.server import FakeKubeServer

TOKEN = "t0ken-that-must-never-show"


class Sleeps(list[float]):
    """A ``sleep`` that records instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(autouse=True, params=["fast", "official"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test on one of the two transports."""
    if request.param == "official":
        monkeypatch.setattr(kube, "connect", functools.partial(kube.connect, official=True))
    return str(request.param)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(kubeconfig: Path, sleeps: Sleeps) -> kube.KubeClient:
    return kube.connect(str(kubeconfig), sleep=sleeps)


def _service(name: str, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"ports": [{"port": 80}], **spec},
    }


def _configmap(name: str, namespace: str = "default", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


# --- import cost -------------------------------------------------------------------------------


def test_importing_the_adapter_does_not_import_the_kubernetes_client() -> None:
    heavy = ("kubernetes", "urllib3", "yaml", "pydantic")
    code = f"import sys, lbctl.kube; print(sorted(m for m in {heavy} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.stdout.strip() == "[]"


# --- configuration -----------------------------------------------------------------------------


def test_connect_uses_the_context_namespace_and_server(
    kube_server: FakeKubeServer, tmp_path: Path
) -> None:
    path = kube_server.write_kubeconfig(tmp_path / "kc", context="lab", namespace="team")
    client = kube.connect(str(path))
    assert (client.default_namespace, client.context, client.server) == (
        "team",
        "lab",
        kube_server.url,
    )


def test_kubeconfig_variable_merges_files_and_context_picks_one(
    kube_server: FakeKubeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = kube_server.write_kubeconfig(tmp_path / "a", context="a", namespace="ns-a")
    second = kube_server.write_kubeconfig(tmp_path / "b", context="b", namespace="ns-b")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{first}:{second}")
    assert kube.connect().default_namespace == "ns-a"  # the first file's current-context wins
    assert kube.connect(context="b").default_namespace == "ns-b"


def test_the_default_kubeconfig_is_in_the_home_directory(
    kube_server: FakeKubeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".kube").mkdir()
    kube_server.write_kubeconfig(tmp_path / ".kube" / "config", namespace="")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    client = kube.connect()
    assert client.default_namespace == "default"  # no namespace in the context: kubectl's default
    assert client.server_version() == "v1.30.4"


def test_no_configuration_at_all_is_unreachable(tmp_path: Path) -> None:
    with pytest.raises(NoClusterConfigError) as info:
        kube.connect(environ={"KUBECONFIG": str(tmp_path / "nope")})
    assert info.value.message == (
        f"no Kubernetes configuration found (looked in {tmp_path / 'nope'}, "
        "the in-cluster service account)"
    )
    assert info.value.hint == "pass --kubeconfig, or set KUBECONFIG"
    assert info.value.exit_code == 7


def test_a_missing_explicit_kubeconfig_is_unreachable(tmp_path: Path) -> None:
    with pytest.raises(UnreachableError, match=r"looked in .*nope\)$"):
        kube.connect(
            str(tmp_path / "nope"),
            environ={"KUBERNETES_SERVICE_HOST": "x", "KUBERNETES_SERVICE_PORT": "1"},
        )


def test_an_unknown_context_is_a_usage_error(kubeconfig: Path) -> None:
    with pytest.raises(UsageError, match="context 'prod' not found") as info:
        kube.connect(str(kubeconfig), context="prod")
    assert info.value.hint == "kubectl config get-contexts lists the contexts"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clusters: [\n", "cannot read the kubeconfig"),
        ('{"clusters": [], "contexts": [], "users": []}', "names no current context"),
        ("[1, 2]", "cannot read the kubeconfig"),
        ("contexts: 5\n", "cannot read the kubeconfig"),
        ("current-context: a\ncontexts:\n- {name: a, context: 5}\n",
         "cannot read the kubeconfig"),
        ("current-context: a\ncontexts:\n- {name: a, context: {cluster: c, user: u}}\n"
         "clusters:\n- {name: c, cluster: {server: 5}}\nusers:\n- {name: u, user: 7}\n",
         "cannot read the kubeconfig"),
    ],
)
def test_broken_kubeconfigs_are_usage_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "kc"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        kube.connect(str(path))


@pytest.mark.parametrize("folder", ["x6execab", "tokens"])
def test_file_names_in_a_loader_message_do_not_decide_the_error(
    tmp_path: Path, folder: str
) -> None:
    # The loader quotes the file's path; a folder named like a credential word is no credential
    # problem (a temporary directory once made this a 'cannot get credentials', exit 6).
    path = tmp_path / folder / "kc"
    path.parent.mkdir()
    path.write_text(
        "current-context: gone\ncontexts:\n- {name: a, context: {cluster: c, user: u}}\n"
        "clusters:\n- {name: c, cluster: {server: 'https://127.0.0.1:1'}}\n"
        "users:\n- {name: u, user: {}}\n"
    )
    with pytest.raises(UsageError, match=str(path)):
        kube.connect(str(path), official=True)


@pytest.fixture
def service_account(tmp_path: Path) -> Path:
    account = tmp_path / "sa"
    account.mkdir()
    (account / "token").write_text(TOKEN)
    (account / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (account / "namespace").write_text("lbctl-system\n")
    return account


def test_in_cluster_configuration_when_there_is_no_kubeconfig(
    kube_server: FakeKubeServer, tmp_path: Path, service_account: Path
) -> None:
    env = {
        "KUBECONFIG": str(tmp_path / "nope"),
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(kube_server.port),
    }
    client = kube.connect(environ=env, service_account_dir=str(service_account))
    assert (client.default_namespace, client.server) == (
        "lbctl-system",
        f"https://127.0.0.1:{kube_server.port}",
    )
    # The fake speaks plain HTTP: the in-cluster client's TLS handshake must fail cleanly.
    with pytest.raises(UnreachableError, match="TLS handshake failed") as info:
        client.server_version()
    assert TOKEN not in info.value.message + info.value.hint


@pytest.mark.parametrize(
    ("broken", "error", "message"),
    [
        ("token", PermissionDeniedError, "cannot get credentials"),
        (
            "ca.crt",
            UsageError,
            "invalid Kubernetes configuration in the in-cluster service account",
        ),
    ],
)
def test_a_broken_service_account(
    tmp_path: Path, service_account: Path, broken: str, error: type[LbctlError], message: str
) -> None:
    (service_account / broken).unlink()
    env = {
        "KUBECONFIG": str(tmp_path / "nope"),
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": "1",
    }
    with pytest.raises(error, match=message):
        kube.connect(environ=env, service_account_dir=str(service_account))


# --- the KubeAPI methods -----------------------------------------------------------------------


def test_get_reads_one_object_in_the_default_namespace(
    client: kube.KubeClient, kube_server: FakeKubeServer
) -> None:
    kube_server.put_object(_configmap("state", k="v"))
    got = client.get(CONFIGMAPS, "state")
    assert (got["kind"], got["data"]) == ("ConfigMap", {"k": "v"})
    kube_server.put_object({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
    assert client.get(NODES, "n1", namespace="ignored")["metadata"]["name"] == "n1"


def test_list_pages_through_everything_and_labels_each_item(
    client: kube.KubeClient, kube_server: FakeKubeServer
) -> None:
    for i in range(1201):
        kube_server.put_object(_service(f"s{i:04d}", f"ns{i % 3}", type="LoadBalancer"))
    kube_server.requests.reset()

    items = client.list(SERVICES)

    assert len(items) == 1201
    assert {(i["apiVersion"], i["kind"]) for i in items} == {("v1", "Service")}
    queries = [r.query for r in kube_server.requests]
    assert [q["limit"] for q in queries] == ["500", "500", "500"]
    assert "continue" not in queries[0] and all("continue" in q for q in queries[1:])


def test_list_in_one_namespace_with_a_label_selector(
    client: kube.KubeClient, kube_server: FakeKubeServer
) -> None:
    kube_server.put_object(
        {**_configmap("a"), "metadata": {"name": "a", "namespace": "default", "labels": {"x": "1"}}}
    )
    kube_server.put_object(_configmap("b"))
    kube_server.put_object(
        {
            **_configmap("c", "other"),
            "metadata": {"name": "c", "namespace": "other", "labels": {"x": "1"}},
        }
    )
    assert [
        o["metadata"]["name"] for o in client.list(CONFIGMAPS, "default", label_selector="x=1")
    ] == ["a"]
    assert [o["metadata"]["name"] for o in client.list(CONFIGMAPS, label_selector="x in (1)")] == [
        "a",
        "c",
    ]


def test_create_then_replace_with_the_version_read(client: kube.KubeClient) -> None:
    created = client.create(CONFIGMAPS, _configmap("state", k="1"))
    assert created["metadata"]["namespace"] == "default"
    created["data"] = {"k": "2"}
    replaced = client.replace(CONFIGMAPS, created)
    assert replaced["data"] == {"k": "2"}
    assert int(replaced["metadata"]["resourceVersion"]) > int(
        created["metadata"]["resourceVersion"]
    )


def test_create_in_an_explicit_namespace(client: kube.KubeClient) -> None:
    created = client.create(CONFIGMAPS, {"metadata": {"name": "x"}}, namespace="kube-system")
    assert created["metadata"]["namespace"] == "kube-system"


def test_patch_flavours_and_the_status_subresource(client: kube.KubeClient) -> None:
    client.create(SERVICES, _service("web", type="LoadBalancer"))
    merged = client.patch(SERVICES, "web", {"metadata": {"labels": {"a": "b"}}})
    assert merged["metadata"]["labels"] == {"a": "b"}
    strategic = client.patch(
        SERVICES,
        "web",
        {"spec": {"ports": [{"port": 443}]}},
        patch_type="application/strategic-merge-patch+json",
    )
    assert [p["port"] for p in strategic["spec"]["ports"]] == [80, 443]
    jsonpatched = client.patch(
        SERVICES,
        "web",
        [{"op": "remove", "path": "/metadata/labels/a"}],
        patch_type=kube.JSON_PATCH,
    )
    assert jsonpatched["metadata"]["labels"] == {}
    status = client.patch(
        SERVICES,
        "web",
        {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.5"}]}}},
        subresource="status",
    )
    assert status["status"]["loadBalancer"]["ingress"] == [{"ip": "192.0.2.5"}]


def test_can_i_asks_a_self_subject_access_review(
    client: kube.KubeClient, kube_server: FakeKubeServer
) -> None:
    kube_server.deny("patch", "services/status", namespace="default")
    kube_server.deny("update", "deployments", group="apps")
    assert not client.can_i("patch", "services", namespace="default", subresource="status")
    assert client.can_i("patch", "services", namespace="other", subresource="status")
    assert not client.can_i("update", "deployments", group="apps")
    assert client.can_i("update", "deployments")  # core group: no rule


def test_server_version(client: kube.KubeClient) -> None:
    assert client.server_version() == "v1.30.4"


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get(SERVICES, ""),
        lambda c: c.patch(SERVICES, "web", {"a": 1}, patch_type=kube.JSON_PATCH),
        lambda c: c.patch(SERVICES, "web", [{"op": "remove", "path": "/a"}]),
    ],
)
def test_malformed_calls_are_refused_before_any_request(
    client: kube.KubeClient, kube_server: FakeKubeServer, call: Callable[[kube.KubeClient], Any]
) -> None:
    kube_server.requests.reset()
    with pytest.raises((ValueError, TypeError)):  # a caller's bug, not the user's
        call(client)
    assert len(kube_server.requests) == 0


# --- error translation -------------------------------------------------------------------------


def test_401_names_the_credentials(kube_server: FakeKubeServer, tmp_path: Path) -> None:
    with FakeKubeServer(token=TOKEN) as server:
        client = kube.connect(
            str(server.write_kubeconfig(tmp_path / "kc", token="wrong-token-value"))
        )
        with pytest.raises(PermissionDeniedError) as info:
            client.list(SERVICES)
    assert info.value.message == "the API server rejected the credentials (401 Unauthorized)"
    assert "context fake" in info.value.hint


def test_403_names_verb_resource_and_namespace(
    client: kube.KubeClient, kube_server: FakeKubeServer
) -> None:
    kube_server.put_object(_service("web"))
    kube_server.deny("patch", "services/status")
    with pytest.raises(PermissionDeniedError) as info:
        client.patch(SERVICES, "web", {"status": {}}, subresource="status")
    assert info.value.message == "forbidden: cannot patch services/status in namespace default"
    assert info.value.hint == "kubectl auth can-i patch services --subresource=status -n default"


def test_403_for_a_cluster_scoped_group_resource(
    client: kube.KubeClient, kube_server: FakeKubeServer
) -> None:
    kube_server.deny("list", "deployments", group="apps")
    with pytest.raises(PermissionDeniedError) as info:
        client.list(DEPLOYMENTS)
    assert info.value.message == "forbidden: cannot list deployments.apps at cluster scope"
    assert info.value.hint == "kubectl auth can-i list deployments.apps"


def test_a_403_without_rbac_wording_falls_back_to_the_request(
    client: kube.KubeClient, kube_server: FakeKubeServer
) -> None:
    kube_server.inject(403, path="/version")  # not a resource: the Status has a generic message
    kube_server.inject(403, method="GET", path="/configmaps")
    with pytest.raises(PermissionDeniedError, match="^forbidden: injected fault"):
        client.server_version()
    with pytest.raises(PermissionDeniedError) as info:
        client.list(CONFIGMAPS, "kube-system")
    assert info.value.message == "forbidden: cannot list configmaps in namespace kube-system"


def test_404s(client: kube.KubeClient, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="^service default/web not found$"):
        client.get(SERVICES, "web")
    with pytest.raises(NotFoundError, match="^node n1 not found$"):
        client.get(NODES, "n1")
    widgets = Resource("example.com/v1", "widgets", "Widget")
    with pytest.raises(NotFoundError, match=r"does not serve widgets \(example.com/v1\)"):
        client.list(widgets)
    with FakeKubeServer(require_namespaces=True) as strict:
        strict_client = kube.connect(str(strict.write_kubeconfig(tmp_path / "kc")))
        with pytest.raises(NotFoundError, match="^namespace nowhere not found$"):
            strict_client.create(CONFIGMAPS, _configmap("x", "nowhere"))


def test_409s(client: kube.KubeClient) -> None:
    created = client.create(CONFIGMAPS, _configmap("state"))
    with pytest.raises(ConflictError, match="^configmap default/state already exists$"):
        client.create(CONFIGMAPS, _configmap("state"))
    client.patch(CONFIGMAPS, "state", {"data": {"k": "v"}})
    with pytest.raises(ConflictError, match="^configmap default/state was changed by someone else"):
        client.replace(CONFIGMAPS, created)


def test_422_is_refused_with_the_servers_message(client: kube.KubeClient) -> None:
    client.create(SERVICES, _service("web", type="LoadBalancer"))
    with pytest.raises(RefusedError) as info:
        client.patch(
            SERVICES,
            "web",
            {"status": {"loadBalancer": {"ingress": [{"ip": "nope"}]}}},
            subresource="status",
        )
    assert info.value.message == (
        'the API server refused service default/web: Service "web" is invalid: '
        'status.loadBalancer.ingress[0].ip: Invalid value: "nope": must be a valid IP address'
    )


def test_400_is_a_usage_error(client: kube.KubeClient) -> None:
    with pytest.raises(
        UsageError, match="rejected the request for services in all namespaces: unable to parse"
    ):
        client.list(SERVICES, label_selector="app in (")


def test_other_4xx_are_refused(client: kube.KubeClient, kube_server: FakeKubeServer) -> None:
    kube_server.put_object(_service("web"))
    with pytest.raises(
        RefusedError, match=r"refused to patch service default/web: .* \(HTTP 415\)"
    ):
        client.patch(SERVICES, "web", {}, patch_type="application/apply-patch+yaml")


def test_overload_is_retried_briefly_then_unreachable(
    client: kube.KubeClient, kube_server: FakeKubeServer, sleeps: Sleeps
) -> None:
    kube_server.inject(503, times=2)
    assert client.server_version() == "v1.30.4"
    assert sleeps == [0.2, 0.4]

    sleeps.clear()
    kube_server.inject(429, times=None)  # Retry-After: 1
    with pytest.raises(UnreachableError) as info:
        client.list(SERVICES)
    assert sleeps == [1.0, 1.0]
    assert info.value.message.endswith(
        "is not answering normally: the server has received too many "
        "requests and has asked us to try again later (HTTP 429)"
    )


def test_a_500_on_a_write_is_not_retried(
    client: kube.KubeClient, kube_server: FakeKubeServer, sleeps: Sleeps
) -> None:
    fault = kube_server.inject(500, method="POST", times=None)
    with pytest.raises(
        UnreachableError, match=r"Internal error occurred: injected fault \(HTTP 500\)"
    ):
        client.create(CONFIGMAPS, _configmap("x"))
    assert (fault.hits, sleeps) == (1, [])


def test_connection_refused(tmp_path: Path) -> None:
    with FakeKubeServer() as server:
        path = server.write_kubeconfig(tmp_path / "kc")
        url = server.url
    client = kube.connect(str(path))
    with pytest.raises(UnreachableError) as info:
        client.get(SERVICES, "web")
    assert info.value.message == f"cannot reach the API server at {url}: connection refused"
    assert info.value.hint.startswith("check --context / the server address")


def test_a_dropped_connection(client: kube.KubeClient, kube_server: FakeKubeServer) -> None:
    kube_server.inject("drop", times=None)
    with pytest.raises(
        UnreachableError, match="the connection was closed before an answer arrived"
    ):
        client.get(SERVICES, "web")


def test_a_single_dropped_read_is_retried_by_the_transport(
    client: kube.KubeClient, kube_server: FakeKubeServer
) -> None:
    kube_server.inject("drop", method="GET")
    assert client.server_version() == "v1.30.4"


def test_a_timeout(kubeconfig: Path, kube_server: FakeKubeServer) -> None:
    client = kube.connect(str(kubeconfig), timeout=0.2)
    kube_server.inject(1.0, times=None)
    with pytest.raises(UnreachableError, match="timed out$"):
        client.server_version()


@pytest.fixture
def not_kubernetes(tmp_path: Path) -> Iterator[Path]:
    """A kubeconfig pointing at an HTTP server that answers every request with an HTML page."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>proxy login</html>")

        def log_message(self, *args: Any) -> None:
            """Quiet."""

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    config = {
        "clusters": [
            {"name": "c", "cluster": {"server": f"http://127.0.0.1:{httpd.server_address[1]}"}}
        ],
        "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }
    path = tmp_path / "kc"
    path.write_text(json.dumps(config))
    yield path
    httpd.shutdown()
    httpd.server_close()


def test_an_answer_that_is_not_json(not_kubernetes: Path) -> None:
    with pytest.raises(UnreachableError, match="sent a response that is not a JSON object"):
        kube.connect(str(not_kubernetes)).server_version()


CALLS: dict[str, Callable[[kube.KubeClient], Any]] = {
    "get": lambda c: c.get(SERVICES, "web"),
    "list": lambda c: c.list(SERVICES),
    "create": lambda c: c.create(CONFIGMAPS, _configmap("new")),
    "replace": lambda c: c.replace(CONFIGMAPS, _configmap("state")),
    "patch": lambda c: c.patch(SERVICES, "web", {"status": {}}, subresource="status"),
    "can_i": lambda c: c.can_i("get", "services"),
    "server_version": lambda c: c.server_version(),
}


@pytest.mark.parametrize(
    "fault", [400, 401, 403, 404, 405, 409, 410, 422, 429, 500, 503, 504, "drop", 0.5]
)
@pytest.mark.parametrize("call", sorted(CALLS))
def test_no_library_exception_leaks(
    kube_server: FakeKubeServer, tmp_path: Path, fault: Any, call: str
) -> None:
    kube_server.token = TOKEN
    kube_server.put_object(_service("web"))
    kube_server.put_object(_configmap("state"))
    client = kube.connect(
        str(kube_server.write_kubeconfig(tmp_path / "kc")), timeout=0.2, sleep=lambda _s: None
    )
    kube_server.inject(fault, times=None)

    with pytest.raises(LbctlError) as info:  # anything else fails the test
        CALLS[call](client)

    error = info.value
    assert type(error) in (
        UsageError,
        PermissionDeniedError,
        NotFoundError,
        ConflictError,
        RefusedError,
        UnreachableError,
    )
    assert "\n" not in error.message and "\n" not in error.hint
    assert TOKEN not in error.message + error.hint
    assert error.__cause__ is None or not isinstance(error.__cause__, LbctlError)


def test_watch_resumes_from_the_list_version_and_streams_changes(
    client: kube.KubeClient, kube_server: FakeKubeServer
) -> None:
    kube_server.put_object(_service("before", type="LoadBalancer"))
    listing = client.list_versioned(SERVICES, "default")
    assert [s["metadata"]["name"] for s in listing.items] == ["before"]
    assert listing.resource_version
    kube_server.put_object(_service("after", type="LoadBalancer"))

    events = client.watch(
        SERVICES, namespace="default", resource_version=listing.resource_version,
        timeout_seconds=1,
    )
    seen = [(e.type, e.object["metadata"].get("name"), e.object["kind"]) for e in events]

    # The server ends the watch at its timeout with a bookmark: where to resume from.
    assert seen == [("ADDED", "after", "Service"), ("BOOKMARK", None, "Service")]
    assert kube_server.requests[-1].query["allowWatchBookmarks"] == "true"


def test_a_watch_resumes_from_a_bookmark_and_misses_nothing(tmp_path: Path) -> None:
    with FakeKubeServer(bookmark_interval=0.2) as server:
        client = kube.connect(str(server.write_kubeconfig(tmp_path / "kc")))
        start = client.list_versioned(CONFIGMAPS, "default").resource_version
        server.put_object(_configmap("elsewhere", "other"))  # progress, no event for this watch
        events = client.watch(CONFIGMAPS, namespace="default", resource_version=start,
                              timeout_seconds=5)
        first = next(events)
        events.close()  # releases the connection, without the rest of the stream
        assert first.type == "BOOKMARK"
        for _ in range(3):  # whichever pooled connection they get, requests see their answer
            assert client.server_version() == "v1.30.4"
        resume = first.object["metadata"]["resourceVersion"]
        assert int(resume) > int(start)
        server.put_object(_configmap("new"))
        names = []
        for event in client.watch(CONFIGMAPS, namespace="default", resource_version=resume,
                                  timeout_seconds=1):
            if event.type != "BOOKMARK":
                names.append((event.type, event.object["metadata"]["name"]))
        assert names == [("ADDED", "new")]


def test_a_watch_that_falls_behind_mid_stream_is_expired(tmp_path: Path) -> None:
    from lbctl.errors import ExpiredError

    with FakeKubeServer(watch_history=3) as server:
        client = kube.connect(str(server.write_kubeconfig(tmp_path / "kc")))
        server.put_object(_configmap("a"))
        since = client.list_versioned(CONFIGMAPS).resource_version
        for i in range(6):  # the history forgets ``since`` before the watch starts reading
            server.put_object(_configmap(f"b{i}"))
        events = client.watch(CONFIGMAPS, resource_version=since, timeout_seconds=1)
        with pytest.raises(ExpiredError) as info:
            list(events)
    assert info.value.hint == "list again"


def test_the_fast_path_asks_for_gzip(
    client: kube.KubeClient, kube_server: FakeKubeServer, path: str
) -> None:
    for i in range(600):
        kube_server.put_object(_service(f"s{i:04d}", type="LoadBalancer"))
    kube_server.requests.reset()
    assert len(client.list(SERVICES)) == 600
    encodings = {r.headers.get("accept-encoding") for r in kube_server.requests}
    assert encodings == ({"gzip"} if path == "fast" else {"identity"})


def test_a_watch_from_a_forgotten_version_is_expired(tmp_path: Path) -> None:
    from lbctl.errors import ExpiredError

    with FakeKubeServer(watch_history=2) as server:
        for i in range(4):
            server.put_object(_configmap(f"cm{i}"))
        client = kube.connect(str(server.write_kubeconfig(tmp_path / "kc")))
        with pytest.raises(ExpiredError):
            list(client.watch(CONFIGMAPS, namespace="default", resource_version="1",
                              timeout_seconds=1))


def test_parallel_requests_share_kept_alive_connections(
    client: kube.KubeClient, kube_server: FakeKubeServer
) -> None:
    """Batches patch 16 Services at a time: the pool keeps a connection for each of them."""
    from concurrent.futures import ThreadPoolExecutor

    kube_server.put_object(_configmap("state"))
    before = kube_server.connections
    with ThreadPoolExecutor(max_workers=16) as pool:
        for _ in range(4):
            list(pool.map(lambda _i: client.get(CONFIGMAPS, "state"), range(16)))
    assert len(kube_server.requests) >= 64
    assert kube_server.connections - before <= 16  # 64 requests, at most one connection each


def test_a_kept_alive_connection_the_server_ended_is_not_used_again(
    client: kube.KubeClient, kube_server: FakeKubeServer
) -> None:
    """The server (or a load balancer before it) ends idle connections: the next request, even
    one that is never sent twice (a POST), goes out on a new connection and succeeds once."""
    client.server_version()
    kube_server.end_connections()
    time.sleep(0.05)
    kube_server.requests.reset()
    client.create(CONFIGMAPS, _configmap("made"))
    assert [r.method for r in kube_server.requests] == ["POST"]
    assert client.get(CONFIGMAPS, "made")["metadata"]["name"] == "made"


def test_a_gzipped_answer_is_read_whole(
    client: kube.KubeClient, kube_server: FakeKubeServer, path: str
) -> None:
    """A LIST page above 128 KiB comes gzipped to the fast path (which asks for it)."""
    big = "x" * 300_000
    kube_server.put_object(_configmap("big", blob=big))
    kube_server.requests.reset()
    [found] = [c for c in client.list(CONFIGMAPS, "default") if c["metadata"]["name"] == "big"]
    assert found["data"]["blob"] == big


def test_proxy_url_carries_the_requests(kube_server: FakeKubeServer, tmp_path: Path) -> None:
    """An unresolvable server name behind ``proxy-url``: only the proxy can reach it (the fake
    server answers absolute-URI requests as a forward proxy would pass them on)."""
    config = {
        "clusters": [{"name": "c", "cluster": {"server": "http://kubernetes.invalid:6443",
                                               "proxy-url": kube_server.url}}],
        "users": [{"name": "u", "user": {}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }
    path = tmp_path / "kc"
    path.write_text(json.dumps(config))
    assert kube.connect(str(path)).server_version() == "v1.30.4"


def test_the_proxy_environment_and_no_proxy(
    kube_server: FakeKubeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = kube_server.write_kubeconfig(tmp_path / "kc")
    config = json.loads(path.read_text())
    config["clusters"][0]["cluster"]["server"] = "http://kubernetes.invalid:6443"
    path.write_text(json.dumps(config))
    monkeypatch.setenv("HTTP_PROXY", kube_server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert kube.connect(str(path)).server_version() == "v1.30.4"
    monkeypatch.setenv("NO_PROXY", "kubernetes.invalid")
    with pytest.raises(UnreachableError, match="cannot resolve the host name"):
        kube.connect(str(path), timeout=2.0).server_version()


@pytest.mark.parametrize(("no_proxy", "covered"), [
    ("10.0.0.0/8", True),  # a network in CIDR notation (the official client, kubectl)
    ("10.1.2.3", True),
    ("10.1.2.3/32,example.com", True),
    ("192.168.0.0/16", False),
    ("*", True),
    ("fd00::/8", False),
    ("", False),
])
def test_no_proxy_covers_an_ip_server_by_network(no_proxy: str, covered: bool) -> None:
    from lbctl.kube.transport import environment_proxy

    env = {"HTTPS_PROXY": "http://proxy.invalid:3128", "NO_PROXY": no_proxy}
    expected = None if covered else "http://proxy.invalid:3128"
    assert environment_proxy("https://10.1.2.3:6443", env) == expected


@pytest.mark.parametrize(("no_proxy", "covered"), [
    ("example.com", True), (".example.com", True), ("api.example.com:6443", True),
    ("api.example.com:443", False), ("ample.com", False), ("10.0.0.0/8", False),
])
def test_no_proxy_covers_a_named_server(no_proxy: str, covered: bool) -> None:
    from lbctl.kube.transport import environment_proxy

    env = {"https_proxy": "http://proxy.invalid:3128", "no_proxy": no_proxy}
    expected = None if covered else "http://proxy.invalid:3128"
    assert environment_proxy("https://api.example.com:6443", env) == expected


def test_no_proxy_network_reaches_the_server_directly(
    kube_server: FakeKubeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NO_PROXY=127.0.0.0/8 (a CIDR, as kubectl and the official client read it): the server
    on loopback is spoken to directly, not through the proxy (which does not exist)."""
    path = kube_server.write_kubeconfig(tmp_path / "kc")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.0/8")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    assert kube.connect(str(path), timeout=2.0).server_version() == "v1.30.4"
