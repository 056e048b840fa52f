"""``lbctl speaker``: the layer 2 announcer (one per node), and ``speaker status``.

``lbctl speaker`` runs until SIGTERM/SIGINT: it builds the adapters (the Kubernetes client, the
raw-socket responder and announcer, the TCP/HTTP prober), the ``/healthz /readyz /metrics``
server, and hands them to :class:`lbctl.speaker.run.Runner`.  What it logs (one line per
event, to stderr): taking over and releasing addresses, Lease changes, health-check changes.

``speaker status -o json``::

    {"kind": "SpeakerStatus",
     "speakers": [{"node", "alive", "renewTime", "unfit", "unhealthy": ["ns/name"],
                   "macs": {"interface": "mac"},                  # as published on its Lease
                   "bgp": {"sessions", "established", "routes"}}],  # null: no BGP peer
     "addresses": [{"ip", "services": ["ns/name"], "owner",      # null: nobody announces it
                    "candidates": ["node", ...],                  # the owner first
                    "rejected": {"node": "why"}, "reason"}]}      # reason "" when owned

Metrics (prometheus): ``lbctl_speaker_addresses_announced``,
``lbctl_speaker_bgp_sessions`` and ``lbctl_speaker_bgp_sessions_established`` (BGP sessions this
node should have, and has), ``lbctl_speaker_bgp_routes_announced`` (prefix-peer pairs),
``lbctl_speaker_requests_answered_total{protocol="arp|ndp"}``,
``lbctl_speaker_gratuitous_frames_total``, ``lbctl_speaker_lease_renewals_failed_total``,
``lbctl_speaker_ownership_changes_total``, ``lbctl_speaker_state_missing`` (1 while the state
is lost: the speaker answers from its last good state; one with none is not ready, and
``/readyz`` says why).
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lbctl.cli import numbers, render
from lbctl.cli.context import Output, app_of, command, group_callback
from lbctl.errors import UsageError, redact

if TYPE_CHECKING:
    from lbctl.nodeports import Responder
    from lbctl.speaker.run import Runner
    from lbctl.speaker.status import SpeakerInfo, Status

# Not context.group(): `lbctl speaker` alone runs the speaker instead of printing help.
app = typer.Typer(
    help="The layer 2 speaker: answers ARP/NDP for the LoadBalancer addresses this node owns, "
         "and moves them when a node fails.\n\nExample: NODE_NAME=worker-1 lbctl speaker",
    no_args_is_help=False, rich_markup_mode=None)

FORMATS = (Output.table, Output.wide, Output.json, Output.yaml)


def _log(line: str) -> None:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    print(redact(f"{stamp} lbctl speaker: {line}"), file=sys.stderr, flush=True)


@group_callback(app)
def run(
    ctx: typer.Context,
    node: Annotated[str | None, typer.Option(
        "--node", metavar="NAME", help="This node's name (default: $NODE_NAME).")] = None,
    interfaces: Annotated[list[str] | None, typer.Option(
        "--interface", metavar="IF",
        help="Answer on this interface (repeatable). Default: the interface whose subnet "
             "holds the address, else the default route's.")] = None,
    lease_namespace: Annotated[str | None, typer.Option(
        "--lease-namespace", metavar="NS",
        help="Where the speakers' Leases live (default: kube-system).")] = None,
    metrics_addr: Annotated[str, typer.Option(
        "--metrics-addr", metavar="ADDR",
        help="Serve /healthz, /readyz and /metrics here; empty: do not.")] = ":7473",
    lease_duration: Annotated[int, numbers.count(
        "--lease-duration", metavar="SECONDS", minimum=2, maximum=3600, unit="seconds",
        help="How long a silent speaker keeps its addresses (its Lease is renewed 4 times "
             "as often).")] = 2,
) -> None:
    """Run the layer 2 speaker on this node until SIGTERM: answer ARP and IPv6 Neighbor
    Solicitations for every address lbctl recorded and published whose owner (computed alike
    by every speaker: lowest SHA-256 of node#ip among eligible live speakers) is this node;
    announce an address gratuitously when taking it over; on SIGTERM hand every address over
    before exiting.  Needs host networking and CAP_NET_RAW (a DaemonSet).

    Example: NODE_NAME=worker-1 lbctl speaker --metrics-addr :7473
    """
    if ctx.invoked_subcommand is not None:
        return
    from lbctl.core.names import SYSTEM_NAMESPACE
    from lbctl.speaker.health import local_checks
    from lbctl.speaker.run import RETRY, Runner, Settings

    name = node or os.environ.get("NODE_NAME")
    if not name:
        raise UsageError("which node is this? --node is not given and NODE_NAME is not set",
                         hint="set NODE_NAME from spec.nodeName (the DaemonSet does), or pass "
                              "--node NAME")
    app = app_of(ctx)
    lease_namespace = lease_namespace or SYSTEM_NAMESPACE
    kube = app.kube()
    responder = app.responder()
    duration = float(lease_duration)
    settings = Settings(node=name, interfaces=tuple(interfaces or ()),
                        lease_namespace=lease_namespace, duration=duration,
                        renew_deadline=duration * 0.75, retry=min(RETRY * duration / 2,
                                                                  duration / 4))
    runner = Runner(kube, responder, app.announcer(), settings, log=_log,
                    health=local_checks(app.prober(), name), bgp=app.bgp_speaker(_log))
    server = None
    if metrics_addr:
        from lbctl.health import HealthServer

        server = HealthServer(metrics_addr, _registry(runner, responder), live=runner.live,
                              ready=runner.ready, log=_log).start()
    # Answers wait for the GIL while the main loop computes: switch threads every 0.5 ms
    # instead of 5 ms, so a recomputation cannot delay an ARP reply by more than that.
    sys.setswitchinterval(0.0005)
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    signal.signal(signal.SIGINT, lambda *_: runner.stop())
    _log(f"node {name}: watching; Lease {lease_namespace}/lbctl-speaker-{name}")
    try:
        runner.run()
    finally:
        responder.close()
        if server is not None:
            server.stop()


def _registry(runner: Runner, responder: Responder) -> Any:
    """A prometheus registry whose values are read from the runner at scrape time."""
    from prometheus_client.core import (
        CollectorRegistry,
        CounterMetricFamily,
        GaugeMetricFamily,
    )

    class Collector:
        def collect(self) -> Any:
            stats = runner.stats
            yield GaugeMetricFamily("lbctl_speaker_addresses_announced",
                                    "Addresses this node answers ARP/NDP for.",
                                    value=stats.announced)
            answered = CounterMetricFamily("lbctl_speaker_requests_answered",
                                           "ARP requests and Neighbor Solicitations answered.",
                                           labels=["protocol"])
            for protocol, count in sorted(responder.answered().items()):
                answered.add_metric([protocol], count)
            yield answered
            yield CounterMetricFamily("lbctl_speaker_gratuitous_frames",
                                      "Gratuitous ARP and unsolicited NA frames sent.",
                                      value=stats.gratuitous_frames)
            yield CounterMetricFamily("lbctl_speaker_lease_renewals_failed",
                                      "Lease renewals that failed.",
                                      value=stats.lease_renewals_failed)
            yield CounterMetricFamily("lbctl_speaker_ownership_changes",
                                      "Addresses this node took over or released.",
                                      value=stats.ownership_changes)
            yield GaugeMetricFamily("lbctl_speaker_state_missing",
                                    "1 while the state is lost (missing while Services show "
                                    "addresses): this node answers from its last good state.",
                                    value=stats.state_missing)
            bgp = runner.bgp_status()
            if bgp is not None:
                yield GaugeMetricFamily("lbctl_speaker_bgp_sessions",
                                        "BGP sessions this node should have (peers that select "
                                        "it).", value=len(bgp.sessions))
                yield GaugeMetricFamily("lbctl_speaker_bgp_sessions_established",
                                        "BGP sessions established now.",
                                        value=bgp.established)
                yield GaugeMetricFamily("lbctl_speaker_bgp_routes_announced",
                                        "Routes (prefix and peer) this node announces over BGP.",
                                        value=bgp.announced)

    registry = CollectorRegistry()
    registry.register(Collector())
    return registry


def _document(result: Status) -> dict[str, Any]:
    return {
        "kind": "SpeakerStatus",
        "speakers": [
            {"node": s.node, "alive": s.alive,
             "renewTime": None if s.renewed is None else s.renewed.isoformat(),
             "unfit": s.unfit, "unhealthy": list(s.unhealthy), "macs": dict(s.macs),
             "bgp": None if s.bgp is None else {
                 "sessions": s.bgp.sessions, "established": s.bgp.established,
                 "routes": s.bgp.routes}}
            for s in result.speakers
        ],
        "addresses": [
            {"ip": ip, "services": [f"{ns}/{n}" for ns, n in g.services], "owner": g.owner,
             "candidates": list(g.ranking), "rejected": dict(sorted(g.rejected.items())),
             "reason": g.reason}
            for g in result.ownership.groups for ip in g.ips
        ],
    }


def _bgp_note(info: SpeakerInfo) -> str:
    if info.bgp is None:
        return ""
    return (f"bgp: {info.bgp.established}/{info.bgp.sessions} sessions up, "
            f"{info.bgp.routes} routes")


@command(app, "status")
def status(
    ctx: typer.Context,
    lease_namespace: Annotated[str | None, typer.Option(
        "--lease-namespace", metavar="NS",
        help="Where the speakers' Leases live (default: kube-system).")] = None,
) -> None:
    """Show the speakers (alive by their Lease, unfit nodes, failing health checks; -o wide:
    the interface MACs each publishes, which doctor --probe maps answers with) and, for
    every announced address, the owner every speaker computes, the other candidates in order,
    and why the remaining nodes are not candidates.

    Example: lbctl speaker status -o json
    """
    from lbctl.core.names import SYSTEM_NAMESPACE
    from lbctl.speaker.status import status as compute

    app = app_of(ctx)
    output = app.require_output(*FORMATS)
    result = compute(app.kube(), app.store().load(), app.now(),
                     lease_namespace=lease_namespace or SYSTEM_NAMESPACE)
    if output not in (Output.table, Output.wide):
        render.document(app.out, _document(result), output.value)
        return
    wide = output is Output.wide
    app.table(["node", "alive", "renewed", *(["macs"] if wide else []), "note"], [
        [s.node, "yes" if s.alive else "no",
         "-" if s.renewed is None else s.renewed.strftime("%H:%M:%S"),
         *([",".join(f"{i}={m}" for i, m in sorted(s.macs.items())) or "-"] if wide else []),
         "; ".join(filter(None, [s.unfit] + [f"unhealthy: {u}" for u in s.unhealthy]
                          + [_bgp_note(s)])) or "-"]
        for s in result.speakers
    ])
    render.say(app.out, "")
    rows: list[list[render.Cell]] = [
        [ip, ",".join(f"{ns}/{n}" for ns, n in g.services), g.owner or "<none>",
         ",".join(g.ranking[1:]) or "-", g.reason or "-"]
        for g in result.ownership.groups for ip in g.ips
    ]
    if rows:
        app.table(["ip", "services", "owner", "standby", "reason"], rows)
    else:
        render.say(app.err, "No address is announced: none is recorded, published and served.")
