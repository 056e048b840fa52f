"""The speaker's BGP side, in-process: facts in, sessions and routes out to a fake BGP speaker;
passwords from Secrets through a fake KubeAPI.  Milliseconds per test."""

from __future__ import annotations

import base64
import importlib.util
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from lbctl.bgp.exabgp import ExaBGP
from lbctl.core.speakers import BGP_ANNOTATION, BGPSummary, bgp_of
from lbctl.errors import NotFoundError, redact
from lbctl.nodeports import BGPRoute, BGPSession, BGPStatus
from lbctl.ports import SECRETS, Resource
from lbctl.speaker.bgp import BGPSide
from lbctl.speaker.loop import read_state
from lbctl.speaker.run import _bgp_text

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
STATE = """\
schemaVersion: 1
pools:
  seed: {addresses: [192.168.197.0/24], announce: bgp}
  lan: {addresses: [10.0.0.0/24]}
peers:
  router: {address: 192.168.200.1, asn: 64501, myASN: 64500, holdTime: 3%s}
  v6: {address: 'fd00::1', asn: 64501, myASN: 64500}
allocations:
  shop:
    web: {ips: [192.168.197.10], pool: seed}
    l2: {ips: [10.0.0.5], pool: lan}
"""


class FakeBGP:
    def __init__(self) -> None:
        self.sessions: list[BGPSession] = []
        self.routes: set[BGPRoute] = set()
        self.configured = 0
        self.closed = False
        self.fail: str | None = None

    def configure(self, sessions: Sequence[BGPSession]) -> None:
        if self.fail:
            raise NotFoundError(self.fail)
        self.configured += 1
        self.sessions = list(sessions)

    def advertise(self, routes: Collection[BGPRoute]) -> None:
        self.routes = set(routes)

    def status(self) -> BGPStatus:
        return BGPStatus({s.peer: "established" for s in self.sessions}, len(self.routes))

    def close(self) -> None:
        self.closed = True


class FakeKube:
    """Only what the BGP side uses: GET of Secrets."""

    def __init__(self, secrets: dict[str, dict[str, str]]) -> None:
        self.secrets = secrets
        self.gets = 0

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> Any:
        assert resource == SECRETS and namespace == "kube-system"
        self.gets += 1
        if name not in self.secrets:
            raise NotFoundError(f"Secret {namespace}/{name} not found")
        return {"data": self.secrets[name]}


def svc(name: str, ip: str, policy: str = "Cluster") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"type": "LoadBalancer", "externalTrafficPolicy": policy},
            "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}


def slices(name: str, nodes: list[str]) -> dict[str, Any]:
    return {"metadata": {"name": f"{name}-x", "namespace": "shop",
                         "labels": {"kubernetes.io/service-name": name}},
            "endpoints": [{"nodeName": n, "conditions": {"ready": True}} for n in nodes]}


def node(name: str, *addresses: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {}},
            "status": {"addresses": [{"type": "InternalIP", "address": a} for a in addresses]}}


def side(secrets: dict[str, dict[str, str]] | None = None
         ) -> tuple[BGPSide, FakeBGP, FakeKube, list[str]]:
    bgp, kube, logs = FakeBGP(), FakeKube(secrets or {}), []
    return BGPSide("n1", bgp, kube, log=logs.append), bgp, kube, logs  # type: ignore[arg-type]


SERVICES = [svc("web", "192.168.197.10"), svc("l2", "10.0.0.5")]
SLICES = [slices("web", ["n2"]), slices("l2", ["n1"])]
NODES = [node("n1", "192.168.200.11", "fd00::11")]


def test_sessions_from_the_nodes_address_of_each_family_and_routes_of_bgp_pools_only() -> None:
    s, bgp, _, logs = side()
    s.sync(SERVICES, SLICES, NODES, read_state({"data": {"state.yaml": STATE % ""}}), T0)
    assert bgp.sessions == [
        BGPSession("router", "192.168.200.1", 64501, 64500, "192.168.200.11", "192.168.200.11",
                   hold_time=3),
        BGPSession("v6", "fd00::1", 64501, 64500, "fd00::11", "192.168.200.11")]
    assert bgp.routes == {BGPRoute("router", "192.168.197.10/32")}  # not 10.0.0.5 (layer 2)
    assert logs == []


def test_etp_local_without_an_endpoint_here_is_withdrawn() -> None:
    s, bgp, _, _ = side()
    state = read_state({"data": {"state.yaml": STATE % ""}})
    s.sync(SERVICES, SLICES, NODES, state, T0)
    assert bgp.routes
    local = [svc("web", "192.168.197.10", "Local"), SERVICES[1]]
    s.sync(local, SLICES, NODES, state, T0)
    assert bgp.routes == set()


def test_the_password_comes_from_its_secret_and_is_read_again_after_a_minute() -> None:
    secret = {"password": base64.b64encode(b"s3cret").decode()}
    s, bgp, kube, logs = side({"router-bgp": secret})
    state = read_state({"data": {"state.yaml": STATE % ", passwordSecret: router-bgp"}})
    s.sync(SERVICES, SLICES, NODES, state, T0)
    assert bgp.sessions[0].password == "s3cret"
    s.sync(SERVICES, SLICES, NODES, state, T0 + timedelta(seconds=30))
    assert kube.gets == 1
    s.sync(SERVICES, SLICES, NODES, state, T0 + timedelta(seconds=61))
    assert kube.gets == 2
    assert logs == []
    # Read once, never shown: not in a session's repr, and redacted from any message.
    assert "s3cret" not in repr(bgp.sessions[0])
    assert redact("md5 s3cret refused") == "md5 *** refused"


def test_a_missing_secret_leaves_the_peer_out_and_says_so_once() -> None:
    s, bgp, _, logs = side()
    state = read_state({"data": {"state.yaml": STATE % ", passwordSecret: router-bgp"}})
    for seconds in (0, 1, 2):
        s.sync(SERVICES, SLICES, NODES, state, T0 + timedelta(seconds=seconds))
    assert [x.peer for x in bgp.sessions] == ["v6"]
    assert logs == ["BGP peer router: cannot read its password from Secret "
                    "kube-system/router-bgp, no session: Secret kube-system/router-bgp not "
                    "found"]


def test_a_node_without_an_address_of_the_family_opens_no_session_there() -> None:
    s, bgp, _, logs = side()
    state = read_state({"data": {"state.yaml": STATE % ""}})
    s.sync(SERVICES, SLICES, [node("n1", "192.168.200.11")], state, T0)
    assert [x.peer for x in bgp.sessions] == ["router"]
    assert logs == ["BGP peer v6: node n1 has no IPv6 address to peer from"]


def test_errors_of_the_bgp_speaker_are_logged_once_and_tried_again_every_sync() -> None:
    s, bgp, _, logs = side()
    state = read_state({"data": {"state.yaml": STATE % ""}})
    bgp.fail = "ExaBGP is not installed"
    s.sync(SERVICES, SLICES, NODES, state, T0)
    s.sync(SERVICES, SLICES, NODES, state, T0)
    assert logs == ["BGP: ExaBGP is not installed"]
    bgp.fail = None
    s.sync(SERVICES, SLICES, NODES, state, T0)
    assert bgp.routes and bgp.configured == 1
    s.stop()
    assert bgp.closed


def test_without_exabgp_the_speaker_logs_how_to_get_it_and_without_peers_needs_none(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The real adapter on a Python where ``exabgp`` cannot be imported: the log names the fix
    (the hint used to be dropped), and following its second half, a state with no BGP peers,
    starts nothing and logs nothing more."""
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "exabgp" else find_spec(name, *a))
    logs: list[str] = []
    exabgp = ExaBGP(log=logs.append)
    s = BGPSide("n1", exabgp, FakeKube({}), log=logs.append)  # type: ignore[arg-type]
    s.sync(SERVICES, SLICES, NODES, read_state({"data": {"state.yaml": STATE % ""}}), T0)
    with pytest.raises(NotFoundError) as caught:
        ExaBGP(log=[].append).configure([BGPSession("router", "192.168.200.1", 64501, 64500,
                                                    "192.168.200.11", "192.168.200.11")])
    assert caught.value.hint == "pip install exabgp (lbctl depends on it), or remove the BGP peers"
    assert logs[-1] == (f"BGP: ExaBGP is not installed: lbctl speaks BGP through it (hint: "
                        f"{caught.value.hint})")
    said = len(logs)
    no_peers = STATE.split("peers:")[0] + "allocations:" + STATE.split("allocations:")[1]
    s.sync(SERVICES, SLICES, NODES, read_state({"data": {"state.yaml": no_peers}}), T0)
    assert logs[said:] == [] and exabgp.status() == BGPStatus({}, 0)
    s.stop()


def test_the_lease_reports_sessions_and_routes_and_status_reads_them_back() -> None:
    assert _bgp_text(None) is None
    assert _bgp_text(BGPStatus({}, 0)) is None
    text = _bgp_text(BGPStatus({"a": "established", "b": "connecting"}, 7))
    assert text == "1/2 7"
    lease = {"metadata": {"annotations": {BGP_ANNOTATION: text}}}
    assert bgp_of(lease) == BGPSummary(sessions=2, established=1, routes=7)
    assert bgp_of({"metadata": {"annotations": {BGP_ANNOTATION: "nonsense"}}}) is None
    assert bgp_of({"metadata": {}}) is None
