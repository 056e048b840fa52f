"""The Service a command names: ``svc NAME`` or ``svc/NAME``, kubectl's spellings (``assign``,
``adopt``, ``release``, ``svc show``, ``svc check``); their completion is in
:mod:`lbctl.cli.complete`.  A malformed target is a :class:`~lbctl.errors.UsageError` with an
example of the command that names it right."""

from __future__ import annotations

from collections.abc import Sequence

from lbctl.errors import UsageError

KINDS = ("svc", "service", "services")


def service_name(args: Sequence[str], command: str, *, optional: bool = False) -> str | None:
    """The NAME of ``svc NAME`` or ``svc/NAME`` (kubectl's spellings); with ``optional``, a bare
    ``svc`` (for ``--all``) gives None.  ``command`` (``assign``, ``svc show``) is what the
    hint shows how to use."""
    words = list(args)
    if len(words) == 1 and "/" in words[0]:
        words = words[0].split("/", 1)
    if words and words[0] in KINDS:
        if len(words) == 2 and words[1]:
            return words[1]
        if len(words) == 1 and optional:
            return None
    raise UsageError(
        f"expected svc NAME or svc/NAME, not {' '.join(args) or 'nothing'}",
        hint=f"example: lbctl {command} svc/web -n shop"
             + (f", or lbctl {command} --all -A" if optional else ""),
    )
