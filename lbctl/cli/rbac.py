"""``lbctl rbac``: the least-privilege RBAC for running lbctl as the ServiceAccount ``lbctl``.

The rules are derived from :data:`lbctl.core.permissions.PERMISSIONS`, the one list of every API
call lbctl makes (the same list ``lbctl doctor`` checks with SelfSubjectAccessReviews), so they
can neither lag behind the commands nor grant more than they use:

* a permission in every namespace (or on a cluster-scoped resource) becomes a rule of the
  ClusterRole ``lbctl``, bound by the ClusterRoleBinding ``lbctl``;
* a permission in one namespace becomes a rule of the Role ``lbctl`` in that namespace, bound by
  a RoleBinding ``lbctl`` there (kube-system: the state ConfigMap and kube-proxy);
* a permission on one named object keeps the name as ``resourceNames``;
* a permission in another load balancer's namespace (metallb-system) is left out unless
  ``--metallb`` asks for it: that namespace does not exist on most clusters, and a Role there
  would make ``kubectl apply`` fail;
* a ServiceAccount namespace that not every cluster has is created first (a Namespace).

Nothing here talks to the cluster; the manifests are printed for ``kubectl apply -f -``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lbctl.cli import render
from lbctl.cli.context import Output, app_of, command

if TYPE_CHECKING:
    from lbctl.core.permissions import Permission

SERVICE_ACCOUNT = "lbctl"
DEFAULT_NAMESPACE = "kube-system"
LABELS = {"app.kubernetes.io/name": "lbctl"}
FORMATS = (Output.table, Output.yaml, Output.json, Output.name)


def register(root: typer.Typer) -> None:
    """Add ``lbctl rbac`` to the root command."""
    command(root, "rbac", exclude=("namespace", "all_namespaces", "dry_run", "state",
                                   "kubeconfig", "context"))(rbac)


def rbac(
    ctx: typer.Context,
    namespace: Annotated[str | None, typer.Option(
        "-n", "--namespace", metavar="NS",
        help="Namespace of the ServiceAccount lbctl (default: kube-system); created when it is "
             "not one every cluster has.")] = None,
    metallb: Annotated[bool, typer.Option(
        "--metallb", help="Also grant reading MetalLB's namespace metallb-system (pool import "
                          "metallb; doctor); it must exist.")] = False,
) -> None:
    """Print the RBAC that every lbctl command needs, ready for kubectl apply -f -.

    The ServiceAccount lbctl in NS; the ClusterRole and ClusterRoleBinding lbctl for what lbctl
    reads and writes in every namespace; a Role and RoleBinding lbctl in each namespace where it
    touches only named objects (kube-system: the state ConfigMap lbctl-state and kube-proxy).
    Each rule comes from the list doctor checks; the table output starts with a comment saying
    why each permission is needed.  The output applies on any cluster: a namespace NS that not
    every cluster has is created first, and MetalLB's namespace is touched only with --metallb
    (for pool import metallb and doctor on a cluster that runs MetalLB).

    Example: lbctl rbac -n lb-system | kubectl apply -f -
    """
    from lbctl.core.permissions import PERMISSIONS

    app = app_of(ctx)
    output = app.require_output(*FORMATS)
    granted = [p for p in PERMISSIONS if p.operator and (metallb or not p.optional)]
    documents = manifests(granted, namespace or app.options.namespace or DEFAULT_NAMESPACE)
    if output is Output.table:
        render.names(app.out, [f"# {p.describe()}: {p.why}" for p in granted])
    render.manifests(app.out, documents, output.value)


def manifests(permissions: Iterable[Permission], namespace: str) -> list[dict[str, Any]]:
    """The Namespace when needed, the ServiceAccount, ClusterRole, ClusterRoleBinding, and a
    Role and RoleBinding per namespace that ``permissions`` name."""
    from lbctl.core.rbac import namespace_document, service_account_rbac

    created = namespace_document(namespace, LABELS)
    return [*([created] if created else []),
            *service_account_rbac(permissions, SERVICE_ACCOUNT, namespace, LABELS)]
