"""Calico next to lbctl: peers in conflict, serviceLoadBalancerIPs coverage, and the exported
BGPConfiguration."""

from __future__ import annotations

from typing import Any

import pytest

from lbctl.core import calico
from lbctl.core.bgp import Peer
from lbctl.core.state import State
from tests.core.support import pool

ROUTER = Peer("router", "192.168.200.1", 64501, 64500)


def bgppeer(name: str, peer_ip: str, api: str = "crd.projectcalico.org/v1") -> dict[str, Any]:
    return {"apiVersion": api, "kind": "BGPPeer", "metadata": {"name": name},
            "spec": {"peerIP": peer_ip, "asNumber": 64501}}


def configuration(*cidrs: str, api: str = "projectcalico.org/v3", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": api, "kind": "BGPConfiguration", "metadata": {"name": "default"},
            "spec": {**spec, "serviceLoadBalancerIPs": [{"cidr": c} for c in cidrs]}}


@pytest.mark.parametrize(("text", "address"), [
    ("192.168.200.1", "192.168.200.1"), ("192.168.200.1:1179", "192.168.200.1"),
    ("[2001:DB8::1]:179", "2001:db8::1"), ("2001:db8::1", "2001:db8::1"), ("router", None),
])
def test_peer_addresses_in_calicos_spellings(text: str, address: str | None) -> None:
    assert calico.peer_address(text) == address


def test_a_router_both_peer_with_is_a_conflict() -> None:
    state = State(peers={"router": ROUTER, "other": Peer("other", "10.0.0.1", 1, 2)})
    found = calico.conflicts(state, [bgppeer("tor", "192.168.200.1:179"),
                                     bgppeer("rr", "10.9.9.9", api="projectcalico.org/v3"),
                                     {"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
                                      "metadata": {"name": "x"},
                                      "spec": {"peerIP": "10.0.0.1"}}])
    assert [(c.peer.name, c.calico.name) for c in found] == [("router", "tor")]
    assert found[0].message == (
        "lbctl peer router (192.168.200.1) is Calico BGPPeer tor's router too: each node would "
        "open two BGP sessions to it, Calico's and lbctl's, and the router keeps one per "
        "neighbour")


def test_coverage_of_the_pools() -> None:
    pools = [pool("a", "10.0.0.0/24"), pool("b", "10.1.0.10-10.1.0.20", "10.2.0.0/30")]
    assert calico.uncovered(pools, None) == [(pools[0], ["10.0.0.0/24"]),
                                             (pools[1], ["10.1.0.10-10.1.0.20", "10.2.0.0/30"])]
    config = configuration("10.0.0.0/16", "10.1.0.0/28", "10.1.0.16/28", "bogus")
    assert calico.uncovered(pools, config) == [(pools[1], ["10.2.0.0/30"])]


def test_export_alone_and_merged_with_the_clusters() -> None:
    pools = [pool("a", "10.0.0.0/24"), pool("b", "10.1.0.1-10.1.0.6")]
    document, warnings = calico.to_calico(pools)
    assert document == configuration("10.0.0.0/24", "10.1.0.1/32", "10.1.0.2/31",
                                     "10.1.0.4/31", "10.1.0.6/32")
    assert warnings[0].startswith("BGPConfiguration default holds only serviceLoadBalancerIPs")
    current = configuration("10.0.0.0/25", "172.16.0.0/24", api="crd.projectcalico.org/v1",
                            asNumber=64500, nodeToNodeMeshEnabled=False)
    merged, warnings = calico.to_calico(pools[:1], current)
    assert merged["spec"] == {"asNumber": 64500, "nodeToNodeMeshEnabled": False,
                              "serviceLoadBalancerIPs": [{"cidr": "172.16.0.0/24"},
                                                         {"cidr": "10.0.0.0/24"}]}
    assert warnings == ["Calico's serviceLoadBalancerIPs outside lbctl's pools are kept: "
                        "172.16.0.0/24"]
    assert calico.uncovered(pools[:1], merged) == []


def test_calico_node_and_configuration_are_found() -> None:
    workloads = [{"kind": "DaemonSet", "metadata": {"name": "calico-node",
                                                    "namespace": "calico-system"}}]
    assert calico.calico_node(workloads) is workloads[0]
    assert calico.calico_node([]) is None
    assert calico.configuration([configuration("10.0.0.0/24")]) is not None
    assert calico.configuration([bgppeer("tor", "10.0.0.1")]) is None


@pytest.mark.parametrize("broken", [
    {"spec": "oops"}, {"spec": ["peerIP"]}, {"metadata": "tor", "spec": None},
    {"spec": {"serviceLoadBalancerIPs": "192.168.197.0/24"}},
    {"spec": {"serviceLoadBalancerIPs": ["192.168.197.0/24", None, 7]}},
])
def test_calico_objects_of_another_shape_hold_nothing(broken: dict[str, Any]) -> None:
    """A manifest given with -f is not checked by an API server: a spec, metadata or list
    item of another shape reads as empty (doctor reports what is missing; it never crashes)."""
    state = State(pools={"routed": pool("routed", "192.168.197.0/24")}, peers={"router": ROUTER})
    objects = [{"apiVersion": "crd.projectcalico.org/v1", "kind": kind,
                "metadata": {"name": "default"}, **broken}
               for kind in ("BGPPeer", "BGPConfiguration")]
    assert calico.conflicts(state, objects) == []
    config = calico.configuration(objects)
    assert calico.announced(config) == []
    assert [(p.name, missing) for p, missing in calico.uncovered(state.pools.values(), config)
            ] == [("routed", ["192.168.197.0/24"])]
    exported, _ = calico.to_calico(list(state.pools.values()), config)
    assert exported["spec"]["serviceLoadBalancerIPs"] == [{"cidr": "192.168.197.0/24"}]
