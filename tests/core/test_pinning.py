"""assign -f's GitOps rules: an edited pin moves the allocation (or says exactly why not), and
prune forgets the Services that left the manifests."""

from __future__ import annotations

from lbctl.core.allocator import Granted, Request
from lbctl.core.pinning import pin
from lbctl.core.state import Allocation
from lbctl.errors import LbctlError
from tests.core.support import pool, state_of

WEB = Allocation("shop", "web", ("10.0.0.1",), "a")
API = Allocation("shop", "api", ("10.0.0.2",), "a")


def test_an_edited_pin_moves_the_allocation() -> None:
    before = state_of(pool("a", "10.0.0.0/29"), allocations=[WEB, API])
    done = pin(before, {WEB.key: Request("shop", "web", ips=("10.0.0.5",))},
               present={WEB.key, API.key})
    answer = done.answers[WEB.key]
    assert isinstance(answer, Granted) and answer.allocation.ips == ("10.0.0.5",)
    assert done.moved == {WEB.key: WEB}
    assert done.state.allocations[WEB.key].ips == ("10.0.0.5",)
    assert done.state.allocations[API.key] == API and done.pruned == ()


def test_an_edited_pin_that_cannot_be_met_keeps_the_old_address() -> None:
    before = state_of(pool("a", "10.0.0.0/29"), allocations=[WEB, API])
    done = pin(before, {WEB.key: Request("shop", "web", ips=("10.0.0.2",)),
                        ("shop", "new"): Request("shop", "new")},
               present={WEB.key, API.key, ("shop", "new")})
    answer = done.answers[WEB.key]
    assert isinstance(answer, LbctlError)
    assert answer.message == (
        "shop/web keeps 10.0.0.1 (pool a): the manifest asks for 10.0.0.2, and 10.0.0.2 is "
        "used by shop/api, which may not share it: shop/web has no sharing key")
    assert done.state.allocations[WEB.key] == WEB and done.moved == {}
    new = done.answers[("shop", "new")]
    assert isinstance(new, Granted) and new.allocation.ips == ("10.0.0.0",)


def test_a_moved_pool_request() -> None:
    before = state_of(pool("a", "10.0.0.0/29"), pool("b", "10.0.1.0/30"), allocations=[WEB])
    done = pin(before, {WEB.key: Request("shop", "web", pool="b")}, present={WEB.key})
    assert done.state.allocations[WEB.key].ips == ("10.0.1.0",)


def test_prune_forgets_services_gone_from_the_manifests_but_keeps_holds() -> None:
    before = state_of(pool("a", "10.0.0.0/29"), allocations=[WEB, API],
                      holds=[Allocation("shop", "old", ("10.0.0.3",), "a")])
    requests = {WEB.key: Request("shop", "web")}
    kept = pin(before, requests, present={WEB.key})
    assert set(kept.state.allocations) == {WEB.key, API.key} and kept.pruned == ()
    done = pin(before, requests, present={WEB.key}, prune=True)
    assert done.pruned == (API,)
    assert set(done.state.allocations) == {WEB.key}
    assert set(done.state.holds) == {("shop", "old")}
    again = pin(before, {("shop", "new"): Request("shop", "new", ips=("10.0.0.2",))},
                present={WEB.key, ("shop", "new")}, prune=True)
    granted = again.answers[("shop", "new")]
    assert isinstance(granted, Granted) and granted.allocation.ips == ("10.0.0.2",)
