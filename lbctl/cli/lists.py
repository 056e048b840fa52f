"""The one shape of the list commands (``svc list``, ``pool list``, ``bgp peer list``, ``hold
list``), kubectl's.

``-o json|yaml`` prints ``{"kind": KIND, "items": [ITEM, ...]}``; ``-o name`` one ``TYPE/NAME`` a
line; the table one row per item (or more: ``pool list`` has one per IP family) under upper-case
headers, ``-o wide`` adding columns at the end, ``--no-headers`` dropping the header row.  An
empty list prints no table but a line on stderr that says where nothing was found; the machine
formats print their empty shapes.  Each command says what an item is and which formats it takes
(``App.require_output``); this module shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from lbctl.cli import render
from lbctl.cli.context import App, Output

if TYPE_CHECKING:
    from lbctl.cli.render import Cell

T = TypeVar("T")


def show(app: App, output: Output, items: Sequence[T], *, kind: str,
         doc: Callable[[T], dict[str, Any]], name: Callable[[T], str], empty: str,
         headers: Sequence[str], rows: Callable[[T, bool], Iterable[Sequence[Cell]]],
         wide: Sequence[str] = ()) -> None:
    """Show ``items`` in ``output``: as ``{"kind": kind, "items": [doc(item), ...]}``, as
    ``name(item)`` lines, or as the table of ``headers`` (and, with ``-o wide``, ``wide``) whose
    rows ``rows(item, wide)`` gives; ``empty`` (to stderr) when a table would have no row."""
    if output in (Output.json, Output.yaml):
        render.document(app.out, {"kind": kind, "items": [doc(item) for item in items]},
                        output.value)
        return
    if output is Output.name:
        render.names(app.out, [name(item) for item in items])
        return
    if not items:
        render.say(app.err, empty)
        return
    is_wide = output is Output.wide
    app.table([*headers, *wide] if is_wide else headers,
              [row for item in items for row in rows(item, is_wide)])
