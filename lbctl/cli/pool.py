"""``lbctl pool``: address pools (add, list, show, remove, reserve, unreserve, import, export).

Each command parses its arguments, makes one call into :mod:`lbctl.actions.pools` (the reading
ones into :mod:`lbctl.actions.listing`), and renders the result.  Mutating commands print
``pool/NAME <verb>`` to stdout (kubectl's convention) and, with ``--dry-run``, the diff of the
state document they would write.

Like every command module, this one imports actions and the core inside the command bodies, so
``lbctl --help`` and shell completion never pay for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lbctl.cli import complete, lists, numbers, render
from lbctl.cli.context import App, Output, app_of, command, group
from lbctl.cli.setters import cleared, refuse_both
from lbctl.errors import ExitCode, UnreachableError, UsageError

if TYPE_CHECKING:
    from lbctl.actions.listing import PoolView
    from lbctl.core.interop import Imported
    from lbctl.core.state import Allocation, Pool, State
    from lbctl.state.store import Applied

app = group(
    "Manage address pools: the IPs lbctl may give to LoadBalancer Services.",
)


TABLE_FORMATS = (Output.table, Output.wide, Output.json, Output.yaml, Output.name)


class Announce(str, Enum):
    layer2 = "layer2"
    bgp = "bgp"
    both = "both"


# The announcement options pool add and pool set share.
AnnounceOption = Annotated[Announce | None, typer.Option(
    "--announce", metavar="layer2|bgp|both", case_sensitive=False, show_default=False,
    help="How its addresses are announced: ARP/NDP from one node (layer2, the default), BGP "
         "from every eligible node to the peers (bgp), or both.")]
AggregationOption = Annotated[int | None, numbers.count(
    "--aggregation-length", minimum=0, maximum=32, metavar="LEN",
    help="BGP: announce each IPv4 address as its /LEN prefix (default 32; not shorter than "
         "the pool's prefixes).")]
AggregationV6Option = Annotated[int | None, numbers.count(
    "--aggregation-length-v6", minimum=0, maximum=128, metavar="LEN",
    help="BGP: announce each IPv6 address as its /LEN prefix (default 128).")]
LocalPrefOption = Annotated[int | None, numbers.count(
    "--local-pref", minimum=0, maximum=4294967295, metavar="N",
    help="BGP: the LOCAL_PREF sent with its addresses (to iBGP peers only).")]
CommunityOption = Annotated[list[str] | None, typer.Option(
    "--community", metavar="COMMUNITY",
    help="BGP: a community sent with its addresses: AS:VALUE, large:A:B:C or a well-known "
         "name (no-export, no-advertise, ...); repeatable.")]
InterfaceOption = Annotated[list[str] | None, typer.Option(
    "--interface", metavar="IF",
    help="Layer 2: answer ARP/NDP for its addresses only on this interface of a node "
         "(repeatable; a node with none of them does not announce them; default: each "
         "speaker's own choice).")]
BgpPeerOption = Annotated[list[str] | None, typer.Option(
    "--bgp-peer", metavar="PEER",
    help="BGP: announce its addresses to this peer only (repeatable; default: every peer).")]


def _bgp_changes(aggregation_length: int | None, aggregation_length_v6: int | None,
                 local_pref: int | None, communities: list[str] | None,
                 bgp_peers: list[str] | None) -> dict[str, Any]:
    """The advertisement fields given on the command line (communities normalised)."""
    from lbctl.core.bgp import make_advertisement

    changes: dict[str, Any] = {}
    if aggregation_length is not None:
        changes["aggregation_length"] = aggregation_length
    if aggregation_length_v6 is not None:
        changes["aggregation_length_v6"] = aggregation_length_v6
    if local_pref is not None:
        changes["local_pref"] = local_pref
    if communities is not None:
        changes["communities"] = make_advertisement(communities=communities).communities
    if bgp_peers is not None:
        changes["peers"] = tuple(sorted(set(bgp_peers)))
    return changes
DOC_FORMATS = (Output.table, Output.json, Output.yaml, Output.name)


def _pool_doc(view: PoolView, *, details: bool) -> dict[str, Any]:
    pool = view.pool
    doc: dict[str, Any] = {
        "name": pool.name,
        "addresses": list(pool.addresses),
        "autoAssign": pool.auto_assign,
        "avoidBuggyIPs": pool.avoid_buggy_ips,
        "namespaces": list(pool.namespaces),
        "serviceSelectors": list(pool.service_selectors),
        "nodeSelectors": list(pool.node_selectors),
        **({"interfaces": list(pool.interfaces)} if pool.interfaces else {}),
        "priority": pool.priority,
        "reservations": dict(pool.reservations),
        **_announce_doc(pool),
        "usage": [
            {"family": u.family, "used": u.used, "free": u.free, "capacity": u.capacity}
            for u in view.usage
        ],
    }
    if details:
        doc["allocations"] = [_record_doc(a) for a in view.allocations]
        doc["holds"] = [_record_doc(a) for a in view.holds]
    return doc


def _announce_doc(pool: Pool) -> dict[str, Any]:
    """``announce`` and ``bgp`` (the advertisement), for a pool announced over BGP only: the
    shape of layer-2 pools stays as it was."""
    from lbctl.core.bgp import LAYER2

    if pool.announce == LAYER2:
        return {}
    bgp = pool.bgp
    return {"announce": pool.announce, "bgp": {
        "aggregationLength": bgp.aggregation_length,
        "aggregationLengthV6": bgp.aggregation_length_v6, "localPref": bgp.local_pref,
        "communities": list(bgp.communities), "peers": list(bgp.peers)}}


def _record_doc(record: Allocation) -> dict[str, Any]:
    return {
        "namespace": record.namespace,
        "name": record.name,
        "ips": list(record.ips),
        "sharingKey": record.sharing_key,
    }


def _live(app: App, state: State) -> State:
    """The state as allocation sees it now: holds whose end has passed are free."""
    from lbctl.core.holds import live

    return live(state, app.now())


def _state_diff(app: App, applied: Applied[Any]) -> None:
    """With --dry-run, the diff of the state document that would have been written."""
    from lbctl.core.state import encode
    from lbctl.core.textdiff import unified_diff

    if app.options.dry_run:
        render.diff(app.out, unified_diff(encode(applied.before), encode(applied.after),
                                          "state.yaml"))


def _report(app: App, applied: Applied[Pool], verb: str) -> None:
    """kubectl-style outcome line, and with --dry-run the diff of the state document."""
    from lbctl.actions.listing import views

    pool = applied.result
    render.warn_unheard(app.err, applied.after, [pool.name])
    if app.output is Output.name:
        render.names(app.out, [f"pool/{pool.name}"])
        return
    if app.output in (Output.json, Output.yaml):
        view = views(applied.after if pool.name in applied.after.pools else applied.before,
                             [pool.name])[0]
        render.document(app.out, _pool_doc(view, details=False), app.output.value)
        return
    _state_diff(app, applied)
    unchanged = "" if applied.written or app.options.dry_run else " (unchanged)"
    render.outcomes(app.out, [f"pool/{pool.name} {verb}{unchanged}"],
                    dry_run=app.options.dry_run)


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
    priority: Annotated[int | None, numbers.count(
        "--priority", minimum=0, maximum=2**31 - 1, metavar="N",
        help="Pools are tried by priority, lower first; pools without one come last, then "
             "by name.")] = None,
    node_selectors: Annotated[list[str] | None, typer.Option(
        "--node-selector", metavar="SELECTOR",
        help="Announce its addresses (lbctl speaker, layer 2) only from nodes whose labels "
             "match (openyurt.io/is-edge-worker=true). Repeat for alternatives.")] = None,
    interfaces: InterfaceOption = None,
    announce: AnnounceOption = None,
    aggregation_length: AggregationOption = None,
    aggregation_length_v6: AggregationV6Option = None,
    local_pref: LocalPrefOption = None,
    communities: CommunityOption = None,
    bgp_peers: BgpPeerOption = None,
    allow_cluster_overlap: Annotated[bool, typer.Option(
        "--allow-cluster-overlap",
        help="Add the pool even if it holds a node's address, a pod CIDR or a ClusterIP in "
             "use (checked when the state is on the cluster).")] = False,
    new_state: Annotated[bool, typer.Option(
        "--new-state",
        help="Create the state ConfigMap even though Services show addresses of this pool "
             "that no state records (the state was lost); then run lbctl adopt --all -A.")
    ] = False,
) -> None:
    """Add an address pool.

    Addresses that can never be a VIP are refused: unspecified, loopback, link-local,
    multicast, 255.255.255.255 and IPv4-mapped/compatible IPv6 (::ffff:192.0.2.1). When the
    state is on the cluster, a pool that holds a node's InternalIP/ExternalIP, overlaps a pod
    CIDR or holds a ClusterIP in use is refused too, naming them, unless
    --allow-cluster-overlap.  When the state ConfigMap does not exist while Services
    already show addresses of the pool (the state was deleted or lost), the pool is refused
    unless --new-state: restore the state from a backup instead, or add the pools with
    --new-state and record those addresses with lbctl adopt --all -A.

    With --announce bgp (or both), lbctl speaker announces each address to the BGP peers
    (lbctl bgp peer add) as its /32 (/128) from every eligible node, or as its
    --aggregation-length prefix, with --local-pref and --community, to the --bgp-peer peers
    only if given (MetalLB's BGPAdvertisement).

    With --interface (MetalLB's L2Advertisement interfaces), lbctl speaker answers ARP/NDP
    and sends gratuitous frames for its addresses only on those interfaces, and only nodes
    that have one of them may own an address.

    Example: lbctl pool add default 192.168.1.30-192.168.1.49 --state ./lb.yaml

    Example: lbctl pool add dmz 203.0.113.16/28 --interface eth1 --interface bond1.20

    Example: lbctl pool add routed 192.168.197.0/24 --announce bgp --community no-export
    """
    from lbctl.actions import pools as actions
    from lbctl.core.bgp import Advertisement
    from lbctl.core.pools import make_pool

    app = app_of(ctx)
    app.require_output(*DOC_FORMATS)
    pool = make_pool(
        name, addresses, auto_assign=not no_auto_assign, avoid_buggy_ips=avoid_buggy_ips,
        namespaces=namespaces or (), selectors=selectors or (), priority=priority,
        node_selectors=node_selectors or (), interfaces=interfaces or (),
        announce=(announce or Announce.layer2).value,
        bgp=Advertisement(**_bgp_changes(aggregation_length, aggregation_length_v6, local_pref,
                                         communities, bgp_peers)),
    )
    kube = None if app.offline or allow_cluster_overlap else app.kube()
    _report(app, actions.add(app.store(new_state=new_state), pool,
                             dry_run=app.options.dry_run, kube=kube), "created")


@command(app, "set", exclude=("namespace",))
def set_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Pool name.", metavar="NAME",
                                        autocompletion=complete.pool_names)],
    add: Annotated[list[str] | None, typer.Option(
        "--add", metavar="ADDR", help="Add a CIDR, range or address (repeatable).")] = None,
    remove: Annotated[list[str] | None, typer.Option(
        "--remove", metavar="ADDR",
        help="Take a CIDR, range or address out of the pool (repeatable); it may be part of "
             "an entry, which is then split.")] = None,
    auto_assign: Annotated[bool | None, typer.Option(
        "--auto-assign/--no-auto-assign", show_default=False,
        help="Serve every Service, or only those that ask for this pool or its addresses.")
    ] = None,
    avoid_buggy_ips: Annotated[bool | None, typer.Option(
        "--avoid-buggy-ips/--no-avoid-buggy-ips", show_default=False,
        help="Never (or again) hand out IPv4 addresses ending in .0 or .255.")] = None,
    priority: Annotated[int | None, numbers.count(
        "--priority", minimum=0, maximum=2**31 - 1, metavar="N",
        help="Pools are tried by priority, lower first.")] = None,
    no_priority: Annotated[bool, typer.Option(
        "--no-priority", help="Drop the priority: the pool is tried after those that have one "
                              "(drops --priority).")] = False,
    namespaces: Annotated[list[str] | None, typer.Option(
        "-n", "--namespace", metavar="NS",
        help="Serve only Services in these namespaces (repeatable; replaces the list).")
    ] = None,
    any_namespace: Annotated[bool, typer.Option(
        "--any-namespace", help="Drop the namespaces: Services in every namespace again.")
    ] = False,
    selectors: Annotated[list[str] | None, typer.Option(
        "--selector", "-l", metavar="SELECTOR",
        help="Serve only Services whose labels match one of these (repeatable; replaces the "
             "list).")] = None,
    any_labels: Annotated[bool, typer.Option(
        "--any-labels", help="Drop the Service selectors: Services with any labels again.")
    ] = False,
    node_selectors: Annotated[list[str] | None, typer.Option(
        "--node-selector", metavar="SELECTOR",
        help="Announce its addresses (lbctl speaker) only from nodes matching one of these "
             "(repeatable; replaces the list).")] = None,
    any_node: Annotated[bool, typer.Option(
        "--any-node", help="Drop the node selectors: every node may announce again.")] = False,
    interfaces: Annotated[list[str] | None, typer.Option(
        "--interface", metavar="IF",
        help="Layer 2: answer ARP/NDP for its addresses only on these interfaces (repeatable; "
             "replaces the list).")] = None,
    any_interface: Annotated[bool, typer.Option(
        "--any-interface", help="Drop the interfaces: each speaker's own choice again.")
    ] = False,
    announce: AnnounceOption = None,
    aggregation_length: AggregationOption = None,
    aggregation_length_v6: AggregationV6Option = None,
    local_pref: LocalPrefOption = None,
    no_local_pref: Annotated[bool, typer.Option(
        "--no-local-pref", help="BGP: send no LOCAL_PREF with its addresses (drops "
                                "--local-pref).")] = False,
    communities: CommunityOption = None,
    no_communities: Annotated[bool, typer.Option(
        "--no-communities", help="BGP: send its addresses with no community (drops "
                                 "--community).")] = False,
    bgp_peers: BgpPeerOption = None,
    all_bgp_peers: Annotated[bool, typer.Option(
        "--all-bgp-peers", help="BGP: announce to every peer again (drops --bgp-peer).")
    ] = False,
    allow_cluster_overlap: Annotated[bool, typer.Option(
        "--allow-cluster-overlap",
        help="Add the addresses even if they hold a node's address, a pod CIDR or a ClusterIP "
             "in use (checked when the state is on the cluster).")] = False,
) -> None:
    """Change a pool in place: grow or shrink it, and change how it serves Services.

    Growing is refused when the new addresses overlap another pool or, on a cluster, hold a
    node's address, a pod CIDR or a ClusterIP in use (as pool add); shrinking is refused
    while an allocated, held or reserved address would fall out, naming the Services.
    Options not given keep their value.  -n, -l, --node-selector, --interface, --community
    and --bgp-peer replace their list; --any-namespace, --any-labels, --any-node,
    --any-interface, --no-communities and --all-bgp-peers empty it (an empty value, as -n "",
    is refused); --no-priority and --no-local-pref drop those settings.  --dry-run prints the
    diff of the state.

    Examples:

    \b
      lbctl pool set default --add 192.168.1.50-192.168.1.59
      lbctl pool set default --remove 192.168.1.45-192.168.1.49 --dry-run
      lbctl pool set default --no-auto-assign --priority 10
      lbctl pool set edge --node-selector openyurt.io/is-edge-worker=true
      lbctl pool set dmz --interface eth1
      lbctl pool set routed --announce bgp --bgp-peer router --local-pref 200
      lbctl pool set default --any-namespace --any-labels
      lbctl pool set routed --no-communities --all-bgp-peers

    --announce layer2 drops the pool's BGP options.
    """
    from lbctl.actions import pools as actions

    app = app_of(ctx)
    app.require_output(*DOC_FORMATS)
    namespaces = cleared(namespaces, any_namespace, "--any-namespace", "the namespaces", "-n")
    selectors = cleared(selectors, any_labels, "--any-labels", "the Service selectors", "-l")
    node_selectors = cleared(node_selectors, any_node, "--any-node", "the node selectors",
                             "--node-selector")
    interfaces = cleared(interfaces, any_interface, "--any-interface", "the interfaces",
                         "--interface")
    communities = cleared(communities, no_communities, "--no-communities", "the communities",
                          "--community")
    bgp_peers = cleared(bgp_peers, all_bgp_peers, "--all-bgp-peers", "the BGP peers it names",
                        "--bgp-peer")
    refuse_both(no_priority, priority is not None, "--no-priority", "the priority",
                "--priority", "it")
    refuse_both(no_local_pref, local_pref is not None, "--no-local-pref", "the LOCAL_PREF",
                "--local-pref", "it")
    bgp = _bgp_changes(aggregation_length, aggregation_length_v6, local_pref, communities,
                       bgp_peers)
    if no_local_pref:
        bgp["local_pref"] = None
    if not bgp and not no_priority and not any(
            x is not None for x in (add, remove, auto_assign, avoid_buggy_ips, priority,
                                    namespaces, selectors, node_selectors, interfaces,
                                    announce)):
        raise UsageError(f"nothing to change in pool {name}",
                         hint=f"example: lbctl pool set {name} --add 192.0.2.50-192.0.2.59")
    kube = None if app.offline or allow_cluster_overlap or not add else app.kube()
    applied = actions.set_(
        app.store(), name, dry_run=app.options.dry_run, kube=kube, add=add or (),
        remove=remove or (),
        auto_assign=auto_assign, avoid_buggy_ips=avoid_buggy_ips, priority=priority,
        drop_priority=no_priority, namespaces=namespaces, selectors=selectors,
        node_selectors=node_selectors, interfaces=interfaces,
        announce=announce.value if announce else None, bgp=bgp or None)
    _report(app, applied, "configured")


@command(app, "list")
def list_(
    ctx: typer.Context,
) -> None:
    """List pools with their addresses and how full they are: one row per pool and IP
    family, so that a mixed pool whose IPv4 addresses are exhausted says so.

    Example: lbctl pool list -o wide
    """
    from lbctl.actions.listing import list_pools

    app = app_of(ctx)
    output = app.require_output(*TABLE_FORMATS)
    store = app.store()
    views = list_pools(store, app.now)

    def rows(view: PoolView, wide: bool) -> Iterator[list[render.Cell]]:
        pool = view.pool
        for usage in view.usage:
            row: list[render.Cell] = [
                pool.name, usage.family, ",".join(_addresses_of(pool, usage.family)),
                "yes" if pool.auto_assign else "no", render.count(usage.used),
                render.count(usage.free), render.bar(usage.used, usage.capacity),
            ]
            if wide:
                row += [
                    "-" if pool.priority is None else str(pool.priority),
                    "yes" if pool.avoid_buggy_ips else "no",
                    ",".join(pool.namespaces) or "*",
                    " | ".join(pool.service_selectors) or "*",
                    pool.announce,
                    str(sum(1 for ip in pool.reservations
                            if ("IPv6" if ":" in ip else "IPv4") == usage.family)),
                ]
            yield row

    lists.show(
        app, output, views, kind="PoolList", doc=lambda v: _pool_doc(v, details=False),
        name=lambda v: f"pool/{v.pool.name}",
        empty=f"no pools in {store.location}; add one with lbctl pool add",
        headers=["name", "family", "addresses", "auto", "used", "free", "utilisation"],
        wide=["priority", "avoid-buggy", "namespaces", "selectors", "announce", "reserved"],
        rows=rows)


def _addresses_of(pool: Pool, family: str) -> list[str]:
    """The pool's entries of one family (``IPv4``/``IPv6``), as written."""
    version = 6 if family == "IPv6" else 4
    return [text for text, entry in zip(pool.addresses, pool.entries, strict=True)
            if entry.version == version]


@command(app, "show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Pool name.", metavar="NAME",
                                        autocompletion=complete.pool_names)],
) -> None:
    """Show one pool: its entries, usage per family, allocations, holds and reservations.

    Example: lbctl pool show default
    """
    from lbctl.actions.listing import views

    app = app_of(ctx)
    output = app.require_output(*DOC_FORMATS)
    view = views(_live(app, app.store().load()), [name])[0]
    if output is Output.name:
        render.names(app.out, [f"pool/{view.pool.name}"])
        return
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
        ("Announced from", " | ".join(pool.node_selectors) or "every node"),
        *([("Interfaces", ", ".join(pool.interfaces) + " (nodes without one do not announce)")]
          if pool.interfaces else []),
        *_announce_facts(pool),
    ] + [
        (f"{u.family}", f"{render.count(u.used)} used, {render.count(u.free)} free of "
                        f"{render.count(u.capacity)}")
        for u in view.usage
    ]
    render.facts(app.out, facts)
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
            app.table(headers, rows)


def _announce_facts(pool: Pool) -> list[tuple[str, str]]:
    """How a pool announced over BGP is announced (nothing for a layer-2 pool)."""
    from lbctl.core.bgp import LAYER2

    if pool.announce == LAYER2:
        return []
    bgp = pool.bgp
    return [
        ("Announce", {"bgp": "BGP", "both": "BGP and layer 2"}[pool.announce]),
        ("BGP prefixes", f"/{bgp.aggregation_length} (IPv4), /{bgp.aggregation_length_v6} "
                         "(IPv6)"),
        ("BGP peers", ", ".join(bgp.peers) or "every peer"),
        ("Local pref", "-" if bgp.local_pref is None else str(bgp.local_pref)),
        ("Communities", ", ".join(bgp.communities) or "-"),
    ]


@command(app, "remove")
def remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Pool name.", metavar="NAME",
                                        autocompletion=complete.pool_names)],
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
    name: Annotated[str, typer.Argument(help="Pool name.", metavar="NAME",
                                        autocompletion=complete.pool_names)],
    ips: Annotated[list[str], typer.Argument(
        help="Addresses to keep out of allocation: single addresses, ranges "
             "(192.0.2.40-192.0.2.45) or CIDRs, at most 1024 addresses.", metavar="IP...")],
    note: Annotated[str | None, typer.Option(
        "--note", help="Why (shown by pool show). Without it, an address already reserved "
                       "keeps its note.")] = None,
) -> None:
    """Reserve addresses of a pool so that they are never handed out.

    For a router, a printer, or a VIP managed elsewhere.  Refused for an address that is
    allocated or held.

    Example: lbctl pool reserve default 192.168.1.31 --note "edge router"

    Example: lbctl pool reserve default 192.168.1.40-192.168.1.45
    """
    from lbctl.actions import pools as actions

    app = app_of(ctx)
    app.require_output(*DOC_FORMATS)
    applied = actions.reserve(app.store(), name, ips, note, dry_run=app.options.dry_run)
    _report(app, applied, "reserved " + ",".join(ips))


@command(app, "unreserve")
def unreserve(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Pool name.", metavar="NAME",
                                        autocompletion=complete.pool_names)],
    ips: Annotated[list[str], typer.Argument(
        help="Reserved addresses to free: single addresses, ranges or CIDRs.",
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


# --------------------------------------------------------------------------- import / export


class Tool(str, Enum):
    metallb = "metallb"
    kube_vip = "kube-vip"
    cilium = "cilium"


class ExportFormat(str, Enum):
    metallb = "metallb"
    kube_vip = "kube-vip"
    cilium = "cilium"
    calico = "calico"


_TOOL_HELP = "metallb: IPAddressPools or the legacy ConfigMap config; kube-vip: the kubevip " \
             "ConfigMap; cilium: CiliumLoadBalancerIPPools."


@command(app, "import", exclude=("namespace", "all_namespaces"))
def import_(
    ctx: typer.Context,
    tool: Annotated[Tool, typer.Argument(
        help=_TOOL_HELP, metavar="metallb|kube-vip|cilium", case_sensitive=False)],
    filenames: Annotated[list[str] | None, typer.Option(
        "-f", "--filename", metavar="FILE",
        help="Read manifests from this file (repeatable; '-' reads stdin) instead of the "
             "cluster. Services in them are adopted when working offline (--state).")] = None,
    namespace: Annotated[str | None, typer.Option(
        "-n", "--namespace", metavar="NS",
        help="Where the tool keeps its configuration on the cluster (default: metallb-system "
             "for MetalLB, kube-system for kube-vip).")] = None,
    prefix: Annotated[str, typer.Option(
        "--prefix", metavar="TEXT",
        help="Name the imported pools TEXT + their name (metallb-default), to escape names "
             "already taken.")] = "",
) -> int:
    """Import the address pools of MetalLB, kube-vip or Cilium, and adopt the addresses in use.

    Item by item, in one state transaction: each pool is added unless its name or addresses are
    taken (use --prefix for names; a pool already there, the same, is left as it is).  Services
    that already hold an address of an imported pool (status.loadBalancer.ingress) keep it: they
    are recorded as allocations, with their sharing key, never re-allocated.  A Service whose
    address the pool's rules forbid, or that holds an address in no imported pool, is reported
    on stderr; the rest is imported, and the exit code is 1.  Services come from the cluster
    whenever lbctl talks to one; offline (--state) they come from the -f files.  MetalLB
    L2Advertisements become the node selectors of the pools they cover.  MetalLB's BGP setup
    comes along: its BGPPeers (or the legacy ConfigMap's peers) become lbctl's BGP peers, and
    pools a BGPAdvertisement selects (or with protocol bgp) are announced over BGP with its
    options.  Everything lbctl cannot represent (namespace label selectors, BFD, kube-vip's
    interfaces and key-less sharing, ...) is named in a warning on stderr.  --dry-run prints
    the diff of the state.

    Example: lbctl pool import metallb --dry-run

    Example: kubectl get ipaddresspools,svc -A -o yaml | lbctl pool import metallb -f -
    """
    from lbctl.actions import interop as actions
    from lbctl.cli.inputs import read_sources

    app = app_of(ctx)
    output = app.require_output(*DOC_FORMATS)
    inputs = read_sources(filenames or [])
    kube = None
    if not inputs or not app.offline:
        try:
            kube = app.kube()
        except UnreachableError as exc:
            if inputs:
                raise
            raise UnreachableError(exc.message, hint="give the manifests with -f FILE ('-' for "
                                                     "stdin), or a cluster with --kubeconfig"
                                   ) from exc
    applied = actions.import_pools(
        # A new state is safe here: the import records every address in use of the pools it
        # adds, and reports each one it cannot (lbctl.core.lost's check is for pool add).
        app.store(new_state=True), tool.value, inputs=inputs, kube=kube,
        namespace=namespace or app.options.namespace, prefix=prefix,
        dry_run=app.options.dry_run, warn=app.warn,
    )
    _report_import(app, applied, output)
    for item in applied.result.failed:
        render.say(app.err, f"lbctl: error: {item.message}")
        if item.hint:
            render.say(app.err, f"hint: {item.hint}")
    return ExitCode.NO if applied.result.failed else ExitCode.OK


def _report_import(app: App, applied: Applied[Imported], output: Output) -> None:
    from lbctl.actions.listing import views

    imported = applied.result
    if output is Output.name:
        render.names(app.out, [*(f"bgppeer/{p.name}" for p in imported.peers),
                               *(f"pool/{p.name}" for p in imported.pools),
                               *(f"service/{a.name}" for a in imported.adopted)])
        return
    if output is not Output.table:
        pool_views = views(applied.after, [p.name for p in imported.pools])
        render.document(app.out, {
            "kind": "PoolImport",
            "dryRun": app.options.dry_run,
            "pools": [_pool_doc(v, details=False) for v in pool_views],
            "adopted": [_record_doc(a) for a in imported.adopted],
            "unchanged": [p.name for p in imported.unchanged],
            "peers": [p.name for p in imported.peers],
            "unchangedPeers": [p.name for p in imported.unchanged_peers],
            "failed": [{"kind": f.kind, "namespace": f.namespace or None, "name": f.name,
                        "message": f.message} for f in imported.failed],
        }, output.value)
        return
    _state_diff(app, applied)
    render.outcomes(app.out, [
        *(f"bgppeer/{p.name} imported" for p in imported.peers),
        *(f"bgppeer/{p.name} unchanged" for p in imported.unchanged_peers),
        *(f"pool/{p.name} imported" for p in imported.pools),
        *(f"pool/{p.name} unchanged" for p in imported.unchanged),
        *(f"service/{a.name} -n {a.namespace} adopted {','.join(a.ips)} (pool {a.pool})"
          for a in imported.adopted),
    ], dry_run=app.options.dry_run)


@command(app, "export", exclude=("namespace", "all_namespaces", "dry_run"))
def export(
    ctx: typer.Context,
    fmt: Annotated[ExportFormat, typer.Option(
        "--format", help="Whose manifests to write.", metavar="metallb|kube-vip|cilium|calico",
        case_sensitive=False)],
    names: Annotated[list[str] | None, typer.Argument(
        help="Pools to export (default: every pool).", metavar="[POOL]...")] = None,
    namespace: Annotated[str | None, typer.Option(
        "-n", "--namespace", metavar="NS",
        help="Namespace of the manifests (default: metallb-system for MetalLB, kube-system "
             "for kube-vip).")] = None,
) -> None:
    """Print the pools as MetalLB, kube-vip, Cilium or Calico manifests, for kubectl apply.

    MetalLB: one IPAddressPool per pool, an L2Advertisement named lbctl listing the layer-2
    pools any node may announce, one named lbctl-POOL with the nodeSelectors of each that has
    some, and for pools announced over BGP a BGPAdvertisement each (named after the pool) and a
    BGPPeer per peer (MetalLB announces no pool that no advertisement selects).  kube-vip: the
    ConfigMap kubevip, one cidr-/range- key per namespace (or global).  Cilium: one
    CiliumLoadBalancerIPPool per pool (allowFirstLastIPs Yes; namespaces as
    io.kubernetes.service.namespace in its serviceSelector).  Calico: its BGPConfiguration
    default with spec.serviceLoadBalancerIPs the pools' CIDRs, so Calico announces them over
    its own BGP sessions (on a cluster, Calico's other settings are kept; apply it with
    calicoctl apply -f, or kubectl with Calico's API server).  Reserved addresses are left out
    of the exported ranges; every setting the target cannot express (kube-vip has no
    selectors, priorities, reservations or autoAssign: false) is named in a warning on
    stderr.  -o json prints a List.

    Example: lbctl pool export --format metallb | kubectl apply -f -

    Example: lbctl pool export --format kube-vip default --state ./lb.yaml

    Example: lbctl pool export --format cilium -o name

    Example: lbctl pool export --format calico | calicoctl apply -f -
    """
    from lbctl.actions import interop as actions

    app = app_of(ctx)
    output = app.require_output(Output.table, Output.yaml, Output.json, Output.name)
    kube = None if fmt is not ExportFormat.calico or app.offline else app.kube()
    documents = actions.export_pools(
        app.store(), fmt.value, names or [], namespace=namespace or app.options.namespace,
        kube=kube, warn=app.warn,
    )
    render.manifests(app.out, documents, output.value)
