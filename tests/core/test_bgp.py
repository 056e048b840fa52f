"""BGP in the state: peers, announcement modes and advertisements, their rules (MetalLB's), the
codec (old documents unchanged), and the pure pool and peer changes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lbctl.core.addresses import parse_entry
from lbctl.core.bgp import (
    Advertisement,
    Peer,
    advertisement_problems,
    cidr_lengths,
    community_problem,
    make_advertisement,
    make_peer,
    normal_community,
    peer_problems,
)
from lbctl.core.peers import add_peer, get_peer, remove_peer
from lbctl.core.pools import add_pool, make_pool, set_pool
from lbctl.core.state import State, decode, encode, problems_of, to_document
from lbctl.errors import ExitCode, InvalidStateError, LbctlError
from tests.core.support import state_of

ROUTER = Peer("router", "192.168.200.1", 64501, 64500)


# ------------------------------------------------------------------------------- peers


@pytest.mark.parametrize(
    ("peer", "problem"),
    [
        (ROUTER, None),
        (replace(ROUTER, hold_time=0), None),
        (replace(ROUTER, hold_time=3), None),
        (replace(ROUTER, hold_time=2), "peer router: holdTime must be 0 or 3..65535 seconds, "
         "not 2"),
        (replace(ROUTER, hold_time=65536), "peer router: holdTime must be 0 or 3..65535 "
         "seconds, not 65536"),
        (replace(ROUTER, asn=0), "peer router: asn must be 1..4294967295, not 0"),
        (replace(ROUTER, my_asn=4294967296), "peer router: myASN must be 1..4294967295, not "
         "4294967296"),
        (replace(ROUTER, port=0), "peer router: port must be 1..65535, not 0"),
        (replace(ROUTER, address="192.168.200"), "peer router: address '192.168.200' is not "
         "an IP address"),
        (replace(ROUTER, address="2001:DB8::1"), "peer router: address '2001:DB8::1' is not in "
         "canonical form (2001:db8::1)"),
        (replace(ROUTER, source_address="2001:db8::5"), "peer router: sourceAddress "
         "2001:db8::5 and address 192.168.200.1 are of different IP families"),
        (replace(ROUTER, ebgp_multihop=True), None),
        (replace(ROUTER, asn=64500, ebgp_multihop=True), "peer router: ebgpMultiHop is for "
         "eBGP only, and asn = myASN = 64500 makes this an iBGP session"),
        (replace(ROUTER, password_secret="Bad_Name"), "peer router: passwordSecret 'Bad_Name' "
         "is not a Secret name"),
        (replace(ROUTER, node_selectors=("rack in (a",)), "peer router: invalid label key "
         "'rack in (a' in selector 'rack in (a'"),
    ],
)
def test_peer_rules(peer: Peer, problem: str | None) -> None:
    assert peer_problems(peer) == ([problem] if problem else [])


def test_make_peer_normalises_and_refuses() -> None:
    peer = make_peer("r", "2001:DB8::1", 64501, 64500, node_selectors=["b=2,a=1", "a=1,b=2"])
    assert (peer.address, peer.node_selectors) == ("2001:db8::1", ("a=1,b=2",))
    with pytest.raises(LbctlError) as caught:
        make_peer("r", "10.0.0.1", 64500, 64500, ebgp_multihop=True)
    assert caught.value.exit_code == ExitCode.USAGE
    assert "iBGP" in caught.value.message


def test_peer_node_selectors() -> None:
    assert ROUTER.admits_node({})
    racked = make_peer("r", "10.0.0.1", 1, 2, node_selectors=["rack=a", "rack=b"])
    assert racked.admits_node({"rack": "b"}) and not racked.admits_node({"rack": "c"})
    assert racked.ibgp is False and replace(racked, asn=2).ibgp is True


# ------------------------------------------------------------------------------- communities


@pytest.mark.parametrize(
    ("text", "ok"),
    [("64500:100", True), ("0:0", True), ("65535:65535", True), ("65536:1", False),
     ("64500", False), ("a:b", False), ("1:2:3", False), ("no-export", True),
     ("blackhole", True), ("large:4200000000:1:2", True), ("large:4294967296:1:2", False),
     ("large:1:2", False), ("", False)],
)
def test_community_syntax(text: str, ok: bool) -> None:
    assert (community_problem(text) is None) is ok


def test_communities_are_normalised_sorted_and_unique() -> None:
    assert normal_community(" NO-EXPORT ") == "no-export"
    assert normal_community("064500:0100") == "64500:100"
    assert normal_community("LARGE:01:2:3") == "large:1:2:3"
    made = make_advertisement(communities=["64500:100", "no-export", "64500:0100"])
    assert made.communities == ("64500:100", "no-export")
    with pytest.raises(LbctlError, match=r"invalid community '64500'"):
        make_advertisement(communities=["64500"])


# ------------------------------------------------------------------------------- aggregation


@pytest.mark.parametrize(
    ("entry", "lengths"),
    [("10.0.0.0/24", [24]), ("10.0.0.7", [32]), ("10.0.0.1-10.0.0.14", [32, 31, 30, 30, 31, 32]),
     ("10.0.0.0-10.0.0.255", [24]), ("2001:db8::/64", [64]), ("0.0.0.0/0", [0])],
)
def test_cidr_lengths(entry: str, lengths: list[int]) -> None:
    assert cidr_lengths(parse_entry(entry)) == lengths


@pytest.mark.parametrize(
    ("adv", "entries", "problems"),
    [
        (Advertisement(), ["192.168.197.0/24", "2001:db8::/64"], []),
        (Advertisement(aggregation_length=24), ["192.168.197.0/24"], []),
        (Advertisement(aggregation_length=26), ["1.2.3.0/28"],
         ["pool p: aggregationLength 26 is shorter than the prefix /28 of 1.2.3.0/28: the "
          "aggregate would announce addresses outside the pool"]),
        # a range counts as its CIDRs: its widest one (/30 here) sets the limit, as MetalLB's
        (Advertisement(aggregation_length=30), ["10.0.0.1-10.0.0.14"], []),
        (Advertisement(aggregation_length=29), ["10.0.0.1-10.0.0.14"],
         ["pool p: aggregationLength 29 is shorter than the prefix /30 of "
          "10.0.0.1-10.0.0.14: the aggregate would announce addresses outside the pool"]),
        (Advertisement(aggregation_length_v6=56), ["2001:db8::/64"],
         ["pool p: aggregationLengthV6 56 is shorter than the prefix /64 of 2001:db8::/64: the "
          "aggregate would announce addresses outside the pool"]),
        (Advertisement(aggregation_length=33), ["10.0.0.0/24"],
         ["pool p: aggregationLength must be 0..32, not 33"]),
        (Advertisement(aggregation_length_v6=129), ["10.0.0.0/24"],
         ["pool p: aggregationLengthV6 must be 0..128, not 129"]),
        (Advertisement(local_pref=-1), ["10.0.0.0/24"],
         ["pool p: localPref must be 0..4294967295, not -1"]),
        (Advertisement(peers=("router", "gone")), ["10.0.0.0/24"],
         ["pool p: BGP peer gone does not exist"]),
    ],
)
def test_advertisement_rules(adv: Advertisement, entries: list[str],
                             problems: list[str]) -> None:
    parsed = [parse_entry(e) for e in entries]
    assert advertisement_problems(adv, parsed, ["router"], "pool p") == problems


def test_prefix_announced_for_an_address() -> None:
    assert Advertisement().prefix("192.168.197.10") == "192.168.197.10/32"
    assert Advertisement(aggregation_length=24).prefix("192.168.197.10") == "192.168.197.0/24"
    assert Advertisement(aggregation_length_v6=64).prefix("2001:db8::5") == "2001:db8::/64"
    assert Advertisement().prefix("2001:db8::5") == "2001:db8::5/128"


# ------------------------------------------------------------------------------- the codec

SEED = """\
schemaVersion: 1
pools:
  bgp:
    addresses: [192.168.197.0/24]
    autoAssign: true
    avoidBuggyIPs: false
    announce: bgp
    bgp: {aggregationLength: 32, aggregationLengthV6: 128, localPref: 100, communities: \
['64500:100', no-export], peers: [router]}
  lan:
    addresses: [192.0.2.10-192.0.2.49]
    autoAssign: true
    avoidBuggyIPs: false
allocations: {}
holds: {}
peers:
  rack-a: {address: '2001:db8::1', asn: 64501, myASN: 64500, port: 1179, holdTime: 0, \
passwordSecret: rack-a-bgp, sourceAddress: '2001:db8::5', ebgpMultiHop: true, nodeSelectors: \
[rack=a]}
  router: {address: 192.168.200.1, asn: 64501, myASN: 64500, port: 179, holdTime: 90}
"""


def seed_state() -> State:
    state = state_of(make_pool("lan", ["192.0.2.10-192.0.2.49"]))
    state = add_peer(state, ROUTER)
    state = add_peer(state, make_peer("rack-a", "2001:db8::1", 64501, 64500, port=1179,
                                      hold_time=0, password_secret="rack-a-bgp",
                                      source_address="2001:db8::5", ebgp_multihop=True,
                                      node_selectors=["rack=a"]))
    return add_pool(state, make_pool(
        "bgp", ["192.168.197.0/24"], announce="bgp",
        bgp=make_advertisement(local_pref=100, communities=["no-export", "64500:100"],
                               peers=["router"])))


def test_encode_writes_peers_and_advertisements() -> None:
    assert encode(seed_state()) == SEED
    assert decode(SEED) == seed_state()


def test_a_state_without_bgp_is_written_as_before() -> None:
    state = state_of(make_pool("lan", ["192.0.2.10-192.0.2.49"]))
    assert "announce" not in encode(state) and "peers" not in encode(state)
    assert set(to_document(state)) == {"schemaVersion", "pools", "allocations", "holds"}
    old = "schemaVersion: 1\npools:\n  lan: {addresses: [192.0.2.10-192.0.2.49]}\n"
    pool = decode(old).pools["lan"]
    assert (pool.announce, pool.bgp, decode(old).peers) == ("layer2", Advertisement(), {})


def refused(text: str) -> list[str]:
    with pytest.raises(InvalidStateError) as caught:
        decode(text, "state file lb.yaml")
    return [str(p) for p in problems_of(caught.value)]


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        ("schemaVersion: 1\npeers:\n  r: {address: 10.0.0.1, asn: '1', myASN: 2, x: 1}\n",
         ["unknown field 'x' in peer r (line 3, column 46)",
          "peer r: asn must be an integer, not '1' (line 3, column 31)",
          "peer r: asn must be 1..4294967295, not 0"]),
        ("schemaVersion: 1\npeers:\n  r: {address: 10.0.0.1, myASN: 2}\n",
         ["peer r: asn is required (line 3, column 6)",
          "peer r: asn must be 1..4294967295, not 0"]),
        ("schemaVersion: 1\npeers:\n  r: {address: 10.0.0.1, asn: 1, myASN: 1, password: x}\n",
         ["unknown field 'password' in peer r (line 3, column 44)"]),
        ("schemaVersion: 1\npools:\n  p: {addresses: [10.0.0.0/24], announce: arp}\n",
         ["pool p: announce must be one of layer2, bgp, both, not 'arp'"]),
        ("schemaVersion: 1\npools:\n  p: {addresses: [10.0.0.0/24], bgp: {localPref: 1}}\n",
         ["pool p has BGP options but announce is layer2"]),
        ("schemaVersion: 1\npools:\n  p: {addresses: [10.0.0.0/24], announce: both, "
         "bgp: {aggregationLength: 16, communities: [64500:1], peers: [r]}}\n",
         ["pool p bgp: communities must be a list of strings (line 3, column 91)",
          "pool p: aggregationLength 16 is shorter than the prefix /24 of 10.0.0.0/24: the "
          "aggregate would announce addresses outside the pool",
          "pool p: BGP peer r does not exist"]),
        ("schemaVersion: 1\npeers:\n  a: {address: 10.0.0.1, asn: 1, myASN: 2}\n"
         "  b: {address: 10.0.0.1, asn: 3, myASN: 2}\n",
         ["peers a and b are the same session (10.0.0.1 port 179)"]),
    ],
)
def test_bad_bgp_documents_are_refused(text: str, problems: list[str]) -> None:
    assert refused(text) == problems


# ------------------------------------------------------------------------------- changes


def test_pool_bgp_options_need_bgp_and_known_peers() -> None:
    with pytest.raises(LbctlError, match="announces with layer2 only"):
        make_pool("p", ["10.0.0.0/24"], bgp=Advertisement(local_pref=1))
    with pytest.raises(ValueError, match="invalid announce mode 'arp'"):
        make_pool("p", ["10.0.0.0/24"], announce="arp")
    with pytest.raises(LbctlError) as caught:
        add_pool(State(), make_pool("p", ["10.0.0.0/24"], announce="bgp",
                                    bgp=Advertisement(peers=("router",))))
    assert caught.value.exit_code == ExitCode.NOT_FOUND
    assert caught.value.message == "pool p: BGP peer router not found (peers: none)"


def test_set_pool_changes_the_announcement() -> None:
    state = add_peer(state_of(make_pool("p", ["10.0.0.0/24"])), ROUTER)
    state = set_pool(state, "p", announce="both", bgp={"aggregation_length": 24,
                                                       "peers": ("router",)})
    assert state.pools["p"].bgp == Advertisement(aggregation_length=24, peers=("router",))
    kept = set_pool(state, "p", bgp={"local_pref": 50})
    assert (kept.pools["p"].announce, kept.pools["p"].bgp.aggregation_length) == ("both", 24)
    back = set_pool(kept, "p", announce="layer2")
    assert (back.pools["p"].announce, back.pools["p"].bgp) == ("layer2", Advertisement())
    with pytest.raises(LbctlError, match="shorter than the prefix /24"):
        set_pool(state, "p", bgp={"aggregation_length": 20})
    with pytest.raises(LbctlError, match="announces with layer2 only"):
        set_pool(state, "p", announce="layer2", bgp={"local_pref": 1})


def test_peer_changes() -> None:
    state = add_peer(State(), ROUTER)
    assert get_peer(state, "router") == ROUTER
    with pytest.raises(LbctlError, match="BGP peer router already exists"):
        add_peer(state, ROUTER)
    with pytest.raises(LbctlError, match="peers other and router are the same session"):
        add_peer(state, replace(ROUTER, name="other"))
    used = add_pool(state, make_pool("p", ["10.0.0.0/24"], announce="bgp",
                                     bgp=Advertisement(peers=("router",))))
    with pytest.raises(LbctlError) as caught:
        remove_peer(used, "router")
    assert caught.value.exit_code == ExitCode.REFUSED
    assert remove_peer(state, "router").peers == {}
    with pytest.raises(LbctlError) as missing:
        remove_peer(state, "nope")
    assert missing.value.exit_code == ExitCode.NOT_FOUND


def test_allocating_keeps_the_peers() -> None:
    from lbctl.core.allocator import Allocator, Request

    state = add_peer(state_of(make_pool("p", ["10.0.0.0/30"])), ROUTER)
    allocator = Allocator(state)
    allocator.allocate(Request("web", "front"))
    assert allocator.state().peers == {"router": ROUTER}
    assert len(allocator.state().allocations) == 1


def test_an_advertisement_reaches_the_peers_it_admits_of_the_addresses_family() -> None:
    v4 = Peer("v4", "192.0.2.1", 64501, 64500)
    v6 = Peer("v6", "2001:db8::1", 64501, 64500)
    every = Advertisement()
    assert (every.reaches(v4, 4), every.reaches(v4, 6), every.reaches(v6, 6)) == (
        True, False, True)
    only_v6 = Advertisement(peers=("v6",))
    assert not only_v6.reaches(v4, 4)
    assert every.unheard({4, 6}, [v4]) == [6]
    assert only_v6.unheard({4, 6}, [v4, v6]) == [4]
    assert every.unheard({4, 6}, [v4, v6]) == []
    assert every.unheard({4}, []) == [4]
