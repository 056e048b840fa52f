"""``lbctl assign``: give LoadBalancer Services their addresses — on the cluster, or in
manifests (GitOps).

Parses the target (``svc NAME``, ``svc/NAME``, ``svc --all``, or ``-f PATH``), makes one call
into :mod:`lbctl.actions.services`, and renders: the outcome line (``service/web assigned ...``)
or the batch summary table on stdout, warnings and progress on stderr.  With ``-f`` the
manifests are the data: they go to stdout (or back to their files with ``--in-place``) and the
summary goes to stderr.  This module also reads and writes those files: reading is the
command's input, writing is atomic (temporary file, then rename), and only changed files are
written.

Exit codes: 0 when every Service got its address; 1 when a batch (``--all``, ``-f``) finished
with failures (the others were assigned); the error's own code when a single Service fails.
Errors are :mod:`lbctl.errors` classes (file problems translated here), handled by the error
boundary in :mod:`lbctl.cli.main`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from lbctl.cli import complete, render
from lbctl.cli.batch import BATCH_FORMATS, render_batch
from lbctl.cli.context import App, Output, app_of, command
from lbctl.cli.targets import service_name
from lbctl.errors import ExitCode, UsageError


def register(root: typer.Typer) -> None:
    """Add ``lbctl assign`` to the root command."""
    command(root, "assign", no_args_is_help=True)(assign)


def assign(
    ctx: typer.Context,
    target: Annotated[list[str] | None, typer.Argument(
        metavar="[svc NAME | svc/NAME]", show_default=False,
        autocompletion=complete.service_target, help="The Service (in -n NS).")] = None,
    ips: Annotated[list[str] | None, typer.Option(
        "--ip", metavar="IP", help="Ask for this address (repeat for one IPv4 and one IPv6). "
                                   "Must agree with the Service's own request, if any.")] = None,
    pool: Annotated[str | None, typer.Option(
        "--pool", metavar="POOL", help="Take the address from this pool. Must agree with the "
                                       "Service's own request, if any.")] = None,
    all_pending: Annotated[bool, typer.Option(
        "--all", help="Every Service in -n NS (or -A) whose status shows no address.")] = False,
    files: Annotated[list[str] | None, typer.Option(
        "-f", "--filename", metavar="PATH",
        help="Manifests instead of the cluster: a file, a directory (*.yaml, *.yml, *.json, "
             "recursively) or - for stdin. Repeatable.")] = None,
    in_place: Annotated[bool, typer.Option(
        "--in-place", help="With -f: write the pinned manifests back to their files instead "
                           "of stdout.")] = False,
    prune: Annotated[bool, typer.Option(
        "--prune", help="With -f: forget the allocations of Services that are no longer in "
                        "the manifests (give all of them; --dry-run lists them).")] = False,
) -> int:
    """Give LoadBalancer Services their external addresses.

    On the cluster: check that the Service exists, is of type LoadBalancer and of no other
    loadBalancerClass; take the address the Service asks for (--ip/--pool, the
    metallb.io/loadBalancerIPs and metallb.io/address-pool annotations, also under
    metallb.universe.tf/, kube-vip.io/loadbalancerIPs, lbipam.cilium.io/ips,
    spec.loadBalancerIP; they must agree, or the Service is refused; else the first free
    address); record it in
    the state, then publish it in status.loadBalancer.ingress, then record an Event
    (IPAllocated, or AllocationFailed with the reason).  Running it again changes nothing.
    --all does every Service whose status shows no address, in one state transaction, records
    an Event only where a Service got no address, and exits 1 if some failed (the others are
    assigned).

    With -f: the same, for the Services in manifests, and the address is pinned in the
    annotation metallb.io/loadBalancerIPs (spec.loadBalancerIP is deprecated since Kubernetes
    1.24 and cannot hold two families; MetalLB and lbctl both read the annotation).  Only that
    annotation changes; comments, order and quoting are kept.  Use --state to work without a
    cluster.  The state file, among the manifests, is left out.  The summary goes to stderr (with
    --in-place and -o json|yaml, the AssignmentList document goes to stdout).  The manifests
    are the intent: an address pinned by hand that differs from the state moves the
    allocation when it is valid and free (otherwise the Service keeps its address and the
    reason is shown); --prune forgets the allocations of Services no longer in the manifests.

    Examples:

    \b
      lbctl assign svc web -n shop --ip 192.0.2.10
      lbctl assign --all -A
      lbctl assign -f deploy/ --state ./lb.yaml --in-place
      lbctl assign -f deploy/ --state ./lb.yaml --in-place -o json
      lbctl assign -f deploy/ --state ./lb.yaml --in-place --prune --dry-run
    """
    app = app_of(ctx)
    if files:
        if target or ips or pool or all_pending:
            raise UsageError("-f assigns the Services in the manifests; give no Service, --ip, "
                             "--pool or --all with it", hint="lbctl assign -f PATH --state FILE")
        app.require_output(*BATCH_FORMATS)
        return _manifests(app, files, in_place=in_place, prune=prune)
    if in_place or prune:
        raise UsageError(f"{'--in-place' if in_place else '--prune'} goes with -f",
                         hint="lbctl assign -f PATH --state FILE --in-place --prune")
    name = None if all_pending and not target else service_name(target or [], "assign",
                                                                    optional=all_pending)
    if name is None:
        if ips or pool:
            raise UsageError("--all assigns every pending Service as it asks; give no --ip or "
                             "--pool", hint="lbctl assign --all -n NS (or -A)")
        return _all_pending(app)
    if all_pending:
        raise UsageError("--all assigns every pending Service; give no NAME",
                         hint="lbctl assign --all -n NS (or -A)")
    return _one(app, name, ips or [], pool)


def _one(app: App, name: str, ips: list[str], pool: str | None) -> int:
    from lbctl.actions import services as actions
    from lbctl.core.service import flag_ips

    output = app.require_output(*BATCH_FORMATS)
    ips = list(flag_ips(ips))  # a bad address is a usage error before any cluster is asked
    result = actions.assign(app.kube(), app.store(), app.namespace, name, ips=ips, pool=pool,
                            dry_run=app.options.dry_run, now=app.now(), warn=app.warn)
    allocation = result.allocation
    if output is Output.name:
        render.names(app.out, [f"service/{result.name}"])
        return ExitCode.OK
    if output is not Output.table:
        render.document(app.out, {
            "kind": "Assignment", "namespace": result.namespace, "name": result.name,
            "result": result.result, "dryRun": app.options.dry_run, "ips": list(allocation.ips),
            "pool": allocation.pool}, output.value)
        return ExitCode.OK
    what = f"{', '.join(allocation.ips)} (pool {allocation.pool})"
    line = (f"service/{name} unchanged: already {what}" if result.result == actions.UNCHANGED
            else f"service/{name} {result.result} {what}")
    render.outcomes(app.out, [line], dry_run=app.options.dry_run)
    return ExitCode.OK


def _all_pending(app: App) -> int:
    from lbctl.actions import services as actions

    app.require_output(*BATCH_FORMATS)
    namespace = None if app.options.all_namespaces else app.namespace
    with render.progress(app.err, "assigning") as progress:
        batch = actions.assign_all(app.kube(), app.store(), namespace,
                                   dry_run=app.options.dry_run, now=app.now(), warn=app.warn,
                                   progress=progress)
    return render_batch(app, batch, "AssignmentList")


# --------------------------------------------------------------------------- manifests


def _manifests(app: App, paths: list[str], *, in_place: bool, prune: bool) -> int:
    from lbctl.actions.services import assign_manifests
    from lbctl.cli.inputs import read_sources
    from lbctl.core.textdiff import unified_diff
    from lbctl.state.file import write_atomically

    if in_place and "-" in paths:
        raise UsageError("--in-place cannot write to stdin", hint="give file or directory paths")
    sources = read_sources(paths)
    rewritten, batch = assign_manifests(app.store(), sources, namespace=app.namespace,
                                        now=app.now(), prune=prune,
                                        dry_run=app.options.dry_run, in_place=in_place,
                                        warn=app.warn)
    if in_place:
        for item in rewritten:
            if not item.changed:
                continue
            if app.options.dry_run:
                render.diff(app.out, unified_diff(item.source.text, item.text,
                                                  item.source.name.lstrip("/")))
            else:
                write_atomically(item.source.name, item.text)
                render.say(app.err, f"{item.source.name}: written")
    else:
        many = len(rewritten) > 1
        for number, item in enumerate(rewritten):
            if many:
                app.out.file.write(("---\n" if number else "") + f"# Source: {item.source.name}\n")
            app.out.file.write(item.text)
            if many and item.text and not item.text.endswith("\n"):
                app.out.file.write("\n")
        app.out.file.flush()
    # The manifests own stdout; the summary goes to stderr, unless it is a document (-o json or
    # yaml) and the manifests went back to their files.
    document = app.output is not Output.table
    return render_batch(app, batch, "AssignmentList",
                        console=app.out if in_place and document else app.err)
