"""BGP use cases: add, list, show and remove peers (their passwords in Secrets), and the
upstream router's configuration for this cluster.

Each mutating action runs one pure change from :mod:`lbctl.core.peers` through the state store
and returns the :class:`~lbctl.state.store.Applied` record, which is what ``--dry-run`` shows.

A password is never in the state: :func:`add_peer` writes it into the Secret the peer names
(key ``password``, namespace ``kube-system`` beside the state; created, never read or
overwritten: lbctl's RBAC grants ``create`` on Secrets only), through the
:class:`~lbctl.ports.KubeAPI` port, before the peer is recorded, so that no peer ever names a
Secret that does not exist yet.  Nothing here prints or returns the password.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import replace

from lbctl.core import peers as core
from lbctl.core.bgp import PASSWORD_KEY, Peer
from lbctl.core.names import SYSTEM_NAMESPACE
from lbctl.core.state import State
from lbctl.errors import ConflictError, RefusedError, keep_secret
from lbctl.ports import NODES, SECRETS, KubeAPI, Obj
from lbctl.state.store import Applied, StateStore

#: Where the peers' password Secrets live: beside the state ConfigMap.
SECRET_NAMESPACE = SYSTEM_NAMESPACE
MANAGED_BY = {"app.kubernetes.io/managed-by": "lbctl"}


def secret_name(peer: str) -> str:
    """The Secret ``bgp peer add --password-file`` writes for ``peer``."""
    return f"lbctl-bgp-{peer}"


def write_password(kube: KubeAPI, name: str, password: str) -> None:
    """Create the Secret ``name`` (key ``password``) in :data:`SECRET_NAMESPACE`.  An existing
    Secret is never read nor overwritten (lbctl's RBAC may create Secrets there, not read or
    change them): refused, with the ways out."""
    encoded = base64.b64encode(password.encode()).decode()
    keep_secret(password)
    keep_secret(encoded)
    try:
        kube.create(SECRETS, {
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": SECRET_NAMESPACE, "labels": MANAGED_BY},
            "data": {PASSWORD_KEY: encoded},
        }, SECRET_NAMESPACE)
    except ConflictError as exc:
        raise RefusedError(
            f"Secret {SECRET_NAMESPACE}/{name} already exists; lbctl does not overwrite it",
            hint=f"keep its password with --password-secret {name}, or change it with kubectl "
                 f"(kubectl -n {SECRET_NAMESPACE} delete secret {name}, then add the peer "
                 "again)") from exc


def add_peer(store: StateStore, peer: Peer, *, password: str | None = None,
             kube: KubeAPI | None = None, dry_run: bool = False) -> Applied[Peer]:
    """Record ``peer``.  With ``password`` (and ``kube``), the password goes first into the
    Secret :func:`secret_name` and the peer names it; a dry run writes neither."""
    if password is not None:
        peer = replace(peer, password_secret=secret_name(peer.name))
        if not dry_run:
            store.update(lambda state: (core.add_peer(state, peer), peer), dry_run=True)
            assert kube is not None, "a password is written to the cluster"
            write_password(kube, secret_name(peer.name), password)
    return store.update(lambda state: (core.add_peer(state, peer), peer), dry_run=dry_run)


def remove_peer(store: StateStore, name: str, *, dry_run: bool = False) -> Applied[Peer]:
    """Forget a peer (refused while a pool's advertisement names it).  Its password Secret, if
    any, stays: lbctl does not delete Secrets."""
    return store.update(
        lambda state: (core.remove_peer(state, name), core.get_peer(state, name)),
        dry_run=dry_run)


def peers(state: State, names: Sequence[str] = ()) -> list[Peer]:
    """Peers (all, sorted, or the ones named)."""
    return [core.get_peer(state, n) for n in names] or [state.peers[n]
                                                       for n in sorted(state.peers)]


def nodes(kube: KubeAPI) -> list[Obj]:
    """The cluster's Nodes (for ``bgp export``: one neighbour each)."""
    return kube.list(NODES)
