"""The ExaBGP adapter (:mod:`lbctl.bgp.exabgp`) against a real router: BIRD 2 in a namespace,
two nodes (namespaces) each running the adapter in a process of its own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.net.netns import Lan
from tests.net.router import Bird, unavailable

pytestmark = [pytest.mark.netns, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ROUTER = "10.9.0.1"
NODES = {"n1": "10.9.0.11", "n2": "10.9.0.12"}
PASSWORD = "s3cr;t 'with' {braces} # and spaces"

ROUTER_CONFIG = """\
router id 10.9.0.1;
protocol device { }
protocol kernel { ipv4 { export all; import none; }; merge paths on; }
protocol kernel { ipv6 { export all; import none; }; merge paths on; }
template bgp node {
  local 10.9.0.1 as 64501;
  hold time 3;
  connect retry time 1;
  ipv4 { import all; export none; };
}
protocol bgp n1 from node { neighbor 10.9.0.11 as 64500; }
protocol bgp n1v6 {
  local fd00:9::1 as 64501;
  neighbor fd00:9::11 as 64500;
  hold time 3;
  connect retry time 1;
  ipv6 { import all; export none; };
}
protocol bgp n2 from node {
  neighbor 10.9.0.12 as 64500;
  password "s3cr;t 'with' {braces} # and spaces";
}
"""


def session(node: str, **options: Any) -> dict[str, Any]:
    return {"peer": "router", "address": ROUTER, "asn": 64501, "my_asn": 64500,
            "local_address": NODES[node], "router_id": NODES[node], "hold_time": 3,
            **options}


def route(prefix: str, **options: Any) -> dict[str, Any]:
    return {"peer": "router", "prefix": prefix, **options}


class Driver:
    """The adapter, in a process inside a node's namespace (tests/net/bgpdriver.py)."""

    def __init__(self, namespace: str, log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, "-m", "tests.net.bgpdriver"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log.open("w"), text=True,
            cwd=ROOT)

    def call(self, **request: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the driver died:\n{self.log.read_text()}"
        return json.loads(line)

    def wait_established(self, within: float = 20.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.call(status=None)["sessions"] == {"router": "established"}:
                return
            time.sleep(0.05)
        raise AssertionError(f"no session:\n{self.log.read_text()}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


@pytest.fixture
def net(lan: Lan, tmp_path: Path) -> Iterator[tuple[Lan, Bird, dict[str, Driver]]]:
    why = unavailable()
    if why:
        pytest.skip(why)
    router = lan.host("rtr", f"{ROUTER}/24", "fd00:9::1/64")
    namespaces = {name: lan.host(name, f"{ip}/24", f"fd00:9::{ip.split('.')[-1]}/64")
                  for name, ip in NODES.items()}
    bird = Bird(router, tmp_path, ROUTER_CONFIG)
    drivers: dict[str, Driver] = {}
    try:
        for name, namespace in namespaces.items():
            drivers[name] = Driver(namespace, tmp_path / f"driver-{name}.log")
        yield lan, bird, drivers
    finally:
        for driver in drivers.values():
            driver.kill()
        bird.close()


def _last_error(bird: Bird, protocol: str) -> str:
    """Why BIRD's session ``protocol`` last went down (``show protocols all``)."""
    for line in bird.birdc("show", "protocols", "all", protocol, check=False).splitlines():
        name, _, value = line.strip().partition(":")
        if name == "Last error":
            return value.strip()
    return ""


def _exabgp_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead: its parent has not reaped it yet
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_two_nodes_announce_one_prefix_and_the_router_spreads_it(
        net: tuple[Lan, Bird, dict[str, Driver]]) -> None:
    _, bird, drivers = net
    drivers["n1"].call(configure=[session("n1")])
    drivers["n2"].call(configure=[session("n2", password=PASSWORD)])
    for driver in drivers.values():
        driver.call(advertise=[route("10.9.0.100/32", communities=["64500:7", "no-export",
                                                                   "large:64500:1:2"])])
    bird.wait_for(lambda r: r.get("10.9.0.100/32") == {"10.9.0.11", "10.9.0.12"}, 20,
                  "both paths")
    assert bird.established() == {"n1", "n2"}  # n2 with its MD5 password
    # ECMP in the router's own kernel table (its namespace): one route, two next hops
    deadline = time.monotonic() + 5
    while bird.kernel_next_hops("10.9.0.100/32") != {"10.9.0.11", "10.9.0.12"}:
        assert time.monotonic() < deadline, bird.kernel_next_hops("10.9.0.100/32")
        time.sleep(0.05)
    detail = bird.birdc("show", "route", "for", "10.9.0.100/32", "all")
    assert "BGP.community: (64500,7) (65535,65281)" in detail
    assert "BGP.large_community: (64500, 1, 2)" in detail
    assert drivers["n1"].call(status=None)["announced"] == 1


def test_advertise_withdraws_what_is_no_longer_asked_for(
        net: tuple[Lan, Bird, dict[str, Driver]]) -> None:
    _, bird, drivers = net
    n1 = drivers["n1"]
    n1.call(configure=[session("n1")])
    n1.call(advertise=[route("10.9.0.100/32"), route("10.9.0.101/32")])
    bird.wait_for(lambda r: {"10.9.0.100/32", "10.9.0.101/32"} <= set(r), 20, "two routes")
    n1.call(advertise=[route("10.9.0.101/32")])
    bird.wait_for(lambda r: "10.9.0.100/32" not in r, 20, "withdrawn")
    # Withdrawn by an UPDATE: the session never went down (that would take every route).
    assert "n1" in bird.established() and _last_error(bird, "n1") == ""
    assert set(bird.routes()) >= {"10.9.0.101/32"}


def test_close_withdraws_at_once_and_a_flapped_session_gets_every_route_again(
        net: tuple[Lan, Bird, dict[str, Driver]]) -> None:
    _, bird, drivers = net
    n1 = drivers["n1"]
    n1.call(configure=[session("n1")])
    n1.wait_established()
    n1.call(advertise=[route("10.9.0.100/32"), route("10.9.0.110/31")])
    bird.wait_for(lambda r: {"10.9.0.100/32", "10.9.0.110/31"} <= set(r), 10, "announced")
    # the router drops the session; when it comes back, the routes come back
    bird.birdc("disable", "n1")
    bird.wait_for(lambda r: "10.9.0.100/32" not in r, 20, "dropped with the session")
    bird.birdc("enable", "n1")
    bird.wait_for(lambda r: {"10.9.0.100/32", "10.9.0.110/31"} <= set(r), 20, "re-announced")
    n1.wait_established()
    pid = n1.call(status=None)["pid"]
    n1.call(close=None)
    assert not _exabgp_alive(pid)  # close itself waits for ExaBGP to exit
    bird.wait_for(lambda r: "10.9.0.100/32" not in r, 20, "withdrawn on close")
    # At once: the router saw the session end, it did not wait for its hold time (3 s) to
    # run out, which a loaded machine could not tell apart from "at once" by the clock.
    assert _last_error(bird, "n1") in ("Socket: Connection closed",
                                       "Socket: Connection reset by peer")
    assert n1.call(status=None) == {"sessions": {}, "announced": 0, "pid": None}


def test_a_killed_parent_takes_exabgp_and_its_routes_with_it(
        net: tuple[Lan, Bird, dict[str, Driver]]) -> None:
    _, bird, drivers = net
    n1 = drivers["n1"]
    n1.call(configure=[session("n1")])
    n1.call(advertise=[route("10.9.0.100/32")])
    bird.wait_for(lambda r: "10.9.0.100/32" in r, 20, "announced")
    pid = n1.call(status=None)["pid"]
    n1.kill()
    bird.wait_for(lambda r: "10.9.0.100/32" not in r, 3, "withdrawn within the hold time")
    deadline = time.monotonic() + 5
    while _exabgp_alive(pid):
        assert time.monotonic() < deadline, "ExaBGP outlived the process that started it"
        time.sleep(0.05)


def test_a_peer_change_touches_that_peer_alone(
        net: tuple[Lan, Bird, dict[str, Driver]]) -> None:
    _, bird, drivers = net
    n1 = drivers["n1"]
    v4 = route("10.9.0.100/32")
    v6 = route("fd00:9:1::10/128", peer="router6")
    router6 = session("n1", peer="router6", address="fd00:9::1", local_address="fd00:9::11")
    n1.call(configure=[session("n1")])
    n1.call(advertise=[v4])
    bird.wait_for(lambda r: "10.9.0.100/32" in r, 20, "announced")
    pid = n1.call(status=None)["pid"]
    since, imports = bird.since("n1"), bird.imports("n1")
    assert imports == (1, 0)
    # a second peer: its session comes up and gets its route; the first one is not touched
    n1.call(configure=[session("n1"), router6])
    n1.call(advertise=[v4, v6])
    bird.wait_for(lambda r: "fd00:9:1::10/128" in r, 20, "announced to the new peer")
    assert bird.established() == {"n1", "n1v6"}
    assert bird.up_since("n1", since) and bird.imports("n1") == imports
    # the peer removed: its session closes, the first one is not touched
    n1.call(configure=[session("n1")])
    n1.call(advertise=[v4])
    bird.wait_for(lambda r: "fd00:9:1::10/128" not in r, 5, "gone with its session")
    assert bird.established() == {"n1"}
    assert bird.up_since("n1", since) and bird.imports("n1") == imports
    assert n1.call(status=None) == {"sessions": {"router": "established"}, "announced": 1,
                                    "pid": pid}  # the same ExaBGP all along
    # a changed peer: its session starts again with the new hold time and gets its routes,
    # without one withdrawn as the change was asked (ExaBGP kept it for the old session)
    n1.call(advertise=[v4, route("10.9.0.101/32")])
    bird.wait_for(lambda r: "10.9.0.101/32" in r, 5, "a second route")
    n1.call(configure=[session("n1", hold_time=9)])
    n1.call(advertise=[v4])
    bird.wait_for(lambda r: "10.9.0.100/32" in r and not bird.up_since("n1", since), 20,
                  "announced again on the new session")
    time.sleep(1.0)
    assert "10.9.0.101/32" not in bird.routes()
    assert "Hold timer:" in bird.birdc("show", "protocols", "all", "n1")
    assert n1.call(status=None)["pid"] == pid
    n1.call(configure=[])  # no peers: no ExaBGP, no session
    bird.wait_for(lambda r: "10.9.0.100/32" not in r, 5, "withdrawn with the last session")
    assert n1.call(status=None)["pid"] is None
    assert not _exabgp_alive(pid)


def test_an_ipv6_session_announces_ipv6_prefixes_next_hop_the_node(
        net: tuple[Lan, Bird, dict[str, Driver]]) -> None:
    _, bird, drivers = net
    n1 = drivers["n1"]
    n1.call(configure=[session("n1"), session("n1", peer="router6", address="fd00:9::1",
                                              local_address="fd00:9::11")])
    n1.call(advertise=[route("10.9.0.100/32"), route("fd00:9:1::10/128", peer="router6")])
    bird.wait_for(lambda r: r.get("fd00:9:1::10/128") == {"fd00:9::11"}
                  and r.get("10.9.0.100/32") == {"10.9.0.11"}, 20, "both families")
    assert n1.call(status=None)["sessions"] == {"router": "established",
                                                "router6": "established"}


def test_a_new_peer_while_exabgp_sends_thousands_of_routes_leaves_the_others_up(
        net: tuple[Lan, Bird, dict[str, Driver]]) -> None:
    # ExaBGP drops a reload asked while it still sends updates: the adapter sees the older
    # configuration still running and asks again, rather than restart ExaBGP
    _, bird, drivers = net
    n1 = drivers["n1"]
    many = [route(f"10.200.{i // 256}.{i % 256}/32") for i in range(3000)]
    router6 = session("n1", peer="router6", address="fd00:9::1", local_address="fd00:9::11")
    n1.call(configure=[session("n1")])
    n1.wait_established()
    since = bird.since("n1")
    n1.call(advertise=many)
    n1.call(configure=[session("n1"), router6])
    n1.call(advertise=[*many, route("fd00:9:1::10/128", peer="router6")])
    bird.wait_for(lambda r: "fd00:9:1::10/128" in r and len(r) >= 3001, 30, "every route")
    assert bird.up_since("n1", since)
    assert "starting it again" not in n1.log.read_text()
