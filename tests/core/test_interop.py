"""MetalLB / kube-vip conversions: what is imported, what is warned about, what is exported.

Fixtures in ``tests/fixtures/interop/`` are written for these tests in the shapes MetalLB's and
kube-vip's documentation show: ``metallb-crds.yaml`` (IPAddressPools with every
``serviceAllocation`` field, an L2Advertisement with interfaces, a BGPAdvertisement and a
BGPPeer), ``metallb-configmap.yaml`` (the pre-0.13 ConfigMap, layer2 and bgp pools, peers and
communities), ``kubevip-configmap.yaml`` (global and per-namespace pools, a scope with both
``cidr-`` and ``range-``, overlapping entries, sharing, an interface, descending order) and
``services.yaml`` (a ``kubectl get svc -A -o yaml`` List).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lbctl.core import interop
from lbctl.core.addresses import describe
from lbctl.core.bgp import Advertisement, Peer
from lbctl.core.interop import Found
from lbctl.core.state import Allocation, Pool, State
from lbctl.errors import NotFoundError, RefusedError, UsageError
from tests.core.support import pool, state_of

FIXTURES = Path(__file__).parent.parent / "fixtures" / "interop"


def objects(*names: str) -> list[dict[str, Any]]:
    return [obj for name in names
            for obj in interop.parse_manifests((FIXTURES / name).read_text(), name)]


def service(name: str, namespace: str, *ips: str, annotations: dict[str, str] | None = None,
            **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}], **spec},
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}},
    }


# --------------------------------------------------------------------------- parsing


def test_parse_manifests_flattens_lists_and_skips_empty_documents() -> None:
    text = ("---\n---\napiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: A}, "
            "{apiVersion: v1, kind: B}]\n---\napiVersion: v1\nkind: C\n")
    assert [o["kind"] for o in interop.parse_manifests(text, "f")] == ["A", "B", "C"]


@pytest.mark.parametrize(("text", "message"), [
    ("a: [1\nb: 2\n", "file x:2:2: not valid YAML: did not find expected ',' or ']'"),
    ("- 1\n- 2\n", "file x:1:1: document 1 is a list, not a Kubernetes object"),
    ("apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: A}, {kind: B}]\n",
     "file x:3:36: item 2 of document 1 (List) is not a Kubernetes object: it has no "
     "apiVersion"),
    ("schemaVersion: 1\n", "file x is lbctl's state document, not manifests"),
])
def test_parse_manifests_refuses_what_is_not_manifests(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        interop.parse_manifests(text, "file x")
    assert caught.value.message == message


# --------------------------------------------------------------------------- MetalLB import


def test_metallb_crds() -> None:
    found = interop.from_metallb(objects("metallb-crds.yaml"))
    assert found.pools == (
        pool("production", "192.168.10.0/24", "192.168.9.1-192.168.9.5",
             "fc00:f853:ccd:e799::/124", interfaces=["eth1"]),
        pool("expensive", "42.176.25.64/30", "42.176.25.70", auto_assign=False, announce="bgp",
             bgp=Advertisement(local_pref=50)),
        pool("tenant-a", "172.20.0.0/25", avoid_buggy_ips=True, priority=50,
             namespaces=["team-a", "team-a-staging"],
             selectors=["exposure=public", "tier in (frontend,edge),!canary"],
             interfaces=["eth1"]),
        pool("labelled", "172.20.1.0/28"),  # priority 0 is MetalLB's "no priority"
    )
    assert found.warnings == (
        "IPAddressPool metallb-system/labelled: spec.serviceAllocation.namespaceSelectors "
        "(environment=prod) not imported: lbctl pools name namespaces, not namespace labels; "
        "the pool serves every namespace",
        "IPAddressPool metallb-system/labelled: no L2Advertisement covers it, so MetalLB does "
        "not announce it in layer 2; lbctl speaker announces it from every eligible node",
    )
    assert found.peers == (Peer("tor", "10.0.0.1", 64501, 64500),)


L2_ADVERTISEMENTS = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: edge, namespace: metallb-system}
spec: {addresses: [10.0.1.0/28]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: hangzhou, namespace: metallb-system, labels: {nodepool: hz}}
spec: {addresses: [10.0.2.0/28]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: core, namespace: metallb-system}
spec: {addresses: [10.0.3.0/28]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: quiet, namespace: metallb-system}
spec: {addresses: [10.0.4.0/28]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: edge-workers, namespace: metallb-system}
spec:
  ipAddressPools: [edge, gone]
  nodeSelectors:
  - matchLabels: {openyurt.io/is-edge-worker: "true"}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: rack, namespace: metallb-system}
spec:
  ipAddressPools: [edge]
  nodeSelectors:
  - matchLabels: {rack: r1}
  interfaces: [eth1, eth2]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: by-label, namespace: metallb-system}
spec:
  ipAddressPoolSelectors:
  - matchLabels: {nodepool: hz}
  nodeSelectors:
  - matchLabels: {apps.openyurt.io/nodepool: hangzhou}
  - matchExpressions: [{key: zone, operator: In, values: [a, b]}]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: core-some, namespace: metallb-system}
spec:
  ipAddressPools: [core]
  nodeSelectors:
  - matchLabels: {rack: r2}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: core-all, namespace: metallb-system}
spec:
  ipAddressPools: [core]
"""


def test_metallb_l2advertisements_become_node_selectors_and_interfaces() -> None:
    """Each pool is announced from the nodes of every advertisement covering it (by name or by
    the pool's labels); one covering every node wins, and one naming no interface (every
    interface) wins; a pool covered by none, and a name that is no pool are reported, item by
    item."""
    found = interop.from_metallb(interop.parse_manifests(L2_ADVERTISEMENTS, "f"))
    assert [(p.name, p.node_selectors, p.interfaces) for p in found.pools] == [
        ("edge", ("openyurt.io/is-edge-worker=true", "rack=r1"), ()),  # edge-workers: every one
        ("hangzhou", ("apps.openyurt.io/nodepool=hangzhou", "zone in (a,b)"), ()),
        ("core", (), ()),  # core-all covers it from every node
        ("quiet", (), ()),
    ]
    assert found.warnings == (
        "L2Advertisement metallb-system/edge-workers: spec.ipAddressPools names gone, which is "
        "not among the imported pools",
        "IPAddressPool metallb-system/edge: its L2Advertisements give different nodes different "
        "interfaces (L2Advertisement metallb-system/edge-workers: every interface on nodes "
        "openyurt.io/is-edge-worker=true; L2Advertisement metallb-system/rack: eth1, eth2 on "
        "nodes rack=r1); lbctl answers on each speaker's own choice of interface on every node "
        "that announces it",
        "IPAddressPool metallb-system/quiet: no L2Advertisement covers it, so MetalLB does not "
        "announce it in layer 2; lbctl speaker announces it from every eligible node",
    )


def test_an_advertisement_naming_no_pool_covers_every_pool() -> None:
    text = L2_ADVERTISEMENTS + """\
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: everything, namespace: metallb-system}
spec:
  nodeSelectors: [{matchLabels: {rack: r1}}]
"""
    found = interop.from_metallb(interop.parse_manifests(text, "f"))
    assert [(p.name, p.node_selectors) for p in found.pools] == [
        ("edge", ("openyurt.io/is-edge-worker=true", "rack=r1")),
        ("hangzhou", ("apps.openyurt.io/nodepool=hangzhou", "zone in (a,b)", "rack=r1")),
        ("core", ()),
        ("quiet", ("rack=r1",)),
    ]


INTERFACES = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: dmz, namespace: metallb-system}
spec: {addresses: [10.0.7.0/28]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lab, namespace: metallb-system}
spec: {addresses: [10.0.8.0/28]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: dmz-a, namespace: metallb-system}
spec:
  ipAddressPools: [dmz, lab]
  nodeSelectors: [{matchLabels: {rack: r1}}]
  interfaces: [eth1, bond0]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: dmz-b, namespace: metallb-system}
spec:
  ipAddressPools: [dmz]
  nodeSelectors: [{matchLabels: {rack: r1}}]
  interfaces: [eth1, vlan20]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: lab-b, namespace: metallb-system}
spec:
  ipAddressPools: [lab]
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: hostb}}]
  interfaces: [ens18]
"""


def test_l2advertisement_interfaces_are_united_and_a_per_node_pairing_is_warned_about() -> None:
    """MetalLB's documented rule: a pool is announced on the union of the interfaces of every
    advertisement covering it.  dmz: two advertisements for the same nodes, exact.  lab: eth1
    and bond0 on rack r1 but ens18 on hostb only; lbctl keeps one list for all the nodes."""
    found = interop.from_metallb(interop.parse_manifests(INTERFACES, "f"))
    assert [(p.name, p.node_selectors, p.interfaces) for p in found.pools] == [
        ("dmz", ("rack=r1",), ("bond0", "eth1", "vlan20")),
        ("lab", ("rack=r1", "kubernetes.io/hostname=hostb"), ("bond0", "ens18", "eth1")),
    ]
    assert found.warnings == (
        "IPAddressPool metallb-system/lab: its L2Advertisements give different nodes different "
        "interfaces (L2Advertisement metallb-system/dmz-a: eth1, bond0 on nodes rack=r1; "
        "L2Advertisement metallb-system/lab-b: ens18 on nodes kubernetes.io/hostname=hostb); "
        "lbctl answers on bond0, ens18, eth1 on every node that announces it",)


def test_an_advertisement_naming_no_interface_means_every_interface() -> None:
    text = INTERFACES + """\
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: all-of-dmz, namespace: metallb-system}
spec: {ipAddressPools: [dmz], nodeSelectors: [{matchLabels: {rack: r1}}]}
"""
    found = interop.from_metallb(interop.parse_manifests(text, "f"))
    assert [(p.name, p.interfaces) for p in found.pools][0] == ("dmz", ())
    assert len(found.warnings) == 1  # lab's, as before: dmz's nodes all get every interface


@pytest.mark.parametrize("name", ["eth0/1", "a" * 16, "eth 1", "eth0:1", ".."])
def test_an_interface_linux_refuses_is_refused_naming_the_advertisement(name: str) -> None:
    text = INTERFACES.replace("interfaces: [ens18]", f"interfaces: [{name!r}]")
    with pytest.raises(UsageError) as caught:
        interop.from_metallb(interop.parse_manifests(text, "f"))
    assert caught.value.message.startswith(
        "L2Advertisement metallb-system/lab-b: spec.interfaces: ")
    assert caught.value.hint == ("fix the L2Advertisement; a Linux interface name has at most "
                                 "15 characters, no '/', ':' or whitespace")


def test_interfaces_round_trip_through_metallb() -> None:
    state = state_of(
        replace(pool("dmz", "10.0.7.0/28"), interfaces=("bond0", "eth1")),
        replace(pool("edge", "10.0.1.0/28"), node_selectors=("rack=r1",),
                interfaces=("vlan20",)),
        pool("core", "10.0.3.0/28"))
    exported = interop.to_metallb(state)
    advertisements = [(d["metadata"]["name"], d["spec"]) for d in exported.documents
                      if d["kind"] == "L2Advertisement"]
    assert advertisements == [
        ("lbctl", {"ipAddressPools": ["core"]}),
        ("lbctl-dmz", {"ipAddressPools": ["dmz"], "interfaces": ["bond0", "eth1"]}),
        ("lbctl-edge", {"ipAddressPools": ["edge"],
                        "nodeSelectors": [{"matchLabels": {"rack": "r1"}}],
                        "interfaces": ["vlan20"]}),
    ]
    assert exported.warnings == (
        "pool dmz: MetalLB chooses the node that announces an address without looking at "
        "interfaces (bond0, eth1): a node that has none of them would hold the address and "
        "stay silent (lbctl leaves such nodes out); give the pool node selectors that match "
        "the nodes with them",)
    back = interop.from_metallb(exported.documents)
    assert (sorted(back.pools, key=lambda p: p.name), back.warnings) == (
        sorted(state.pools.values(), key=lambda p: p.name), ())


def test_pools_announced_over_bgp_only_get_no_l2advertisement() -> None:
    state = state_of(replace(pool("routed", "10.0.5.0/28"), announce="bgp"),
                     replace(pool("both", "10.0.6.0/28"), announce="both"))
    advertisements = [d["spec"] for d in interop.to_metallb(state).documents
                      if d["kind"] == "L2Advertisement"]
    assert advertisements == [{"ipAddressPools": ["both"]}]


def test_node_selectors_round_trip_through_metallb() -> None:
    state = state_of(
        replace(pool("edge", "10.0.1.0/28"), node_selectors=("openyurt.io/is-edge-worker=true",
                                                             "!canary,zone in (a,b)")),
        pool("core", "10.0.3.0/28"))
    exported = interop.to_metallb(state)
    advertisements = [d for d in exported.documents if d["kind"] == "L2Advertisement"]
    assert advertisements == [
        {"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement",
         "metadata": {"name": "lbctl", "namespace": "metallb-system"},
         "spec": {"ipAddressPools": ["core"]}},
        {"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement",
         "metadata": {"name": "lbctl-edge", "namespace": "metallb-system"},
         "spec": {"ipAddressPools": ["edge"], "nodeSelectors": [
             {"matchLabels": {"openyurt.io/is-edge-worker": "true"}},
             {"matchExpressions": [{"key": "canary", "operator": "DoesNotExist"},
                                   {"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}},
    ]
    back = interop.from_metallb(exported.documents)
    assert (sorted(back.pools, key=lambda p: p.name), back.warnings) == (
        sorted(state.pools.values(), key=lambda p: p.name), ())


def test_metallb_legacy_configmap() -> None:
    found = interop.from_metallb(objects("metallb-configmap.yaml"))
    assert found.pools == (
        pool("default", "192.168.1.240-192.168.1.250"),
        pool("reserved", "192.168.144.0/20", auto_assign=False, avoid_buggy_ips=True),
        pool("bgp-pool", "198.51.100.0/24", announce="bgp",
             bgp=Advertisement(local_pref=100, communities=("65535:65282",))),
    )
    assert found.peers == (Peer("10.0.0.1", "10.0.0.1", 64501, 64500),)
    assert found.warnings == ()


def test_metallb_bare_legacy_config_and_unknown_fields() -> None:
    config = {"address-pools": [{"name": "a", "protocol": "layer2", "addresses": ["10.0.0.0/30"],
                                 "ipam": {"secret-name": "x"}}], "extra": 1}
    found = interop.from_metallb([config])
    assert found.pools == (pool("a", "10.0.0.0/30"),)
    assert found.warnings == (
        "the MetalLB configuration: unknown setting 'extra' not imported",
        "the MetalLB configuration: pool a: unknown field 'ipam' not imported",
    )


def test_metallb_deprecated_addresspool_and_other_kinds() -> None:
    found = interop.from_metallb([
        {"apiVersion": "metallb.io/v1beta1", "kind": "AddressPool",
         "metadata": {"name": "old", "namespace": "metallb-system"},
         "spec": {"protocol": "bgp", "addresses": ["10.1.0.0/30"], "bgpAdvertisements": [{}],
                  "future": True}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "x"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other"}, "data": {}},
    ])
    assert found.pools == (pool("old", "10.1.0.0/30", announce="bgp"),)
    assert found.warnings == (
        "AddressPool metallb-system/old: unknown field spec.future not imported",
        "Secret x/s ignored: not a MetalLB object",
        "ConfigMap other ignored: it has no key 'config' (MetalLB's configuration)",
    )


def ipaddresspool(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
            "metadata": {"name": name, "namespace": "metallb-system"}, "spec": spec}


def test_an_empty_service_selector_matches_every_service() -> None:
    found = interop.from_metallb([ipaddresspool(
        "a", addresses=["10.0.0.0/30"],
        serviceAllocation={"serviceSelectors": [{"matchLabels": {"app": "x"}}, {}]})])
    assert found.pools[0].service_selectors == ()


def test_namespace_selectors_next_to_namespaces_keep_the_namespaces() -> None:
    found = interop.from_metallb([ipaddresspool(
        "a", addresses=["10.0.0.0/30"],
        serviceAllocation={"namespaces": ["b", "a"], "namespaceSelectors": [
            {"matchExpressions": [{"key": "env", "operator": "Exists"}]}]})])
    assert found.pools[0].namespaces == ("a", "b")
    assert found.warnings[0].endswith("(env) not imported: lbctl pools name namespaces, not "
                                      "namespace labels; the pool serves only namespaces a, b")


@pytest.mark.parametrize(("given", "stored", "warned"), [
    ("192.168.1.5/24", "192.168.1.0/24", "192.168.1.5/24 has host bits set; imported as "
                                         "192.168.1.0/24, the network the other tool reads it as"),
    ("42.176.25.70/32", "42.176.25.70", ""),
    ("2001:db8::7/128", "2001:db8::7", ""),
    ("10.0.0.9-10.0.0.9", "10.0.0.9", ""),
    (" 10.0.0.1 - 10.0.0.3 ", "10.0.0.1-10.0.0.3", ""),
])
def test_address_entries_are_read_as_metallb_reads_them(given: str, stored: str,
                                                        warned: str) -> None:
    found = interop.from_metallb([ipaddresspool("a", addresses=[given])])
    assert found.pools[0].addresses == (stored,)
    assert found.warnings == ((f"IPAddressPool metallb-system/a: {warned}",) if warned else ())


@pytest.mark.parametrize(("spec", "message"), [
    ({"addresses": "10.0.0.0/30"},
     "IPAddressPool metallb-system/a: spec.addresses must be a list of strings"),
    ({"addresses": ["10.0.0.0/30"], "autoAssign": "no"},
     "IPAddressPool metallb-system/a: spec.autoAssign must be true or false, not 'no'"),
    ({"addresses": ["10.0.0.0/30"], "serviceAllocation": {"priority": "high"}},
     "IPAddressPool metallb-system/a: spec.serviceAllocation.priority must be an integer"),
    ({"addresses": []}, "IPAddressPool metallb-system/a: pool a has no addresses"),
    ({"addresses": ["10.0.0.0/30", "10.0.0.2"]},
     "IPAddressPool metallb-system/a: pool a overlap: 10.0.0.0/30 and 10.0.0.2 share 10.0.0.2"),
    ({"addresses": ["10.0.0.0/30"], "serviceAllocation": {"serviceSelectors": [
        {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}]}},
     "IPAddressPool metallb-system/a: spec.serviceAllocation.serviceSelectors: invalid match "
     "expression a Gt ['1']"),
])
def test_malformed_ipaddresspools_are_refused_by_name(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        interop.from_metallb([ipaddresspool("a", **spec)])
    assert caught.value.message == message


def test_legacy_configmap_with_broken_yaml() -> None:
    broken = {"kind": "ConfigMap", "metadata": {"name": "config", "namespace": "metallb-system"},
              "data": {"config": "address-pools: [\n"}}
    with pytest.raises(UsageError) as caught:
        interop.from_metallb([broken])
    assert caught.value.message == ("ConfigMap metallb-system/config key config:2:1: not valid "
                                    "YAML: did not find expected node content")


# --------------------------------------------------------------------------- label selectors


@pytest.mark.parametrize(("selector", "text"), [
    ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
    ({"matchExpressions": [{"key": "t", "operator": "In", "values": ["y", "x"]}]}, "t in (x,y)"),
    ({"matchExpressions": [{"key": "t", "operator": "NotIn", "values": ["x"]}]}, "t!=x"),
    ({"matchExpressions": [{"key": "t", "operator": "NotIn", "values": ["x", "y"]}]},
     "t notin (x,y)"),
    ({"matchExpressions": [{"key": "t", "operator": "Exists"}]}, "t"),
    ({"matchExpressions": [{"key": "t", "operator": "DoesNotExist"}]}, "!t"),
    ({}, None),
    ({"matchLabels": {}, "matchExpressions": []}, None),
])
def test_selector_text(selector: dict[str, Any], text: str | None) -> None:
    assert interop.selector_text(selector, "here") == text


@pytest.mark.parametrize("text", [
    "app=web", "a=1,b=2", "t in (x,y)", "t notin (x,y)", "t!=x", "t", "!t",
    "!canary,app=web,tier in (edge,frontend)", "example.com/role=lb",
])
def test_label_selector_round_trip(text: str) -> None:
    assert interop.selector_text(interop.label_selector(text), "here") == text


def test_label_selector_shape() -> None:
    assert interop.label_selector("app=web,tier in (a,b),!canary") == {
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "canary", "operator": "DoesNotExist"},
                             {"key": "tier", "operator": "In", "values": ["a", "b"]}],
    }


# --------------------------------------------------------------------------- kube-vip import


def test_kubevip_configmap() -> None:
    found = interop.from_kubevip(objects("kubevip-configmap.yaml"))
    assert found.pools == (
        pool("development", "192.168.0.224/29", namespaces=["development"], priority=1),
        pool("finance", "192.168.0.232-192.168.0.239", namespaces=["finance"], priority=1),
        pool("global", "192.168.0.200-192.168.0.219", "2001:db8:10::10-2001:db8:10::1f"),
    )
    where = "ConfigMap kube-system/kubevip"
    assert found.warnings == (
        f"{where}: allow-share-development not imported: kube-vip lets any Services of "
        "namespace development share an IPv4 address when their ports differ; lbctl shares "
        "only between Services with the same metallb.io/allow-shared-ip annotation: add it to "
        "those that share",
        f"{where}: interface-finance (eth3) not imported: lbctl arp announce chooses the "
        "interface by subnet, or --interface",
        f"{where}: range-finance not imported: kube-vip ignores it because cidr-finance is set",
        f"{where}: search-order desc not imported: lbctl always hands out the lowest free "
        "address",
        f"{where}: cidr-finance: overlapping entries merged into 192.168.0.232-192.168.0.239",
    )


def kubevip(**data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kubevip", "namespace": "kube-system"}, "data": data}


def test_kubevip_skip_end_ips_in_cidr() -> None:
    found = interop.from_kubevip([kubevip(**{
        "cidr-global": "10.0.0.0/29,10.0.1.0/31,10.0.2.7/32,2001:db8::/126",
        "skip-end-ips-in-cidr": "true", "search-order": "asc", "allow-share-global": "false",
    })])
    assert found.pools == (pool("global", "10.0.0.1-10.0.0.6", "10.0.1.0/31", "10.0.2.7",
                                "2001:db8::/126"),)
    assert found.warnings == ()


def test_kubevip_dhcp_mode_and_unknown_keys() -> None:
    found = interop.from_kubevip([kubevip(**{"cidr-global": "0.0.0.0/32", "cidr-web":
                                             "10.0.0.0/30", "loadbalancer-mode": "x"}),
                                  {"kind": "Secret", "metadata": {"name": "s"}}])
    assert [p.name for p in found.pools] == ["web"]
    assert found.warnings == (
        "ConfigMap kube-system/kubevip: unknown key 'loadbalancer-mode' not imported",
        "ConfigMap kube-system/kubevip: cidr-global: 0.0.0.0/32 (kube-vip's DHCP mode) not "
        "imported",
        "Secret s ignored: kube-vip's cloud provider reads only its ConfigMap",
    )


def test_kubevip_namespace_pools_are_tried_before_the_global_one() -> None:
    found = interop.from_kubevip([kubevip(**{"range-global": "10.0.0.1-10.0.0.9",
                                             "range-zz": "10.0.1.1-10.0.1.9"})])
    from lbctl.core.allocator import Allocator, Request

    state = state_of(*found.pools)
    record, _ = Allocator(state).allocate(Request("zz", "svc"))
    assert record.pool == "zz"  # "global" sorts first by name; priority puts zz before it
    record, _ = Allocator(state).allocate(Request("other", "svc"))
    assert record.pool == "global"


# --------------------------------------------------------------------------- adopting


def test_adopting_the_services_of_the_fixture() -> None:
    found = interop.from_metallb(objects("metallb-configmap.yaml"))
    state, imported = interop.import_pools(State(), found, objects("services.yaml"))
    assert imported.adopted == (
        Allocation("infra", "dns-tcp", ("192.168.1.240",), "default", "dns", ("TCP/53",), ""),
        Allocation("infra", "dns-udp", ("192.168.1.240",), "default", "dns", ("UDP/53",), ""),
        Allocation("shop", "web", ("192.168.1.241",), "default"),
    )
    assert dict(state.allocations) == {a.key: a for a in imported.adopted}
    assert sorted(state.pools) == ["bgp-pool", "default", "reserved"]
    assert imported.warnings == ()


def test_adopting_reports_two_services_on_one_address_without_a_sharing_key() -> None:
    found = Found((pool("a", "10.0.0.0/29"),))
    keyed = {"metallb.io/allow-shared-ip": "k"}
    services = [service("one", "x", "10.0.0.1"),
                service("two", "x", "10.0.0.1", annotations=keyed),
                service("three", "x", "10.0.0.2")]
    state, imported = interop.import_pools(State(), found, services)
    assert [a.ref for a in imported.adopted] == ["x/one", "x/three"]  # the others are adopted
    assert imported.failed == (interop.NotImported(
        "service", "x", "two",
        "cannot adopt x/two, which holds 10.0.0.1: 10.0.0.1 is used by x/one, which may not "
        "share it: x/one has no sharing key",
        "give the Services that share an address the same metallb.io/allow-shared-ip "
        "annotation and distinct ports, then import again"),)
    assert sorted(name for _, name in state.allocations) == ["one", "three"]


def test_adopting_reports_an_address_the_pools_rules_forbid() -> None:
    found = Found((pool("a", "10.0.0.0/29", namespaces=["web"]),))
    state, imported = interop.import_pools(
        State(), found, [service("ok", "web", "10.0.0.1"), service("no", "x", "10.0.0.2")])
    assert [a.ref for a in imported.adopted] == ["web/ok"]
    assert [(f.kind, f.namespace, f.name) for f in imported.failed] == [("service", "x", "no")]
    assert imported.failed[0].message.startswith("cannot adopt x/no, which holds 10.0.0.2: ")
    assert list(state.pools) == ["a"]


def test_a_service_whose_address_is_in_no_imported_pool_is_reported() -> None:
    found = Found((pool("a", "10.0.0.0/29"),))
    state, imported = interop.import_pools(State(), found, [service("lost", "x", "10.7.0.1")])
    assert imported.failed == (interop.NotImported(
        "service", "x", "lost", "service x/lost holds 10.7.0.1, which is in no imported pool",
        "import (or lbctl pool add) the pool that holds it, then import again"),)


def test_adopting_keeps_only_the_addresses_in_imported_pools() -> None:
    existing = state_of(pool("old", "10.9.0.0/30"))
    found = Found((pool("v4", "10.0.0.0/29"),))
    dual = service("dual", "x", "10.0.0.3", "2001:db8::3", ipFamilyPolicy="RequireDualStack",
                   ipFamilies=["IPv4", "IPv6"])
    other = service("other", "x", "10.9.0.1")
    state, imported = interop.import_pools(existing, found, [dual, other])
    assert [(a.ref, a.ips, a.pool) for a in imported.adopted] == [("x/dual", ("10.0.0.3",), "v4")]
    assert state.allocation("x", "other") is None


def test_adopting_leaves_another_controllers_service_out_with_a_warning() -> None:
    found = Found((pool("a", "10.0.0.0/29"),))
    foreign = service("f", "x", "10.0.0.2", loadBalancerClass="example.com/other")
    plain = {**service("c", "x", "10.0.0.3"), "spec": {"type": "ClusterIP"}}
    state, imported = interop.import_pools(State(), found, [foreign, plain])
    assert imported.adopted == ()
    assert imported.warnings == (
        "service x/f not adopted: its loadBalancerClass example.com/other belongs to another "
        "controller; it holds 10.0.0.2 (keep it from others with lbctl pool reserve)",)


def test_import_reports_a_pool_that_overlaps_an_existing_one_and_imports_the_rest() -> None:
    existing = state_of(pool("mine", "10.0.0.0/30"))
    found = Found((pool("theirs", "10.0.0.2-10.0.0.9"), pool("fine", "10.1.0.0/30")))
    state, imported = interop.import_pools(existing, found, [])
    assert [p.name for p in imported.pools] == ["fine"]
    assert [(f.kind, f.name, f.message) for f in imported.failed] == [(
        "pool", "theirs", "pools mine and theirs overlap: 10.0.0.0/30 and 10.0.0.2-10.0.0.9 "
                          "share 10.0.0.2-10.0.0.3")]
    assert sorted(state.pools) == ["fine", "mine"]


def test_a_name_collision_points_at_prefix_and_prefix_escapes_it() -> None:
    existing = state_of(pool("default", "10.0.0.0/30"))
    found = Found((pool("default", "10.1.0.0/30"),))
    _, collided = interop.import_pools(existing, found, [])
    assert [(f.name, f.message, f.hint) for f in collided.failed] == [(
        "default", "pool default already exists",
        "import under other names with --prefix (for example --prefix metallb-)")]
    state, imported = interop.import_pools(existing, found,
                                           [service("web", "x", "10.1.0.1")], prefix="metallb-")
    assert [p.name for p in imported.pools] == ["metallb-default"]
    assert [(a.ref, a.pool) for a in imported.adopted] == [("x/web", "metallb-default")]
    assert imported.failed == ()
    with pytest.raises(UsageError, match="invalid pool name 'Bad_default'"):
        interop.import_pools(existing, found, [], prefix="Bad_")


def test_a_service_in_an_existing_pool_is_pointed_at_adopt() -> None:
    existing = state_of(pool("old", "10.9.0.0/30"))
    _, imported = interop.import_pools(existing, Found((pool("a", "10.0.0.0/29"),)),
                                       [service("other", "x", "10.9.0.1")])
    assert [(f.name, f.hint) for f in imported.failed] == [
        ("other", "it is in pool old: lbctl adopt svc other -n x records it")]


def test_importing_again_changes_nothing() -> None:
    found = Found((pool("a", "10.0.0.0/29"),))
    services = [service("web", "x", "10.0.0.1")]
    state, _ = interop.import_pools(State(), found, services)
    again, imported = interop.import_pools(state, found, services)
    assert again == state
    assert (imported.pools, imported.adopted, imported.failed) == ((), (), ())
    assert [p.name for p in imported.unchanged] == ["a"]


# --------------------------------------------------------------------------- export


def test_to_metallb() -> None:
    state = state_of(
        pool("b", "10.0.0.0/24", "2001:db8::5", avoid_buggy_ips=True, priority=5,
             namespaces=["web"], selectors=["app=web,tier in (a,b)"]),
        pool("a", "10.1.0.0/29", auto_assign=False),
    )
    exported = interop.to_metallb(state)
    assert exported.warnings == ()
    assert list(exported.documents) == list(yaml.safe_load_all("""
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: b, namespace: metallb-system}
spec:
  addresses: [10.0.0.0/24, 2001:db8::5/128]
  autoAssign: true
  avoidBuggyIPs: true
  serviceAllocation:
    priority: 5
    namespaces: [web]
    serviceSelectors:
    - matchLabels: {app: web}
      matchExpressions: [{key: tier, operator: In, values: [a, b]}]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a, namespace: metallb-system}
spec: {addresses: [10.1.0.0/29], autoAssign: false, avoidBuggyIPs: false}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: lbctl, namespace: metallb-system}
spec: {ipAddressPools: [b, a]}
"""))


def test_to_metallb_carves_reservations_out_and_says_so() -> None:
    from lbctl.core.pools import reserve

    state = reserve(state_of(pool("a", "10.0.0.0/29", "10.0.1.7", priority=0)), "a",
                    ["10.0.0.0", "10.0.0.3", "10.0.0.4", "10.0.1.7"], "router")
    exported = interop.to_metallb(state, ["a"], namespace="lb")
    assert exported.documents[0]["spec"]["addresses"] == ["10.0.0.1-10.0.0.2",
                                                          "10.0.0.5-10.0.0.7"]
    assert exported.documents[0]["metadata"] == {"name": "a", "namespace": "lb"}
    assert exported.warnings == (
        "pool a: reservations have no MetalLB equivalent; their addresses (10.0.0.0, 10.0.0.3, "
        "10.0.0.4, 10.0.1.7) are left out of the exported addresses instead, and their notes "
        "are lost",
        "pool a: priority 0 not exported: MetalLB reads 0 as no priority (use 1 or more)",
    )


def test_export_names_unknown_pools_and_needs_a_pool() -> None:
    with pytest.raises(NotFoundError) as caught:
        interop.to_metallb(state_of(pool("a", "10.0.0.1")), ["nope"])
    assert caught.value.message == "pool nope not found (pools: a)"
    with pytest.raises(NotFoundError) as caught:
        interop.to_kubevip(State())
    assert caught.value.message == "no pools to export"


def test_to_kubevip() -> None:
    state = state_of(
        pool("g1", "10.0.0.0/29", priority=3),
        pool("g2", "10.0.1.0/30", "2001:db8::/120", avoid_buggy_ips=True),
        pool("web", "10.0.2.0/30", namespaces=["web", "api"], selectors=["app=x"]),
        pool("dev", "10.0.3.1-10.0.3.9", namespaces=["dev"], priority=1),
        pool("manual", "10.0.4.0/30", auto_assign=False),
        allocations=[Allocation("web", "s", ("10.0.2.1",), "web", "k", ("TCP/80",))],
    )
    exported = interop.to_kubevip(state)
    assert exported.documents == ({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kubevip", "namespace": "kube-system"},
        "data": {
            "cidr-api": "10.0.2.0/30",
            "range-dev": "10.0.3.1-10.0.3.9",
            "cidr-global": "10.0.0.0/29,10.0.1.0/30,2001:db8::/120",
        },
    },)
    assert exported.warnings == (
        "pool g1: priority 3 not exported: kube-vip has no priorities",
        "pool g2: avoidBuggyIPs not exported: kube-vip may hand out addresses ending in .0 and "
        ".255",
        "pool manual not exported: kube-vip has no autoAssign: false (it would hand the "
        "addresses out to any Service); Services can still ask for them with the "
        "kube-vip.io/loadbalancerIPs annotation",
        "pool web: exported for namespace api only: a kube-vip pool serves one namespace "
        "(namespaces web lose it)",
        "pool web: serviceSelectors (app=x) not exported: kube-vip has no selectors; the pool "
        "serves every Service of namespace api",
        "pools g1, g2 merged into one kube-vip pool for every namespace",
        "1 allocations in the exported pools are not carried over: kube-vip counts an address "
        "as used only when its Service has the kube-vip.io/loadbalancerIPs annotation",
        "sharing keys (k) not exported: kube-vip shares with allow-share-<namespace>, between "
        "any Services whose ports differ",
    )


def test_to_kubevip_writes_ranges_around_reservations() -> None:
    from lbctl.core.pools import reserve

    state = reserve(state_of(pool("a", "10.0.0.0/30", "10.0.0.9")), "a", ["10.0.0.1"], "")
    exported = interop.to_kubevip(state)
    assert exported.documents[0]["data"] == {"range-global": "10.0.0.0-10.0.0.0,"
                                             "10.0.0.2-10.0.0.3,10.0.0.9-10.0.0.9"}


def test_to_kubevip_with_nothing_it_can_express() -> None:
    with pytest.raises(RefusedError) as caught:
        interop.to_kubevip(state_of(pool("a", "10.0.0.1", auto_assign=False)))
    assert caught.value.message == ("nothing to export: kube-vip has no autoAssign: false, which "
                                    "every selected pool has")


# --------------------------------------------------------------------------- round trips


def addresses_as_sets(pools: Iterable[Pool]) -> list[Pool]:
    """Pools with each address entry written as its first-last range: ``10.0.0.1/32`` and
    ``10.0.0.1`` are the same entry (MetalLB needs the first form, lbctl shows the second)."""
    return sorted(
        (replace(p, addresses=tuple(describe(e.version, e.first, e.last) + "#"
                                    for e in p.entries)) for p in pools),
        key=lambda p: p.name,
    )


def test_single_addresses_travel_as_host_cidrs() -> None:
    exported = interop.to_metallb(state_of(pool("a", "10.0.0.1", "2001:db8::1")))
    assert exported.documents[0]["spec"]["addresses"] == ["10.0.0.1/32", "2001:db8::1/128"]
    assert interop.from_metallb(exported.documents[:1]).pools == (
        pool("a", "10.0.0.1", "2001:db8::1"),)


_label = st.text(alphabet="abcxyz019", min_size=1, max_size=4).map(lambda t: "l" + t)


@st.composite
def selectors(draw: st.DrawFn) -> str:
    parts = []
    for key in draw(st.lists(_label, min_size=1, max_size=3, unique=True)):
        values = draw(st.lists(_label, min_size=2, max_size=3, unique=True))
        parts.append(draw(st.sampled_from([
            f"{key}={values[0]}", f"{key}!={values[0]}", f"{key} in ({','.join(values)})",
            f"{key} in ({values[0]})", f"{key} notin ({','.join(values)})", key, f"!{key}",
        ])))
    return ",".join(parts)


@st.composite
def metallb_pools(draw: st.DrawFn) -> list[Pool]:
    """Pools with every field MetalLB can express: disjoint IPv4 blocks and IPv6 CIDRs."""
    pools = []
    for index in range(draw(st.integers(1, 4))):
        entries = [f"10.{index}.0.0/{draw(st.integers(16, 32))}",
                   f"10.{index + 100}.0.{draw(st.integers(0, 9))}-10.{index + 100}.1.5"]
        if draw(st.booleans()):
            entries.append(f"2001:db8:{index}::/{draw(st.integers(48, 128))}")
        pools.append(pool(
            f"p{index}", *entries,
            auto_assign=draw(st.booleans()), avoid_buggy_ips=draw(st.booleans()),
            namespaces=draw(st.lists(_label, max_size=2)),
            selectors=draw(st.lists(selectors(), max_size=2)),
            priority=draw(st.one_of(st.none(), st.integers(1, 1000))),
        ))
    return pools


def dump(documents: Iterable[dict[str, Any]]) -> str:
    return yaml.dump_all(documents, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper))


@settings(max_examples=100, deadline=None)
@given(metallb_pools())
def test_metallb_round_trip(pools: list[Pool]) -> None:
    exported = interop.to_metallb(state_of(*pools))
    assert exported.warnings == ()
    text = dump(exported.documents)
    back = interop.from_metallb(interop.parse_manifests(text, "export"))
    assert back.warnings == ()
    assert addresses_as_sets(back.pools) == addresses_as_sets(pools)


@pytest.mark.parametrize("pools", [
    [pool("global", "10.0.0.0/24", "2001:db8::/64")],
    [pool("global", "10.0.0.5-10.0.0.9", "10.0.1.1"),
     pool("web", "10.0.2.0/30", namespaces=["web"], priority=1)],
    [pool("a", "10.0.3.0/29", namespaces=["a"], priority=1),
     pool("b", "10.0.4.1-10.0.4.2", namespaces=["b"], priority=1)],
], ids=["global", "global-and-namespace", "namespaces"])
def test_kubevip_round_trip(pools: list[Pool]) -> None:
    exported = interop.to_kubevip(state_of(*pools))
    assert exported.warnings == ()
    text = dump(exported.documents)
    assert list(interop.from_kubevip(interop.parse_manifests(text, "export")).pools) == pools
