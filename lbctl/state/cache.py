"""The state cache: the last document each state location gave, with the data read from it, so
that a command reading an unchanged document neither reads its YAML nor checks its rules again.

Reading a state of 1,000 allocations and checking every rule of :func:`lbctl.core.state.decode`
costs a one-shot command some 25 ms (``pool list``, ``svc list``), and the document seldom
changes between two commands.  After a document decoded without a problem, its text and the data
read from it are kept, one file per state location; a later read whose document is exactly that
text (compared in full, character by character) builds the state from the kept data
(:func:`lbctl.core.state.from_valid`).  The document always wins: any other text is decoded as
ever, and replaces the entry.

What makes it safe to trust:

- an entry is data, as JSON (never pickle or code), and holds only what JSON holds exactly
  (strings, integers, booleans, null, lists, mappings with string keys); a document whose data
  holds anything else (a timestamp YAML read as such) is not kept;
- an entry names the lbctl that wrote it: its version, and the name, size and modification time
  of every module of :mod:`lbctl.core` (where the reader and the rules live), as Python checks a
  module's bytecode against its source: another version, or a rule changed in a development
  tree, never uses it;
- the directory and each entry must belong to the user running lbctl and be writable by nobody
  else, or they are neither read nor written; an entry is written whole (a new file, mode 0600,
  renamed over the old one);
- anything unexpected (no home, a full disk, a file that does not parse) is a miss, or an entry
  not written, and is never reported: the cache changes how fast a command runs, never what it
  does or says;
- an entry is written when the command that read the document has succeeded: a command that
  fails changes no file.

Where: ``$LBCTL_CACHE_DIR`` (empty or relative: no cache), else ``$XDG_CACHE_HOME/lbctl``, else
``~/.cache/lbctl``; the entries of the :data:`KEPT` states read last.  The long-running
commands do not use it (their store keeps the last document in memory).
"""

from __future__ import annotations

import json
import os
import stat
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The layout of an entry; a change of it (or of what is kept) is a new number.
FORMAT = 1
#: How many states' entries are kept, the ones written last.
KEPT = 8


def directory_of(env: Mapping[str, str]) -> Path | None:
    """The cache's directory for this environment, or None when there is none."""
    if "LBCTL_CACHE_DIR" in env:
        # As for XDG_CACHE_HOME, a relative one (a directory in every working directory; a
        # "~" with no home to expand to stays relative) means no cache.
        chosen = os.path.expanduser(env["LBCTL_CACHE_DIR"])
        return Path(chosen) if os.path.isabs(chosen) else None
    xdg = env.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):  # a relative one is to be ignored (the XDG specification)
        return Path(xdg) / "lbctl"
    home = env.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".cache" / "lbctl" if os.path.isabs(home) else None


class StateCache:
    """The entry of one state location (``slot``: its name, e.g. the context and the
    ConfigMap) in ``directory``."""

    def __init__(self, directory: Path, slot: str) -> None:
        self.directory = directory
        self.path = directory / f"state-{zlib.crc32(slot.encode()):08x}.json"
        self._slot = slot
        self._kept: tuple[str, dict[str, Any]] | None = None

    def get(self, text: str) -> dict[str, Any] | None:
        """The data read from ``text`` when the entry holds exactly that document, as this
        lbctl wrote it; else None."""
        entry = self._read()
        if (not isinstance(entry, dict) or entry.get("format") != FORMAT
                or entry.get("slot") != self._slot or entry.get("text") != text):
            return None
        writer = _writer()
        if writer is None or entry.get("lbctl") != writer:
            return None
        data = entry.get("data")
        return data if isinstance(data, dict) else None

    def put(self, text: str, data: dict[str, Any]) -> None:
        """Keep ``data``, read from the document ``text`` that decoded without a problem, to be
        written by :meth:`write`."""
        self._kept = (text, data)

    def write(self) -> None:
        """Write what :meth:`put` kept, if anything: the composition root calls it once a
        command has succeeded (a command that fails leaves no file changed)."""
        kept, self._kept = self._kept, None
        if kept is None:
            return
        text, data = kept
        writer = _writer()
        if writer is None or not _plain(data):
            return
        entry = {"format": FORMAT, "lbctl": writer, "slot": self._slot, "text": text,
                 "data": data}
        try:
            _make(self.directory)
            if not _private(os.stat(self.directory)):
                return
            import tempfile

            fd, name = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=self.directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(json.dumps(entry, separators=(",", ":")))  # (json.dump: no C)
                os.replace(name, self.path)
            except BaseException:
                os.unlink(name)
                raise
            _prune(self.directory)
        except OSError:
            return

    def _read(self) -> Any:
        try:
            if not _private(os.stat(self.directory)):
                return None
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as source:
            try:
                if not _private(os.fstat(fd)):
                    return None
                return json.loads(source.read())
            except (OSError, ValueError, RecursionError):
                return None


def _make(directory: Path) -> None:
    """Make ``directory`` and its missing parents (0700), inside a directory of the user
    running lbctl, or one meant to be shared (sticky, as ``/tmp``), only: root running with
    another user's home (``sudo``) must leave no directory of root's there (the user's
    ``~/.cache`` would become root's)."""
    missing = []
    while not os.path.lexists(directory):
        missing.append(directory)
        directory = directory.parent
    found = os.stat(directory)
    if missing and found.st_uid != os.geteuid() and not found.st_mode & stat.S_ISVTX:
        raise PermissionError(f"{directory} is another user's")
    for path in reversed(missing):
        path.mkdir(mode=0o700)


def _prune(directory: Path) -> None:
    """Keep the :data:`KEPT` entries written last (one per state location: a person who
    creates cluster after cluster does not fill the directory)."""
    entries = [(found.stat().st_mtime_ns, found.path) for found in os.scandir(directory)
               if found.name.startswith("state-") and found.name.endswith(".json")]
    for _, path in sorted(entries, reverse=True)[KEPT:]:
        os.unlink(path)


def _private(found: os.stat_result) -> bool:
    """A directory or a regular file of the user running lbctl that nobody else may write."""
    kind = stat.S_IFMT(found.st_mode)
    return (kind in (stat.S_IFDIR, stat.S_IFREG) and found.st_uid == os.geteuid()
            and not found.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def _writer() -> list[Any] | None:
    """This lbctl: its version and the name, size and modification time of each module of
    :mod:`lbctl.core`; None when they cannot be seen (no cache then)."""
    import lbctl
    from lbctl import core

    stamps = []
    try:
        for found in os.scandir(core.__path__[0]):
            if found.name.endswith(".py"):
                info = found.stat()
                stamps.append(f"{found.name}:{info.st_size}:{info.st_mtime_ns}")
    except OSError:
        return None
    return [lbctl.__version__, sorted(stamps)] if stamps else None


def _plain(data: Any) -> bool:
    """Whether JSON gives ``data`` back exactly: strings, integers, booleans, null, and lists
    and string-keyed mappings of them."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            if not all(type(key) is str for key in value):
                return False
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif not (value is None or type(value) in (str, int, bool)):
            return False
    return True
