"""``--probe``: every allocated address asked on the wire, through the Announcer port (a fake
here; the real one is tested between network namespaces in tests/net)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from lbctl.core import leases, ownership, speakers
from lbctl.doctor import checks, gather
from lbctl.doctor.report import CheckResult
from lbctl.errors import PermissionDeniedError
from lbctl.nodeports import ArpMode, Probed, Sent
from lbctl.state.file import FileBackend

STATE = """\
schemaVersion: 1
pools:
  default: {addresses: [192.0.2.10-192.0.2.19, '2001:db8::/120']}
allocations:
  web:
    frontend: {ips: [192.0.2.10, '2001:db8::10'], pool: default}
    api: {ips: [192.0.2.11], pool: default}
"""


class FakeAnnouncer:
    """Answers each probe with the MACs given per address."""

    def __init__(self, macs: dict[str, tuple[str, ...]], error: Exception | None = None) -> None:
        self.macs = macs
        self.error = error
        self.asked: list[tuple[list[str], str | None, float]] = []

    def probe(self, ips: Sequence[str], *, interface: str | None,
              timeout: float) -> list[Probed]:
        self.asked.append((list(ips), interface, timeout))
        if self.error is not None:
            raise self.error
        return [Probed(ip, "eth0", self.macs.get(ip, ()), "subnet 192.0.2.0/24") for ip in ips]

    def announce(self, ips: Sequence[str], *, interface: str | None, count: int,
                 interval: float, mode: ArpMode,
                 progress: Callable[[int, int], None] | None = None) -> list[Sent]:
        raise AssertionError("doctor never announces")


ONE = "02:00:00:00:00:01"
TWO = "02:00:00:00:00:02"


def _probe(tmp_path: Path, announcer: FakeAnnouncer, state: str = STATE) -> CheckResult:
    path = tmp_path / "lb.yaml"
    path.write_text(state)
    options = gather.ProbeOptions(announcer, interface="eth1", timeout=0.5)
    facts = gather.offline([], FileBackend(str(path)), probe=options)
    return next(r for r in checks.diagnose(facts) if r.id == "net.probe")


def test_every_allocated_address_is_probed_once(tmp_path: Path) -> None:
    announcer = FakeAnnouncer({"192.0.2.10": (ONE,), "2001:db8::10": (ONE,),
                               "192.0.2.11": (TWO,)})
    result = _probe(tmp_path, announcer)
    assert announcer.asked == [(["192.0.2.11", "192.0.2.10", "2001:db8::10"], "eth1", 0.5)]
    assert (result.status, result.findings[0].message) == (
        "pass", "each of the 3 allocated addresses is answered by exactly one MAC")


@pytest.mark.parametrize(("macs", "message"), [
    ((), "service web/api: 192.0.2.11: nobody answered; no node announces it (is it assigned, "
         "and is the node or speaker that should hold it up?)"),
    ((ONE, TWO), "service web/api: 192.0.2.11: 2 MACs answer (02:00:00:00:00:01, "
                 "02:00:00:00:00:02): two nodes announce it (split brain), or kube-proxy in IPVS "
                 "mode answers from every node because strictARP is off (see lbctl kube-proxy "
                 "diff)"),
])
def test_none_or_several_answers_fail(tmp_path: Path, macs: tuple[str, ...],
                                      message: str) -> None:
    announcer = FakeAnnouncer({"192.0.2.10": (ONE,), "2001:db8::10": (ONE,),
                               "192.0.2.11": macs})
    result = _probe(tmp_path, announcer)
    assert [(f.severity, f.message, f.objects) for f in result.findings] == [
        ("error", message, ("service/web/api",))]


def test_a_probe_that_cannot_run_is_an_error_not_a_skip(tmp_path: Path) -> None:
    denied = PermissionDeniedError("raw sockets need CAP_NET_RAW", hint="run as root")
    result = _probe(tmp_path, FakeAnnouncer({}, error=denied))
    assert [(f.severity, f.message) for f in result.findings] == [
        ("error", "the probe could not run: raw sockets need CAP_NET_RAW (run as root)")]


def test_nothing_allocated_means_nothing_to_probe(tmp_path: Path) -> None:
    announcer = FakeAnnouncer({})
    result = _probe(tmp_path, announcer, "schemaVersion: 1\npools: {}\n")
    assert announcer.asked == []
    assert result.findings[0].message == (
        "no address of a layer2 or both pool is allocated, so there is nothing to probe")


def test_an_invalid_state_is_not_probed(tmp_path: Path) -> None:
    announcer = FakeAnnouncer({})
    result = _probe(tmp_path, announcer, "schemaVersion: 7\n")
    assert announcer.asked == []
    assert (result.status, result.findings[0].message) == (
        "skip", "the state document is invalid (see state.*)")


# --------------------------------------------------------------------------- against the owners

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
NODE_MACS = {"n1": "02:00:00:00:01:01", "n2": "02:00:00:00:01:02", "n3": "02:00:00:00:01:03"}
STRANGER = "02:00:00:00:09:09"


def _speaker_lease(node: str, *, alive: bool = True) -> dict[str, Any]:
    body = leases.claimed(None, node, T0 - timedelta(seconds=1 if alive else 60), 2,
                          namespace="kube-system", name=speakers.lease_name(node))
    body["metadata"]["annotations"] = {
        speakers.MACS_ANNOTATION: speakers.macs_text({"eth0": NODE_MACS[node]})}
    return body


def _cluster(tmp_path: Path, announcer: FakeAnnouncer, *, endpoints: bool = True,
             dead: tuple[str, ...] = ()) -> CheckResult:
    """Speakers on n1..n3 publishing their MACs; web/frontend and web/api published."""
    path = tmp_path / "lb.yaml"
    path.write_text(STATE)
    options = gather.ProbeOptions(announcer, interface="eth1", timeout=0.5)
    facts = gather.offline([], FileBackend(str(path)), probe=options)
    services = [
        {"metadata": {"namespace": "web", "name": name},
         "spec": {"type": "LoadBalancer"},
         "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}}
        for name, ips in (("frontend", ["192.0.2.10", "2001:db8::10"]), ("api", ["192.0.2.11"]))]
    slices = [{"metadata": {"namespace": "web", "name": f"{name}-x",
                            "labels": {"kubernetes.io/service-name": name}},
               "endpoints": [{"nodeName": "n1"}, {"nodeName": "n2"}]}
              for name in ("frontend", "api")] if endpoints else []
    facts = replace(facts, services=services, endpoint_slices=slices,
                    nodes=[{"metadata": {"name": n}} for n in NODE_MACS],
                    speaker_leases=[_speaker_lease(n, alive=n not in dead) for n in NODE_MACS],
                    read_at=T0)
    return next(r for r in checks.diagnose(facts) if r.id == "net.probe")


def _owner(ip: str, nodes: tuple[str, ...] = tuple(NODE_MACS)) -> str:
    return min(nodes, key=lambda n: ownership.score(n, ip))


def _owners_answer(**override: tuple[str, ...]) -> FakeAnnouncer:
    macs = {ip: (NODE_MACS[_owner(key)],) for ip, key in (
        ("192.0.2.10", "192.0.2.10"), ("2001:db8::10", "192.0.2.10"),
        ("192.0.2.11", "192.0.2.11"))}
    macs.update({ip.replace("_", "."): value for ip, value in override.items()})
    return FakeAnnouncer(macs)


def test_each_address_answered_by_its_computed_owner_passes(tmp_path: Path) -> None:
    result = _cluster(tmp_path, _owners_answer())
    assert [(f.severity, f.message) for f in result.findings] == [
        ("pass", "each of the 3 announced addresses is answered by its computed owner's MAC "
                 "alone")]


def test_an_address_answered_by_another_node_is_named(tmp_path: Path) -> None:
    owner = _owner("192.0.2.11")
    other = next(n for n in NODE_MACS if n != owner)
    result = _cluster(tmp_path, _owners_answer(**{"192_0_2_11": (NODE_MACS[other],)}))
    assert [(f.severity, f.message, f.objects) for f in result.findings] == [
        ("error", f"service web/api: 192.0.2.11 is answered by the wrong node: node {other} "
                  f"({NODE_MACS[other]}); its computed owner is {owner}", ("service/web/api",))]


def test_an_address_answered_by_nobody_names_the_owner(tmp_path: Path) -> None:
    owner = _owner("192.0.2.11")
    result = _cluster(tmp_path, _owners_answer(**{"192_0_2_11": ()}))
    assert [(f.severity, f.message) for f in result.findings] == [
        ("error", f"service web/api: 192.0.2.11 is answered by no node; its computed owner is "
                  f"{owner}")]
    assert result.findings[0].hint.endswith("(probed via eth0)")


def test_two_answers_are_a_conflict_naming_both(tmp_path: Path) -> None:
    owner = _owner("192.0.2.11")
    result = _cluster(tmp_path, _owners_answer(**{"192_0_2_11": (NODE_MACS[owner], STRANGER)}))
    assert [(f.severity, f.message) for f in result.findings] == [
        ("error", f"service web/api: 192.0.2.11 is answered by 2 MACs, a conflict: node {owner} "
                  f"({NODE_MACS[owner]}), {STRANGER} (no speaker publishes it); its computed "
                  f"owner is {owner}")]


def test_the_owner_follows_the_live_speakers(tmp_path: Path) -> None:
    owner = _owner("192.0.2.11")
    survivors = tuple(n for n in NODE_MACS if n != owner)
    successor = _owner("192.0.2.11", survivors)
    announcer = _owners_answer(**{"192_0_2_11": (NODE_MACS[owner],)})
    announcer.macs["192.0.2.10"] = announcer.macs["2001:db8::10"] = (
        NODE_MACS[_owner("192.0.2.10", survivors)],)
    result = _cluster(tmp_path, announcer, dead=(owner,))
    assert [f.message for f in result.findings] == [
        f"service web/api: 192.0.2.11 is answered by the wrong node: node {owner} "
        f"({NODE_MACS[owner]}); its computed owner is {successor}"]


def test_no_ready_endpoint_means_nobody_should_answer(tmp_path: Path) -> None:
    quiet = _cluster(tmp_path, FakeAnnouncer({}), endpoints=False)
    assert [(f.severity, f.message) for f in quiet.findings] == [
        ("pass", "each of the 0 announced addresses is answered by its computed owner's MAC "
                 "alone; 3 addresses no node should announce are answered by none")]
    stale = _cluster(tmp_path, FakeAnnouncer({"192.0.2.11": (STRANGER,)}), endpoints=False)
    assert [(f.severity, f.message) for f in stale.findings] == [
        ("warning", f"service web/api: 192.0.2.11 is answered by {STRANGER} (no speaker "
                    "publishes it) though no node should announce it (it is not published or "
                    "has no ready endpoint)")]


def test_without_speakers_only_one_mac_is_required(tmp_path: Path) -> None:
    """No lbctl speaker runs (MetalLB or arp announce announce): the old rule."""
    path = tmp_path / "lb.yaml"
    path.write_text(STATE)
    announcer = FakeAnnouncer({"192.0.2.10": (ONE,), "2001:db8::10": (ONE,),
                               "192.0.2.11": (TWO,)})
    facts = replace(gather.offline([], FileBackend(str(path)),
                                   probe=gather.ProbeOptions(announcer)),
                    speaker_leases=[], read_at=T0)
    result = next(r for r in checks.diagnose(facts) if r.id == "net.probe")
    assert [f.message for f in result.findings] == [
        "each of the 3 allocated addresses is answered by exactly one MAC"]


BGP_STATE = """\
schemaVersion: 1
pools:
  default: {addresses: [192.0.2.10-192.0.2.19]}
  routed: {addresses: [198.51.100.0/24], announce: bgp}
  dual: {addresses: [203.0.113.0/24], announce: both}
allocations:
  web:
    frontend: {ips: [192.0.2.10], pool: default}
    api: {ips: [198.51.100.7], pool: routed}
    shop: {ips: [203.0.113.9], pool: dual}
"""


def test_a_bgp_pool_is_not_probed(tmp_path: Path) -> None:
    """A bgp pool's addresses are routed, never answered by ARP/NDP: nobody answering for
    them is right, so they are not probed (no 'no node announces it', no 'arp announce' hint)."""
    announcer = FakeAnnouncer({"192.0.2.10": (ONE,), "203.0.113.9": (TWO,)})
    result = _probe(tmp_path, announcer, BGP_STATE)
    assert announcer.asked == [(["192.0.2.10", "203.0.113.9"], "eth1", 0.5)]
    assert (result.status, [f.message for f in result.findings]) == (
        "pass", ["each of the 2 allocated addresses is answered by exactly one MAC"])


def test_only_bgp_addresses_means_nothing_to_probe(tmp_path: Path) -> None:
    announcer = FakeAnnouncer({})
    state = BGP_STATE.replace("    frontend: {ips: [192.0.2.10], pool: default}\n", "").replace(
        "    shop: {ips: [203.0.113.9], pool: dual}\n", "")
    result = _probe(tmp_path, announcer, state)
    assert announcer.asked == []
    assert (result.status, result.findings[0].message) == (
        "pass", "no address of a layer2 or both pool is allocated, so there is nothing to probe")
