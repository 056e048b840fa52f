"""``lbctl speaker`` on three nodes (real processes in network namespaces) behind a fake
apiserver: who answers for each VIP, failover, hand-over, and what decides the owner."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.net.lab import VIP, VIP6, Lab, endpoint_slice, service
from tests.net.netns import Lan

pytestmark = [pytest.mark.netns, pytest.mark.slow]


@pytest.fixture
def lab(lan: Lan, tmp_path: Path) -> Iterator[Lab]:
    cluster = Lab(lan, tmp_path)
    try:
        yield cluster
    finally:
        cluster.close()


def web(lab: Lab, ips: list[str], nodes: list[str] | None = None, **options: object) -> None:
    lab.set_state({"web": ips})
    lab.api.put_object(service("web", ips, **options))  # type: ignore[arg-type]
    lab.api.put_object(endpoint_slice("web", lab.nodes if nodes is None else nodes))


def test_each_vip_resolves_to_exactly_the_computed_owner(lab: Lab) -> None:
    web(lab, [VIP, VIP6])
    lab.start()
    owner = lab.owner(VIP)
    assert owner is not None and lab.owner(VIP6) == owner
    lab.wait_for(VIP, [owner])
    lab.wait_for(VIP6, [owner])
    # and keeps doing so: one MAC, every time
    for _ in range(3):
        assert lab.probe([VIP, VIP6]) == [(lab.macs[owner],), (lab.macs[owner],)]
    assert "took over 10.9.0.100 (shop/web)" in lab.log(owner)


def _resolve(ip: str) -> None:
    import socket

    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"x", (ip, 9))
    time.sleep(0.2)


def _wait_neighbour(lab: Lab, ip: str, mac: str, within: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < within:
        entry = lab.lan.neighbour(lab.client, ip)
        if entry is not None and entry.get("lladdr") == mac:
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"{ip}: the client's neighbour entry is {entry}, not {mac}")


def test_sigkill_of_the_owner_moves_the_vip_and_the_clients_entry(lab: Lab) -> None:
    web(lab, [VIP, VIP6])
    lab.start()
    owner = lab.owner(VIP)
    assert owner is not None
    lab.wait_for(VIP, [owner])
    lab.lan.run(lab.client, _resolve, VIP)
    lab.lan.run(lab.client, _resolve, VIP6)
    assert lab.lan.neighbour(lab.client, VIP)["lladdr"] == lab.macs[owner]  # type: ignore[index]
    lab.kill(owner)
    survivors = [n for n in lab.nodes if n != owner]
    successor = lab.owner(VIP, live=survivors)
    assert successor is not None and successor != owner
    # the client sends nothing: only the successor's gratuitous ARP / NA can move the entries
    _wait_neighbour(lab, VIP, lab.macs[successor], within=10)  # the Lease runs out after 2 s
    _wait_neighbour(lab, VIP6, lab.macs[successor], within=10)
    lab.wait_for(VIP, [successor], within=2)
    lab.wait_for(VIP6, [successor], within=2)


def test_sigterm_hands_over_at_once(lab: Lab) -> None:
    web(lab, [VIP])
    lab.start(extra=["--lease-duration", "15"])  # a dead speaker would keep it for 15 s
    owner = lab.owner(VIP)
    assert owner is not None
    lab.wait_for(VIP, [owner])
    successor = lab.owner(VIP, live=[n for n in lab.nodes if n != owner])
    start = time.monotonic()
    lab.kill(owner, signal.SIGTERM)
    lab.wait_for(VIP, [successor], within=10)
    assert time.monotonic() - start < 10  # well before the Lease would have run out
    assert "gave up the Lease" in lab.log(owner)


def test_local_traffic_policy_follows_the_endpoints(lab: Lab) -> None:
    web(lab, [VIP], nodes=["n2"], policy="Local")
    lab.start()
    lab.wait_for(VIP, ["n2"])
    lab.api.put_object(endpoint_slice("web", ["n3"]))
    lab.wait_for(VIP, ["n3"], within=10)
    lab.api.put_object(endpoint_slice("web", ["n3"], ready=False))
    lab.wait_for(VIP, [], within=10)  # no ready endpoint anywhere: nobody answers


def test_node_selectors_and_the_exclude_label(lab: Lab) -> None:
    from tests.net.lab import node

    lab.api.put_object(node("n1", lab.ip["n1"], {"zone": "a"}))
    lab.api.put_object(node("n2", lab.ip["n2"], {"zone": "b"}))
    lab.api.put_object(node("n3", lab.ip["n3"], {"zone": "b"}))
    lab.set_state({"web": ["10.9.0.130"]},
                  pools={"edge": ("10.9.0.130-10.9.0.140", ["zone=b"])})
    lab.api.put_object(service("web", ["10.9.0.130"]))
    lab.api.put_object(endpoint_slice("web", lab.nodes))
    lab.start()
    first = lab.owner("10.9.0.130")
    assert first in ("n2", "n3")
    lab.wait_for("10.9.0.130", [first])
    other = "n3" if first == "n2" else "n2"
    lab.api.put_object(node(first, lab.ip[first], {
        "zone": "b", "node.kubernetes.io/exclude-from-external-load-balancers": ""}))
    lab.wait_for("10.9.0.130", [other], within=10)  # never n1: the pool does not select it
    lab.api.put_object(node(other, lab.ip[other], {
        "zone": "b", "node.kubernetes.io/exclude-from-external-load-balancers": ""}))
    lab.wait_for("10.9.0.130", [], within=10)


def _listen(ip: str, port: int, ready: int, stop: int, greeting: bytes = b"") -> None:
    """A NodePort or backend stand-in: accept connections, send each ``greeting`` and close
    it, until ``stop`` is readable."""
    import os
    import select
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        sock.listen(16)
        os.write(ready, b"!")
        while True:
            readable = select.select([sock, stop], [], [])[0]
            if stop in readable:
                return
            conn, _ = sock.accept()
            with conn:
                conn.sendall(greeting)


def test_a_failing_health_check_moves_the_address(lab: Lab) -> None:
    import os
    import select

    from tests.net.netns import Child

    listeners = {}
    for name in lab.nodes:
        ready_r, ready_w = os.pipe()
        stop_r, stop_w = os.pipe()
        child = Child(lab.ns[name], _listen, lab.ip[name], 30080, ready_w, stop_r,
                      close=(ready_r, stop_w))
        os.close(ready_w)
        os.close(stop_r)
        assert select.select([ready_r], [], [], 10)[0]
        os.close(ready_r)
        listeners[name] = (child, stop_w)
    try:
        web(lab, [VIP], annotations={"lbctl.io/health-check": "tcp"})
        lab.start()
        owner = lab.owner(VIP)
        assert owner is not None
        lab.wait_for(VIP, [owner])
        successor = lab.owner(VIP, live=[n for n in lab.nodes if n != owner])
        child, stop_w = listeners.pop(owner)
        os.write(stop_w, b"!")  # the owner's NodePort dies: its check fails
        child.result()
        os.close(stop_w)
        lab.wait_for(VIP, [successor], within=10)
        assert "health check of shop/web fails here" in lab.log(owner)
        lease = lab.api.get_object("leases", f"lbctl-speaker-{owner}", "kube-system")
        assert lease is not None
        assert lease["metadata"]["annotations"]["lbctl.io/unhealthy"] == "shop/web"
    finally:
        for child, stop_w in listeners.values():
            os.write(stop_w, b"!")
            child.result()
            os.close(stop_w)


def test_svc_check_reports_a_dead_node_port(lab: Lab) -> None:
    import os
    import select
    import subprocess
    import sys

    from tests.net.netns import Child

    web(lab, [VIP])
    ready_r, ready_w = os.pipe()
    stop_r, stop_w = os.pipe()
    child = Child(lab.ns["n1"], _listen, lab.ip["n1"], 30080, ready_w, stop_r,
                  close=(ready_r, stop_w))
    os.close(ready_w)
    os.close(stop_r)
    try:
        assert select.select([ready_r], [], [], 10)[0]
        done = subprocess.run(
            ["ip", "netns", "exec", lab.client, sys.executable, "-m", "lbctl", "svc", "check",
             "web", "-n", "shop", "--kubeconfig", str(lab.kubeconfig), "--timeout", "0.5",
             "-o", "json"], capture_output=True, text=True, timeout=60)
    finally:
        os.write(stop_w, b"!")
        child.result()
        os.close(stop_w)
        os.close(ready_r)
    import json

    assert done.returncode == 0, done.stderr  # n1 still serves the port
    backends = {b["target"]: (b["ok"], b["detail"])
                for b in json.loads(done.stdout)["items"][0]["ports"][0]["backends"]}
    assert backends["n1"] == (True, "connected")
    assert backends["n2"] == (False, "connection refused")
    assert backends["n3"] == (False, "connection refused")
    assert backends["vip"][0] is False  # nobody answers the VIP's port in this lab


def _doctor_probe(lab: Lab) -> tuple[str, list[tuple[str, str]]]:
    """``lbctl doctor --probe`` run from the client: the net.probe check's status and
    findings."""
    import json
    import subprocess
    import sys

    done = subprocess.run(
        ["ip", "netns", "exec", lab.client, sys.executable, "-m", "lbctl", "doctor", "--probe",
         "--timeout", "0.5", "--kubeconfig", str(lab.kubeconfig), "-o", "json"],
        capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 1), done.stderr
    check = next(c for c in json.loads(done.stdout)["checks"] if c["id"] == "net.probe")
    return check["status"], [(f["severity"], f["message"]) for f in check["findings"]]


def _wait_macs_published(lab: Lab, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    for name in lab.nodes:
        while True:
            lease = lab.api.get_object("leases", f"lbctl-speaker-{name}", "kube-system") or {}
            annotations = (lease.get("metadata") or {}).get("annotations") or {}
            if annotations.get("lbctl.io/macs") == f"lan0={lab.macs[name]}":
                break
            assert time.monotonic() < deadline, f"{name} did not publish its MAC: {lease}"
            time.sleep(0.05)


def test_doctor_probe_compares_who_answers_with_the_computed_owner(lab: Lab) -> None:
    from tests.net.netns import sh

    web(lab, [VIP])
    # a killed speaker's Lease stays fresh for a minute: its node stays the owner meanwhile
    lab.start(extra=["--lease-duration", "60"])
    owner = lab.owner(VIP)
    assert owner is not None
    other = next(n for n in lab.nodes if n != owner)
    lab.wait_for(VIP, [owner])
    _wait_macs_published(lab)
    assert _doctor_probe(lab) == ("pass", [
        ("pass", "each of the 1 announced address is answered by its computed owner's MAC "
                 "alone")])

    # the other node's kernel answers too (the VIP configured on it): a conflict
    sh("ip", "-n", lab.ns[other], "addr", "add", f"{VIP}/32", "dev", "lan0")
    lab.wait_for(VIP, sorted([owner, other], key=lambda n: lab.macs[n]))
    first, second = sorted([owner, other], key=lambda n: lab.macs[n])
    assert _doctor_probe(lab) == ("error", [
        ("error", f"service shop/web: {VIP} is answered by 2 MACs, a conflict: node {first} "
                  f"({lab.macs[first]}), node {second} ({lab.macs[second]}); its computed "
                  f"owner is {owner}")])

    # the owner's speaker dies; its Lease has not run out, so it is still the owner
    lab.kill(owner)
    lab.wait_for(VIP, [other])
    assert _doctor_probe(lab) == ("error", [
        ("error", f"service shop/web: {VIP} is answered by the wrong node: node {other} "
                  f"({lab.macs[other]}); its computed owner is {owner}")])

    sh("ip", "-n", lab.ns[other], "addr", "del", f"{VIP}/32", "dev", "lan0")
    lab.wait_for(VIP, [])
    assert _doctor_probe(lab) == ("error", [
        ("error", f"service shop/web: {VIP} is answered by no node; its computed owner is "
                  f"{owner}")])


def _reach(ip: str, port: int) -> str:
    import socket

    with socket.create_connection((ip, port), timeout=1.0) as sock:
        return sock.recv(64).decode()


def _wait_reached(lab: Lab, ip: str, node_name: str | None, within: float = 10.0) -> None:
    start = time.monotonic()
    seen: object = None
    while time.monotonic() - start < within:
        try:
            seen = lab.lan.run(lab.client, _reach, ip, 8080)
        except OSError as exc:
            seen = exc
        if seen == node_name:
            return
        time.sleep(0.1)
    logs = "\n".join(f"--- {n}\n{lab.log(n)[-2000:]}" for n in lab.nodes)
    raise AssertionError(f"{ip}: reached {seen!r}, expected {node_name}\n{logs}")


def test_the_client_reaches_every_vip_through_the_loss_of_any_one_node(lab: Lab) -> None:
    """Each node accepts traffic for every VIP as kube-proxy would (the VIPs on lo, strictARP's
    arp_ignore=1 so the kernel never answers ARP for them): only the speakers make a VIP
    reachable, and the client must keep reaching each one, through its computed owner, while
    any one node is down."""
    import os
    import select

    from tests.net.lab import service
    from tests.net.netns import Child, sh

    vips = {f"s{i}": f"10.9.0.{100 + i}" for i in range(1, 5)}
    lab.set_state({name: [ip] for name, ip in vips.items()})
    for name, ip in vips.items():
        lab.api.put_object(service(name, [ip]))
        lab.api.put_object(endpoint_slice(name, lab.nodes))
    greeters = {}
    for name in lab.nodes:
        lab.lan.sysctl(lab.ns[name], {"net/ipv4/conf/all/arp_ignore": "1",
                                      "net/ipv4/conf/all/arp_announce": "2"})
        for ip in vips.values():
            sh("ip", "-n", lab.ns[name], "addr", "add", f"{ip}/32", "dev", "lo")
        ready_r, ready_w = os.pipe()
        stop_r, stop_w = os.pipe()
        child = Child(lab.ns[name], _listen, "0.0.0.0", 8080, ready_w, stop_r, name.encode(),
                      close=(ready_r, stop_w))
        os.close(ready_w)
        os.close(stop_r)
        assert select.select([ready_r], [], [], 10)[0]
        os.close(ready_r)
        greeters[name] = (child, stop_w)
    try:
        lab.start()
        owners = {ip: lab.owner(ip) for ip in vips.values()}
        assert len(set(owners.values())) > 1  # the VIPs are spread over several nodes
        for ip, owner in owners.items():
            _wait_reached(lab, ip, owner)
        for lost in lab.nodes:
            lab.kill(lost)
            survivors = [n for n in lab.nodes if n != lost]
            for ip in vips.values():
                _wait_reached(lab, ip, lab.owner(ip, live=survivors))
            lab.start(lost)
            for ip, owner in owners.items():
                _wait_reached(lab, ip, owner)
    finally:
        for child, stop_w in greeters.values():
            os.write(stop_w, b"!")
            child.result()
            os.close(stop_w)


def _metrics() -> dict[str, float]:
    import urllib.request

    with urllib.request.urlopen("http://127.0.0.1:7473/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {name: float(value) for name, _, value in
            (line.rpartition(" ") for line in text.splitlines() if line.startswith("lbctl_"))}


def test_metrics_count_what_the_speaker_did(lab: Lab) -> None:
    web(lab, [VIP, VIP6])
    lab.start()
    owner = lab.owner(VIP)
    assert owner is not None
    other = next(n for n in lab.nodes if n != owner)
    lab.wait_for(VIP, [owner])
    lab.wait_for(VIP6, [owner])
    time.sleep(4.5)  # every gratuitous round (0, 0.5, 1, 2 and 4 s) is sent
    seen = lab.lan.run(lab.ns[owner], _metrics)
    assert seen["lbctl_speaker_addresses_announced"] == 2
    # 2 gained (more only if a renewal failed on a loaded machine: lost and gained again)
    assert seen["lbctl_speaker_ownership_changes_total"] >= 2
    assert seen["lbctl_speaker_ownership_changes_total"] % 2 == 0
    assert seen['lbctl_speaker_requests_answered_total{protocol="arp"}'] >= 1
    assert seen['lbctl_speaker_requests_answered_total{protocol="ndp"}'] >= 1
    # 5 rounds; each IPv4 round sends a request and a reply, each IPv6 round one NA
    assert seen["lbctl_speaker_gratuitous_frames_total"] >= 5 * (2 + 1)
    assert "lbctl_speaker_lease_renewals_failed_total" in seen
    # another node holds nothing now (it may have held the VIPs for a moment at start-up,
    # before the owner's Lease appeared: then it released what it took)
    idle = lab.lan.run(lab.ns[other], _metrics)
    assert idle["lbctl_speaker_addresses_announced"] == 0
    assert idle["lbctl_speaker_ownership_changes_total"] % 2 == 0


def _published(lab: Lab, node: str, wanted: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        lease = lab.api.get_object("leases", f"lbctl-speaker-{node}", "kube-system")
        if lease and wanted in (lease["metadata"].get("annotations") or {}).get(
                "lbctl.io/macs", ""):
            return
        time.sleep(0.05)
    raise AssertionError(f"{node} does not publish {wanted}:\n{lab.log(node)}")


def test_a_pools_interfaces_choose_the_owner_and_the_interface_that_answers(lab: Lab) -> None:
    """The hash's runner-up gets a second interface on the segment, lan1, with no address; the
    pool names lan1: that node alone may own the addresses and answers (ARP and NDP) and
    announces from lan1 only, never from its lan0.  Without the interfaces the hash decides
    again, on each node's own interface."""
    from lbctl.core.ownership import score

    first, second, _ = sorted(lab.nodes, key=lambda n: score(n, VIP))
    lab.lan.plug(second, "lan1")
    lan1 = lab.lan.mac(lab.ns[second], "lan1")
    lab.set_state({"web": [VIP, VIP6]}, interfaces=["lan1"])
    lab.api.put_object(service("web", [VIP, VIP6]))
    lab.api.put_object(endpoint_slice("web", lab.nodes))
    lab.start()
    _published(lab, second, f"lan1={lan1}")
    assert lab.owner(VIP) == second
    lab.wait_for(VIP, [None])  # one answer, from a MAC that is no node's lan0 ...
    lab.wait_for(VIP6, [None])
    for _ in range(3):
        assert lab.probe([VIP, VIP6]) == [(lan1,), (lan1,)]  # ... but lan1's
    lab.lan.run(lab.client, _resolve, VIP)
    assert lab.lan.neighbour(lab.client, VIP)["lladdr"] == lan1  # type: ignore[index]
    assert f"took over {VIP} (shop/web)" in lab.log(second)
    # the pool drops its interfaces: the hash's winner answers, from its lan0, and its
    # gratuitous ARP moves the client's entry without the client asking
    lab.set_state({"web": [VIP, VIP6]})
    _wait_neighbour(lab, VIP, lab.macs[first], within=10)
    lab.wait_for(VIP, [first])
    lab.wait_for(VIP6, [first])


def _health(path: str) -> tuple[int, str]:
    """GET a speaker's ``path`` (it listens on 127.0.0.1 in its namespace): status, body."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:7473{path}", timeout=5) as answer:
            return answer.status, answer.read().decode().rstrip("\n")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode().rstrip("\n")


def _missing_metric(lab: Lab, name: str) -> float:
    _, text = lab.lan.run(lab.ns[name], _health, "/metrics")
    return float(next(line.split()[1] for line in text.splitlines()
                      if line.startswith("lbctl_speaker_state_missing ")))


def test_a_deleted_state_configmap_keeps_every_vip_answered_until_it_is_back(lab: Lab) -> None:
    """`kubectl delete cm -n kube-system lbctl-state`: every VIP is still answered by its owner,
    a failover still moves it (every speaker remembers the last good state), the speakers say
    so (log once, lbctl_speaker_state_missing 1) and stay ready; a speaker started meanwhile
    takes no Lease (it has nothing to answer from) instead of taking over addresses it would
    not answer for, and is not ready, saying why.  The state restored, all resume."""
    from tests.kubefake import resources

    web(lab, [VIP, VIP6])
    lab.start()
    owner = lab.owner(VIP)
    assert owner is not None and lab.owner(VIP6) == owner
    lab.wait_for(VIP, [owner])
    successor = lab.owner(VIP, live=[n for n in lab.nodes if n != owner])
    assert successor is not None
    backup = lab.api.get_object("configmaps", "lbctl-state", "kube-system")
    lab.api.store.delete(resources.lookup("configmaps"), "kube-system", "lbctl-state", {})
    lost = ("ConfigMap kube-system/lbctl-state is missing, but 1 LoadBalancer Service shows "
            f"addresses no state records: shop/web ({VIP}, {VIP6}); the state was deleted or "
            "lost (or another load balancer published them), and this speaker keeps answering "
            "for what its last good state recorded until it is back")
    deadline = time.monotonic() + 10
    while not all(lost in lab.log(n) for n in lab.nodes):
        assert time.monotonic() < deadline, {n: lab.log(n)[-500:] for n in lab.nodes}
        time.sleep(0.05)
    for _ in range(3):
        assert lab.probe([VIP, VIP6]) == [(lab.macs[owner],), (lab.macs[owner],)]
    for name in lab.nodes:
        assert lab.log(name).count(lost) == 1
        assert lab.lan.run(lab.ns[name], _health, "/readyz") == (200, "ok")
        assert lab.lan.run(lab.ns[name], _health, "/healthz") == (200, "ok")
        assert _missing_metric(lab, name) == 1.0
    # the owner dies while the state is lost: its successor takes over from what it remembers
    lab.kill(owner)
    lab.wait_for(VIP, [successor], within=10)
    lab.wait_for(VIP6, [successor], within=10)
    # restarted meanwhile, the owner has no state: it takes no Lease (not even before its
    # first sync), the successor keeps answering
    lab.start(owner, wait=False)
    deadline = time.monotonic() + 60
    while "holding no Lease while the state is lost" not in lab.log(owner):
        assert time.monotonic() < deadline, lab.log(owner)
        assert lab.probe([VIP, VIP6]) == [(lab.macs[successor],), (lab.macs[successor],)]
    assert "holding the Lease" not in lab.log(owner)
    assert lab.probe([VIP, VIP6]) == [(lab.macs[successor],), (lab.macs[successor],)]
    assert lab.lan.run(lab.ns[owner], _health, "/readyz") == (503, lost.replace(
        "this speaker keeps answering for what its last good state recorded until it is back",
        "this speaker has no state to answer from: it gives its Lease up (the others keep "
        "answering) until the state is back"))
    # the state restored from the backup: everyone resumes, the owner takes its VIPs back
    assert backup is not None
    lab.api.put_object({**backup, "metadata": {"name": "lbctl-state",
                                               "namespace": "kube-system"}})
    lab.wait_started(owner)
    lab.wait_for(VIP, [owner], within=10)
    lab.wait_for(VIP6, [owner], within=10)
    for name in lab.nodes:
        assert "ConfigMap kube-system/lbctl-state is back" in lab.log(name) or name == owner
        deadline = time.monotonic() + 10
        while lab.lan.run(lab.ns[name], _health, "/readyz") != (200, "ok"):
            assert time.monotonic() < deadline, lab.lan.run(lab.ns[name], _health, "/readyz")
            time.sleep(0.1)
        assert _missing_metric(lab, name) == 0.0
