"""The file backend: compare-and-swap, atomic replacement, concurrent writers, OS errors.

What users rely on: ``--state lb.yaml`` is safe with several lbctl processes at once (nothing
lost, nothing duplicated); a crash or a full disk mid-write leaves the old document and no
debris; OS errors come out as lbctl errors naming the file.
"""

from __future__ import annotations

import errno
import fcntl
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
    UsageError,
)
from lbctl.state import file as file_backend
from lbctl.state.file import FileBackend
from lbctl.state.store import StateStore
from tests.statefiles import document_text

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
    """One writer: ``count`` updates, each allocating one new Service (with the store's default
    number of attempts: a local writer must never give up)."""
    store = StateStore(FileBackend(path))
    for i in range(count):
        request = Request("web", f"{prefix}-{i}")

        def change(state: State, request: Request = request) -> tuple[State, None]:
            allocator = Allocator(state)
            allocator.allocate(request)
            return allocator.state(), None

        store.update(change)


def add_pools(path: str, worker: int, count: int) -> None:
    """One writer: ``count`` updates, each adding one new pool."""
    store = StateStore(FileBackend(path))
    for i in range(count):
        pool = make_pool(f"w{worker}-{i}", [f"10.{worker + 1}.{i}.0/24"])

        def change(state: State, pool: Pool = pool) -> tuple[State, None]:
            return add_pool(state, pool), None

        store.update(change)


def test_concurrent_threads_lose_nothing_duplicate_nothing_and_never_give_up(path: Path) -> None:
    """8 in-process writers x 30 changes on one file: after one lost race a writer holds the
    lock across read-change-write, so none runs out of attempts (exit 5 before)."""
    path.write_text(POOL)
    failures: list[BaseException] = []

    def writer(prefix: str) -> None:
        try:
            allocate_many(str(path), prefix, 30)
        except BaseException as exc:  # collected: an exception in a thread fails nothing
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(f"t{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    state = decode(document_text(path))
    assert sorted(name for _, name in state.allocations) == sorted(
        f"t{n}-{i}" for n in range(8) for i in range(30))
    ips = [a.ips for a in state.allocations.values()]
    assert len(set(ips)) == len(ips) == 240
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
                     "cannot write state file {}: Input/output error", id="rename-fails"),
        pytest.param("fsync", OSError(errno.ENOSPC, "No space left on device"), RefusedError,
                     "cannot write state file {}: No space left on device", id="disk-full"),
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


def test_permission_error_on_read_says_read(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path.write_text(POOL)
    real_open = os.open

    def guarded(name: str, flags: int, *args: int) -> int:
        if os.fspath(name) == str(path):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(name, flags, *args)

    monkeypatch.setattr(os, "open", guarded)
    with pytest.raises(PermissionDeniedError) as caught:
        StateStore(FileBackend(str(path))).load()
    assert caught.value.message == f"cannot read state file {path}: Permission denied"
    assert caught.value.hint == "check the file's permissions, or choose another --state"


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


def test_a_huge_file_is_refused_without_reading_it_all(path: Path) -> None:
    """A sparse 1 GiB file (a wrong --state, a disk image) is refused after the bound, not
    read into memory, and left as it is."""
    with open(path, "wb") as handle:
        handle.truncate(1 << 30)
    with pytest.raises(RefusedError) as caught:
        StateStore(FileBackend(str(path))).update(lambda state: (state, None))
    assert caught.value.message == (f"{path} is longer than {file_backend.MAX_BYTES} bytes, "
                                    "more than lbctl reads")
    assert caught.value.hint == "is this the state file lbctl wrote?"
    assert path.stat().st_size == 1 << 30


def test_a_symlinked_state_is_written_through_to_its_target(tmp_path: Path) -> None:
    """The link stays a link; the target changes; lock and temporary file live next to the
    target (the link's directory gets nothing)."""
    real = tmp_path / "real"
    real.mkdir()
    target = real / "state.yaml"
    target.write_text(POOL)
    links = tmp_path / "links"
    links.mkdir()
    link = links / "lb.yaml"
    link.symlink_to(os.path.relpath(target, links))
    store = StateStore(FileBackend(str(link)))
    store.update(lambda state: (add_pool(state, make_pool("b", ["10.9.0.0/24"])), None))
    assert link.is_symlink() and os.readlink(link) == "../real/state.yaml"
    assert sorted(decode(document_text(target)).pools) == ["a", "b"]
    assert sorted(os.listdir(links)) == ["lb.yaml"]
    assert sorted(os.listdir(real)) == ["state.yaml", "state.yaml.lock"]


def test_a_dangling_link_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "lb.yaml"
    link.symlink_to("made.yaml")
    FileBackend(str(link)).write(POOL, None)
    assert link.is_symlink()
    assert "10.0.0.0/16" in (tmp_path / "made.yaml").read_text()


@pytest.mark.parametrize("make", ["fifo", "directory", "device"])
def test_anything_but_a_regular_file_is_refused_unread_and_unreplaced(
    tmp_path: Path, make: str
) -> None:
    path = tmp_path / "lb.yaml"
    if make == "fifo":
        os.mkfifo(path)  # reading it would block forever
    elif make == "directory":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")  # reading it would never end
    kind = {"fifo": "a named pipe", "directory": "a directory",
            "device": "a character device"}[make]
    before = os.lstat(path)
    backend = FileBackend(str(path))
    with pytest.raises(UsageError, match=f"is {kind}, not a regular file"):
        backend.read()
    with pytest.raises(UsageError, match=f"is {kind}, not a regular file"):
        file_backend.write_atomically(str(path), POOL, file_backend.STATE_FILE)
    after = os.lstat(path)
    assert (before.st_mode, before.st_ino) == (after.st_mode, after.st_ino)
    assert sorted(os.listdir(tmp_path)) == ["lb.yaml"]


def test_a_planted_lock_link_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    path = tmp_path / "lb.yaml"
    path.write_text(POOL)
    (tmp_path / "lb.yaml.lock").symlink_to(tmp_path / "elsewhere")
    backend = FileBackend(str(path))
    _, version = backend.read()
    with pytest.raises(RefusedError, match=r"lock file .*lb.yaml.lock is a symbolic link"):
        backend.write(POOL + "# more\n", version)
    assert not (tmp_path / "elsewhere").exists()
    assert path.read_text() == POOL


def test_the_empty_path_is_refused() -> None:
    with pytest.raises(ValueError, match="the state file path is empty"):
        FileBackend("")


def test_stale_temporary_files_of_a_killed_writer_are_removed(path: Path) -> None:
    path.write_text(POOL)
    stale = path.parent / f".{path.name}.abcd1234{file_backend.TMP_SUFFIX}"
    stale.write_text("half a document")
    other = path.parent / ".other.yaml.abcd1234.lbctl-tmp"  # another file's: not ours to remove
    other.write_text("x")
    backend = FileBackend(str(path))
    backend.write(POOL + "# more\n", backend.read()[1])
    assert not stale.exists() and other.exists()


def test_a_writer_waits_for_the_lock_then_gives_up_with_a_conflict(path: Path) -> None:
    path.write_text(POOL)
    holder = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    backend = FileBackend(str(path), lock_timeout=2.0, sleep=sleep, clock=lambda: now[0])
    try:
        with pytest.raises(ConflictError, match="is locked by another lbctl"):
            backend.write(POOL + "# more\n", backend.read()[1])
    finally:
        os.close(holder)
    assert 2.0 <= now[0] < 2.5
    assert path.read_text() == POOL


def test_exclusive_is_reentrant_and_serialises_writers(path: Path) -> None:
    backend = FileBackend(str(path))
    other = FileBackend(str(path), lock_timeout=0.0)
    with backend.exclusive():
        backend.write(POOL, None)  # does not wait for itself
        with pytest.raises(ConflictError, match="locked by another lbctl"):
            other.write(POOL, backend.read()[1])
    other.write(POOL + "# more\n", other.read()[1])
