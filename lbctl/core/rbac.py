"""RBAC manifests from the one permission list: a ServiceAccount and exactly the rules it needs.

Both ``lbctl rbac`` (the identity an operator or a CI job runs lbctl as) and ``lbctl install``
(the identities of the long-running commands) build their RBAC here, from
:data:`lbctl.core.permissions.PERMISSIONS`, so the rules can neither lag behind the API calls
nor grant more than they use:

* a permission in every namespace (or on a cluster-scoped resource) becomes a rule of a
  ClusterRole, bound by a ClusterRoleBinding;
* a permission in one namespace becomes a rule of a Role in that namespace, bound by a
  RoleBinding there;
* a permission on one named object keeps the name as ``resourceNames``.

Pure: plain dictionaries in, plain dictionaries out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lbctl.core.names import BUILTIN_NAMESPACES
from lbctl.core.permissions import Permission

RBAC_API = "rbac.authorization.k8s.io/v1"

Obj = dict[str, Any]


def rules(permissions: Iterable[Permission]) -> list[Obj]:
    """RBAC rules granting exactly ``permissions``: verbs gathered per resource and name, and
    resources with the same verbs and name in one rule."""
    verbs: dict[tuple[str, str, str], set[str]] = {}
    for p in permissions:
        resource = f"{p.resource}/{p.subresource}" if p.subresource else p.resource
        verbs.setdefault((p.group, resource, p.name or ""), set()).add(p.verb)
    merged: dict[tuple[str, tuple[str, ...], str], list[str]] = {}
    for (group, resource, name), granted in verbs.items():
        merged.setdefault((group, tuple(sorted(granted)), name), []).append(resource)
    out = []
    for (group, allowed, name), resources in sorted(
            merged.items(), key=lambda item: (item[0][0], sorted(item[1]), item[0][2],
                                              item[0][1])):
        rule: Obj = {"apiGroups": [group], "resources": sorted(resources),
                     "verbs": list(allowed)}
        if name:
            rule["resourceNames"] = [name]
        out.append(rule)
    return out


def meta(name: str, namespace: str | None, labels: Mapping[str, str]) -> Obj:
    """``metadata`` with a name, a namespace when namespaced, and labels."""
    out: Obj = {"name": name}
    if namespace is not None:
        out["namespace"] = namespace
    out["labels"] = dict(labels)
    return out


def service_account_rbac(permissions: Iterable[Permission], name: str, namespace: str,
                         labels: Mapping[str, str]) -> list[Obj]:
    """The ServiceAccount ``name`` in ``namespace``; the ClusterRole and ClusterRoleBinding
    ``name`` for what it does in every namespace; a Role and RoleBinding ``name`` in each
    namespace where it touches only that namespace."""
    permissions = list(permissions)
    subjects = [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]
    documents: list[Obj] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(name, namespace, labels)},
        {"apiVersion": RBAC_API, "kind": "ClusterRole", "metadata": meta(name, None, labels),
         "rules": rules(p for p in permissions if p.namespace is None)},
        {"apiVersion": RBAC_API, "kind": "ClusterRoleBinding",
         "metadata": meta(name, None, labels),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": name},
         "subjects": subjects},
    ]
    for where in sorted({p.namespace for p in permissions if p.namespace is not None}):
        documents += [
            {"apiVersion": RBAC_API, "kind": "Role", "metadata": meta(name, where, labels),
             "rules": rules(p for p in permissions if p.namespace == where)},
            {"apiVersion": RBAC_API, "kind": "RoleBinding", "metadata": meta(name, where, labels),
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
             "subjects": subjects},
        ]
    return documents


def namespace_document(namespace: str, labels: Mapping[str, str]) -> Obj | None:
    """The Namespace to create before objects in ``namespace``, or None for one every cluster
    has (``kubectl apply`` of a stream with a ServiceAccount in a missing namespace fails)."""
    if namespace in BUILTIN_NAMESPACES:
        return None
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta(namespace, None, labels)}
