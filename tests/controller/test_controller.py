"""``lbctl controller`` in-process against the fake kube-apiserver: Services get their address
the moment they appear, lose it when they go, wait for a pool and get one when it is added, and
the state equals the statuses whatever the API server does in between."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from lbctl import kube as adapter
from lbctl.actions.leases import utc_now
from lbctl.controller import reconciler as reconciler_module
from lbctl.controller.metrics import Metrics
from lbctl.controller.queue import WorkQueue
from lbctl.controller.reconciler import PATCHED_TTL, Reconciler
from lbctl.controller.run import Controller, Settings
from lbctl.core import lost
from lbctl.core.allocator import Allocator
from lbctl.core.service import ingress_patch
from lbctl.core.state import Allocation, State
from lbctl.ports import CONFIGMAPS, NODES, SERVICES, KubeAPI, WatchEvent
from lbctl.state.configmap import ConfigMapBackend
from lbctl.state.store import StateStore
from tests.actions.test_services import add, delete, put, recorded
from tests.cli.test_rbac import call_of, grants
from tests.conftest import Cli
from tests.controller.support import converged, eventually, running, statuses
from tests.kubefake import resources
from tests.kubefake.server import FakeKubeServer


@pytest.fixture
def kube(kubeconfig: Path) -> KubeAPI:
    return adapter.connect(str(kubeconfig), None)


@pytest.fixture
def store(kube: KubeAPI) -> StateStore:
    return StateStore(ConfigMapBackend(kube))


def create(kube: KubeAPI, name: str, namespace: str = "shop", **spec: Any) -> None:
    kube.create(SERVICES, {"apiVersion": "v1", "kind": "Service",
                           "metadata": {"name": name, "namespace": namespace},
                           "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], **spec}},
                namespace)


def test_new_services_are_assigned_and_deleted_ones_released(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    add(store, "default", "192.0.2.10-192.0.2.19")
    put(kube_server, "old")  # there before the controller started
    with running(kube, store) as controller:
        eventually(lambda: statuses(kube_server) == {("shop", "old"): ("192.0.2.10",)})
        create(kube, "web")
        create(kube, "db", type="ClusterIP")
        create(kube, "other", loadBalancerClass="example.com/other")
        eventually(lambda: ("shop", "web") in statuses(kube_server))
        assert statuses(kube_server) == {("shop", "old"): ("192.0.2.10",),
                                         ("shop", "web"): ("192.0.2.11",)}
        assert controller.leading
        delete(kube_server, "old")
        eventually(lambda: ("shop", "old") not in recorded(store), what="release")
        create(kube, "new")  # the freed address is the lowest again
        eventually(lambda: statuses(kube_server).get(("shop", "new")) == ("192.0.2.10",))
        assert converged(kube_server, store)
        # The pools' use, counted when a scrape reads it, from the latest state.
        eventually(lambda: controller.metrics.snapshot().usage == {("default", "IPv4"): (2, 10)})


def test_a_pool_added_with_the_cli_unblocks_pending_services(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore, cli: Cli,
        kubeconfig: Path) -> None:
    add(store, "small", "192.0.2.10")
    with running(kube, store):
        create(kube, "a")
        create(kube, "b")
        eventually(lambda: len(statuses(kube_server)) == 1)
        eventually(lambda: any(e["reason"] == "AllocationFailed"
                               for e in kube_server.objects_of("events")))
        added = cli("--kubeconfig", str(kubeconfig), "pool", "add", "more",
                    "198.51.100.1-198.51.100.5")
        assert added.code == 0, added.err
        eventually(lambda: len(statuses(kube_server)) == 2, what="the pending Service")
        assert converged(kube_server, store)


def test_pinned_addresses_are_published_and_drift_repaired(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    add(store, "default", "192.0.2.10-192.0.2.19")
    with running(kube, store):
        kube.create(SERVICES, {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "pinned", "namespace": "shop",
                         "annotations": {"metallb.io/loadBalancerIPs": "192.0.2.15"}},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}, "shop")
        eventually(lambda: statuses(kube_server).get(("shop", "pinned")) == ("192.0.2.15",))
        # Someone edits the status by hand: the state's record is published again.
        kube.patch(SERVICES, "pinned", {"status": {"loadBalancer": {"ingress": [
            {"ip": "192.0.2.18"}]}}}, "shop", subresource="status")
        eventually(lambda: statuses(kube_server).get(("shop", "pinned")) == ("192.0.2.15",),
                   what="re-publication")
        assert recorded(store) == {("shop", "pinned"): ("192.0.2.15",)}


def test_a_service_no_longer_a_load_balancer_is_withdrawn_then_released(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    add(store, "default", "192.0.2.10-192.0.2.19")
    with running(kube, store):
        create(kube, "web")
        eventually(lambda: ("shop", "web") in statuses(kube_server))
        svc = kube.get(SERVICES, "web", "shop")
        svc["spec"]["type"] = "ClusterIP"
        kube.replace(SERVICES, svc)
        eventually(lambda: recorded(store) == {}, what="release")
        assert statuses(kube_server) == {}


def test_holds_survive_the_deletion_of_their_service(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    add(store, "default", "192.0.2.10-192.0.2.19")
    with running(kube, store):
        create(kube, "web")
        eventually(lambda: ("shop", "web") in statuses(kube_server))

        def hold(state: State) -> tuple[State, None]:  # what `release --hold` records
            allocator = Allocator(state)
            allocator.release("shop", "web", hold=True)
            return allocator.state(), None

        store.update(hold)
        delete(kube_server, "web")
        create(kube, "web2")
        eventually(lambda: ("shop", "web2") in statuses(kube_server))
        assert statuses(kube_server)[("shop", "web2")] == ("192.0.2.11",)  # .10 is held
        assert ("shop", "web") in store.load().holds
        create(kube, "web")  # back: it gets its held address
        eventually(lambda: statuses(kube_server).get(("shop", "web")) == ("192.0.2.10",))
        assert converged(kube_server, store) and not store.load().holds


@pytest.mark.slow
def test_burst_of_services_is_batched_without_duplicates(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    """1,000 Services created by 8 clients at once: every one assigned, no address twice, and
    the state rewritten at most once per batch interval (whatever the number of Services), and
    without reading it (the controller follows it with its watch)."""
    add(store, "default", "10.0.0.0/16")
    with running(kube, store) as controller:
        eventually(lambda: controller.ready() == "", what="sync")
        kube_server.requests.reset()
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: create(kube, f"s{i:04d}", namespace=f"ns{i % 7}"),
                          range(1000)))
        eventually(lambda: len(statuses(kube_server)) == 1000, timeout=120, what="the burst")
        elapsed = time.monotonic() - started
        state = [r for r in kube_server.requests if r.path.endswith("/configmaps/lbctl-state")]
        puts = [r for r in state if r.method == "PUT"]
        assert len(puts) <= elapsed / controller.settings.interval + 5, (len(puts), elapsed)
        assert len(puts) < 250, f"{len(puts)} state writes for 1,000 Services"
        assert [r for r in state if r.method == "GET"] == []
        shown = [ip for ips in statuses(kube_server).values() for ip in ips]
        assert len(set(shown)) == 1000
        assert converged(kube_server, store)


def test_faults_during_a_burst_still_converge(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # A short watch history: a resumed watch may fall behind (410 Gone, then a relist).
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    with FakeKubeServer(watch_history=40) as server:
        kube = adapter.connect(str(server.write_kubeconfig(tmp_path / "kc")), None,
                               sleep=lambda _: None)
        store = StateStore(ConfigMapBackend(kube), sleep=lambda _: None)
        add(store, "default", "10.0.0.0/16")
        with running(kube, store, watch_timeout=1) as controller:
            eventually(lambda: controller.ready() == "", what="sync")
            # The next watch of Services: 410 Gone (a watch's only: the controller's own LISTs of
            # every Service share the path), then dropped connections.
            server.inject(410, "GET", r"^/api/v1/services$", times=1, watch=True)
            server.inject("drop", "GET", r"^/api/v1/services$", times=4)
            server.inject(500, "PATCH", r"/status$", times=30)  # publications fail
            server.inject(409, "PUT", r"/configmaps/lbctl-state$", times=12)  # lost races
            server.inject(503, "GET", r"/configmaps/lbctl-state$", times=6)
            for i in range(200):
                create(kube, f"s{i:03d}", namespace=f"ns{i % 3}")
            for i in range(0, 200, 10):  # and some go away again
                delete(server, f"s{i:03d}", f"ns{i % 3}")
            eventually(lambda: len(statuses(server)) == 180 and converged(server, store),
                       timeout=90, what="convergence")
            shown = [ip for ips in statuses(server).values() for ip in ips]
            assert len(shown) == len(set(shown)) == 180
            # The fake server ends a watch at its timeout only in a pause of its events: the
            # restarts (a relist after the 410, the dropped connections) may come after the
            # burst converged.
            def restarted(reason: str) -> bool:
                counts = controller.metrics.snapshot().watch_restarts
                return counts.get(("services", reason), 0) >= 1

            eventually(lambda: restarted("expired") and restarted("error"), timeout=30,
                       what="the relist after the 410 and the dropped connections")


def test_every_request_is_granted_by_the_installed_rbac(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore, cli: Cli) -> None:
    """The controller's RBAC from ``lbctl install`` allows every request a controller makes
    (assign, publish, Events, release, the state, the Lease), with RBAC's own semantics."""
    add(store, "small", "192.0.2.10")
    kube_server.requests.reset()
    with running(kube, store):
        create(kube, "web")
        create(kube, "db")  # no address left: an AllocationFailed Event
        eventually(lambda: len(statuses(kube_server)) == 1)
        eventually(lambda: bool(kube_server.objects_of("events")))
        delete(kube_server, "web")
        eventually(lambda: statuses(kube_server).keys() == {("shop", "db")})
    installed = [d for d in yaml.safe_load_all(cli("install").out) if d]
    calls = set()
    for request in kube_server.requests:
        call = call_of(request)
        if call is None or (call.verb, call.resource) == ("create", "services"):
            continue  # not an API call, or the test's own
        selector = request.query.get("fieldSelector", "")
        if call.name is None and selector.startswith("metadata.name="):
            call = call._replace(name=selector.split("=", 1)[1])  # RBAC names a one-object list
        calls.add(call)
    assert {c.verb for c in calls} >= {"list", "watch", "get", "create", "update", "patch"}
    denied = [c for c in calls if not grants(installed, ("kube-system", "lbctl-controller"), c)]
    assert denied == []


def test_the_cache_keeps_services_slim(kube_server: FakeKubeServer, kube: KubeAPI,
                                       store: StateStore) -> None:
    add(store, "default", "192.0.2.10-192.0.2.19")
    put(kube_server, "web", annotations={
        "kubectl.kubernetes.io/last-applied-configuration": "{" + "x" * 5000 + "}",
        "metallb.io/loadBalancerIPs": "192.0.2.12"})
    with running(kube, store) as controller:
        eventually(lambda: statuses(kube_server) == {("shop", "web"): ("192.0.2.12",)})
        cached = controller.reconciler.services[("shop", "web")]
        assert cached["metadata"]["annotations"] == {"metallb.io/loadBalancerIPs": "192.0.2.12"}


def test_a_bug_for_one_batch_does_not_stop_the_controller(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore,
        monkeypatch: pytest.MonkeyPatch) -> None:
    add(store, "default", "192.0.2.10-192.0.2.19")
    with running(kube, store) as controller:
        eventually(lambda: controller.ready() == "")
        real = controller.reconciler.start
        calls = []

        def flaky(keys: Any) -> Any:
            calls.append(keys)
            if len(calls) == 1:
                raise KeyError("a bug")
            return real(keys)

        monkeypatch.setattr(controller.reconciler, "start", flaky)
        create(kube, "web")
        eventually(lambda: ("shop", "web") in statuses(kube_server), what="the retry")
        assert controller.live() == ""


def test_a_pending_service_in_a_full_pool_is_one_event_and_backs_off(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    """A Service waiting for a full pool is looked at again when addresses are freed, but no
    sooner each time than its growing back-off, and its AllocationFailed Event is written
    once (then counted, not written, while it keeps failing the same way): Services coming
    and going elsewhere do not cost an Event write per release."""
    add(store, "full", "192.0.2.10", namespaces=["shop"])
    add(store, "other", "198.51.100.1-198.51.100.50", namespaces=["churn"])
    with running(kube, store) as controller:
        create(kube, "first")
        eventually(lambda: ("shop", "first") in statuses(kube_server))
        create(kube, "waiting")
        eventually(lambda: any(e["reason"] == "AllocationFailed"
                               for e in kube_server.objects_of("events")))
        looked: list[Any] = []
        real = controller.reconciler.start

        def spy(keys: Any) -> Any:
            looked.extend(k for k in keys if k == ("shop", "waiting"))
            return real(keys)

        controller.reconciler.start = spy  # type: ignore[method-assign]
        kube_server.requests.reset()
        for i in range(6):  # churn: six releases in another namespace, quickly
            create(kube, f"c{i}", namespace="churn")
            eventually(lambda i=i: ("churn", f"c{i}") in statuses(kube_server))
            delete(kube_server, f"c{i}", namespace="churn")
            eventually(lambda i=i: ("churn", f"c{i}") not in recorded(store))
        # Looked at after its first back-off (1 s) at most, not once per release.
        assert len(looked) <= 2, looked
        event_writes = [r for r in kube_server.requests if "/events" in r.path]
        assert event_writes == []  # repeats are counted in memory, not written
        [event] = [e for e in kube_server.objects_of("events")
                   if e["reason"] == "AllocationFailed"]
        assert event["count"] == 1
        assert "waiting" not in str(statuses(kube_server))
        delete(kube_server, "first")  # its own pool frees up: it gets the address
        eventually(lambda: statuses(kube_server).get(("shop", "waiting")) == ("192.0.2.10",),
                   what="the waiting Service, after its back-off")


def test_the_next_batch_is_recorded_while_the_last_one_publishes(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    """Status PATCHes held up by a slow API server do not hold up the recording of the next
    Services, and a Service whose publication is still in flight is not published twice."""
    add(store, "default", "192.0.2.0/24")
    with running(kube, store) as controller:
        eventually(lambda: controller.ready() == "" and controller.leading)
        kube_server.inject(3.0, method="PATCH", path="/status", times=1)
        create(kube, "slow")
        eventually(lambda: ("shop", "slow") in recorded(store))
        create(kube, "next")
        eventually(lambda: ("shop", "next") in recorded(store), timeout=2.5,
                   what="the next batch recorded while the first PATCH waits")
        assert ("shop", "slow") not in statuses(kube_server)
        controller.queue.add([("shop", "slow")])  # a change while in flight
        eventually(lambda: len(statuses(kube_server)) == 2)
        patches = [r for r in kube_server.requests
                   if r.method == "PATCH" and r.path.endswith("/slow/status")]
        assert len(patches) == 1
        assert converged(kube_server, store)


def test_a_stale_state_is_refused_read_again_and_no_address_is_given_twice(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    """The controller plans a batch on the state as its watch (or its own last write) left it,
    and writes against that version without reading it first.  When another writer (a second
    replica, the CLI) changed it meanwhile and the watch has not brought that yet, the write
    is refused (409), the state is read again and the batch runs on it: the Service gets
    another address, never the one the other writer recorded.  Then the watch brings the
    writes in order: the other writer's change (older than the controller's own write, which
    holds it already) and the controller's own write change nothing; a later change is taken."""
    add(store, "default", "192.0.2.10-192.0.2.19")
    controller = Controller(kube, store, Settings(identity="t"))
    reconciler = controller.reconciler

    def configmap() -> dict[str, Any]:
        found = kube_server.get_object("configmaps", "lbctl-state", "kube-system")
        assert found is not None
        return found

    def modified(obj: dict[str, Any]) -> WatchEvent:
        return WatchEvent("MODIFIED", obj)

    try:
        reconciler.state_listed([configmap()])
        reconciler.services_listed([])
        other = Allocation("shop", "elsewhere", ("192.0.2.10",), "default")
        store.update(lambda s: (replace(s, allocations={**s.allocations, other.key: other}),
                                None))
        theirs = configmap()  # not delivered yet
        create(kube, "web")
        reconciler.service_changed(WatchEvent("ADDED", kube.get(SERVICES, "web", "shop")))
        kube_server.requests.reset()
        reconciler.handle([("shop", "web")])
        state = [r.method for r in kube_server.requests if "lbctl-state" in r.path]
        assert state == ["PUT", "GET", "PUT"]  # refused, read again, written
        assert statuses(kube_server) == {("shop", "web"): ("192.0.2.11",)}
        assert recorded(store) == {("shop", "elsewhere"): ("192.0.2.10",),
                                   ("shop", "web"): ("192.0.2.11",)}
        ours = configmap()
        assert reconciler.snapshot is not None and reconciler.snapshot.state == store.load()
        after_write = reconciler.snapshot
        reconciler.state_changed(modified(theirs))  # older than the controller's write
        reconciler.state_changed(modified(ours))  # the controller's own write, back
        assert reconciler.snapshot is after_write
        store.update(lambda s: (replace(s, allocations={
            k: a for k, a in s.allocations.items() if k != other.key}), None))
        reconciler.state_changed(modified(configmap()))  # a later change: taken
        assert reconciler.snapshot.state == store.load()
        assert other.key not in reconciler.snapshot.state.allocations
        kube_server.requests.reset()
        create(kube, "next")  # planned and written on the snapshot: no read
        reconciler.service_changed(WatchEvent("ADDED", kube.get(SERVICES, "next", "shop")))
        reconciler.handle([("shop", "next")])
        assert [r.method for r in kube_server.requests if "lbctl-state" in r.path] == ["PUT"]
        assert statuses(kube_server)[("shop", "next")] == ("192.0.2.10",)
    finally:
        reconciler.executor.shutdown(wait=True)


def test_a_batch_publishes_the_longest_waiting_service_first_and_knows_its_own_write(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    """The status PATCHes of a batch start in the order its Services were queued, the oldest
    first (the allocator still serves them by name, as ``assign`` does); and the state write
    of the batch is known for the controller's own as soon as it returned, so its watch event,
    arriving while the PATCHes start, changes nothing."""
    add(store, "default", "192.0.2.10-192.0.2.19")
    reconciler = Reconciler(kube, store, WorkQueue(), Metrics(), clock=utc_now, workers=1)
    real = reconciler.executor
    echoes: list[dict[str, Any]] = []
    adopted: list[bool] = []  # whether the echo was taken for another writer's document

    class WatchFirst:
        """The executor of the PATCHes, with a watch that brings the state write before the
        first PATCH starts."""

        def submit(self, fn: Any, *args: Any) -> Any:
            if not echoes:
                found = kube_server.get_object("configmaps", "lbctl-state", "kube-system")
                assert found is not None
                echoes.append(found)
                reconciler.state_changed(WatchEvent("MODIFIED", found))
                snapshot = reconciler.snapshot
                adopted.append(snapshot is not None and snapshot.version is found)
            return real.submit(fn, *args)

    reconciler.executor = WatchFirst()  # type: ignore[assignment]
    order = ["zeta", "alpha", "mid"]  # as the watch brought them
    try:
        found = kube_server.get_object("configmaps", "lbctl-state", "kube-system")
        reconciler.state_listed([found] if found else [])
        reconciler.services_listed([])
        for name in order:
            create(kube, name)
            reconciler.service_changed(WatchEvent("ADDED", kube.get(SERVICES, name, "shop")))
        kube_server.requests.reset()
        reconciler.handle([("shop", name) for name in order])
        patched = [r.path.split("/")[-2] for r in kube_server.requests if r.method == "PATCH"]
        assert patched == order
        assert statuses(kube_server) == {("shop", "alpha"): ("192.0.2.10",),
                                         ("shop", "mid"): ("192.0.2.11",),
                                         ("shop", "zeta"): ("192.0.2.12",)}
        assert adopted == [False]
        assert reconciler.snapshot is not None and reconciler.snapshot.state == store.load()
    finally:
        real.shutdown(wait=True)


def test_a_pool_added_while_a_batch_runs_is_not_undone_by_that_batch(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No state yet; a Service's batch is refused for want of a pool while ``pool add`` writes
    one and the watch brings it.  The batch planned on the older document: that document must
    not replace the newer one the controller now knows (it did, and the Service stayed
    pending until the next change of the state), and the Service is assigned next."""
    reconciler = Reconciler(kube, store, WorkQueue(), Metrics(), clock=utc_now)
    real = reconciler_module.actions.record_services

    def pool_added_meanwhile(*args: Any, **kwargs: Any) -> Any:
        recorded = real(*args, **kwargs)
        if not store.load().pools:
            add(store, "default", "192.0.2.10-192.0.2.19")
            found = kube_server.get_object("configmaps", "lbctl-state", "kube-system")
            reconciler.state_changed(WatchEvent("ADDED", found))
        return recorded

    monkeypatch.setattr(reconciler_module.actions, "record_services", pool_added_meanwhile)
    try:
        reconciler.state_listed([])
        reconciler.services_listed([])
        create(kube, "web")
        reconciler.service_changed(WatchEvent("ADDED", kube.get(SERVICES, "web", "shop")))
        reconciler.handle(reconciler.queue.take(timeout=0))  # refused: no pool in its plan
        assert ("shop", "web") not in statuses(kube_server)
        assert reconciler.snapshot is not None and "default" in reconciler.snapshot.state.pools
        reconciler.handle(reconciler.queue.take(timeout=0))
        assert statuses(kube_server)[("shop", "web")] == ("192.0.2.10",)
    finally:
        reconciler.executor.shutdown(wait=True)


def _relisted_during_the_write(kube_server: FakeKubeServer, store: StateStore,
                               reconciler: Reconciler, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next batch writes the state; before the controller takes its write in, ``pool
    add`` adds the pool ``more`` and the state watch, its version expired (410 Gone), LISTs
    again: the listing brings that later document, and the watch will never bring the
    batch's (the LIST went past it)."""
    real = reconciler_module.actions.record_services

    def relisted_meanwhile(*args: Any, **kwargs: Any) -> Any:
        recorded = real(*args, **kwargs)
        if recorded.written and "more" not in store.load().pools:
            add(store, "more", "198.51.100.1-198.51.100.5")
            reconciler.state_listed([kube_server.get_object("configmaps", "lbctl-state",
                                                            "kube-system")])
        return recorded

    monkeypatch.setattr(reconciler_module.actions, "record_services", relisted_meanwhile)


def _batch_of_two_one_refused(kube: KubeAPI, store: StateStore,
                              reconciler: Reconciler) -> None:
    """One address for two Services: the batch assigns ``a`` (a write) and refuses ``b``."""
    add(store, "small", "192.0.2.10")
    reconciler.state_listed([kube.get(CONFIGMAPS, "lbctl-state", "kube-system")])
    reconciler.services_listed([])
    for name in ("a", "b"):
        create(kube, name)
        reconciler.service_changed(WatchEvent("ADDED", kube.get(SERVICES, name, "shop")))
    reconciler.handle(reconciler.queue.take(timeout=0))


def test_a_batch_written_before_a_relisting_does_not_replace_what_the_listing_brought(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch's document is older than the listing's: the controller keeps the listing's
    (it took the batch's, without the pool ``more``, and ``b``, refused for want of an
    address, stayed pending until the next change of the state), and ``b`` is assigned
    next."""
    reconciler = Reconciler(kube, store, WorkQueue(), Metrics(), clock=utc_now)
    _relisted_during_the_write(kube_server, store, reconciler, monkeypatch)
    try:
        _batch_of_two_one_refused(kube, store, reconciler)
        assert statuses(kube_server) == {("shop", "a"): ("192.0.2.10",)}
        assert reconciler.snapshot is not None and "more" in reconciler.snapshot.state.pools
        reconciler.handle(reconciler.queue.take(timeout=0))
        assert statuses(kube_server)[("shop", "b")] == ("198.51.100.1",)
        assert converged(kube_server, store)
    finally:
        reconciler.executor.shutdown(wait=True)


def test_a_batch_written_before_a_relisting_expects_no_echo_of_its_write(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The watch will never bring the batch's write (the listing went past it): the
    controller must not wait for it, taking every other writer's change for one made before
    it (it did: the next ``pool add``, brought by the watch, was ignored until the
    controller's next write)."""
    reconciler = Reconciler(kube, store, WorkQueue(), Metrics(), clock=utc_now)
    _relisted_during_the_write(kube_server, store, reconciler, monkeypatch)
    try:
        _batch_of_two_one_refused(kube, store, reconciler)
        add(store, "third", "203.0.113.1")
        reconciler.state_changed(WatchEvent("MODIFIED", kube_server.get_object(
            "configmaps", "lbctl-state", "kube-system")))
        assert reconciler.snapshot is not None and "third" in reconciler.snapshot.state.pools
    finally:
        reconciler.executor.shutdown(wait=True)


def test_a_publication_stands_in_for_the_cache_until_its_event_at_most_for_a_while(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    """Until the watch brings the Service as the controller's PATCH left it, a batch sees the
    status the API server answered (so the Service is not published twice); if that event
    never comes, the cache decides again after PATCHED_TTL: a status cleared by someone else
    is then published again."""
    add(store, "default", "192.0.2.10-192.0.2.19")
    now = [0.0]
    reconciler = Reconciler(kube, store, WorkQueue(clock=lambda: now[0]), Metrics(),
                            clock=utc_now)
    web = ("shop", "web")
    try:
        found = kube_server.get_object("configmaps", "lbctl-state", "kube-system")
        reconciler.state_listed([found] if found else [])
        reconciler.services_listed([])
        create(kube, "web")
        reconciler.service_changed(WatchEvent("ADDED", kube.get(SERVICES, "web", "shop")))
        reconciler.handle([web])
        assert statuses(kube_server) == {web: ("192.0.2.10",)}
        # The event of that PATCH is missed; someone clears the status, and that is seen.
        kube.patch(SERVICES, "web", ingress_patch(()), "shop", subresource="status")
        reconciler.service_changed(WatchEvent("MODIFIED", kube.get(SERVICES, "web", "shop")))
        kube_server.requests.reset()
        reconciler.handle([web])
        assert statuses(kube_server) == {}
        assert [r for r in kube_server.requests if r.method == "PATCH"] == []
        now[0] += PATCHED_TTL + 1
        reconciler.handle([web])
        assert statuses(kube_server) == {web: ("192.0.2.10",)}
    finally:
        reconciler.executor.shutdown(wait=True)


def _delete_state(server: FakeKubeServer) -> dict[str, Any]:
    """``kubectl delete cm -n kube-system lbctl-state``; returns what was deleted."""
    found = server.get_object("configmaps", "lbctl-state", "kube-system")
    assert found is not None
    server.store.delete(resources.lookup("configmaps"), "kube-system", "lbctl-state", {})
    return found


def test_a_deleted_state_stops_the_controller_until_pools_are_added_and_adopted(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore, cli: Cli,
        kubeconfig: Path) -> None:
    """The state ConfigMap is deleted while Services show addresses: the controller says so
    once (an error with the way back), is not ready and allocates nothing (it would start a
    state that records none of them); `pool add` refuses to start a new state over them
    unless --new-state; then new Services get free addresses (never one a Service shows),
    `adopt --all -A` records the others, and a Service that held an address is updated and
    deleted as usual."""
    add(store, "default", "192.0.2.10-192.0.2.19")
    logs: list[tuple[str, str]] = []
    with running(kube, store, log=lambda level, message, _: logs.append((level, message))
                 ) as controller:
        create(kube, "a")
        create(kube, "b")
        eventually(lambda: len(statuses(kube_server)) == 2 and converged(kube_server, store))
        before = statuses(kube_server)
        assert before == {("shop", "a"): ("192.0.2.10",), ("shop", "b"): ("192.0.2.11",)}
        _delete_state(kube_server)
        lost = ("ConfigMap kube-system/lbctl-state is missing, but 2 LoadBalancer Services "
                "show addresses no state records: shop/a (192.0.2.10), shop/b (192.0.2.11); "
                "the state was deleted or lost (or another load balancer published them), and "
                "lbctl allocates nothing until it is back")
        eventually(lambda: controller.ready() == lost, what="not ready")
        eventually(lambda: ("error", lost) in logs, what="the error")
        assert controller.metrics.snapshot().state_missing == 1
        create(kube, "c")
        eventually(lambda: ("shop", "c") in controller.reconciler.services)
        time.sleep(0.5)  # (time for a batch that must not run)
        assert statuses(kube_server) == before
        assert kube_server.get_object("configmaps", "lbctl-state", "kube-system") is None
        assert [m for level, m in logs if level == "error"] == [lost]  # once

        config = ("--kubeconfig", str(kubeconfig))
        early = cli(*config, "adopt", "--all", "-A")  # no pool to adopt into: the way, at once
        assert (early.code, early.out) == (4, "")
        assert early.err == (
            "lbctl: error: ConfigMap kube-system/lbctl-state is missing, but 2 LoadBalancer "
            "Services show addresses no state records: shop/a (192.0.2.10), shop/b "
            "(192.0.2.11); the state was deleted or lost (or another load balancer published "
            "them), and there is no pool to record them in\n"
            "hint: restore the state from a backup (kubectl apply -f BACKUP.yaml); or start a "
            "new one (lbctl pool add NAME ADDRESS... --new-state, or lbctl pool import from the "
            "load balancer that published them) and record what the Services show: "
            "lbctl adopt --all -A\n")
        assert cli(*config, "adopt", "svc", "a", "-n", "shop").err == early.err
        refused = cli(*config, "pool", "add", "default", "192.0.2.10-192.0.2.19")
        assert (refused.code, refused.out) == (4, "")
        assert refused.err == (
            "lbctl: error: ConfigMap kube-system/lbctl-state does not exist, and 2 "
            "LoadBalancer Services show addresses of the pools it would hold without "
            "recording them: shop/a (192.0.2.10), shop/b (192.0.2.11); the state may have been "
            "deleted or lost (or another load balancer published them)\n"
            "hint: restore the state from a backup (kubectl apply -f BACKUP.yaml); or start a "
            "new one with --new-state, then record what the Services show: "
            "lbctl adopt --all -A\n")
        assert kube_server.get_object("configmaps", "lbctl-state", "kube-system") is None
        added = cli(*config, "pool", "add", "default", "192.0.2.10-192.0.2.19", "--new-state")
        assert added.code == 0, added.err
        eventually(lambda: ("shop", "c") in statuses(kube_server), what="c")
        assert statuses(kube_server)[("shop", "c")] == ("192.0.2.12",)  # .10, .11 are shown
        assert controller.ready() == ""
        assert controller.metrics.snapshot().state_missing == 0
        assert ("info", "ConfigMap kube-system/lbctl-state is back: looking at every "
                "Service") in logs
        assert recorded(store) == {("shop", "c"): ("192.0.2.12",)}

        adopted = cli(*config, "adopt", "--all", "-A")
        assert adopted.code == 0, adopted.err
        eventually(lambda: converged(kube_server, store), what="adopted")
        assert statuses(kube_server) == {**before, ("shop", "c"): ("192.0.2.12",)}
        svc = kube.get(SERVICES, "a", "shop")
        svc["metadata"]["labels"] = {"tier": "web"}
        kube.replace(SERVICES, svc)
        delete(kube_server, "b")
        eventually(lambda: ("shop", "b") not in recorded(store), what="b released")
        create(kube, "d")
        eventually(lambda: statuses(kube_server).get(("shop", "d")) == ("192.0.2.11",))
        assert statuses(kube_server)[("shop", "a")] == ("192.0.2.10",)
        assert converged(kube_server, store)


def test_a_deleted_state_restored_from_a_backup_is_taken_up_again(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    """Restoring the ConfigMap (`kubectl apply -f backup.yaml`) brings the controller back:
    the Services that arrived meanwhile get addresses, and one deleted meanwhile is
    released."""
    add(store, "default", "192.0.2.10-192.0.2.19")
    with running(kube, store) as controller:
        create(kube, "a")
        create(kube, "b")
        eventually(lambda: len(statuses(kube_server)) == 2 and converged(kube_server, store))
        backup = _delete_state(kube_server)
        eventually(lambda: controller.ready() != "", what="not ready")
        create(kube, "c")
        delete(kube_server, "b")
        kube.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "lbctl-state",
                                              "namespace": "kube-system"},
                                 "data": backup["data"]}, "kube-system")
        eventually(lambda: ("shop", "c") in statuses(kube_server), what="c")
        eventually(lambda: converged(kube_server, store), what="b released")
        # c takes the lowest free address when it is allocated: b's 192.0.2.11 when b's
        # release came first, else 192.0.2.12 (both orders are right; which one comes first
        # depends on how the restored document's event and c's wait meet)
        shown = statuses(kube_server)
        assert shown.keys() == {("shop", "a"), ("shop", "c")}
        assert shown[("shop", "a")] == ("192.0.2.10",)
        assert shown[("shop", "c")] in {("192.0.2.11",), ("192.0.2.12",)}
        assert controller.ready() == ""


def test_a_state_never_written_is_no_lost_state(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    """A cluster where lbctl has no state yet and no Service shows an address: ready (and no
    Node was listed: no address needs telling apart)."""
    with running(kube, store) as controller:
        create(kube, "a")
        eventually(lambda: controller.ready() == "" and controller.leading)
        eventually(lambda: controller.reconciler.batches >= 1, what="a looked at")
        assert controller.metrics.snapshot().state_missing == 0
        assert _nodes_listed(kube_server) == 0


def test_a_lost_state_ends_when_no_service_shows_an_address_any_more(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore) -> None:
    """The state deleted, then the Services that showed addresses deleted too: nothing is left
    to record, so /readyz, lbctl_state_missing and the log follow at once (the gauge stayed 1
    while /readyz was ready), and the Service that waited meanwhile is looked at."""
    add(store, "default", "192.0.2.10-192.0.2.19")
    logs: list[tuple[str, str]] = []
    with running(kube, store, log=lambda level, message, _: logs.append((level, message))
                 ) as controller:
        create(kube, "a")
        eventually(lambda: len(statuses(kube_server)) == 1 and converged(kube_server, store))
        _delete_state(kube_server)
        eventually(lambda: controller.metrics.snapshot().state_missing == 1, what="lost")
        create(kube, "waiting")
        eventually(lambda: ("shop", "waiting") in controller.reconciler.services)
        delete(kube_server, "a")
        eventually(lambda: controller.metrics.snapshot().state_missing == 0, what="not lost")
        assert controller.ready() == ""
        back = ("ConfigMap kube-system/lbctl-state is still missing, but no Service shows an "
                "address it should record any more: looking at every Service")
        eventually(lambda: ("info", back) in logs, what="said")
        # looked at: with no state there is no pool, and the allocator says so
        eventually(lambda: any(level == "warning" and "NoPool" in message
                               for level, message in logs), what="the waiting one")


def test_a_nodes_address_k3s_servicelb_shows_is_no_lost_state(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore, cli: Cli,
        kubeconfig: Path) -> None:
    """A k3s cluster where ServiceLB published the nodes' addresses (then was disabled), and
    lbctl has no state yet: that is no lost state (a pool may not hold a node's address), so
    the controller is ready and a pool added serves new Services."""
    kube_server.put_object({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
                            "status": {"addresses": [{"type": "InternalIP",
                                                      "address": "10.0.0.11"}]}})
    put(kube_server, "traefik", "kube-system", status=("10.0.0.11",))
    with running(kube, store) as controller:
        eventually(lambda: controller.ready() == "" and controller.leading, what="ready")
        assert controller.metrics.snapshot().state_missing == 0
        added = cli("--kubeconfig", str(kubeconfig), "pool", "add", "default",
                    "192.0.2.10-192.0.2.19")
        assert added.code == 0, added.err
        create(kube, "web")
        eventually(lambda: statuses(kube_server).get(("shop", "web")) == ("192.0.2.10",))
        assert statuses(kube_server)[("kube-system", "traefik")] == ("10.0.0.11",)


def _meanwhile_on_listing_nodes(kube: KubeAPI, monkeypatch: pytest.MonkeyPatch,
                                change: Any) -> None:
    """``change()`` runs in another thread (a watch's) while the controller lists the Nodes
    (it decides whether the state is lost); the controller goes on when it has run."""
    real = kube.list
    done: list[bool] = []

    def listing(resource: Any, *args: Any, **kwargs: Any) -> Any:
        found = real(resource, *args, **kwargs)
        if resource == NODES and not done:
            done.append(True)
            thread = threading.Thread(target=change)
            thread.start()
            thread.join(timeout=60)  # (a bound that catches a hang, never reached)
            assert not thread.is_alive(), "the watch's change hung"
        return found

    monkeypatch.setattr(kube, "list", listing)


def _state_lost_soon(kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore,
                     logs: list[tuple[str, str]]) -> tuple[Reconciler, dict[str, Any]]:
    """A controller that knows the state and the Service ``a`` showing its address; the
    state ConfigMap is deleted (returned) and the watch is about to say so."""
    add(store, "default", "192.0.2.10-192.0.2.19")
    put(kube_server, "a", status=("192.0.2.10",))
    reconciler = Reconciler(kube, store, WorkQueue(), Metrics(), clock=utc_now,
                            log=lambda level, message, _: logs.append((level, message)))
    reconciler.state_listed([kube.get(CONFIGMAPS, "lbctl-state", "kube-system")])
    reconciler.services_listed([kube.get(SERVICES, "a", "shop")])
    return reconciler, _delete_state(kube_server)


def test_a_state_restored_while_the_controller_decides_it_is_lost_is_not_lost(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The state ConfigMap is deleted, and restored while the controller finds it lost: the
    controller ends up not lost (it said the state was lost after it had taken the restored
    one in, and ``lbctl_state_missing`` stayed 1 with the state back)."""
    logs: list[tuple[str, str]] = []
    reconciler, backup = _state_lost_soon(kube_server, kube, store, logs)

    def restored() -> None:
        kube.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "lbctl-state",
                                              "namespace": "kube-system"},
                                 "data": backup["data"]}, "kube-system")
        reconciler.state_changed(WatchEvent("ADDED", kube.get(CONFIGMAPS, "lbctl-state",
                                                              "kube-system")))

    _meanwhile_on_listing_nodes(kube, monkeypatch, restored)
    try:
        reconciler.state_changed(WatchEvent("DELETED", backup))
        assert reconciler.snapshot is not None and reconciler.snapshot.text is not None
        assert reconciler.metrics.snapshot().state_missing == 0
        assert [level for level, _ in logs if level != "info"] == []
    finally:
        reconciler.executor.shutdown(wait=True)


def test_the_last_service_deleted_while_the_controller_decides_the_state_is_lost(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The state ConfigMap is deleted, and the only Service that showed an address is
    deleted while the controller finds the state lost: the controller ends up not lost
    (``lbctl_state_missing`` stayed 1 until another Service changed)."""
    logs: list[tuple[str, str]] = []
    reconciler, backup = _state_lost_soon(kube_server, kube, store, logs)
    gone = kube.get(SERVICES, "a", "shop")

    def deleted() -> None:
        delete(kube_server, "a")
        reconciler.service_changed(WatchEvent("DELETED", gone))

    _meanwhile_on_listing_nodes(kube, monkeypatch, deleted)
    try:
        reconciler.state_changed(WatchEvent("DELETED", backup))
        assert ("shop", "a") not in reconciler.services
        assert reconciler.metrics.snapshot().state_missing == 0
    finally:
        reconciler.executor.shutdown(wait=True)


def test_a_slow_node_listing_holds_no_watch_up(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The state is lost, the minute has passed, and the readiness probe has the Nodes listed
    again from a slow API server (10 s to connect, 30 s to read, 2 retries): meanwhile the
    watches go on (they waited for that LIST, on a lock they take while the state is lost).
    A Service whose address goes is taken in by the decision after the LIST; a restored state
    is said back at once."""
    logs: list[tuple[str, str]] = []
    now = [1000.0]
    add(store, "default", "192.0.2.10-192.0.2.19")
    put(kube_server, "a", status=("192.0.2.10",))
    put(kube_server, "b", status=("192.0.2.11",))
    reconciler = Reconciler(kube, store, WorkQueue(clock=lambda: now[0]), Metrics(),
                            clock=utc_now, log=lambda level, message, _: logs.append(
                                (level, message)))
    listing, release = threading.Event(), threading.Event()
    decided: list[list[Any]] = []
    probe = threading.Thread(target=lambda: decided.append(reconciler.state_lost()))
    try:
        reconciler.state_listed([kube.get(CONFIGMAPS, "lbctl-state", "kube-system")])
        reconciler.services_listed([kube.get(SERVICES, name, "shop") for name in "ab"])
        backup = _delete_state(kube_server)
        reconciler.state_changed(WatchEvent("DELETED", backup))
        assert reconciler.metrics.snapshot().state_missing == 1
        now[0] += reconciler_module.NODES_TTL
        real = kube.list

        def slow(resource: Any, *args: Any, **kwargs: Any) -> Any:
            if resource == NODES:
                listing.set()
                release.wait(timeout=60)  # (a bound that catches a hang, never reached)
            return real(resource, *args, **kwargs)

        monkeypatch.setattr(kube, "list", slow)
        probe.start()
        assert listing.wait(timeout=60)
        gone = kube.get(SERVICES, "b", "shop")
        delete(kube_server, "b")

        def the_watches(change: Any) -> None:
            watch = threading.Thread(target=change)
            watch.start()
            watch.join(timeout=60)  # (a bound that catches a hang, never reached)
            assert not watch.is_alive(), "a watch waited for the Node LIST"

        the_watches(lambda: reconciler.service_changed(WatchEvent("DELETED", gone)))
        assert reconciler.metrics.snapshot().state_missing == 1  # (a still shows its address)
        release.set()
        probe.join(timeout=60)
        assert decided == [[lost.Stranded(("shop", "a"), ("192.0.2.10",))]]
        assert _nodes_listed(kube_server) == 2
        listing.clear()
        release.clear()
        now[0] += reconciler_module.NODES_TTL
        decided.clear()
        probe = threading.Thread(target=lambda: decided.append(reconciler.state_lost()))
        probe.start()
        assert listing.wait(timeout=60)
        kube.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "lbctl-state",
                                              "namespace": "kube-system"},
                                 "data": backup["data"]}, "kube-system")
        restored = kube.get(CONFIGMAPS, "lbctl-state", "kube-system")
        the_watches(lambda: reconciler.state_changed(WatchEvent("ADDED", restored)))
        assert reconciler.metrics.snapshot().state_missing == 0
        assert ("info", "ConfigMap kube-system/lbctl-state is back: looking at every "
                "Service") in logs
        release.set()
        probe.join(timeout=60)
        assert decided == [[]]
    finally:
        release.set()
        if probe.ident is not None:
            probe.join(timeout=60)
        reconciler.executor.shutdown(wait=True)


def _node(server: FakeKubeServer, name: str, address: str) -> None:
    server.put_object({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                       "status": {"addresses": [{"type": "InternalIP", "address": address}]}})


def _nodes_listed(server: FakeKubeServer) -> int:
    return sum(1 for r in server.requests if r.method == "GET" and r.path == "/api/v1/nodes")


@pytest.mark.parametrize("first", ["stale", "forbidden"])
def test_the_nodes_are_listed_again_while_a_missing_state_looks_lost(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore, first: str) -> None:
    """No state, and a Service shows an address of no Node the controller knows: the state
    looks lost.  The Nodes it listed then may be stale (a node joined since: k3s ServiceLB
    published its address) or their listing may have failed (RBAC fixed since): once a
    minute at most, not at every look, they are listed again, and the state is no longer
    lost (it stayed lost until the state document came back)."""
    logs: list[tuple[str, str]] = []
    now = [1000.0]
    _node(kube_server, "n1", "10.0.0.11")
    put(kube_server, "traefik", "kube-system", status=("10.0.0.12",))
    if first == "forbidden":
        _node(kube_server, "n2", "10.0.0.12")
        kube_server.inject(403, "GET", r"^/api/v1/nodes$")
    reconciler = Reconciler(kube, store, WorkQueue(clock=lambda: now[0]), Metrics(),
                            clock=utc_now, log=lambda level, message, _: logs.append(
                                (level, message)))
    try:
        reconciler.services_listed([kube.get(SERVICES, "traefik", "kube-system")])
        reconciler.state_listed([])
        assert reconciler.metrics.snapshot().state_missing == 1
        if first == "stale":
            _node(kube_server, "n2", "10.0.0.12")  # joined; ServiceLB showed its address
        listed = _nodes_listed(kube_server)
        for _ in range(3):  # (a batch, a Service's change, a probe: within the minute)
            now[0] += 10
            assert reconciler.state_lost()
        assert _nodes_listed(kube_server) == listed
        now[0] += reconciler_module.NODES_TTL
        assert not reconciler.state_lost()
        assert reconciler.metrics.snapshot().state_missing == 0
        assert ("info", "ConfigMap kube-system/lbctl-state is still missing, but no Service "
                "shows an address it should record any more: looking at every Service") in logs
    finally:
        reconciler.executor.shutdown(wait=True)


def test_readiness_says_what_the_controller_decides_when_the_nodes_are_listed_again(
        kube_server: FakeKubeServer, kube: KubeAPI, store: StateStore,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No state, and a Service shows the address of a node that joined after the Nodes were
    listed: the state looks lost.  When the readiness probe has them listed again (the minute
    has passed), /readyz, ``lbctl_state_missing`` and the log agree that it is not, and the
    Service that waited meanwhile is looked at (the probe said ready while the gauge stayed 1
    and the controller allocated nothing until its next full pass)."""
    logs: list[tuple[str, str]] = []
    _node(kube_server, "n1", "10.0.0.11")
    put(kube_server, "traefik", "kube-system", status=("10.0.0.12",))
    controller = Controller(kube, store, Settings(identity="c1"),
                            log=lambda level, message, _: logs.append((level, message)))
    reconciler = controller.reconciler
    try:
        reconciler.services_listed([kube.get(SERVICES, "traefik", "kube-system")])
        reconciler.state_listed([])
        for watch in (controller.services_watch, controller.state_watch):
            watch.synced.set()
        assert controller.ready().startswith("ConfigMap kube-system/lbctl-state is missing")
        create(kube, "web")
        reconciler.service_changed(WatchEvent("ADDED", kube.get(SERVICES, "web", "shop")))
        assert reconciler.start(reconciler.queue.take(timeout=0)) is None  # (dropped: lost)
        _node(kube_server, "n2", "10.0.0.12")  # joined; ServiceLB showed its address
        monkeypatch.setattr(reconciler_module, "NODES_TTL", 0.0)  # (the minute has passed)
        assert controller.ready() == ""
        assert controller.metrics.snapshot().state_missing == 0
        assert ("info", "ConfigMap kube-system/lbctl-state is still missing, but no Service "
                "shows an address it should record any more: looking at every Service") in logs
        assert ("shop", "web") in reconciler.queue.take(timeout=0)
    finally:
        reconciler.executor.shutdown(wait=True)
