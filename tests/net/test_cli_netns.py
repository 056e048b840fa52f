"""The installed command run inside a namespace: ``python -m lbctl arp ...`` end to end, and the
refusal without CAP_NET_RAW (nothing sent, one line with the fix, exit 6)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from scapy.layers.l2 import ARP, Ether

from lbctl.errors import ExitCode
from tests.net.cli import lbctl, without_net_raw
from tests.net.netns import Lan, sh

pytestmark = pytest.mark.netns

STATE = """\
schemaVersion: 1
pools:
  lan:
    addresses: [10.9.0.100-10.9.0.120]
allocations:
  shop:
    web: {ips: [10.9.0.100], pool: lan}
"""


@pytest.fixture
def state(tmp_path: Path) -> str:
    path = tmp_path / "lb.yaml"
    path.write_text(STATE)
    return str(path)


def test_announce_a_service_moves_the_neighbours_entry(lan: Lan, state: str) -> None:
    a = lan.host("a", "10.9.0.1/24")
    b = lan.host("b", "10.9.0.2/24")
    sh("ip", "-n", b, "neigh", "add", "10.9.0.100", "lladdr", "02:00:00:00:00:99", "dev", "lan0",
       "nud", "stale")
    done = lbctl(a, "arp", "announce", "svc/web", "-n", "shop", "-c", "1", "--state", state)
    mac = lan.mac(a)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.split() == ["IP", "INTERFACE", "MAC", "FRAMES",
                                   "10.9.0.100", "lan0", mac, "2", "total", "2"]
    entry = lan.neighbour(b, "10.9.0.100")
    assert entry is not None and entry["lladdr"] == mac


def test_probe_exit_codes(lan: Lan) -> None:
    a = lan.host("a", "10.9.0.1/24")
    b = lan.host("b", "10.9.0.2/24")
    in_use = lbctl(a, "arp", "probe", "10.9.0.2", "--timeout", "0.3")
    assert in_use.returncode == ExitCode.NO
    assert in_use.stdout.splitlines()[1].split() == ["10.9.0.2", "lan0", "in-use", lan.mac(b)]
    one = lbctl(a, "arp", "probe", "10.9.0.2", "--timeout", "0.3", "--expect-one")
    assert one.returncode == ExitCode.OK
    free = lbctl(a, "arp", "probe", "10.9.0.3", "--timeout", "0.3")
    assert (free.returncode, free.stderr) == (ExitCode.OK, "")


@pytest.mark.parametrize("args", [
    ["announce", "10.9.0.100", "-c", "1"],
    ["probe", "10.9.0.2", "--timeout", "0.3"],
])
def test_without_cap_net_raw_nothing_is_sent(lan: Lan, state: str, args: list[str]) -> None:
    drop = without_net_raw()
    a = lan.host("a", "10.9.0.1/24")
    b = lan.host("b", "10.9.0.2/24")
    with lan.capture(b) as seen:
        done = lbctl(a, "arp", *args, "--state", state, drop=drop)
    assert done.returncode == ExitCode.PERMISSION
    assert done.stdout == ""
    assert done.stderr == (
        "lbctl: error: sending raw ARP/NDP frames needs the CAP_NET_RAW capability\n"
        f"hint: run lbctl as root, or grant it: setcap cap_net_raw+ep "
        f"{os.path.realpath(sys.executable)}\n"
    )
    assert [f for f in seen if ARP in Ether(f.data) and Ether(f.data).src == lan.mac(a)] == []


@pytest.mark.parametrize("args", [
    pytest.param(["probe", "10.9.0.2", "10.9.0.3", "--timeout", "0.3", "--dry-run"],
                 id="probe-ipv4"),
    pytest.param(["probe", "10.9.0.2", "--expect-one", "--timeout", "0.3", "--dry-run",
                  "-o", "json"], id="probe-expect-one-json"),
    pytest.param(["probe", "fd00:9::2", "--timeout", "0.3", "--dry-run"], id="probe-ipv6"),
    pytest.param(["announce", "10.9.0.100", "-c", "2", "--interval", "0.1", "--dry-run"],
                 id="announce"),
])
def test_a_dry_run_sends_nothing(lan: Lan, state: str, args: list[str]) -> None:
    """Nothing leaves the host: no ARP, no neighbour solicitation or advertisement, from
    any address (the probe's 0.0.0.0 and :: included)."""
    a = lan.host("a", "10.9.0.1/24", "fd00:9::1/64")
    b = lan.host("b", "10.9.0.2/24", "fd00:9::2/64")
    mac = lan.mac(a)
    with lan.capture(b) as seen:
        done = lbctl(a, "arp", *args, "--state", state)
    assert (done.returncode, done.stderr.endswith("; nothing was sent\n") or "-o" in args) == (
        0, True), done.stderr
    from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6ND_NS

    sent = [Ether(f.data) for f in seen if Ether(f.data).src == mac]
    assert [f.summary() for f in sent
            if ARP in f or ICMPv6ND_NS in f or ICMPv6ND_NA in f] == []
