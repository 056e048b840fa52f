"""The rules of a ``set`` command's options (``pool set``, ``bgp peer set``), kept once.

An option that sets a list (``--node-selector``) and the one that drops it (``--any-node``)
exclude each other; an empty value (``--node-selector ""``, as an unset shell variable gives)
names nothing and is refused, with the option that drops the list as the way to do that.
Errors are :class:`~lbctl.errors.UsageError` (exit 2); nothing is changed.
"""

from __future__ import annotations

from lbctl.errors import UsageError


def cleared(values: list[str] | None, clear: bool, flag: str, what: str,
            setter: str) -> list[str] | None:
    """``values``, or an empty list when ``clear`` (``--any-node`` and its kind) asks to drop
    them; both at once is a usage error, and so is an empty value (``-n ""``, as an unset
    shell variable gives): it names nothing, and ``flag`` is how to drop them."""
    refuse_both(clear, bool(values), flag, what, setter, "them")
    if values and not all(value.strip() for value in values):
        raise UsageError(f"{setter} is empty",
                         hint=f"to drop {what}, give {flag}; else give {setter} a value")
    return [] if clear else values


def refuse_both(clear: bool, given: bool, flag: str, what: str, setter: str,
                pronoun: str) -> None:
    """A usage error when the option ``flag`` that drops a setting and the option ``setter``
    that sets it are both given."""
    if clear and given:
        raise UsageError(f"{flag} drops {what}; {setter} sets {pronoun}", hint="give one of them")
