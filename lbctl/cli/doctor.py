"""``lbctl doctor``: every check, on the live cluster or offline on files, for people and CI.

The command gathers facts (:mod:`lbctl.doctor.gather`: through the ``KubeAPI`` port from the
current context, or from ``-f`` files and ``--state`` with no cluster at all), runs the checks
(:mod:`lbctl.doctor.checks`) and renders the report: a table grouped by area on a terminal,
``-o json|yaml`` (the versioned ``DoctorReport`` document) or ``-o junit`` for CI test
reporters.  The exit code is 1 when a finding is at or above ``--fail-on``, else 0, whatever the
format.

``-o`` is this command's own option (``table|json|yaml|junit``) because JUnit makes sense for
doctor alone; ``-o json|yaml`` given before the command (``lbctl -o json doctor``) works too.
Like every command module, this one imports the doctor package inside the command body.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from lbctl.cli import numbers, render
from lbctl.cli.context import App, Output, app_of, command
from lbctl.errors import ExitCode

if TYPE_CHECKING:
    from lbctl.doctor.report import Report


class Format(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"
    junit = "junit"


class FailOn(str, Enum):
    warning = "warning"
    error = "error"


_LABELS = {"pass": ("PASS", "green"), "info": ("INFO", "cyan"), "warning": ("WARN", "yellow"),
           "error": ("FAIL", "bold red"), "skip": ("SKIP", "dim")}
_COUNTED = {"error": "failed", "warning": "warning", "info": "info", "pass": "passed",
            "skip": "skipped"}


def _format(app: App, given: Format | None) -> Format:
    """This command's ``-o``, else the global one (table, json or yaml)."""
    if given is not None:
        return given
    return Format(app.require_output(Output.table, Output.json, Output.yaml).value)


def _print(app: App, text: Text) -> None:
    app.out.print(text, crop=False, overflow="ignore", no_wrap=True)


def _table(app: App, report: Report) -> None:
    _print(app, Text(f"lbctl doctor: {report.mode}, {report.source}"))
    width = max(len(r.id) for r in report.results)
    indent = " " * (2 + 4 + 2 + width + 2)
    group = ""
    for result in report.results:
        if result.group != group:
            group = result.group
            _print(app, Text(""))
            _print(app, Text(group.upper(), style="bold"))
        for i, finding in enumerate(result.findings):
            label, style = _LABELS[finding.severity]
            line = Text("  ")
            line.append(label, style=style)
            line.append(f"  {(result.id if i == 0 else ''):<{width}}  ")
            line.append(finding.message)
            _print(app, line)
            if finding.hint and finding.severity in ("warning", "error", "info"):
                _print(app, Text(f"{indent}hint: {finding.hint}", style="dim"))
    counts = report.counts()
    parts = [f"{n} {_COUNTED[severity]}{'s' if severity == 'warning' and n > 1 else ''}"
             for severity, n in counts.items() if n]
    verdict = Text("FAIL", style="bold red") if report.failed else Text("OK", style="green")
    _print(app, Text(""))
    _print(app, Text.assemble(f"{len(report.results)} checks: {', '.join(parts)}. Result: ",
                              verdict, f" (--fail-on {report.fail_on})"))


def register(root: typer.Typer) -> None:
    """Add ``doctor`` to the root command (``lbctl doctor``)."""
    command(root, "doctor", exclude=("output", "namespace", "all_namespaces", "dry_run"))(
        doctor)


def doctor(
    ctx: typer.Context,
    filenames: Annotated[list[str] | None, typer.Option(
        "-f", "--filename", metavar="PATH",
        help="Check these manifests (files or directories, YAML or JSON) instead of a cluster: "
             "Services, Nodes, EndpointSlices, the kube-proxy ConfigMap, other implementations' "
             "objects, and the state (the lbctl-state ConfigMap manifest, or a bare document). "
             "Repeatable.")] = None,
    probe: Annotated[bool, typer.Option(
        "--probe", help="Also ask on the wire who answers for each allocated address (ARP/NDP; "
                        "needs CAP_NET_RAW and the nodes' layer-2 segment).")] = False,
    interface: Annotated[str | None, typer.Option(
        "-i", "--interface", metavar="IF",
        help="Probe on this interface (default: by route).")] = None,
    timeout: Annotated[float, numbers.seconds(
        "--timeout", minimum=0.01, maximum=60.0,
        help="How long --probe listens for answers.")] = 1.0,
    lease_namespace: Annotated[str | None, typer.Option(
        "--lease-namespace", metavar="NS",
        help="Where the speakers' Leases live, whose MACs --probe maps answers to nodes with "
             "(default: kube-system).")] = None,
    fail_on: Annotated[FailOn, typer.Option(
        "--fail-on", case_sensitive=False,
        help="Exit 1 when a finding is this severe or worse.")] = FailOn.error,
    skip: Annotated[list[str] | None, typer.Option(
        "--skip", metavar="ID",
        help="Do not run this check (an ID such as svc.orphan, or a group such as impl). "
             "Repeatable.")] = None,
    output: Annotated[Format | None, typer.Option(
        "-o", "--output", case_sensitive=False,
        help="Output format: a table, the DoctorReport document, or JUnit XML for CI.")] = None,
) -> int:
    """Check pools, Services, the state, kube-proxy, other load balancers, permissions.

    Live (the current kube context) by default; with -f, offline on manifests and a state file,
    with no cluster at all (checks that need one are skipped).  Exit code 1 when a finding is
    at or above --fail-on (default: error), else 0, in every output format.

    Example: lbctl doctor -f ./k8s --state ./lb.yaml -o junit > doctor.xml
    """
    from lbctl.core.names import SYSTEM_NAMESPACE
    from lbctl.doctor import checks, gather
    from lbctl.doctor.report import Report, to_document, to_junit

    app = app_of(ctx)
    fmt = _format(app, output)
    skipped = checks.selected(skip or ())  # a typo fails before any work
    probing = gather.ProbeOptions(app.announcer(), interface, timeout,
                                  lease_namespace or SYSTEM_NAMESPACE) if probe else None
    if filenames or app.offline:
        state = app.store().backend if app.state_path is not None else None
        from lbctl.cli.inputs import read_sources

        facts = gather.offline(read_sources(filenames or []), state, given=filenames or (),
                               probe=probing)
    else:
        with render.spinner(app.err, "lbctl doctor: connecting") as status:
            facts = gather.live(app.kube(), app.store().backend, context=app.options.context,
                                probe=probing,
                                progress=lambda what: status(f"lbctl doctor: reading {what}"))
    report = Report(facts.mode, facts.source, checks.diagnose(facts, sorted(skipped)),
                    "warning" if fail_on is FailOn.warning else "error")
    if fmt is Format.table:
        _table(app, report)
    elif fmt is Format.junit:
        _print(app, Text(to_junit(report)))
    else:
        render.document(app.out, to_document(report), fmt.value)
    return ExitCode.NO if report.failed else ExitCode.OK
