"""The Lease elector against the fake kube-apiserver, with a hand-driven clock: one leader at a
time, a standby takes over when the leader stops renewing (after the lease duration, by the
standby's own clock) or gives the Lease up (at once), and a leader that cannot renew stops
leading before its claim runs out."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from lbctl import kube as adapter
from lbctl.actions import leases
from lbctl.core.leases import record_of
from lbctl.ports import KubeAPI
from tests.kubefake.server import FakeKubeServer

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


class Clock:
    """The wall clock (``clock()``) and a monotonic one (``clock.monotonic()``): time passing
    moves both; a wall clock set by hand or by NTP (:meth:`jump`) moves only the wall."""

    def __init__(self) -> None:
        self.now = T0
        self.ticks = 1000.0

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.ticks

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.ticks += seconds

    def jump(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def kube(kubeconfig: Path) -> KubeAPI:
    return adapter.connect(str(kubeconfig), None, sleep=lambda _: None)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def elector(kube: KubeAPI, clock: Clock, identity: str) -> leases.Elector:
    return leases.Elector(kube, "kube-system", "lbctl-controller", identity, duration=15,
                          renew_deadline=10, retry=2, clock=clock, monotonic=clock.monotonic)


def holder(server: FakeKubeServer) -> str:
    lease = server.get_object("leases", "lbctl-controller", "kube-system")
    assert lease is not None
    return record_of(lease).holder


def test_first_replica_creates_the_lease_and_leads(kube: KubeAPI, clock: Clock,
                                                   kube_server: FakeKubeServer) -> None:
    a, b = elector(kube, clock, "a"), elector(kube, clock, "b")
    assert a.step() is True
    assert b.step() is False
    assert (holder(kube_server), b.holder) == ("a", "a")
    clock.advance(2)
    assert a.step() is True  # renews
    info = leases.read(kube, "kube-system", "lbctl-controller")
    assert info is not None and info.record.renewed == clock.now
    assert info.record.transitions == 0


def test_standby_takes_over_a_silent_leader_after_the_duration(
        kube: KubeAPI, clock: Clock, kube_server: FakeKubeServer) -> None:
    a, b = elector(kube, clock, "a"), elector(kube, clock, "b")
    a.step()
    b.step()  # b first sees a's record now
    clock.advance(14)  # a was SIGKILLed: no renewal
    assert b.step() is False
    clock.advance(1)
    assert b.step() is True
    assert holder(kube_server) == "b"
    lease = kube_server.get_object("leases", "lbctl-controller", "kube-system")
    assert lease is not None and record_of(lease).transitions == 1
    assert a.step() is False  # the old leader, back, sees b's fresh claim and stands by


def test_a_released_lease_is_taken_at_once(kube: KubeAPI, clock: Clock,
                                           kube_server: FakeKubeServer) -> None:
    a, b = elector(kube, clock, "a"), elector(kube, clock, "b")
    a.step()
    b.step()
    assert a.release() is True
    assert holder(kube_server) == ""
    assert b.step() is True  # no waiting for the duration
    assert a.release() is False  # not leading: nothing to give up


def test_leader_that_cannot_renew_stops_before_its_claim_runs_out(
        kube: KubeAPI, clock: Clock, kube_server: FakeKubeServer) -> None:
    a = elector(kube, clock, "a")
    a.step()
    kube_server.inject(500, path="/leases", times=None)
    clock.advance(5)
    assert a.step() is True  # within the renew deadline: still leading
    assert a.last_error is not None
    clock.advance(5)
    assert a.step() is False  # 10 s without a renewal: stop, 5 s before anyone may take over


def test_losing_the_race_to_write_means_standing_by(kube: KubeAPI, clock: Clock,
                                                    kube_server: FakeKubeServer) -> None:
    a, b = elector(kube, clock, "a"), elector(kube, clock, "b")
    a.step()
    b.step()
    clock.advance(15)
    kube_server.inject(409, method="PUT", path="/leases/")
    assert b.step() is False
    assert b.step() is True


def test_run_reports_changes_and_gives_the_lease_up_on_the_way_out(
        kube: KubeAPI, clock: Clock, kube_server: FakeKubeServer) -> None:
    a = elector(kube, clock, "a")
    changes: list[bool] = []
    rounds = iter([False, False, True])

    def wait(seconds: float) -> bool:
        assert seconds == 2
        clock.advance(seconds)
        return next(rounds)

    a.run(wait, changes.append)
    assert changes == [True, False]
    assert holder(kube_server) == ""


def test_run_reports_a_failing_lease_once_per_new_error(
        kube: KubeAPI, clock: Clock, kube_server: FakeKubeServer) -> None:
    """A replica that may not write its Lease (RBAC) says so, once, instead of never leading
    in silence; a new error is reported again, and so is the same error after a recovery."""
    a = elector(kube, clock, "a")
    errors: list[str] = []
    rounds = iter([False] * 5 + [True])
    kube_server.inject(403, path="/leases", times=3)

    def wait(seconds: float) -> bool:
        clock.advance(seconds)
        if len(errors) == 1 and a.leading:  # recovered: fail again the same way
            kube_server.inject(403, path="/leases", times=1)
        return next(rounds)

    a.run(wait, on_error=lambda error: errors.append(type(error).__name__))
    assert errors == ["PermissionDeniedError", "PermissionDeniedError"]


def test_timing_must_leave_room_for_the_old_leader_to_stop(kube: KubeAPI) -> None:
    with pytest.raises(ValueError):
        leases.Elector(kube, "ns", "n", "a", duration=10, renew_deadline=10, retry=2)


@pytest.mark.parametrize("jump", [3600, -3600])
def test_a_wall_clock_jump_neither_expires_the_leader_nor_ends_its_leadership(
        kube: KubeAPI, clock: Clock, kube_server: FakeKubeServer, jump: float) -> None:
    """Deadlines run on the monotonic clock: the standby's view of the leader's expiry and
    the leader's renew deadline do not move when the wall clock is set an hour forward or
    back; the Lease's timestamps still follow the wall clock, as Kubernetes reads them."""
    a, b = elector(kube, clock, "a"), elector(kube, clock, "b")
    assert a.step() is True and b.step() is False
    clock.advance(2)
    clock.jump(jump)
    assert b.step() is False  # the leader renewed 2 s ago by b's own clock: still held
    kube_server.inject(500, times=1)
    assert a.step() is True  # one failed renewal, 2 s after the last: keeps leading
    assert a.step() is True  # renews
    info = leases.read(kube, "kube-system", "lbctl-controller")
    assert info is not None and info.record.renewed == clock.now  # the wall clock, jumped
    assert b.step() is False  # sees the renewal
    clock.advance(14)
    clock.jump(-jump)
    assert b.step() is False  # 14 s < 15 s since the record changed
    clock.advance(1)
    assert b.step() is True and holder(kube_server) == "b"


def test_a_leader_stops_at_its_renew_deadline_whatever_the_wall_clock_says(
        kube: KubeAPI, clock: Clock, kube_server: FakeKubeServer) -> None:
    a = elector(kube, clock, "a")
    assert a.step() is True
    kube_server.inject(500, times=100)
    clock.advance(5)
    clock.jump(-3600)  # by the wall clock, the last renewal is in the future
    assert a.step() is True
    clock.advance(5)
    assert a.step() is False  # 10 s of failed renewals by the monotonic clock
