"""The outcome of a batch of Services (``assign --all``, ``assign -f``, ``adopt --all``,
``reconcile``), rendered alike by every command that runs one.

A table (``-o json|yaml``: ``{"kind", "dryRun", "items": [{"namespace", "name", "result", "ips",
"pool", "reason", "message", "hint"}]}``; ``-o name``: the Services that have their address) on
stdout, a failed Service's hint and a count line on stderr, and the exit code: 1 when any Service
failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lbctl.cli import render
from lbctl.cli.context import App, Output, hint_with_state
from lbctl.errors import ExitCode

if TYPE_CHECKING:
    from rich.console import Console

    from lbctl.actions.services import Batch

BATCH_FORMATS = (Output.table, Output.json, Output.yaml, Output.name)
#: Results of a batch whose Service has its address (listed by ``-o name``).
_HAS_ADDRESS = ("assigned", "pinned", "unchanged", "published", "adopted")


def batch_doc(batch: Batch, kind: str, state: str | None = None) -> dict[str, Any]:
    """``-o json`` of a batch: ``{"kind", "dryRun", "items": [{"namespace", "name", "result",
    "ips", "pool", "reason", "message", "hint"}]}`` (``state``: the --state in use, which the
    lbctl commands of a hint name)."""
    return {
        "kind": kind,
        "dryRun": batch.dry_run,
        "items": [
            {"namespace": o.namespace, "name": o.name, "result": o.result, "ips": list(o.ips),
             "pool": o.pool or None, "reason": o.reason, "message": o.message,
             "hint": hint_with_state(o.hint, state)}
            for o in batch.outcomes
        ],
    }


def render_batch(app: App, batch: Batch, kind: str, *, console: Console | None = None) -> int:
    """The summary of a batch (table or document), a count line on stderr; the exit code."""
    out = console or app.out
    if app.output in (Output.json, Output.yaml):
        render.document(out, batch_doc(batch, kind, app.options.state), app.output.value)
    elif app.output is Output.name:
        render.names(out, [f"service/{o.name}" for o in batch.outcomes
                           if o.result in _HAS_ADDRESS])
    elif batch.outcomes:
        app.table(["namespace", "name", "result", "external-ip", "pool", "message"], [
            [o.namespace, o.name, o.result + (" (dry run)" if batch.dry_run else ""),
             ",".join(o.ips) or "-", o.pool or "-", o.message or "-"]
            for o in batch.outcomes
        ], console=out)
    if app.output not in (Output.json, Output.yaml):  # what a failed Service's error would say
        for o in batch.outcomes:
            if o.hint:
                render.say(app.err, f"hint: {o.namespace}/{o.name}: "
                                    f"{hint_with_state(o.hint, app.options.state)}")
    counts: dict[str, int] = {}
    for outcome in batch.outcomes:
        counts[outcome.result] = counts.get(outcome.result, 0) + 1
    summary = ", ".join(f"{n} {result}" for result, n in sorted(counts.items())) or "nothing to do"
    render.say(app.err, summary + (" (dry run)" if batch.dry_run else ""))
    return ExitCode.NO if batch.failed else ExitCode.OK
