"""What ``-f`` names, read: files, directories (recursively) and stdin (``-``).

Every command that takes manifests reads them here, so they all accept the same things and fail
the same way: a path that does not exist is :class:`~lbctl.errors.NotFoundError`, an unreadable
one :class:`~lbctl.errors.PermissionDeniedError`; anything that is not a regular file (a
character device such as ``/dev/zero``, a FIFO, a socket: they may never end), text longer
than :data:`~lbctl.core.yamlkit.MAX_CHARS` bytes (stdin too: it is read up to that bound and no
further), text that is not UTF-8, or any other read error is :class:`~lbctl.errors.UsageError`.
A directory contributes the files :data:`MANIFEST_SUFFIXES` names, for every command alike.
Nothing is parsed here.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import typer

from lbctl.core.yamlkit import MAX_CHARS
from lbctl.errors import NotFoundError, PermissionDeniedError, UsageError, file_kind
from lbctl.ports import Source

#: What a directory contributes: its YAML and JSON files, at any depth, in name order (as
#: ``kubectl apply -f DIR`` reads them).
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
_HINT = "give files, directories, or - for stdin, with -f"
def read_sources(paths: Sequence[str]) -> list[Source]:
    """Each file, each manifest file under each directory (sorted), or stdin for ``-``."""
    sources = []
    for given in paths:
        if given == "-":
            sources.append(_decode("-", _bounded("stdin", typer.get_binary_stream("stdin"))))
            continue
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*")
                           if p.suffix in MANIFEST_SUFFIXES and p.is_file())
            sources += [_read(str(p)) for p in found]
        else:
            sources.append(_read(given))
    return sources


def _read(path: str) -> Source:
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if not stat.S_ISREG(mode):
                kind = file_kind(mode)
                raise UsageError(f"{path} is {kind}, not a file lbctl reads",
                                 hint="give regular files, directories, or - for stdin")
            data = _bounded(path, handle)
    except FileNotFoundError:
        raise NotFoundError(f"{path} does not exist", hint=_HINT) from None
    except PermissionError:
        raise PermissionDeniedError(f"cannot read {path}: permission denied",
                                    hint="check the file's permissions") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}", hint=_HINT) from None
    return _decode(path, data)


def _bounded(name: str, stream: BinaryIO) -> bytes:
    """At most :data:`MAX_CHARS` bytes; more is refused without reading further."""
    data = stream.read(MAX_CHARS + 1)
    if len(data) > MAX_CHARS:
        raise UsageError(f"{name} is longer than {MAX_CHARS} bytes, more than lbctl reads",
                         hint="split the manifests into several files")
    return data


def _decode(name: str, data: bytes) -> Source:
    try:
        return Source(name, data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        label = "stdin" if name == "-" else name
        raise UsageError(f"{label} is not UTF-8 text (byte {exc.start})",
                         hint="give YAML or JSON manifests") from None
