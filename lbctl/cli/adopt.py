"""``lbctl adopt``: record the addresses LoadBalancer Services already show (a migration from
MetalLB or another controller), after the checks of an assignment.

Parses ``svc NAME`` / ``svc/NAME`` or ``--all``, makes one call into
:mod:`lbctl.actions.adopt`, and renders the outcome line (``service/np adopted ...``) or the
batch table (the shape of ``assign --all``).  ``-o json``: one Service prints
``{"kind": "Adoption", "namespace", "name", "result", "dryRun", "ips", "pool"}``; ``--all``
prints ``{"kind": "AdoptionList", "dryRun", "items": [...]}`` like ``assign --all``.

Exit codes: 0 when every Service was adopted; 1 when ``--all`` finished with failures; a
single Service's error has its own code (4 when an assignment check refuses it); 4, nothing
adopted, when there is no state document while Services show addresses (no pool yet: ``pool
add --new-state`` first).
"""

from __future__ import annotations

from typing import Annotated

import typer

from lbctl.cli import render
from lbctl.cli.batch import BATCH_FORMATS, render_batch
from lbctl.cli.context import App, Output, app_of, command
from lbctl.cli.targets import service_name
from lbctl.errors import ExitCode, UsageError


def register(root: typer.Typer) -> None:
    """Add ``lbctl adopt`` to the root command."""
    command(root, "adopt", no_args_is_help=True)(adopt)


def adopt(
    ctx: typer.Context,
    target: Annotated[list[str] | None, typer.Argument(
        metavar="[svc NAME | svc/NAME]", show_default=False,
        help="The Service (in -n NS).")] = None,
    every: Annotated[bool, typer.Option(
        "--all", help="Every Service in -n NS (or -A) whose status shows an address the "
                      "state does not record.")] = False,
) -> int:
    """Record the addresses a Service's status already shows.

    For a Service whose status.loadBalancer.ingress shows an address lbctl never recorded
    (MetalLB, or another controller, published it): the address is recorded as the Service's
    allocation after the checks of an assignment — it lies in a pool the Service may use, is
    not reserved or held for another Service, and is shared only as the sharing rules allow.
    Nothing on the cluster changes.  To take such an address away instead: lbctl release svc
    NAME --force.  --all adopts every such Service in one state transaction and exits 1 if
    some were refused (the others are adopted).

    Examples:

    \b
      lbctl adopt svc web -n shop
      lbctl adopt --all -A --dry-run
    """
    app = app_of(ctx)
    output = app.require_output(*BATCH_FORMATS)
    if every:
        if target:
            raise UsageError("--all adopts every Service that shows an unrecorded address; "
                             "give no NAME", hint="lbctl adopt --all -n NS (or -A)")
        return _all(app)
    name = service_name(target or [], "adopt")
    assert name is not None
    return _one(app, name, output)


def _one(app: App, name: str, output: Output) -> int:
    from lbctl.actions import adopt as actions
    from lbctl.actions.services import UNCHANGED

    namespace = app.namespace
    allocation, new = actions.adopt(app.kube(), app.store(), namespace, name, now=app.now(),
                                    dry_run=app.options.dry_run)
    result = actions.ADOPTED if new else UNCHANGED
    if output is not Output.table:
        render.document(app.out, {
            "kind": "Adoption", "namespace": namespace, "name": name, "result": result,
            "dryRun": app.options.dry_run, "ips": list(allocation.ips),
            "pool": allocation.pool}, output.value)
        return ExitCode.OK
    what = f"{', '.join(allocation.ips)} (pool {allocation.pool})"
    line = (f"service/{name} adopted {what}" if new
            else f"service/{name} unchanged: already {what}")
    render.outcomes(app.out, [line], dry_run=app.options.dry_run)
    return ExitCode.OK


def _all(app: App) -> int:
    from lbctl.actions import adopt as actions

    namespace = None if app.options.all_namespaces else app.namespace
    batch = actions.adopt_all(app.kube(), app.store(), namespace, now=app.now(),
                              dry_run=app.options.dry_run)
    return render_batch(app, batch, "AdoptionList")
