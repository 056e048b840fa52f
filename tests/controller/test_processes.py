"""Real ``lbctl controller`` processes against the fake kube-apiserver: two replicas, one
leads; SIGKILL the leader and the other takes over within the lease duration and finishes the
work; SIGTERM hands the Lease over at once.  Every process is stopped by PID, even on failure."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbctl import kube as adapter
from lbctl.core.leases import record_of
from lbctl.ports import SERVICES, KubeAPI
from lbctl.state.configmap import ConfigMapBackend
from lbctl.state.store import StateStore
from tests.actions.test_services import add
from tests.controller.support import converged, eventually, statuses
from tests.kubefake.server import FakeKubeServer

pytestmark = pytest.mark.slow
DURATION = 3  # seconds: the lease duration the replicas run with
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Replica:
    def __init__(self, kubeconfig: Path, identity: str) -> None:
        self.identity = identity
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("POD_NAME", "LBCTL_STATE")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lbctl", "--kubeconfig", str(kubeconfig), "controller",
             "--id", identity, "--metrics-addr", f"127.0.0.1:{self.port}",
             "--lease-duration", str(DURATION), "--log-format", "json"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def get(self, path: str) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode()
        except OSError:
            return 0, ""
        finally:
            connection.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=10)


@pytest.fixture
def kube(kubeconfig: Path) -> KubeAPI:
    return adapter.connect(str(kubeconfig), None)


@pytest.fixture
def replicas(kubeconfig: Path, kube: KubeAPI) -> Iterator[dict[str, Replica]]:
    add(StateStore(ConfigMapBackend(kube)), "default", "10.1.0.0/16")
    started = {name: Replica(kubeconfig, name) for name in ("a", "b")}
    try:
        yield started
    finally:
        for replica in started.values():
            replica.stop()


def holder(server: FakeKubeServer) -> str:
    lease = server.get_object("leases", "lbctl-controller", "kube-system")
    return record_of(lease).holder if lease else ""


def create(kube: KubeAPI, count: int, prefix: str) -> None:
    for i in range(count):
        kube.create(SERVICES, {"apiVersion": "v1", "kind": "Service",
                               "metadata": {"name": f"{prefix}{i}", "namespace": "default"},
                               "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
                    "default")


def test_sigkill_of_the_leader_is_survived(kube_server: FakeKubeServer, kube: KubeAPI,
                                           replicas: dict[str, Replica]) -> None:
    store = StateStore(ConfigMapBackend(kube))
    eventually(lambda: holder(kube_server) in replicas, what="a leader")
    leader = replicas[holder(kube_server)]
    follower = next(r for r in replicas.values() if r is not leader)
    eventually(lambda: leader.get("/readyz")[0] == 200 and follower.get("/readyz")[0] == 200,
               what="both ready")
    assert "lbctl_leader 1.0" in leader.get("/metrics")[1]
    assert "lbctl_leader 0.0" in follower.get("/metrics")[1]
    create(kube, 50, "before")
    eventually(lambda: len(statuses(kube_server)) == 50, what="the first Services")

    leader.process.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    create(kube, 50, "after")  # while nobody leads
    eventually(lambda: holder(kube_server) == follower.identity, timeout=DURATION + 5,
               what="the takeover")
    took = time.monotonic() - killed
    assert took <= DURATION + 1.5, f"takeover after {took:.2f}s"
    eventually(lambda: len(statuses(kube_server)) == 100, what="the follower's work")
    assert converged(kube_server, store)
    assert "lbctl_leader 1.0" in follower.get("/metrics")[1]


def test_sigterm_hands_the_lease_over_at_once(kube_server: FakeKubeServer, kube: KubeAPI,
                                              replicas: dict[str, Replica]) -> None:
    eventually(lambda: holder(kube_server) in replicas, what="a leader")
    leader = replicas[holder(kube_server)]
    follower = next(r for r in replicas.values() if r is not leader)
    eventually(lambda: follower.get("/readyz")[0] == 200, what="the follower ready")
    leader.process.send_signal(signal.SIGTERM)
    assert leader.process.wait(timeout=10) == 0
    # Given up before the leader exited, not left to expire: by now the Lease is free (or
    # already the follower's), whatever the load on the machine made the follower wait.
    assert holder(kube_server) in ("", follower.identity), "the Lease was not given up"
    eventually(lambda: holder(kube_server) == follower.identity, timeout=DURATION + 5,
               what="the handover")
    create(kube, 5, "late")
    eventually(lambda: len(statuses(kube_server)) == 5)
    logs = leader.process.communicate(timeout=5)[1]
    assert '"msg": "stopped"' in logs
