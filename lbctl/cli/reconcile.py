"""``lbctl reconcile``: one pass that makes the state and the cluster agree.

Makes one call into :func:`lbctl.actions.services.reconcile` and prints what it did (a table,
or ``-o json|yaml`` in the shape of ``assign --all``) on stdout and a count line on stderr.
Exit code 1 when something could not be fixed (a failure, or drift it will not touch); an
error before the pass starts (cluster unreachable, invalid state) has its own code.
"""

from __future__ import annotations

import typer

from lbctl.cli import render
from lbctl.cli.batch import BATCH_FORMATS, render_batch
from lbctl.cli.context import app_of, command


def register(root: typer.Typer) -> None:
    """Add ``lbctl reconcile`` to the root command."""
    command(root, "reconcile")(reconcile)


def reconcile(ctx: typer.Context) -> int:
    """Make the state and the cluster agree, in one pass.

    Repairs what a crash or a deleted Service left behind: assigns pending Services; publishes
    allocations the status does not show (a crash between recording and publishing); releases
    allocations whose Service is gone, no longer of type LoadBalancer or now of another class
    (clearing its status first); and reports, without touching it, a status that shows an
    address the state does not record for that Service.

    Covers every namespace unless -n is given (the state is cluster-wide).  Exits 1 when
    something could not be fixed.

    Example: lbctl reconcile --dry-run
    """
    from lbctl.actions import services as actions

    app = app_of(ctx)
    app.require_output(*BATCH_FORMATS)
    namespace = app.options.namespace if not app.options.all_namespaces else None
    with render.progress(app.err, "reconciling") as progress:
        batch = actions.reconcile(
            app.kube(), app.store(), namespace, dry_run=app.options.dry_run, now=app.now(),
            warn=app.warn, progress=progress)
    return render_batch(app, batch, "ReconcileList")
