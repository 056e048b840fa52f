"""``lbctl version``: the client's version, and the API server's when a cluster is reachable.

Like ``kubectl version``, it never fails because of the cluster: when there is no configuration,
the server does not answer, or the credentials are refused, it prints ``Server Version:
unavailable (<reason>)`` on stderr and still exits 0, so that a bug report can always start with
its output.

``-o json`` shape (``-o yaml`` is the same document; ``serverVersion`` is left out when the
server is unavailable or not asked)::

    {"clientVersion": {"version": "0.1.0", "python": "3.11.7"},
     "serverVersion": {"gitVersion": "v1.30.4"}}
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from lbctl import __version__
from lbctl.cli import render
from lbctl.cli.context import Output, app_of, command
from lbctl.errors import LbctlError

FORMATS = (Output.table, Output.json, Output.yaml, Output.name)


def register(root: typer.Typer) -> None:
    """Add ``lbctl version`` to the root command."""
    command(root, "version", exclude=("namespace", "all_namespaces", "dry_run", "state"))(
        version)


def version(
    ctx: typer.Context,
    short: Annotated[bool, typer.Option(
        "--short", help="Print only lbctl's version number (no cluster is asked).")] = False,
    client: Annotated[bool, typer.Option(
        "--client", help="Print only the client version (no cluster is asked).")] = False,
) -> None:
    """Print the versions of lbctl and of the cluster's API server.

    The server is asked only when a cluster is configured (--kubeconfig, --context, KUBECONFIG,
    ~/.kube/config or the in-cluster service account); when it is unavailable the reason goes to
    stderr and the exit code stays 0.

    Example: lbctl version

    Example: lbctl version --short

    -o name prints lbctl's version number alone, as --short does.
    """
    app = app_of(ctx)
    if short or app.output is Output.name:
        render.names(app.out, [__version__])
        return
    output = app.require_output(*FORMATS)
    server: str | None = None
    if not client:
        try:
            server = app.kube().server_version()
        except LbctlError as exc:
            render.say(app.err, f"Server Version: unavailable ({exc.message})")
    if output is not Output.table:
        import platform

        doc: dict[str, Any] = {
            "clientVersion": {"version": __version__, "python": platform.python_version()},
        }
        if server is not None:
            doc["serverVersion"] = {"gitVersion": server}
        render.document(app.out, doc, output.value)
        return
    lines = [f"Client Version: {__version__}"]
    if server is not None:
        lines.append(f"Server Version: {server}")
    render.names(app.out, lines)
