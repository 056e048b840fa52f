"""Service use cases against the fake kube-apiserver, through the real adapter and the
ConfigMap state store.

What users rely on: an address is recorded before it is published and withdrawn before it is
forgotten, so that after a failure at any point no address is published for two Services and
``reconcile`` repairs the rest; a batch reports every Service and stops at none; Event failures
never fail an assignment; ``svc show`` gives the allocator's own reason.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from lbctl import kube as adapter
from lbctl.actions import services as actions
from lbctl.actions.listing import list_services
from lbctl.core.pools import add_pool, make_pool
from lbctl.errors import (
    NotFoundError,
    PermissionDeniedError,
    RefusedError,
    UnreachableError,
)
from lbctl.ports import KubeAPI, Source
from lbctl.state.configmap import ConfigMapBackend
from lbctl.state.file import FileBackend
from lbctl.state.store import StateStore
from tests.kubefake import resources
from tests.kubefake.server import FakeKubeServer

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
STATUS = r"/services/[^/]+/status$"


@pytest.fixture
def kube(kubeconfig: Path) -> KubeAPI:
    return adapter.connect(str(kubeconfig), None)


@pytest.fixture
def store(kube: KubeAPI) -> StateStore:
    return StateStore(ConfigMapBackend(kube))


def add(store: StateStore, name: str, *addresses: str, **options: Any) -> None:
    store.update(lambda state: (add_pool(state, make_pool(name, addresses, **options)), None))


def put(server: FakeKubeServer, name: str, namespace: str = "shop", *,
        status: tuple[str, ...] = (), annotations: dict[str, str] | None = None,
        labels: dict[str, str] | None = None, **spec: Any) -> None:
    body: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {},
                     "labels": labels or {}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], **spec},
    }
    if status:
        body["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in status]}}
    server.put_object(body)


def delete(server: FakeKubeServer, name: str, namespace: str = "shop") -> None:
    server.store.delete(resources.lookup("services"), namespace, name, {})


def shown(server: FakeKubeServer, name: str, namespace: str = "shop") -> list[str]:
    obj = server.get_object("services", name, namespace)
    assert obj is not None
    return [i["ip"] for i in obj.get("status", {}).get("loadBalancer", {}).get("ingress", [])]


def recorded(store: StateStore) -> dict[tuple[str, str], tuple[str, ...]]:
    return {key: a.ips for key, a in store.load().allocations.items()}


def writes(server: FakeKubeServer) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in server.requests if r.method != "GET"]


def assert_consistent(server: FakeKubeServer, store: StateStore) -> None:
    """The crash rule: no address published for two Services, every published address recorded
    for its Service, every allocation's Service present."""
    published = {(s["metadata"]["namespace"], s["metadata"]["name"]): tuple(
        i["ip"] for i in s.get("status", {}).get("loadBalancer", {}).get("ingress", []))
        for s in server.objects_of("services")}
    ips = [ip for values in published.values() for ip in values]
    assert len(ips) == len(set(ips)), "an address is published for two Services"
    state = recorded(store)
    for key, values in published.items():
        if values:
            assert state.get(key) == values
    assert set(state) <= set(published), "an allocation outlived its Service"


# --------------------------------------------------------------------------- assign


def test_assign_records_then_publishes_then_records_an_event(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    add(store, "default", "192.0.2.10-192.0.2.19")
    put(kube_server, "web")
    kube_server.requests.reset()
    result = actions.assign(kube, store, "shop", "web", now=NOW)
    assert (result.allocation.ips, result.allocation.pool, result.result) == (
        ("192.0.2.10",), "default", actions.ASSIGNED)
    assert writes(kube_server) == [
        ("PUT", "/api/v1/namespaces/kube-system/configmaps/lbctl-state"),
        ("PATCH", "/api/v1/namespaces/shop/services/web/status"),
        ("POST", "/api/v1/namespaces/shop/events"),
    ]
    assert shown(kube_server, "web") == ["192.0.2.10"]
    assert recorded(store) == {("shop", "web"): ("192.0.2.10",)}
    [event] = kube_server.objects_of("events")
    assert (event["reason"], event["type"], event["message"], event["source"]) == (
        "IPAllocated", "Normal", "Assigned IP 192.0.2.10 from pool default",
        {"component": "lbctl"})
    assert event["involvedObject"]["kind"] == "Service"
    assert event["involvedObject"]["name"] == "web"
    assert event["lastTimestamp"] == "2024-05-01T12:00:00Z"


def test_assign_again_changes_nothing(kube_server: FakeKubeServer, kube: KubeAPI,
                                      store: StateStore) -> None:
    add(store, "default", "192.0.2.10-192.0.2.19")
    put(kube_server, "web")
    actions.assign(kube, store, "shop", "web", now=NOW)
    kube_server.requests.reset()
    again = actions.assign(kube, store, "shop", "web", now=NOW)
    assert again.result == actions.UNCHANGED
    assert writes(kube_server) == []


def test_explicit_request_that_differs_from_the_allocation_is_refused(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    add(store, "default", "192.0.2.10-192.0.2.19")
    put(kube_server, "web")
    actions.assign(kube, store, "shop", "web", now=NOW)
    with pytest.raises(RefusedError, match="already has 192.0.2.10 from pool default, not "
                                           "192.0.2.12"):
        actions.assign(kube, store, "shop", "web", ips=["192.0.2.12"], now=NOW)


def test_assign_never_overwrites_an_address_it_did_not_publish(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    add(store, "default", "192.0.2.10-192.0.2.19")
    put(kube_server, "web", status=("198.51.100.7",))
    with pytest.raises(RefusedError, match="status shows 198.51.100.7, which the state does "
                                           "not record"):
        actions.assign(kube, store, "shop", "web", now=NOW)
    assert shown(kube_server, "web") == ["198.51.100.7"]
    assert recorded(store) == {}


def test_allocation_failure_is_an_event_too(kube_server: FakeKubeServer, kube: KubeAPI,
                                            store: StateStore) -> None:
    add(store, "default", "192.0.2.10")
    put(kube_server, "a")
    put(kube_server, "b")
    actions.assign(kube, store, "shop", "a", now=NOW)
    with pytest.raises(RefusedError, match="pool default is exhausted"):
        actions.assign(kube, store, "shop", "b", now=NOW)
    failed = [e for e in kube_server.objects_of("events") if e["reason"] == "AllocationFailed"]
    assert [(e["type"], e["involvedObject"]["name"]) for e in failed] == [("Warning", "b")]
    assert failed[0]["message"].startswith("PoolExhausted: no address for shop/b")


def test_a_repeated_failure_is_one_event_counted_again(kube_server: FakeKubeServer,
                                                      kube: KubeAPI, store: StateStore) -> None:
    """As client-go's recorder: the same reason and message on the same Service is one Event
    with a count and the last time, not one new Event per run."""
    add(store, "default", "192.0.2.10")
    put(kube_server, "a")
    put(kube_server, "b")
    actions.assign(kube, store, "shop", "a", now=NOW)
    for minutes in range(3):
        with pytest.raises(RefusedError):
            actions.assign(kube, store, "shop", "b", now=NOW + timedelta(minutes=minutes))
    failed = [e for e in kube_server.objects_of("events") if e["reason"] == "AllocationFailed"]
    assert len(failed) == 1
    assert (failed[0]["count"], failed[0]["firstTimestamp"], failed[0]["lastTimestamp"]) == (
        3, NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
        (NOW + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    add(store, "more", "192.0.2.11")  # another failure (not this one) is another Event
    put(kube_server, "c")
    with pytest.raises(RefusedError):
        actions.assign(kube, store, "shop", "c", ips=["192.0.2.10"], now=NOW)
    assert len([e for e in kube_server.objects_of("events")
                if e["reason"] == "AllocationFailed"]) == 2


def test_similar_failures_are_events_of_their_own_each_counted(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    """Same Service and reason, another message ("similar" in client-go's words): another
    Event, each counted on its own, as client-go's recorder does below its aggregation
    threshold (10 distinct messages in 10 minutes from one process); lbctl does not combine
    them (README, "LoadBalancer Services")."""
    add(store, "default", "192.0.2.10")
    put(kube_server, "a")
    put(kube_server, "b")
    actions.assign(kube, store, "shop", "a", now=NOW)
    for ips in ([], ["192.0.2.10"], []):
        with pytest.raises(RefusedError):
            actions.assign(kube, store, "shop", "b", ips=ips, now=NOW)
    failed = sorted((e["count"], e["message"].split(":")[0]) for e in
                    kube_server.objects_of("events") if e["reason"] == "AllocationFailed")
    assert failed == [(1, "SharingConflict"), (2, "PoolExhausted")]


def test_an_event_that_cannot_be_recorded_only_warns(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    add(store, "default", "192.0.2.10-192.0.2.19")
    put(kube_server, "web")
    kube_server.deny("create", "events")
    warnings: list[str] = []
    result = actions.assign(kube, store, "shop", "web", now=NOW, warn=warnings.append)
    assert result.result == actions.ASSIGNED
    assert shown(kube_server, "web") == ["192.0.2.10"]
    assert warnings == ["could not record an Event on service shop/web: forbidden: cannot "
                        "create events in namespace shop"]


def test_forbidden_status_patch_names_the_permission_and_takes_the_allocation_back(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    add(store, "default", "192.0.2.10-192.0.2.19")
    put(kube_server, "web")
    kube_server.deny("patch", "services/status")
    with pytest.raises(PermissionDeniedError) as caught:
        actions.assign(kube, store, "shop", "web", now=NOW)
    assert caught.value.message == "forbidden: cannot patch services/status in namespace shop"
    assert caught.value.hint == ("kubectl auth can-i patch services --subresource=status -n shop;"
                                 " the state no longer holds an address for it")
    assert recorded(store) == {}


def test_a_lost_connection_keeps_the_allocation_for_reconcile(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    add(store, "default", "192.0.2.10-192.0.2.19")
    put(kube_server, "web")
    kube_server.inject("drop", method="PATCH", path=STATUS)
    with pytest.raises(UnreachableError) as caught:
        actions.assign(kube, store, "shop", "web", now=NOW)
    assert caught.value.hint.endswith("the address stays recorded in the state; lbctl reconcile "
                                      "publishes it")
    assert recorded(store) == {("shop", "web"): ("192.0.2.10",)}
    assert shown(kube_server, "web") == []
    batch = actions.reconcile(kube, store, None, now=NOW)
    assert [(o.name, o.result, o.ips) for o in batch.outcomes] == [
        ("web", actions.PUBLISHED, ("192.0.2.10",))]
    assert shown(kube_server, "web") == ["192.0.2.10"]


def test_missing_service_and_foreign_class(kube_server: FakeKubeServer, kube: KubeAPI,
                                           store: StateStore) -> None:
    add(store, "default", "192.0.2.10-192.0.2.19")
    with pytest.raises(NotFoundError, match="^service shop/web not found$"):
        actions.assign(kube, store, "shop", "web", now=NOW)
    put(kube_server, "cloud", loadBalancerClass="example.com/cloud")
    with pytest.raises(RefusedError, match="another controller owns it"):
        actions.assign(kube, store, "shop", "cloud", now=NOW)
    assert writes(kube_server) == [("POST", "/api/v1/namespaces/kube-system/configmaps")]


# --------------------------------------------------------------------------- batches


def test_assign_all_is_one_transaction_and_one_patch_per_service(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    add(store, "default", "192.0.2.10-192.0.2.19")
    for name in ("a", "b", "c"):
        put(kube_server, name)
    put(kube_server, "other", namespace="dev")
    put(kube_server, "cloud", loadBalancerClass="example.com/cloud")
    put(kube_server, "plain", type="ClusterIP")
    kube_server.requests.reset()
    progress: list[tuple[int, int]] = []
    batch = actions.assign_all(kube, store, "shop", now=NOW, progress=lambda d, t:
                               progress.append((d, t)))
    assert [(o.name, o.result, o.ips) for o in batch.outcomes] == [
        ("a", "assigned", ("192.0.2.10",)), ("b", "assigned", ("192.0.2.11",)),
        ("c", "assigned", ("192.0.2.12",))]
    methods = sorted(r.method for r in kube_server.requests)
    # N + 3: a LIST, the state read and write, one status PATCH each (no Event on success)
    assert methods == ["GET", "GET", "PATCH", "PATCH", "PATCH", "PUT"]
    assert progress[0] == (0, 3) and progress[-1] == (3, 3)
    assert shown(kube_server, "other", "dev") == []


def test_one_failure_does_not_stop_the_batch(kube_server: FakeKubeServer, kube: KubeAPI,
                                             store: StateStore) -> None:
    add(store, "default", "192.0.2.10-192.0.2.11")
    for name in ("a", "b", "c"):
        put(kube_server, name)
    put(kube_server, "d", annotations={"metallb.io/loadBalancerIPs": "not-an-ip"})
    batch = actions.assign_all(kube, store, None, now=NOW)
    assert [(o.name, o.result, o.reason) for o in batch.outcomes] == [
        ("a", "assigned", ""), ("b", "assigned", ""), ("c", "failed", "PoolExhausted"),
        ("d", "failed", "InvalidRequest")]
    assert [o.name for o in batch.failed] == ["c", "d"]
    # where an allocation failed, the Service says why
    assert sorted((e["reason"], e["involvedObject"]["name"], e["message"].split(":")[0])
                  for e in kube_server.objects_of("events")) == [
        ("AllocationFailed", "c", "PoolExhausted"), ("AllocationFailed", "d", "InvalidRequest")]


def test_crash_after_k_of_n_patches_then_reconcile(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    add(store, "default", "192.0.2.0/24")
    names = [f"svc-{i:02}" for i in range(12)]
    for name in names:
        put(kube_server, name)
    kube_server.inject("drop", method="PATCH", path=STATUS, after=5, times=7)
    batch = actions.assign_all(kube, store, "shop", now=NOW, workers=4)
    results = sorted(o.result for o in batch.outcomes)
    assert results == ["assigned"] * 5 + ["failed"] * 7
    assert {o.reason for o in batch.failed} == {"Unreachable"}
    assert len(recorded(store)) == 12  # the state is consistent: all recorded
    assert_consistent(kube_server, store)
    repaired = actions.reconcile(kube, store, None, now=NOW)
    assert sorted(o.result for o in repaired.outcomes) == ["published"] * 7
    assert_consistent(kube_server, store)
    assert all(shown(kube_server, name) for name in names)


def test_reconcile_releases_what_no_service_uses_and_reports_drift(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    add(store, "default", "192.0.2.10-192.0.2.19")
    for name in ("gone", "retyped", "reclassed", "kept"):
        put(kube_server, name)
    actions.assign_all(kube, store, "shop", now=NOW)
    ips = recorded(store)
    assert ips[("shop", "gone")] == ("192.0.2.10",)
    delete(kube_server, "gone")
    put(kube_server, "retyped", type="ClusterIP", status=ips[("shop", "retyped")])
    put(kube_server, "reclassed", loadBalancerClass="example.com/cloud",
        status=ips[("shop", "reclassed")])
    put(kube_server, "stranger", status=("198.51.100.1",))
    put(kube_server, "new")
    put(kube_server, "newer")
    before = len(writes(kube_server))
    dry = actions.reconcile(kube, store, None, dry_run=True, now=NOW)
    assert dry.dry_run and len(writes(kube_server)) == before
    batch = actions.reconcile(kube, store, None, now=NOW)
    assert [(o.name, o.result, o.reason) for o in batch.outcomes] == [
        ("gone", "released", ""),
        ("new", "assigned", ""),
        ("newer", "assigned", ""),
        ("reclassed", "released", ""),
        ("retyped", "released", ""),
        ("stranger", "drift", "unrecorded"),
    ]
    assert [(o.result, o.ips) for o in dry.outcomes] == [
        (o.result, o.ips) for o in batch.outcomes]
    assert shown(kube_server, "retyped") == []  # withdrawn before forgotten
    assert shown(kube_server, "stranger") == ["198.51.100.1"]  # not lbctl's: untouched
    # another class's Service: its status is not lbctl's to clear; the state forgets the
    # allocation, and the address stays in use while that Service shows it
    assert shown(kube_server, "reclassed") == list(ips[("shop", "reclassed")]) == ["192.0.2.12"]
    assert ("shop", "reclassed") not in recorded(store)
    assert shown(kube_server, "new") == ["192.0.2.10"]  # the address "gone" had
    assert shown(kube_server, "newer") == ["192.0.2.13"]  # "retyped"'s, not "reclassed"'s
    assert [o.name for o in batch.failed] == ["stranger"]


@pytest.mark.slow
def test_concurrent_assign_all_processes_publish_no_address_twice(
        kube_server: FakeKubeServer, kubeconfig: Path, store: StateStore) -> None:
    add(store, "default", "192.0.2.0/24")
    for i in range(40):
        put(kube_server, f"svc-{i:02}")
    script = textwrap.dedent(f"""
        from datetime import datetime, timezone
        from lbctl import kube
        from lbctl.actions import services
        from lbctl.state.configmap import ConfigMapBackend
        from lbctl.state.store import StateStore
        api = kube.connect({str(kubeconfig)!r}, None)
        batch = services.assign_all(api, StateStore(ConfigMapBackend(api), attempts=50), None,
                                    now=datetime.now(timezone.utc))
        print(len(batch.failed))
    """)
    processes = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                  text=True, cwd=Path(__file__).parents[2]) for _ in range(2)]
    assert [p.communicate(timeout=120)[0].strip() for p in processes] == ["0", "0"]
    assert_consistent(kube_server, store)
    assert len(recorded(store)) == 40


# --------------------------------------------------------------------------- release


def test_release_withdraws_before_it_forgets(kube_server: FakeKubeServer, kube: KubeAPI,
                                             store: StateStore) -> None:
    add(store, "default", "192.0.2.10-192.0.2.19")
    put(kube_server, "web")
    actions.assign(kube, store, "shop", "web", now=NOW)
    kube_server.inject("drop", method="PATCH", path=STATUS)
    with pytest.raises(UnreachableError):
        actions.release(kube, store, "shop", "web")
    assert recorded(store) == {("shop", "web"): ("192.0.2.10",)}  # still published: kept
    result = actions.release(kube, store, "shop", "web")
    assert (result.withdrawn, result.held, result.orphan) == (True, False, False)
    assert shown(kube_server, "web") == []
    assert recorded(store) == {}


def test_release_hold_survives_delete_and_recreate(kube_server: FakeKubeServer, kube: KubeAPI,
                                                   store: StateStore) -> None:
    add(store, "default", "192.0.2.10-192.0.2.19")
    put(kube_server, "web")
    put(kube_server, "api")
    actions.assign(kube, store, "shop", "web", now=NOW)
    delete(kube_server, "web")
    result = actions.release(kube, store, "shop", "web", hold=True)
    assert (result.orphan, result.withdrawn, result.record.ips) == (True, False, ("192.0.2.10",))
    assert actions.release(kube, store, "shop", "web", hold=True).unchanged
    assert actions.assign(kube, store, "shop", "api", now=NOW).allocation.ips == ("192.0.2.11",)
    put(kube_server, "web")
    assert actions.assign(kube, store, "shop", "web", now=NOW).allocation.ips == ("192.0.2.10",)
    assert store.load().holds == {}


def test_release_leaves_a_status_lbctl_did_not_write(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    add(store, "default", "192.0.2.10-192.0.2.19")
    put(kube_server, "web")
    actions.assign(kube, store, "shop", "web", now=NOW)
    put(kube_server, "web", status=("198.51.100.1",))
    result = actions.release(kube, store, "shop", "web")
    assert (result.withdrawn, result.left) == (False, ("198.51.100.1",))
    assert shown(kube_server, "web") == ["198.51.100.1"]
    with pytest.raises(NotFoundError, match="service shop/web has no address in ConfigMap "
                                            "kube-system/lbctl-state"):
        actions.release(kube, store, "shop", "web")


# --------------------------------------------------------------------------- reading


def test_list_is_one_list_one_state_read_and_one_endpointslice_list(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    add(store, "default", "192.0.2.10-192.0.2.19")
    put(kube_server, "web", externalTrafficPolicy="Local", selector={"app": "web"})
    put(kube_server, "plain", type="ClusterIP")
    kube_server.put_object({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-abc", "namespace": "shop",
                     "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"], "nodeName": "node-b"},
                      {"addresses": ["10.0.0.2"], "nodeName": "node-a",
                       "conditions": {"ready": True}},
                      {"addresses": ["10.0.0.3"], "nodeName": "node-c",
                       "conditions": {"ready": False}}],
    })
    kube_server.requests.reset()
    [view] = list_services(kube, store, "shop", with_nodes=True)
    assert (view.key, view.condition.state, view.nodes) == (("shop", "web"), "pending",
                                                            ("node-a", "node-b"))
    assert len(kube_server.requests) == 3


@pytest.mark.parametrize(("pools", "service", "reason", "message"), [
    ([("gold", ["192.0.2.0/30"], {"namespaces": ["prod"]})], {}, "NoPoolAdmits",
     "no pool with autoAssign serves shop/web (gold: namespaces prod)"),
    ([("default", ["192.0.2.0/30"], {})], {"loadBalancerIP": "198.51.100.1"}, "OutsidePools",
     "198.51.100.1 is outside every pool"),
    ([("default", ["192.0.2.0/32"], {})], {}, "PoolExhausted",
     "no address for shop/web: pool default is exhausted (1 of 1 IPv4 addresses used)"),
    ([("default", ["192.0.2.0/30"], {})], {"loadBalancerIP": "192.0.2.0"}, "SharingConflict",
     "192.0.2.0 is used by shop/first, which may not share it: shop/web has no sharing key"),
    ([("v6", ["2001:db8::/64"], {})], {}, "WrongIPFamily",
     "no address for shop/web: pool v6 has no IPv4 addresses"),
])
def test_show_says_why_a_service_is_pending(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore,
        pools: list[tuple[str, list[str], dict[str, Any]]], service: dict[str, Any],
        reason: str, message: str) -> None:
    for name, addresses, options in pools:
        add(store, name, *addresses, **options)
    if reason in ("PoolExhausted", "SharingConflict"):  # another Service got 192.0.2.0
        put(kube_server, "first")
        actions.assign(kube, store, "shop", "first", now=NOW)
    put(kube_server, "web", **service)
    kube_server.requests.reset()
    detail = actions.show_service(kube, store, "shop", "web", now=NOW)
    assert detail.problem is not None and detail.would_get is None
    assert (actions.reason_of(detail.problem), detail.problem.message) == (reason, message)
    assert writes(kube_server) == []  # explaining changes nothing


def test_show_says_what_a_pending_service_would_get(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    add(store, "default", "192.0.2.10-192.0.2.19")
    put(kube_server, "web", annotations={"metallb.universe.tf/loadBalancerIPs": "192.0.2.15"})
    detail = actions.show_service(kube, store, "shop", "web", now=NOW)
    assert detail.problem is None and detail.would_get is not None
    assert detail.would_get.ips == ("192.0.2.15",)
    assert detail.asked is not None
    assert detail.asked.source == "metallb.universe.tf/loadBalancerIPs"
    assert recorded(store) == {}


# --------------------------------------------------------------------------- manifests


def test_manifests_are_pinned_from_the_same_state(tmp_path: Path) -> None:
    store = StateStore(FileBackend(str(tmp_path / "lb.yaml")))
    add(store, "default", "192.0.2.10-192.0.2.29")
    fixtures = Path(__file__).parents[1] / "fixtures" / "manifests"
    sources = [Source(name, (fixtures / name).read_text())
               for name in ("app.yaml", "folded.yaml", "pinned.yaml")]
    rewritten, batch = actions.assign_manifests(store, sources, namespace="default", now=NOW)
    assert rewritten[0].text == (fixtures / "app.yaml.expected").read_text()
    assert [r.changed for r in rewritten] == [True, False, False]
    assert [(o.name, o.result, o.ips, o.reason) for o in batch.outcomes] == [
        ("dns", "pinned", ("192.0.2.11",), ""),
        ("elsewhere", "skipped", (), ""),
        ("folded", "failed", (), "Refused"),
        ("legacy", "unchanged", ("192.0.2.20",), ""),
        ("older", "unchanged", ("192.0.2.21",), ""),
        ("web", "pinned", ("192.0.2.10",), ""),
    ]
    assert ("shop", "folded") not in recorded(store)  # refused before the state changed
    again_sources = [Source(r.source.name, r.text) for r in rewritten]
    again, batch = actions.assign_manifests(store, again_sources, namespace="default", now=NOW)
    assert [r.changed for r in again] == [False, False, False]
    assert {o.result for o in batch.outcomes} == {"failed", "skipped", "unchanged"}


def test_manifests_dry_run_pins_but_records_nothing(tmp_path: Path) -> None:
    store = StateStore(FileBackend(str(tmp_path / "lb.yaml")))
    add(store, "default", "192.0.2.10-192.0.2.19")
    before = store.load()
    text = (Path(__file__).parents[1] / "fixtures" / "manifests" / "nested" / "more.yml")
    rewritten, batch = actions.assign_manifests(
        store, [Source("more.yml", text.read_text())], namespace="dev", now=NOW, dry_run=True)
    assert batch.dry_run and rewritten[0].changed
    assert [(o.namespace, o.name, o.ips) for o in batch.outcomes] == [
        ("dev", "more", ("192.0.2.10",))]
    assert store.load() == before

