"""``lbctl release``: take a LoadBalancer Service's address back.

Parses ``svc NAME``, makes one call into :func:`lbctl.actions.services.release` (which clears
the status before the state forgets, so the address is never free while still published), and
prints the outcome line on stdout and any note on stderr.  Errors (not in the state: 3,
forbidden: 6, unreachable: 7) pass through to the error boundary in :mod:`lbctl.cli.main`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from lbctl.cli import complete, render
from lbctl.cli.context import Output, app_of, command
from lbctl.cli.targets import service_name
from lbctl.errors import ExitCode

FORMATS = (Output.table, Output.json, Output.yaml, Output.name)


def register(root: typer.Typer) -> None:
    """Add ``lbctl release`` to the root command."""
    command(root, "release", no_args_is_help=True)(release)


def release(
    ctx: typer.Context,
    target: Annotated[list[str], typer.Argument(
        metavar="svc NAME | svc/NAME", help="The Service (in -n NS).", show_default=False,
        autocompletion=complete.service_target)],
    hold: Annotated[bool, typer.Option(
        "--hold", help="Keep the address reserved for this namespace/name, so that a Service "
                       "deleted and created again gets it back.")] = False,
    hold_for: Annotated[str | None, typer.Option(
        "--hold-for", metavar="DURATION",
        help="Hold it for this long only (30m, 1h, 7d; implies --hold); afterwards the "
             "address is free. On a held Service: a new end for the hold.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Also withdraw addresses the status shows that lbctl did not record "
                        "(published by another controller, or stale).")] = False,
) -> int:
    """Take a Service's address back.

    Clears it from status.loadBalancer.ingress first, then forgets it in the state (or, with
    --hold, keeps it reserved for the same namespace/name).  Works for a Service that no
    longer exists.  With --state FILE and no kubeconfig (a GitOps repository) only the state
    file changes: there is no status to withdraw.  A Service of type LoadBalancer that still
    exists is pending afterwards, and lbctl reconcile (or assign --all) gives it an address
    again.  An address the status shows that lbctl did not record is left as it is, unless
    --force: then it is withdrawn too (lbctl adopt svc NAME records it instead).

    Examples:

    \b
      lbctl release svc web -n shop --hold
      lbctl release svc web -n shop --hold-for 1h
      lbctl release svc old -n shop --force
    """
    from lbctl.actions import services as actions
    from lbctl.core.holds import parse_duration

    app = app_of(ctx)
    output = app.require_output(*FORMATS)
    name = service_name(target, "release")
    assert name is not None
    duration = parse_duration(hold_for) if hold_for is not None else None
    hold = hold or duration is not None
    result = actions.release(app.kube_unless_offline(), app.store(), app.namespace, name,
                             hold=hold, hold_for=duration, force=force, now=app.now(),
                             dry_run=app.options.dry_run)
    verb = (actions.UNCHANGED if result.unchanged else actions.HELD if hold
            else actions.RELEASED)
    if output is Output.name:
        render.names(app.out, [f"service/{result.name}"])
        return ExitCode.OK
    if output is not Output.table:
        render.document(app.out, {
            "kind": "Release", "namespace": result.namespace, "name": result.name,
            "result": verb, "dryRun": app.options.dry_run, "ips": list(result.record.ips),
            "pool": result.record.pool, "withdrawn": result.withdrawn, "orphan": result.orphan,
            **({"expires": result.record.expires} if result.record.expires else {}),
        }, output.value)
        return ExitCode.OK
    ips = ", ".join(result.record.ips)
    until = f" until {result.record.expires}" if result.record.expires else ""
    line = {
        actions.UNCHANGED: f"service/{name} unchanged: {ips} already held{until}",
        actions.HELD: f"service/{name} released {ips}, held for {app.namespace}/{name}{until}",
        actions.RELEASED: f"service/{name} released {ips}",
    }[verb]
    if result.forced:
        line = f"service/{name} withdrew {ips} (not recorded in the state)"
    render.outcomes(app.out, [line], dry_run=app.options.dry_run)
    if result.offline:
        render.say(app.err, f"no cluster: only {app.store().location} changed")
    if result.orphan:
        render.say(app.err, f"service {app.namespace}/{name} no longer exists; its address was "
                            "only in the state")
    if result.left:
        render.warn(app.err, f"its status shows {', '.join(result.left)}, which lbctl did not "
                             "record; left as it is")
    return ExitCode.OK
