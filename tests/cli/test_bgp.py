"""``lbctl bgp peer ...``, ``pool add/set --announce`` and ``lbctl bgp export``: exact output
and exit codes, on a state file and on the fake kube-apiserver (the password Secret)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests import statefiles
from tests.conftest import Cli
from tests.kubefake import resources
from tests.kubefake.server import FakeKubeServer

ROUTER = ("bgp", "peer", "add", "router", "--address", "192.168.200.1", "--asn", "64501",
          "--my-asn", "64500")


@pytest.fixture
def state(tmp_path: Path) -> str:
    return str(tmp_path / "lb.yaml")


def document(state: str) -> dict[str, object]:
    found: dict[str, object] = statefiles.document(state)
    return found


# ------------------------------------------------------------------------------- peers


def test_peer_add_list_show_remove(cli: Cli, state: str) -> None:
    added = cli(*ROUTER, "--state", state)
    assert (added.code, added.out, added.err) == (0, "bgppeer/router created\n", "")
    assert document(state)["peers"] == {"router": {
        "address": "192.168.200.1", "asn": 64501, "myASN": 64500, "port": 179,
        "holdTime": 90}}
    rack = cli("bgp", "peer", "add", "rack-a", "--address", "10.0.0.1", "--asn", "64500",
               "--my-asn", "64500", "--port", "1179", "--hold-time", "0", "--password-secret",
               "rack-a-bgp", "--source-address", "10.0.0.5", "--node-selector", "rack=a",
               "--state", state)
    assert rack.code == 0, rack.err
    listed = cli("bgp", "peer", "list", "--state", state)
    assert (listed.code, listed.out) == (0, (
        "NAME     ADDRESS         ASN     MY-ASN   TYPE\n"
        "rack-a   10.0.0.1        64500   64500    iBGP\n"
        "router   192.168.200.1   64501   64500    eBGP\n"))
    wide = cli("bgp", "peer", "list", "-o", "wide", "--no-headers", "--state", state)
    assert wide.out == (
        "rack-a   10.0.0.1        64500   64500   iBGP   1179   0s    secret/rack-a-bgp   "
        "10.0.0.5   no   rack=a\n"
        "router   192.168.200.1   64501   64500   eBGP   179    90s   -                   "
        "-          no   *\n")
    assert cli("bgp", "peer", "list", "-o", "name", "--state", state).out == (
        "bgppeer/rack-a\nbgppeer/router\n")
    shown = json.loads(cli("bgp", "peer", "show", "rack-a", "-o", "json", "--state", state).out)
    assert shown == {"name": "rack-a", "address": "10.0.0.1", "asn": 64500, "myASN": 64500,
                     "port": 1179, "holdTime": 0, "passwordSecret": "rack-a-bgp",
                     "sourceAddress": "10.0.0.5", "ebgpMultiHop": False,
                     "nodeSelectors": ["rack=a"]}
    items = json.loads(cli("bgp", "peer", "list", "-o", "json", "--state", state).out)
    assert items["kind"] == "BGPPeerList"
    assert [i["name"] for i in items["items"]] == ["rack-a", "router"]
    table = cli("bgp", "peer", "show", "router", "--state", state)
    assert table.out == (
        "Name:             router\n"
        "Router:           192.168.200.1 port 179, AS 64501\n"
        "Cluster AS:       64500 (eBGP)\n"
        "Hold time:        90s\n"
        "Password:         none\n"
        "Source address:   the node's own\n"
        "eBGP multihop:    no\n"
        "Nodes:            every node\n"
        "Pools:            none (no pool announces over BGP to it)\n")
    before = Path(state).read_text()
    dry = cli("bgp", "peer", "remove", "router", "--dry-run", "--state", state)
    assert dry.code == 0 and dry.out.endswith(
        "-  router: {address: 192.168.200.1, asn: 64501, myASN: 64500, port: 179, holdTime: "
        "90}\nbgppeer/router deleted (dry run)\n")
    assert Path(state).read_text() == before
    assert cli("bgp", "peer", "remove", "router", "--state", state).out == (
        "bgppeer/router deleted\n")
    assert list(document(state)["peers"]) == ["rack-a"]  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--ebgp-multihop", "--my-asn", "64501"), 2,
         "lbctl: error: peer router: ebgpMultiHop is for eBGP only, and asn = myASN = 64501 "
         "makes this an iBGP session"),
        (("--hold-time", "2"), 2,
         "lbctl: error: peer router: holdTime must be 0 or 3..65535 seconds, not 2"),
        (("--address", "192.168.200"), 2,
         "lbctl: error: peer router: address '192.168.200' is not an IP address"),
        (("--source-address", "fd00::1"), 2,
         "lbctl: error: peer router: sourceAddress fd00::1 and address 192.168.200.1 are of "
         "different IP families"),
        (("--asn", "0"), 2,
         "lbctl: error: Invalid value for '--asn': 0 is out of range (give 1 to 4294967295)"),
    ],
)
def test_peer_add_refuses_bad_peers(cli: Cli, state: str, args: tuple[str, ...], code: int,
                                    message: str) -> None:
    result = cli(*ROUTER, *args, "--state", state)
    assert result.code == code
    assert result.err.splitlines()[0].startswith(message), result.err
    assert result.err.splitlines()[1].startswith("hint: ")
    assert not Path(state).exists()


def test_peer_conflicts_and_missing_peers(cli: Cli, state: str) -> None:
    assert cli(*ROUTER, "--state", state).code == 0
    again = cli(*ROUTER, "--state", state)
    assert (again.code, again.err.splitlines()[0]) == (
        4, "lbctl: error: BGP peer router already exists")
    twin = cli("bgp", "peer", "add", "twin", *ROUTER[4:], "--state", state)
    assert (twin.code, twin.err.splitlines()[0]) == (
        4, "lbctl: error: peers router and twin are the same session (192.168.200.1 port 179)")
    missing = cli("bgp", "peer", "show", "nope", "--state", state)
    assert (missing.code, missing.err) == (
        3, "lbctl: error: BGP peer nope not found (peers: router)\n"
           f"hint: lbctl --state {state} bgp peer list shows the peers\n")
    assert cli("pool", "add", "routed", "192.168.197.0/24", "--announce", "bgp", "--bgp-peer",
               "router", "--state", state).code == 0
    used = cli("bgp", "peer", "remove", "router", "--state", state)
    assert (used.code, used.err.splitlines()[0]) == (
        4, "lbctl: error: BGP peer router is named by the advertisement of pool routed")


def test_a_password_file_with_a_state_file_says_where_the_secret_comes_from(
        cli: Cli, state: str, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret-Pa55\n")
    result = cli(*ROUTER, "--password-file", str(secret), "--state", state)
    assert result.code == 2
    assert result.err == (
        "lbctl: error: --password-file needs the cluster (the password goes into a Secret "
        f"there), but the state is the local file {state}\n"
        "hint: create the Secret yourself (kubectl create secret generic lbctl-bgp-router -n "
        "kube-system --from-file=password=FILE) and pass --password-secret lbctl-bgp-router\n")
    assert "s3cret" not in result.out + result.err
    assert not Path(state).exists()


def test_a_password_goes_into_a_secret_and_nowhere_else(
        cli: Cli, kubeconfig: Path, kube_server: FakeKubeServer, tmp_path: Path) -> None:
    password = "s3cret-Pa55"
    secret = tmp_path / "password"
    secret.write_text(password + "\n")
    k = ("--kubeconfig", str(kubeconfig))
    dry = cli(*ROUTER, "--password-file", str(secret), "--dry-run", *k)
    assert dry.code == 0, dry.err
    assert kube_server.get_object("secrets", "lbctl-bgp-router", "kube-system") is None
    result = cli(*ROUTER, "--password-file", str(secret), "-o", "json", *k)
    assert result.code == 0, result.err
    assert json.loads(result.out)["passwordSecret"] == "lbctl-bgp-router"
    stored = kube_server.get_object("secrets", "lbctl-bgp-router", "kube-system")
    assert stored is not None
    assert base64.b64decode(stored["data"]["password"]).decode() == password
    configmap = kube_server.get_object("configmaps", "lbctl-state", "kube-system")
    assert configmap is not None
    text = configmap["data"]["state.yaml"]
    assert "passwordSecret: lbctl-bgp-router" in text and password not in text
    assert f"passwordSecretUID: {stored['metadata']['uid']}" in text
    # removed: the Secret lbctl created goes with it, and the output says so
    removed = cli("bgp", "peer", "remove", "router", *k)
    assert (removed.code, removed.out, removed.err) == (
        0, "bgppeer/router deleted\nsecret/lbctl-bgp-router deleted\n", "")
    assert kube_server.get_object("secrets", "lbctl-bgp-router", "kube-system") is None
    # an existing Secret (someone else's) is never overwritten: the way out is named
    stored = kube_server.put_object({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "lbctl-bgp-router", "namespace": "kube-system"},
        "data": {"password": base64.b64encode(password.encode()).decode()}})
    secret.write_text("n3w-pa55word")
    again = cli(*ROUTER, "--password-file", str(secret), "--debug", *k)
    assert (again.code, "\n".join(again.err.splitlines()[-2:]) + "\n") == (
        4, "lbctl: error: Secret kube-system/lbctl-bgp-router already exists; lbctl does not "
           "overwrite it\n"
           "hint: keep its password with --password-secret lbctl-bgp-router, or change it with "
           "kubectl (kubectl -n kube-system delete secret lbctl-bgp-router, then add the peer "
           "again)\n")
    after = kube_server.get_object("secrets", "lbctl-bgp-router", "kube-system")
    assert after is not None and after["data"] == stored["data"]
    refused = kube_server.get_object("configmaps", "lbctl-state", "kube-system")
    assert refused is not None and "peers:" not in refused["data"]["state.yaml"]
    kept = cli(*ROUTER, "--password-secret", "lbctl-bgp-router", *k)
    assert kept.code == 0, kept.err
    listed = cli("bgp", "peer", "list", "-o", "yaml", *k)
    # a Secret lbctl did not create stays when its peer goes
    gone = cli("bgp", "peer", "remove", "router", *k)
    assert (gone.code, gone.out, gone.err) == (0, "bgppeer/router deleted\n", "")
    assert kube_server.get_object("secrets", "lbctl-bgp-router", "kube-system") is not None
    for output in (dry, result, removed, again, kept, listed, gone):
        assert password not in output.out + output.err
        assert "n3w-pa55word" not in output.out + output.err


def _add_with_password(cli: Cli, k: tuple[str, ...], tmp_path: Path,
                       *extra: str) -> str:
    secret = tmp_path / "password"
    secret.write_text("s3cret-Pa55\n")
    added = cli(*ROUTER, "--password-file", str(secret), *extra, *k)
    assert added.code == 0, added.err
    return added.out


def test_the_secret_lbctl_created_stays_while_another_peer_names_it(
        cli: Cli, kubeconfig: Path, kube_server: FakeKubeServer, tmp_path: Path) -> None:
    k = ("--kubeconfig", str(kubeconfig))
    _add_with_password(cli, k, tmp_path)
    edge = cli("bgp", "peer", "add", "edge", "--address", "192.168.200.2", "--asn", "64502",
               "--my-asn", "64500", "--password-secret", "lbctl-bgp-router", *k)
    assert edge.code == 0, edge.err
    dry = cli("bgp", "peer", "remove", "router", "--dry-run", *k)
    assert dry.out.endswith("bgppeer/router deleted (dry run)\n"
                            "secret/lbctl-bgp-router kept (peer edge names it) (dry run)\n")
    removed = cli("bgp", "peer", "remove", "router", "-o", "name", *k)
    assert (removed.code, removed.out, removed.err) == (0, "bgppeer/router\n", "")
    assert kube_server.get_object("secrets", "lbctl-bgp-router", "kube-system") is not None
    # the last peer that names it takes it along
    last = cli("bgp", "peer", "remove", "edge", "-o", "json", *k)
    assert last.code == 0, last.err
    assert json.loads(last.out)["passwordSecret"] == "lbctl-bgp-router"
    assert last.err == "secret/lbctl-bgp-router deleted\n"
    assert kube_server.get_object("secrets", "lbctl-bgp-router", "kube-system") is None


def test_a_secret_lbctl_cannot_delete_stays_with_a_warning_and_the_peer_goes(
        cli: Cli, kubeconfig: Path, kube_server: FakeKubeServer, tmp_path: Path) -> None:
    k = ("--kubeconfig", str(kubeconfig))
    _add_with_password(cli, k, tmp_path)
    kube_server.deny("delete", "secrets")
    denied = cli("bgp", "peer", "remove", "router", *k)
    assert (denied.code, denied.out) == (0, "bgppeer/router deleted\n")
    assert denied.err == (
        "lbctl: warning: Secret kube-system/lbctl-bgp-router (the password lbctl stored for "
        "router) stays: forbidden: cannot delete secrets in namespace kube-system; delete it "
        "with kubectl -n kube-system delete secret lbctl-bgp-router (hint: kubectl auth can-i "
        "delete secrets -n kube-system)\n")
    assert kube_server.get_object("secrets", "lbctl-bgp-router", "kube-system") is not None
    assert "peers:" not in cli("bgp", "peer", "list", "-o", "yaml", *k).out


def test_a_secret_replaced_since_lbctl_created_it_is_not_lbctls_and_stays(
        cli: Cli, kubeconfig: Path, kube_server: FakeKubeServer, tmp_path: Path) -> None:
    k = ("--kubeconfig", str(kubeconfig))
    _add_with_password(cli, k, tmp_path)
    created = kube_server.get_object("secrets", "lbctl-bgp-router", "kube-system")
    assert created is not None
    kube_server.store.delete(resources.lookup("secrets"), "kube-system", "lbctl-bgp-router", {})
    kube_server.put_object({**created, "metadata": {"name": "lbctl-bgp-router",
                                                    "namespace": "kube-system"}})
    removed = cli("bgp", "peer", "remove", "router", *k)
    assert (removed.code, removed.out) == (0, "bgppeer/router deleted\n")
    assert removed.err == (
        "lbctl: warning: Secret kube-system/lbctl-bgp-router (the password lbctl stored for "
        "router) stays: it was replaced since lbctl created it; delete it with kubectl -n "
        "kube-system delete secret lbctl-bgp-router if nothing else uses it\n")
    kept = kube_server.get_object("secrets", "lbctl-bgp-router", "kube-system")
    assert kept is not None and kept["metadata"]["uid"] != created["metadata"]["uid"]


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "is empty: no password"), ("a\nb\n", "holds more than one line"),
     ("x" * 81, "is longer than 80 bytes")],
)
def test_bad_password_files_are_refused(cli: Cli, kubeconfig: Path,
                                        kube_server: FakeKubeServer, tmp_path: Path,
                                        text: str, message: str) -> None:
    secret = tmp_path / "password"
    secret.write_text(text)
    result = cli(*ROUTER, "--password-file", str(secret), "--kubeconfig", str(kubeconfig))
    assert result.code == 2 and message in result.err
    assert kube_server.get_object("secrets", "lbctl-bgp-router", "kube-system") is None
    assert kube_server.get_object("configmaps", "lbctl-state", "kube-system") is None


# ------------------------------------------------------------------------------- pools


def test_pool_announce_and_advertisement_flags(cli: Cli, state: str) -> None:
    assert cli(*ROUTER, "--state", state).code == 0
    added = cli("pool", "add", "routed", "192.168.197.0/24", "--announce", "bgp",
                "--community", "no-export", "--community", "64500:0100", "--local-pref", "200",
                "--state", state)
    assert (added.code, added.err) == (0, "")
    pool = document(state)["pools"]["routed"]  # type: ignore[index]
    assert pool["announce"] == "bgp"
    assert pool["bgp"] == {"aggregationLength": 32, "aggregationLengthV6": 128,
                           "localPref": 200, "communities": ["64500:100", "no-export"]}
    shown = json.loads(cli("pool", "show", "routed", "-o", "json", "--state", state).out)
    assert (shown["announce"], shown["bgp"]) == ("bgp", {
        "aggregationLength": 32, "aggregationLengthV6": 128, "localPref": 200,
        "communities": ["64500:100", "no-export"], "peers": []})
    changed = cli("pool", "set", "routed", "--announce", "both", "--aggregation-length", "24",
                  "--bgp-peer", "router", "--state", state)
    assert (changed.code, changed.out) == (0, "pool/routed configured\n")
    pool = document(state)["pools"]["routed"]  # type: ignore[index]
    assert (pool["announce"], pool["bgp"]["aggregationLength"], pool["bgp"]["peers"]) == (
        "both", 24, ["router"])
    short = cli("pool", "set", "routed", "--aggregation-length", "16", "--state", state)
    assert (short.code, short.err.splitlines()[0]) == (
        2, "lbctl: error: pool routed: aggregationLength 16 is shorter than the prefix /24 of "
           "192.168.197.0/24: the aggregate would announce addresses outside the pool")
    gone = cli("pool", "set", "routed", "--bgp-peer", "gone", "--state", state)
    assert (gone.code, gone.err.splitlines()[0]) == (
        3, "lbctl: error: pool routed: BGP peer gone not found (peers: router)")
    assert cli("pool", "set", "routed", "--all-bgp-peers", "--state", state).code == 0
    assert "peers" not in document(state)["pools"]["routed"]["bgp"]  # type: ignore[index]
    back = cli("pool", "set", "routed", "--announce", "layer2", "--state", state)
    assert back.code == 0
    assert set(document(state)["pools"]["routed"]) == {  # type: ignore[call-overload]
        "addresses", "autoAssign", "avoidBuggyIPs"}
    layer2 = cli("pool", "add", "l2", "10.9.0.0/24", "--community", "no-export",
                 "--state", state)
    assert (layer2.code, layer2.err) == (
        2, "lbctl: error: pool l2 announces with layer2 only: BGP options do not apply\n"
           "hint: add --announce bgp (or both) to announce it over BGP\n")
    bad = cli("pool", "add", "l3", "10.9.1.0/24", "--announce", "bgp", "--community", "64500",
              "--state", state)
    assert bad.code == 2 and "invalid community '64500'" in bad.err


def test_layer2_pools_keep_their_json_shape(cli: Cli, state: str) -> None:
    assert cli("pool", "add", "l2", "10.9.0.0/24", "--state", state).code == 0
    shown = json.loads(cli("pool", "show", "l2", "-o", "json", "--state", state).out)
    assert "announce" not in shown and "bgp" not in shown
    assert "peers" not in document(state)


# ------------------------------------------------------------------------------- export

NODES = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Node
  metadata: {name: n1, labels: {rack: a}}
  status: {addresses: [{type: InternalIP, address: 10.0.0.11}, {type: Hostname, address: n1}]}
- apiVersion: v1
  kind: Node
  metadata: {name: n2}
  status: {addresses: [{type: InternalIP, address: 10.0.0.12}]}
- apiVersion: v1
  kind: Node
  metadata: {name: n3}
  status: {addresses: [{type: InternalIP, address: 'fd00::13'}]}
"""

FRR = """\
! lbctl bgp export: the router 192.168.200.1 (AS 64501) of peer router, for the cluster's \
nodes (AS 64500)
! node n3: no IPv4 InternalIP, left out
ip prefix-list LBCTL-router seq 5 permit 10.20.0.0/30
ip prefix-list LBCTL-router seq 10 permit 10.20.0.4/30 le 32
ip prefix-list LBCTL-router seq 15 permit 10.20.0.8/30 le 32
ip prefix-list LBCTL-router seq 20 permit 10.20.0.12/30
ip prefix-list LBCTL-router seq 25 permit 192.168.197.0/24 ge 32 le 32
route-map LBCTL-router-IN permit 10
 match ip address prefix-list LBCTL-router
exit
route-map LBCTL-router-OUT deny 10
exit
router bgp 64501
 bgp router-id 192.168.200.1
 neighbor LBCTL-router peer-group
 neighbor LBCTL-router remote-as 64500
 neighbor 10.0.0.11 peer-group LBCTL-router
 neighbor 10.0.0.11 description n1
 neighbor 10.0.0.12 peer-group LBCTL-router
 neighbor 10.0.0.12 description n2
 address-family ipv4 unicast
  neighbor LBCTL-router activate
  neighbor LBCTL-router route-map LBCTL-router-IN in
  neighbor LBCTL-router route-map LBCTL-router-OUT out
  maximum-paths 16
 exit-address-family
exit
"""

BIRD = """\
# lbctl bgp export: the router 192.168.200.1 (AS 64501) of peer router, for the cluster's \
nodes (AS 64500)
# node n3: no IPv4 InternalIP, left out
router id 192.168.200.1;

protocol device {
}

# a bird.conf that has a kernel protocol for this table already: add merge paths to
# it instead of this one
protocol kernel lbctl_router_kernel {
  ipv4 { export all; };
  merge paths on;   # ECMP: one next hop per node announcing an address
}

filter lbctl_router_import {
  if net ~ [ 10.20.0.0/30{30,30}, 10.20.0.4/30{30,32}, 10.20.0.8/30{30,32}, \
10.20.0.12/30{30,30}, 192.168.197.0/24{32,32} ] then accept;
  reject;
}

template bgp lbctl_router {
  local as 64501;
  hold time 90;
  ipv4 {
    import filter lbctl_router_import;
    export none;
  };
}

protocol bgp lbctl_router_n1 from lbctl_router {
  neighbor 10.0.0.11 as 64500;
}

protocol bgp lbctl_router_n2 from lbctl_router {
  neighbor 10.0.0.12 as 64500;
}
"""


@pytest.fixture
def routed(cli: Cli, state: str, tmp_path: Path) -> tuple[str, str]:
    """A state with the seed's peer and pool, a range pool aggregated to /30, a layer-2 pool,
    and a Node manifest file."""
    nodes = tmp_path / "nodes.yaml"
    nodes.write_text(NODES)
    for args in (ROUTER, ("pool", "add", "routed", "192.168.197.0/24", "--announce", "bgp"),
                 ("pool", "add", "r2", "10.20.0.1-10.20.0.14", "--announce", "both",
                  "--aggregation-length", "30"),
                 ("pool", "add", "l2", "10.9.0.0/24")):
        assert cli(*args, "--state", state).code == 0
    return state, str(nodes)


def test_export_frr_and_bird(cli: Cli, routed: tuple[str, str]) -> None:
    state, nodes = routed
    frr = cli("bgp", "export", "--format", "frr", "-f", nodes, "--state", state)
    assert (frr.code, frr.out, frr.err) == (0, FRR, "")
    bird = cli("bgp", "export", "--format", "bird", "-f", nodes, "--state", state)
    assert (bird.code, bird.out, bird.err) == (0, BIRD, "")


def test_export_follows_node_selectors_multihop_and_the_password_secret(
        cli: Cli, routed: tuple[str, str]) -> None:
    state, nodes = routed
    assert cli("bgp", "peer", "add", "rack-a", "--address", "10.1.0.1", "--asn", "64510",
               "--my-asn", "64500", "--node-selector", "rack=a", "--ebgp-multihop",
               "--hold-time", "30", "--password-secret", "rack-a-bgp", "--port", "1179",
               "--state", state).code == 0
    assert cli("pool", "set", "r2", "--bgp-peer", "router", "--state", state).code == 0
    which = cli("bgp", "export", "--format", "frr", "-f", nodes, "--state", state)
    assert (which.code, which.err) == (
        2, "lbctl: error: which peer's router? (peers: rack-a, router)\n"
           "hint: name it with --peer NAME\n")
    frr = cli("bgp", "export", "--format", "frr", "--peer", "rack-a", "-f", nodes,
              "--state", state).out
    assert "! node n2: not selected by peer rack-a's node selectors\n" in frr
    assert "! TCP MD5 password: the value of key password of Secret kube-system/rack-a-bgp " \
           "(never printed by lbctl)\n" in frr
    assert "! the nodes connect to port 1179: make the router listen there\n" in frr
    assert " neighbor LBCTL-rack-a timers 10 30\n neighbor LBCTL-rack-a ebgp-multihop\n" in frr
    assert " neighbor 10.0.0.11 peer-group LBCTL-rack-a\n" in frr and "10.0.0.12" not in frr
    assert "10.20.0" not in frr  # r2 goes to router only
    bird = cli("bgp", "export", "--format", "bird", "--peer", "rack-a", "-f", nodes,
               "--state", state).out
    assert "  hold time 30;\n  multihop;\n" in bird
    assert "if net ~ [ 192.168.197.0/24{32,32} ] then accept;" in bird


def test_export_reads_the_nodes_from_the_cluster(
        cli: Cli, kubeconfig: Path, kube_server: FakeKubeServer, state: str) -> None:
    assert cli(*ROUTER, "--state", state).code == 0
    for name, ip in (("b", "10.0.0.12"), ("a", "10.0.0.11")):
        kube_server.put_object({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                                "status": {"addresses": [{"type": "InternalIP",
                                                          "address": ip}]}})
    result = cli("bgp", "export", "--format", "bird", "--state", state,
                 "--kubeconfig", str(kubeconfig))
    assert result.code == 0, result.err
    assert "protocol bgp lbctl_router_a from lbctl_router {\n  neighbor 10.0.0.11 as 64500;\n" \
        in result.out
    assert "# no pool announces over BGP to peer router: nothing is accepted" in result.out


@pytest.mark.parametrize(("node", "where", "problem"), [
    ('status: "x"', "4:9", "is a Node whose status is not a mapping"),
    ("status: {addresses: [a]}", "4:21", "is a Node whose status.addresses is not a list of "
     "mappings"),
    ("status: {conditions: 3}", "4:22", "is a Node whose status.conditions is not a list of "
     "mappings"),
    ("labels: [a]", "4:11", "is not a Kubernetes object: its metadata.labels is not a mapping "
     "of strings"),
])
def test_a_node_of_a_shape_no_cluster_gives_is_refused(
        cli: Cli, routed: tuple[str, str], tmp_path: Path, node: str, where: str,
        problem: str) -> None:
    state, _ = routed
    bad = tmp_path / "nodes.yaml"
    body = ("metadata:\n  " + node) if node.startswith("labels") else (
        "metadata: {name: n1}\n" + node)
    bad.write_text("apiVersion: v1\nkind: Node\n" + body + "\n")
    for args in (("bgp", "export", "--format", "frr"), ("doctor",)):
        result = cli(*args, "-f", str(bad), "--state", state)
        assert (result.code, result.out) == (2, ""), result.err
        assert result.err.splitlines()[0] == f"lbctl: error: {bad}:{where}: document 1 {problem}"


def test_export_without_peers(cli: Cli, state: str) -> None:
    result = cli("bgp", "export", "--format", "frr", "--state", state)
    assert (result.code, result.err) == (
        2, "lbctl: error: which peer's router? (peers: none)\n"
           f"hint: add one first: lbctl --state {state} bgp peer add NAME --address A --asn N "
           "--my-asn M\n")


# ------------------------------------------------------------------------------- MetalLB

SEED = str(Path(__file__).parent.parent / "fixtures" / "interop" / "metallb-seed-bgp.yaml")


def test_the_seeds_metallb_configmap_round_trips(cli: Cli, state: str, tmp_path: Path) -> None:
    imported = cli("pool", "import", "metallb", "-f", SEED, "--state", state)
    assert (imported.code, imported.out, imported.err) == (
        0, "bgppeer/192.168.200.1 imported\npool/default imported\n", "")
    assert document(state)["peers"] == {"192.168.200.1": {
        "address": "192.168.200.1", "asn": 64501, "myASN": 64500, "port": 179,
        "holdTime": 90}}
    exported = cli("pool", "export", "--format", "metallb", "--state", state)
    assert (exported.code, exported.err) == (0, "")
    assert exported.out == (
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: default\n"
        "  namespace: metallb-system\nspec:\n  addresses:\n  - 192.168.197.0/24\n"
        "  autoAssign: true\n  avoidBuggyIPs: false\n---\n"
        "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata:\n  name: default\n"
        "  namespace: metallb-system\nspec:\n  ipAddressPools:\n  - default\n---\n"
        "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata:\n  name: 192.168.200.1\n"
        "  namespace: metallb-system\nspec:\n  myASN: 64500\n  peerASN: 64501\n"
        "  peerAddress: 192.168.200.1\n")
    crds = tmp_path / "crds.yaml"
    crds.write_text(exported.out)
    again = str(tmp_path / "again.yaml")
    assert cli("pool", "import", "metallb", "-f", str(crds), "--state", again).err == ""
    assert statefiles.document_text(again) == statefiles.document_text(state)


# ------------------------------------------------------------------------------- Calico

CALICO_V3 = """\
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor}
spec: {peerIP: '192.168.200.1:179', asNumber: 64501}
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec:
  serviceLoadBalancerIPs:
  - cidr: 10.9.0.0/24
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: calico-node, namespace: calico-system}
spec: {}
"""


def test_pool_export_calico_offline(cli: Cli, state: str) -> None:
    for args in (("pool", "add", "lan", "10.9.0.0/24"),
                 ("pool", "add", "more", "10.9.1.1-10.9.1.2")):
        assert cli(*args, "--state", state).code == 0
    result = cli("pool", "export", "--format", "calico", "--state", state)
    assert result.code == 0
    assert result.out == (
        "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata:\n  name: default\n"
        "spec:\n  serviceLoadBalancerIPs:\n  - cidr: 10.9.0.0/24\n  - cidr: 10.9.1.1/32\n"
        "  - cidr: 10.9.1.2/32\n")
    assert result.err.startswith("lbctl: warning: BGPConfiguration default holds only "
                                 "serviceLoadBalancerIPs")


def test_pool_export_calico_keeps_the_clusters_settings(
        cli: Cli, kubeconfig: Path, kube_server: FakeKubeServer) -> None:
    k = ("--kubeconfig", str(kubeconfig))
    assert cli("pool", "add", "lan", "10.9.0.0/24", *k).code == 0
    kube_server.put_object({
        "apiVersion": "crd.projectcalico.org/v1", "kind": "BGPConfiguration",
        "metadata": {"name": "default"},
        "spec": {"asNumber": 64500, "nodeToNodeMeshEnabled": False}})
    result = cli("pool", "export", "--format", "calico", "-o", "json", *k)
    assert (result.code, result.err) == (0, "")
    assert json.loads(result.out)["items"][0]["spec"] == {
        "asNumber": 64500, "nodeToNodeMeshEnabled": False,
        "serviceLoadBalancerIPs": [{"cidr": "10.9.0.0/24"}]}


def test_doctor_finds_calicos_bgp_in_files(cli: Cli, state: str, tmp_path: Path) -> None:
    for args in (ROUTER, ("pool", "add", "lan", "10.9.0.0/24"),
                 ("pool", "add", "more", "10.9.1.0/24")):
        assert cli(*args, "--state", state).code == 0
    files = tmp_path / "calico.yaml"
    files.write_text(CALICO_V3)
    result = cli("doctor", "-f", str(files), "--state", state, "-o", "json")
    assert result.code == 1
    found = {c["id"]: c for c in json.loads(result.out)["checks"]}
    peers, ips = found["bgp.calico-peers"], found["bgp.calico-service-ips"]
    assert (peers["status"], ips["status"]) == ("error", "error")
    assert peers["findings"][0]["message"].startswith(
        "lbctl peer router (192.168.200.1) is Calico BGPPeer tor's router too")
    assert peers["findings"][0]["hint"] == (
        "let Calico announce lbctl's pools over its own sessions: lbctl pool export --format "
        "calico | calicoctl apply -f -, then lbctl bgp peer remove router; or peer lbctl's "
        "speakers with another router address")
    assert ips["findings"][0]["message"].startswith(
        "Calico announces LoadBalancer addresses (10.9.0.0/24) but not pool more's "
        "10.9.1.0/24")
    files.write_text(CALICO_V3.replace("10.9.0.0/24", "10.9.0.0/23").replace(
        "192.168.200.1:179", "192.168.201.1"))
    clean = cli("doctor", "-f", str(files), "--state", state, "-o", "json")
    found = {c["id"]: c for c in json.loads(clean.out)["checks"]}
    assert found["bgp.calico-peers"]["findings"][0]["message"] == (
        "no lbctl peer is a router Calico's nodes peer with (calico-node runs in "
        "calico-system; 1 Calico BGPPeer)")
    assert found["bgp.calico-service-ips"]["status"] == "pass"
    assert cli("bgp", "peer", "remove", "router", "--state", state).code == 0
    alone = cli("doctor", "-f", str(files), "--state", state, "-o", "json")
    found = {c["id"]: c for c in json.loads(alone.out)["checks"]}
    assert found["bgp.calico-peers"]["findings"][0]["message"] == "lbctl has no BGP peers"


@pytest.mark.skipif(shutil.which("bird") is None, reason="BIRD 2 is not installed")
@pytest.mark.parametrize("peer", ["router", "six"])
def test_birds_own_parser_accepts_the_export(cli: Cli, routed: tuple[str, str],
                                             tmp_path: Path, peer: str) -> None:
    """``bird -p`` parses the configuration and exits: nothing is started, nothing is sent."""
    state, nodes = routed
    assert cli("bgp", "peer", "add", "six", "--address", "fd00::1", "--asn", "64501",
               "--my-asn", "64500", "--hold-time", "0", "--ebgp-multihop",
               "--state", state).code == 0
    assert cli("pool", "add", "v6", "fd00:1::/64", "--announce", "bgp",
               "--aggregation-length-v6", "64", "--state", state).code == 0
    conf = tmp_path / "bird.conf"
    conf.write_text(cli("bgp", "export", "--format", "bird", "--peer", peer, "-f", nodes,
                        "--state", state).out)
    bird = shutil.which("bird")
    assert bird is not None
    parsed = subprocess.run([bird, "-p", "-c", str(conf)], capture_output=True, text=True,
                            timeout=30, check=False)
    assert (parsed.returncode, parsed.stderr) == (0, "")


@pytest.mark.skipif(shutil.which("vtysh") is None, reason="FRR is not installed")
@pytest.mark.parametrize("peer", ["router", "six"])
def test_frrs_own_checker_accepts_the_export(cli: Cli, routed: tuple[str, str],
                                             tmp_path: Path, peer: str) -> None:
    """``vtysh --dryrun`` checks every command of the file and exits; no daemon is involved."""
    state, nodes = routed
    assert cli("bgp", "peer", "add", "six", "--address", "fd00::1", "--asn", "64501",
               "--my-asn", "64500", "--hold-time", "0", "--ebgp-multihop",
               "--password-secret", "six-bgp", "--state", state).code == 0
    assert cli("pool", "add", "v6", "fd00:1::/64", "--announce", "bgp",
               "--aggregation-length-v6", "64", "--state", state).code == 0
    conf = tmp_path / "frr.conf"
    conf.write_text(cli("bgp", "export", "--format", "frr", "--peer", peer, "-f", nodes,
                        "--state", state).out)
    vtysh = shutil.which("vtysh")
    assert vtysh is not None
    checked = subprocess.run([vtysh, "--dryrun", "-f", str(conf)], capture_output=True,
                             text=True, timeout=30, check=False)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")


def test_a_pool_no_peer_hears_is_announced_with_a_warning(cli: Cli, state: str) -> None:
    unheard = ("lbctl: warning: pool routed is announced over BGP, but no BGP peer is sent its "
               "{} addresses: they reach no router until one is (lbctl bgp peer add NAME "
               "--address A --asn N --my-asn M)\n")
    added = cli("pool", "add", "routed", "10.5.0.0/24", "fd00:5::/120", "--announce", "bgp",
                "--state", state)
    assert (added.code, added.err) == (0, unheard.format("IPv4 and IPv6"))
    assert cli(*ROUTER, "--state", state).code == 0
    again = cli("pool", "set", "routed", "--local-pref", "200", "--state", state)
    assert (again.code, again.err) == (0, unheard.format("IPv6"))  # an IPv4 router only
    layer2 = cli("pool", "add", "plain", "10.6.0.0/24", "--state", state)
    assert (layer2.code, layer2.err) == (0, "")  # ARP/NDP: no peer needed
    removed = cli("bgp", "peer", "remove", "router", "--state", state)
    assert (removed.code, removed.err) == (0, unheard.format("IPv4 and IPv6"))


def test_with_a_state_file_the_secret_lbctl_created_is_left_to_kubectl(
        cli: Cli, state: str) -> None:
    Path(state).write_text(
        "schemaVersion: 1\npeers:\n  router: {address: 192.168.200.1, asn: 64501, myASN: 64500,"
        " passwordSecret: lbctl-bgp-router, passwordSecretUID: 6f1c2d9e-1}\n")
    stays = ("lbctl: warning: Secret kube-system/lbctl-bgp-router (the password lbctl stored "
             "for router) stays: the state is a local file, not the cluster's; delete it on the "
             "cluster: kubectl -n kube-system delete secret lbctl-bgp-router\n")
    dry = cli("bgp", "peer", "remove", "router", "--dry-run", "--state", state)
    # The dry run tells what the run will do: the Secret stays, it is not deleted.
    assert (dry.code, dry.err) == (0, stays)
    assert dry.out.endswith("bgppeer/router deleted (dry run)\n"), dry.out
    removed = cli("bgp", "peer", "remove", "router", "--state", state)
    assert (removed.code, removed.out, removed.err) == (0, "bgppeer/router deleted\n", stays)
    assert "peers" not in document(state)


# ------------------------------------------------------------------------------- peer set


def test_peer_set_changes_fields_in_place_and_keeps_the_others(cli: Cli, state: str) -> None:
    assert cli(*ROUTER, "--node-selector", "rack=a", "--state", state).code == 0
    before = Path(state).read_text()
    dry = cli("bgp", "peer", "set", "router", "--hold-time", "30", "--port", "1179",
              "--dry-run", "--state", state)
    assert dry.code == 0, dry.err
    assert dry.out.endswith(
        "+  router: {address: 192.168.200.1, asn: 64501, myASN: 64500, port: 1179, holdTime: "
        "30, nodeSelectors: [rack=a]}\n"
        "bgppeer/router configured (dry run)\n"), dry.out
    assert Path(state).read_text() == before
    done = cli("bgp", "peer", "set", "router", "--hold-time", "30", "--port", "1179",
               "--source-address", "192.168.200.5", "--any-node", "-o", "json",
               "--state", state)
    assert done.code == 0, done.err
    assert json.loads(done.out) == {
        "name": "router", "address": "192.168.200.1", "asn": 64501, "myASN": 64500,
        "port": 1179, "holdTime": 30, "passwordSecret": None, "sourceAddress": "192.168.200.5",
        "ebgpMultiHop": False, "nodeSelectors": []}
    again = cli("bgp", "peer", "set", "router", "--hold-time", "30", "--state", state)
    assert (again.code, again.out) == (0, "bgppeer/router configured (unchanged)\n")
    back = cli("bgp", "peer", "set", "router", "--no-source-address", "--ebgp-multihop",
               "--password-secret", "router-bgp", "-o", "name", "--state", state)
    assert (back.code, back.out) == (0, "bgppeer/router\n")
    assert document(state)["peers"] == {"router": {
        "address": "192.168.200.1", "asn": 64501, "myASN": 64500, "port": 1179,
        "holdTime": 30, "passwordSecret": "router-bgp", "ebgpMultiHop": True}}


@pytest.mark.parametrize(
    ("args", "code", "message", "hint"),
    [
        (("--my-asn", "64501"), 2,
         "lbctl: error: peer router: ebgpMultiHop is for eBGP only, and asn = myASN = 64501 "
         "makes this an iBGP session", "hint: lbctl bgp peer add --help shows the rules"),
        (("--hold-time", "2"), 2,
         "lbctl: error: peer router: holdTime must be 0 or 3..65535 seconds, not 2",
         "hint: lbctl bgp peer add --help shows the rules"),
        (("--source-address", "fd00::1"), 2,
         "lbctl: error: peer router: sourceAddress fd00::1 and address 192.168.200.1 are of "
         "different IP families", "hint: lbctl bgp peer add --help shows the rules"),
        (("--address", "10.0.0.1"), 4,
         "lbctl: error: peers rack-a and router are the same session (10.0.0.1 port 179)",
         "hint: one peer per router address and port"),
        ((), 2, "lbctl: error: nothing to change in BGP peer router",
         "hint: example: lbctl bgp peer set router --hold-time 30"),
        (("--password-secret", "x", "--no-password"), 2,
         "lbctl: error: --password-secret and --no-password exclude each other",
         "hint: give one of --password-file, --password-secret, --no-password"),
        (("--node-selector", "rack=a", "--any-node"), 2,
         "lbctl: error: --any-node drops the node selectors; --node-selector sets them",
         "hint: give one of them"),  # as pool set says it: one rule
        (("--node-selector", ""), 2, "lbctl: error: --node-selector is empty",
         "hint: to drop the node selectors, give --any-node; else give --node-selector a value"),
        (("--node-selector", "rack=a", "--node-selector", " "), 2,
         "lbctl: error: --node-selector is empty", "hint: to drop the node selectors"),
        (("--node-selector", "rack in (a"), 2, "lbctl: error: peer router: ", "hint: "),
        (("--password-file", "-"), 2,
         "lbctl: error: --password-file needs the cluster (the password goes into a Secret "
         "there), but the state is the local file ",
         "hint: create the Secret yourself (kubectl create secret generic lbctl-bgp-router"),
    ],
)
def test_peer_set_refuses_what_peer_add_refuses_and_changes_nothing(
        cli: Cli, state: str, args: tuple[str, ...], code: int, message: str,
        hint: str) -> None:
    assert cli(*ROUTER, "--ebgp-multihop", "--state", state).code == 0
    assert cli("bgp", "peer", "add", "rack-a", "--address", "10.0.0.1", "--asn", "64500",
               "--my-asn", "64500", "--state", state).code == 0
    before = Path(state).read_text()
    result = cli("bgp", "peer", "set", "router", *args, "--state", state)
    assert result.code == code, result.err
    first, second = result.err.splitlines()[:2]
    assert first.startswith(message), result.err
    assert second.startswith(hint.replace("lbctl bgp", f"lbctl --state {state} bgp")), result.err
    assert Path(state).read_text() == before


def test_peer_set_of_a_missing_peer_names_the_peers(cli: Cli, state: str) -> None:
    assert cli(*ROUTER, "--state", state).code == 0
    result = cli("bgp", "peer", "set", "edge", "--port", "1179", "--state", state)
    assert (result.code, result.err) == (
        3, "lbctl: error: BGP peer edge not found (peers: router)\n"
           f"hint: lbctl --state {state} bgp peer list shows the peers\n")


def test_peer_set_a_new_password_goes_into_a_new_secret_and_the_old_one_goes(
        cli: Cli, kubeconfig: Path, kube_server: FakeKubeServer, tmp_path: Path) -> None:
    k = ("--kubeconfig", str(kubeconfig))
    _add_with_password(cli, k, tmp_path)
    first = kube_server.get_object("secrets", "lbctl-bgp-router", "kube-system")
    assert first is not None
    new = tmp_path / "new"
    new.write_text("n3w-pa55word\n")
    dry = cli("bgp", "peer", "set", "router", "--password-file", str(new), "--dry-run", *k)
    assert dry.code == 0, dry.err
    assert dry.out.endswith("bgppeer/router configured (dry run)\n"
                            "secret/lbctl-bgp-router deleted (dry run)\n"), dry.out
    assert kube_server.get_object("secrets", "lbctl-bgp-router-2", "kube-system") is None
    done = cli("bgp", "peer", "set", "router", "--password-file", str(new), *k)
    assert (done.code, done.out, done.err) == (
        0, "bgppeer/router configured\nsecret/lbctl-bgp-router deleted\n", "")
    second = kube_server.get_object("secrets", "lbctl-bgp-router-2", "kube-system")
    assert second is not None
    assert base64.b64decode(second["data"]["password"]).decode() == "n3w-pa55word"
    assert kube_server.get_object("secrets", "lbctl-bgp-router", "kube-system") is None
    shown = cli("bgp", "peer", "show", "router", "-o", "yaml", *k)
    assert "passwordSecret: lbctl-bgp-router-2" in shown.out
    # and back: the first name is free again; dropping the password drops its Secret
    new.write_text("3rd\n")
    third = cli("bgp", "peer", "set", "router", "--password-file", str(new), *k)
    assert third.out == "bgppeer/router configured\nsecret/lbctl-bgp-router-2 deleted\n"
    assert kube_server.get_object("secrets", "lbctl-bgp-router", "kube-system") is not None
    none = cli("bgp", "peer", "set", "router", "--no-password", *k)
    assert none.out == "bgppeer/router configured\nsecret/lbctl-bgp-router deleted\n"
    assert kube_server.objects_of("secrets") == []
    for output in (dry, done, third, none, shown):
        assert "n3w-pa55word" not in output.out + output.err and "3rd" not in output.out


def test_a_password_secret_whose_peer_was_not_recorded_is_deleted_again(
        cli: Cli, kubeconfig: Path, kube_server: FakeKubeServer, tmp_path: Path) -> None:
    """The Secret is created before the peer names it; when that state write then fails,
    `peer add` and `peer set` delete the Secret they created (by its uid) and say so: nothing
    is left behind, and the state is as it was."""
    k = ("--kubeconfig", str(kubeconfig))
    password = tmp_path / "password"
    password.write_text("s3cret-Pa55\n")
    kube_server.inject(403, method="POST", path="/configmaps")  # the state's first write
    added = cli(*ROUTER, "--password-file", str(password), *k)
    assert (added.code, added.out) == (6, "")
    assert added.err.splitlines()[0].endswith(
        "; Secret kube-system/lbctl-bgp-router, created for peer router, was deleted again")
    assert kube_server.objects_of("secrets") == []
    assert kube_server.get_object("configmaps", "lbctl-state", "kube-system") is None
    _add_with_password(cli, k, tmp_path)
    before = kube_server.get_object("configmaps", "lbctl-state", "kube-system")
    kube_server.inject(403, method="PUT", path="/configmaps/lbctl-state")
    changed = cli("bgp", "peer", "set", "router", "--password-file", str(password), *k)
    assert (changed.code, changed.out) == (6, "")
    assert changed.err.splitlines()[0].endswith(
        "; Secret kube-system/lbctl-bgp-router-2, created for peer router, was deleted "
        "again")
    assert [s["metadata"]["name"] for s in kube_server.objects_of("secrets")] == [
        "lbctl-bgp-router"]  # the peer's own Secret stays
    assert kube_server.get_object("configmaps", "lbctl-state", "kube-system") == before
    assert "s3cret" not in added.err + changed.err
