"""Use cases: one function per thing a user asks for.  They take ports and plain values, run the
pure core inside the state store's compare-and-swap loop, and return results; they never print.
"""

from __future__ import annotations

from collections.abc import Callable

#: Where a use case sends a warning as soon as it is known (the command shows it on stderr).
Warn = Callable[[str], None]


def ignore(message: str) -> None:
    """The default ``warn``: say nothing."""
