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
    eventually(reflector.synced.is_set)
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
    eventually(reflector.synced.is_set)
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


def test_one_named_object_is_watched_by_field_selector(kube_server: FakeKubeServer,
                                                      kube: KubeAPI) -> None:
    """The speaker follows the state ConfigMap so: absent at first, then every change as it
    happens (no polling), and nothing of the other ConfigMaps of the namespace."""
    from lbctl.ports import CONFIGMAPS

    def configmap(name: str, text: str) -> dict[str, object]:
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "kube-system"},
                "data": {"state.yaml": text}}

    stop = threading.Event()
    changes: list[int] = []
    reflector = Reflector(kube, CONFIGMAPS, namespace="kube-system",
                          field_selector="metadata.name=lbctl-state",
                          on_change=lambda: changes.append(1), wait=stop.wait,
                          timeout_seconds=30)
    thread = threading.Thread(target=reflector.run, daemon=True)
    thread.start()
    try:
        eventually(reflector.synced.is_set)
        assert reflector.get(("kube-system", "lbctl-state")) is None and len(changes) == 1
        kube_server.put_object(configmap("other", "x: 1\n"))
        kube_server.put_object(configmap("lbctl-state", "schemaVersion: 1\n"))
        eventually(lambda: reflector.get(("kube-system", "lbctl-state")) is not None, within=1)
        assert [key for key in (("kube-system", "other"), ("kube-system", "lbctl-state"))
                if reflector.get(key)] == [("kube-system", "lbctl-state")]
        kube_server.store.delete(resources.lookup("configmaps"), "kube-system", "lbctl-state",
                                 {})
        eventually(lambda: reflector.get(("kube-system", "lbctl-state")) is None, within=1)
        assert reflector.lists == 1 and len(changes) == 3
        watches = [r for r in kube_server.requests if r.query.get("watch")]
        assert watches and all(r.query.get("fieldSelector") == "metadata.name=lbctl-state"
                               for r in watches)
    finally:
        stop.set()
        reflector.stop()
        thread.join(timeout=35)
