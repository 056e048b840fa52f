"""``lbctl svc``: LoadBalancer Services and where each stands (list, show).

Each command parses its arguments, makes one call into :mod:`lbctl.actions.listing` (list) or
:mod:`lbctl.actions.services` (show), and renders: kubectl-style tables (``-o wide`` adds the
nodes with ready endpoints), or the stable ``-o json|yaml`` documents below.  Also home of
what the Service commands share: the ``svc NAME`` / ``svc/NAME`` argument and the clock.

``svc list -o json``::

    {"kind": "ServiceList", "items": [{"namespace", "name", "state", "detail",
      "externalIPs": [...],        # what status.loadBalancer.ingress shows
      "allocated": [...], "pool",  # what the state records ([] and null when nothing)
      "ports": ["80/TCP"], "externalTrafficPolicy", "loadBalancerClass", "creationTimestamp"}]}

``svc show -o json`` is one such item plus ``ipFamilies``, ``ipFamilyPolicy``,
``sharingKey``, ``requested`` (``{"ips", "pool", "source"}``), ``hold`` (addresses or null),
``nodes`` (with ready endpoints), ``why`` (``{"reason", "message"}`` or null), ``wouldGet``
(``{"ips", "pool"}`` or null) and ``controller`` (``{"leader": name or null, "serving": bool}``:
whether a running ``lbctl controller`` serves the Service).

Errors from the action (Service not found: 3; cluster unreachable: 7) pass through to the error
boundary in :mod:`lbctl.cli.main`; this module only raises :class:`~lbctl.errors.UsageError`
for a malformed ``svc NAME``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lbctl.cli import complete, lists, numbers, render
from lbctl.cli.context import App, Output, app_of, command, group
from lbctl.cli.targets import service_name
from lbctl.errors import UsageError

if TYPE_CHECKING:
    from lbctl.actions.leases import Serving
    from lbctl.actions.listing import ServiceView
    from lbctl.core.service import Asked

app = group("LoadBalancer Services: their external IPs, pool, and whether the state agrees.")

LIST_FORMATS = (Output.table, Output.wide, Output.json, Output.yaml, Output.name)
DOC_FORMATS = (Output.table, Output.json, Output.yaml, Output.name)


def _item(view: ServiceView) -> dict[str, Any]:
    from lbctl.core import service as core

    svc = view.svc
    namespace, name = view.key
    return {
        "namespace": namespace,
        "name": name,
        "state": view.condition.state,
        "detail": view.condition.detail,
        "externalIPs": list(core.ingress_ips(svc)),
        "allocated": list(view.allocation.ips) if view.allocation else [],
        "pool": view.allocation.pool if view.allocation else None,
        "ports": core.port_list(svc),
        "externalTrafficPolicy": core.traffic_policy(svc),
        "loadBalancerClass": core.lb_class(svc),
        "creationTimestamp": (svc.get("metadata") or {}).get("creationTimestamp"),
    }


@command(app, "list")
def list_(
    ctx: typer.Context,
    selector: Annotated[str | None, typer.Option(
        "-l", "--selector", metavar="SELECTOR",
        help="Only Services whose labels match (kubectl syntax: app=web,tier!=db).")] = None,
) -> None:
    """List Services of type LoadBalancer: external IPs, pool, ports, traffic policy, age, and a
    state: assigned, pending, drift (the status and the state disagree; see svc show) or
    foreign (another loadBalancerClass).  -o wide adds the nodes with ready endpoints: for
    externalTrafficPolicy Local, the only nodes that may announce the address.

    Example: lbctl svc list -A -o wide

    Example: lbctl svc list -n shop -l app=web --no-headers
    """
    from lbctl.actions.listing import list_services

    app = app_of(ctx)
    output = app.require_output(*LIST_FORMATS)
    if selector is not None:
        from lbctl.core.selectors import parse_selector

        parse_selector(selector)  # a malformed selector is a usage error, before any request
    namespace = None if app.options.all_namespaces else app.namespace
    # The store is opened (and the state's codec imported) while the LIST is on its way.
    views = list_services(app.kube(), app.store, namespace, with_nodes=output is Output.wide,
                          selector=selector)
    from lbctl.core import service as core

    every = namespace is None
    clock = app.now()

    def rows(view: ServiceView, wide: bool) -> list[list[render.Cell]]:
        svc = view.svc
        row: list[render.Cell] = [
            view.key[1],
            ",".join(core.ingress_ips(svc)) or "<pending>",
            view.allocation.pool if view.allocation else "-",
            ",".join(core.port_list(svc)) or "<none>",
            core.traffic_policy(svc),
            core.age(core.created(svc), clock),
            view.condition.state,
        ]
        if every:
            row.insert(0, view.key[0])
        if wide:
            row.append(",".join(view.nodes or ()) or "<none>")
        return [row]

    where = "any namespace" if every else f"namespace {namespace}"
    matching = f" matching {selector}" if selector else ""
    lists.show(
        app, output, views, kind="ServiceList", doc=_item, name=lambda v: f"service/{v.key[1]}",
        empty=f"No LoadBalancer Services{matching} found in {where}.",
        headers=[*(["namespace"] if every else []), "name", "external-ip", "pool", "ports",
                 "traffic-policy", "age", "state"],
        wide=["nodes"], rows=rows)


def _ips(ips: Sequence[str]) -> str:
    return ", ".join(ips) or "<none>"


@command(app, "show")
def show(
    ctx: typer.Context,
    target: Annotated[list[str], typer.Argument(
        metavar="NAME | svc/NAME | svc NAME", show_default=False,
        autocompletion=complete.service_named, help="The Service (in -n NS).")],
) -> None:
    """Show everything lbctl knows about one Service, and for a pending one why it has no
    address: the allocator's answer on the current state (no pool admits it, the requested IP
    is outside every pool, the pool is exhausted, a sharing conflict naming the other Service,
    a wrong IP family), or the address it would get now.

    Example: lbctl svc show web -n shop

    Example: lbctl svc show svc/web -n shop -o json
    """
    from lbctl.actions import services as actions
    from lbctl.core import service as core

    app = app_of(ctx)
    output = app.require_output(*DOC_FORMATS)
    name = (target[0] if len(target) == 1 and "/" not in target[0] and target[0]
            else service_name(target, "svc show"))
    assert name is not None
    namespace = app.namespace
    detail = actions.show_service(app.kube(), app.store(), namespace, name, now=app.now())
    if output is Output.name:
        render.names(app.out, [f"service/{name}"])
        return
    view, svc = detail.view, detail.view.svc
    controller = _controller(app, svc)
    announced = _announced(app, svc)
    families = _families(svc)
    policy = (svc.get("spec") or {}).get("ipFamilyPolicy") or "SingleStack"
    if output is not Output.table:
        doc = _item(view)
        doc.update({
            "ipFamilies": families,
            "ipFamilyPolicy": policy,
            "sharingKey": core.sharing_key(svc),
            "requested": None if detail.asked is None else {
                "ips": list(detail.asked.ips), "pool": detail.asked.pool,
                "source": detail.asked.source},
            "hold": list(detail.hold.ips) if detail.hold else None,
            "nodes": list(view.nodes or ()),
            "why": None if detail.problem is None else {
                "reason": actions.reason_of(detail.problem), "message": detail.problem.message},
            "wouldGet": None if detail.would_get is None else {
                "ips": list(detail.would_get.ips), "pool": detail.would_get.pool},
            "controller": {"leader": controller.leader,
                           "serving": controller.leader is not None and core.is_ours(svc)},
            "announcedBy": None if announced is None else announced[1],
        })
        render.document(app.out, doc, output.value)
        return
    allocation = view.allocation
    asked = detail.asked
    facts: list[tuple[str, str]] = [
        ("Name", name),
        ("Namespace", namespace),
        ("Type", str((svc.get("spec") or {}).get("type") or "ClusterIP")),
        ("Class", core.lb_class(svc) or "<none>"),
        ("State", view.condition.state),
        ("External IPs", _ips(core.ingress_ips(svc))),
        ("Allocated", f"{_ips(allocation.ips)} (pool {allocation.pool})" if allocation
         else "<none>"),
        ("Requested", "<invalid>" if asked is None else _requested(asked)),
        ("Sharing key", core.sharing_key(svc) or "<none>"),
        ("IP families", f"{','.join(families) or '<invalid>'} ({policy})"),
        ("Traffic policy", core.traffic_policy(svc)),
        ("Ports", ", ".join(core.port_list(svc)) or "<none>"),
        ("Ready nodes", ", ".join(view.nodes or ()) or "<none>"),
        ("Controller", controller.detail),
    ]
    if announced is not None:
        facts.append(("Announced by", announced[0]))
    if detail.hold is not None:
        facts.append(("Held", ", ".join(detail.hold.ips)))
    if view.condition.state == core.DRIFT:
        facts.append(("Drift", view.condition.detail))
    elif view.condition.detail:
        facts.append(("Not served", view.condition.detail))
    if detail.problem is not None:
        label = "Why pending" if view.condition.state == core.PENDING else "Invalid request"
        facts.append((label, f"{actions.reason_of(detail.problem)}: {detail.problem.message}"))
    if detail.would_get is not None:
        facts.append(("Would get", f"{_ips(detail.would_get.ips)} from pool "
                                   f"{detail.would_get.pool} (lbctl assign svc {name})"))
    render.facts(app.out, facts)


def _controller(app: App, svc: dict[str, Any]) -> Serving:
    """Whether lbctl controller serves ``svc`` (only a Service of lbctl's class can be)."""
    from lbctl.actions.leases import Serving, serving
    from lbctl.core import service as core

    found = serving(app.kube(), now=app.now())
    if not core.is_ours(svc):
        return Serving(found.leader, "none: not a Service of lbctl's class")
    return found


def _announced(app: App, svc: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """Which node's lbctl speaker answers for the Service's addresses, by the one ownership
    rule every speaker computes (``speaker status``); None where no speaker runs or the
    speakers' Leases cannot be read."""
    from lbctl.core import service as core
    from lbctl.core.names import SYSTEM_NAMESPACE
    from lbctl.errors import LbctlError
    from lbctl.speaker.status import status

    try:
        found = status(app.kube(), app.store().load(), app.now(), lease_namespace=SYSTEM_NAMESPACE)
    except LbctlError:
        return None
    if not found.speakers:
        return None
    group = found.ownership.group_of(core.key_of(svc))
    if group is None:
        return ("<nobody>: not recorded and published, or no ready endpoint",
                {"owner": None, "candidates": [],
                 "reason": "not recorded and published, or no ready endpoint"})
    text = group.owner or f"<nobody>: {group.reason}"
    if group.owner and len(group.ranking) > 1:
        text += f" (standby: {', '.join(group.ranking[1:])})"
    return text, {"owner": group.owner, "candidates": list(group.ranking),
                  "reason": group.reason}


def _families(svc: dict[str, Any]) -> list[str]:
    from lbctl.core import service as core

    try:
        return core.family_names(svc)
    except UsageError:
        return []


def _requested(asked: Asked) -> str:
    if asked.source == "automatic":
        return "any address (automatic)"
    parts = [", ".join(asked.ips)] if asked.ips else []
    if asked.pool:
        parts.append(f"pool {asked.pool}")
    return f"{' in '.join(parts)} (from {asked.source})"


def _check_doc(report: Any) -> dict[str, Any]:
    return {"kind": "ServiceCheck", "ok": report.ok, "items": [
        {"namespace": check.key[0], "name": check.key[1], "ports": [
            {"port": port.port, "healthy": port.healthy, "backends": [
                {"target": b.target, "address": b.address, "port": b.port,
                 "ok": None if b.result is None else b.result.ok,
                 "latencyMs": None if b.result is None else round(b.result.latency * 1000, 3),
                 "detail": "not probed (TCP only)" if b.result is None else b.result.detail}
                for b in port.backends]}
            for port in check.ports]}
        for check in report.services]}


@command(app, "check")
def check(
    ctx: typer.Context,
    target: Annotated[list[str] | None, typer.Argument(
        metavar="NAME | svc/NAME", show_default=False,
        autocompletion=complete.service_named, help="The Service (in -n NS).")] = None,
    all_services: Annotated[bool, typer.Option(
        "--all", help="Every LoadBalancer Service with an address (in -n NS, or -A).")] = False,
    http: Annotated[str | None, typer.Option(
        "--http", metavar="PATH",
        help="HTTP GET this path (healthy below 400) instead of a TCP connect.")] = None,
    timeout: Annotated[float, numbers.seconds(
        "--timeout", maximum=60, above=True, help="Per probe.")] = 1.0,
) -> None:
    """Probe each LoadBalancer port of a Service on its external IPs and on every node's
    NodePort (TCP connect, or HTTP GET with --http PATH), and print one row per backend.
    Exit 1 when a port has no healthy backend.

    Example: lbctl svc check web -n shop --http /healthz
    """
    from lbctl.actions import svccheck

    app = app_of(ctx)
    output = app.require_output(Output.table, Output.json, Output.yaml)
    if http is not None and not http.startswith("/"):
        raise UsageError(f"--http {http!r} is not a path", hint="for example --http /healthz")
    name: str | None = None
    if target:
        name = (target[0] if len(target) == 1 and "/" not in target[0] and target[0]
                else service_name(target, "svc check"))
    if (name is None) == (not all_services):
        raise UsageError("name one Service or give --all",
                         hint="example: lbctl svc check web -n shop, or lbctl svc check --all -A")
    namespace = None if all_services and app.options.all_namespaces else app.namespace
    kube = app.kube()
    services = svccheck.targets(kube, namespace, name)
    report = svccheck.check(kube, app.prober(), services, http_path=http, timeout=timeout)
    if output is not Output.table:
        render.document(app.out, _check_doc(report), output.value)
    else:
        rows: list[list[render.Cell]] = [
            [f"{c.key[0]}/{c.key[1]}", port.port, b.target, f"{b.address}:{b.port}"
             if ":" not in b.address else f"[{b.address}]:{b.port}",
             "-" if b.result is None else ("ok" if b.result.ok else "FAIL"),
             "-" if b.result is None else f"{b.result.latency * 1000:.1f}ms",
             "not probed (TCP only)" if b.result is None else b.result.detail]
            for c in report.services for port in c.ports for b in port.backends
        ]
        if rows:
            app.table(["service", "port", "backend", "address", "result", "latency",
                       "detail"], rows)
        for c in report.services:
            for port in c.ports:
                if not port.healthy:
                    render.say(app.err, f"{c.key[0]}/{c.key[1]} {port.port}: no healthy "
                                        "backend")
        if not report.services:
            render.say(app.err, "No LoadBalancer Service with an address to check.")
    if not report.ok:
        raise typer.Exit(1)
