"""``--probe``: every allocated address asked on the wire, through the Announcer port (a fake
here; the real one is tested between network namespaces in tests/net)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from lbctl.doctor import checks, gather
from lbctl.doctor.report import CheckResult
from lbctl.errors import PermissionDeniedError
from lbctl.ports import ArpMode, Probed, Sent
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
    assert result.findings[0].message == "no address is allocated, so there is nothing to probe"


def test_an_invalid_state_is_not_probed(tmp_path: Path) -> None:
    announcer = FakeAnnouncer({})
    result = _probe(tmp_path, announcer, "schemaVersion: 7\n")
    assert announcer.asked == []
    assert (result.status, result.findings[0].message) == (
        "skip", "the state document is invalid (see state.*)")
