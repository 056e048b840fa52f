"""The process's output streams as the consoles write to them: every write error becomes an
lbctl error where it happens, once for every command.

* stdout (data): a full disk (``> FILE``, ``>/dev/full``) or a closed stdout (``>&-``) is
  ``cannot write the output: ...`` (:class:`~lbctl.errors.RefusedError`, exit 4); a reader
  that went away (``| head -1``) is :class:`~lbctl.errors.OutputClosedError`: the command
  stops, nothing is printed, and the process ends by SIGPIPE as coreutils' and kubectl's do.
  Raising lbctl's own errors (never :class:`OSError`) also keeps click from turning a closed
  pipe into a silent exit 1.
* stderr (messages): a message that cannot be written (``2>/dev/full``, ``2>&-``, a closed
  pipe) is dropped, as coreutils drop theirs: the command goes on, and its exit code still
  says how it ended.
"""

from __future__ import annotations

import errno
from typing import Any

from lbctl.errors import LbctlError, OutputClosedError, RefusedError


def output_failed(exc: OSError | ValueError) -> LbctlError:
    """What writing the command's output (stdout) failing means to the user."""
    if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
        return OutputClosedError("the reader of the output went away")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else (
        "standard output is closed")
    return RefusedError(f"cannot write the output: {reason}",
                        hint="free space where the output goes, or send it elsewhere"
                        if isinstance(exc, OSError) and exc.errno in DISK_FULL else
                        "send the output somewhere it can be written")


#: What a full disk (or quota) raises when the output goes to a file.
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class _Stream:
    """``stream``'s attributes (``isatty``, ``encoding``...), with ``write`` and ``flush``
    that handle errors; ``stream`` None is a closed one (Python's ``sys.stdout`` after
    ``>&-``)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def isatty(self) -> bool:
        try:
            return self.stream is not None and bool(self.stream.isatty())
        except (OSError, ValueError):
            return False

    def write(self, text: str) -> int:
        try:
            if self.stream is None:
                raise ValueError("closed")
            return int(self.stream.write(text))
        except (OSError, ValueError) as exc:
            return self.failed(exc, text)

    def flush(self) -> None:
        try:
            if self.stream is not None:
                self.stream.flush()
        except (OSError, ValueError) as exc:
            self.failed(exc, "")

    def failed(self, exc: OSError | ValueError, text: str) -> int:
        raise NotImplementedError


class Output(_Stream):
    """stdout: a failed write raises :func:`output_failed`."""

    def failed(self, exc: OSError | ValueError, text: str) -> int:
        raise output_failed(exc) from exc


class Messages(_Stream):
    """stderr: a failed write is dropped."""

    def failed(self, exc: OSError | ValueError, text: str) -> int:
        return len(text)
