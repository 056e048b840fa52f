"""``lbctl arp``: gratuitous ARP / unsolicited NA (``announce``) and address probes (``probe``).

Each command parses its arguments, makes one call into :mod:`lbctl.actions.arp` with the
announcer from the context, and renders the result: a table (or ``-o json|yaml``) on stdout,
explanations on stderr, and a progress bar on stderr only when it is a terminal.  Like every
command module, this one imports actions inside the command bodies, so ``lbctl --help`` never
pays for them.

Defaults, chosen from what the references do: RFC 4861 (section 7.2.6) allows
MAX_NEIGHBOR_ADVERTISEMENT = 3 unsolicited advertisements, at least RetransTimer = 1 s apart;
keepalived sends 5 gratuitous ARPs at once and 5 more 5 s later; MetalLB sends a request and a
reply every 1.1 s for 5 s, because some devices honour only one form.  lbctl sends 3 rounds,
1 s apart, both forms: every form reaches every device, and the last frame leaves 2 s after
the first.  A probe listens 1 s: answers on a LAN arrive within milliseconds (RFC 5227 waits
ANNOUNCE_WAIT = 2 s because it also spaces its probes 1-2 s apart); ``--timeout`` raises it.
Like RFC 5227 (PROBE_NUM = 3), the probes go out three times, evenly over the timeout, so
that one lost frame does not make an address in use look free.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import typer

from lbctl.cli import numbers, render
from lbctl.cli.context import App, Output, app_of, command, group
from lbctl.errors import ExitCode

app = group(
    "Announce addresses with gratuitous ARP / unsolicited NA, and probe who answers for "
    "them.  Needs CAP_NET_RAW (root).",
)

FORMATS = (Output.table, Output.wide, Output.json, Output.yaml)
DEFAULT_COUNT = 3
DEFAULT_INTERVAL = 1.0
DEFAULT_TIMEOUT = 1.0
#: Upper bounds: more rounds, longer pauses or longer listening are a mistake, not a use.
MAX_COUNT = 100
MAX_INTERVAL = 60.0
MAX_TIMEOUT = 60.0
_INTERFACE_HELP = (
    "Send on this interface (default: the one whose connected subnet holds the address, else "
    "the default-route interface of its family)."
)


class Mode(str, Enum):
    request = "request"
    reply = "reply"
    both = "both"


@command(app, "announce")
def announce(
    ctx: typer.Context,
    targets: Annotated[list[str] | None, typer.Argument(
        metavar="[TARGET]...",
        help="IP addresses, or svc/NAME for the addresses allocated to a Service (in -n NS).",
        show_default=False)] = None,
    all_allocated: Annotated[bool, typer.Option(
        "--all", help="Every allocated address in the state, but those of pools announced "
                      "over BGP only (announce: bgp).")] = False,
    pool: Annotated[str | None, typer.Option(
        "--pool", metavar="POOL", help="With --all: only the addresses of this pool.")] = None,
    interface: Annotated[str | None, typer.Option(
        "-i", "--interface", metavar="IF", help=_INTERFACE_HELP)] = None,
    count: Annotated[int, numbers.count(
        "-c", "--count", maximum=MAX_COUNT,
        help="Rounds: each announces every address once.")] = DEFAULT_COUNT,
    interval: Annotated[float, numbers.seconds(
        "--interval", maximum=MAX_INTERVAL,
        help="Seconds between the starts of two rounds.")] = DEFAULT_INTERVAL,
    mode: Annotated[Mode, typer.Option(
        "--mode", case_sensitive=False,
        help="IPv4 form: ARP request (opcode 1), reply (opcode 2, target MAC = sender MAC), or "
             "both in each round.  IPv6 always sends one unsolicited NA per round.")]
        = Mode.both,
    force: Annotated[bool, typer.Option(
        "--force", help="Announce addresses that are in no pool.  Announcing an address another "
                        "host owns steals its traffic (ARP spoofing).")] = False,
) -> None:
    """Tell the local network that addresses now live at this host's MAC.

    IPv4: gratuitous ARP to the broadcast address, sender IP = target IP = the address, sender
    MAC = the interface's MAC.  IPv6: unsolicited Neighbor Advertisement to ff02::1 (hop limit
    255, Override set, Router and Solicited clear, with the target link-layer address).  Linux
    neighbours update an entry they already have; they create none unless arp_accept is set.

    Defaults: 3 rounds 1 s apart, both ARP forms (RFC 4861 allows 3 unsolicited
    advertisements 1 s apart; MetalLB sends both forms, because some devices honour only one).
    Addresses in no pool are refused unless --force.  An address of a pool that names
    interfaces (pool set --interface) goes out on each of them this host has, as the speakers
    answer it there only; -i must then be one of them.

    Prints, per address, the interface, the MAC announced and the frames sent, and the total.
    With --dry-run, only the addresses that would be announced (nothing is sent).

    Example: lbctl arp announce svc/web -n shop --state ./lb.yaml
    """
    from lbctl.actions import arp as actions

    app = app_of(ctx)
    output = app.require_output(*FORMATS)
    state = app.store().load()
    args = targets or []
    if app.options.dry_run:
        _dry_run(app, output, actions.announce_targets(
            state, args, namespace=app.namespace, all_allocated=all_allocated, pool=pool,
            force=force))
        return
    with render.progress(app.err, "announcing") as progress:
        result = actions.announce(
            app.announcer(), state, args,
            namespace=app.namespace,
            all_allocated=all_allocated, pool=pool, force=force, interface=interface,
            count=count, interval=interval, mode=mode.value, progress=progress, warn=app.warn,
        )
    if output in (Output.json, Output.yaml):
        doc = {
            "kind": "Announcement",
            "dryRun": False,
            "mode": mode.value,
            "count": count,
            "interval": interval,
            "targets": [
                {"ip": ip, "interface": s.interface, "mac": s.mac, "frames": s.frames,
                 "via": s.via}
                for ip, s in result.per_address()
            ],
            "frames": result.frames,
        }
        render.document(app.out, doc, output.value)
        return
    if not result.ips:
        where = f" in pool {pool}" if pool else ""
        render.say(app.err, f"nothing to announce: no address is allocated{where}")
        return
    wide = output is Output.wide
    headers = ["ip", "interface", "mac", *(["via"] if wide else []), "frames"]
    rows: list[list[render.Cell]] = [
        [ip, s.interface, s.mac, *([s.via] if wide else []), str(s.frames)]
        for ip, s in result.per_address()
    ]
    total: list[render.Cell] = ["total", *[""] * (len(headers) - 2), str(result.frames)]
    app.table(headers, [*rows, total])


def _dry_run(app: App, output: Output, ips: list[str], *, kind: str = "Announcement",
             verb: str = "announced") -> None:
    """What a dry run reports: the addresses that would be announced (or probed), nothing
    about frames or answers."""
    if output in (Output.json, Output.yaml):
        items = "probes" if kind == "ProbeResult" else "targets"
        doc = {"kind": kind, "dryRun": True, items: [{"ip": ip} for ip in ips]}
        render.document(app.out, doc, output.value)
        return
    render.outcomes(app.out, ips, dry_run=True)
    many = "address" if len(ips) == 1 else "addresses"
    render.say(app.err, f"dry run: {len(ips)} {many} would be {verb}; nothing was sent")


@command(app, "probe")
def probe(
    ctx: typer.Context,
    ips: Annotated[list[str], typer.Argument(metavar="IP...", help="Addresses to probe.")],
    interface: Annotated[str | None, typer.Option(
        "-i", "--interface", metavar="IF", help=_INTERFACE_HELP)] = None,
    timeout: Annotated[float, numbers.seconds(
        "--timeout", minimum=0.01, maximum=MAX_TIMEOUT,
        help="How long to listen for answers; the probes are sent three times over it.")
    ] = DEFAULT_TIMEOUT,
    expect_one: Annotated[bool, typer.Option(
        "--expect-one",
        help="Ask instead: does exactly one node answer for each address?")] = False,
) -> int:
    """Ask who answers for addresses, and list every MAC that does.

    IPv4: an RFC 5227 probe (ARP request from 0.0.0.0, which no neighbour learns from).  IPv6:
    a duplicate address detection solicitation from :: and an ordinary solicitation from the
    interface's link-local address (some hosts answer only one form).  A host never answers
    its own probe: run it from a machine that does not hold the address.

    Exit codes, for "is this address free before I use it?": 0 when nobody answers, 1 when
    someone does.  With --expect-one, for "does exactly one node answer for this VIP?": 0 when
    exactly one MAC answers, 1 otherwise (no MAC: nobody announces it; two or more: split
    brain, or kube-proxy IPVS without strictARP).

    With --dry-run, only the addresses that would be probed: no socket is opened, nothing is
    sent, exit 0.

    Example: lbctl arp probe 192.168.1.40 --expect-one
    """
    from lbctl.actions import arp as actions

    app = app_of(ctx)
    output = app.require_output(*FORMATS)
    if app.options.dry_run:
        _dry_run(app, output, actions.probe_targets(ips), kind="ProbeResult", verb="probed")
        return ExitCode.OK
    report = actions.probe(app.announcer(), ips, interface=interface, timeout=timeout,
                           expect_one=expect_one)
    if output in (Output.json, Output.yaml):
        doc: dict[str, Any] = {
            "kind": "ProbeResult",
            "dryRun": False,
            "question": report.question,
            "timeout": timeout,
            "ok": report.ok,
            "probes": [
                {"ip": v.probed.ip, "interface": v.probed.interface, "via": v.probed.via,
                 "macs": list(v.probed.macs), "status": v.status, "ok": v.ok,
                 "detail": v.detail}
                for v in report.verdicts
            ],
        }
        render.document(app.out, doc, output.value)
    else:
        headers = ["ip", "interface", "status", "macs"]
        if output is Output.wide:
            headers.append("via")
        rows: list[list[render.Cell]] = []
        for v in report.verdicts:
            row: list[render.Cell] = [v.probed.ip, v.probed.interface, v.status,
                                      ",".join(v.probed.macs) or "-"]
            if output is Output.wide:
                row.append(v.probed.via)
            rows.append(row)
        app.table(headers, rows)
        for v in report.verdicts:
            if not v.ok:
                render.say(app.err, v.detail)
    return ExitCode.OK if report.ok else ExitCode.NO
