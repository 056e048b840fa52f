"""BGP end to end: three ``lbctl speaker`` processes (namespaces) peer with a real router (BIRD
2 configured by ``lbctl bgp export --format bird``; once FRR's bgpd, by ``--format frr``) on
the seed's layer 3 addresses; the router's table shows each VIP with a next hop per eligible
node."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from tests.net.bgplab import CLUSTER_AS, POOL, ROUTER_AS, ROUTER_IP, STATE, BGPLab
from tests.net.cli import lbctl
from tests.net.lab import endpoint_slice, node, service
from tests.net.netns import Lan, sh
from tests.net.router import JITTER, Bird, Frr, frr_unavailable, unavailable

pytestmark = [pytest.mark.netns, pytest.mark.slow]

VIP = "192.168.197.10"
ROUTE = f"{VIP}/32"
ALL = {"n1", "n2", "n3"}
Sessions = dict[str, tuple[datetime, tuple[int, int]]]


def sessions(bird: Bird, protocols: Iterable[str]) -> Sessions:
    """Each BGP session's "since" and how many updates and withdraws it received."""
    return {p: (bird.since(p), bird.imports(p)) for p in sorted(protocols)}


def assert_kept(before: Sessions, now: Sessions) -> None:
    """The same sessions, up all along (no restart), with no update or withdraw since."""
    assert now.keys() == before.keys()
    for protocol, (since, imports) in now.items():
        assert imports == before[protocol][1], (protocol, before[protocol], now[protocol])
        assert abs(since - before[protocol][0]) <= JITTER, (protocol, before[protocol], since)


@pytest.fixture
def bgp(lan: Lan, tmp_path: Path) -> Iterator[BGPLab]:
    why = unavailable()
    if why:
        pytest.skip(why)
    lab = BGPLab(lan, tmp_path)
    try:
        yield lab
    finally:
        lab.close()


def web(bgp: BGPLab, nodes: set[str], *, policy: str = "Cluster", name: str = "web",
        ip: str = VIP) -> None:
    bgp.api.put_object(service(name, [ip], policy=policy))
    bgp.api.put_object(endpoint_slice(name, sorted(nodes)))


def web_on_every_node(bgp: BGPLab) -> Bird:
    """The VIP allocated to web, served on every node, and a router with its three paths."""
    bgp.put_state(STATE)
    bgp.allocate({"web": [VIP]})
    web(bgp, ALL)
    bird = bgp.start_router()
    bgp.lab.start()
    bgp.wait_paths(ROUTE, ALL, within=30)
    return bird

def test_each_node_announces_the_vip_the_router_spreads_it_and_release_withdraws_it(
        bgp: BGPLab) -> None:
    bird = web_on_every_node(bgp)
    # ECMP in the router's forwarding table (its namespace's): one route, three next hops
    assert bird.kernel_next_hops(ROUTE) == set(bgp.ip.values())
    assert bird.established() == {f"lbctl_router_{n}" for n in sorted(ALL)}
    assert bgp.metrics("n1") == {"lbctl_speaker_bgp_sessions": 1.0,
                                 "lbctl_speaker_bgp_sessions_established": 1.0,
                                 "lbctl_speaker_bgp_routes_announced": 1.0}
    # ... and on its Lease, for `speaker status`
    deadline = time.monotonic() + 5
    while bgp.lease_annotation("n1", "lbctl.io/bgp") != "1/1 1":
        assert time.monotonic() < deadline, bgp.lease_annotation("n1", "lbctl.io/bgp")
        time.sleep(0.05)
    status = subprocess.run(
        ["ip", "netns", "exec", bgp.lab.client, sys.executable, "-m", "lbctl", "--kubeconfig",
         str(bgp.lab.kubeconfig), "speaker", "status", "-o", "json"],
        capture_output=True, text=True, check=False)
    assert status.returncode == 0, status.stderr
    speakers = {s["node"]: s["bgp"] for s in json.loads(status.stdout)["speakers"]}
    assert speakers["n1"] == {"sessions": 1, "established": 1, "routes": 1}
    # a Service whose endpoints are all gone is withdrawn everywhere, and comes back
    bgp.api.put_object(endpoint_slice("web", sorted(ALL), ready=False))
    bgp.wait_paths(ROUTE, set(), within=5)
    bgp.api.put_object(endpoint_slice("web", sorted(ALL)))
    bgp.wait_paths(ROUTE, ALL, within=5)
    # release: the state forgets the address, every node withdraws it
    bgp.allocate({})
    took = bgp.wait_paths(ROUTE, set(), within=5)
    assert took < 3.0  # the speakers read the state every 2 s
    assert "lbctl_router_n1" in bird.established()  # the sessions stay


def test_a_peer_added_and_removed_leaves_the_first_routers_sessions_and_routes_alone(
        bgp: BGPLab, tmp_path: Path) -> None:
    bird = web_on_every_node(bgp)
    protocols = {f"lbctl_router_{n}" for n in sorted(ALL)}
    before = sessions(bird, protocols)
    assert {imports for _, imports in before.values()} == {(1, 0)}  # one update, no withdraw
    cli = ("--kubeconfig", str(bgp.lab.kubeconfig))
    done = lbctl(bgp.lab.client, "bgp", "peer", "add", "edge", "--address", "192.168.200.2",
                 "--asn", "64502", "--my-asn", str(CLUSTER_AS), *cli)
    assert done.returncode == 0, done.stderr
    edge = Bird(bgp.lab.lan.host("rtr2", "192.168.200.2/24"), tmp_path,
                bgp.export("bird", peer="edge"))
    try:
        hops = set(bgp.ip.values())
        edge.wait_for(lambda r: r.get(ROUTE) == hops, 30, "the new router's paths")
        assert bird.established() == protocols
        assert_kept(before, sessions(bird, protocols))
        done = lbctl(bgp.lab.client, "bgp", "peer", "remove", "edge", *cli)
        assert done.returncode == 0, done.stderr
        edge.wait_for(lambda r: ROUTE not in r, 10, "the removed router's paths gone")
        assert_kept(before, sessions(bird, protocols))
        assert all("starting it again" not in bgp.lab.log(n) for n in ALL)
    finally:
        edge.close()


def test_a_deleted_state_configmap_withdraws_no_route(bgp: BGPLab) -> None:
    """`kubectl delete cm -n kube-system lbctl-state` while web shows its VIP: every node
    keeps announcing it from its last good state (the router sees no withdraw, its sessions
    stay up) until the state is back; then a release withdraws it as usual."""
    from tests.kubefake import resources

    bird = web_on_every_node(bgp)
    protocols = [f"lbctl_router_{n}" for n in ALL]
    before = sessions(bird, protocols)
    text = bgp.state_text()
    bgp.api.store.delete(resources.lookup("configmaps"), "kube-system", "lbctl-state", {})
    deadline = time.monotonic() + 10
    while not all("keeps answering for what its last good state recorded" in bgp.lab.log(n)
                  for n in ALL):
        assert time.monotonic() < deadline, {n: bgp.lab.log(n)[-500:] for n in ALL}
        time.sleep(0.05)
    time.sleep(4)  # past the hold time (3 s) and several syncs of every speaker
    assert bgp.paths(ROUTE) == ALL
    assert_kept(before, sessions(bird, protocols))
    bgp.put_state(text)
    deadline = time.monotonic() + 10
    while not all("lbctl-state is back" in bgp.lab.log(n) for n in ALL):
        assert time.monotonic() < deadline, {n: bgp.lab.log(n)[-500:] for n in ALL}
        time.sleep(0.05)
    bgp.allocate({})
    bgp.wait_paths(ROUTE, set(), within=10)


def test_a_dual_stack_pool_reaches_an_ipv4_and_an_ipv6_router(
        bgp: BGPLab, tmp_path: Path) -> None:
    # dual-stack nodes: fd00:200::11.. beside 192.168.200.11.., both InternalIPs
    ip6 = {name: f"fd00:200::{i}" for i, name in enumerate(bgp.lab.nodes, start=11)}
    for name, namespace in bgp.lab.ns.items():
        sh("ip", "-n", namespace, "addr", "add", f"{ip6[name]}/64", "dev", "lan0")
        dual = node(name, bgp.ip[name])
        dual["status"]["addresses"].append({"type": "InternalIP", "address": ip6[name]})
        bgp.api.put_object(dual)
    bgp.put_state(STATE.replace(f"addresses: ['{POOL}']", f"addresses: ['{POOL}', "
                                "'fd00:197::/120']").replace(
        "allocations:", "  router6: {address: 'fd00:200::1', asn: 64501, myASN: 64500, "
        "holdTime: 3}\nallocations:"))
    bgp.allocate({"web": [VIP], "web6": ["fd00:197::10"]})
    web(bgp, ALL)
    web(bgp, ALL, name="web6", ip="fd00:197::10")
    bird = bgp.start_router(peer="router")
    # an IPv6-only router: its operator sets the router id the export's comment asks for
    config = bgp.export("bird", peer="router6")
    assert "# router id 192.0.2.1;" in config
    bird6 = Bird(bgp.lab.lan.host("rtr6", "fd00:200::1/64"), tmp_path,
                 config.replace("# router id 192.0.2.1;", "router id 192.0.2.1; #"))
    try:
        bgp.lab.start()
        bgp.wait_paths(ROUTE, ALL, within=30)
        hops6 = set(ip6.values())
        bird6.wait_for(lambda r: r.get("fd00:197::10/128") == hops6, 30,
                       "the IPv6 VIP via every node")
        # ECMP in the IPv6 router's kernel table too; each router has its family's route alone
        deadline = time.monotonic() + 5
        while bird6.kernel_next_hops("fd00:197::10/128") != hops6:
            assert time.monotonic() < deadline, bird6.kernel_next_hops("fd00:197::10/128")
            time.sleep(0.05)
        assert set(bird6.routes()) == {"fd00:197::10/128"}
        assert set(bird.routes()) == {ROUTE}
        assert bgp.metrics("n1") == {"lbctl_speaker_bgp_sessions": 2.0,
                                     "lbctl_speaker_bgp_sessions_established": 2.0,
                                     "lbctl_speaker_bgp_routes_announced": 2.0}
        # released: withdrawn from the IPv6 router, the IPv4 one keeps its route
        bgp.allocate({"web": [VIP]})
        bird6.wait_for(lambda r: "fd00:197::10/128" not in r, 5, "the IPv6 VIP withdrawn")
        assert set(bird.routes()) == {ROUTE}
    finally:
        bird6.close()


def test_sigkill_drops_a_nodes_path_within_the_hold_time_and_sigterm_at_once(
        bgp: BGPLab) -> None:
    web_on_every_node(bgp)
    bgp.lab.kill("n1", signal.SIGKILL)
    # its ExaBGP dies with it: the connection closes (at the latest, the 3 s hold time runs out)
    assert bgp.wait_paths(ROUTE, {"n2", "n3"}, within=3.0) < 3.0
    bgp.lab.kill("n2", signal.SIGTERM)  # graceful: withdraws and closes the session
    assert bgp.wait_paths(ROUTE, {"n3"}, within=1.0) < 1.0
    assert "withdraw" not in bgp.lab.log("n3")


def test_external_traffic_policy_local_is_announced_only_from_endpoint_nodes(
        bgp: BGPLab) -> None:
    bgp.put_state(STATE)
    bgp.allocate({"web": [VIP], "api": ["192.168.197.11"]})
    web(bgp, {"n2"}, policy="Local")
    web(bgp, {"n2"}, name="api", ip="192.168.197.11")  # Cluster: every node
    bgp.start_router()
    bgp.lab.start()
    bgp.wait_paths(ROUTE, {"n2"}, within=30)
    bgp.wait_paths("192.168.197.11/32", ALL, within=5)
    bgp.api.put_object(endpoint_slice("web", ["n1", "n3"]))  # the pods move
    bgp.wait_paths(ROUTE, {"n1", "n3"}, within=5)


def test_the_md5_password_comes_from_the_peers_secret(bgp: BGPLab) -> None:
    password = "s3cr;t {with} # odd characters"
    bgp.put_state(STATE.replace("holdTime: 3}", "holdTime: 3, passwordSecret: router-bgp}"))
    bgp.api.put_object({
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "router-bgp", "namespace": "kube-system"},
        "data": {"password": base64.b64encode(password.encode()).decode()}})
    bgp.allocate({"web": [VIP]})
    web(bgp, ALL)
    bird = bgp.start_router(password=password)
    bgp.lab.start()
    bgp.wait_paths(ROUTE, ALL, within=30)
    assert bird.established() == {f"lbctl_router_{n}" for n in sorted(ALL)}
    assert all(password not in bgp.lab.log(n) for n in ALL)


SEED_CONFIGMAP = f"""\
apiVersion: v1
kind: ConfigMap
metadata:
  name: config
  namespace: metallb-system
data:
  config: |
    peers:
    - peer-address: {ROUTER_IP}
      peer-asn: {ROUTER_AS}
      my-asn: {CLUSTER_AS}
    address-pools:
    - name: default
      protocol: bgp
      addresses:
      - {POOL}
"""


def test_the_seeds_metallb_configmap_imported_gives_the_same_result(
        bgp: BGPLab, tmp_path: Path) -> None:
    source = tmp_path / "metallb-config.yaml"
    source.write_text(SEED_CONFIGMAP)
    state = tmp_path / "imported.yaml"
    done = subprocess.run([sys.executable, "-m", "lbctl", "pool", "import", "metallb", "-f",
                           str(source), "--state", str(state)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    document = yaml.safe_load(state.read_text())
    if document.get("kind") == "ConfigMap":  # the state file is the ConfigMap's manifest
        document = yaml.safe_load(document["data"]["state.yaml"])
    assert "warning" not in done.stderr.lower(), done.stderr
    assert document["pools"]["default"]["announce"] == "bgp"
    [peer] = document["peers"].values()
    assert (peer["address"], peer["asn"], peer["myASN"]) == (ROUTER_IP, ROUTER_AS, CLUSTER_AS)
    bgp.put_state(yaml.safe_dump(document, sort_keys=True))
    bgp.allocate({"web": [VIP]}, pool="default")
    web(bgp, ALL)
    bgp.start_router()
    bgp.lab.start()
    bgp.wait_paths(ROUTE, ALL, within=30)


def test_an_frr_router_configured_by_bgp_export_gets_the_same_paths(
        bgp: BGPLab, tmp_path: Path) -> None:
    why = frr_unavailable()
    if why:
        pytest.skip(why)
    bgp.put_state(STATE)
    bgp.allocate({"web": [VIP]})
    web(bgp, ALL)
    frr = Frr(bgp.router, tmp_path, bgp.export("frr"))
    try:
        bgp.lab.start()
        everyone = set(bgp.ip.values())
        deadline = time.monotonic() + 30
        while frr.next_hops(ROUTE) != everyone:
            assert time.monotonic() < deadline, frr.vtysh("show bgp summary")
            time.sleep(0.1)
        bgp.allocate({})  # release: withdrawn from every node
        deadline = time.monotonic() + 5
        while frr.next_hops(ROUTE):
            assert time.monotonic() < deadline, frr.vtysh(f"show bgp ipv4 unicast {ROUTE}")
            time.sleep(0.05)
    finally:
        frr.close()
