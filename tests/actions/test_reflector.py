"""The reflector against the fake kube-apiserver: it lists, follows the watch, resumes after
the stream ends, and lists again when its version has expired (410)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lbctl import kube as adapter
from lbctl.actions.reflector import Reflector
from lbctl.ports import NODES, KubeAPI
from tests.kubefake import resources
from tests.kubefake.server import FakeKubeServer


def node(name: str, zone: str = "a") -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"zone": zone}}}


@pytest.fixture
def kube(kubeconfig: Path) -> KubeAPI:
    return adapter.connect(str(kubeconfig), None, sleep=lambda _: None)


@pytest.fixture
def running(kube: KubeAPI) -> Iterator[tuple[Reflector, threading.Event]]:
    stop = threading.Event()
    changed = threading.Event()
    reflector = Reflector(kube, NODES, on_change=changed.set, wait=stop.wait, timeout_seconds=1)
    thread = threading.Thread(target=reflector.run, daemon=True)
    thread.start()
    yield reflector, changed
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()


def eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def labels(reflector: Reflector) -> dict[str, str]:
    return {n["metadata"]["name"]: n["metadata"]["labels"]["zone"] for n in reflector.snapshot()}


def test_lists_then_follows_changes_and_deletions(
        kube_server: FakeKubeServer, running: tuple[Reflector, threading.Event]) -> None:
    reflector, _ = running
    eventually(lambda: reflector.synced)
    assert reflector.snapshot() == []
    kube_server.put_object(node("n1"))
    kube_server.put_object(node("n2"))
    eventually(lambda: labels(reflector) == {"n1": "a", "n2": "a"})
    kube_server.put_object(node("n1", "b"))
    kube_server.store.delete(resources.lookup("nodes"), "", "n2", {})
    eventually(lambda: labels(reflector) == {"n1": "b"})
    time.sleep(1.2)  # the watch times out after 1 s and resumes without listing again
    kube_server.put_object(node("n3"))
    eventually(lambda: "n3" in labels(reflector))
    assert reflector.lists == 1


def test_an_expired_version_lists_again(kube_server: FakeKubeServer,
                                        running: tuple[Reflector, threading.Event]) -> None:
    reflector, _ = running
    eventually(lambda: reflector.synced)
    kube_server.inject(410, "GET", path="/api/v1/nodes", times=1)
    time.sleep(1.2)  # the stream ends; resuming gets 410
    kube_server.put_object(node("n9"))
    eventually(lambda: "n9" in labels(reflector))
    eventually(lambda: reflector.lists == 2)


def test_errors_back_off_and_recover(kube_server: FakeKubeServer, kube: KubeAPI) -> None:
    waits: list[float] = []
    kube_server.inject(403, "GET", path="/api/v1/nodes", times=2)
    kube_server.put_object(node("n1"))

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return len(waits) > 2  # stop after the stream of the successful list

    reflector = Reflector(kube, NODES, on_change=lambda: None, wait=wait, timeout_seconds=1)
    reflector.run()
    assert waits[:2] == [0.5, 1.0]
    assert labels(reflector) == {"n1": "a"} and reflector.error is None


def test_the_poller_follows_one_named_object(kube_server: FakeKubeServer, kube: KubeAPI) -> None:
    from lbctl.actions.reflector import Poller
    from lbctl.ports import CONFIGMAPS

    changes: list[int] = []
    rounds = iter(range(4))

    def wait(seconds: float) -> bool:
        step = next(rounds, None)
        if step == 0:
            kube_server.put_object({"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": "lbctl-state",
                                                 "namespace": "kube-system"},
                                    "data": {"state.yaml": "schemaVersion: 1\n"}})
        return step is None

    poller = Poller(kube, CONFIGMAPS, "lbctl-state", "kube-system",
                    on_change=lambda: changes.append(1), wait=wait, period=0)
    poller.run()
    # absent at first (synced, None), then present; unchanged reads change nothing
    assert len(changes) == 2 and poller.synced
    found = poller.get(("kube-system", "lbctl-state"))
    assert found is not None and found["data"] == {"state.yaml": "schemaVersion: 1\n"}
