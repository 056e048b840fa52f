"""Every hint about interfaces, raw sockets and the kernel leads somewhere (issue 12, item 2).

Each case builds the real situation in network namespaces the test creates (an interface that
is down, without carrier, gone, too small for a frame, a transmit queue that stays full, no
``ip`` command...), runs the installed command inside, checks the exact hint it prints, then
does what the hint says (the command it prints is run as printed) and checks the same command
now works.  Nothing is sent outside the test's namespaces; everything is removed afterwards.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lbctl.errors import ExitCode
from tests.net.cli import IP, lbctl, without_net_raw
from tests.net.lab import VIP, Lab, endpoint_slice, service
from tests.net.netns import Lan, sh

pytestmark = pytest.mark.netns

STATE = """\
schemaVersion: 1
pools:
  lan:
    addresses: [10.9.0.100-10.9.0.140, 'fd00:9::100-fd00:9::120']
  far:
    addresses: [192.0.2.10-192.0.2.20]
"""
#: The addresses of a burst too large for a slow link (the queue-full case).
BURST = [f"10.9.0.{i}" for i in range(100, 141)]


def hint_of(done: subprocess.CompletedProcess[str]) -> str:
    """The last line of stderr, which must be the hint, after exactly one error line."""
    lines = done.stderr.splitlines()
    assert sum(line.startswith("lbctl: error: ") for line in lines) == 1, done.stderr
    assert lines[-1].startswith("hint: "), done.stderr
    return lines[-1]


def in_ns(namespace: str, command: str) -> str:
    """Run a shell command a hint prints (``ip link set lan0 up``) inside ``namespace``."""
    words = shlex.split(command)
    assert words[0] == "ip", command
    return sh(IP, "-n", namespace, *words[1:])


class Host:
    """Host ``a`` (10.9.0.1/24, fd00:9::1/64) and a neighbour ``b`` on one segment."""

    def __init__(self, lan: Lan, state: str) -> None:
        self.lan = lan
        self.ns = lan.host("a", "10.9.0.1/24", "fd00:9::1/64")
        self.neighbour = lan.host("b", "10.9.0.2/24", "fd00:9::2/64")
        self.state = state

    def lbctl(self, *args: str, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
        return lbctl(self.ns, *args, "--state", self.state, env=env)

    def during(self, args: list[str], action: Callable[[], None]
               ) -> subprocess.CompletedProcess[str]:
        """``lbctl ARGS`` (announcing 10.9.0.100) with ``action`` done once its frames arrive
        (the neighbour's entry for the address, planted stale, moved to this host)."""
        sh(IP, "-n", self.neighbour, "neigh", "replace", "10.9.0.100", "lladdr",
           "02:00:00:00:00:99", "dev", "lan0", "nud", "stale")
        mac = self.lan.mac(self.ns)
        command = [IP, "netns", "exec", self.ns, sys.executable, "-m", "lbctl", *args,
                   "--state", self.state]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env={**os.environ, "NO_COLOR": "1"})
        try:
            deadline = time.monotonic() + 60
            while (self.lan.neighbour(self.neighbour, "10.9.0.100") or {}).get("lladdr") != mac:
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                time.sleep(0.05)
            action()
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, 9)
                proc.wait()
        return subprocess.CompletedProcess(command, proc.returncode, out, err)


@pytest.fixture
def host(lan: Lan, tmp_path: Path) -> Host:
    state = tmp_path / "lb.yaml"
    state.write_text(STATE)
    return Host(lan, str(state))


ANNOUNCE = ("arp", "announce", "10.9.0.100", "-c", "1")
#: A long announcement: 100 rounds 0.1 s apart, so that something can happen in the middle.
LONG = ["arp", "announce", "10.9.0.100", "-c", "100", "--interval", "0.1"]


def ok(done: subprocess.CompletedProcess[str]) -> None:
    assert (done.returncode, done.stderr) == (0, ""), done.stderr


def test_an_interface_that_does_not_exist(host: Host) -> None:
    done = host.lbctl(*ANNOUNCE, "--interface", "eth7")
    assert done.returncode == ExitCode.NOT_FOUND
    assert hint_of(done) == (
        "hint: list interfaces with `ip -br link` and pick one with --interface IF")
    listed = in_ns(host.ns, "ip -br link")
    up = [line.split()[0] for line in listed.splitlines() if " UP " in f"{line} "]
    assert [name.split("@")[0] for name in up] == ["lan0"], listed
    ok(host.lbctl(*ANNOUNCE, "--interface", "lan0"))


def test_an_interface_that_is_down(host: Host) -> None:
    sh(IP, "-n", host.ns, "link", "set", "lan0", "down")
    done = host.lbctl(*ANNOUNCE)
    assert done.returncode == ExitCode.REFUSED
    assert hint_of(done) == "hint: bring it up: ip link set lan0 up"
    in_ns(host.ns, hint_of(done).removeprefix("hint: bring it up: "))
    ok(host.lbctl(*ANNOUNCE))


@pytest.mark.slow
def test_an_interface_that_went_down_while_sending(host: Host) -> None:
    done = host.during(LONG, lambda: sh(IP, "-n", host.ns, "link", "set", "lan0", "down"))
    assert (done.returncode, done.stderr.splitlines()[0]) == (
        ExitCode.REFUSED, "lbctl: error: interface lan0 went down while sending")
    assert hint_of(done) == "hint: bring it up: ip link set lan0 up"
    in_ns(host.ns, hint_of(done).removeprefix("hint: bring it up: "))
    ok(host.lbctl(*ANNOUNCE))


def test_an_interface_without_carrier(host: Host) -> None:
    sh(IP, "-n", host.lan.hub, "link", "set", "p-a", "down")  # the veth's peer: no carrier
    done = host.lbctl(*ANNOUNCE)
    assert done.returncode == ExitCode.REFUSED
    assert hint_of(done) == ("hint: check its cable or peer, or list interfaces with "
                             "`ip -br link` and pick one with --interface IF")
    assert "NO-CARRIER" in in_ns(host.ns, "ip -br link")
    sh(IP, "-n", host.lan.hub, "link", "set", "p-a", "up")  # the cable, plugged back
    ok(host.lbctl(*ANNOUNCE))


@pytest.mark.slow
def test_an_interface_that_disappeared_while_sending(host: Host) -> None:
    done = host.during(LONG, lambda: sh(IP, "-n", host.ns, "link", "del", "lan0"))
    assert (done.returncode, done.stderr.splitlines()[0]) == (
        ExitCode.NOT_FOUND, "lbctl: error: interface lan0 disappeared while sending")
    assert hint_of(done) == "hint: check `ip -br link` and run the command again"
    assert "lan0" not in in_ns(host.ns, "ip -br link")
    host.lan.plug("a", "lan0", "10.9.0.1/24")  # it comes back (a flapping or re-created link)
    assert "lan0" in in_ns(host.ns, "ip -br link")
    ok(host.lbctl(*ANNOUNCE))


def test_an_address_no_interface_reaches(host: Host) -> None:
    done = host.lbctl("arp", "announce", "192.0.2.10", "-c", "1")
    assert done.returncode == ExitCode.NOT_FOUND
    assert hint_of(done) == "hint: name the interface with --interface IF"
    ok(host.lbctl("arp", "announce", "192.0.2.10", "-c", "1", "--interface", "lan0"))


def test_a_frame_larger_than_the_mtu(host: Host) -> None:
    """An unsolicited NA (86 bytes) on a link of MTU 68 (the kernel turned IPv6 off there)."""
    sh(IP, "-n", host.ns, "link", "set", "lan0", "mtu", "68")
    args = ("arp", "announce", "fd00:9::100", "-c", "1", "--interface", "lan0")
    done = host.lbctl(*args)
    assert (done.returncode, done.stderr.splitlines()[0]) == (
        ExitCode.REFUSED, "lbctl: error: a frame is larger than the MTU of lan0")
    assert hint_of(done) == ("hint: raise it: ip link set lan0 mtu 1500 (IPv6 needs 1280 or "
                             "more)")
    in_ns(host.ns, re.sub(r"^hint: raise it: | \(.*\)$", "", hint_of(done)))
    ok(host.lbctl(*args))


@pytest.mark.slow
def test_a_transmit_queue_that_stays_full(host: Host) -> None:
    """A link that drains 125 bytes a second behind a 200-byte queue (tc's token bucket)."""
    sh(IP, "netns", "exec", host.ns, "tc", "qdisc", "add", "dev", "lan0", "root", "tbf",
       "rate", "1kbit", "burst", "1600", "limit", "200")
    done = host.lbctl("arp", "announce", *BURST, "-c", "1")
    assert done.returncode == ExitCode.REFUSED
    assert done.stderr.startswith("lbctl: error: the transmit queue of lan0 stayed full for 2 s")
    assert hint_of(done) == ("hint: send fewer addresses at once, or see what drops frames "
                             "there: tc -s qdisc show dev lan0; ip -s link show lan0")
    qdisc, link = hint_of(done).split(": ", 3)[-1].split("; ")
    assert re.search(r"dropped [1-9]", sh(IP, "netns", "exec", host.ns, *shlex.split(qdisc)))
    assert "lan0" in in_ns(host.ns, link)
    time.sleep(2)  # what the queue holds drains
    ok(host.lbctl("arp", "announce", BURST[0], "-c", "1"))


def _fake_ip(folder: Path) -> str:
    """A directory holding an `ip` that knows no -j, as iproute2 before 4.13 and BusyBox."""
    script = folder / "ip"
    script.write_text("#!/bin/sh\necho 'Option \"-j\" is unknown, try \"ip -help\".' >&2\n"
                      "exit 255\n")
    script.chmod(0o755)
    return str(folder)


def _unusable_ip(folder: Path) -> str:
    """A directory holding an `ip` this user may not execute."""
    (folder / "ip").write_text("#!/bin/sh\n")
    (folder / "ip").chmod(0o644)
    return str(folder)


@pytest.mark.parametrize(("path", "code", "hint"), [
    pytest.param(lambda tmp: "/nonexistent", ExitCode.NOT_FOUND,
                 "hint: install iproute2; lbctl reads interfaces and routes with it", id="none"),
    pytest.param(_fake_ip, ExitCode.REFUSED,
                 "hint: lbctl needs iproute2 with JSON output (ip -j)", id="without-json"),
    pytest.param(_unusable_ip, ExitCode.REFUSED,
                 "hint: lbctl needs iproute2 with JSON output (ip -j)", id="not-executable"),
])
def test_an_ip_command_lbctl_cannot_use(host: Host, tmp_path: Path,
                                        path: Callable[[Path], str], code: int,
                                        hint: str) -> None:
    done = host.lbctl(*ANNOUNCE, env={"PATH": path(tmp_path)})
    assert done.returncode == code
    assert hint_of(done) == hint
    iproute2 = os.path.dirname(IP)  # installed: on the PATH
    ok(host.lbctl(*ANNOUNCE, env={"PATH": f"{iproute2}:{path(tmp_path)}"}))


def test_no_file_descriptor_left_to_run_ip(host: Host) -> None:
    """A soft limit of 8 open files: the pipes to `ip` cannot be made (it was an internal
    error, "a bug in lbctl")."""
    low = ["prlimit", "--nofile=8:4096", "--"]
    done = lbctl(host.ns, *ANNOUNCE, "--state", host.state, drop=low)
    assert (done.returncode, done.stderr.splitlines()[0]) == (
        ExitCode.REFUSED, "lbctl: error: cannot run `ip`: Too many open files")
    assert hint_of(done) == ("hint: raise the limit of open files (ulimit -n 1024), then run "
                             "the command again")
    raise_it = re.search(r"\((ulimit -n \d+)\)", hint_of(done))
    assert raise_it is not None
    ok(lbctl(host.ns, *ANNOUNCE, "--state", host.state,
             drop=[*low, "sh", "-c", f'{raise_it[1]} && exec "$@"', "sh"]))


def test_check_node_on_a_machine_without_procfs(tmp_path: Path) -> None:
    """A private mount namespace whose /proc is an empty tmpfs (a machine with no Linux
    kernel behind /proc); "run it there" is running it on this Linux machine."""
    if not Path("/usr/bin/unshare").exists():
        pytest.skip("needs unshare (util-linux)")
    python = [sys.executable, "-m", "lbctl", "kube-proxy", "check-node"]
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         'mount -t tmpfs none /proc && exec "$@"', "sh", *python],
        capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == ExitCode.NOT_FOUND, done.stderr
    assert hint_of(done) == (
        "hint: check-node reads the kernel of a Linux node: run it there, or in a pod with "
        "hostNetwork: true (kubectl debug node/NAME)")
    there = subprocess.run([*python, "-o", "json"], capture_output=True, text=True, env=env,
                           timeout=60)
    assert there.returncode in (ExitCode.OK, ExitCode.NO), there.stderr
    assert '"arpIgnore"' in there.stdout


# --------------------------------------------------------------------------- doctor --probe
#
# Who answers for an allocated address, asked on the wire from a host of the segment.  Without
# lbctl's speakers (the state alone: doctor --state), each address must be answered by one MAC;
# with them (a cluster in namespaces: tests/net/lab.py), by its computed owner's alone.

ALLOCATED = STATE + "allocations:\n  shop:\n    web: {ips: [10.9.0.100], pool: lan}\n"


def probe_findings(done: subprocess.CompletedProcess[str]) -> list[dict[str, str]]:
    """The findings of net.probe in ``doctor -o json``."""
    import json

    report = json.loads(done.stdout)
    found = next(c for c in report["checks"] if c["id"] == "net.probe")
    findings: list[dict[str, str]] = found["findings"]
    return findings


def doctor_probe(host: Host, drop: list[str] | None = None) -> list[dict[str, str]]:
    return probe_findings(lbctl(host.ns, "doctor", "--probe", "--timeout", "0.3", "--state",
                                host.state, "-o", "json", drop=drop))


def test_doctor_probe_nothing_holds_an_address(host: Host) -> None:
    """Nobody answers: a gratuitous ARP alone would not change that (a neighbour asks again
    when its entry expires, and nothing answers), so the hint says to hold the address."""
    Path(host.state).write_text(ALLOCATED)
    [finding] = doctor_probe(host)
    assert finding["hint"] == (
        "nothing holds it: run lbctl's speakers (lbctl install --speaker | kubectl apply -f -), "
        "or hold it on one node (there: ip addr add 10.9.0.100/32 dev IF, then lbctl arp "
        "announce 10.9.0.100) (probed via lan0)")
    node = host.neighbour  # "one node": the neighbour b
    in_ns(node, "ip addr add 10.9.0.100/32 dev lan0")
    ok(lbctl(node, "arp", "announce", "10.9.0.100", "--state", host.state, "-c", "1"))
    assert [(f["severity"], f["message"]) for f in doctor_probe(host)] == [
        ("pass", "each of the 1 allocated address is answered by exactly one MAC")]


def test_doctor_probe_two_hosts_hold_an_address(host: Host) -> None:
    Path(host.state).write_text(ALLOCATED)
    for ns in (host.neighbour, host.lan.host("c", "10.9.0.3/24")):
        in_ns(ns, "ip addr add 10.9.0.100/32 dev lan0")
    [finding] = doctor_probe(host)
    assert finding["hint"] == (
        "make one node hold the address; check lbctl kube-proxy diff (probed via lan0)")
    in_ns(host.neighbour, "ip addr del 10.9.0.100/32 dev lan0")
    assert [f["severity"] for f in doctor_probe(host)] == ["pass"]


def test_doctor_probe_without_cap_net_raw(host: Host) -> None:
    Path(host.state).write_text(ALLOCATED)
    [finding] = doctor_probe(host, drop=without_net_raw())
    assert finding["message"].startswith("the probe could not run: sending raw ARP/NDP frames "
                                         "needs the CAP_NET_RAW capability")
    assert finding["hint"] == ("run doctor --probe as root (or with CAP_NET_RAW) on a host in the "
                               "nodes' layer-2 segment")
    [as_root] = doctor_probe(host)  # it probes: nothing holds the address yet
    assert as_root["message"].startswith("service shop/web: 10.9.0.100: nobody answered")


@dataclass
class Cluster:
    lab: Lab
    stale: str  # a host of the segment that is no node: another announcer, when it holds a VIP

    def doctor(self) -> list[dict[str, str]]:
        return probe_findings(lbctl(self.lab.client, "doctor", "--probe", "--kubeconfig",
                                    str(self.lab.kubeconfig), "-o", "json"))

    def speaker_status(self) -> dict[str, Any]:
        import json

        done = lbctl(self.lab.client, "speaker", "status", "--kubeconfig",
                     str(self.lab.kubeconfig), "-o", "json")
        assert done.returncode in (ExitCode.OK, ExitCode.NO), done.stderr
        return next(a for a in json.loads(done.stdout)["addresses"] if a["ip"] == VIP)

    def settled(self) -> tuple[str, str]:
        """Both speakers run and the owner of the VIP alone answers: (owner, the other)."""
        owner = self.lab.owner(VIP)
        assert owner is not None
        self.lab.wait_for(VIP, [owner], within=60)  # a speaker starts slowly under load
        assert [f["severity"] for f in self.doctor()] == ["pass"]
        return owner, next(n for n in self.lab.nodes if n != owner)


@pytest.fixture(scope="module")
def cluster(netns_unavailable: str | None,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two nodes running lbctl speaker (Leases of 30 s: a stopped speaker stays the owner
    while a test looks), one Service web holding the VIP, a client and a stale host."""
    if netns_unavailable:
        pytest.skip(netns_unavailable)
    lan = Lan()
    try:
        lab = Lab(lan, tmp_path_factory.mktemp("lab"), nodes=2)
        try:
            lab.set_state({"web": [VIP]})
            lab.api.put_object(service("web", [VIP]))
            lab.api.put_object(endpoint_slice("web", lab.nodes))
            lab.start(extra=["--lease-duration", "30"])
            yield Cluster(lab, lan.host("stale", "10.9.0.3/24"))
        finally:
            lab.close()
    finally:
        lan.close()


@pytest.mark.slow
def test_doctor_probe_another_announcer_beside_the_owner(cluster: Cluster) -> None:
    cluster.settled()
    in_ns(cluster.stale, f"ip addr add {VIP}/32 dev lan0")
    try:
        [finding] = cluster.doctor()
        assert finding["hint"] == (
            "make only the owner answer: another announcer, a stale arp announce, or kube-proxy "
            "in IPVS mode without strictARP (see lbctl kube-proxy diff) (probed via lan0)")
    finally:
        in_ns(cluster.stale, f"ip addr del {VIP}/32 dev lan0")  # only the owner answers
    cluster.settled()


@pytest.mark.slow
def test_doctor_probe_an_announcer_where_no_node_should(cluster: Cluster) -> None:
    """No ready endpoint under externalTrafficPolicy: Local: no speaker answers, yet the stale
    host does; the svc show the hint names says why no node should."""
    lab = cluster.lab
    cluster.settled()
    lab.api.put_object(service("web", [VIP], policy="Local"))
    lab.api.put_object(endpoint_slice("web", lab.nodes, ready=False))
    in_ns(cluster.stale, f"ip addr add {VIP}/32 dev lan0")
    try:
        lab.wait_for(VIP, [None])  # the stale host's MAC alone (no node's)
        [finding] = cluster.doctor()
        assert finding["hint"] == (
            "another announcer (a stale arp announce, another load balancer, or kube-proxy in "
            "IPVS mode without strictARP) answers for it; lbctl svc show web -n shop shows why "
            "no node should (probed via lan0)")
        command = re.search(r"lbctl (svc show \S+ -n \S+)", finding["hint"])
        assert command is not None
        shown = lbctl(lab.client, *command[1].split(), "--kubeconfig", str(lab.kubeconfig))
        assert shown.returncode == ExitCode.OK, shown.stderr
        assert re.search(r"^Ready nodes: +<none>$", shown.stdout, re.M), shown.stdout
        assert re.search(r"^Announced by: +<nobody>: .*no ready endpoint$", shown.stdout, re.M)
        in_ns(cluster.stale, f"ip addr del {VIP}/32 dev lan0")
        assert [f["severity"] for f in cluster.doctor()] == ["pass"]
    finally:
        in_ns(cluster.stale, f"ip addr flush dev lan0 to {VIP}/32")
        lab.api.put_object(service("web", [VIP]))
        lab.api.put_object(endpoint_slice("web", lab.nodes))
    cluster.settled()


@pytest.mark.slow
def test_doctor_probe_an_owner_that_does_not_answer(cluster: Cluster) -> None:
    """The owner's speaker hangs (SIGSTOP): its Lease is fresh, so it stays the owner, and
    nobody answers; restarting it (as the kubelet restarts a pod) makes it answer."""
    lab = cluster.lab
    owner, _ = cluster.settled()
    os.kill(lab.procs[owner].pid, signal.SIGSTOP)
    try:
        [finding] = cluster.doctor()
        assert finding["hint"] == (
            f"check the lbctl-speaker pod on {owner} (its logs, lbctl speaker status) and that "
            "this host shares the nodes' layer-2 segment (probed via lan0)")
        address = cluster.speaker_status()
        assert (address["owner"], address["reason"]) == (owner, "")
    finally:
        lab.kill(owner)
        lab.start(owner, extra=["--lease-duration", "30"])
    cluster.settled()


@pytest.mark.slow
def test_doctor_probe_the_wrong_node_answers(cluster: Cluster) -> None:
    """The owner's speaker hangs and the other node answers for the VIP (it holds it on its
    interface): the speakers' owner and the answering MAC disagree."""
    lab = cluster.lab
    owner, other = cluster.settled()
    os.kill(lab.procs[owner].pid, signal.SIGSTOP)
    in_ns(lab.ns[other], f"ip addr add {VIP}/32 dev lan0")
    try:
        [finding] = cluster.doctor()
        assert finding["hint"] == (
            f"the speakers disagree, or something else answers: compare lbctl speaker status "
            f"with the speaker logs on {owner} (probed via lan0)")
        assert cluster.speaker_status()["owner"] == owner  # ... yet {other} answers
    finally:
        in_ns(lab.ns[other], f"ip addr del {VIP}/32 dev lan0")
        lab.kill(owner)
        lab.start(owner, extra=["--lease-duration", "30"])
    cluster.settled()
