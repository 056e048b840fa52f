"""File backend: the state document as a local YAML file (``--state PATH``, ``LBCTL_STATE``).

What works with no cluster at all.  The file is the manifest of the ConfigMap lbctl uses on a
cluster (:mod:`lbctl.core.statefile`), so ``kubectl apply`` accepts it; a bare state document
is read too and becomes a manifest on its next write.  Writes are atomic (a temporary file in
the same directory, fsync, rename, fsync of the directory), so a crash or a full disk leaves
either the old or the new document, never a truncated one.  An exclusive ``flock`` on
``PATH.lock`` serialises local writers; the compare-and-swap check under that lock (the bytes
still hash to what was read) turns a lost race into :class:`~lbctl.errors.ConflictError`, which
the store retries.  After a lost race the store holds that lock across its whole
read-change-write (:meth:`FileBackend.exclusive`), so local writers never give up.

Paths: a symbolic link is followed, and its target is read and replaced (the lock and the
temporary file live next to the target, so the link stays a link); anything that is not a
regular file (a directory, a FIFO, a device) is refused before it is opened for reading, so
``/dev/zero`` cannot be read forever; the lock file is opened with ``O_NOFOLLOW`` (a planted
``lb.yaml.lock`` link cannot make lbctl create a file elsewhere); temporary files that a killed
writer left behind are removed by the next writer, under the lock.

Error policy: ``OSError`` becomes :class:`~lbctl.errors.PermissionDeniedError`,
:class:`~lbctl.errors.NotFoundError` or :class:`~lbctl.errors.RefusedError` with the path.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from lbctl.core.statefile import unwrap, wrap
from lbctl.core.yamlkit import MAX_CHARS
from lbctl.errors import (
    ConflictError,
    LbctlError,
    NotFoundError,
    PermissionDeniedError,
    RefusedError,
    UsageError,
    file_kind,
)

STATE_FILE = "state file"
#: Temporary files are named ``.NAME.<random>.lbctl-tmp`` next to the file they replace.
TMP_SUFFIX = ".lbctl-tmp"
#: Seconds a writer waits for another lbctl writer's lock before giving up.
LOCK_TIMEOUT = 60.0
#: The longest file read, in bytes (as ``-f`` reads manifests).
MAX_BYTES = MAX_CHARS


def _translate(path: str, exc: OSError, what: str = STATE_FILE, verb: str = "write") -> LbctlError:
    other = ", or choose another --state" if what == STATE_FILE else ""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return PermissionDeniedError(f"cannot {verb} {what} {path}: {exc.strerror}",
                                     hint=f"check the file's permissions{other}")
    if exc.errno == errno.ENOENT:
        return NotFoundError(f"directory of {what} {path} does not exist",
                             hint=f"create the directory{other}")
    if exc.errno in (errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG):
        return UsageError(f"cannot {verb} {what} {path}: {exc.strerror}",
                          hint=f"give the path of a regular file{other}")
    return RefusedError(f"cannot {verb} {what} {path}: {exc.strerror or exc}",
                        hint="the file was left as it was")


def not_a_regular_file(path: str, mode: int, what: str = STATE_FILE) -> UsageError:
    kind = file_kind(mode)
    other = ", or choose another --state" if what == STATE_FILE else ""
    return UsageError(f"{what} {path} is {kind}, not a regular file",
                      hint=f"give the path of a regular file{other}")


def resolve(path: str) -> str:
    """The file ``path`` names: symbolic links followed (a dangling link names its target)."""
    return os.path.realpath(path) if os.path.islink(path) else path


def read_regular(path: str, what: str = STATE_FILE) -> bytes | None:
    """The bytes of the regular file at ``path`` (links followed), None when it does not exist.
    Anything else is refused before a byte is read: opening does not block (``O_NONBLOCK``,
    for a FIFO) and the type is checked on the opened descriptor (no race)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _translate(path, exc, what, "read") from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise not_a_regular_file(_shown(path), mode, what)
        chunks = []
        size = 0
        while size <= MAX_BYTES and (chunk := os.read(fd, min(1 << 20, MAX_BYTES + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_BYTES:  # a huge (or sparse) file is refused, not read into memory
            raise RefusedError(f"{_shown(path)} is longer than {MAX_BYTES} bytes, more than "
                               "lbctl reads", hint=f"is this the {what} lbctl wrote?")
        return b"".join(chunks)
    except OSError as exc:
        raise _translate(path, exc, what, "read") from exc
    finally:
        os.close(fd)


def _shown(path: str) -> str:
    """``path``, and what it links to when it is a link: ``lb.yaml (a link to /dev/zero)``."""
    return f"{path} (a link to {resolve(path)})" if os.path.islink(path) else path


class FileBackend:
    """``path`` as the user gave it (for messages); reads and writes go to what it names."""

    def __init__(self, path: str, *, lock_timeout: float = LOCK_TIMEOUT,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not path:  # a caller's bug: --state "" and LBCTL_STATE="" never get here
            raise ValueError("the state file path is empty")
        self.path = path
        self.location = f"state file {path}"
        self._lock_timeout = lock_timeout
        self._sleep = sleep
        self._clock = clock
        self._held = threading.local()

    @property
    def target(self) -> str:
        return resolve(self.path)

    def _current(self) -> tuple[str | None, str | None]:
        """The file's text and the SHA-256 of its bytes (None, None when it does not exist)."""
        data = read_regular(self.path)
        if data is None:
            return None, None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RefusedError(f"{self.location} is not UTF-8 text",
                               hint="is --state pointing at the right file?") from exc
        return text, hashlib.sha256(data).hexdigest()

    def read(self) -> tuple[str | None, object]:
        """The state document (out of its ConfigMap manifest) and the file's digest."""
        text, digest = self._current()
        document, _ = unwrap(text, self.location)
        return document, digest

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the lock ``TARGET.lock`` (re-entrant within a thread): no other lbctl writes
        the file meanwhile.  Waits at most ``lock_timeout`` seconds for another holder."""
        if getattr(self._held, "fd", None) is not None:
            yield
            return
        lock = self.target + ".lock"
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            try:
                mode = os.lstat(lock).st_mode
            except OSError:
                mode = stat.S_IFREG
            if stat.S_ISLNK(mode):
                raise RefusedError(f"lock file {lock} is a symbolic link",
                                   hint="remove it; lbctl creates its own lock file") from exc
            if not stat.S_ISREG(mode):
                raise not_a_regular_file(lock, mode, "lock file") from exc
            raise _translate(self.path, exc) from exc
        try:
            try:
                mode = os.fstat(fd).st_mode
                if not stat.S_ISREG(mode):
                    raise not_a_regular_file(lock, mode, "lock file")
                self._wait_for(fd, lock)
            except OSError as exc:
                raise _translate(lock, exc, "lock file") from exc
            self._held.fd = fd
            try:
                yield
            finally:
                self._held.fd = None
        finally:
            os.close(fd)

    def _wait_for(self, fd: int, lock: str) -> None:
        deadline = self._clock() + self._lock_timeout
        pause = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if self._clock() >= deadline:
                    raise ConflictError(
                        f"{self.location} is locked by another lbctl (lock file {lock}) for "
                        f"more than {self._lock_timeout:g} s",
                        hint="wait for the other lbctl to finish, then run the command again",
                    ) from None
                self._sleep(pause)
                pause = min(pause * 2, 0.2)

    def write(self, text: str, version: object) -> object:
        """Write the document ``text`` as a ConfigMap manifest, keeping the rest of an existing
        manifest, if the file is still at ``version``; the digest of what it wrote."""
        with self.exclusive():
            current, digest = self._current()
            if digest != version:  # the store reads again and retries; its error has a hint
                raise ConflictError(f"{self.location} changed while lbctl was working")
            _, envelope = unwrap(current, self.location)
            target = self.target
            _remove_stale_temporaries(target)
            data = wrap(text, envelope)
            write_atomically(target, data, STATE_FILE, shown=self.path)
            return hashlib.sha256(data.encode("utf-8")).hexdigest()


def _remove_stale_temporaries(path: str) -> None:
    """Remove the temporary files a killed writer of ``path`` left (called under its lock, when
    no other lbctl writer can be half-way)."""
    directory, name = os.path.split(os.path.abspath(path))
    prefix = f".{name}."
    try:
        with os.scandir(directory) as entries:
            stale = [e.path for e in entries
                     if e.name.startswith(prefix) and e.name.endswith(TMP_SUFFIX)
                     and e.is_file(follow_symlinks=False)]
    except OSError:
        return
    for leftover in stale:
        try:
            os.unlink(leftover)
        except OSError:
            pass


def write_atomically(path: str, text: str, what: str = "file", *, shown: str | None = None) -> None:
    """Replace the file at ``path`` with ``text``: a temporary file in the same directory,
    fsync, rename, fsync of the directory.  A crash or a full disk leaves the old content or the
    new, never half a file.  A symbolic link is written through (its target is replaced; the link
    stays); anything but a regular file is refused.  The mode (0644 for a new file) and, when
    run as root, the owner are kept.  ``shown`` is the path named in messages."""
    shown = path if shown is None else shown
    path = resolve(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        try:
            info: os.stat_result | None = os.stat(path)
        except FileNotFoundError:
            info = None
        if info is not None and not stat.S_ISREG(info.st_mode):
            raise not_a_regular_file(_shown(shown), info.st_mode, what)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                                   suffix=TMP_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(text.encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644 if info is None else stat.S_IMODE(info.st_mode))
            if info is not None and os.geteuid() == 0:
                os.chown(tmp, info.st_uid, info.st_gid)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise _translate(shown, exc, what) from exc
