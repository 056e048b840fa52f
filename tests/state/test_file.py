"""The file backend: compare-and-swap, atomic replacement, concurrent writers, OS errors.

What users rely on: ``--state lb.yaml`` is safe with several lbctl processes at once (nothing
lost, nothing duplicated); a crash or a full disk mid-write leaves the old document and no
debris; OS errors come out as lbctl errors naming the file.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import stat
import tempfile
import threading
from pathlib import Path

import pytest
import yaml

from lbctl.core.allocator import Allocator, Request
from lbctl.core.pools import add_pool, make_pool
from lbctl.core.state import Pool, State, decode
from lbctl.core.statefile import wrap
from lbctl.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RefusedError,
)
from lbctl.state import file as file_backend
from lbctl.state.file import FileBackend
from lbctl.state.store import StateStore
from tests.statefiles import document_text

#: Enough attempts that no writer gives up while several hammer one file.
PATIENT = 10_000
POOL = "schemaVersion: 1\npools:\n  a: {addresses: [10.0.0.0/16]}\n"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "lb.yaml"


def debris(path: Path) -> list[str]:
    """Files in the state file's directory other than the file and its lock."""
    return sorted(set(os.listdir(path.parent)) - {path.name, path.name + ".lock"})


def test_missing_file_reads_as_no_document_and_first_write_creates_it(path: Path) -> None:
    backend = FileBackend(str(path))
    assert backend.read() == (None, None)
    backend.write(POOL, None)
    assert path.read_text() == wrap(POOL)
    assert yaml.safe_load(path.read_text())["data"] == {"state.yaml": POOL}
    assert backend.read()[0] == POOL
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert debris(path) == []


def test_write_at_a_stale_version_is_a_conflict(path: Path) -> None:
    path.write_text(POOL)
    backend = FileBackend(str(path))
    _, version = backend.read()
    path.write_text(POOL + "# edited by hand\n")
    with pytest.raises(ConflictError, match=f"state file {path} changed while lbctl was working"):
        backend.write("schemaVersion: 1\n", version)
    with pytest.raises(ConflictError):
        backend.write("schemaVersion: 1\n", None)  # "no document yet" is a version too
    assert path.read_text() == POOL + "# edited by hand\n"


def test_write_keeps_the_file_mode(path: Path) -> None:
    path.write_text(POOL)
    path.chmod(0o600)
    backend = FileBackend(str(path))
    backend.write(POOL + "# more\n", backend.read()[1])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def allocate_many(path: str, prefix: str, count: int) -> None:
    """One writer: ``count`` updates, each allocating one new Service."""
    store = StateStore(FileBackend(path), attempts=PATIENT)
    for i in range(count):
        request = Request("web", f"{prefix}-{i}")

        def change(state: State, request: Request = request) -> tuple[State, None]:
            allocator = Allocator(state)
            allocator.allocate(request)
            return allocator.state(), None

        store.update(change)


def add_pools(path: str, worker: int, count: int) -> None:
    """One writer: ``count`` updates, each adding one new pool."""
    store = StateStore(FileBackend(path), attempts=PATIENT)
    for i in range(count):
        pool = make_pool(f"w{worker}-{i}", [f"10.{worker + 1}.{i}.0/24"])

        def change(state: State, pool: Pool = pool) -> tuple[State, None]:
            return add_pool(state, pool), None

        store.update(change)


def test_concurrent_threads_lose_nothing_and_duplicate_nothing(path: Path) -> None:
    path.write_text(POOL)
    threads = [threading.Thread(target=allocate_many, args=(str(path), f"t{n}", 6))
               for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    state = decode(document_text(path))
    assert sorted(name for _, name in state.allocations) == sorted(
        f"t{n}-{i}" for n in range(6) for i in range(6))
    ips = [a.ips for a in state.allocations.values()]
    assert len(set(ips)) == len(ips) == 36
    assert debris(path) == []


def test_concurrent_processes_lose_nothing_and_duplicate_nothing(path: Path) -> None:
    path.write_text(POOL)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=allocate_many, args=(str(path), f"p{n}", 5))
               for n in range(3)]
    workers += [context.Process(target=add_pools, args=(str(path), n, 5)) for n in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0] * 6
    state = decode(document_text(path))
    assert sorted(name for _, name in state.allocations) == sorted(
        f"p{n}-{i}" for n in range(3) for i in range(5))
    assert len({a.ips for a in state.allocations.values()}) == 15
    assert sorted(state.pools) == sorted(["a"] + [f"w{n}-{i}" for n in range(3)
                                                  for i in range(5)])
    assert debris(path) == []


@pytest.mark.parametrize(
    ("target", "error", "raised", "message"),
    [
        pytest.param("replace", OSError(errno.EIO, "Input/output error"), RefusedError,
                     "cannot use state file {}: Input/output error", id="rename-fails"),
        pytest.param("fsync", OSError(errno.ENOSPC, "No space left on device"), RefusedError,
                     "cannot use state file {}: No space left on device", id="disk-full"),
        pytest.param("replace", KeyboardInterrupt(), KeyboardInterrupt, "",
                     id="interrupted-before-rename"),
    ],
)
def test_a_failed_write_leaves_the_old_file_and_no_debris(
    path: Path, monkeypatch: pytest.MonkeyPatch, target: str, error: BaseException,
    raised: type[BaseException], message: str,
) -> None:
    path.write_text(POOL)
    backend = FileBackend(str(path))
    _, version = backend.read()

    def fail(*args: object) -> None:
        raise error

    monkeypatch.setattr(os, target, fail)
    with pytest.raises(raised) as caught:
        backend.write("schemaVersion: 1\npools: {}\n", version)
    monkeypatch.undo()
    if message:
        assert str(caught.value) == message.format(path)
    assert path.read_bytes() == POOL.encode()
    assert debris(path) == []


@pytest.mark.parametrize("code", [errno.EACCES, errno.EPERM, errno.EROFS])
def test_permission_errors_on_write(path: Path, monkeypatch: pytest.MonkeyPatch,
                                    code: int) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(code, os.strerror(code))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    store = StateStore(FileBackend(str(path)))
    with pytest.raises(PermissionDeniedError) as caught:
        store.update(lambda state: (add_pool(state, make_pool("a", ["10.0.0.0/24"])), None))
    assert caught.value.message == f"cannot write state file {path}: {os.strerror(code)}"
    assert not path.exists()


def test_permission_error_on_read(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path.write_text(POOL)

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(file_backend, "open", refuse, raising=False)
    with pytest.raises(PermissionDeniedError, match=f"cannot write state file {path}"):
        StateStore(FileBackend(str(path))).load()


def test_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "lb.yaml"
    with pytest.raises(NotFoundError) as caught:
        FileBackend(str(path)).write(POOL, None)
    assert caught.value.message == f"directory of state file {path} does not exist"


def test_a_file_that_is_not_text_is_refused(path: Path) -> None:
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(RefusedError, match=f"state file {path} is not UTF-8 text"):
        StateStore(FileBackend(str(path))).update(lambda state: (state, None))
    assert path.read_bytes() == b"\xff\xfe\x00binary"
