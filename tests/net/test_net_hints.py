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
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lbctl.errors import ExitCode
from tests.net.cli import IP, lbctl
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

    def during(self, args: list[str], action: Callable[[], None], after: float = 1.0
               ) -> subprocess.CompletedProcess[str]:
        """``lbctl ARGS`` with ``action`` done ``after`` seconds into it (it must still run)."""
        command = [IP, "netns", "exec", self.ns, sys.executable, "-m", "lbctl", *args,
                   "--state", self.state]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env={**os.environ, "NO_COLOR": "1"})
        try:
            time.sleep(after)
            assert proc.poll() is None, proc.communicate()
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
#: A long announcement: 30 rounds 0.1 s apart, so that something can happen in the middle.
LONG = ["arp", "announce", "10.9.0.100", "-c", "30", "--interval", "0.1"]


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


@pytest.mark.parametrize(("path", "code", "hint"), [
    pytest.param(lambda tmp: "/nonexistent", ExitCode.NOT_FOUND,
                 "hint: install iproute2; lbctl reads interfaces and routes with it", id="none"),
    pytest.param(_fake_ip, ExitCode.REFUSED,
                 "hint: lbctl needs iproute2 with JSON output (ip -j)", id="without-json"),
])
def test_an_ip_command_lbctl_cannot_use(host: Host, tmp_path: Path,
                                        path: Callable[[Path], str], code: int,
                                        hint: str) -> None:
    done = host.lbctl(*ANNOUNCE, env={"PATH": path(tmp_path)})
    assert done.returncode == code
    assert hint_of(done) == hint
    iproute2 = os.path.dirname(IP)  # installed: on the PATH
    ok(host.lbctl(*ANNOUNCE, env={"PATH": f"{iproute2}:{path(tmp_path)}"}))


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
