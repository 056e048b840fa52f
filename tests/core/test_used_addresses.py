"""The rules written once in the core: used addresses (state, reservations, holds and every
Service's status), ``allocate_many``, the Services ``assign --all`` picks, and orphans."""

from __future__ import annotations

from typing import Any

import pytest

from lbctl.core import service
from lbctl.core.addresses import IPV4, IPV6
from lbctl.core.allocator import (
    EXHAUSTED,
    PUBLISHED,
    SHARING,
    WRONG_FAMILY,
    AllocationError,
    Allocator,
    Granted,
    Request,
    allocate_many,
)
from lbctl.core.state import Allocation
from lbctl.errors import UsageError
from tests.core.support import pool, refusal, state_of

POOL = pool("default", "10.55.0.0-10.55.0.3")


def req(name: str, namespace: str = "shop", **fields: Any) -> Request:
    return Request(namespace, name, **fields)


def svc(name: str, namespace: str = "shop", *, ips: tuple[str, ...] = (),
        **spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": name, "namespace": namespace},
                           "spec": {"type": "LoadBalancer", **spec}}
    if ips:
        obj["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}
    return obj


# --------------------------------------------------------------------------- used addresses


def test_an_address_another_service_shows_is_skipped_by_automatic_allocation() -> None:
    allocator = Allocator(state_of(POOL), {("other", "metallb"): ("10.55.0.0",)})
    assert allocator.allocate(req("web"))[0].ips == ("10.55.0.1",)
    assert allocator.usage("default") == {IPV4: (2, 4)}


def test_an_explicit_request_for_a_shown_address_is_refused_naming_the_owner() -> None:
    allocator = Allocator(state_of(POOL), {("other", "metallb"): ("10.55.0.0",)})
    error = refusal(allocator, req("web", ips=("10.55.0.0",)))
    assert (error.reason, error.message, error.hint) == (
        PUBLISHED,
        "10.55.0.0 is already published by service other/metallb (its "
        "status.loadBalancer.ingress shows it)",
        "ask for another address; if that status is stale, withdraw it: lbctl release svc "
        "metallb -n other --force")
    assert allocator.state() == state_of(POOL)  # a refusal changes nothing


def test_shown_addresses_are_compared_canonically() -> None:
    v6 = pool("v6", "2001:db8::10-2001:db8::12")
    allocator = Allocator(state_of(v6), {("a", "b"): ("2001:DB8:0::10",)})
    assert refusal(allocator, req("web", families=(IPV6,), ips=("2001:db8::10",))).reason == (
        PUBLISHED)
    assert allocator.allocate(req("x", families=(IPV6,)))[0].ips == ("2001:db8::11",)


def test_a_services_own_status_does_not_block_it() -> None:
    allocator = Allocator(state_of(POOL), {("shop", "web"): ("10.55.0.2",)})
    assert allocator.allocate(req("web", ips=("10.55.0.2",)))[0].ips == ("10.55.0.2",)


def test_a_shown_address_the_state_records_for_that_service_follows_the_sharing_rules() -> None:
    first = Allocation("shop", "a", ("10.55.0.0",), "default", sharing_key="k",
                       ports=("TCP/80",))
    state = state_of(POOL, allocations=[first])
    allocator = Allocator(state, {("shop", "a"): ("10.55.0.0",)})
    shared = req("b", ips=("10.55.0.0",), sharing_key="k", ports=("TCP/443",))
    assert allocator.allocate(shared)[0].ips == ("10.55.0.0",)
    assert refusal(allocator, req("c", ips=("10.55.0.0",))).reason == SHARING


def test_released_addresses_stay_used_while_a_service_shows_them() -> None:
    record = Allocation("shop", "a", ("10.55.0.0",), "default")
    allocator = Allocator(state_of(POOL, allocations=[record]), {("shop", "a"): ("10.55.0.0",)})
    allocator.release("shop", "a")
    assert refusal(allocator, req("b", ips=("10.55.0.0",))).reason == PUBLISHED
    assert allocator.allocate(req("c"))[0].ips == ("10.55.0.1",)


def test_every_address_shown_counts_even_when_the_pool_runs_out() -> None:
    shown = {("x", f"s{i}"): (f"10.55.0.{i}",) for i in range(4)}
    allocator = Allocator(state_of(POOL), shown)
    assert refusal(allocator, req("web")).reason == EXHAUSTED


def test_a_held_address_shown_by_another_service_is_not_given_back() -> None:
    hold = Allocation("shop", "web", ("10.55.0.1",), "default")
    allocator = Allocator(state_of(POOL, holds=[hold]), {("x", "y"): ("10.55.0.1",)})
    assert refusal(allocator, req("web")).reason == PUBLISHED


def test_a_status_that_is_not_an_address_blocks_nothing() -> None:
    allocator = Allocator(state_of(POOL), {("x", "y"): ("not-an-ip",)})
    assert allocator.allocate(req("web"))[0].ips == ("10.55.0.0",)


# --------------------------------------------------------------------------- PreferDualStack


def test_prefer_dual_stack_requires_its_first_family_across_pools() -> None:
    """Issue 10.12: IPv6 first, an IPv4-only pool tried first by name, an IPv6-only pool."""
    state = state_of(pool("a-v4", "10.0.0.0/30"), pool("b-v6", "2001:db8::/126"))
    prefer = req("web", families=(IPV6, IPV4), require_all=False)
    assert Allocator(state).allocate(prefer)[0].ips == ("2001:db8::1",)


def test_prefer_dual_stack_takes_the_second_family_from_the_same_pool() -> None:
    state = state_of(pool("a-v4", "10.0.0.0/30"), pool("b-dual", "10.1.0.0/30", "2001:db8::/126"))
    prefer = req("web", families=(IPV6, IPV4), require_all=False)
    assert Allocator(state).allocate(prefer)[0].ips == ("2001:db8::1", "10.1.0.0")


def test_prefer_dual_stack_without_a_pool_of_its_first_family_is_refused() -> None:
    state = state_of(pool("a-v4", "10.0.0.0/30"))
    error = refusal(Allocator(state), req("web", families=(IPV6, IPV4), require_all=False))
    assert (error.reason, error.message) == (
        WRONG_FAMILY, "no address for shop/web: pool a-v4 has no IPv6 addresses")


# --------------------------------------------------------------------------- allocate_many


def test_allocate_many_releases_first_then_collects_each_answer_in_order() -> None:
    gone = Allocation("shop", "gone", ("10.55.0.0",), "default")
    state = state_of(POOL, allocations=[gone])
    bad = UsageError("service shop/bad: nonsense")
    done = allocate_many(state, {
        ("shop", "b"): req("b"),
        ("shop", "bad"): bad,
        ("shop", "far"): req("far", ips=("192.0.2.1",)),
        ("shop", "a"): req("a"),
    }, release=[("shop", "gone")], published={("x", "y"): ("10.55.0.1",)})
    assert done.released == (gone,)
    assert list(done.answers) == [("shop", "b"), ("shop", "bad"), ("shop", "far"), ("shop", "a")]
    assert done.answers[("shop", "b")] == Granted(
        Allocation("shop", "b", ("10.55.0.0",), "default"), True)
    assert done.answers[("shop", "bad")] is bad
    assert isinstance(done.answers[("shop", "far")], AllocationError)
    assert done.answers[("shop", "a")] == Granted(
        Allocation("shop", "a", ("10.55.0.2",), "default"), True)
    assert sorted(done.state.allocations) == [("shop", "a"), ("shop", "b")]
    assert state.allocations == {("shop", "gone"): gone}  # the input is untouched


def test_allocate_many_confirms_what_is_already_recorded() -> None:
    web = Allocation("shop", "web", ("10.55.0.3",), "default")
    done = allocate_many(state_of(POOL, allocations=[web]), {("shop", "web"): req("web")})
    assert done.answers == {("shop", "web"): Granted(web, False)}


# --------------------------------------------------------------------------- which Services


def test_to_assign_picks_ours_without_a_status_in_key_order() -> None:
    services = [
        svc("z"), svc("a", "other"), svc("shown", ips=("10.55.0.9",)),
        svc("foreign", loadBalancerClass="example.com/x"),
        svc("ours", loadBalancerClass=service.LBCTL_CLASS),
        {"metadata": {"name": "plain", "namespace": "shop"}, "spec": {"type": "ClusterIP"}},
    ]
    assert [service.key_of(s) for s in service.to_assign(services)] == [
        ("other", "a"), ("shop", "ours"), ("shop", "z")]
    assert [service.key_of(s) for s in service.to_assign(services, "other")] == [("other", "a")]


def test_published_is_what_every_service_shows_whatever_its_class() -> None:
    services = [svc("a", ips=("10.55.0.1",)), svc("b", loadBalancerClass="x", ips=("10.55.0.2",)),
                svc("c")]
    assert service.published(services) == {("shop", "a"): ("10.55.0.1",),
                                           ("shop", "b"): ("10.55.0.2",)}


def test_requests_keep_the_error_of_a_malformed_service() -> None:
    bad = svc("bad", ipFamilyPolicy="Sometimes")
    found = service.requests([svc("good"), bad])
    assert isinstance(found[("shop", "good")], Request)
    assert isinstance(found[("shop", "bad")], UsageError)


# --------------------------------------------------------------------------- orphans


@pytest.mark.parametrize(("services", "why", "withdraw", "detail"), [
    ([], service.GONE, False, "does not exist"),
    ([svc("web", type="ClusterIP", ips=("10.55.0.0",))], service.NOT_LOAD_BALANCER, True,
     "is of type ClusterIP, not LoadBalancer"),
    ([svc("web", type="ClusterIP", ips=("10.55.0.7",))], service.NOT_LOAD_BALANCER, False,
     "is of type ClusterIP, not LoadBalancer"),
    ([svc("web", type="NodePort")], service.NOT_LOAD_BALANCER, False,
     "is of type NodePort, not LoadBalancer"),
    ([svc("web", loadBalancerClass="example.com/x", ips=("10.55.0.0",))], service.OTHER_CLASS,
     False, "now has loadBalancerClass example.com/x; its status shows 10.55.0.0, in use while "
            "it does"),
    ([svc("web", loadBalancerClass="example.com/x")], service.OTHER_CLASS, False,
     "now has loadBalancerClass example.com/x"),
])
def test_orphans(services: list[dict[str, Any]], why: str, withdraw: bool, detail: str) -> None:
    record = Allocation("shop", "web", ("10.55.0.0",), "default")
    found = service.orphans([record], {service.key_of(s): s for s in services})
    assert [(o.allocation, o.why, o.withdraw, o.detail) for o in found] == [
        (record, why, withdraw, detail)]


def test_an_allocation_of_a_service_of_ours_is_no_orphan() -> None:
    record = Allocation("shop", "web", ("10.55.0.0",), "default")
    mine = svc("web", loadBalancerClass=service.LBCTL_CLASS)
    assert service.orphans([record], {("shop", "web"): mine}) == []
