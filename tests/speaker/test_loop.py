"""The speaker's decisions, in-process: a fake clock, a fake responder and announcer, facts
given directly.  Milliseconds per test."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from lbctl.core import leases
from lbctl.core.ownership import score
from lbctl.core.speakers import MACS_ANNOTATION
from lbctl.nodeports import Answering, Sent, Serving
from lbctl.speaker.loop import (
    GRATUITOUS_SCHEDULE,
    UNHEALTHY_ANNOTATION,
    Facts,
    Speaker,
    lease_name,
)

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)  # the wall clock: the Leases' timestamps
TICK0 = 1000.0  # the monotonic clock the speaker judges by
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

    def serve(self, ips: Collection[str], interfaces: Sequence[str] = (), *,
              on: Mapping[str, Sequence[str]] | None = None) -> Serving:
        self.calls.append(sorted(ips))
        self.on = dict(on or {})
        ok = tuple(ip for ip in ips if ip not in self.failing)
        return Serving((Answering(ok, "eth0", "02:00:00:00:00:01", "test"),) if ok else (),
                       {ip: "no interface" for ip in ips if ip in self.failing})

    def answered(self) -> Mapping[str, int]:
        return {}

    def macs(self, interfaces: Sequence[str] = (), *,
             extra: Sequence[str] = ()) -> Mapping[str, str]:
        return {"eth0": "02:00:00:00:00:01"}

    def close(self) -> None:
        pass


class FakeAnnouncer:
    def __init__(self) -> None:
        self.rounds: list[list[str]] = []
        self.interfaces: list[str | None] = []  # the interface of each round

    def announce(self, ips: Sequence[str], **options: Any) -> list[Sent]:
        self.rounds.append(list(ips))
        self.interfaces.append(options.get("interface"))
        return [Sent(tuple(ips), "eth0", "02:00:00:00:00:01", 2, "test")]

    def probe(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the speaker never probes")


def lease(node: str, at: datetime, *, holder: str | None = None,
          unhealthy: str = "", macs: str = "") -> dict[str, Any]:
    body = leases.claimed(None, node if holder is None else holder, at, 2,
                          namespace="kube-system", name=lease_name(node),
                          annotations={UNHEALTHY_ANNOTATION: unhealthy or None,
                                       MACS_ANNOTATION: macs or None})
    return body


def facts(lease_objs: list[dict[str, Any]], *, policy: str = "Cluster",
          endpoints: Sequence[str] = NODES, state: str = STATE) -> Facts:
    return Facts(
        services=[{"metadata": {"namespace": "shop", "name": "web"},
                   "spec": {"type": "LoadBalancer", "externalTrafficPolicy": policy},
                   "status": {"loadBalancer": {"ingress": [{"ip": VIP}]}}}],
        endpoint_slices=[{"metadata": {"namespace": "shop",
                                       "labels": {"kubernetes.io/service-name": "web"}},
                          "endpoints": [{"nodeName": n} for n in endpoints]}],
        nodes=[{"metadata": {"name": n}} for n in NODES],
        leases=lease_objs,
        state={"data": {"state.yaml": state}},
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
    speaker.sync(facts(all_leases), TICK0, self_alive=True)
    assert responder.calls == [[VIP]]
    assert announcer.rounds == [[VIP]]
    tick = TICK0
    for offset in GRATUITOUS_SCHEDULE[1:]:
        wake = speaker.wake_at(tick)
        assert wake == TICK0 + offset
        assert wake is not None
        tick = wake
        speaker.sync(facts(all_leases), tick, self_alive=True)
    assert announcer.rounds == [[VIP]] * len(GRATUITOUS_SCHEDULE)
    assert responder.calls == [[VIP]]  # no change, no new serve()
    assert speaker.stats.announced == 1 and speaker.stats.gratuitous_frames == 10


def test_others_do_not_answer_and_take_over_when_the_owners_lease_stops_changing() -> None:
    owner, (second, third) = owner_and_others()
    speaker, responder, announcer = speaker_for(second)
    renewed = [lease(n, T0) for n in NODES]
    assert speaker.sync(facts(renewed), TICK0, self_alive=True) == TICK0 + 2
    assert responder.calls == [] and announcer.rounds == []
    # the owner's Lease never changes again; ours and the third's keep being renewed
    later = T0 + timedelta(seconds=1.9)
    speaker.sync(facts([lease(owner, T0), lease(second, later), lease(third, later)]),
                 TICK0 + 1.9, self_alive=True)
    assert responder.calls == []
    expired = T0 + timedelta(seconds=2)
    speaker.sync(facts([lease(owner, T0), lease(second, expired), lease(third, expired)]),
                 TICK0 + 2, self_alive=True)
    assert responder.calls == [[VIP]] and announcer.rounds == [[VIP]]


def test_a_given_up_lease_moves_the_address_at_once() -> None:
    owner, (second, _) = owner_and_others()
    speaker, responder, _ = speaker_for(second)
    speaker.sync(facts([lease(n, T0) for n in NODES]), TICK0, self_alive=True)
    given_up = leases.given_up(lease(owner, T0), T0)
    speaker.sync(facts([given_up] + [lease(n, T0) for n in NODES if n != owner]),
                 TICK0 + 0.01, self_alive=True)
    assert responder.calls == [[VIP]]


def test_an_owner_that_cannot_renew_stops_answering_at_once() -> None:
    owner, _ = owner_and_others()
    speaker, responder, _ = speaker_for(owner)
    all_leases = [lease(n, T0) for n in NODES]
    speaker.sync(facts(all_leases), TICK0, self_alive=True)
    speaker.sync(facts(all_leases), TICK0 + 1, self_alive=False)
    assert responder.calls == [[VIP], []]
    assert speaker.stats.ownership_changes == 2 and speaker.stats.announced == 0


def test_a_failing_local_health_check_hands_over_and_peers_follow_the_lease_report() -> None:
    owner, (second, _) = owner_and_others()
    speaker, responder, _ = speaker_for(owner)
    all_leases = [lease(n, T0) for n in NODES]
    speaker.sync(facts(all_leases), TICK0, self_alive=True)
    speaker.sync(facts(all_leases), TICK0, self_alive=True, unhealthy_here={("shop", "web")})
    assert responder.calls == [[VIP], []]
    peer, peer_responder, _ = speaker_for(second)
    reported = [lease(owner, T0, unhealthy="shop/web")] + [lease(n, T0) for n in NODES
                                                            if n != owner]
    peer.sync(facts(reported), TICK0, self_alive=True)
    assert peer_responder.calls == [[VIP]]


def test_an_address_without_an_interface_is_logged_and_not_announced() -> None:
    owner, _ = owner_and_others()
    lines: list[str] = []
    announcer = FakeAnnouncer()
    speaker = Speaker(owner, FakeResponder(failing={VIP}), announcer, log=lines.append)
    speaker.sync(facts([lease(n, T0) for n in NODES]), TICK0, self_alive=True)
    assert lines == [f"cannot answer for {VIP}: no interface"]
    assert announcer.rounds == [] and speaker.owned == {}


def test_an_unreadable_state_keeps_the_last_good_one() -> None:
    owner, _ = owner_and_others()
    lines: list[str] = []
    speaker = Speaker(owner, FakeResponder(), FakeAnnouncer(), log=lines.append)
    good = facts([lease(n, T0) for n in NODES])
    speaker.sync(good, TICK0, self_alive=True)
    broken = Facts(**{**good.__dict__, "state": {"data": {"state.yaml": "pools: ["}}})
    speaker.sync(broken, TICK0, self_alive=True)
    assert set(speaker.owned) == {VIP}
    assert len(lines) == 2 and "unreadable, keeping the last good state" in lines[1]


def test_stop_releases_everything() -> None:
    owner, _ = owner_and_others()
    speaker, responder, _ = speaker_for(owner)
    speaker.sync(facts([lease(n, T0) for n in NODES]), TICK0, self_alive=True)
    speaker.stop()
    assert responder.calls == [[VIP], []] and speaker.owned == {}


NAMED = STATE.replace("p: {addresses: [192.0.2.0/24]}",
                      "p: {addresses: [192.0.2.0/24], interfaces: [eth1, vlan9]}")


def test_a_pools_interfaces_choose_the_owner_and_where_it_answers_and_announces() -> None:
    """n? without eth1 or vlan9 may not own the address; the owner answers and announces on
    the pool's interfaces it publishes, nowhere else."""
    macs = {"n1": "eth0=02:00:00:00:00:01", "n2": "eth1=02:00:00:00:00:02",
            "n3": "eth1=02:00:00:00:00:03,vlan9=02:00:00:00:00:13"}
    published = [lease(n, T0, macs=macs[n]) for n in NODES]
    owner = min(("n2", "n3"), key=lambda n: score(n, VIP))
    where = ["eth1"] if owner == "n2" else ["eth1", "vlan9"]
    speaker, responder, announcer = speaker_for(owner)
    speaker.sync(facts(published, state=NAMED), TICK0, self_alive=True)
    assert responder.calls == [[VIP]] and responder.on == {VIP: tuple(where)}
    assert announcer.rounds == [[VIP]] * len(where) and announcer.interfaces == where
    for node in NODES:
        if node != owner:
            other, other_responder, _ = speaker_for(node)
            other.sync(facts(published, state=NAMED), TICK0, self_alive=True)
            assert other_responder.calls == []


def test_changed_interfaces_of_an_owned_address_are_served_and_announced_again() -> None:
    owner, _ = owner_and_others()
    published = [lease(n, T0, macs="eth1=02:00:00:00:00:02") for n in NODES]
    lines: list[str] = []
    responder, announcer = FakeResponder(), FakeAnnouncer()
    speaker = Speaker(owner, responder, announcer, log=lines.append)
    speaker.sync(facts(published, state=NAMED), TICK0, self_alive=True)
    assert (responder.on, announcer.interfaces) == ({VIP: ("eth1",)}, ["eth1"])
    speaker.sync(facts(published), TICK0 + 10, self_alive=True)
    assert responder.calls == [[VIP], [VIP]] and responder.on == {}
    assert announcer.interfaces == ["eth1", None]  # the default choice, announced at once
    assert lines[-1] == f"answering for {VIP} on this node's own choice of interface now"
    assert speaker.stats.ownership_changes == 1  # it never stopped owning it


def test_a_node_publishing_no_interfaces_owns_nothing_of_a_pool_that_names_some() -> None:
    lines: list[str] = []
    speaker = Speaker("n1", FakeResponder(), FakeAnnouncer(), log=lines.append)
    speaker.sync(facts([lease(n, T0) for n in NODES], state=NAMED), TICK0, self_alive=True)
    assert speaker.owned == {} and lines == []
    group = speaker.ownership.groups[0]
    assert group.owner is None and group.reason == "no eligible node: none of the pool's " \
                                                   "interfaces here"


def test_a_wall_clock_set_forward_or_back_neither_expires_live_peers_nor_keeps_a_silent_one(
        ) -> None:
    # NTP steps the wall clocks an hour forward, then back: the Leases' renewTime jumps with
    # them, but liveness runs on this node's monotonic tick, so the owner, renewing every
    # 0.5 s, stays alive throughout and nobody else answers for its address.
    owner, (second, third) = owner_and_others()
    speaker, responder, announcer = speaker_for(second)
    wall = ([T0 + timedelta(seconds=0.5 * i) for i in range(4)]
            + [T0 + timedelta(hours=1, seconds=0.5 * i) for i in range(4, 8)]  # forward
            + [T0 + timedelta(seconds=0.5 * i) for i in range(8, 12)])  # and back again
    tick = TICK0
    for at in wall:
        speaker.sync(facts([lease(n, at) for n in NODES]), tick, self_alive=True)
        assert responder.calls == [] and announcer.rounds == [], at
        tick += 0.5
    # Then the owner falls silent (its Lease still says an hour ahead, or behind): it expires
    # exactly its lease duration (2 s) after its Lease last changed, on the monotonic tick.
    silent_since = tick - 0.5
    last = lease(owner, wall[-1])
    for step in range(1, 5):
        renewed = wall[-1] + timedelta(hours=-1 if step % 2 else 1, seconds=step)
        speaker.sync(facts([last, lease(second, renewed), lease(third, renewed)]),
                     silent_since + 0.45 * step, self_alive=True)
        assert responder.calls == []
    assert speaker.wake_at(silent_since + 1.9) == silent_since + 2
    speaker.sync(facts([last, lease(second, wall[-1]), lease(third, wall[-1])]),
                 silent_since + 2, self_alive=True)
    assert responder.calls == [[VIP]] and announcer.rounds == [[VIP]]


LOST = ("ConfigMap kube-system/lbctl-state is missing, but 1 LoadBalancer Service shows "
        f"addresses no state records: shop/web ({VIP}); the state was deleted or lost (or another "
        "load balancer published them), and ")


def deleted(base: Facts, **changes: Any) -> Facts:
    """``base`` after ``kubectl delete cm -n kube-system lbctl-state`` (and ``changes``)."""
    return Facts(**{**base.__dict__, "state": None, **changes})


def test_a_deleted_state_keeps_the_last_good_one_while_services_show_addresses() -> None:
    """The state ConfigMap is deleted: the owner keeps answering and announcing (said once),
    a failover still moves the address by the state every speaker remembers, and a state
    back is taken up again."""
    owner, (second, third) = owner_and_others()
    lines: list[str] = []
    speaker, responder, _ = speaker_for(owner)
    speaker.log = lines.append
    peer, peer_responder, _ = speaker_for(second)
    alive = [lease(n, T0) for n in NODES]
    good = facts(alive)
    speaker.sync(good, TICK0, self_alive=True)
    peer.sync(good, TICK0, self_alive=True)
    for tick in (TICK0 + 1, TICK0 + 10):
        speaker.sync(deleted(good, leases=list(alive)), tick, self_alive=True)
    assert responder.calls == [[VIP]] and speaker.stats.announced == 1
    assert lines[1:] == [
        LOST + "this speaker keeps answering for what its last good state recorded until it "
               "is back (hint: restore the state from a backup (kubectl apply -f "
               "BACKUP.yaml); or start a new one (lbctl pool add NAME ADDRESS... --new-state, "
               "or lbctl pool import from the load balancer that published them) and record "
               "what the Services show: lbctl adopt --all -A)"]
    assert speaker.lost == lines[1].split(" (hint: ")[0] and not speaker.stateless
    assert speaker.stats.state_missing == 1
    # the owner dies while the state is lost: the second takes over from what it remembers
    later = T0 + timedelta(seconds=3)
    peer.sync(deleted(good, leases=[lease(owner, T0), lease(second, later),
                                    lease(third, later)]), TICK0 + 3, self_alive=True)
    assert peer_responder.calls == [[VIP]] and peer.stats.state_missing == 1
    speaker.sync(facts(list(alive)), TICK0 + 20, self_alive=True)
    assert lines[-1] == ("ConfigMap kube-system/lbctl-state is back: answering for what it "
                         "records")
    assert (speaker.lost, speaker.stats.state_missing) == ("", 0)
    assert responder.calls == [[VIP]] and speaker.stats.ownership_changes == 1  # kept


def test_a_service_deleted_while_the_state_is_lost_is_released() -> None:
    """What is kept is the state, not the world: a Service gone is released, and with no
    Service left to show an address the state is not lost any more (nothing to answer for)."""
    owner, _ = owner_and_others()
    lines: list[str] = []
    speaker, responder, _ = speaker_for(owner)
    speaker.log = lines.append
    good = facts([lease(n, T0) for n in NODES])
    speaker.sync(good, TICK0, self_alive=True)
    speaker.sync(deleted(good), TICK0 + 1, self_alive=True)
    speaker.sync(deleted(good, services=[]), TICK0 + 2, self_alive=True)
    assert responder.calls == [[VIP], []]
    assert lines[-2:] == ["ConfigMap kube-system/lbctl-state is still missing, but no Service "
                          "shows an address it should record any more", f"released {VIP}"]
    assert (speaker.lost, speaker.stats.state_missing) == ("", 0)
    speaker.sync(deleted(good, nodes=list(good.nodes)), TICK0 + 3, self_alive=True)
    assert responder.calls == [[VIP], []]  # the old state was forgotten, not kept for later
    assert speaker.stateless


def test_a_speaker_started_while_the_state_is_lost_answers_for_nothing() -> None:
    owner, _ = owner_and_others()
    lines: list[str] = []
    speaker, responder, _ = speaker_for(owner)
    speaker.log = lines.append
    speaker.sync(deleted(facts([lease(n, T0) for n in NODES])), TICK0, self_alive=True)
    assert responder.calls == [] and speaker.stateless
    assert lines == [LOST + "this speaker has no state to answer from: it gives its Lease up "
                            "(the others keep answering) until the state is back (hint: "
                            + lines[0].split(" (hint: ")[1]]


def test_no_state_and_no_address_shown_is_a_cluster_without_a_state_yet() -> None:
    """Nothing is served and nothing is lost: no message, ready, holding its Lease."""
    lines: list[str] = []
    speaker, responder, _ = speaker_for("n1")
    speaker.log = lines.append
    pending = facts([lease(n, T0) for n in NODES])
    pending = deleted(pending, services=[{**pending.services[0], "status": {}}])
    speaker.sync(pending, TICK0, self_alive=True)
    assert (responder.calls, lines, speaker.lost, speaker.stateless) == ([], [], "", False)
