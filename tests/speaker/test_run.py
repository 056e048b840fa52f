"""The speaker process against the fake kube-apiserver: its Lease and what it publishes there.

The responder and announcer are the in-process fakes of test_loop (no sockets); the watches,
the Lease thread and the API calls are the real ones."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from lbctl import kube as adapter
from lbctl.core import speakers
from lbctl.ports import KubeAPI
from lbctl.speaker.run import Runner, Settings
from tests.controller.support import eventually
from tests.kubefake import resources
from tests.kubefake.server import FakeKubeServer
from tests.speaker.test_loop import FakeAnnouncer, FakeResponder

NODE = "n1"
LEASE = speakers.lease_name(NODE)


@pytest.fixture
def kube(kubeconfig: Path) -> KubeAPI:
    return adapter.connect(str(kubeconfig), None)


@contextmanager
def running(kube: KubeAPI, **options: Any) -> Iterator[Runner]:
    """A started speaker for NODE; stopped (its Lease given up) on the way out."""
    runner = Runner(kube, FakeResponder(), FakeAnnouncer(),
                    Settings(node=NODE, duration=3.0, renew_deadline=2.0, retry=0.1),
                    log=lambda _: None, **options)
    thread = threading.Thread(target=runner.run, name="speaker-n1", daemon=True)
    thread.start()
    try:
        yield runner
    finally:
        runner.stop()
        thread.join(timeout=15)
        assert not thread.is_alive(), "the speaker did not stop"


def annotations(server: FakeKubeServer) -> dict[str, str] | None:
    """The annotations of NODE's speaker Lease, or None while there is no Lease."""
    lease = server.get_object("leases", LEASE, "kube-system")
    if lease is None:
        return None
    return dict(lease["metadata"].get("annotations") or {})


def published(server: FakeKubeServer, wanted: dict[str, str]) -> bool:
    return annotations(server) == wanted


MACS = {speakers.MACS_ANNOTATION: "eth0=02:00:00:00:00:01"}


def test_a_deleted_lease_comes_back_with_the_macs(kube_server: FakeKubeServer,
                                                  kube: KubeAPI) -> None:
    with running(kube) as runner:
        eventually(lambda: published(kube_server, MACS), what="the MACs on the Lease")
        kube_server.store.delete(resources.lookup("leases"), "kube-system", LEASE, {})
        eventually(lambda: annotations(kube_server) is not None, what="the Lease recreated")
        assert annotations(kube_server) == MACS  # the first write carries them already
        assert runner.elector.leading


def test_annotations_edited_away_are_written_again_and_others_kept(
        kube_server: FakeKubeServer, kube: KubeAPI) -> None:
    with running(kube):
        eventually(lambda: published(kube_server, MACS), what="the MACs on the Lease")
        lease = kube_server.get_object("leases", LEASE, "kube-system")
        assert lease is not None
        lease["metadata"]["annotations"] = {"team": "net"}  # someone's kubectl edit
        kube_server.put_object(lease)
        eventually(lambda: published(kube_server, {**MACS, "team": "net"}),
                   what="the MACs again, beside the other annotation")


def test_the_health_report_rides_on_the_renewals_and_survives_a_deletion(
        kube_server: FakeKubeServer, kube: KubeAPI) -> None:
    failing: set[tuple[str, str]] = set()
    with running(kube, health=lambda facts: set(failing)):
        eventually(lambda: published(kube_server, MACS), what="the MACs on the Lease")
        failing.add(("shop", "web"))
        report = {**MACS, speakers.UNHEALTHY_ANNOTATION: "shop/web"}
        eventually(lambda: published(kube_server, report), what="the health report")
        kube_server.store.delete(resources.lookup("leases"), "kube-system", LEASE, {})
        eventually(lambda: annotations(kube_server) is not None, what="the Lease recreated")
        assert annotations(kube_server) == report
        failing.clear()
        eventually(lambda: published(kube_server, MACS), what="the report withdrawn")
