"""MetalLB's BGP configuration in and out: BGPPeers, BGPAdvertisements, Community aliases, the
legacy ConfigMap's ``peers`` and ``protocol: bgp`` pools; the seed's ConfigMap imports with no
warning, and exporting then importing again gives the same state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lbctl.core import interop
from lbctl.core.bgp import Advertisement, Peer
from lbctl.core.state import State, encode
from lbctl.errors import UsageError
from tests.core.support import pool

FIXTURES = Path(__file__).parent.parent / "fixtures" / "interop"
SEED = "metallb-seed-bgp.yaml"


def objects(name: str) -> list[dict[str, Any]]:
    return interop.parse_manifests((FIXTURES / name).read_text(), name)


def imported(found: interop.Found, state: State | None = None) -> State:
    after, result = interop.import_pools(state or State(), found, [])
    assert result.failed == ()
    return after


def crd(kind: str, name: str, api: str = "metallb.io/v1beta1", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": api, "kind": kind,
            "metadata": {"name": name, "namespace": "metallb-system"}, "spec": spec}


def test_the_seeds_legacy_configmap_imports_with_no_warning() -> None:
    found = interop.from_metallb(objects(SEED))
    assert found.warnings == ()
    assert found.peers == (Peer("192.168.200.1", "192.168.200.1", 64501, 64500),)
    assert found.pools == (pool("default", "192.168.197.0/24", announce="bgp"),)
    state, result = interop.import_pools(State(), found, [])
    assert [p.name for p in result.peers] == ["192.168.200.1"]
    assert state.pools["default"].announce == "bgp"
    again, second = interop.import_pools(state, found, [])
    assert (again, [p.name for p in second.unchanged_peers]) == (state, ["192.168.200.1"])


def test_round_trip_through_metallb_crds() -> None:
    state = imported(interop.from_metallb(objects(SEED)))
    exported = interop.to_metallb(state)
    assert exported.warnings == ()
    assert [(d["kind"], d["metadata"]["name"]) for d in exported.documents] == [
        ("IPAddressPool", "default"), ("BGPAdvertisement", "default"),
        ("BGPPeer", "192.168.200.1")]
    assert exported.documents[1]["spec"] == {"ipAddressPools": ["default"]}
    assert exported.documents[2] == {
        "apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
        "metadata": {"name": "192.168.200.1", "namespace": "metallb-system"},
        "spec": {"myASN": 64500, "peerASN": 64501, "peerAddress": "192.168.200.1"}}
    back = interop.from_metallb(exported.documents)
    assert back.warnings == ()
    assert encode(imported(back)) == encode(state)


def test_round_trip_of_every_bgp_setting() -> None:
    router = Peer("router", "192.168.200.1", 64501, 64500, port=1179, hold_time=30,
                  password_secret="router-bgp", source_address="192.168.200.5",
                  ebgp_multihop=True, node_selectors=("rack=a",))
    state = State(peers={"router": router, "rr": Peer("rr", "fd00::1", 64500, 64500)})
    state = imported(interop.Found((
        pool("routed", "192.168.197.0/24", announce="both",
             bgp=Advertisement(aggregation_length=24, aggregation_length_v6=120, local_pref=200,
                               communities=("64500:100", "large:1:2:3", "no-export"),
                               peers=("router",))),
        pool("l2", "10.0.0.0/24"))), state)
    exported = interop.to_metallb(state)
    assert exported.warnings == (
        "peer router: MetalLB reads the password from Secret metallb-system/router-bgp (type "
        "kubernetes.io/basic-auth, key password): copy kube-system/router-bgp there",)
    kinds = [(d["kind"], d["metadata"]["name"]) for d in exported.documents]
    assert kinds == [("IPAddressPool", "l2"), ("IPAddressPool", "routed"),
                     ("L2Advertisement", "lbctl"), ("BGPAdvertisement", "routed"),
                     ("BGPPeer", "router"), ("BGPPeer", "rr")]
    assert exported.documents[2]["spec"] == {"ipAddressPools": ["l2", "routed"]}
    back = interop.from_metallb(exported.documents)
    assert back.warnings == (
        "BGPPeer metallb-system/router: passwordSecret metallb-system/router-bgp: lbctl's "
        "speakers read kube-system/router-bgp (key password): copy the Secret there",)
    assert encode(imported(back)) == encode(state)


def test_bgp_crds_with_aliases_selectors_and_what_cannot_be_kept() -> None:
    found = interop.from_metallb([
        {**crd("IPAddressPool", "a", addresses=["10.0.0.0/24"]),
         "metadata": {"name": "a", "namespace": "metallb-system", "labels": {"zone": "x"}}},
        crd("IPAddressPool", "b", addresses=["10.0.1.0/24"]),
        crd("IPAddressPool", "c", addresses=["10.0.2.0/24"]),
        crd("Community", "aliases", communities=[{"name": "edge", "value": "64500:7"}]),
        crd("BGPAdvertisement", "by-label", ipAddressPoolSelectors=[{"matchLabels": {"zone": "x"}}],
            communities=["edge"], aggregationLength=24, nodeSelectors=[{}]),
        crd("BGPAdvertisement", "by-name", ipAddressPools=["b"], peers=["tor"]),
        crd("BGPAdvertisement", "z-again", ipAddressPools=["b"], localPref=5),
        crd("L2Advertisement", "l2", ipAddressPools=["b"]),
        crd("BGPPeer", "tor", api="metallb.io/v1beta2", myASN=64500, peerASN=64501,
            peerAddress="10.9.0.1", holdTime="1m30s", password="hunter2", bfdProfile="fast",
            nodeSelectors=[{"matchExpressions": [{"key": "rack", "operator": "In",
                                                   "values": ["a", "b"]}]}]),
    ])
    assert found.pools == (
        pool("a", "10.0.0.0/24", announce="bgp",
             bgp=Advertisement(aggregation_length=24, communities=("64500:7",))),
        pool("b", "10.0.1.0/24", announce="both", bgp=Advertisement(peers=("tor",))),
        pool("c", "10.0.2.0/24"),
    )
    assert found.peers == (Peer("tor", "10.9.0.1", 64501, 64500, hold_time=90,
                                node_selectors=("rack in (a,b)",)),)
    assert found.warnings == (
        "BGPPeer metallb-system/tor: bfdProfile not imported: lbctl's peers have no such "
        "setting",
        "BGPPeer metallb-system/tor: the password is not imported: lbctl keeps passwords in "
        "Secrets only; store it with lbctl bgp peer add --password-file, or in a Secret of "
        "kube-system named with --password-secret",
        "BGPAdvertisement metallb-system/by-label: spec.nodeSelectors not imported: lbctl "
        "announces from every node that peers (give the peers node selectors)",
        "BGPAdvertisement metallb-system/z-again not imported for pool b: lbctl keeps one BGP "
        "advertisement per pool (BGPAdvertisement metallb-system/by-name)",
        "IPAddressPool metallb-system/c: no L2Advertisement covers it, so MetalLB does not "
        "announce it in layer 2; lbctl speaker announces it from every eligible node",
    )


def test_legacy_peers_and_advertisements() -> None:
    config = {
        "peers": [
            {"peer-address": "10.0.0.1", "peer-asn": 64501, "my-asn": 64500, "peer-port": 1179,
             "hold-time": "120s", "source-address": "10.0.0.5", "router-id": "1.2.3.4",
             "node-selectors": [{"match-labels": {"rack": "a"}}]},
            {"peer-address": "fd00::1", "peer-asn": 64500, "my-asn": 64500},
            {"peer-address": "10.0.0.1", "peer-asn": 64502, "my-asn": 64500, "peer-port": 2179},
        ],
        "bgp-communities": {"edge": "64500:7"},
        "address-pools": [
            {"name": "p", "protocol": "bgp", "addresses": ["10.1.0.0/24"],
             "bgp-advertisements": [{"aggregation-length": 24, "communities": ["edge"]},
                                    {"aggregation-length": 32}]},
            {"name": "q", "protocol": "layer2", "addresses": ["10.2.0.0/24"],
             "bgp-advertisements": [{"localpref": 5}]},
        ],
    }
    found = interop.from_metallb([config])
    assert found.peers == (
        Peer("10.0.0.1", "10.0.0.1", 64501, 64500, port=1179, hold_time=120,
             source_address="10.0.0.5", node_selectors=("rack=a",)),
        Peer("fd00--1", "fd00::1", 64500, 64500),
        Peer("10.0.0.1-2", "10.0.0.1", 64502, 64500, port=2179),
    )
    assert found.pools == (
        pool("p", "10.1.0.0/24", announce="bgp",
             bgp=Advertisement(aggregation_length=24, communities=("64500:7",))),
        pool("q", "10.2.0.0/24"),
    )
    where = "the MetalLB configuration"
    assert found.warnings == (
        f"{where}: peer 10.0.0.1: router-id not imported: lbctl's peers have no such setting",
        f"{where}: pool p: bgp-advertisements after the first not imported: lbctl keeps one "
        "BGP advertisement per pool",
        f"{where}: pool q: bgp-advertisements not imported: the pool's protocol is layer2",
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"peers": [{"peer-address": "10.0.0.1", "peer-asn": 1, "my-asn": 1,
                     "ebgp-multihop": True}], "address-pools": []},
         "the MetalLB configuration: peer 10.0.0.1: ebgpMultiHop is for eBGP only"),
        ({"peers": [{"peer-address": "10.0.0.1", "peer-asn": 2, "my-asn": 1,
                     "hold-time": "2.5s"}], "address-pools": []},
         "the MetalLB configuration: peer 10.0.0.1: hold-time: '2.5s' is not a whole number"),
        ({"address-pools": [{"name": "p", "protocol": "bgp", "addresses": ["10.1.0.0/24"],
                             "bgp-advertisements": [{"aggregation-length": 16}]}]},
         "the MetalLB configuration: pool p: pool p: aggregationLength 16 is shorter than the "
         "prefix /24"),
        ({"address-pools": [{"name": "p", "protocol": "ospf", "addresses": ["10.1.0.0/24"]}]},
         "the MetalLB configuration: pool p: unknown protocol 'ospf'"),
    ],
)
def test_bad_bgp_settings_are_refused_naming_the_object(config: dict[str, Any],
                                                        message: str) -> None:
    with pytest.raises(UsageError) as caught:
        interop.from_metallb([config])
    assert caught.value.message.startswith(message), caught.value.message


def test_an_advertisement_naming_an_unknown_peer_fails_its_pool_only() -> None:
    found = interop.Found((pool("p", "10.1.0.0/24", announce="bgp",
                                bgp=Advertisement(peers=("gone",))), pool("q", "10.2.0.0/24")))
    state, result = interop.import_pools(State(), found, [])
    assert list(state.pools) == ["q"]
    assert [(f.kind, f.name, f.message) for f in result.failed] == [
        ("pool", "p", "pool p: BGP peer gone not found (peers: none)")]
