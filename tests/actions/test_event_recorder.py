"""The long-running commands' Event recorder against the fake kube-apiserver: a repeated Event
is written once per interval, the repeats it held back counted into the next write."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from lbctl import kube as adapter
from lbctl.actions.services import EventRecorder
from lbctl.ports import KubeAPI
from tests.actions.test_services import put
from tests.kubefake.server import FakeKubeServer

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def kube(kubeconfig: Path) -> KubeAPI:
    return adapter.connect(str(kubeconfig), None)


def test_repeats_within_the_interval_are_counted_not_written(
        kube_server: FakeKubeServer, kube: KubeAPI) -> None:
    put(kube_server, "web")
    svc = kube_server.get_object("services", "web", "shop")
    assert svc is not None
    ticks = [0.0]
    recorder = EventRecorder(kube, interval=300.0, clock=lambda: ticks[0])

    def record(message: str = "PoolExhausted: no address left", minutes: int = 0) -> str:
        return recorder.record(svc, "AllocationFailed", message,
                               NOW + timedelta(minutes=minutes), warning=True)

    def events() -> list[tuple[str, int, str]]:
        return sorted((e["message"], e["count"], e["lastTimestamp"])
                      for e in kube_server.objects_of("events"))

    kube_server.requests.reset()
    assert record() == ""
    for _ in range(5):
        ticks[0] += 10
        assert record() == ""  # held back: no request
    assert len(kube_server.requests) == 1  # the one create
    assert events() == [("PoolExhausted: no address left", 1, "2024-05-01T12:00:00Z")]
    assert record("Refused: another reason") == ""  # another message: its own Event, now
    ticks[0] += 300
    assert record(minutes=6) == ""  # the interval passed: written, with the 5 repeats
    assert events() == [("PoolExhausted: no address left", 7, "2024-05-01T12:06:00Z"),
                        ("Refused: another reason", 1, "2024-05-01T12:00:00Z")]
    assert recorder.written == 3


def test_the_memory_is_bounded(kube_server: FakeKubeServer, kube: KubeAPI) -> None:
    put(kube_server, "web")
    svc = kube_server.get_object("services", "web", "shop")
    assert svc is not None
    recorder = EventRecorder(kube, size=2, clock=lambda: 0.0)
    for message in ("a", "b", "c", "a"):  # "a" was forgotten: written again
        recorder.record(svc, "AllocationFailed", message, NOW)
    assert recorder.written == 4
    assert sorted((e["message"], e["count"]) for e in kube_server.objects_of("events")) == [
        ("a", 2), ("b", 1), ("c", 1)]
