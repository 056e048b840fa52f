"""What the speakers' Leases say (liveness, health reports, MACs) and the owners a one-shot
reader (speaker status, svc show, doctor --probe) computes from them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from lbctl.core import leases, ownership, speakers
from lbctl.core.state import decode

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
STATE = decode("""\
schemaVersion: 1
pools:
  p: {addresses: [192.0.2.0/24]}
allocations:
  shop:
    web: {ips: [192.0.2.10], pool: p}
""", "test")


SERVICES = [{"metadata": {"namespace": "shop", "name": "web"}, "spec": {"type": "LoadBalancer"},
             "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}}]
SLICES = [{"metadata": {"namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
           "endpoints": [{"nodeName": "n1"}]}]
NODES = [{"metadata": {"name": n}} for n in ("n1", "n2", "n3")]


def lease(node: str, *, renewed: datetime = T0, annotations: dict[str, str] | None = None,
          name: str | None = None) -> dict[str, Any]:
    body = leases.claimed(None, node, renewed, 2, namespace="kube-system",
                          name=name or speakers.lease_name(node))
    body["metadata"]["annotations"] = annotations or {}
    return body


@pytest.mark.parametrize(("text", "macs"), [
    ("eth0=02:00:00:00:00:01", {"eth0": "02:00:00:00:00:01"}),
    ("eth1=02:00:00:00:00:02, eth0=AA:BB:CC:DD:EE:FF",
     {"eth0": "aa:bb:cc:dd:ee:ff", "eth1": "02:00:00:00:00:02"}),
    ("", {}),
    ("garbage,=02:00:00:00:00:01,eth0=,eth1=02:00:00:00:00,eth2=zz:00:00:00:00:01", {}),
])
def test_macs_annotation(text: str, macs: dict[str, str]) -> None:
    assert speakers.macs_of(lease("n1", annotations={speakers.MACS_ANNOTATION: text})) == macs


def test_macs_text_is_sorted_and_lower_case_and_reads_back() -> None:
    text = speakers.macs_text({"eth1": "02:00:00:00:00:0B", "eth0": "02:00:00:00:00:0a"})
    assert text == "eth0=02:00:00:00:00:0a,eth1=02:00:00:00:00:0b"
    assert speakers.macs_of(lease("n1", annotations={speakers.MACS_ANNOTATION: text})) == {
        "eth0": "02:00:00:00:00:0a", "eth1": "02:00:00:00:00:0b"}


def test_unhealthy_annotation_round_trip() -> None:
    text = speakers.unhealthy_text({("shop", "web"), ("a", "b")})
    assert text == "a/b,shop/web"
    obj = lease("n1", annotations={speakers.UNHEALTHY_ANNOTATION: text + ",junk"})
    assert speakers.unhealthy_of(obj) == {("shop", "web"), ("a", "b")}


def test_status_owner_liveness_and_macs() -> None:
    objs = [
        lease("n1", annotations={speakers.MACS_ANNOTATION: "eth0=02:00:00:00:00:01"}),
        lease("n2", annotations={speakers.MACS_ANNOTATION: "eth0=02:00:00:00:00:02"}),
        lease("n3", renewed=T0 - timedelta(seconds=30)),  # dead
        lease("x", name="lbctl-controller"),  # not a speaker's
    ]
    found = speakers.status(STATE, SERVICES, SLICES, NODES, objs, T0)
    assert [(s.node, s.alive, dict(s.macs)) for s in found.speakers] == [
        ("n1", True, {"eth0": "02:00:00:00:00:01"}),
        ("n2", True, {"eth0": "02:00:00:00:00:02"}),
        ("n3", False, {})]
    expected = min(("n1", "n2"), key=lambda n: ownership.score(n, "192.0.2.10"))
    assert found.ownership.owner_of("192.0.2.10") == expected
    assert found.nodes_of_mac("02:00:00:00:00:02") == ("n2",)
    assert found.nodes_of_mac("02:00:00:00:00:09") == ()


def test_status_judges_a_pools_interfaces_by_what_each_lease_publishes() -> None:
    """speaker status, svc show and doctor --probe see the owner the speakers compute: n1
    publishes no eth1, so the address goes to n2 or n3, whatever the hash says of n1."""
    state = decode("""\
schemaVersion: 1
pools:
  p: {addresses: [192.0.2.0/24], interfaces: [eth1]}
  q: {addresses: [198.51.100.0/24], interfaces: [eth9], announce: both}
  r: {addresses: [203.0.113.0/24], interfaces: [eth1, eth9], announce: layer2}
  s: {addresses: [192.0.3.0/24], announce: bgp}
allocations:
  shop:
    web: {ips: [192.0.2.10], pool: p}
""", "test")
    published = {"n1": "eth0=02:00:00:00:00:01",
                 "n2": "eth0=02:00:00:00:00:02,eth1=02:00:00:00:01:02",
                 "n3": "eth1=02:00:00:00:01:03"}
    objs = [lease(n, annotations={speakers.MACS_ANNOTATION: text})
            for n, text in published.items()]
    found = speakers.status(state, SERVICES, SLICES, NODES, objs, T0)
    group = found.ownership.groups[0]
    assert group.owner == min(("n2", "n3"), key=lambda n: ownership.score(n, "192.0.2.10"))
    assert group.rejected == {"n1": ownership.NO_INTERFACE}
    assert group.interfaces == {"192.0.2.10": ("eth1",)}
    assert found.nodes_of_mac(published[group.owner][-17:]) == (group.owner,)
    assert speakers.named_interfaces(state) == ("eth1", "eth9")
