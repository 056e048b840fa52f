"""Dynamic shell completion: names from the local state file, or from the cluster.

Completion runs on every TAB, so it must answer in well under a second and never print an error.
With ``--state PATH`` (or ``LBCTL_STATE``) the state document is a local read: pool names, and
the namespaces that hold allocations (for ``-n``), complete from it.  On a cluster, Service names
(``svc show``, ``assign svc``, ``release svc``, in ``-n NS`` or the context's namespace) and pool
names (from the state ConfigMap) are asked of the API server — only when lbctl reads the
kubeconfig itself (no exec plugin is ever run for a TAB), with a two-second limit, no retries,
and nothing completed on any error.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import typer

from lbctl.errors import LbctlError

if TYPE_CHECKING:
    from lbctl.core.state import State
    from lbctl.ports import KubeAPI


def _option(ctx: typer.Context, name: str) -> str | None:
    """A global option's value from this command or any parent (completion parses leniently
    and runs no callbacks, so the App does not exist yet)."""
    current = ctx
    while True:
        value = current.params.get(name)
        if value:
            return str(value)
        if current.parent is None:
            return None
        current = current.parent  # type: ignore[assignment]


def _local_state(ctx: typer.Context) -> State | None:
    path = _option(ctx, "state") or os.environ.get("LBCTL_STATE")
    if not path:
        return None
    from lbctl.core.state import decode
    from lbctl.state.file import FileBackend

    try:
        text, _ = FileBackend(path).read()
        return decode(text, path)
    except LbctlError:
        return None


def _cluster(ctx: typer.Context) -> tuple[KubeAPI, str] | None:
    """A client for completion and its default namespace, or ``None`` (offline, no fast path,
    no configuration)."""
    if _option(ctx, "state") or os.environ.get("LBCTL_STATE"):
        return None
    from lbctl.cli.context import completion_kube

    return completion_kube(_option(ctx, "kubeconfig"), _option(ctx, "context"))


def _cluster_state(ctx: typer.Context) -> State | None:
    cluster = _cluster(ctx)
    if cluster is None:
        return None
    from lbctl.core.state import decode
    from lbctl.state.configmap import ConfigMapBackend

    try:
        backend = ConfigMapBackend(cluster[0])
        text, _ = backend.read()
        return decode(text, backend.location)
    except Exception:  # noqa: BLE001 - a TAB never fails, whatever the cluster says
        return None


def pool_names(ctx: typer.Context, incomplete: str) -> list[str]:
    state = _local_state(ctx) or _cluster_state(ctx)
    return sorted(n for n in (state.pools if state else ()) if n.startswith(incomplete))


def peer_names(ctx: typer.Context, incomplete: str) -> list[str]:
    state = _local_state(ctx) or _cluster_state(ctx)
    return sorted(n for n in (state.peers if state else ()) if n.startswith(incomplete))


def service_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """LoadBalancer Services in ``-n NS`` (else the context's namespace) on the cluster."""
    cluster = _cluster(ctx)
    if cluster is None:
        return []
    from lbctl.ports import SERVICES

    api, namespace = cluster
    try:
        services = api.list(SERVICES, _option(ctx, "namespace") or namespace)
        names = {
            str(s["metadata"]["name"]) for s in services
            if (s.get("spec") or {}).get("type") == "LoadBalancer"
        }
    except Exception:  # noqa: BLE001 - a TAB never fails, whatever the cluster says
        return []
    return sorted(n for n in names if n.startswith(incomplete))


def service_target(ctx: typer.Context, args: list[str], incomplete: str) -> list[str]:
    """``svc NAME`` / ``svc/NAME`` after ``assign`` and ``release``: first the word ``svc``,
    then the names."""
    if incomplete.startswith("svc/"):
        return [f"svc/{n}" for n in service_names(ctx, incomplete[4:])]
    given = list(ctx.params.get("target") or ())
    if given[-1:] == ["svc"] or args[-1:] == ["svc"]:
        return service_names(ctx, incomplete)
    return ["svc"] if not given and "svc".startswith(incomplete) else []


def service_named(ctx: typer.Context, args: list[str], incomplete: str) -> list[str]:
    """``NAME``, ``svc/NAME`` or ``svc NAME`` after ``svc show``: the names."""
    if incomplete.startswith("svc/"):
        return [f"svc/{n}" for n in service_names(ctx, incomplete[4:])]
    return service_names(ctx, incomplete)


def namespaces(ctx: typer.Context, incomplete: str) -> list[str]:
    state = _local_state(ctx)
    found = {ns for ns, _ in [*state.allocations, *state.holds]} if state else set()
    return sorted(n for n in found if n.startswith(incomplete))
