"""``lbctl hold``: the addresses kept for Services released with ``--hold`` (list).

A hold keeps a released Service's addresses for a Service of the same namespace/name (a
re-created Deployment, a blue/green switch).  ``release --hold-for 1h`` gives it an end; a hold
whose end has passed is free (:mod:`lbctl.core.holds`), and this list says so.

``hold list -o json``::

    {"kind": "HoldList", "items": [{"namespace", "name", "ips": [...], "pool",
      "expires": "2025-01-31T12:00:00Z" | null, "expired": false}]}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from lbctl.cli import lists
from lbctl.cli.context import Output, app_of, command, group

if TYPE_CHECKING:
    from lbctl.core.state import Allocation

app = group("Addresses held for released Services (release --hold): list them.")

FORMATS = (Output.table, Output.json, Output.yaml, Output.name)


@command(app, "list")
def list_(ctx: typer.Context) -> None:
    """List the holds: which addresses are kept for which Service, and until when.

    Every namespace unless -n is given (the state is cluster-wide).  A hold whose end has
    passed is shown as expired: its addresses are free, and the next write of the state
    forgets it.

    Example: lbctl hold list -n shop -o json
    """
    from lbctl.core import holds
    from lbctl.core.service import age

    app = app_of(ctx)
    output = app.require_output(*FORMATS)
    store = app.store()
    state = store.load()
    namespace = app.options.namespace
    now = app.now()
    found = [state.holds[key] for key in sorted(state.holds)
             if namespace is None or key[0] == namespace]

    def doc(hold: Allocation) -> dict[str, Any]:
        return {"namespace": hold.namespace, "name": hold.name, "ips": list(hold.ips),
                "pool": hold.pool, "expires": hold.expires or None,
                "expired": holds.expired(hold, now)}

    def until(hold: Allocation) -> str:
        end = holds.ends(hold)
        if end is None:
            return "never"
        if end <= now:
            return f"{hold.expires} (expired: free)"
        return f"{hold.expires} (in {age(now, end)})"

    lists.show(
        app, output, found, kind="HoldList", doc=doc, name=lambda h: f"hold/{h.namespace}/{h.name}",
        empty=f"no holds in {store.location}",
        headers=["namespace", "name", "ips", "pool", "expires"],
        rows=lambda h, wide: [[h.namespace, h.name, ",".join(h.ips), h.pool, until(h)]])
