"""What ``-f`` names, read: files, directories (recursively) and stdin (``-``).

Every command that takes manifests reads them here, so they all accept the same things and fail
the same way: a path that does not exist is :class:`~lbctl.errors.NotFoundError`, an unreadable
one :class:`~lbctl.errors.PermissionDeniedError`, text that is not UTF-8 or any other read error
:class:`~lbctl.errors.UsageError`.  Nothing is parsed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer

from lbctl.errors import NotFoundError, PermissionDeniedError, UsageError
from lbctl.ports import Source

#: What a directory contributes by default: its YAML and JSON files, at any depth, in name order.
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def read_sources(paths: Sequence[str],
                 suffixes: tuple[str, ...] = MANIFEST_SUFFIXES) -> list[Source]:
    """Each file, each file under each directory whose name ends in one of ``suffixes``
    (sorted), or stdin for ``-``."""
    sources = []
    for given in paths:
        if given == "-":
            sources.append(_decode("-", typer.get_binary_stream("stdin").read()))
            continue
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*")
                           if p.suffix in suffixes and p.is_file())
            sources += [_read(str(p)) for p in found]
        else:
            sources.append(_read(given))
    return sources


def _read(path: str) -> Source:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"{path} does not exist",
                            hint="give files, directories, or - for stdin, with -f") from None
    except PermissionError:
        raise PermissionDeniedError(f"cannot read {path}: permission denied",
                                    hint="check the file's permissions") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}",
                         hint="give files, directories, or - for stdin, with -f") from None
    return _decode(path, data)


def _decode(name: str, data: bytes) -> Source:
    try:
        return Source(name, data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        label = "stdin" if name == "-" else name
        raise UsageError(f"{label} is not UTF-8 text (byte {exc.start})",
                         hint="give YAML or JSON manifests") from None
