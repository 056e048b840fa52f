"""``lbctl arp``: exact output and exit codes, with a fake announcer and the offline file state.

The frames themselves are tested between network namespaces in ``tests/net``; here the
announcer is replaced, so these tests need no privileges and check what the command decides:
which addresses, whether it may announce them, and what a probe's answers mean.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from lbctl.cli.context import App
from lbctl.errors import NotFoundError
from lbctl.nodeports import ArpMode, Probed, Sent
from tests.conftest import Cli

MAC = "02:00:00:00:00:01"
OWNER = "02:00:00:00:00:0b"
OTHER = "02:00:00:00:00:0c"

STATE = """\
schemaVersion: 1
pools:
  lan:
    addresses: [192.0.2.10-192.0.2.49, 2001:db8::/120]
  dmz:
    addresses: [198.51.100.0/28]
allocations:
  shop:
    web: {ips: [192.0.2.10, 2001:db8::10], pool: lan}
    api: {ips: [192.0.2.11], pool: lan}
  default:
    edge: {ips: [198.51.100.3], pool: dmz}
"""


class FakeAnnouncer:
    """Records what it was asked; sends nothing.  Reports IPv6 addresses first, in one group,
    then IPv4 ones, as a real announcer may group them.  Probe answers come from ``owners``."""

    def __init__(self) -> None:
        self.announced: list[dict[str, object]] = []
        self.probed: list[dict[str, object]] = []
        self.owners: dict[str, tuple[str, ...]] = {}
        self.absent: set[str] = set()  # interfaces this host does not have

    def announce(self, ips: Sequence[str], *, interface: str | None, count: int,
                 interval: float, mode: ArpMode,
                 progress: Callable[[int, int], None] | None = None) -> list[Sent]:
        if interface in self.absent:
            raise NotFoundError(f"no interface {interface}", hint="ip link lists them")
        self.announced.append({"ips": list(ips), "interface": interface, "count": count,
                               "interval": interval, "mode": mode})
        if progress is not None:
            for done in range(1, count + 1):
                progress(done * len(ips), count * len(ips))
        per_round = {"request": 1, "reply": 1, "both": 2}[mode]
        via = "--interface" if interface else "subnet 192.0.2.0/24"
        v6 = tuple(ip for ip in ips if ":" in ip)
        v4 = tuple(ip for ip in ips if ":" not in ip)
        return [Sent(group, interface or "eth0", MAC, count * n, via)
                for group, n in ((v6, 1), (v4, per_round)) if group]

    def probe(self, ips: Sequence[str], *, interface: str | None,
              timeout: float) -> list[Probed]:
        self.probed.append({"ips": list(ips), "interface": interface, "timeout": timeout})
        return [Probed(ip, interface or "eth0", self.owners.get(ip, ()), "default route")
                for ip in ips]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeAnnouncer:
    announcer = FakeAnnouncer()
    monkeypatch.setattr(App, "announcer", lambda self: announcer)
    return announcer


@pytest.fixture
def state(tmp_path: Path) -> str:
    path = tmp_path / "lb.yaml"
    path.write_text(STATE)
    return str(path)


# -- announce -----------------------------------------------------------------------------------


def test_announce_addresses_and_a_service(cli: Cli, fake: FakeAnnouncer, state: str) -> None:
    result = cli("arp", "announce", "192.0.2.20", "svc/web", "-n", "shop", "--state", state)
    assert (result.code, result.err) == (0, "")
    assert result.out == (
        "IP             INTERFACE   MAC                 FRAMES\n"
        "192.0.2.20     eth0        02:00:00:00:00:01   6\n"
        "192.0.2.10     eth0        02:00:00:00:00:01   6\n"
        "2001:db8::10   eth0        02:00:00:00:00:01   3\n"
        "total                                          15\n"
    )
    assert fake.announced == [{"ips": ["192.0.2.20", "192.0.2.10", "2001:db8::10"],
                               "interface": None, "count": 3, "interval": 1.0, "mode": "both"}]


def test_addresses_are_canonical_announced_once_and_listed_in_order(
        cli: Cli, fake: FakeAnnouncer, state: str) -> None:
    result = cli("arp", "announce", "192.0.2.20", "2001:DB8::0010", "svc/web", "192.0.2.10",
                 "-n", "shop", "--state", state)
    assert result.code == 0
    assert fake.announced[0]["ips"] == ["192.0.2.20", "2001:db8::10", "192.0.2.10"]
    assert [line.split()[0] for line in result.out.splitlines()] == [
        "IP", "192.0.2.20", "2001:db8::10", "192.0.2.10", "total"]


def test_options_reach_the_announcer(cli: Cli, fake: FakeAnnouncer, state: str) -> None:
    result = cli("arp", "announce", "192.0.2.20", "-i", "bond0", "-c", "1", "--interval", "0",
                 "--mode", "reply", "-o", "wide", "--state", state)
    assert result.code == 0
    assert fake.announced == [{"ips": ["192.0.2.20"], "interface": "bond0", "count": 1,
                               "interval": 0.0, "mode": "reply"}]
    assert result.out.splitlines() == [
        "IP           INTERFACE   MAC                 VIA           FRAMES",
        "192.0.2.20   bond0       02:00:00:00:00:01   --interface   1",
        "total                                                      1",
    ]


def test_announce_all_as_json(cli: Cli, fake: FakeAnnouncer, state: str) -> None:
    result = cli("arp", "announce", "--all", "-c", "2", "-o", "json", "--state", state)
    assert result.code == 0
    assert json.loads(result.out) == {
        "kind": "Announcement",
        "dryRun": False,
        "mode": "both",
        "count": 2,
        "interval": 1.0,
        "targets": [
            {"ip": "198.51.100.3", "interface": "eth0", "mac": MAC, "frames": 4,
             "via": "subnet 192.0.2.0/24"},
            {"ip": "192.0.2.11", "interface": "eth0", "mac": MAC, "frames": 4,
             "via": "subnet 192.0.2.0/24"},
            {"ip": "192.0.2.10", "interface": "eth0", "mac": MAC, "frames": 4,
             "via": "subnet 192.0.2.0/24"},
            {"ip": "2001:db8::10", "interface": "eth0", "mac": MAC, "frames": 2,
             "via": "subnet 192.0.2.0/24"},
        ],
        "frames": 14,
    }


def test_announce_all_of_one_pool(cli: Cli, fake: FakeAnnouncer, state: str) -> None:
    assert cli("arp", "announce", "--all", "--pool", "dmz", "--state", state).code == 0
    assert fake.announced[0]["ips"] == ["198.51.100.3"]


def test_nothing_allocated_is_said_not_sent(cli: Cli, fake: FakeAnnouncer,
                                            tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("schemaVersion: 1\npools:\n  lan:\n    addresses: [192.0.2.0/24]\n")
    result = cli("arp", "announce", "--all", "--state", str(path))
    assert (result.code, result.out) == (0, "")
    assert result.err == "nothing to announce: no address is allocated\n"
    assert fake.announced == []


@pytest.mark.parametrize("where", ["after", "before"])
def test_dry_run_lists_the_addresses_and_sends_nothing(cli: Cli, fake: FakeAnnouncer,
                                                       state: str, where: str) -> None:
    args = ["arp", "announce", "--all", "--pool", "lan", "--state", state]
    result = cli(*(args + ["--dry-run"] if where == "after" else ["--dry-run"] + args))
    assert result.code == 0
    assert result.out == "192.0.2.11 (dry run)\n192.0.2.10 (dry run)\n2001:db8::10 (dry run)\n"
    assert result.err == "dry run: 3 addresses would be announced; nothing was sent\n"
    assert fake.announced == []


def test_dry_run_as_json(cli: Cli, fake: FakeAnnouncer, state: str) -> None:
    result = cli("arp", "announce", "svc/edge", "--dry-run", "-o", "json", "--state", state)
    assert json.loads(result.out) == {"kind": "Announcement", "dryRun": True,
                                      "targets": [{"ip": "198.51.100.3"}]}
    assert fake.announced == []


def test_dry_run_still_refuses_an_address_in_no_pool(cli: Cli, fake: FakeAnnouncer,
                                                     state: str) -> None:
    result = cli("arp", "announce", "203.0.113.5", "--dry-run", "--state", state)
    assert result.code == 4


def test_an_address_in_no_pool_is_refused(cli: Cli, fake: FakeAnnouncer, state: str) -> None:
    result = cli("arp", "announce", "192.0.2.20", "203.0.113.5", "203.0.113.6", "--state", state)
    assert (result.code, result.out) == (4, "")
    assert result.err == (
        "lbctl: error: 203.0.113.5 (and 1 more) is in no pool: announcing an address lbctl "
        "does not manage is ARP spoofing\n"
        "hint: add it to a pool, or pass --force if this host really owns it\n"
    )
    assert fake.announced == []


def test_force_announces_an_address_in_no_pool(cli: Cli, fake: FakeAnnouncer,
                                               state: str) -> None:
    result = cli("arp", "announce", "203.0.113.5", "--force", "--state", state)
    assert result.code == 0
    assert fake.announced[0]["ips"] == ["203.0.113.5"]


@pytest.mark.parametrize(("args", "code", "message"), [
    (["svc/nope", "-n", "shop"], 3, "service shop/nope has no allocated address"),
    (["service/web"], 3, "service default/web has no allocated address"),
    (["--all", "--pool", "nope"], 3, "pool nope does not exist"),
    (["--all", "192.0.2.10"], 2, "give addresses or --all, not both"),
    (["--pool", "lan", "192.0.2.10"], 2, "--pool selects addresses for --all"),
    ([], 2, "nothing to announce"),
    (["192.0.2.300"], 2, "'192.0.2.300' is not an IP address"),
    (["deploy/web"], 2, "'deploy/web' is not an IP address"),
])
def test_bad_targets(cli: Cli, fake: FakeAnnouncer, state: str, args: list[str], code: int,
                     message: str) -> None:
    result = cli("arp", "announce", *args, "--state", state)
    assert result.code == code
    assert result.err.splitlines()[0] == f"lbctl: error: {message}"
    assert fake.announced == []


@pytest.mark.parametrize("args", [["-c", "0"], ["--interval", "-1"], ["--mode", "loud"]])
def test_bad_options_are_usage_errors(cli: Cli, fake: FakeAnnouncer, state: str,
                                      args: list[str]) -> None:
    result = cli("arp", "announce", "192.0.2.10", *args, "--state", state)
    assert result.code == 2
    assert fake.announced == []


def test_progress_bar_only_on_a_terminal(cli: Cli, fake: FakeAnnouncer, state: str) -> None:
    plain = cli("arp", "announce", "--all", "--state", state)
    assert plain.err == ""
    terminal = cli("arp", "announce", "--all", "--state", state,
                   env={"FORCE_COLOR": "1", "TERM": "xterm"})
    assert "announcing" in terminal.err
    assert terminal.out == plain.out


# -- probe --------------------------------------------------------------------------------------


def test_probe_free_address_exits_0(cli: Cli, fake: FakeAnnouncer) -> None:
    result = cli("arp", "probe", "192.0.2.60")
    assert (result.code, result.err) == (0, "")
    assert result.out == (
        "IP           INTERFACE   STATUS   MACS\n"
        "192.0.2.60   eth0        free     -\n"
    )
    assert fake.probed == [{"ips": ["192.0.2.60"], "interface": None, "timeout": 1.0}]


def test_probe_address_in_use_exits_1(cli: Cli, fake: FakeAnnouncer) -> None:
    fake.owners["192.0.2.60"] = (OWNER,)
    result = cli("arp", "probe", "192.0.2.61", "192.0.2.60", "-i", "eth1", "--timeout", "0.5")
    assert result.code == 1
    assert result.out == (
        "IP           INTERFACE   STATUS   MACS\n"
        "192.0.2.61   eth1        free     -\n"
        "192.0.2.60   eth1        in-use   02:00:00:00:00:0b\n"
    )
    assert result.err == "192.0.2.60 is in use: answered by 02:00:00:00:00:0b\n"
    assert fake.probed == [{"ips": ["192.0.2.61", "192.0.2.60"], "interface": "eth1",
                            "timeout": 0.5}]


@pytest.mark.parametrize(("owners", "code", "status", "explains"), [
    ((OWNER,), 0, "one", None),
    ((), 1, "none", "nobody answered; no node announces it"),
    ((OWNER, OTHER), 1, "many", "split brain"),
])
def test_expect_one(cli: Cli, fake: FakeAnnouncer, owners: tuple[str, ...], code: int,
                    status: str, explains: str | None) -> None:
    fake.owners["2001:db8::10"] = owners
    result = cli("arp", "probe", "2001:db8::10", "--expect-one")
    assert result.code == code
    assert result.out.splitlines()[1].split()[:3] == ["2001:db8::10", "eth0", status]
    if explains is None:
        assert result.err == ""
    else:
        assert explains in result.err


def test_two_answers_point_at_strictarp(cli: Cli, fake: FakeAnnouncer) -> None:
    fake.owners["192.0.2.10"] = (OTHER, OWNER)
    result = cli("arp", "probe", "192.0.2.10", "--expect-one")
    assert result.err == (
        "192.0.2.10: 2 MACs answer (02:00:00:00:00:0c, 02:00:00:00:00:0b): two nodes announce "
        "it (split brain), or kube-proxy in IPVS mode answers from every node because "
        "strictARP is off (see lbctl kube-proxy diff)\n"
    )


def test_probe_json(cli: Cli, fake: FakeAnnouncer) -> None:
    fake.owners["192.0.2.10"] = (OWNER,)
    result = cli("arp", "probe", "192.0.2.10", "192.0.2.12", "-o", "json", "--expect-one")
    assert result.code == 1
    assert json.loads(result.out) == {
        "kind": "ProbeResult",
        "dryRun": False,
        "question": "one",
        "timeout": 1.0,
        "ok": False,
        "probes": [
            {"ip": "192.0.2.10", "interface": "eth0", "via": "default route", "macs": [OWNER],
             "status": "one", "ok": True,
             "detail": f"192.0.2.10: exactly one node answers ({OWNER})"},
            {"ip": "192.0.2.12", "interface": "eth0", "via": "default route", "macs": [],
             "status": "none", "ok": False,
             "detail": "192.0.2.12: nobody answered; no node announces it (is it assigned, "
                       "and is the node or speaker that should hold it up?)"},
        ],
    }


def test_probe_rejects_a_malformed_address(cli: Cli, fake: FakeAnnouncer) -> None:
    result = cli("arp", "probe", "fd00::zz")
    assert result.code == 2
    assert result.err.startswith("lbctl: error: 'fd00::zz' is not an IP address\n")
    assert fake.probed == []


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to build the announcer or to open a socket fails the test."""
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a dry run opened a socket or built the announcer")

    monkeypatch.setattr(App, "announcer", refuse)
    monkeypatch.setattr(socket, "socket", refuse)


def test_probe_dry_run_opens_no_socket_and_lists_the_addresses(
        cli: Cli, no_network: None) -> None:
    result = cli("arp", "probe", "192.0.2.10", "2001:DB8::1", "192.0.2.10", "--dry-run",
                 "--timeout", "5")
    assert (result.code, result.out) == (0, "192.0.2.10 (dry run)\n2001:db8::1 (dry run)\n")
    assert result.err == "dry run: 2 addresses would be probed; nothing was sent\n"
    result = cli("arp", "probe", "192.0.2.10", "--expect-one", "--dry-run", "-o", "json")
    assert (result.code, json.loads(result.out)) == (
        0, {"kind": "ProbeResult", "dryRun": True, "probes": [{"ip": "192.0.2.10"}]})


def test_probe_dry_run_still_refuses_a_malformed_address(cli: Cli, no_network: None) -> None:
    result = cli("arp", "probe", "192.0.2.300", "--dry-run")
    assert (result.code, result.out) == (2, "")
    assert result.err.startswith("lbctl: error: '192.0.2.300' is not an IP address\n")


def test_announce_dry_run_opens_no_socket(cli: Cli, state: str, no_network: None) -> None:
    result = cli("arp", "announce", "svc/web", "-n", "shop", "--dry-run", "--state", state)
    assert (result.code, result.out) == (0, "192.0.2.10 (dry run)\n2001:db8::10 (dry run)\n")


BGP_STATE = STATE.replace("  dmz:\n    addresses: [198.51.100.0/28]\n",
                          "  dmz:\n    addresses: [198.51.100.0/28]\n    announce: bgp\n")


def test_announce_all_leaves_out_pools_announced_over_bgp(cli: Cli, fake: FakeAnnouncer,
                                                          tmp_path: Path) -> None:
    """A bgp pool's addresses are routed to the nodes: gratuitous ARP for them from this host
    would pull their traffic here, so --all leaves them out (the speaker does too)."""
    path = tmp_path / "lb.yaml"
    path.write_text(BGP_STATE)
    result = cli("arp", "announce", "--all", "--dry-run", "--state", str(path))
    assert result.code == 0
    assert result.out == "192.0.2.11 (dry run)\n192.0.2.10 (dry run)\n2001:db8::10 (dry run)\n"


def test_announce_all_of_a_bgp_pool_is_refused(cli: Cli, fake: FakeAnnouncer,
                                               tmp_path: Path) -> None:
    path = tmp_path / "lb.yaml"
    path.write_text(BGP_STATE)
    result = cli("arp", "announce", "--all", "--pool", "dmz", "--state", str(path))
    assert result.code == 4
    assert result.err.splitlines() == [
        "lbctl: error: pool dmz is announced over BGP only: no host answers ARP/NDP for its "
        "addresses, the routers route them to the nodes",
        f"hint: to answer ARP/NDP for them too: lbctl --state {path} pool set dmz --announce "
        "both"]
    assert fake.announced == []


IF_STATE = STATE.replace("  dmz:\n    addresses: [198.51.100.0/28]\n",
                         "  dmz:\n    addresses: [198.51.100.0/28]\n    interfaces: [eth1, eth2]\n")


@pytest.fixture
def if_state(tmp_path: Path) -> str:
    path = tmp_path / "lb.yaml"
    path.write_text(IF_STATE)
    return str(path)


def test_an_address_of_a_pool_with_interfaces_goes_out_on_each_of_them(
        cli: Cli, fake: FakeAnnouncer, if_state: str) -> None:
    """The speakers answer a pool's addresses only on its interfaces: a gratuitous frame
    elsewhere would pull the traffic where nobody answers."""
    result = cli("arp", "announce", "192.0.2.20", "svc/edge", "-n", "default", "-c", "1",
                 "--state", if_state)
    assert (result.code, result.err) == (0, "")
    assert [(a["ips"], a["interface"]) for a in fake.announced] == [
        (["192.0.2.20"], None), (["198.51.100.3"], "eth1"), (["198.51.100.3"], "eth2")]
    assert result.out == (
        "IP             INTERFACE   MAC                 FRAMES\n"
        "192.0.2.20     eth0        02:00:00:00:00:01   2\n"
        "198.51.100.3   eth1        02:00:00:00:00:01   2\n"
        "198.51.100.3   eth2        02:00:00:00:00:01   2\n"
        "total                                          6\n"
    )


def test_an_interface_outside_the_pools_list_is_refused(cli: Cli, fake: FakeAnnouncer,
                                                        if_state: str) -> None:
    result = cli("arp", "announce", "--all", "-i", "eth0", "--state", if_state)
    assert (result.code, result.out) == (4, "")
    assert result.err.splitlines() == [
        "lbctl: error: 198.51.100.3 is of pool dmz, answered only on eth1, eth2: announcing it "
        "on eth0 pulls its traffic where nobody answers for it",
        "hint: leave out -i (lbctl announces it on eth1, eth2), or change the pool's "
        f"interfaces: lbctl --state {if_state} pool set dmz --interface eth0"]
    assert fake.announced == []
    assert cli("arp", "announce", "svc/edge", "-i", "eth2", "-n", "default",
               "--state", if_state).code == 0
    assert fake.announced[-1]["interface"] == "eth2"


def test_a_pool_interface_this_host_lacks_is_passed_over(cli: Cli, fake: FakeAnnouncer,
                                                         if_state: str) -> None:
    fake.absent = {"eth2"}
    result = cli("arp", "announce", "svc/edge", "-n", "default", "--state", if_state)
    assert result.code == 0
    assert result.err == ("lbctl: warning: 198.51.100.3: not announced on eth2: no interface "
                          "eth2\n")
    assert [line.split()[:2] for line in result.out.splitlines()[1:-1]] == [
        ["198.51.100.3", "eth1"]]
    fake.absent = {"eth1", "eth2"}
    result = cli("arp", "announce", "svc/edge", "-n", "default", "--state", if_state)
    assert (result.code, result.out) == (3, "")
    assert result.err.splitlines()[-2:] == [
        "lbctl: error: 198.51.100.3: none of pool dmz's interfaces (eth1, eth2) can announce it "
        "on this host",
        f"hint: run it on a node that has one of them up (lbctl --state {if_state} pool show dmz "
        "lists them)"]
