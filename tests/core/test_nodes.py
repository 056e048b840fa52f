"""What lbctl reads of a Node: its InternalIP addresses, then its ExternalIP ones.  Pools may
not hold them (``pool add``, doctor) and so a Service showing one is no sign of a lost state:
both follow this one rule, so they cannot disagree about what a node's address is."""

from __future__ import annotations

from typing import Any

import pytest

from lbctl.core import lost
from lbctl.core.nodes import addresses_only, node_addresses, typed_node_addresses
from lbctl.core.pools import cluster_overlaps
from tests.core.support import pool


def node(*entries: Any) -> dict[str, Any]:
    return {"metadata": {"name": "n1"}, "status": {"addresses": list(entries)}}


@pytest.mark.parametrize(("obj", "expected"), [
    (None, []),
    ({}, []),
    ({"status": {"addresses": None}}, []),
    # ExternalIP listed first: the InternalIPs still come first, each kind in its order
    (node({"type": "ExternalIP", "address": "203.0.113.1"},
          {"type": "InternalIP", "address": "10.0.0.2"},
          {"type": "Hostname", "address": "n1"},
          {"type": "InternalIP", "address": "fd00::2"}),
     [("InternalIP", "10.0.0.2"), ("InternalIP", "fd00::2"), ("ExternalIP", "203.0.113.1")]),
    # malformed entries are left out, never raised
    (node("10.0.0.9", {"type": "InternalIP"}, {"type": "InternalIP", "address": ""},
          {"type": "InternalDNS", "address": "n1.lan"}), []),
])
def test_a_nodes_addresses(obj: dict[str, Any] | None,
                           expected: list[tuple[str, str]]) -> None:
    assert typed_node_addresses(obj) == expected
    assert node_addresses(obj) == [address for _, address in expected]
    if obj is not None:  # what a caller keeps of a Node for its addresses reads the same
        assert typed_node_addresses(addresses_only(obj)) == expected


def test_a_node_kept_for_its_addresses_keeps_nothing_else() -> None:
    entry = {"type": "InternalIP", "address": "10.0.0.2"}
    full = {**node(entry), "spec": {"podCIDR": "10.42.0.0/24"}}
    full["status"]["images"] = [{"names": ["registry.example/app:1"], "sizeBytes": 1}] * 50
    assert addresses_only(full) == {"status": {"addresses": [entry]}}


def test_a_node_kept_for_its_addresses_keeps_only_the_entries_read() -> None:
    """One reading of ``status.addresses``: what is kept is what is read (a Hostname, an
    entry with no address, a malformed status are not)."""
    entry = {"type": "ExternalIP", "address": "203.0.113.1"}
    assert addresses_only(node({"type": "Hostname", "address": "n1"}, {"type": "InternalIP"},
                               "10.0.0.9", entry)) == {"status": {"addresses": [entry]}}
    for status in (["10.0.0.9"], {"addresses": "10.0.0.9"}, None):
        assert addresses_only({"status": status}) == {"status": {"addresses": []}}
        assert typed_node_addresses({"status": status}) == []


def test_the_addresses_a_pool_may_not_hold_are_those_a_lost_state_does_not_count() -> None:
    n1 = node({"type": "ExternalIP", "address": "192.0.2.7"},
              {"type": "InternalIP", "address": "192.0.2.5"},
              {"type": "Hostname", "address": "192.0.2.9"})  # (a Hostname is not read)
    overlaps = cluster_overlaps([pool("web", "192.0.2.0/28")], [n1], [])
    assert [o.message for o in overlaps] == [
        "pool web contains 192.0.2.5, the InternalIP of node n1",
        "pool web contains 192.0.2.7, the ExternalIP of node n1"]
    shown = {"apiVersion": "v1", "kind": "Service",
             "metadata": {"namespace": "kube-system", "name": "traefik"},
             "spec": {"type": "LoadBalancer"},
             "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in
                                                     ("192.0.2.5", "192.0.2.7", "192.0.2.9")]}}}
    assert lost.stranded([shown], nodes=[n1]) == [
        lost.Stranded(("kube-system", "traefik"), ("192.0.2.9",))]
