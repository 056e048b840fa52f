"""The LIST+WATCH loop and the work queue, in-process with a scripted API (no server)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from lbctl.actions.reflector import Reflector
from lbctl.controller.queue import FIRST_RETRY, WorkQueue
from lbctl.errors import ExpiredError, UnreachableError
from lbctl.ports import SERVICES, Listing, WatchEvent


def svc(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}}


class Scripted:
    """list_versioned and watch answer from scripts; every call is recorded."""

    def __init__(self, lists: list[Any], watches: list[Any]) -> None:
        self.lists = lists
        self.watches = watches
        self.calls: list[tuple[str, str | None]] = []

    def list_versioned(self, resource: Any, namespace: Any = None, label_selector: Any = None,
                       *, field_selector: str | None = None) -> Listing:
        self.calls.append(("list", field_selector))
        answer = self.lists.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]

    def watch(self, resource: Any, *, resource_version: str, **_: Any) -> Iterator[WatchEvent]:
        self.calls.append(("watch", resource_version))
        answer = self.watches.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return iter(answer)


def run(api: Scripted, rounds: int) -> tuple[list[Any], list[str], list[float], Reflector]:
    seen: list[Any] = []
    restarts: list[str] = []
    waits: list[float] = []
    holder: list[Reflector] = []

    def on_restart(reason: str) -> None:
        restarts.append(reason)
        if len(restarts) >= rounds:
            holder[0].stop()

    def wait(seconds: float) -> bool:
        if seconds:  # wait(0) only asks whether to stop
            waits.append(seconds)
        return False

    watch = Reflector(api, SERVICES, on_list=lambda items: seen.append(("list", len(items))),  # type: ignore[arg-type]
                  on_event=lambda e: seen.append((e.type, e.object["metadata"]["name"])),
                  wait=wait, on_restart=on_restart, field_selector="metadata.name=x")
    holder.append(watch)
    watch.run()
    return seen, restarts, waits, watch


def test_resumes_from_the_last_version_bookmarks_included_and_relists_on_410() -> None:
    api = Scripted(
        lists=[Listing([svc("a", "5")], "10"), Listing([], "40")],
        watches=[
            [WatchEvent("ADDED", svc("b", "11")), WatchEvent("BOOKMARK", svc("", "20"))],
            [WatchEvent("MODIFIED", svc("b", "21"))],
            ExpiredError("gone"),
            [],
        ])
    seen, restarts, waits, watch = run(api, rounds=4)
    assert seen == [("list", 1), ("ADDED", "b"), ("MODIFIED", "b"), ("list", 0)]
    assert api.calls == [("list", "metadata.name=x"), ("watch", "10"), ("watch", "20"),
                         ("watch", "21"), ("list", "metadata.name=x"), ("watch", "40")]
    assert restarts == ["closed", "closed", "expired", "closed"]
    assert waits == [] and watch.synced.is_set() and watch.lists == 2


def test_errors_back_off_and_never_end_the_loop() -> None:
    api = Scripted(lists=[UnreachableError("down"), UnreachableError("down"),
                          Listing([], "3")],
                   watches=[UnreachableError("down"), []])
    seen, restarts, waits, watch = run(api, rounds=4)
    assert restarts == ["error", "error", "error", "closed"]
    assert waits == [0.5, 1.0, 2.0]
    assert seen == [("list", 0)]


def test_a_stream_that_ends_at_once_empty_backs_off() -> None:
    """A proxy that closes every watch at once must not have the loop hammer the API server:
    empty instant streams wait as errors do; a stream with something in it resets the delay."""
    api = Scripted(lists=[Listing([], "3")],
                   watches=[[], [], [WatchEvent("ADDED", svc("b", "4"))], [], []])
    seen, restarts, waits, watch = run(api, rounds=5)
    assert restarts == ["closed"] * 5
    assert waits == [0.5, 1.0, 0.5]
    assert seen == [("list", 0), ("ADDED", "b")]


def test_a_listing_whose_version_is_already_gone_is_listed_again_after_a_delay() -> None:
    api = Scripted(lists=[Listing([], "3"), Listing([], "4"), Listing([], "5")],
                   watches=[ExpiredError("gone"), ExpiredError("gone"),
                            [WatchEvent("ADDED", svc("b", "6"))]])
    seen, restarts, waits, watch = run(api, rounds=3)
    assert restarts == ["expired", "expired", "closed"]
    assert waits == [0.5, 1.0]
    assert watch.lists == 3 and seen[-1] == ("ADDED", "b")


def test_an_empty_stream_that_lasted_its_timeout_is_renewed_at_once() -> None:
    api = Scripted(lists=[Listing([], "3")], watches=[[], [], []])
    now = [0.0]
    restarts: list[str] = []
    waits: list[float] = []

    def clock() -> float:
        now[0] += 300.0  # each stream lasts the server's timeout
        return now[0]

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        return False

    def on_restart(reason: str) -> None:
        restarts.append(reason)
        if len(restarts) == 3:
            watch.stop()

    watch = Reflector(api, SERVICES, on_list=lambda items: None,  # type: ignore[arg-type]
                      on_event=lambda e: None, wait=wait, on_restart=on_restart, clock=clock)
    watch.run()
    assert restarts == ["closed"] * 3 and waits == [0, 0]  # only "stop?", never a delay


def test_queue_gives_at_once_what_is_queued_and_coalesces_the_rest() -> None:
    """An idle worker is given the first key at once (no batch window); what arrives while it
    works is its next batch, each key once, in arrival order.  The queue's clock stands
    still: a batch window (any wait measured by that clock) would never end, so the worker
    would not get its key however long it waited; the wall clock proves nothing here (a
    loaded machine may take any time to schedule the worker)."""
    queue: WorkQueue[str] = WorkQueue(clock=lambda: 0.0)
    queue.add(["k0"])
    assert queue.take(timeout=0) == ["k0"]  # queued before it asked: no wait at all
    taken: list[list[str]] = []
    first_taken = threading.Event()
    release = threading.Event()

    def worker() -> None:
        taken.append(queue.take())  # idle: waits for work, without a deadline
        first_taken.set()
        release.wait(60)  # busy with the first batch
        taken.append(queue.take())

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    queue.add(["k1"])
    assert first_taken.wait(60)
    for i in range(2, 6):
        queue.add([f"k{i}", "k2"])
    release.set()
    thread.join(60)
    assert taken == [["k1"], ["k2", "k3", "k4", "k5"]]
    assert queue.take(timeout=0) == []


def test_queue_retries_later_with_growing_delays() -> None:
    now = [0.0]
    queue: WorkQueue[str] = WorkQueue(clock=lambda: now[0])
    assert queue.retry("k") == FIRST_RETRY
    assert queue.take(timeout=0) == []
    now[0] = FIRST_RETRY
    assert queue.take(timeout=0) == ["k"]
    assert queue.retry("k") == 2 * FIRST_RETRY
    queue.forget("k")
    assert queue.retry("k") == FIRST_RETRY
    queue.close()
    assert queue.take() == []
