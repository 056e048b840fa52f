"""``lbctl controller``: run the allocator continuously; ``lbctl controller status``: who leads.

``lbctl controller`` is the long-running command the Deployment of ``lbctl install`` runs.  It
builds the adapters (cluster, state store, the /healthz /readyz /metrics server), a logger, and
:class:`lbctl.controller.run.Controller`, then runs until SIGTERM or SIGINT: the worker finishes
its batch and the Lease is given up, so a standby takes over at once.  Logs go to stderr, one
line per event, as text or JSON (``--log-format json``:
``{"time", "level", "msg", ...fields}``).

``controller status -o json`` shape::

    {"kind": "ControllerStatus", "lease": "kube-system/lbctl-controller",
     "holder": "lbctl-controller-6d9c-x2k4f" | null, "leading": true,   # a fresh holder exists
     "acquireTime": "...", "renewTime": "...", "leaseDurationSeconds": 15,
     "leaseTransitions": 3, "age": "5m",
     "replicas": [{"name", "phase", "ready", "node", "leader"}]}

Exit codes: ``controller status`` exits 1 when no controller leads (no Lease, or it expired).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from lbctl.cli import numbers, render
from lbctl.cli.context import Output, app_of, command, group_callback
from lbctl.errors import ExitCode, UsageError, redact

if TYPE_CHECKING:
    from lbctl.actions.leases import ControllerStatus
    from lbctl.controller.metrics import Metrics

# The callback's docstring is the group's help (with its example).
app = typer.Typer(invoke_without_command=True, no_args_is_help=False, rich_markup_mode=None)

STATUS_FORMATS = (Output.table, Output.json, Output.yaml)
#: lbctl.core.permissions' names, spelled here so that ``lbctl --help`` imports no core module
#: (a test keeps them equal).
SYSTEM_NAMESPACE = "kube-system"
CONTROLLER_LEASE = "lbctl-controller"
CONTROLLER = "lbctl-controller"


class LogFormat(str, Enum):
    text = "text"
    json = "json"


def default_identity(environ: Mapping[str, str] | None = None) -> str:
    """``POD_NAME`` (the downward API in the Deployment), else ``HOST_PID``."""
    env = os.environ if environ is None else environ
    return env.get("POD_NAME") or f"{socket.gethostname()}_{os.getpid()}"


#: The levels the controller logs at; anything else is logged as ``info``.
_LEVELS = frozenset({"info", "warning", "error"})


def make_log(fmt: LogFormat, stream: TextIO | None = None) -> Any:
    """``log(level, message, fields)`` writing one line per call to ``stream`` (default:
    stderr, as it is when this is called).  Each line is formatted and written here, under a
    lock, without the logging module's records and handlers: the controller logs a line per
    Service it assigns, and through the logging module each line cost it ~60 µs of CPU (about
    a sixteenth of all it spends on a Service in a burst); this way, ~20.  A stream that
    cannot be written (closed, full) loses the line, never stops the controller."""
    out = stream if stream is not None else sys.stderr
    lock = threading.Lock()
    as_json = fmt is LogFormat.json

    def log(level: str, message: str, fields: Mapping[str, object]) -> None:
        level = level if level in _LEVELS else "info"
        now = datetime.now(timezone.utc)
        if as_json:
            line = {"time": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "level": level,
                    "msg": message, **fields}
            text = json.dumps(line, default=str)
            if "\\" in text:  # JSON escaped a character (a quote): it may split a secret
                text = json.dumps(_redacted(line), default=str)
            text = redact(text)
        else:
            shown = " ".join(f"{k}={v}" for k, v in fields.items() if k != "hint" or v)
            text = redact(f"{now.strftime('%Y-%m-%dT%H:%M:%SZ')} {level:7} {message}"
                          + (f" {shown}" if shown else ""))
        with lock:
            try:
                out.write(text + "\n")
                out.flush()
            except (OSError, ValueError):
                pass

    return log


def _redacted(value: object) -> object:
    """``value`` with every string in it redacted (:func:`lbctl.errors.redact`), before JSON
    escapes a character a secret or its label holds."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(item) for item in value]
    return value


@group_callback(app)
def controller(
    ctx: typer.Context,
    metrics_addr: Annotated[str, typer.Option(
        "--metrics-addr", metavar="HOST:PORT",
        help="Where to serve /healthz, /readyz and /metrics (:PORT: every address).")] = ":8080",
    lease_namespace: Annotated[str, typer.Option(
        "--lease-namespace", metavar="NS", help="Namespace of the leader Lease.")
    ] = SYSTEM_NAMESPACE,
    lease_name: Annotated[str, typer.Option(
        "--lease-name", metavar="NAME", help="Name of the leader Lease.")] = CONTROLLER_LEASE,
    identity: Annotated[str | None, typer.Option(
        "--id", metavar="ID",
        help="This replica's identity in the Lease (default: $POD_NAME, else HOST_PID).")
    ] = None,
    lease_duration: Annotated[float, numbers.seconds(
        "--lease-duration", minimum=2.0, maximum=3600.0,
        help="How long a leader's claim lasts without renewal: a killed leader is replaced "
             "within it (default: 15).")] = 15.0,
    log_format: Annotated[LogFormat, typer.Option(
        "--log-format", case_sensitive=False, help="Log lines as text or JSON.")
    ] = LogFormat.text,
    resync: Annotated[float, numbers.seconds(
        "--resync", minimum=1.0, maximum=86400.0,
        help="Seconds between full passes over every Service while leading (default: 300).")
    ] = 300.0,
) -> None:
    """Run the allocator: Services of type LoadBalancer get their address as they appear.

    LIST and WATCH of every Service and of the state ConfigMap; a new or changed Service of
    lbctl's class is assigned (same allocator, same requests, same Events as lbctl assign) or
    has its pinned or recorded address published; a status that drifted from the state is
    published again; a deleted Service, or one no longer of type LoadBalancer or lbctl's, is
    released (holds are kept); pending Services are retried when addresses are freed or pools
    change.  What arrives together is one state transaction.  The CLI keeps working beside it.

    Replicas elect one leader with the Lease --lease-namespace/--lease-name; the others stand
    by.  SIGTERM hands the Lease over at once.  lbctl install prints the manifests.

    Example: lbctl controller --metrics-addr 127.0.0.1:8080 --log-format json
    """
    if ctx.invoked_subcommand is not None:
        return
    from lbctl.controller.run import Controller, Settings

    app = app_of(ctx)
    if app.state_path is not None:
        raise UsageError("the controller keeps its state in the ConfigMap kube-system/"
                         "lbctl-state, not in a file",
                         hint="drop --state (and unset LBCTL_STATE)")
    who = identity if identity is not None else default_identity()
    if not who.strip():
        raise UsageError("--id must not be empty", hint="for example --id $(hostname)")
    renew_deadline = lease_duration * 2 / 3
    settings = Settings(identity=who, lease_namespace=lease_namespace, lease_name=lease_name,
                        lease_duration=lease_duration, renew_deadline=renew_deadline,
                        retry=min(2.0, renew_deadline / 2), resync=resync)
    log = make_log(log_format)
    runner = Controller(app.kube(), app.store(cached=False), settings, log=log)
    server = app.health_server(metrics_addr, registry(runner.metrics), live=runner.live,
                               ready=runner.ready, log=lambda line: log("error", line, {}))
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()  # only a flag: the main thread does the rest

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log("info", "starting", {"identity": who, "lease": f"{lease_namespace}/{lease_name}",
                             "metrics": metrics_addr, "state": runner.store.location})
    worker = threading.Thread(target=runner.work, name="worker", daemon=True)
    runner.start()
    worker.start()
    try:
        while not stop.wait(0.2) and worker.is_alive():
            pass
    finally:
        log("info", "stopping", {"identity": who})
        runner.stop()
        worker.join(timeout=settings.retry + 30)
        server.stop()
    log("info", "stopped", {"identity": who})


@command(app, "status", exclude=("all_namespaces", "dry_run", "state"))
def status(
    ctx: typer.Context,
    lease_namespace: Annotated[str, typer.Option(
        "--lease-namespace", metavar="NS", help="Namespace of the leader Lease.")
    ] = SYSTEM_NAMESPACE,
    lease_name: Annotated[str, typer.Option(
        "--lease-name", metavar="NAME", help="Name of the leader Lease.")] = CONTROLLER_LEASE,
) -> None:
    """Show which controller replica leads, since when, and the replicas running.

    The leader comes from the Lease; the replicas are the pods labelled
    app.kubernetes.io/name=lbctl-controller in -n (default: the Lease's namespace).  Exits 1
    when no controller leads.

    Example: lbctl controller status -o json
    """
    from lbctl.actions.leases import controller_status

    app = app_of(ctx)
    output = app.require_output(*STATUS_FORMATS)
    pods_namespace = app.options.namespace or lease_namespace
    found = controller_status(app.kube(), lease_namespace, lease_name, pods_namespace,
                              now=app.now())
    if output is not Output.table:
        render.document(app.out, status_document(found), output.value)
    else:
        render.facts(app.out, status_facts(found))
    if not found.leading:
        raise typer.Exit(ExitCode.NO)


def _age(since: datetime | None, now: datetime) -> str:
    from lbctl.core.service import age

    return age(since, now)


def status_document(found: ControllerStatus) -> dict[str, Any]:
    from lbctl.core.leases import format_micro_time

    record = found.record

    def stamp(when: datetime | None) -> str | None:
        return None if when is None else format_micro_time(when)

    return {
        "kind": "ControllerStatus",
        "lease": found.lease,
        "holder": (record.holder or None) if record else None,
        "leading": found.leading,
        "acquireTime": stamp(record.acquired) if record else None,
        "renewTime": stamp(record.renewed) if record else None,
        "leaseDurationSeconds": int(record.duration) if record else None,
        "leaseTransitions": record.transitions if record else None,
        "age": _age(record.acquired, found.now) if record and record.holder else None,
        "replicas": [{"name": r.name, "phase": r.phase, "ready": r.ready, "node": r.node,
                      "leader": r.leader} for r in found.replicas],
    }


def status_facts(found: ControllerStatus) -> list[tuple[str, str]]:
    record = found.record
    if record is None:
        leader = f"none: Lease {found.lease} does not exist (no controller has run)"
    elif not record.holder:
        leader = "none: the last leader gave the Lease up"
    elif not found.leading:
        leader = f"none: {record.holder} stopped renewing {_age(record.renewed, found.now)} ago"
    else:
        leader = (f"{record.holder} (for {_age(record.acquired, found.now)}, renewed "
                  f"{_age(record.renewed, found.now)} ago)")
    facts = [("Lease", found.lease), ("Leader", leader)]
    if record is not None:
        facts.append(("Transitions", str(record.transitions)))
    replicas = ", ".join(
        f"{r.name} ({r.phase}{', ready' if r.ready else ''}{', leader' if r.leader else ''})"
        for r in found.replicas) or (f"unknown ({found.pods_problem})" if found.pods_problem else
                                     f"none found (pods app.kubernetes.io/name={CONTROLLER} "
                                     f"in {found.pods_namespace})")
    facts.append(("Replicas", replicas))
    return facts


def registry(metrics: Metrics) -> Any:
    """A prometheus-client registry that reads ``metrics`` at each scrape."""
    from prometheus_client.core import (
        CollectorRegistry,
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )
    from prometheus_client.registry import Collector

    class _Controller(Collector):
        def collect(self) -> Any:
            m = metrics.snapshot()
            in_use = GaugeMetricFamily("lbctl_allocator_addresses_in_use_total",
                                       "Addresses allocated or held, per pool and IP family.",
                                       labels=["pool", "family"])
            total = GaugeMetricFamily("lbctl_allocator_addresses_total",
                                      "Addresses a pool can hand out, per pool and IP family.",
                                      labels=["pool", "family"])
            for (pool, family), (used, capacity) in sorted(m.usage.items()):
                in_use.add_metric([pool, family], used)
                total.add_metric([pool, family], capacity)
            yield in_use
            yield total
            for name, doc, label, values in (
                    ("lbctl_allocations", "Services assigned, published or released by the "
                     "controller.", "result", m.allocations),
                    ("lbctl_allocation_failures", "Services the controller could not give an "
                     "address, by reason.", "reason", m.failures)):
                counter = CounterMetricFamily(name, doc, labels=[label])
                for key, value in sorted(values.items()):
                    counter.add_metric([key], value)
                yield counter
            restarts = CounterMetricFamily("lbctl_watch_restarts", "Watches started again, by "
                                           "resource and reason.", labels=["resource", "reason"])
            for (resource, reason), value in sorted(m.watch_restarts.items()):
                restarts.add_metric([resource, reason], value)
            yield restarts
            buckets = [("+Inf" if bound == float("inf") else repr(float(bound)), count)
                       for bound, count in m.publication.cumulative()]
            yield HistogramMetricFamily(
                "lbctl_publication_seconds", "Seconds from a Service's creation to the "
                "publication of its address.", buckets=buckets,
                sum_value=m.publication.total)
            yield GaugeMetricFamily("lbctl_leader", "1 while this replica is the leader.",
                                    value=m.leader)
            yield CounterMetricFamily("lbctl_leader_transitions", "Times this replica became "
                                      "the leader.", value=m.leader_transitions)
            yield CounterMetricFamily("lbctl_state_transactions", "Batches of Services handled "
                                      "in one state transaction.", value=m.transactions)
            yield GaugeMetricFamily("lbctl_state_missing", "1 while the state is missing and "
                                    "Services show addresses: nothing is allocated.",
                                    value=m.state_missing)

    found = CollectorRegistry()
    found.register(_Controller())
    return found


def register(root: typer.Typer) -> None:
    """Add ``lbctl controller`` (and ``controller status``) to the root command."""
    root.add_typer(app, name="controller")

