"""Every error lbctl reports, with its exit code and a hint.

This module owns the error vocabulary of the whole program.  Adapters translate library
exceptions (``ApiException``, ``OSError``, urllib3 errors, scapy errors) into these classes at the
edge (``raise ... from exc``); the single error boundary in :mod:`lbctl.cli` turns them into
``lbctl: error: <message>`` and ``hint: <hint>`` on stderr and exits with ``exit_code``.
Nothing here prints, and nothing here imports a third-party library.
"""

from __future__ import annotations

import re
import stat
from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes (README, "Exit codes").  Never renumber: scripts depend on them."""

    OK = 0
    #: The answer is "no": a diff exists, doctor found failures, a probe found the IP in use,
    #: a batch finished with failures.  Like ``diff`` and ``kubectl diff``.
    NO = 1
    #: Bad input: unknown flag, malformed address, selector or file.
    USAGE = 2
    #: A named thing does not exist: pool, Service, ConfigMap, interface.
    NOT_FOUND = 3
    #: Well-formed, but lbctl refuses: it would be unsafe, inconsistent, or lose data
    #: (overlapping pools, a pool still in use, an invalid state document, an IP held by another
    #: Service, a pool exhausted).
    REFUSED = 4
    #: Someone else changed the same object at the same time, and retrying did not help.
    CONFLICT = 5
    #: Not allowed: 401/403 from the API server, no CAP_NET_RAW.
    PERMISSION = 6
    #: The API server cannot be reached, or there is no cluster configuration at all.
    UNREACHABLE = 7
    #: The setting lives somewhere lbctl cannot change (k3s/RKE2 kube-proxy flags).
    ELSEWHERE = 8
    #: A bug in lbctl: an exception nobody translated.
    INTERNAL = 70
    #: The reader of the output went away (a closed pipe: ``lbctl ... | head -1``): lbctl
    #: stops at once, silently, and the process ends by SIGPIPE as coreutils' and kubectl's
    #: do (a shell reports 128 + 13).
    PIPE = 141


class LbctlError(Exception):
    """Base class: a one-line message, a one-line hint, and an exit code."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def logged(self) -> str:
        """The message and its hint on one line: what a long-running command logs."""
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class UsageError(LbctlError):
    exit_code = ExitCode.USAGE


class NotFoundError(LbctlError):
    exit_code = ExitCode.NOT_FOUND


class RefusedError(LbctlError):
    exit_code = ExitCode.REFUSED


class ConflictError(LbctlError):
    exit_code = ExitCode.CONFLICT


class ExpiredError(ConflictError):
    """A watch asked to resume from a ``resourceVersion`` the API server no longer remembers
    (410 Gone): the watcher lists again and resumes from the new list's version."""


class PermissionDeniedError(LbctlError):
    exit_code = ExitCode.PERMISSION


class UnreachableError(LbctlError):
    exit_code = ExitCode.UNREACHABLE


class NoClusterConfigError(UnreachableError):
    """No kubeconfig and no in-cluster service account: there is no cluster to talk to."""


class ElsewhereError(LbctlError):
    exit_code = ExitCode.ELSEWHERE


class OutputClosedError(LbctlError):
    """Nobody reads the output any more (EPIPE): nothing left to say, and nowhere to say it."""

    exit_code = ExitCode.PIPE


class InvalidStateError(RefusedError):
    """The stored state document cannot be trusted; mutating commands never overwrite it."""


# --- secrets -------------------------------------------------------------------------------
#
# The adapters register every credential they read (bearer tokens, passwords, client keys); the
# error boundary passes every message and every ``--debug`` traceback through :func:`redact`, so
# that neither lbctl's words nor a library's exception text ever shows one.  Process-wide on
# purpose: a secret read once must stay hidden from any later message, whoever builds it.

_SECRETS: set[str] = set()
_SCHEMES = frozenset({"bearer", "basic"})
#: A secret at least this long is hidden wherever it appears.  A shorter one ("pw") would also
#: hide every word that holds its letters, so it is hidden where a message labels it (below).
SHORT = 4
_SHORT: set[str] = set()
#: Where a message labels a value as a credential: ``password: pw``, ``md5-password "pw";``,
#: ``--password=pw``, ``token pw``, ``Basic pw``, and the password of ``scheme://user:pw@host``.
_LABELLED = (
    r"""(?ix)
    (?: \b(?:md5[-_ ]?)?pass(?:word|wd)\b | \bmd5\b | \btoken\b | \bsecret\b | \bbasic\b
        | \bbearer\b ) ["']? \s* [:=]? \s* ["']? (?P<value>[^\s"',;}\]]+)
    | :// [^/\s:@]* : (?P<userinfo>[^/\s@]+) @""")


def keep_secret(value: str) -> None:
    """Never show ``value`` (nor its longer whitespace-separated parts: the token of
    ``Bearer <token>``) in a message; a value shorter than :data:`SHORT` where a message
    labels it as a credential."""
    whole = value.strip()
    if len(whole) >= SHORT:
        _SECRETS.add(whole)
    elif whole:
        _SHORT.add(whole)
    for part in value.split():
        if len(part) >= 8 and part.lower() not in _SCHEMES:
            _SECRETS.add(part)


def _hide_short(match: re.Match[str]) -> str:
    group = "value" if match.group("value") is not None else "userinfo"
    if match.group(group) not in _SHORT:
        return match.group(0)
    start, end = match.span(group)
    return match.string[match.start():start] + "***" + match.string[end:match.end()]


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    if _SHORT:
        text = re.sub(_LABELLED, _hide_short, text)
    return text


_FILE_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
}


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, for messages: ``a named pipe``, ``a directory``
    (``mode`` is ``st_mode``).  Every reader that refuses such a file words it alike."""
    return _FILE_KINDS.get(stat.S_IFMT(mode), "not a regular file")
