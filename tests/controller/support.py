"""Running a controller in-process against the fake kube-apiserver, and waiting for it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from lbctl.controller.reconciler import Log, quiet
from lbctl.controller.run import Controller, Settings
from lbctl.ports import KubeAPI
from lbctl.state.store import StateStore
from tests.actions.test_services import recorded
from tests.kubefake.server import FakeKubeServer

FAST = dict(lease_duration=3.0, renew_deadline=2.0, retry=0.2, watch_timeout=5)


@contextmanager
def running(kube: KubeAPI, store: StateStore, identity: str = "c1", log: Log = quiet,
            **settings: Any) -> Iterator[Controller]:
    """A started controller; stopped (and its Lease given up) on the way out."""
    controller = Controller(kube, store, Settings(identity=identity, **{**FAST, **settings}),
                            log=log)
    thread = threading.Thread(target=controller.run, name=f"controller-{identity}", daemon=True)
    thread.start()
    try:
        yield controller
    finally:
        controller.stop()
        thread.join(timeout=15)
        assert not thread.is_alive(), "the controller did not stop"


def eventually(check: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or check}")


def statuses(server: FakeKubeServer) -> dict[tuple[str, str], tuple[str, ...]]:
    """What every Service's status shows (only those that show something)."""
    out = {}
    for svc in server.objects_of("services"):
        ips = tuple(i["ip"] for i in (svc.get("status") or {}).get("loadBalancer", {})
                    .get("ingress") or [])
        if ips:
            out[(svc["metadata"]["namespace"], svc["metadata"]["name"])] = ips
    return out


def converged(server: FakeKubeServer, store: StateStore) -> bool:
    """state == statuses: every allocation published for its Service, nothing else shown."""
    return recorded(store) == statuses(server)
