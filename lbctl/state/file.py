"""File backend: the state document as a local YAML file (``--state PATH``, ``LBCTL_STATE``).

What works with no cluster at all.  The file is the manifest of the ConfigMap lbctl uses on a
cluster (:mod:`lbctl.core.statefile`), so ``kubectl apply`` accepts it; a bare state document
is read too and becomes a manifest on its next write.  Writes are atomic (a temporary file in
the same directory, fsync, rename, fsync of the directory), so a crash or a full disk leaves
either the old or the new document, never a truncated one.  An exclusive ``flock`` on
``PATH.lock`` serialises local writers; the compare-and-swap check under that lock (the bytes
still hash to what was read) turns a lost race into :class:`~lbctl.errors.ConflictError`, which
the store retries.

Error policy: ``OSError`` becomes :class:`~lbctl.errors.PermissionDeniedError`,
:class:`~lbctl.errors.NotFoundError` or :class:`~lbctl.errors.RefusedError` with the path.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from lbctl.core.statefile import unwrap, wrap
from lbctl.errors import (
    ConflictError,
    LbctlError,
    NotFoundError,
    PermissionDeniedError,
    RefusedError,
)

STATE_FILE = "state file"


def _translate(path: str, exc: OSError, what: str = STATE_FILE) -> LbctlError:
    other = ", or choose another --state" if what == STATE_FILE else ""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return PermissionDeniedError(f"cannot write {what} {path}: {exc.strerror}",
                                     hint=f"check the file's permissions{other}")
    if exc.errno == errno.ENOENT:
        return NotFoundError(f"directory of {what} {path} does not exist",
                             hint=f"create the directory{other}")
    return RefusedError(f"cannot use {what} {path}: {exc.strerror or exc}",
                        hint="the file was left as it was")


class FileBackend:
    def __init__(self, path: str) -> None:
        self.path = path
        self.location = f"state file {path}"

    def _current(self) -> tuple[str | None, str | None]:
        """The file's text and the SHA-256 of its bytes (None, None when it does not exist)."""
        try:
            with open(self.path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return None, None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RefusedError(f"{self.location} is not UTF-8 text",
                               hint="is --state pointing at the right file?") from exc
        return text, hashlib.sha256(data).hexdigest()

    def read(self) -> tuple[str | None, object]:
        """The state document (out of its ConfigMap manifest) and the file's digest."""
        try:
            text, digest = self._current()
        except OSError as exc:
            raise _translate(self.path, exc) from exc
        document, _ = unwrap(text, self.location)
        return document, digest

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def write(self, text: str, version: object) -> None:
        """Write the document ``text`` as a ConfigMap manifest, keeping the rest of an existing
        manifest, if the file is still at ``version``."""
        try:
            with self._locked():
                current, digest = self._current()
                if digest != version:
                    raise ConflictError(f"{self.location} changed while lbctl was working",
                                        hint="run the command again")
                _, envelope = unwrap(current, self.location)
                write_atomically(self.path, wrap(text, envelope), STATE_FILE)
        except OSError as exc:  # the lock file, or reading the current bytes
            raise _translate(self.path, exc) from exc


def write_atomically(path: str, text: str, what: str = "file") -> None:
    """Replace the file at ``path`` with ``text`` (keeping its mode; 0644 for a new file):
    a temporary file in the same directory, fsync, rename, fsync of the directory.  A crash or a
    full disk leaves the old content or the new, never half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        try:
            mode = os.stat(path).st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(text.encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise _translate(path, exc, what) from exc
