"""``lbctl kube-proxy``: strictARP for kube-proxy in IPVS mode (diff, apply, check-node).

Each command parses its arguments (reading a ``-f`` file is parsing), makes one call into
:mod:`lbctl.actions.kubeproxy`, and renders the result: the diff to stdout (coloured on a
terminal, exact bytes otherwise, so that ``patch -p1`` applies it), the verdict and hints to
stderr.  Nothing here decides what to change or talks to the cluster itself.

Exit codes: ``diff`` answers like ``kubectl diff`` (0 no change needed, 1 a change is needed);
``apply`` exits 0, or 1 when the rollout it waited for did not finish in time; ``check-node``
exits 0 when strict ARP is active, 1 when not; errors exit with their own codes (8: the setting
lives in k3s/RKE2 flags).

``-o json`` shapes (``-o yaml`` is the same document)::

    diff:   {"source": "ConfigMap kube-system/kube-proxy", "mode": "ipvs",
             "strictARP": {"current": false, "desired": true},   # current: null when unset
             "required": true,          # the mode needs strictARP (only "ipvs" does)
             "changeNeeded": true,      # the exit code's answer (--always counts the diff)
             "diff": "--- a/...\\n+++ b/...\\n@@ ..."}             # "" when nothing changes
    apply:  the diff document, plus
            "applied": true,            # the ConfigMap was written
            "dryRun": false,
            "restart": null | {"done": true, "message": "3 of 3 pods updated and available",
                               "desired": 3, "updated": 3, "available": 3}
    check-node: {"active": true, "all": {"arpIgnore": 1, "arpAnnounce": 2},
                 "interfaces": [{"name": "eth0", "arpIgnore": 0, "arpAnnounce": 0,
                                 "effectiveArpIgnore": 1, "effectiveArpAnnounce": 2,
                                 "strict": true}]}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lbctl.cli import numbers, render
from lbctl.cli.context import App, Output, app_of, command, group
from lbctl.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from lbctl.actions import kubeproxy as actions
    from lbctl.core.kubeproxy import NodeArp

app = group(
    "kube-proxy's strictARP: without it, in IPVS mode every node answers ARP for every "
    "LoadBalancer IP and layer-2 announcement breaks.",
)

FORMATS = (Output.table, Output.json, Output.yaml)
#: Global options that mean nothing to these commands (kube-proxy lives in kube-system).
NOT_CLUSTER_SCOPED = ("namespace", "all_namespaces", "state")


@command(app, "diff", exclude=(*NOT_CLUSTER_SCOPED, "dry_run"))
def diff(
    ctx: typer.Context,
    filename: Annotated[str | None, typer.Option(
        "-f", "--filename", metavar="FILE",
        help="Read this file instead of the cluster: a ConfigMap manifest, a bare "
             "KubeProxyConfiguration, or a kubeadm config stream; '-' reads stdin.")] = None,
    always: Annotated[bool, typer.Option(
        "--always", help="Show the change even when the mode (iptables, nftables, default) "
                         "does not need strictARP.")] = False,
) -> int:
    """Show the strictARP change kube-proxy's configuration needs.

    Reads the ConfigMap kube-system/kube-proxy (key config.conf), or a file, and shows the diff
    that sets ipvs.strictARP: true.  Only that one value changes: comments, order, quoting and
    line endings are kept.  Exit 0: no change needed;
    1: a change is needed (like kubectl diff); higher: an error.

    Example: lbctl kube-proxy diff

    Example: kubectl -n kube-system get cm kube-proxy -o yaml | lbctl kube-proxy diff -f -
    """
    from lbctl.actions import kubeproxy as actions

    app = app_of(ctx)
    output = app.require_output(*FORMATS)
    if filename is None:
        result = actions.diff_cluster(app.kube(), always=always)
    else:
        from lbctl.cli.inputs import read_sources

        sources = read_sources([filename])
        if len(sources) != 1:
            raise UsageError(f"{filename} is a directory",
                             hint="give one file (a ConfigMap or a KubeProxyConfiguration), or -")
        source = sources[0]
        label = "stdin" if source.name == "-" else source.name.lstrip("/")  # a/etc/..., not a//
        result = actions.diff_text(source.text, source.label, label, always=always)
    if output is not Output.table:
        render.document(app.out, _diff_doc(result), output.value)
    else:
        _print_diff(app, result)
        render.say(app.err, _verdict(result))
    return ExitCode.NO if result.plan.change_needed else ExitCode.OK


@command(app, "apply", exclude=NOT_CLUSTER_SCOPED)
def apply(
    ctx: typer.Context,
    restart: Annotated[bool, typer.Option(
        "--restart", help="Then roll the kube-proxy DaemonSet (like kubectl rollout restart) "
                          "and wait for it.")] = False,
    timeout: Annotated[float, numbers.seconds(
        "--timeout", maximum=86400.0,
        help="How long --restart waits for the rollout.")] = 300.0,
    always: Annotated[bool, typer.Option(
        "--always", help="Set strictARP even when the mode does not need it (before switching "
                         "to IPVS).")] = False,
) -> int:
    """Set ipvs.strictARP: true in kube-proxy's ConfigMap.

    Shows the diff it writes to kube-system/kube-proxy, with the resourceVersion it read: a
    concurrent edit is never overwritten.  Running it twice changes nothing the second time.
    kube-proxy reads its configuration only at start: restart it with --restart, or with the
    command printed.  Exit 1 when the rollout --restart waits for does not finish within
    --timeout.

    Example: lbctl kube-proxy apply --dry-run

    Example: lbctl kube-proxy apply --restart --timeout 120
    """
    from lbctl.actions import kubeproxy as actions

    app = app_of(ctx)
    output = app.require_output(*FORMATS)
    with render.spinner(app.err, "kube-proxy") as status:
        result = actions.apply(
            app.kube(), always=always, dry_run=app.options.dry_run, restart=restart,
            timeout=timeout,
            progress=lambda rollout: status(f"kube-proxy rollout: {rollout.message}"))
    if output is not Output.table:
        render.document(app.out, _apply_doc(result, app.options.dry_run), output.value)
    else:
        _report_apply(app, result, timeout)
    rollout = result.rollout
    return ExitCode.NO if rollout is not None and not rollout.done else ExitCode.OK


@command(app, "check-node",
         exclude=(*NOT_CLUSTER_SCOPED, "dry_run", "kubeconfig", "context"))
def check_node(
    ctx: typer.Context,
    proc_root: Annotated[Path, typer.Option(
        "--proc-root", metavar="PATH",
        help="Where procfs is mounted (or a copy holding sys/net/ipv4/conf).")] = Path("/proc"),
) -> int:
    """Check that the kernel of this machine applies strict ARP.

    Reads /proc/sys/net/ipv4/conf/*/arp_ignore and arp_announce: strict ARP is active when, on
    every interface, the larger of its value and conf/all's is at least 1 (arp_ignore) and 2
    (arp_announce).  kube-proxy sets conf/all when strictARP is on and never sets it back, so the
    live values can disagree with its configuration.  The values belong to the network namespace
    lbctl runs in: run it on the node, or in a pod with hostNetwork.  Exit 0: active; 1: not.

    Example: ssh worker-1 lbctl kube-proxy check-node -o json
    """
    from lbctl.actions import kubeproxy as actions

    app = app_of(ctx)
    output = app.require_output(*FORMATS)
    node = actions.check_node(app.arp_sysctls(proc_root))
    if output is not Output.table:
        render.document(app.out, _node_doc(node), output.value)
    else:
        _report_node(app, node)
    return ExitCode.OK if node.active else ExitCode.NO


# --- rendering -------------------------------------------------------------------------------


def _print_diff(app: App, result: actions.Diff) -> None:
    if result.plan.changes:
        render.diff(app.out, result.text)


def _mode(mode: str) -> str:
    return f"mode {mode}" if mode else "the default mode (iptables)"


def _verdict(result: actions.Diff) -> str:
    config, plan = result.plan.config, result.plan
    if config.strict:
        return f"no change needed: ipvs.strictARP is already true in {result.source}"
    if not config.requires_strict_arp:
        if plan.forced:
            return f"{_mode(config.mode)} does not need strictARP; the change above is for --always"
        return (f"no change needed: {_mode(config.mode)} does not use strictARP "
                "(--always shows the change anyway)")
    current = "unset" if config.strict_arp is None else json.dumps(config.strict_arp)
    return f"change needed: ipvs.strictARP is {current} in {result.source}; IPVS needs true"


def _diff_doc(result: actions.Diff) -> dict[str, Any]:
    config = result.plan.config
    return {
        "source": result.source,
        "mode": config.mode,
        "strictARP": {"current": config.strict_arp, "desired": True},
        "required": config.requires_strict_arp,
        "changeNeeded": result.plan.change_needed,
        "diff": result.text,
    }


def _apply_doc(result: actions.Applied, dry_run: bool) -> dict[str, Any]:
    rollout = result.rollout
    return {
        **_diff_doc(result.diff),
        "applied": result.written,
        "dryRun": dry_run,
        "restart": None if rollout is None else {
            "done": rollout.done, "message": rollout.message, "desired": rollout.desired,
            "updated": rollout.updated, "available": rollout.available,
        },
    }


def _report_apply(app: App, result: actions.Applied, timeout: float) -> None:
    from lbctl.actions import kubeproxy as actions

    dry_run = app.options.dry_run
    would_write = result.written or (dry_run and result.diff.plan.change_needed)
    if would_write:
        _print_diff(app, result.diff)
    verb = "configured" if would_write else "unchanged"
    render.outcomes(app.out, [f"configmap/{actions.NAME} {verb}"], dry_run=dry_run)
    if result.restarted:
        render.names(app.out, [f"daemonset.apps/{actions.NAME} restarted"])
    render.say(app.err, _verdict(result.diff))
    rollout = result.rollout
    if rollout is not None and rollout.done:
        render.say(app.err, f"kube-proxy rolled out: {rollout.message}")
    elif rollout is not None:
        waited = f"after {timeout:g}s" if rollout.progressing else "and will not by itself"
        render.say(app.err, f"kube-proxy rollout not finished {waited}: {rollout.message}")
        render.say(app.err, f"hint: follow it with {actions.STATUS_COMMAND}")
    elif would_write:
        render.say(app.err, "hint: kube-proxy reads its configuration only at start; restart it: "
                            f"{actions.RESTART_COMMAND}")


def _node_doc(node: NodeArp) -> dict[str, Any]:
    return {
        "active": node.active,
        "all": {"arpIgnore": node.all_ignore, "arpAnnounce": node.all_announce},
        "interfaces": [
            {"name": i.name, "arpIgnore": i.arp_ignore, "arpAnnounce": i.arp_announce,
             "effectiveArpIgnore": i.effective_ignore,
             "effectiveArpAnnounce": i.effective_announce, "strict": i.strict}
            for i in node.interfaces
        ],
    }


def _report_node(app: App, node: NodeArp) -> None:
    def value(own: int, effective: int) -> str:
        return str(own) if own == effective else f"{effective} (from all; own {own})"

    rows: list[list[render.Cell]] = [["all", str(node.all_ignore), str(node.all_announce), "-"]]
    rows += [[i.name, value(i.arp_ignore, i.effective_ignore),
              value(i.arp_announce, i.effective_announce), "yes" if i.strict else "no"]
             for i in node.interfaces]
    app.table(["interface", "arp_ignore", "arp_announce", "strict"], rows)
    if node.active:
        render.say(app.err, "strict ARP is active: arp_ignore >= 1 and arp_announce >= 2 apply "
                            "on every interface")
        return
    loose = [i.name for i in node.interfaces if not i.strict] or ["all"]
    render.say(app.err, f"strict ARP is not active on: {', '.join(loose)}")
    render.say(app.err, "hint: kube-proxy sets conf/all when it starts with strictARP: true "
                        "(lbctl kube-proxy apply --restart); or sysctl -w "
                        "net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2")
