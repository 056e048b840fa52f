"""lbctl.core.service: what a Service asks of the allocator, and where it stands."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from lbctl.core import service
from lbctl.core.addresses import IPV4, IPV6
from lbctl.core.allocator import AllocationError, Allocator, Request
from lbctl.core.pools import add_pool, make_pool
from lbctl.core.state import Allocation, State
from lbctl.errors import RefusedError, UsageError


def svc(name: str = "web", namespace: str | None = "shop", *, annotations: dict[str, str]
        | None = None, status_ips: tuple[str, ...] = (), **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if annotations is not None:
        meta["annotations"] = annotations
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "metadata": meta,
                            "spec": {"type": "LoadBalancer", **spec}}
    if status_ips:
        body["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in status_ips]}}
    return body


# --------------------------------------------------------------------------- ownership


@pytest.mark.parametrize(("spec", "ours"), [
    ({}, True),
    ({"loadBalancerClass": service.LBCTL_CLASS}, True),
    ({"loadBalancerClass": "metallb.io/metallb"}, False),
    ({"type": "ClusterIP"}, False),
    ({"type": "NodePort"}, False),
])
def test_is_ours(spec: dict[str, Any], ours: bool) -> None:
    assert service.is_ours(svc(**spec)) is ours


def test_check_ours_names_the_type() -> None:
    with pytest.raises(RefusedError, match=r"service shop/web is of type ClusterIP, "
                                           r"not LoadBalancer"):
        service.check_ours(svc(type="ClusterIP"))


def test_check_ours_names_the_other_class() -> None:
    with pytest.raises(RefusedError, match="loadBalancerClass example.com/lb; another "
                                           "controller owns it"):
        service.check_ours(svc(loadBalancerClass="example.com/lb"))


# --------------------------------------------------------------------------- request


@pytest.mark.parametrize(("spec", "families", "require_all"), [
    ({}, (IPV4,), True),  # absent: IPv4 single stack
    ({"ipFamilies": ["IPv6"]}, (IPV6,), True),
    ({"ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv6"]}, (IPV6,), True),
    ({"ipFamilyPolicy": "PreferDualStack", "ipFamilies": ["IPv6", "IPv4"]}, (IPV6, IPV4), False),
    ({"ipFamilyPolicy": "PreferDualStack", "ipFamilies": ["IPv4"]}, (IPV4, IPV6), False),
    ({"ipFamilyPolicy": "RequireDualStack"}, (IPV4, IPV6), True),
    ({"ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv6", "IPv4"]}, (IPV6, IPV4), True),
])
def test_families(spec: dict[str, Any], families: tuple[int, ...], require_all: bool) -> None:
    assert service.families(svc(**spec)) == (families, require_all)


@pytest.mark.parametrize(("spec", "message"), [
    ({"ipFamilies": ["IPv4", "IPv6"]}, "lists two ipFamilies but ipFamilyPolicy is SingleStack"),
    ({"ipFamilies": ["IPv5"]}, "not a list of distinct IPv4/IPv6"),
    ({"ipFamilies": ["IPv4", "IPv4"], "ipFamilyPolicy": "RequireDualStack"},
     "not a list of distinct"),
    ({"ipFamilyPolicy": "DualStack"}, "unknown ipFamilyPolicy 'DualStack'"),
])
def test_families_refuses_what_the_api_server_would(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        service.families(svc(**spec))


STABLE = "metallb.io/"
OLD = "metallb.universe.tf/"


@pytest.mark.parametrize(("annotations", "spec", "flags", "expected"), [
    ({}, {}, {}, service.Asked()),
    ({}, {"loadBalancerIP": "192.0.2.7"}, {},
     service.Asked(("192.0.2.7",), None, "spec.loadBalancerIP")),
    # requests that agree are one request
    ({STABLE + "loadBalancerIPs": "192.0.2.8"}, {"loadBalancerIP": "192.0.2.8"}, {},
     service.Asked(("192.0.2.8",), None, "metallb.io/loadBalancerIPs, spec.loadBalancerIP")),
    # kube-vip's and Cilium's annotations are requests too
    ({"kube-vip.io/loadbalancerIPs": "192.0.2.8"}, {}, {},
     service.Asked(("192.0.2.8",), None, "kube-vip.io/loadbalancerIPs")),
    ({"lbipam.cilium.io/ips": "2001:db8::8,192.0.2.8"}, {}, {},
     service.Asked(("2001:db8::8", "192.0.2.8"), None, "lbipam.cilium.io/ips")),
    ({"io.cilium/lb-ipam-ips": "192.0.2.8", "lbipam.cilium.io/ips": "192.0.2.8"}, {}, {},
     service.Asked(("192.0.2.8",), None, "lbipam.cilium.io/ips, io.cilium/lb-ipam-ips")),
    # the older prefix is read too, and canonicalised, with spaces after commas
    ({OLD + "loadBalancerIPs": "192.0.2.8, 2001:DB8::0008"}, {}, {},
     service.Asked(("192.0.2.8", "2001:db8::8"), None, "metallb.universe.tf/loadBalancerIPs")),
    # the current prefix wins, even when empty (as in MetalLB)
    ({STABLE + "loadBalancerIPs": "", OLD + "loadBalancerIPs": "192.0.2.8"}, {}, {},
     service.Asked()),
    # a pool annotation combines with spec.loadBalancerIP
    ({STABLE + "address-pool": "gold"}, {"loadBalancerIP": "192.0.2.7"}, {},
     service.Asked(("192.0.2.7",), "gold", "spec.loadBalancerIP, metallb.io/address-pool")),
    # flags join the Service's own request
    ({STABLE + "loadBalancerIPs": "192.0.2.8"}, {}, {"pool": "silver"},
     service.Asked(("192.0.2.8",), "silver", "flags, metallb.io/loadBalancerIPs")),
    ({STABLE + "loadBalancerIPs": "192.0.2.8"}, {}, {"ips": ["192.0.2.8"]},
     service.Asked(("192.0.2.8",), None, "flags, metallb.io/loadBalancerIPs")),
    ({}, {}, {"ips": ["192.0.2.9"], "pool": "gold"},
     service.Asked(("192.0.2.9",), "gold", "flags")),
])
def test_request_precedence(annotations: dict[str, str], spec: dict[str, Any],
                            flags: dict[str, Any], expected: service.Asked) -> None:
    assert service.asked(svc(annotations=annotations, **spec), **flags) == expected


@pytest.mark.parametrize(("annotations", "spec", "flags", "message"), [
    ({STABLE + "loadBalancerIPs": "192.0.2.8"}, {"loadBalancerIP": "192.0.2.7"}, {},
     "metallb.io/loadBalancerIPs is 192.0.2.8, spec.loadBalancerIP is 192.0.2.7"),
    ({"kube-vip.io/loadbalancerIPs": "192.0.2.8"}, {"loadBalancerIP": "192.0.2.7"}, {},
     "kube-vip.io/loadbalancerIPs is 192.0.2.8, spec.loadBalancerIP is 192.0.2.7"),
    ({"lbipam.cilium.io/ips": "192.0.2.8", OLD + "loadBalancerIPs": "192.0.2.8,2001:db8::1"}, {},
     {}, "metallb.universe.tf/loadBalancerIPs is 192.0.2.8,2001:db8::1, lbipam.cilium.io/ips "
         "is 192.0.2.8"),
    ({}, {"loadBalancerIP": "192.0.2.7"}, {"ips": ["192.0.2.9"]},
     "--ip is 192.0.2.9, spec.loadBalancerIP is 192.0.2.7"),
    ({STABLE + "address-pool": "gold"}, {}, {"pool": "silver"},
     "--pool is silver, metallb.io/address-pool is gold"),
])
def test_requests_that_disagree_are_refused_naming_both(
        annotations: dict[str, str], spec: dict[str, Any], flags: dict[str, Any],
        message: str) -> None:
    with pytest.raises(AllocationError) as caught:
        service.asked(svc(annotations=annotations, **spec), **flags)
    assert caught.value.reason == "ConflictingRequests"
    assert caught.value.message == f"service shop/web asks for two different things: {message}"


@pytest.mark.parametrize(("annotations", "key"), [
    ({STABLE + "allow-shared-ip": "k"}, "k"),
    ({"lbipam.cilium.io/sharing-key": "c"}, "c"),
    ({"io.cilium/lb-ipam-sharing-key": "c"}, "c"),
    ({STABLE + "allow-shared-ip": "k", "lbipam.cilium.io/sharing-key": "k"}, "k"),
])
def test_sharing_key_from_metallb_or_cilium(annotations: dict[str, str], key: str) -> None:
    assert service.sharing_key(svc(annotations=annotations)) == key


def test_sharing_keys_that_disagree_are_refused() -> None:
    with pytest.raises(AllocationError, match="metallb.io/allow-shared-ip is k, "
                                              "lbipam.cilium.io/sharing-key is c"):
        service.sharing_key(svc(annotations={STABLE + "allow-shared-ip": "k",
                                             "lbipam.cilium.io/sharing-key": "c"}))


@pytest.mark.parametrize(("annotations", "spec", "message"), [
    ({STABLE + "loadBalancerIPs": "192.0.2.8,"}, {},
     r"service shop/web: metallb.io/loadBalancerIPs is '192.0.2.8,', not a list of IP"),
    ({}, {"loadBalancerIP": "web.example"}, r"spec.loadBalancerIP is 'web.example'"),
    ({}, {"loadBalancerIP": "192.0.2.1,192.0.2.2"}, r"spec.loadBalancerIP holds one address"),
])
def test_malformed_requests_name_the_service_and_field(
        annotations: dict[str, str], spec: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        service.asked(svc(annotations=annotations, **spec))


def test_request_carries_everything_the_allocator_uses() -> None:
    body = svc(namespace=None, annotations={OLD + "allow-shared-ip": "k"},
               externalTrafficPolicy="Local", selector={"tier": "fe", "app": "web"},
               ports=[{"port": 443}, {"port": 53, "protocol": "UDP"}, {"port": 443}])
    body["metadata"]["labels"] = {"team": "a"}
    assert service.request(body, default_namespace="dev") == Request(
        namespace="dev", name="web", labels={"team": "a"}, families=(IPV4,), require_all=True,
        ips=(), pool=None, sharing_key="k", ports=("TCP/443", "UDP/53"),
        backend="app=web,tier=fe",
    )


@pytest.mark.parametrize(("spec", "backend"), [
    ({"selector": {"app": "web"}}, ""),  # Cluster by default: any backend
    ({"externalTrafficPolicy": "Cluster", "selector": {"app": "web"}}, ""),
    ({"externalTrafficPolicy": "Local", "selector": {"b": "2", "a": "1"}}, "a=1,b=2"),
    ({"externalTrafficPolicy": "Local"}, ""),
])
def test_backend(spec: dict[str, Any], backend: str) -> None:
    assert service.backend(svc(**spec)) == backend


def test_dual_stack_request_gets_one_address_per_family_from_the_allocator() -> None:
    state = add_pool(State(), make_pool("dual", ["192.0.2.0/30", "2001:db8::/126"]))
    body = svc(ipFamilyPolicy="RequireDualStack", ipFamilies=["IPv6", "IPv4"])
    allocation, new = Allocator(state).allocate(service.request(body))
    assert (allocation.ips, new) == (("2001:db8::1", "192.0.2.0"), True)


# --------------------------------------------------------------------------- where it stands


def alloc(*ips: str) -> Allocation:
    return Allocation("shop", "web", tuple(ips), "default")


@pytest.mark.parametrize(("status", "allocation", "expected"), [
    ((), None, service.Condition(service.PENDING)),
    (("192.0.2.1",), alloc("192.0.2.1"), service.Condition(service.ASSIGNED)),
    (("2001:db8::1", "192.0.2.1"), alloc("192.0.2.1", "2001:db8::1"),
     service.Condition(service.ASSIGNED)),
    ((), alloc("192.0.2.1"), service.Condition(
        service.DRIFT, service.UNPUBLISHED,
        "the state records 192.0.2.1, which the status does not show")),
    (("192.0.2.9",), None, service.Condition(
        service.DRIFT, service.UNRECORDED,
        "status shows 192.0.2.9, which the state does not record")),
    (("192.0.2.9",), alloc("192.0.2.1"), service.Condition(
        service.DRIFT, service.MISMATCH, "status shows 192.0.2.9, the state records 192.0.2.1")),
])
def test_condition(status: tuple[str, ...], allocation: Allocation | None,
                   expected: service.Condition) -> None:
    assert service.condition(svc(status_ips=status), allocation) == expected


def test_not_a_load_balancer() -> None:
    assert service.condition(svc(type="NodePort"), None) == service.Condition(
        service.IGNORED, detail="type NodePort, not LoadBalancer")


def test_foreign_whatever_the_status_says() -> None:
    body = svc(status_ips=("192.0.2.1",), loadBalancerClass="example.com/lb")
    assert service.condition(body, alloc("192.0.2.1")) == service.Condition(
        service.FOREIGN, detail="loadBalancerClass example.com/lb")


def test_ingress_ips_are_canonical_and_skip_host_names() -> None:
    body = svc()
    body["status"] = {"loadBalancer": {"ingress": [
        {"ip": "2001:DB8:0::1"}, {"hostname": "lb.example"}, {"ip": "192.0.2.1", "ipMode": "VIP"},
    ]}}
    assert service.ingress_ips(body) == ("2001:db8::1", "192.0.2.1")


def test_ingress_patch_publishes_and_clears() -> None:
    assert service.ingress_patch(["192.0.2.1"]) == {
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}
    # null removes the field in a JSON merge patch
    assert service.ingress_patch([]) == {"status": {"loadBalancer": {"ingress": None}}}


def test_ready_nodes_from_endpoint_slices() -> None:
    def endpoint_slice(namespace: str, owner: str, *endpoints: dict[str, Any]) -> dict[str, Any]:
        return {"metadata": {"namespace": namespace,
                             "labels": {"kubernetes.io/service-name": owner}},
                "endpoints": list(endpoints)}

    slices = [
        endpoint_slice("shop", "web", {"nodeName": "n2", "conditions": {"ready": True}},
                       {"nodeName": "n1"},  # unset counts as ready
                       {"nodeName": "n3", "conditions": {"ready": False}},
                       # terminating but still serving: its node may still take traffic
                       {"nodeName": "n4", "conditions": {"ready": False, "serving": True,
                                                         "terminating": True}},
                       {"nodeName": "n5", "conditions": {"ready": False, "serving": False}}),
        endpoint_slice("shop", "web", {"nodeName": "n1", "conditions": {"ready": True}}),
        endpoint_slice("dev", "web", {"conditions": {"ready": True}}),  # no node name
        {"metadata": {"namespace": "shop"}, "endpoints": [{"nodeName": "n9"}]},  # no owner
    ]
    assert service.ready_nodes(slices) == {("shop", "web"): ("n1", "n2", "n4"), ("dev", "web"): ()}


# --------------------------------------------------------------------------- age

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(("delta", "shown"), [
    (timedelta(seconds=-5), "<invalid>"),
    (timedelta(seconds=-0.5), "0s"),
    (timedelta(seconds=0), "0s"),
    (timedelta(seconds=119), "119s"),
    (timedelta(minutes=2), "2m"),
    (timedelta(minutes=5, seconds=30), "5m30s"),
    (timedelta(minutes=10, seconds=30), "10m"),
    (timedelta(minutes=179), "179m"),
    (timedelta(hours=3), "3h"),
    (timedelta(hours=7, minutes=59), "7h59m"),
    (timedelta(hours=8, minutes=30), "8h"),
    (timedelta(hours=47), "47h"),
    (timedelta(days=3), "3d"),
    (timedelta(days=3, hours=4), "3d4h"),
    (timedelta(days=8, hours=4), "8d"),
    (timedelta(days=729), "729d"),
    (timedelta(days=365 * 2 + 10), "2y10d"),
    (timedelta(days=365 * 3), "3y"),
    (timedelta(days=365 * 9 + 40), "9y"),
])
def test_age_like_kubectl(delta: timedelta, shown: str) -> None:
    assert service.age(T0, T0 + delta) == shown


def test_age_from_the_creation_timestamp() -> None:
    body = svc()
    body["metadata"]["creationTimestamp"] = "2024-01-01T00:00:00Z"
    assert service.age(service.created(body), T0 + timedelta(minutes=5)) == "5m"
    assert service.age(service.created(svc()), T0) == "<unknown>"
    body["metadata"]["creationTimestamp"] = "yesterday"
    assert service.age(service.created(body), T0) == "<unknown>"
