"""``lbctl pool``: address pools (add, list, show, remove, reserve, unreserve).

Each command parses its arguments, makes one call into :mod:`lbctl.actions.pools`, and renders
the result.  Mutating commands print ``pool/NAME <verb>`` to stdout (kubectl's convention) and,
with ``--dry-run``, the diff of the state document they would write.

Like every command module, this one imports actions and the core inside the command bodies, so
``lbctl --help`` and shell completion never pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from lbctl.cli import render
from lbctl.cli.context import App, Output, app_of, command

if TYPE_CHECKING:
    from lbctl.actions.pools import PoolView
    from lbctl.core.state import Allocation, Pool
    from lbctl.state.store import Applied

app = typer.Typer(
    help="Manage address pools: the IPs lbctl may give to LoadBalancer Services.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


TABLE_FORMATS = (Output.table, Output.wide, Output.json, Output.yaml, Output.name)
DOC_FORMATS = (Output.table, Output.json, Output.yaml)


def _pool_doc(view: PoolView, *, details: bool) -> dict[str, Any]:
    pool = view.pool
    doc: dict[str, Any] = {
        "name": pool.name,
        "addresses": list(pool.addresses),
        "autoAssign": pool.auto_assign,
        "avoidBuggyIPs": pool.avoid_buggy_ips,
        "namespaces": list(pool.namespaces),
        "serviceSelectors": list(pool.service_selectors),
        "priority": pool.priority,
        "reservations": dict(pool.reservations),
        "usage": [
            {"family": u.family, "used": u.used, "free": u.free, "capacity": u.capacity}
            for u in view.usage
        ],
    }
    if details:
        doc["allocations"] = [_record_doc(a) for a in view.allocations]
        doc["holds"] = [_record_doc(a) for a in view.holds]
    return doc


def _record_doc(record: Allocation) -> dict[str, Any]:
    return {
        "namespace": record.namespace,
        "name": record.name,
        "ips": list(record.ips),
        "sharingKey": record.sharing_key,
    }


def _report(app: App, applied: Applied[Pool], verb: str) -> None:
    """kubectl-style outcome line, and with --dry-run the diff of the state document."""
    from lbctl.actions.pools import views
    from lbctl.core.state import encode

    pool = applied.result
    if app.output in (Output.json, Output.yaml):
        view = views(applied.after if pool.name in applied.after.pools else applied.before,
                             [pool.name])[0]
        render.document(app.out, _pool_doc(view, details=False), app.output.value)
        return
    if app.options.dry_run:
        render.diff(app.out, encode(applied.before), encode(applied.after), "state")
    suffix = " (dry run)" if app.options.dry_run else "" if applied.written else " (unchanged)"
    render.names(app.out, [f"pool/{pool.name} {verb}{suffix}"])


@command(app, "add", exclude=("namespace",))
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Pool name (lower case, digits, '-', '.').",
                                        metavar="NAME")],
    addresses: Annotated[list[str], typer.Argument(
        help="CIDRs (192.0.2.0/28), ranges (192.0.2.10-192.0.2.49) or single addresses; "
             "IPv4 and IPv6 may be mixed.", metavar="ADDRESS...")],
    no_auto_assign: Annotated[bool, typer.Option(
        "--no-auto-assign", help="Serve only Services that ask for this pool or one of its "
                                 "addresses.")] = False,
    avoid_buggy_ips: Annotated[bool, typer.Option(
        "--avoid-buggy-ips", help="Never hand out IPv4 addresses ending in .0 or .255.")] = False,
    namespaces: Annotated[list[str] | None, typer.Option(
        "-n", "--namespace", metavar="NS",
        help="Serve only Services in this namespace (repeatable).")] = None,
    selectors: Annotated[list[str] | None, typer.Option(
        "--selector", "-l", metavar="SELECTOR",
        help="Serve only Services whose labels match (kubectl syntax: app=web,tier!=db). "
             "Repeat for alternatives: any one may match.")] = None,
    priority: Annotated[int | None, typer.Option(
        "--priority", help="Pools are tried by priority, lower first; pools without one "
                           "come last, then by name.")] = None,
) -> None:
    """Add an address pool.

    Example: lbctl pool add default 192.168.1.30-192.168.1.49 --state ./lb.yaml
    """
    from lbctl.actions import pools as actions
    from lbctl.core.pools import make_pool

    app = app_of(ctx)
    app.require_output(*DOC_FORMATS)
    pool = make_pool(
        name, addresses, auto_assign=not no_auto_assign, avoid_buggy_ips=avoid_buggy_ips,
        namespaces=namespaces or (), selectors=selectors or (), priority=priority,
    )
    _report(app, actions.add(app.store(), pool, dry_run=app.options.dry_run), "created")


@command(app, "list")
def list_(
    ctx: typer.Context,
    no_headers: Annotated[bool, typer.Option("--no-headers", help="Omit the header row.")] = False,
) -> None:
    """List pools with their addresses and how full they are.

    Example: lbctl pool list -o wide
    """
    from lbctl.actions.pools import views as pool_views

    app = app_of(ctx)
    output = app.require_output(*TABLE_FORMATS)
    views = pool_views(app.store().load())
    if output in (Output.json, Output.yaml):
        doc = {"kind": "PoolList", "items": [_pool_doc(v, details=False) for v in views]}
        render.document(app.out, doc, output.value)
        return
    if output is Output.name:
        render.names(app.out, [f"pool/{v.pool.name}" for v in views])
        return
    headers = ["name", "addresses", "auto", "used", "free", "utilisation"]
    if output is Output.wide:
        headers += ["priority", "avoid-buggy", "namespaces", "selectors", "reserved"]
    rows = []
    for view in views:
        pool = view.pool
        used = sum(u.used for u in view.usage)
        capacity = sum(u.capacity for u in view.usage)
        row: list[render.Cell] = [
            pool.name, ",".join(pool.addresses), "yes" if pool.auto_assign else "no",
            render.count(used), render.count(capacity - used), render.bar(used, capacity),
        ]
        if output is Output.wide:
            row += [
                "-" if pool.priority is None else str(pool.priority),
                "yes" if pool.avoid_buggy_ips else "no",
                ",".join(pool.namespaces) or "*",
                " | ".join(pool.service_selectors) or "*",
                str(len(pool.reservations)),
            ]
        rows.append(row)
    if not rows:
        render.say(app.err, f"no pools in {app.store().location}; add one with lbctl pool add")
        return
    render.table(app.out, headers, rows, no_headers=no_headers)


@command(app, "show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Pool name.", metavar="NAME")],
) -> None:
    """Show one pool: its entries, usage per family, allocations, holds and reservations.

    Example: lbctl pool show default
    """
    from lbctl.actions.pools import views

    app = app_of(ctx)
    output = app.require_output(*DOC_FORMATS)
    view = views(app.store().load(), [name])[0]
    if output is not Output.table:
        render.document(app.out, _pool_doc(view, details=True), output.value)
        return
    pool = view.pool
    facts = [
        ("Name", pool.name),
        ("Addresses", ", ".join(pool.addresses)),
        ("Auto assign", "yes" if pool.auto_assign else "no (explicit requests only)"),
        ("Avoid buggy IPs", "yes" if pool.avoid_buggy_ips else "no"),
        ("Priority", "-" if pool.priority is None else str(pool.priority)),
        ("Serves", pool.scope()),
    ] + [
        (f"{u.family}", f"{render.count(u.used)} used, {render.count(u.free)} free of "
                        f"{render.count(u.capacity)}")
        for u in view.usage
    ]
    render.table(app.out, ["", ""], [[f"{k}:", v] for k, v in facts], no_headers=True)
    sections: list[tuple[str, list[str], list[list[render.Cell]]]] = [
        ("Allocations", ["service", "ips", "sharing key"],
         [[a.ref, ",".join(a.ips), a.sharing_key or "-"] for a in view.allocations]),
        ("Holds", ["service", "ips"], [[a.ref, ",".join(a.ips)] for a in view.holds]),
        ("Reservations", ["ip", "note"],
         [[ip, note or "-"] for ip, note in sorted(pool.reservations.items())]),
    ]
    for title, headers, rows in sections:
        render.say(app.out, "")
        render.say(app.out, f"{title}: {len(rows) or 'none'}")
        if rows:
            render.table(app.out, headers, rows)


@command(app, "remove")
def remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Pool name.", metavar="NAME")],
) -> None:
    """Remove a pool.  Refused while any of its addresses is allocated or held.

    Example: lbctl pool remove old --dry-run
    """
    from lbctl.actions import pools as actions

    app = app_of(ctx)
    app.require_output(*DOC_FORMATS)
    _report(app, actions.remove(app.store(), name, dry_run=app.options.dry_run), "deleted")


@command(app, "reserve")
def reserve(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Pool name.", metavar="NAME")],
    ips: Annotated[list[str], typer.Argument(help="Addresses to keep out of allocation.",
                                             metavar="IP...")],
    note: Annotated[str, typer.Option("--note", help="Why (shown by pool show).")] = "",
) -> None:
    """Reserve addresses of a pool so that they are never handed out.

    For a router, a printer, or a VIP managed elsewhere.

    Example: lbctl pool reserve default 192.168.1.31 --note "edge router"
    """
    from lbctl.actions import pools as actions

    app = app_of(ctx)
    app.require_output(*DOC_FORMATS)
    applied = actions.reserve(app.store(), name, ips, note, dry_run=app.options.dry_run)
    _report(app, applied, "reserved " + ",".join(ips))


@command(app, "unreserve")
def unreserve(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Pool name.", metavar="NAME")],
    ips: Annotated[list[str], typer.Argument(help="Reserved addresses to free.",
                                             metavar="IP...")],
) -> None:
    """Undo pool reserve: the addresses may be handed out again.

    Example: lbctl pool unreserve default 192.168.1.31
    """
    from lbctl.actions import pools as actions

    app = app_of(ctx)
    app.require_output(*DOC_FORMATS)
    applied = actions.unreserve(app.store(), name, ips, dry_run=app.options.dry_run)
    _report(app, applied, "unreserved " + ",".join(ips))
