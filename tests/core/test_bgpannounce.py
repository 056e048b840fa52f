"""What a node announces over BGP (lbctl.core.bgpannounce): sessions per node, routes per
eligible node (every one, no election), ETP Local, aggregation, attributes per peer."""

from __future__ import annotations

from typing import Any

import pytest

from lbctl.core import bgpannounce as ann
from lbctl.core import ownership as own
from lbctl.core.bgp import BGP, BOTH, LAYER2, Advertisement, Peer
from lbctl.core.ownership import EXCLUDE_LABEL, Candidate, NodeFacts
from lbctl.core.state import Allocation, Pool, State
from lbctl.nodeports import BGPRoute

N1 = NodeFacts("n1", {"rack": "a"})
N2 = NodeFacts("n2", {"rack": "b"})
EDGE = Peer("edge", "192.0.2.1", 64501, 64500)
CORE = Peer("core", "192.0.2.2", 64500, 64500, node_selectors=("rack=a",))
EDGE6 = Peer("edge6", "2001:db8::1", 64501, 64500)


def state(*, announce: str = BGP, bgp: Advertisement = Advertisement(),
          peers: tuple[Peer, ...] = (EDGE,), node_selectors: tuple[str, ...] = ()) -> State:
    pools = {
        "web": Pool("web", ("198.51.100.0/28", "2001:db8:5::/124"), announce=announce, bgp=bgp,
                    node_selectors=node_selectors),
        "lan": Pool("lan", ("203.0.113.0/28",)),  # layer 2
    }
    return State(pools=pools, peers={p.name: p for p in peers})


def cand(name: str, *ips: str, pool: str = "web", local: bool = False,
         endpoints: tuple[str, ...] = ("n1", "n2")) -> Candidate:
    return Candidate(("shop", name), ips, pool, local, frozenset(endpoints))


def prefixes(routes: set[BGPRoute], peer: str = "edge") -> list[str]:
    return sorted(r.prefix for r in routes if r.peer == peer)


def test_every_eligible_node_announces_every_address_as_a_host_route() -> None:
    s = state()
    candidates = [cand("a", "198.51.100.1"), cand("b", "198.51.100.2")]
    for node in (N1, N2):  # no election: both nodes announce both (the router does ECMP)
        routes = ann.routes(s, candidates, node)
        assert routes == {BGPRoute("edge", "198.51.100.1/32"),
                          BGPRoute("edge", "198.51.100.2/32")}


def test_sessions_follow_the_peers_node_selectors_and_unfit_nodes_open_none() -> None:
    s = state(peers=(EDGE, CORE))
    assert [p.name for p in ann.sessions(s, N1)] == ["core", "edge"]
    assert [p.name for p in ann.sessions(s, N2)] == ["edge"]
    assert ann.sessions(s, NodeFacts("n3", {EXCLUDE_LABEL: ""})) == []
    assert ann.sessions(s, None) == []  # no Node object
    routes = ann.routes(s, [cand("a", "198.51.100.1")], N2)
    assert {r.peer for r in routes} == {"edge"}


@pytest.mark.parametrize(("options", "n1", "n2"), [
    ({}, True, True),
    ({"local": True, "endpoints": ("n2",)}, False, True),  # ETP Local: endpoint nodes only
    ({"local": True, "endpoints": ("n1", "n2")}, True, True),
    ({"local": False, "endpoints": ("n2",)}, True, True),  # Cluster: any node
])
def test_external_traffic_policy_local_announces_only_from_endpoint_nodes(
        options: dict[str, Any], n1: bool, n2: bool) -> None:
    s = state()
    candidates = [cand("a", "198.51.100.1", **options)]
    assert bool(ann.routes(s, candidates, N1)) is n1
    assert bool(ann.routes(s, candidates, N2)) is n2


def test_the_pools_node_selectors_and_failing_health_checks_exclude_a_node() -> None:
    s = state(node_selectors=("rack=b",))
    candidates = [cand("a", "198.51.100.1")]
    assert ann.routes(s, candidates, N1) == set()
    assert ann.routes(s, candidates, N2) == {BGPRoute("edge", "198.51.100.1/32")}
    assert ann.routes(s, candidates, N2, {("shop", "a"): {"n2"}}) == set()


def test_only_bgp_and_both_pools_are_announced_by_bgp_and_only_layer2_and_both_by_arp() -> None:
    services = [
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": name, "namespace": "shop"},
         "spec": {"type": "LoadBalancer"},
         "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}
        for name, ip in (("a", "198.51.100.1"), ("b", "203.0.113.1"))]
    endpoints = {("shop", "a"): {"n1"}, ("shop", "b"): {"n1"}}
    for mode, bgp, arp in ((BGP, ["a"], ["b"]), (BOTH, ["a"], ["a", "b"]),
                           (LAYER2, [], ["a", "b"])):
        s = state(announce=mode)
        s = State(pools=s.pools, peers=s.peers, allocations={
            ("shop", "a"): Allocation("shop", "a", ("198.51.100.1",), "web"),
            ("shop", "b"): Allocation("shop", "b", ("203.0.113.1",), "lan")})
        by_bgp = own.announced(s, services, endpoints, mode=BGP)
        by_arp = own.announced(s, services, endpoints)
        assert [c.key[1] for c in by_bgp] == bgp, mode
        assert [c.key[1] for c in by_arp] == arp, mode


def test_aggregation_collapses_addresses_into_the_pools_prefix() -> None:
    s = state(bgp=Advertisement(aggregation_length=28, aggregation_length_v6=120))
    candidates = [cand("a", "198.51.100.1", "2001:db8:5::3"), cand("b", "198.51.100.9")]
    routes = ann.routes(s, candidates, N1)
    assert prefixes(routes) == ["198.51.100.0/28"]  # one prefix for both addresses


def test_addresses_go_to_peers_of_their_family_only() -> None:
    s = state(peers=(EDGE, EDGE6))
    routes = ann.routes(s, [cand("a", "198.51.100.1", "2001:db8:5::3")], N1)
    assert prefixes(routes, "edge") == ["198.51.100.1/32"]
    assert prefixes(routes, "edge6") == ["2001:db8:5::3/128"]


def test_attributes_peers_and_local_preference_to_ibgp_peers_only() -> None:
    advertisement = Advertisement(local_pref=150, communities=("64500:7", "no-export"),
                                  peers=("core",))
    s = state(bgp=advertisement, peers=(EDGE, CORE))
    routes = ann.routes(s, [cand("a", "198.51.100.1")], N1)
    assert routes == {BGPRoute("core", "198.51.100.1/32", 150, ("64500:7", "65535:65281"))}
    s = state(bgp=Advertisement(local_pref=150), peers=(EDGE,))
    assert ann.routes(s, [cand("a", "198.51.100.1")], N1) == {
        BGPRoute("edge", "198.51.100.1/32")}  # eBGP: no local preference


def test_no_peers_no_routes_and_shared_addresses_need_every_service_eligible() -> None:
    assert ann.routes(state(peers=()), [cand("a", "198.51.100.1")], N1) == set()
    s = state()
    shared = [cand("a", "198.51.100.1", local=True, endpoints=("n1",)),
              cand("b", "198.51.100.1", local=True, endpoints=("n2",))]
    assert ann.routes(s, shared, N1) == set()
    assert ann.routes(s, shared, N2) == set()
