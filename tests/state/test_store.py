"""The state store's compare-and-swap loop, against an in-memory backend and the real file one.

What users rely on: a lost race re-reads and re-runs the change (bounded); a refused change, a
dry run or a no-op writes nothing; a document lbctl cannot read is never overwritten.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest

from lbctl.core.pools import add_pool, make_pool
from lbctl.core.state import State, decode, encode
from lbctl.errors import ConflictError, InvalidStateError, RefusedError
from lbctl.ports import StateBackend
from lbctl.state.file import FileBackend
from lbctl.state.store import Applied, StateStore
from tests.statefiles import document_text


class MemoryBackend:
    """A StateBackend in memory: the version is a counter bumped by every write."""

    location = "memory"

    def __init__(self) -> None:
        self.text: str | None = None
        self.version = 0
        self.writes = 0

    def read(self) -> tuple[str | None, object]:
        return self.text, self.version

    def exclusive(self) -> AbstractContextManager[None]:
        return nullcontext()

    def write(self, text: str, version: object) -> object:
        if version != self.version:
            raise ConflictError("stale version")
        self.text = text
        self.version += 1
        self.writes += 1
        return self.version


class Stored:
    """One backend, and how to look at and plant its raw document."""

    def __init__(self, backend: StateBackend, raw: Callable[[], bytes | None],
                 plant: Callable[[str], object]) -> None:
        self.backend = backend
        self.raw = raw
        self.plant = plant


@pytest.fixture(params=["memory", "file"])
def stored(request: pytest.FixtureRequest, tmp_path: Path) -> Stored:
    if request.param == "memory":
        memory = MemoryBackend()

        def plant_memory(text: str) -> None:
            memory.text = text

        return Stored(memory, lambda: None if memory.text is None else memory.text.encode(),
                      plant_memory)
    path = tmp_path / "lb.yaml"
    return Stored(FileBackend(str(path)),
                  lambda: document_text(path).encode() if path.exists() else None,
                  path.write_text)


def adding(name: str, addresses: str) -> Callable[[State], tuple[State, str]]:
    def change(state: State) -> tuple[State, str]:
        return add_pool(state, make_pool(name, [addresses])), name

    return change


def test_update_writes_the_new_state(stored: Stored) -> None:
    applied = StateStore(stored.backend).update(adding("a", "10.0.0.0/24"))
    assert applied == Applied("a", State(), applied.after, written=True)
    assert list(applied.after.pools) == ["a"]
    assert stored.raw() == encode(applied.after).encode()
    assert StateStore(stored.backend).load() == applied.after


def test_a_lost_race_re_reads_and_re_runs_the_change(stored: Stored) -> None:
    seen: list[list[str]] = []

    def change(state: State) -> tuple[State, str]:
        seen.append(sorted(state.pools))
        if len(seen) == 1:  # another writer gets in between this read and this write
            StateStore(stored.backend).update(adding("other", "10.0.9.0/24"))
        return adding("a", "10.0.0.0/24")(state)

    applied = StateStore(stored.backend).update(change)
    assert seen == [[], ["other"]]
    assert applied.written and sorted(applied.before.pools) == ["other"]
    assert sorted(decode(stored.raw().decode()).pools) == ["a", "other"]  # type: ignore[union-attr]


class Counted:
    """A backend that counts its reads."""

    def __init__(self, backend: StateBackend) -> None:
        self.backend = backend
        self.location = backend.location
        self.reads = 0

    def read(self) -> tuple[str | None, object]:
        self.reads += 1
        return self.backend.read()

    def write(self, text: str, version: object) -> object:
        return self.backend.write(text, version)

    def exclusive(self) -> AbstractContextManager[None]:
        return self.backend.exclusive()


def test_a_base_that_is_the_latest_is_written_on_without_reading(stored: Stored) -> None:
    """A long-running writer that follows the document (its last write, a watch) changes it
    without reading it first; what update returns is the next base."""
    counted = Counted(stored.backend)
    store = StateStore(counted)
    first = store.update(adding("a", "10.0.0.0/24"))
    assert first.stored is not None and counted.reads == 1
    second = store.update(adding("b", "10.0.1.0/24"), base=first.stored)
    assert counted.reads == 1 and second.written and second.stored is not None
    assert sorted(second.stored.state.pools) == ["a", "b"]
    assert store.read() == second.stored  # text, version and state: what is stored
    assert stored.raw() == encode(second.after).encode()


def test_a_stale_base_is_refused_and_the_change_runs_again_on_a_fresh_read(
        stored: Stored) -> None:
    """The base is never what safety rests on: when another writer changed the document
    since, the compare-and-swap refuses the write, and the change runs on the document read
    afresh, at once (the stale base lost no race with anyone: nothing to wait for)."""
    sleeps: list[float] = []
    store = StateStore(stored.backend, sleep=sleeps.append)
    stale = store.update(adding("a", "10.0.0.0/24")).stored
    assert stale is not None
    StateStore(stored.backend).update(adding("other", "10.0.9.0/24"))  # another writer
    seen: list[list[str]] = []

    def change(state: State) -> tuple[State, str]:
        seen.append(sorted(state.pools))
        return adding("b", "10.0.1.0/24")(state)

    applied = store.update(change, base=stale)
    assert seen == [["a"], ["a", "other"]]
    assert sleeps == []
    assert sorted(decode(stored.raw().decode()).pools) == [  # type: ignore[union-attr]
        "a", "b", "other"]
    assert applied.stored == store.read()


def test_gives_up_after_its_attempts(stored: Stored) -> None:
    calls = 0

    def change(state: State) -> tuple[State, str]:
        nonlocal calls
        calls += 1  # every attempt loses to another writer
        StateStore(stored.backend).update(adding(f"other{calls}", f"10.0.{calls}.0/24"))
        return adding("a", "10.0.0.0/24")(state)

    with pytest.raises(ConflictError) as caught:
        StateStore(stored.backend, attempts=3).update(change)
    assert calls == 3
    assert caught.value.message == (
        f"{stored.backend.location} kept changing under lbctl: gave up after 3 attempts")
    assert caught.value.hint == "another writer is busy; run the command again"
    assert sorted(decode(stored.raw().decode()).pools) == [  # type: ignore[union-attr]
        "other1", "other2", "other3"]


def test_retries_back_off_with_jitter_and_a_cap(stored: Stored) -> None:
    """Writers that collided must not collide again in lockstep: each retry waits a random
    part of a doubling window, never more than a second."""
    sleeps: list[float] = []
    calls = 0

    def change(state: State) -> tuple[State, str]:
        nonlocal calls
        calls += 1
        StateStore(stored.backend).update(adding(f"other{calls}", f"10.0.{calls}.0/24"))
        return adding("a", "10.0.0.0/24")(state)

    store = StateStore(stored.backend, attempts=8, sleep=sleeps.append, jitter=lambda: 0.5)
    with pytest.raises(ConflictError):
        store.update(change)
    assert sleeps == [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.5]


def test_a_change_that_raises_writes_nothing(stored: Stored) -> None:
    store = StateStore(stored.backend)
    store.update(adding("a", "10.0.0.0/24"))
    before = stored.raw()
    with pytest.raises(RefusedError, match="pools a and b overlap"):
        store.update(adding("b", "10.0.0.128/25"))
    assert stored.raw() == before


@pytest.mark.parametrize(
    "document",
    [
        pytest.param("schemaVersion: 1\npools: [\n", id="bad-yaml"),
        pytest.param("schemaVersion: 2\npools: {}\n", id="too-new"),
        pytest.param("schemaVersion: 1\npools:\n  a: {addresses: [10.0.0.1/24]}\n", id="invalid"),
        pytest.param("schemaVersion: 1\npools:\n  a: {addresses: [10.0.0.0/24]}\n"
                     "  a: {addresses: [10.0.1.0/24]}\n", id="duplicate-key"),
    ],
)
def test_a_document_that_fails_to_decode_is_never_overwritten(stored: Stored,
                                                              document: str) -> None:
    stored.plant(document)
    calls: list[State] = []

    def change(state: State) -> tuple[State, None]:
        calls.append(state)
        return add_pool(state, make_pool("x", ["10.9.0.0/24"])), None

    with pytest.raises(InvalidStateError):
        StateStore(stored.backend).update(change)
    assert calls == []
    assert stored.raw() == document.encode()


def test_dry_run_writes_nothing(stored: Stored) -> None:
    applied = StateStore(stored.backend).update(adding("a", "10.0.0.0/24"), dry_run=True)
    assert not applied.written
    assert list(applied.after.pools) == ["a"] and applied.before == State()
    assert stored.raw() is None


def test_a_change_that_changes_nothing_writes_nothing(stored: Stored) -> None:
    store = StateStore(stored.backend)
    store.update(adding("a", "10.0.0.0/24"))
    before = stored.raw()
    applied = store.update(lambda state: (state, "same"))
    assert (applied.result, applied.written) == ("same", False)
    assert stored.raw() == before


def test_creating_sees_every_new_state_where_no_document_exists(stored: Stored) -> None:
    """The CLI's check that no state was lost runs before the document is created, a dry run
    included; its refusal writes nothing; once a document exists it is not asked again."""
    seen: list[list[str]] = []

    def creating(new: State) -> None:
        seen.append(sorted(new.pools))
        if "refused" in new.pools:
            raise RefusedError("a state was lost")

    store = StateStore(stored.backend, creating=creating)
    with pytest.raises(RefusedError):
        store.update(adding("refused", "10.0.0.0/24"))
    assert stored.raw() is None
    store.update(adding("a", "10.0.0.0/24"), dry_run=True)
    assert stored.raw() is None
    store.update(lambda state: (state, None))  # no change: nothing to create
    assert seen == [["refused"], ["a"]]
    store.update(adding("a", "10.0.0.0/24"))
    store.update(adding("b", "10.1.0.0/24"))
    assert seen == [["refused"], ["a"], ["a"]]
    assert sorted(store.load().pools) == ["a", "b"]
