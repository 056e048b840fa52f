"""Contract: LIST and WATCH — selectors, pagination, all-namespace lists, watch streams."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.kubefake.selectors import parse_label_selector
from tests.kubefake.server import FakeKubeServer
from tests.kubefake.status import ApiError
from tests.kubefake.support import Raw, configmap, raises_status, service

LABELS: dict[str, dict[str, str]] = {
    "a": {"app": "web", "tier": "front"},
    "b": {"app": "web", "tier": "back"},
    "c": {"app": "db"},
    "d": {},
}


@pytest.mark.parametrize(
    ("selector", "names"),
    [
        ("", "abcd"),
        ("app=web", "ab"),
        ("app==web", "ab"),
        ("app!=web", "cd"),
        ("app in (web, db)", "abc"),
        ("app notin (web)", "cd"),
        ("tier", "ab"),
        ("!tier", "cd"),
        ("app=web,tier=back", "b"),
        ("app=web, !tier", ""),
        ("app in (db),tier notin (x)", "c"),
    ],
)
def test_label_selector_semantics(selector: str, names: str) -> None:
    matches = parse_label_selector(selector)
    assert (
        "".join(n for n, labels in LABELS.items() if matches({"metadata": {"labels": labels}}))
        == names
    )


def test_an_empty_label_value_is_legal_and_matches_only_empty_values() -> None:
    matches = parse_label_selector("app=")
    assert matches({"metadata": {"labels": {"app": ""}}})
    assert not matches({"metadata": {"labels": {"app": "web"}}})


@pytest.mark.parametrize(
    "selector", ["app in ()", "app in (a", "=x", "app=a,", "app x", "a b=c", "a=b=c"]
)
def test_malformed_label_selectors_are_bad_requests(selector: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_label_selector(selector)
    assert info.value.code == 400


def test_label_selectors_through_the_client(core: Any) -> None:
    for name, labels in LABELS.items():
        core.create_namespaced_config_map("default", {"metadata": {"name": name, "labels": labels}})
    listed = core.list_namespaced_config_map("default", label_selector="app in (web),tier!=front")
    assert [c.metadata.name for c in listed.items] == ["b"]


def test_field_selectors_on_name_and_namespace(core: Any) -> None:
    core.create_namespaced_service("default", service("web"))
    core.create_namespaced_service("kube-system", service("web", "kube-system"))
    core.create_namespaced_service("default", service("db"))
    by_name = core.list_service_for_all_namespaces(field_selector="metadata.name=web")
    assert [(s.metadata.namespace, s.metadata.name) for s in by_name.items] == [
        ("default", "web"),
        ("kube-system", "web"),
    ]
    not_default = core.list_service_for_all_namespaces(field_selector="metadata.namespace!=default")
    assert [s.metadata.namespace for s in not_default.items] == ["kube-system"]


def test_other_service_field_selectors_are_refused_like_servers_before_1_31(core: Any) -> None:
    code, status = raises_status(
        lambda: core.list_service_for_all_namespaces(field_selector="spec.type=LoadBalancer")
    )
    assert (code, status["reason"], status["message"]) == (
        400,
        "BadRequest",
        "field label not supported: spec.type",
    )


def test_pods_support_their_extra_field_selectors(core: Any) -> None:
    core.create_namespaced_pod(
        "default", {"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "containers": []}}
    )
    assert [
        p.metadata.name
        for p in core.list_pod_for_all_namespaces(field_selector="spec.nodeName=n1").items
    ] == ["p"]
    assert core.list_pod_for_all_namespaces(field_selector="spec.nodeName=n2").items == []


def test_pagination_with_limit_and_continue(core: Any) -> None:
    for i in range(7):
        core.create_namespaced_config_map("default", configmap(f"cm{i}"))
    names: list[str] = []
    token = None
    pages = 0
    while True:
        page = core.list_namespaced_config_map("default", limit=3, _continue=token)
        pages += 1
        names += [c.metadata.name for c in page.items]
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count == 7 - len(names)
    assert (pages, names) == (3, [f"cm{i}" for i in range(7)])


def test_an_invalid_continue_token_is_a_bad_request(core: Any) -> None:
    code, _ = raises_status(
        lambda: core.list_namespaced_config_map("default", limit=1, _continue="!!")
    )
    assert code == 400


def test_lists_across_namespaces_and_cluster_scoped_lists(core: Any, raw: Raw) -> None:
    core.create_namespaced_config_map("default", configmap("x"))
    core.create_namespaced_config_map("kube-system", configmap("y", "kube-system"))
    core.create_node({"metadata": {"name": "n1"}})
    everywhere = core.list_config_map_for_all_namespaces()
    assert [(c.metadata.namespace, c.metadata.name) for c in everywhere.items] == [
        ("default", "x"),
        ("kube-system", "y"),
    ]
    assert [n.metadata.name for n in core.list_node().items] == ["n1"]

    status, body = raw("GET", "/api/v1/configmaps")
    assert status == 200 and body["kind"] == "ConfigMapList" and body["apiVersion"] == "v1"
    assert body["metadata"]["resourceVersion"].isdigit()
    assert "kind" not in body["items"][0]  # like a real server: list items carry no TypeMeta


def _watch(api: Any, count: int | None = None, **kwargs: Any) -> list[tuple[str, str]]:
    """Watch ConfigMaps in ``default`` until ``count`` events arrived or the server ends it."""
    from kubernetes import client, watch

    watcher = watch.Watch()
    stream = watcher.stream(client.CoreV1Api(api).list_namespaced_config_map, "default", **kwargs)
    events: list[tuple[str, str]] = []
    for event in stream:
        events.append((event["type"], event["object"].metadata.name))
        if len(events) == count:
            watcher.stop()
    return events


def test_watch_without_resource_version_starts_with_the_current_state(api: Any, core: Any) -> None:
    core.create_namespaced_config_map("default", configmap("old"))
    started = time.monotonic()
    assert _watch(api, timeout_seconds=1) == [("ADDED", "old")]
    assert 0.9 <= time.monotonic() - started < 3  # the server ends the watch at timeoutSeconds


def test_watch_from_a_resource_version_streams_later_changes(
    api: Any, core: Any, kube_server: FakeKubeServer
) -> None:
    core.create_namespaced_config_map("default", configmap("old"))
    since = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", configmap("new"))
    core.patch_namespaced_config_map("new", "default", {"data": {"k": "v"}})
    core.create_namespaced_config_map("kube-system", configmap("elsewhere", "kube-system"))
    core.delete_namespaced_config_map("old", "default")

    events = _watch(api, 3, resource_version=since, timeout_seconds=5)

    assert events == [("ADDED", "new"), ("MODIFIED", "new"), ("DELETED", "old")]


def test_watch_sees_changes_made_while_it_waits(api: Any, kube_server: FakeKubeServer) -> None:
    import threading

    since = kube_server.store.resource_version
    writer = threading.Timer(0.2, lambda: kube_server.put_object(configmap("late")))
    writer.start()
    try:
        assert _watch(api, 1, resource_version=str(since), timeout_seconds=5) == [("ADDED", "late")]
    finally:
        writer.join()


def test_watch_ends_at_timeout_seconds_while_events_flow(
        kube_server: FakeKubeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real API server ends a watch at timeoutSeconds whatever flows on it (a client resumes
    from the last resourceVersion it saw).  Here a new event waits each time the watch asks,
    for 4 s: the watch must still end after 1 s."""
    store = kube_server.store
    since = store.resource_version
    asked = store.events_after
    flowing_until = time.monotonic() + 4
    written = iter(range(1, 10_000))

    def busy(cursor: int, deadline: float) -> list[Any]:
        if time.monotonic() < flowing_until:
            kube_server.put_object(configmap(f"busy-{next(written)}"))
            time.sleep(0.005)
        return asked(cursor, deadline)

    monkeypatch.setattr(store, "events_after", busy)
    started = time.monotonic()
    events = _raw_watch(kube_server, f"resourceVersion={since}&timeoutSeconds=1")
    assert len(events) > 10 and 0.9 <= time.monotonic() - started < 3


def test_watch_filters_by_label_selector(api: Any, core: Any) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "a"}})
    core.create_namespaced_config_map("default", {"metadata": {"name": "b", "labels": {"x": "1"}}})
    assert _watch(api, 1, label_selector="x=1", timeout_seconds=5) == [("ADDED", "b")]


def test_watch_from_a_forgotten_resource_version_is_expired() -> None:
    import http.client
    import json

    with FakeKubeServer(watch_history=2) as server:
        for i in range(4):
            server.put_object(configmap(f"cm{i}"))
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        connection.request(
            "GET",
            "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=1&timeoutSeconds=1",
        )
        lines = connection.getresponse().read().splitlines()
        connection.close()
    event = json.loads(lines[0])
    assert event["type"] == "ERROR"
    assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")


def _raw_watch(server: FakeKubeServer, query: str) -> list[dict[str, Any]]:
    import http.client
    import json

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", f"/api/v1/namespaces/default/configmaps?watch=true&{query}")
    lines = connection.getresponse().read().splitlines()
    connection.close()
    return [json.loads(line) for line in lines]


def test_watch_bookmarks_only_when_asked_carry_the_progress_and_nothing_else() -> None:
    with FakeKubeServer(bookmark_interval=0.3) as server:
        server.put_object(configmap("a"))
        since = server.get_object("configmaps", "a")["metadata"]["resourceVersion"]  # type: ignore[index]
        server.put_object(configmap("other", "elsewhere"))  # moves the version, not this watch
        plain = _raw_watch(server, f"resourceVersion={since}&timeoutSeconds=1")
        marked = _raw_watch(
            server, f"resourceVersion={since}&timeoutSeconds=1&allowWatchBookmarks=true"
        )
    assert plain == []
    assert 2 <= len(marked) <= 5  # about every 0.3 s, and one as the watch ends
    assert {e["type"] for e in marked} == {"BOOKMARK"}
    assert marked[-1]["object"] == {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": str(int(since) + 1)},
    }


def test_large_responses_are_gzipped_when_the_client_accepts_gzip() -> None:
    import gzip
    import http.client
    import json

    with FakeKubeServer() as server:
        for i in range(300):
            server.put_object(configmap(f"cm{i:03d}", k="v" * 500))
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        answers = {}
        for accept in ("gzip", "identity"):
            connection.request("GET", "/api/v1/namespaces/default/configmaps",
                               headers={"Accept-Encoding": accept})
            response = connection.getresponse()
            answers[accept] = (response.getheader("Content-Encoding"), response.read())
        connection.request("GET", "/api/v1/namespaces/default/configmaps/cm000",
                           headers={"Accept-Encoding": "gzip"})
        small = connection.getresponse()
        small_encoding = small.getheader("Content-Encoding")
        small.read()
        connection.close()
    encoding, body = answers["gzip"]
    assert encoding == "gzip"
    assert json.loads(gzip.decompress(body)) == json.loads(answers["identity"][1])
    assert answers["identity"][0] is None
    assert small_encoding is None  # below 128 KiB: sent as it is
