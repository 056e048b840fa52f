"""Number options: one validated type for every integer and float an option takes.

Python's ``float()`` accepts ``nan``, ``inf`` and ``1e308``, and ``nan`` passes every ``<``/``>``
check: ``--timeout nan`` waited forever and ``--interval inf`` crashed after sending.  Every
number option is therefore declared with :func:`option`, whose :class:`Number` type accepts only
finite values within ``[minimum, maximum]`` (or above ``minimum`` when it is exclusive), whole
numbers only for integers, and refuses anything else as a usage error (exit 2) that names the
option and the allowed range.  The range is also shown in the option's help.

The limits are part of each command's contract: no negative durations or counts, and nothing
absurd (a timeout of a year is a hang; a billion rounds of gratuitous ARP is a flood).
"""

from __future__ import annotations

import math
from typing import Any

import typer


class Number:
    """Parses a finite ``int`` or ``float`` in a range (``above``: the minimum itself is
    excluded); anything else raises :class:`typer.BadParameter`, which the parser reports as
    ``Invalid value for '--flag': ...`` with exit 2."""

    def __init__(self, kind: type[int] | type[float], minimum: float, maximum: float, *,
                 above: bool = False, unit: str = "") -> None:
        self.kind = kind
        self.minimum = minimum
        self.maximum = maximum
        self.above = above
        self.unit = unit

    def describe(self) -> str:
        """The range in words: ``0.01 to 60 seconds``, ``more than 0 to 60 seconds``."""
        low = f"more than {_plain(self.minimum)}" if self.above else _plain(self.minimum)
        unit = f" {self.unit}" if self.unit else ""
        return f"{low} to {_plain(self.maximum)}{unit}"

    def __call__(self, value: Any) -> int | float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number: int | float = value
        else:
            text = str(value).strip()
            try:
                number = int(text, 10) if self.kind is int else float(text)
            except ValueError:
                what = "a whole number" if self.kind is int else "a number"
                raise typer.BadParameter(f"{value!r} is not {what} "
                                         f"(give {self.describe()})") from None
        if isinstance(number, float) and not math.isfinite(number):
            raise typer.BadParameter(f"{value!r} is not a finite number "
                                     f"(give {self.describe()})")
        too_low = number <= self.minimum if self.above else number < self.minimum
        if too_low or number > self.maximum:
            shown = value.strip() if isinstance(value, str) else value
            raise typer.BadParameter(f"{shown} is out of range (give {self.describe()})")
        return self.kind(number)


def option(*flags: str, kind: type[int] | type[float], minimum: float, maximum: float,
           help: str, metavar: str, above: bool = False, unit: str = "") -> Any:
    """A ``typer.Option`` taking a validated number; its help ends with the allowed range."""
    number = Number(kind, minimum, maximum, above=above, unit=unit)
    return typer.Option(*flags, parser=number, metavar=metavar,
                        help=f"{help} ({number.describe()})")


def seconds(*flags: str, minimum: float = 0.0, maximum: float, help: str,
            above: bool = False) -> Any:
    """A duration in seconds (fractions allowed)."""
    return option(*flags, kind=float, minimum=minimum, maximum=maximum, help=help,
                  metavar="SECONDS", above=above, unit="seconds")


def count(*flags: str, minimum: int = 1, maximum: int, help: str, metavar: str = "N",
          unit: str = "") -> Any:
    """A whole number of things (of ``unit``: whole seconds, say)."""
    return option(*flags, kind=int, minimum=minimum, maximum=maximum, help=help,
                  metavar=metavar, unit=unit)


def _plain(number: float) -> str:
    """``2147483647`` rather than ``2.14748e+09``; ``0.5`` rather than ``0.500000``."""
    return str(int(number)) if float(number).is_integer() else f"{number:g}"
