"""Dynamic shell completion, only where it is cheap: names read from the local state file.

Completion runs on every TAB, so it must answer in well under a second and never print an error.
With ``--state PATH`` (or ``LBCTL_STATE``) the state document is a local read: pool names, and
the namespaces that hold allocations (for ``-n``), complete from it.  On a cluster each TAB would
import the Kubernetes client and ask the API server (most of a second, or a hang when the cluster
is down), so nothing is completed there.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import typer

from lbctl.errors import LbctlError

if TYPE_CHECKING:
    from lbctl.core.state import State


def _option(ctx: typer.Context, name: str) -> str | None:
    """A global option's value from this command or any parent (completion parses leniently
    and runs no callbacks, so the App does not exist yet)."""
    current = ctx
    while True:
        value = current.params.get(name)
        if value:
            return str(value)
        if current.parent is None:
            return None
        current = current.parent  # type: ignore[assignment]


def _local_state(ctx: typer.Context) -> State | None:
    path = _option(ctx, "state") or os.environ.get("LBCTL_STATE")
    if not path:
        return None
    from lbctl.core.state import decode
    from lbctl.state.file import FileBackend

    try:
        text, _ = FileBackend(path).read()
        return decode(text, path)
    except LbctlError:
        return None


def pool_names(ctx: typer.Context, incomplete: str) -> list[str]:
    state = _local_state(ctx)
    return sorted(n for n in (state.pools if state else ()) if n.startswith(incomplete))


def namespaces(ctx: typer.Context, incomplete: str) -> list[str]:
    state = _local_state(ctx)
    found = {ns for ns, _ in [*state.allocations, *state.holds]} if state else set()
    return sorted(n for n in found if n.startswith(incomplete))
