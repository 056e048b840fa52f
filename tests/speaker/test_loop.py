"""The speaker's decisions, in-process: a fake clock, a fake responder and announcer, facts
given directly.  Milliseconds per test."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from lbctl.core import leases
from lbctl.ports import Answering, Sent, Serving
from lbctl.speaker.loop import (
    GRATUITOUS_SCHEDULE,
    UNHEALTHY_ANNOTATION,
    Facts,
    Speaker,
    lease_name,
)

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
NODES = ("n1", "n2", "n3")
VIP = "192.0.2.10"
STATE = """\
schemaVersion: 1
pools:
  p: {addresses: [192.0.2.0/24]}
allocations:
  shop:
    web: {ips: [192.0.2.10], pool: p}
"""


class FakeResponder:
    def __init__(self, failing: Collection[str] = ()) -> None:
        self.calls: list[list[str]] = []
        self.failing = set(failing)

    def serve(self, ips: Collection[str], interfaces: Sequence[str] = ()) -> Serving:
        self.calls.append(sorted(ips))
        ok = tuple(ip for ip in ips if ip not in self.failing)
        return Serving((Answering(ok, "eth0", "02:00:00:00:00:01", "test"),) if ok else (),
                       {ip: "no interface" for ip in ips if ip in self.failing})

    def answered(self) -> Mapping[str, int]:
        return {}

    def macs(self, interfaces: Sequence[str] = ()) -> Mapping[str, str]:
        return {"eth0": "02:00:00:00:00:01"}

    def close(self) -> None:
        pass


class FakeAnnouncer:
    def __init__(self) -> None:
        self.rounds: list[list[str]] = []

    def announce(self, ips: Sequence[str], **options: Any) -> list[Sent]:
        self.rounds.append(list(ips))
        return [Sent(tuple(ips), "eth0", "02:00:00:00:00:01", 2, "test")]

    def probe(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the speaker never probes")


def lease(node: str, at: datetime, *, holder: str | None = None,
          unhealthy: str = "") -> dict[str, Any]:
    body = leases.claimed(None, node if holder is None else holder, at, 2,
                          namespace="kube-system", name=lease_name(node))
    if unhealthy:
        body["metadata"]["annotations"] = {UNHEALTHY_ANNOTATION: unhealthy}
    return body


def facts(lease_objs: list[dict[str, Any]], *, policy: str = "Cluster",
          endpoints: Sequence[str] = NODES) -> Facts:
    return Facts(
        services=[{"metadata": {"namespace": "shop", "name": "web"},
                   "spec": {"type": "LoadBalancer", "externalTrafficPolicy": policy},
                   "status": {"loadBalancer": {"ingress": [{"ip": VIP}]}}}],
        endpoint_slices=[{"metadata": {"namespace": "shop",
                                       "labels": {"kubernetes.io/service-name": "web"}},
                          "endpoints": [{"nodeName": n} for n in endpoints]}],
        nodes=[{"metadata": {"name": n}} for n in NODES],
        leases=lease_objs,
        state={"data": {"state.yaml": STATE}},
    )


def speaker_for(node: str, responder: FakeResponder | None = None
                ) -> tuple[Speaker, FakeResponder, FakeAnnouncer]:
    responder = responder or FakeResponder()
    announcer = FakeAnnouncer()
    return Speaker(node, responder, announcer), responder, announcer


def owner_and_others() -> tuple[str, list[str]]:
    from lbctl.core.ownership import score

    ranked = sorted(NODES, key=lambda n: score(n, VIP))
    return ranked[0], ranked[1:]


def test_the_owner_answers_and_announces_on_the_schedule() -> None:
    owner, _ = owner_and_others()
    speaker, responder, announcer = speaker_for(owner)
    all_leases = [lease(n, T0) for n in NODES]
    speaker.sync(facts(all_leases), T0, self_alive=True)
    assert responder.calls == [[VIP]]
    assert announcer.rounds == [[VIP]]
    now = T0
    for offset in GRATUITOUS_SCHEDULE[1:]:
        wake = speaker.wake_at(now)
        assert wake == T0 + timedelta(seconds=offset)
        now = wake
        speaker.sync(facts(all_leases), now, self_alive=True)
    assert announcer.rounds == [[VIP]] * len(GRATUITOUS_SCHEDULE)
    assert responder.calls == [[VIP]]  # no change, no new serve()
    assert speaker.stats.announced == 1 and speaker.stats.gratuitous_frames == 10


def test_others_do_not_answer_and_take_over_when_the_owners_lease_stops_changing() -> None:
    owner, (second, third) = owner_and_others()
    speaker, responder, announcer = speaker_for(second)
    renewed = [lease(n, T0) for n in NODES]
    assert speaker.sync(facts(renewed), T0, self_alive=True) == T0 + timedelta(seconds=2)
    assert responder.calls == [] and announcer.rounds == []
    # the owner's Lease never changes again; ours and the third's keep being renewed
    later = T0 + timedelta(seconds=1.9)
    speaker.sync(facts([lease(owner, T0), lease(second, later), lease(third, later)]), later,
                 self_alive=True)
    assert responder.calls == []
    expired = T0 + timedelta(seconds=2)
    speaker.sync(facts([lease(owner, T0), lease(second, expired), lease(third, expired)]),
                 expired, self_alive=True)
    assert responder.calls == [[VIP]] and announcer.rounds == [[VIP]]


def test_a_given_up_lease_moves_the_address_at_once() -> None:
    owner, (second, _) = owner_and_others()
    speaker, responder, _ = speaker_for(second)
    speaker.sync(facts([lease(n, T0) for n in NODES]), T0, self_alive=True)
    given_up = leases.given_up(lease(owner, T0), T0)
    speaker.sync(facts([given_up] + [lease(n, T0) for n in NODES if n != owner]),
                 T0 + timedelta(milliseconds=10), self_alive=True)
    assert responder.calls == [[VIP]]


def test_an_owner_that_cannot_renew_stops_answering_at_once() -> None:
    owner, _ = owner_and_others()
    speaker, responder, _ = speaker_for(owner)
    all_leases = [lease(n, T0) for n in NODES]
    speaker.sync(facts(all_leases), T0, self_alive=True)
    speaker.sync(facts(all_leases), T0 + timedelta(seconds=1), self_alive=False)
    assert responder.calls == [[VIP], []]
    assert speaker.stats.ownership_changes == 2 and speaker.stats.announced == 0


def test_a_failing_local_health_check_hands_over_and_peers_follow_the_lease_report() -> None:
    owner, (second, _) = owner_and_others()
    speaker, responder, _ = speaker_for(owner)
    all_leases = [lease(n, T0) for n in NODES]
    speaker.sync(facts(all_leases), T0, self_alive=True)
    speaker.sync(facts(all_leases), T0, self_alive=True, unhealthy_here={("shop", "web")})
    assert responder.calls == [[VIP], []]
    peer, peer_responder, _ = speaker_for(second)
    reported = [lease(owner, T0, unhealthy="shop/web")] + [lease(n, T0) for n in NODES
                                                            if n != owner]
    peer.sync(facts(reported), T0, self_alive=True)
    assert peer_responder.calls == [[VIP]]


def test_an_address_without_an_interface_is_logged_and_not_announced() -> None:
    owner, _ = owner_and_others()
    lines: list[str] = []
    announcer = FakeAnnouncer()
    speaker = Speaker(owner, FakeResponder(failing={VIP}), announcer, log=lines.append)
    speaker.sync(facts([lease(n, T0) for n in NODES]), T0, self_alive=True)
    assert lines == [f"cannot answer for {VIP}: no interface"]
    assert announcer.rounds == [] and speaker.owned == {}


def test_an_unreadable_state_keeps_the_last_good_one() -> None:
    owner, _ = owner_and_others()
    lines: list[str] = []
    speaker = Speaker(owner, FakeResponder(), FakeAnnouncer(), log=lines.append)
    good = facts([lease(n, T0) for n in NODES])
    speaker.sync(good, T0, self_alive=True)
    broken = Facts(**{**good.__dict__, "state": {"data": {"state.yaml": "pools: ["}}})
    speaker.sync(broken, T0, self_alive=True)
    assert set(speaker.owned) == {VIP}
    assert len(lines) == 2 and "unreadable, keeping the last good state" in lines[1]


def test_stop_releases_everything() -> None:
    owner, _ = owner_and_others()
    speaker, responder, _ = speaker_for(owner)
    speaker.sync(facts([lease(n, T0) for n in NODES]), T0, self_alive=True)
    speaker.stop()
    assert responder.calls == [[VIP], []] and speaker.owned == {}
