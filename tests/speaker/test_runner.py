"""The speaker process in-process against the fake kube-apiserver (fake responder and
announcer): it follows the state ConfigMap by watch, so an address recorded and published
reaches it at once, and every request it makes is granted by the RBAC ``lbctl install
--speaker`` prints."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import yaml

from lbctl import kube as adapter
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


def test_a_recorded_address_reaches_the_speaker_at_once_with_its_rbac(
        kube_server: FakeKubeServer, kubeconfig: Path, cli: Cli) -> None:
    kube = adapter.connect(str(kubeconfig), None)
    kube_server.put_object({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
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
        "endpoints": [{"addresses": ["10.1.0.5"], "nodeName": "n1",
                       "conditions": {"ready": True}}]})
    responder = FakeResponder()
    runner = Runner(kube, responder, FakeAnnouncer(), Settings(node="n1"), log=lambda _: None)
    thread = threading.Thread(target=runner.run, daemon=True)
    kube_server.requests.reset()
    thread.start()
    try:
        eventually(lambda: runner.ready() == "", what="the speaker synced, its Lease held")
        assert responder.calls in ([], [[]])  # the state records nothing yet
        recorded = time.monotonic()
        kube_server.put_object({"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": "lbctl-state", "namespace": "kube-system"},
                                "data": {"state.yaml": STATE}})
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
