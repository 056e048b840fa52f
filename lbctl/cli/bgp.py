"""``lbctl bgp``: BGP peers (add, list, show, remove) and the upstream router's configuration
(export).

Each command parses its arguments, makes one call into :mod:`lbctl.actions.bgp`, and renders.
Mutating commands print ``bgppeer/NAME <verb>`` (kubectl's convention) and, with ``--dry-run``,
the diff of the state document.

``-o json`` shapes (stable):

* ``bgp peer list``: ``{"kind": "BGPPeerList", "items": [PEER...]}``;
* ``bgp peer show|add|set|remove``: one ``PEER``: ``{"name", "address", "asn", "myASN", "port",
  "holdTime", "passwordSecret" (a Secret name or null), "sourceAddress" (or null),
  "ebgpMultiHop", "nodeSelectors"}``.

A password is read from ``--password-file`` (``-`` for stdin), written into a Secret on the
cluster, and never printed, logged or stored in the state.  The state records that Secret's uid:
once no peer names it (``peer remove``), lbctl deletes it, and says so (``secret/NAME deleted``;
``-o json|yaml`` print the peer alone, the line goes to stderr).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lbctl.cli import complete, lists, numbers, render
from lbctl.cli.context import App, Output, app_of, command, group
from lbctl.cli.setters import cleared
from lbctl.errors import UsageError

if TYPE_CHECKING:
    from lbctl.actions.bgp import SecretCleanup
    from lbctl.core.bgp import Peer
    from lbctl.state.store import Applied

app = group("BGP: the routers lbctl's speakers peer with, and the routers' configuration.")
peer_app = group("Manage BGP peers: the routers every eligible node announces addresses to.")
app.add_typer(peer_app, name="peer")

DOC_FORMATS = (Output.table, Output.json, Output.yaml, Output.name)
#: The longest TCP MD5 key Linux accepts (TCP_MD5SIG_MAXKEYLEN).
MAX_PASSWORD = 80


def peer_doc(peer: Peer) -> dict[str, Any]:
    return {
        "name": peer.name,
        "address": peer.address,
        "asn": peer.asn,
        "myASN": peer.my_asn,
        "port": peer.port,
        "holdTime": peer.hold_time,
        "passwordSecret": peer.password_secret,
        "sourceAddress": peer.source_address,
        "ebgpMultiHop": peer.ebgp_multihop,
        "nodeSelectors": list(peer.node_selectors),
    }


def _report(app: App, applied: Applied[Peer], verb: str,
            cleanups: Sequence[SecretCleanup] = (), shared_with: Sequence[str] = ()) -> None:
    """The change's outcome, then what became of the password Secrets lbctl created: deleted
    (an outcome line: on stdout, or on stderr beside a JSON/YAML document), kept for the peers
    that still name it, or left behind (a warning with what to do)."""
    from lbctl.core.state import encode
    from lbctl.core.textdiff import unified_diff

    peer = applied.result
    dry_run = app.options.dry_run
    if peer.name not in applied.after.peers:  # removed: pools it alone was sent to
        render.warn_unheard(app.err, applied.after, applied.after.pools)
    deleted = [f"secret/{c.name} deleted" for c in cleanups if c.deleted]
    kept = [f"secret/{peer.password_secret} kept (peer {', '.join(shared_with)} names it)"
            ] if shared_with else []
    for cleanup in cleanups:
        if not cleanup.deleted:
            render.warn(app.err, f"Secret kube-system/{cleanup.name} (the password lbctl "
                                 f"stored for {peer.name}) stays: {cleanup.kept}; "
                                 f"{cleanup.hint}")
    if app.output is Output.name:
        render.names(app.out, [f"bgppeer/{peer.name}"]
                     + [line.split()[0] for line in deleted])
        return
    if app.output in (Output.json, Output.yaml):
        render.document(app.out, peer_doc(peer), app.output.value)
        render.outcomes(app.err, deleted + kept, dry_run=dry_run)
        return
    if dry_run:
        render.diff(app.out, unified_diff(encode(applied.before), encode(applied.after),
                                          "state.yaml"))
    unchanged = "" if applied.written or dry_run else " (unchanged)"
    render.outcomes(app.out, [f"bgppeer/{peer.name} {verb}{unchanged}", *deleted, *kept],
                    dry_run=dry_run)


def read_password(path: str) -> str:
    """The password in ``path`` (``-``: stdin): its first line, without the line break.
    Refused when empty, longer than :data:`MAX_PASSWORD` bytes, or not one line."""
    from lbctl.cli.inputs import read_sources

    text = read_sources([path])[0].text
    lines = text.splitlines()
    label = "stdin" if path == "-" else path
    if len(lines) > 1 and any(line.strip() for line in lines[1:]):
        raise UsageError(f"{label} holds more than one line; a BGP password is one line",
                         hint="write the password alone on the first line")
    password = lines[0] if lines else ""
    if not password:
        raise UsageError(f"{label} is empty: no password", hint="write the password in it")
    if len(password.encode()) > MAX_PASSWORD:
        raise UsageError(f"the password in {label} is longer than {MAX_PASSWORD} bytes, the "
                         "most TCP MD5 allows", hint="choose a shorter password")
    return password


@command(peer_app, "add", exclude=("namespace", "all_namespaces"))
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Peer name (lower case, digits, '-', '.').",
                                        metavar="NAME")],
    address: Annotated[str, typer.Option("--address", metavar="IP",
                                         help="The router's address.")],
    asn: Annotated[int, numbers.count("--asn", maximum=4294967295, metavar="N",
                                      help="The router's AS number.")],
    my_asn: Annotated[int, numbers.count("--my-asn", maximum=4294967295, metavar="N",
                                         help="The cluster's AS number (the nodes speak as "
                                              "it).")],
    port: Annotated[int, numbers.count("--port", maximum=65535, metavar="PORT",
                                       help="The router's BGP port.")] = 179,
    hold_time: Annotated[int, numbers.count(
        "--hold-time", minimum=0, maximum=65535, metavar="SECONDS", unit="seconds",
        help="Hold time: 0 (no keepalives) or at least 3.")] = 90,
    password_file: Annotated[str | None, typer.Option(
        "--password-file", metavar="FILE",
        help="Read the TCP MD5 password from FILE ('-': stdin) and store it in a new Secret "
             "kube-system/lbctl-bgp-NAME (key password) on the cluster.")] = None,
    password_secret: Annotated[str | None, typer.Option(
        "--password-secret", metavar="SECRET",
        help="Use the password in this existing Secret of kube-system (key password), "
             "created by you (kubectl, SOPS, sealed-secrets).")] = None,
    source_address: Annotated[str | None, typer.Option(
        "--source-address", metavar="IP", help="The address the nodes speak from.")] = None,
    ebgp_multihop: Annotated[bool, typer.Option(
        "--ebgp-multihop", help="The router is more than one hop away (eBGP only).")] = False,
    node_selectors: Annotated[list[str] | None, typer.Option(
        "--node-selector", metavar="SELECTOR",
        help="Only nodes whose labels match peer with this router (kubectl syntax: "
             "rack=a). Repeat for alternatives.")] = None,
) -> None:
    """Add a BGP peer: a router every eligible node opens a session to and announces the
    addresses of the pools with --announce bgp (or both) to.

    MetalLB's rules: hold time 0 or at least 3 seconds; --ebgp-multihop is refused for iBGP
    (--asn equal to --my-asn); a source address has the router's IP family.  The password
    is never in the state and never printed: --password-file stores it in a new Secret on the
    cluster first (an existing one is never overwritten: change it with kubectl).  With a
    local --state file there is no cluster to write to: create the Secret yourself (kubectl
    create secret generic NAME -n kube-system --from-file=password=FILE, or encrypted in
    your repository) and name it with --password-secret.  --dry-run prints the diff of the
    state and writes no Secret.

    Example: lbctl bgp peer add router --address 192.168.200.1 --asn 64501 --my-asn 64500
    """
    from lbctl.actions import bgp as actions
    from lbctl.core.bgp import make_peer

    app = app_of(ctx)
    app.require_output(*DOC_FORMATS)
    _exclusive({"--password-file": password_file is not None,
                "--password-secret": password_secret is not None})
    _need_cluster(app, name, password_file)
    peer = make_peer(name, address, asn, my_asn, port=port, hold_time=hold_time,
                     password_secret=password_secret, source_address=source_address,
                     ebgp_multihop=ebgp_multihop, node_selectors=node_selectors or ())
    password = read_password(password_file) if password_file is not None else None
    kube = app.kube() if password is not None else None
    _report(app, actions.add_peer(app.store(), peer, password=password, kube=kube,
                                  dry_run=app.options.dry_run), "created")


def _exclusive(given: dict[str, bool]) -> None:
    """Refuse two options of ``given`` (option -> given?) that exclude each other."""
    flags = [flag for flag, present in given.items() if present]
    if len(flags) > 1:
        raise UsageError(f"{flags[0]} and {flags[1]} exclude each other",
                         hint=f"give one of {', '.join(given)}")


def _need_cluster(app: App, name: str, password_file: str | None) -> None:
    """A password file goes into a Secret on the cluster: refused with a local state file."""
    if password_file is not None and app.offline:
        raise UsageError(
            "--password-file needs the cluster (the password goes into a Secret there), but "
            "the state is the local file " + str(app.state_path),
            hint=f"create the Secret yourself (kubectl create secret generic lbctl-bgp-{name} "
                 "-n kube-system --from-file=password=FILE) and pass --password-secret "
                 f"lbctl-bgp-{name}")


@command(peer_app, "set", exclude=("namespace", "all_namespaces"))
def set_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Peer name.", metavar="NAME",
                                        autocompletion=complete.peer_names)],
    address: Annotated[str | None, typer.Option("--address", metavar="IP",
                                                help="The router's address.")] = None,
    asn: Annotated[int | None, numbers.count("--asn", maximum=4294967295, metavar="N",
                                             help="The router's AS number.")] = None,
    my_asn: Annotated[int | None, numbers.count(
        "--my-asn", maximum=4294967295, metavar="N",
        help="The cluster's AS number (the nodes speak as it).")] = None,
    port: Annotated[int | None, numbers.count("--port", maximum=65535, metavar="PORT",
                                              help="The router's BGP port.")] = None,
    hold_time: Annotated[int | None, numbers.count(
        "--hold-time", minimum=0, maximum=65535, metavar="SECONDS", unit="seconds",
        help="Hold time: 0 (no keepalives) or at least 3.")] = None,
    password_file: Annotated[str | None, typer.Option(
        "--password-file", metavar="FILE",
        help="A new TCP MD5 password from FILE ('-': stdin), stored in a new Secret of "
             "kube-system (lbctl-bgp-NAME, or lbctl-bgp-NAME-2 while the old one is in use).")
    ] = None,
    password_secret: Annotated[str | None, typer.Option(
        "--password-secret", metavar="SECRET",
        help="Use the password in this existing Secret of kube-system (key password).")
    ] = None,
    no_password: Annotated[bool, typer.Option(
        "--no-password", help="No TCP MD5 password any more.")] = False,
    source_address: Annotated[str | None, typer.Option(
        "--source-address", metavar="IP", help="The address the nodes speak from.")] = None,
    no_source_address: Annotated[bool, typer.Option(
        "--no-source-address", help="The nodes speak from their own address again.")] = False,
    ebgp_multihop: Annotated[bool | None, typer.Option(
        "--ebgp-multihop/--no-ebgp-multihop", show_default=False,
        help="The router is (or is not) more than one hop away (eBGP only).")] = None,
    node_selectors: Annotated[list[str] | None, typer.Option(
        "--node-selector", metavar="SELECTOR",
        help="Only nodes whose labels match one of these peer with this router (repeatable; "
             "replaces the list).")] = None,
    any_node: Annotated[bool, typer.Option(
        "--any-node", help="Drop the node selectors: every node peers with it again.")
    ] = False,
) -> None:
    """Change a BGP peer in place: options not given keep their value.  The result obeys the
    rules of bgp peer add (see its help), checked the same way.  The speakers re-establish the
    session of this peer alone; the other peers' sessions stay up.

    A new password (--password-file) goes first into a new Secret, which the peer then names:
    the old password serves until then.  The Secret lbctl created for the old password is
    deleted afterwards, unless another peer names it (as bgp peer remove; a failure to delete
    it is a warning, the change is made).  --dry-run prints the diff of the state and writes no
    Secret.

    Examples:

    \b
      lbctl bgp peer set router --hold-time 30 --port 1179
      lbctl bgp peer set router --password-file - < new-password.txt
      lbctl bgp peer set router --node-selector rack=a --node-selector rack=b --dry-run
      lbctl bgp peer set router --no-password --any-node -o json
    """
    from lbctl.actions import bgp as actions

    app = app_of(ctx)
    app.require_output(*DOC_FORMATS)
    _exclusive({"--password-file": password_file is not None,
                "--password-secret": password_secret is not None, "--no-password": no_password})
    _exclusive({"--source-address": source_address is not None,
                "--no-source-address": no_source_address})
    node_selectors = cleared(node_selectors, any_node, "--any-node", "the node selectors",
                             "--node-selector")
    changes: dict[str, Any] = {key: value for key, value in (
        ("address", address), ("asn", asn), ("my_asn", my_asn), ("port", port),
        ("hold_time", hold_time), ("password_secret", password_secret),
        ("source_address", source_address), ("ebgp_multihop", ebgp_multihop),
        ("node_selectors", None if node_selectors is None else tuple(node_selectors)),
    ) if value is not None}
    if no_password:
        changes["password_secret"] = None
    if no_source_address:
        changes["source_address"] = None
    if not changes and password_file is None:
        raise UsageError(f"nothing to change in BGP peer {name}",
                         hint=f"example: lbctl bgp peer set {name} --hold-time 30")
    _need_cluster(app, name, password_file)
    password = read_password(password_file) if password_file is not None else None
    applied, cleanups = actions.set_peer(
        app.store(), name, changes, password=password, kube=None if app.offline else app.kube,
        dry_run=app.options.dry_run)
    _report(app, applied, "configured", cleanups)


@command(peer_app, "list", exclude=("namespace", "all_namespaces"))
def list_(ctx: typer.Context) -> None:
    """List the BGP peers.

    Example: lbctl bgp peer list -o wide
    """
    from lbctl.actions.bgp import peers

    app = app_of(ctx)
    output = app.require_output(Output.table, Output.wide, Output.json, Output.yaml,
                                Output.name)
    store = app.store()
    found = peers(store.load())

    def rows(peer: Peer, wide: bool) -> list[list[render.Cell]]:
        row: list[render.Cell] = [peer.name, peer.address, str(peer.asn), str(peer.my_asn),
                                  "iBGP" if peer.ibgp else "eBGP"]
        if wide:
            row += [str(peer.port), f"{peer.hold_time}s",
                    f"secret/{peer.password_secret}" if peer.password_secret else "-",
                    peer.source_address or "-", "yes" if peer.ebgp_multihop else "no",
                    " | ".join(peer.node_selectors) or "*"]
        return [row]

    lists.show(
        app, output, found, kind="BGPPeerList", doc=peer_doc, name=lambda p: f"bgppeer/{p.name}",
        empty=f"no BGP peers in {store.location}; add one with lbctl bgp peer add",
        headers=["name", "address", "asn", "my-asn", "type"],
        wide=["port", "hold-time", "password", "source", "multihop", "nodes"], rows=rows)


@command(peer_app, "show", exclude=("namespace", "all_namespaces"))
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Peer name.", metavar="NAME",
                                        autocompletion=complete.peer_names)],
) -> None:
    """Show one BGP peer, and the pools announced to it.

    Example: lbctl bgp peer show router -o yaml
    """
    from lbctl.actions.bgp import peers
    from lbctl.core.bgp import announces_bgp

    app = app_of(ctx)
    output = app.require_output(*DOC_FORMATS)
    state = app.store().load()
    peer = peers(state, [name])[0]
    if output is Output.name:
        render.names(app.out, [f"bgppeer/{peer.name}"])
        return
    if output is not Output.table:
        render.document(app.out, peer_doc(peer), output.value)
        return
    pools = [p.name for p in sorted(state.pools.values(), key=lambda p: p.name)
             if announces_bgp(p.announce) and p.bgp.admits_peer(peer.name)]
    render.facts(app.out, [
        ("Name", peer.name),
        ("Router", f"{peer.address} port {peer.port}, AS {peer.asn}"),
        ("Cluster AS", f"{peer.my_asn} ({'iBGP' if peer.ibgp else 'eBGP'})"),
        ("Hold time", f"{peer.hold_time}s"),
        ("Password", f"in Secret kube-system/{peer.password_secret}" if peer.password_secret
         else "none"),
        ("Source address", peer.source_address or "the node's own"),
        ("eBGP multihop", "yes" if peer.ebgp_multihop else "no"),
        ("Nodes", " | ".join(peer.node_selectors) or "every node"),
        ("Pools", ", ".join(pools) or "none (no pool announces over BGP to it)"),
    ])


@command(peer_app, "remove", exclude=("namespace", "all_namespaces"))
def remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Peer name.", metavar="NAME",
                                        autocompletion=complete.peer_names)],
) -> None:
    """Remove a BGP peer: the speakers close their sessions to it (the other peers' sessions
    stay up).  Refused while a pool's advertisement names it (--bgp-peer).

    The password Secret lbctl created for it (--password-file) is deleted after the state is
    written, unless another peer names it (it then stays, for the last of them); a Secret you
    created (--password-secret), or one replaced since lbctl created it, is never deleted.
    Should the deletion fail (no permission, the cluster unreachable, a local --state file), the
    peer is removed all the same and a warning says how to delete the Secret with kubectl.

    Example: lbctl bgp peer remove router --dry-run
    """
    from lbctl.actions import bgp as actions

    app = app_of(ctx)
    app.require_output(*DOC_FORMATS)
    removed = actions.remove_peer(app.store(), name, kube=None if app.offline else app.kube,
                                  dry_run=app.options.dry_run)
    _report(app, removed.applied, "deleted", removed.cleanups, removed.shared_with)


class RouterFormat(str, Enum):
    frr = "frr"
    bird = "bird"


@command(app, "export", exclude=("namespace", "all_namespaces", "dry_run", "output"))
def export(
    ctx: typer.Context,
    fmt: Annotated[RouterFormat, typer.Option(
        "--format", metavar="frr|bird", case_sensitive=False,
        help="The router's software: FRR (frr.conf, vtysh) or BIRD 2 (bird.conf).")],
    peer_name: Annotated[str | None, typer.Option(
        "--peer", metavar="NAME", autocompletion=complete.peer_names,
        help="The peer whose router to configure (needed when there are several).")] = None,
    filenames: Annotated[list[str] | None, typer.Option(
        "-f", "--filename", metavar="FILE",
        help="Read the Node manifests from this file (repeatable; '-' reads stdin) instead "
             "of the cluster.")] = None,
) -> None:
    """Print the configuration the upstream router needs for this cluster: a neighbour per
    node (its InternalIP; nodes from the cluster, or -f Node manifests), remote AS the
    cluster's, an import filter accepting only the prefixes the BGP pools announce (their
    aggregation length to /32 or /128), nothing exported to the nodes, and ECMP (FRR
    maximum-paths, BIRD merge paths) so traffic is spread over every node.  The password is
    never printed: a comment names its Secret.

    Example: lbctl bgp export --format frr > /etc/frr/lbctl.conf

    Example: kubectl get nodes -o yaml | lbctl bgp export --format bird -f - --state lb.yaml
    """
    from lbctl.actions.bgp import nodes, peers
    from lbctl.cli.inputs import read_sources
    from lbctl.core import routerconf
    from lbctl.core.manifests import read_objects

    app = app_of(ctx)
    state = app.store().load()
    if peer_name is None:
        if len(state.peers) != 1:
            known = ", ".join(sorted(state.peers)) or "none"
            raise UsageError(f"which peer's router? (peers: {known})",
                             hint="name it with --peer NAME" if state.peers else
                             "add one first: lbctl bgp peer add NAME --address A --asn N "
                             "--my-asn M")
        peer_name = next(iter(state.peers))
    peer = peers(state, [peer_name])[0]
    if filenames:
        found = [placed.obj for source in read_sources(filenames)
                 for placed in read_objects(source.text, source.where).objects
                 if placed.obj.get("kind") == "Node"]
    else:
        found = nodes(app.kube())
    render.say(app.out, (routerconf.frr if fmt is RouterFormat.frr else routerconf.bird)(
        state, peer, found).rstrip("\n"))
