"""``lbctl rbac``: the least-privilege RBAC for running lbctl as the ServiceAccount ``lbctl``.

The rules are derived from :data:`lbctl.core.permissions.PERMISSIONS`, the one list of every API
call lbctl makes (the same list ``lbctl doctor`` checks with SelfSubjectAccessReviews), so they
can neither lag behind the commands nor grant more than they use:

* a permission in every namespace (or on a cluster-scoped resource) becomes a rule of the
  ClusterRole ``lbctl``, bound by the ClusterRoleBinding ``lbctl``;
* a permission in one namespace becomes a rule of the Role ``lbctl`` in that namespace, bound by
  a RoleBinding ``lbctl`` there (kube-system: the state ConfigMap and kube-proxy);
* a permission on one named object keeps the name as ``resourceNames``.

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
RBAC_API = "rbac.authorization.k8s.io/v1"
LABELS = {"app.kubernetes.io/name": "lbctl"}
FORMATS = (Output.table, Output.yaml, Output.json)


def register(root: typer.Typer) -> None:
    """Add ``lbctl rbac`` to the root command."""
    command(root, "rbac", exclude=("namespace", "all_namespaces", "dry_run", "state",
                                   "kubeconfig", "context"))(rbac)


def rbac(
    ctx: typer.Context,
    namespace: Annotated[str | None, typer.Option(
        "-n", "--namespace", metavar="NS",
        help="Namespace of the ServiceAccount lbctl (default: kube-system).")] = None,
) -> None:
    """Print the RBAC that every lbctl command needs, ready for kubectl apply -f -.

    The ServiceAccount lbctl in NS; the ClusterRole and ClusterRoleBinding lbctl for what lbctl
    reads and writes in every namespace; a Role and RoleBinding lbctl in each namespace where it
    touches only named objects (kube-system: the state ConfigMap lbctl-state and kube-proxy).
    Each rule comes from the list doctor checks; the table output starts with a comment saying
    why each permission is needed.  The Role in metallb-system only lets pool import and doctor
    read MetalLB's pre-0.13 ConfigMap: where that namespace does not exist, kubectl apply
    reports it not found for that Role and its binding, and applies the rest.

    Example: lbctl rbac -n lb-system | kubectl apply -f -
    """
    from lbctl.core.permissions import PERMISSIONS

    app = app_of(ctx)
    output = app.require_output(*FORMATS)
    documents = manifests(PERMISSIONS, namespace or app.options.namespace or DEFAULT_NAMESPACE)
    if output is Output.table:
        render.names(app.out, [f"# {p.describe()}: {p.why}" for p in PERMISSIONS])
    render.manifests(app.out, documents, output.value)


def _rules(permissions: Iterable[Permission]) -> list[dict[str, Any]]:
    """RBAC rules granting exactly ``permissions``: verbs gathered per resource and name, and
    resources with the same verbs and name in one rule."""
    verbs: dict[tuple[str, str, str], set[str]] = {}
    for p in permissions:
        resource = f"{p.resource}/{p.subresource}" if p.subresource else p.resource
        verbs.setdefault((p.group, resource, p.name or ""), set()).add(p.verb)
    merged: dict[tuple[str, tuple[str, ...], str], list[str]] = {}
    for (group, resource, name), granted in verbs.items():
        merged.setdefault((group, tuple(sorted(granted)), name), []).append(resource)
    rules = []
    for (group, allowed, name), resources in sorted(
            merged.items(), key=lambda item: (item[0][0], sorted(item[1]), item[0][2],
                                              item[0][1])):
        rule: dict[str, Any] = {"apiGroups": [group], "resources": sorted(resources),
                                "verbs": list(allowed)}
        if name:
            rule["resourceNames"] = [name]
        rules.append(rule)
    return rules


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = dict(LABELS)
    return meta


def manifests(permissions: Iterable[Permission], namespace: str) -> list[dict[str, Any]]:
    """The ServiceAccount, ClusterRole, ClusterRoleBinding, and a Role and RoleBinding per
    namespace that ``permissions`` name."""
    permissions = list(permissions)
    subjects = [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": namespace}]
    documents: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": _meta(SERVICE_ACCOUNT, namespace)},
        {"apiVersion": RBAC_API, "kind": "ClusterRole", "metadata": _meta(SERVICE_ACCOUNT),
         "rules": _rules(p for p in permissions if p.namespace is None)},
        {"apiVersion": RBAC_API, "kind": "ClusterRoleBinding", "metadata": _meta(SERVICE_ACCOUNT),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": SERVICE_ACCOUNT},
         "subjects": subjects},
    ]
    for where in sorted({p.namespace for p in permissions if p.namespace is not None}):
        documents += [
            {"apiVersion": RBAC_API, "kind": "Role", "metadata": _meta(SERVICE_ACCOUNT, where),
             "rules": _rules(p for p in permissions if p.namespace == where)},
            {"apiVersion": RBAC_API, "kind": "RoleBinding",
             "metadata": _meta(SERVICE_ACCOUNT, where),
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                         "name": SERVICE_ACCOUNT},
             "subjects": subjects},
        ]
    return documents
