"""A lost state (:mod:`lbctl.core.lost`): which Services show addresses no state records, and
when a new state would start over them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lbctl.core import lost
from lbctl.core.lost import Stranded
from lbctl.core.state import Allocation
from lbctl.errors import RefusedError
from tests.core.support import pool, state_of
from tests.core.test_used_addresses import svc

SERVICES = [
    svc("web", ips=("192.0.2.10",)),
    svc("db", ips=("192.0.2.11", "2001:db8::11")),
    svc("pending"),
    svc("internal", ips=("192.0.2.12",), type="ClusterIP"),
    svc("theirs", ips=("192.0.2.13",), loadBalancerClass="example.com/other"),
    svc("named", ips=("192.0.2.14",), loadBalancerClass="lbctl.io/lbctl"),
]


def test_without_a_state_every_service_of_ours_that_shows_an_address_is_stranded() -> None:
    assert lost.stranded(SERVICES) == [
        Stranded(("shop", "db"), ("192.0.2.11", "2001:db8::11")),
        Stranded(("shop", "named"), ("192.0.2.14",)),
        Stranded(("shop", "web"), ("192.0.2.10",)),
    ]


def test_with_a_state_only_unrecorded_addresses_of_its_pools_count() -> None:
    state = state_of(pool("default", "192.0.2.10-192.0.2.19"), allocations=[
        Allocation("shop", "web", ("192.0.2.10",), "default")])
    assert lost.stranded(SERVICES, state) == [
        Stranded(("shop", "db"), ("192.0.2.11",)),  # its IPv6 address is in no pool
        Stranded(("shop", "named"), ("192.0.2.14",)),
    ]
    assert lost.stranded(SERVICES, state_of(pool("other", "198.51.100.0/24"))) == []


def test_a_status_that_is_no_address_is_in_no_pool() -> None:
    state = state_of(pool("default", "192.0.2.10-192.0.2.19"))
    assert lost.stranded([svc("odd", ips=("not-an-ip",))], state) == []
    assert lost.stranded([svc("odd", ips=("not-an-ip",))]) == []


def node(name: str, *addresses: tuple[str, str]) -> dict[str, object]:
    return {"metadata": {"name": name},
            "status": {"addresses": [{"type": t, "address": a} for t, a in addresses]}}


def test_without_a_state_addresses_lbctl_never_hands_out_are_someone_elses() -> None:
    """k3s ServiceLB publishes the nodes' addresses (127.0.0.1 when rootless); a pool may hold
    neither, so a Service showing them is no sign of a lost state."""
    nodes = [node("n1", ("InternalIP", "10.0.0.11"), ("Hostname", "n1")),
             node("n2", ("InternalIP", "10.0.0.12"), ("ExternalIP", "2001:DB8::12"))]
    services = [svc("traefik", "kube-system", ips=("10.0.0.11", "10.0.0.12")),
                svc("rootless", ips=("127.0.0.1",)),
                svc("v6", ips=("2001:db8::12", "2001:db8::99")),
                *SERVICES]
    assert lost.stranded(services, nodes=nodes) == [
        Stranded(("shop", "db"), ("192.0.2.11", "2001:db8::11")),
        Stranded(("shop", "named"), ("192.0.2.14",)),
        Stranded(("shop", "v6"), ("2001:db8::99",)),
        Stranded(("shop", "web"), ("192.0.2.10",)),
    ]
    assert lost.stranded(services[:3], nodes=nodes[:1]) == [
        Stranded(("kube-system", "traefik"), ("10.0.0.12",)),
        Stranded(("shop", "v6"), ("2001:db8::12", "2001:db8::99"))]


def test_with_no_state_the_nodes_are_asked_for_only_when_they_may_explain_an_address(
        ) -> None:
    """One rule for adopt and the controller: the Nodes are asked for (a LIST, or the
    controller's cache) only when a Service shows an address the Nodes known so far do not
    explain, given those Services (adopt names them when it may not list the Nodes); their
    answer decides, None keeps the known ones."""
    n1 = node("n1", ("InternalIP", "10.0.0.11"))
    n2 = node("n2", ("InternalIP", "10.0.0.12"))
    traefik = svc("traefik", "kube-system", ips=("10.0.0.11", "10.0.0.12"))
    asked: list[list[Stranded]] = []

    def nodes(answer: list[dict[str, object]] | None
              ) -> Callable[[list[Stranded]], list[dict[str, object]] | None]:
        def listing(found: list[Stranded]) -> list[dict[str, object]] | None:
            asked.append(found)
            return answer
        return listing

    assert lost.stranded_without_state([svc("pending")], nodes([n1])) == []
    assert lost.stranded_without_state([traefik], nodes([n1, n2]), known=[n1, n2]) == []
    assert asked == []  # (no address shown; every one explained by the known Nodes)
    assert lost.stranded_without_state([traefik], nodes([n1, n2]), known=[n1]) == []
    assert asked == [[Stranded(("kube-system", "traefik"), ("10.0.0.12",))]]
    assert lost.stranded_without_state([traefik], nodes(None), known=[n1]) == [
        Stranded(("kube-system", "traefik"), ("10.0.0.12",))]
    assert lost.stranded_without_state([traefik], nodes([])) == [
        Stranded(("kube-system", "traefik"), ("10.0.0.11", "10.0.0.12"))]


def test_the_messages_name_three_services_and_count_the_rest() -> None:
    found = [Stranded(("shop", f"s{i}"), (f"192.0.2.{i}",)) for i in range(1, 6)]
    error = lost.missing("ConfigMap kube-system/lbctl-state", found)
    assert error.message == (
        "ConfigMap kube-system/lbctl-state is missing, but 5 LoadBalancer Services show "
        "addresses no state records: shop/s1 (192.0.2.1), shop/s2 (192.0.2.2), shop/s3 "
        "(192.0.2.3) and 2 more; the state was deleted or lost (or another load balancer "
        "published them), and lbctl allocates nothing until it is back")
    assert error.hint == (
        "restore the state from a backup (kubectl apply -f BACKUP.yaml); or start a new one "
        "(lbctl pool add NAME ADDRESS... --new-state, or lbctl pool import from the load "
        "balancer that published them) and record what the Services show: "
        "lbctl adopt --all -A")
    assert lost.named(found[:1]) == "shop/s1 (192.0.2.1)"


def test_a_new_state_is_refused_only_over_addresses_of_its_pools() -> None:
    new = state_of(pool("default", "192.0.2.10-192.0.2.19"))
    with pytest.raises(RefusedError) as refused:
        lost.refuse_new_state("ConfigMap kube-system/lbctl-state", new, [SERVICES[0]])
    assert refused.value.message == (
        "ConfigMap kube-system/lbctl-state does not exist, and 1 LoadBalancer Service shows "
        "addresses of the pools it would hold without recording them: shop/web (192.0.2.10); "
        "the state may have been deleted or lost (or another load balancer published them)")
    lost.refuse_new_state("x", state_of(pool("other", "198.51.100.0/24")), SERVICES)
    recorded = state_of(pool("default", "192.0.2.10-192.0.2.19"), allocations=[
        Allocation("shop", "web", ("192.0.2.10",), "default")])
    lost.refuse_new_state("x", recorded, [SERVICES[0]])  # (what an import that adopts makes)
