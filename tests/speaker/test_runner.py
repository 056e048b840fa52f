"""The speaker process in-process against the fake kube-apiserver (fake responder and
announcer): it follows the state ConfigMap by watch, so an address recorded and published
reaches it at once, and every request it makes is granted by the RBAC ``lbctl install
--speaker`` prints."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from lbctl import kube as adapter
from lbctl.actions.leases import utc_now
from lbctl.core import leases
from lbctl.core.ownership import score
from lbctl.ports import CONFIGMAPS
from lbctl.speaker.loop import lease_name
from lbctl.speaker.run import Runner, Settings
from tests.cli.test_rbac import call_of, grants
from tests.conftest import Cli
from tests.controller.support import eventually
from tests.kubefake.server import FakeKubeServer
from tests.speaker.test_loop import FakeAnnouncer, FakeResponder

STATE = """schemaVersion: 1
pools:
  p: {addresses: [192.0.2.0/24]}
allocations:
  shop:
    web: {ips: [192.0.2.10], pool: p}
"""


def put_web(kube_server: FakeKubeServer, nodes: list[str]) -> None:
    """The Nodes, and Service shop/web published at 192.0.2.10 with a ready endpoint on each."""
    for node in nodes:
        kube_server.put_object({"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
    kube_server.put_object({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}})
    kube_server.put_object({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-1", "namespace": "shop",
                     "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [f"10.1.0.{i + 5}"], "nodeName": node,
                       "conditions": {"ready": True}} for i, node in enumerate(nodes)]})


def test_a_recorded_address_reaches_the_speaker_at_once_with_its_rbac(
        kube_server: FakeKubeServer, kubeconfig: Path, cli: Cli) -> None:
    kube = adapter.connect(str(kubeconfig), None)
    put_web(kube_server, ["n1"])
    state = {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "lbctl-state", "namespace": "kube-system"},
             "data": {"state.yaml": STATE.split("allocations:")[0] + "allocations: {}\n"}}
    kube_server.put_object(state)  # (no state at all, while web shows it, is a lost state)
    responder = FakeResponder()
    runner = Runner(kube, responder, FakeAnnouncer(), Settings(node="n1"), log=lambda _: None)
    thread = threading.Thread(target=runner.run, daemon=True)
    kube_server.requests.reset()
    thread.start()
    try:
        eventually(lambda: runner.ready() == "", what="the speaker synced, its Lease held")
        assert responder.calls in ([], [[]])  # the state records nothing yet
        recorded = time.monotonic()
        kube_server.put_object({**state, "data": {"state.yaml": STATE}})
        eventually(lambda: ["192.0.2.10"] in responder.calls, timeout=5,
                   what=f"the address served (served so far: {responder.calls})")
        assert time.monotonic() - recorded < 1.5  # a watch, not the 2 s poll it was
    finally:
        runner.stop()
        thread.join(timeout=15)
    assert not thread.is_alive()
    installed = [d for d in yaml.safe_load_all(cli("install", "--speaker").out) if d]
    calls = set()
    for request in kube_server.requests:
        call = call_of(request)
        if call is None:
            continue
        selector = request.query.get("fieldSelector", "")
        if call.name is None and selector.startswith("metadata.name="):
            call = call._replace(name=selector.split("=", 1)[1])  # RBAC names a one-object list
        calls.add(call)
    assert {(c.verb, c.resource, c.name) for c in calls} >= {
        ("list", "configmaps", "lbctl-state"), ("watch", "configmaps", "lbctl-state")}
    denied = [c for c in calls if not grants(installed, ("kube-system", "lbctl-speaker"), c)]
    assert denied == []


def test_a_wall_clock_stepped_an_hour_forward_does_not_take_a_live_peers_address(
        kube_server: FakeKubeServer, kubeconfig: Path) -> None:
    # The peer owns the address and keeps renewing its Lease; this node's wall clock steps an
    # hour forward (NTP at boot).  Judged by the wall clock, every peer looked expired at once
    # and this node answered for the peer's address too; on the monotonic clock nothing moves.
    peer, here = sorted(("n1", "n2"), key=lambda n: score(n, "192.0.2.10"))
    put_web(kube_server, [peer, here])
    kube_server.put_object({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "lbctl-state", "namespace": "kube-system"},
                            "data": {"state.yaml": STATE}})
    step, stepped = threading.Event(), threading.Event()

    def wall_clock() -> datetime:
        return utc_now() + (timedelta(hours=1) if stepped.is_set() else timedelta(0))

    def renew_peer() -> None:
        current = kube_server.put_object(leases.claimed(
            None, peer, utc_now(), 2, namespace="kube-system", name=lease_name(peer)))
        while not done.wait(0.5):
            current = kube_server.put_object(leases.claimed(
                current, peer, utc_now(), 2, namespace="kube-system", name=lease_name(peer)))
            if step.is_set() and not stepped.is_set():
                # Between two renewals: step the clock, and make the speaker sync at once
                # while the peer's Lease is unchanged.
                time.sleep(0.2)
                stepped.set()
                kube_server.put_object({"apiVersion": "v1", "kind": "Node",
                                        "metadata": {"name": here, "labels": {"touched": "1"}}})

    done = threading.Event()
    renewer = threading.Thread(target=renew_peer, daemon=True)
    renewer.start()
    responder = FakeResponder()
    runner = Runner(adapter.connect(str(kubeconfig), None), responder, FakeAnnouncer(),
                    Settings(node=here), log=lambda _: None, clock=wall_clock)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        eventually(lambda: runner.ready() == "", what="the speaker synced, its Lease held")
        step.set()
        eventually(stepped.is_set, what="the wall clock stepped")
        time.sleep(3.0)  # longer than the Lease duration: renewals and syncs on both sides
        assert runner.ready() == ""  # its own Lease is held across the step too
        assert all("192.0.2.10" not in call for call in responder.calls), responder.calls
        done.set()  # the peer falls silent: its address moves here after the duration
        eventually(lambda: ["192.0.2.10"] in responder.calls, timeout=5,
                   what=f"the address taken over (served so far: {responder.calls})")
    finally:
        done.set()
        runner.stop()
        thread.join(timeout=15)
        renewer.join(timeout=5)
    assert not thread.is_alive()


def test_a_deleted_state_keeps_the_address_served_and_a_speaker_started_meanwhile_out(
        kube_server: FakeKubeServer, kubeconfig: Path) -> None:
    """`kubectl delete cm lbctl-state`: the speaker serving 192.0.2.10 keeps serving it (and
    stays ready).  A speaker started meanwhile has no state to answer from: it holds no Lease,
    so the address is not handed to it (it would answer for nothing) even where it would own
    it, and it is not ready, saying why.  The state restored, it is ready and takes the
    address."""
    newcomer, first = sorted(("n1", "n2"), key=lambda n: score(n, "192.0.2.10"))
    put_web(kube_server, [first, newcomer])
    configmap = kube_server.put_object({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "lbctl-state", "namespace": "kube-system"},
        "data": {"state.yaml": STATE}})
    kube = adapter.connect(str(kubeconfig), None)
    runners: list[tuple[Runner, threading.Thread]] = []

    def start(node: str, responder: FakeResponder) -> Runner:
        runner = Runner(kube, responder, FakeAnnouncer(), Settings(node=node),
                        log=lambda _: None)
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        runners.append((runner, thread))
        return runner

    def holder(node: str) -> str | None:
        lease = kube_server.get_object("leases", lease_name(node), "kube-system")
        return None if lease is None else lease["spec"].get("holderIdentity")

    serving, later = FakeResponder(), FakeResponder()
    try:
        one = start(first, serving)
        eventually(lambda: serving.calls[-1:] == [["192.0.2.10"]], what="served")
        kube.delete(CONFIGMAPS, "lbctl-state", "kube-system")  # kubectl delete cm
        lost = ("ConfigMap kube-system/lbctl-state is missing, but 1 LoadBalancer Service "
                "shows addresses no state records: shop/web (192.0.2.10); the state was "
                "deleted or lost (or another load balancer published them), and ")
        eventually(lambda: one.stats.state_missing == 1, what="the state lost")
        assert one.speaker.lost == lost + ("this speaker keeps answering for what its last "
                                           "good state recorded until it is back")
        assert one.ready() == ""
        served = len(serving.calls)
        two = start(newcomer, later)
        eventually(lambda: two.ready().startswith(lost), what="the newcomer not ready")
        assert two.speaker.stateless
        time.sleep(1.0)  # four Lease rounds: the newcomer takes no Lease, the first serves on
        assert holder(newcomer) in (None, "") and holder(first) == first
        # never handed to the newcomer, not even before its first sync: served all along
        assert all(call == ["192.0.2.10"] for call in serving.calls[served:]), serving.calls
        assert later.calls in ([], [[]])
        kube_server.put_object({**configmap, "metadata": {"name": "lbctl-state",
                                                         "namespace": "kube-system"}})
        eventually(lambda: later.calls[-1:] == [["192.0.2.10"]], what="the newcomer owns it")
        eventually(lambda: serving.calls[-1] == [], what="handed over")
        eventually(lambda: one.ready() == two.ready() == "", what="both ready")
        assert one.stats.state_missing == two.stats.state_missing == 0
    finally:
        for runner, thread in runners:
            runner.stop()
            thread.join(timeout=15)
