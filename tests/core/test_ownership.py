"""The layer 2 ownership rule: one owner per address, stable, computed alike everywhere."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from lbctl.core import ownership as own
from lbctl.core.ownership import Candidate, NodeFacts
from lbctl.core.state import Allocation, Pool, State

NODES = {name: NodeFacts(name, {"zone": zone})
         for name, zone in (("n1", "a"), ("n2", "a"), ("n3", "b"))}
LIVE = ("n1", "n2", "n3")


def hashed_order(ip: str, nodes: tuple[str, ...] = LIVE) -> list[str]:
    """MetalLB's rule written out independently: sort by the SHA-256 of node#ip."""
    return sorted(nodes, key=lambda n: hashlib.sha256(f"{n}#{ip}".encode()).hexdigest())


def cand(name: str, *ips: str, pool: str = "p", local: bool = False,
         endpoints: tuple[str, ...] = LIVE, interfaces: tuple[str, ...] = ()) -> Candidate:
    return Candidate(("ns", name), ips, pool, local, frozenset(endpoints), interfaces)


def test_owner_is_the_lowest_hash_of_node_and_first_address() -> None:
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "2001:db8::5"):
        result = own.owners([cand("web", ip)], NODES, LIVE)
        group = result.groups[0]
        assert group.ranking == tuple(hashed_order(ip))
        assert result.owner_of(ip) == hashed_order(ip)[0]
        assert group.reason == ""


def test_every_address_of_a_service_goes_to_the_owner_of_its_first() -> None:
    result = own.owners([cand("web", "10.0.0.7", "2001:db8::7")], NODES, LIVE)
    first = hashed_order("10.0.0.7")[0]
    assert result.owner_of("10.0.0.7") == result.owner_of("2001:db8::7") == first
    assert set(result.owned_by(first)) == {"10.0.0.7", "2001:db8::7"}


def test_services_sharing_an_address_share_the_owner_keyed_on_the_lowest_first_address() -> None:
    # a: [10.0.0.9, fd::1]; b: [fd::1] alone would hash on fd::1; together on 10.0.0.9
    a = cand("a", "10.0.0.9", "fd00::1")
    b = cand("b", "fd00::1")
    c = cand("c", "10.0.0.20")
    result = own.owners([b, c, a], NODES, LIVE)
    assert len(result.groups) == 2
    shared = result.group_of(("ns", "b"))
    assert shared is result.group_of(("ns", "a"))
    assert shared is not None and shared.key_ip == "10.0.0.9"
    assert shared.services == (("ns", "a"), ("ns", "b"))
    assert shared.ips == ("10.0.0.9", "fd00::1")
    assert shared.owner == hashed_order("10.0.0.9")[0]


def test_only_live_speakers_are_candidates_and_a_dead_owner_moves_only_its_addresses() -> None:
    services = [cand(f"s{i}", f"10.0.0.{i}") for i in range(1, 60)]
    before = own.owners(services, NODES, LIVE)
    dead = before.owner_of("10.0.0.1")
    assert dead is not None
    after = own.owners(services, NODES, [n for n in LIVE if n != dead])
    for group in before.groups:
        ip = group.key_ip
        if group.owner == dead:
            assert after.owner_of(ip) == hashed_order(ip)[1]
        else:
            assert after.owner_of(ip) == group.owner  # nothing else moves


def test_no_live_speaker_means_no_owner() -> None:
    result = own.owners([cand("web", "10.0.0.1")], NODES, [])
    assert result.owner_of("10.0.0.1") is None
    assert result.groups[0].reason == own.NO_SPEAKER


@pytest.mark.parametrize(("facts", "why"), [
    (NodeFacts("n1", {own.EXCLUDE_LABEL: ""}), own.EXCLUDED),
    (NodeFacts("n1", {}, network_unavailable=True), own.NETWORK_UNAVAILABLE),
    (None, own.NO_NODE),
])
def test_unfit_nodes_never_announce(facts: NodeFacts | None, why: str) -> None:
    nodes = dict(NODES)
    if facts is None:
        del nodes["n1"]
    else:
        nodes["n1"] = facts
    result = own.owners([cand(f"s{i}", f"10.0.1.{i}") for i in range(40)], nodes, LIVE)
    assert all(g.owner in ("n2", "n3") for g in result.groups)
    assert all(g.rejected == {"n1": why} for g in result.groups)


def test_pool_node_selectors_restrict_candidates() -> None:
    pools = {"edge": Pool("edge", ("10.0.0.0/24",), node_selectors=("zone=b",)),
             "any": Pool("any", ("10.0.1.0/24",))}
    result = own.owners([cand("e", "10.0.0.1", pool="edge"), cand("x", "10.0.1.1", pool="any")],
                        NODES, LIVE, pools)
    edge = result.group_of(("ns", "e"))
    assert edge is not None and edge.ranking == ("n3",)
    assert edge.rejected == {"n1": own.NOT_SELECTED, "n2": own.NOT_SELECTED}
    assert result.owner_of("10.0.1.1") == hashed_order("10.0.1.1")[0]


def test_selectors_are_alternatives() -> None:
    pools = {"p": Pool("p", ("10.0.0.0/24",), node_selectors=("zone=b", "kubernetes.io/os"))}
    nodes = {**NODES, "n1": NodeFacts("n1", {"kubernetes.io/os": "linux"})}
    group = own.owners([cand("e", "10.0.0.1")], nodes, LIVE, pools).groups[0]
    assert set(group.ranking) == {"n1", "n3"}


@pytest.mark.parametrize(("present", "owner_interfaces"), [
    ({"n1": {"eth0"}, "n2": {"eth0", "eth1"}, "n3": {"eth1", "bond0"}}, None),
    ({"n1": {"eth0"}, "n2": {"eth0"}, "n3": {"bond0"}}, ()),  # nobody has eth1
])
def test_pool_interfaces_leave_out_nodes_without_one(
        present: dict[str, set[str]], owner_interfaces: tuple[str, ...] | None) -> None:
    ip = "10.0.0.1"
    wanted = ("eth1", "bond0")
    result = own.owners([cand("web", ip, interfaces=wanted)], NODES, LIVE,
                        interfaces=present)
    group = result.groups[0]
    having = [n for n in hashed_order(ip) if set(wanted) & present[n]]
    assert group.ranking == tuple(having)
    assert group.rejected == {n: own.NO_INTERFACE for n in LIVE if n not in having}
    if not having:
        assert group.owner is None
        assert group.reason == f"no eligible node: {own.NO_INTERFACE}"
        assert group.interfaces == {}
    else:  # the owner answers on the pool's interfaces it has, in the pool's order
        assert group.owner == having[0]
        assert group.interfaces == {ip: own.interfaces_on(wanted, present[having[0]])}
        assert group.interfaces[ip] == tuple(i for i in wanted if i in present[having[0]])


def test_interfaces_matter_only_for_pools_that_name_some() -> None:
    plain = own.owners([cand("web", "10.0.0.1")], NODES, LIVE, interfaces={})
    assert plain.groups[0].ranking == tuple(hashed_order("10.0.0.1"))
    assert plain.groups[0].interfaces == {}
    # a node that publishes nothing (an older speaker) holds no interface
    named = own.owners([cand("web", "10.0.0.1", interfaces=("eth1",))], NODES, LIVE,
                       interfaces={"n2": {"eth1"}})
    assert (named.owner_of("10.0.0.1"), named.groups[0].interfaces) == (
        "n2", {"10.0.0.1": ("eth1",)})


def test_every_address_of_a_group_is_answered_on_the_owners_interfaces() -> None:
    a = cand("a", "10.0.0.9", "fd00::9", interfaces=("eth1", "eth2"))
    b = cand("b", "fd00::9", interfaces=("eth1", "eth2"))  # shares a's IPv6 address
    present = {"n1": {"eth0"}, "n2": {"eth2"}, "n3": {"eth1", "eth2"}}
    group = own.owners([a, b], NODES, LIVE, interfaces=present).groups[0]
    assert group.services == (("ns", "a"), ("ns", "b"))
    assert group.rejected == {"n1": own.NO_INTERFACE}
    where = own.interfaces_on(("eth1", "eth2"), present[str(group.owner)])
    assert group.interfaces == {"10.0.0.9": where, "fd00::9": where}


def test_local_traffic_policy_follows_endpoints() -> None:
    result = own.owners([cand("web", "10.0.0.1", local=True, endpoints=("n2",))], NODES, LIVE)
    group = result.groups[0]
    assert (group.owner, group.ranking) == ("n2", ("n2",))
    assert group.rejected == {"n1": own.NO_LOCAL_ENDPOINT, "n3": own.NO_LOCAL_ENDPOINT}
    # Cluster policy: endpoints anywhere let every node announce
    assert own.owners([cand("web", "10.0.0.1", endpoints=("n2",))], NODES, LIVE
                      ).groups[0].ranking == tuple(hashed_order("10.0.0.1"))


def test_a_failing_health_check_leaves_the_candidate_set() -> None:
    ip = "10.0.0.1"
    first, second, _ = hashed_order(ip)
    result = own.owners([cand("web", ip)], NODES, LIVE, unhealthy={("ns", "web"): {first}})
    assert result.owner_of(ip) == second
    assert result.groups[0].rejected == {first: own.UNHEALTHY}


def test_no_eligible_node_gives_the_reasons() -> None:
    result = own.owners([cand("web", "10.0.0.1", local=True, endpoints=("n9",))], NODES, LIVE)
    assert result.groups[0].reason == f"no eligible node: {own.NO_LOCAL_ENDPOINT}"


def test_deterministic_whatever_the_input_order() -> None:
    services = [cand(f"s{i}", f"10.0.2.{i}") for i in range(30)]
    one = own.owners(services, NODES, ["n3", "n1", "n2"])
    two = own.owners(list(reversed(services)), NODES, ["n2", "n3", "n1"])
    assert {g.key_ip: g.owner for g in one.groups} == {g.key_ip: g.owner for g in two.groups}


def test_load_spreads_over_nodes() -> None:
    result = own.owners([cand(f"s{i}", f"10.1.{i // 250}.{i % 250}") for i in range(900)],
                        NODES, LIVE)
    counts = {n: len(result.owned_by(n)) for n in LIVE}
    assert min(counts.values()) > 200, counts


# --------------------------------------------------------------------------- from API objects


def svc(name: str, ips: list[str], *, policy: str = "Cluster", cls: str | None = None,
        annotations: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "LoadBalancer", "externalTrafficPolicy": policy}
    if cls:
        spec["loadBalancerClass"] = cls
    return {"metadata": {"namespace": "ns", "name": name, "annotations": annotations or {}},
            "spec": spec,
            "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}}


def test_announced_needs_recorded_published_and_an_endpoint() -> None:
    state = State(
        pools={"p": Pool("p", ("10.0.0.0/24",))},
        allocations={
            ("ns", n): Allocation("ns", n, ips, "p")
            for n, ips in (("ok", ("10.0.0.1", "10.0.0.2")), ("unpublished", ("10.0.0.3",)),
                           ("no-endpoints", ("10.0.0.4",)), ("local", ("10.0.0.5",)),
                           ("foreign", ("10.0.0.6",)))
        },
    )
    services = [
        svc("ok", ["10.0.0.2", "10.0.0.1", "10.0.0.99"]),  # 10.0.0.99: published, not recorded
        svc("unpublished", []),
        svc("no-endpoints", ["10.0.0.4"]),
        svc("local", ["10.0.0.5"], policy="Local"),
        svc("foreign", ["10.0.0.6"], cls="example.com/other"),
        svc("unrecorded", ["10.0.0.7"]),
    ]
    endpoints = {("ns", n): ("n1",) for n in ("ok", "unpublished", "local", "foreign",
                                               "unrecorded")}
    found = own.announced(state, services, endpoints)
    assert found == [
        Candidate(("ns", "ok"), ("10.0.0.1", "10.0.0.2"), "p", False, frozenset({"n1"})),
        Candidate(("ns", "local"), ("10.0.0.5",), "p", True, frozenset({"n1"})),
    ]
    named = State(pools={"p": Pool("p", ("10.0.0.0/24",), interfaces=("eth1",))},
                  allocations=state.allocations)
    assert [c.interfaces for c in own.announced(named, services, endpoints)] == [("eth1",)] * 2


@pytest.mark.parametrize(("mode", "answered"), [("layer2", True), ("both", True),
                                                  ("bgp", False)])
def test_only_pools_announced_in_layer2_are_answered(mode: str, answered: bool) -> None:
    state = State(pools={"p": Pool("p", ("10.0.0.0/24",), announce=mode)},
                  allocations={("ns", "web"): Allocation("ns", "web", ("10.0.0.1",), "p")})
    found = own.announced(state, [svc("web", ["10.0.0.1"])], {("ns", "web"): ("n1",)})
    assert [c.key for c in found] == ([("ns", "web")] if answered else [])


def test_node_facts_from_a_node_object() -> None:
    node = {"metadata": {"name": "n1", "labels": {"a": "b"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"},
                                      {"type": "NetworkUnavailable", "status": "True"}]}}
    assert own.node_facts(node) == NodeFacts("n1", {"a": "b"}, True)
    node["status"]["conditions"][1]["status"] = "False"
    assert own.node_facts(node).network_unavailable is False


@pytest.mark.parametrize(("text", "check", "problem"), [
    ("tcp", own.HealthCheck("tcp"), False),
    ("http:/healthz", own.HealthCheck("http", "/healthz"), False),
    (" http:/ ", own.HealthCheck("http", "/"), False),
    ("udp", None, True),
    ("http:healthz", None, True),
    (None, None, False),
])
def test_health_check_annotation(text: str | None, check: own.HealthCheck | None,
                                 problem: bool) -> None:
    annotations = {} if text is None else {own.HEALTH_CHECK_ANNOTATION: text}
    service = svc("web", [], annotations=annotations)
    assert own.health_check(service) == check
    assert bool(own.health_check_problem(service)) is problem
