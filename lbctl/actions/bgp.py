"""BGP use cases: add, list, show and remove peers (their passwords in Secrets), and the
upstream router's configuration for this cluster.

Each mutating action runs one pure change from :mod:`lbctl.core.peers` through the state store
and returns the :class:`~lbctl.state.store.Applied` record, which is what ``--dry-run`` shows.

A password is never in the state: :func:`add_peer` writes it into the Secret the peer names
(key ``password``, namespace ``kube-system`` beside the state; created, never read or
overwritten: lbctl's RBAC grants ``create`` and ``delete`` on Secrets, not ``get``), through the
:class:`~lbctl.ports.KubeAPI` port, before the peer is recorded, so that no peer ever names a
Secret that does not exist yet; the peer records the Secret's uid.  When that state write then
fails, the new Secret is deleted again (by its uid) unless the state names it after all (a
write whose answer was lost), and the error says which.  Once no peer names such a
Secret any more (:func:`lbctl.core.peers.released_secrets`), it is deleted after the state is
written, that object only (the uid is a precondition: a Secret replaced since by someone else
stays).  Nothing here prints or returns the password.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from lbctl.core import peers as core
from lbctl.core.bgp import PASSWORD_KEY, Peer
from lbctl.core.names import SYSTEM_NAMESPACE
from lbctl.core.state import State
from lbctl.errors import ConflictError, LbctlError, NotFoundError, RefusedError, keep_secret
from lbctl.ports import NODES, SECRETS, KubeAPI, Obj
from lbctl.state.store import Applied, StateStore

#: Where the peers' password Secrets live: beside the state ConfigMap.
SECRET_NAMESPACE = SYSTEM_NAMESPACE
MANAGED_BY = {"app.kubernetes.io/managed-by": "lbctl"}


@dataclass(frozen=True)
class SecretCleanup:
    """What became of a password Secret lbctl created once no peer named it: ``deleted`` (by
    this command; a dry run: it would be), or why it stays (``kept``, ``hint``)."""

    name: str
    deleted: bool
    kept: str | None = None
    hint: str | None = None


@dataclass(frozen=True)
class PeerRemoved:
    """A removed peer (the state's change) and its password Secret's fate: ``cleanups`` for a
    Secret lbctl deletes, ``shared_with`` the peers that still name one lbctl created."""

    applied: Applied[Peer]
    cleanups: list[SecretCleanup]
    shared_with: list[str]


def _delete(secret: str) -> str:
    """The command that deletes a password Secret by hand."""
    return f"kubectl -n {SECRET_NAMESPACE} delete secret {secret}"


def write_password(kube: KubeAPI, name: str, password: str) -> str | None:
    """Create the Secret ``name`` (key ``password``) in :data:`SECRET_NAMESPACE`; its uid.  An
    existing Secret is never read nor overwritten (lbctl's RBAC may create Secrets there, not
    read or change them): refused, with the ways out."""
    encoded = base64.b64encode(password.encode()).decode()
    keep_secret(password)
    keep_secret(encoded)
    try:
        created = kube.create(SECRETS, {
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": SECRET_NAMESPACE, "labels": MANAGED_BY},
            "data": {PASSWORD_KEY: encoded},
        }, SECRET_NAMESPACE)
    except ConflictError as exc:
        raise RefusedError(
            f"Secret {SECRET_NAMESPACE}/{name} already exists; lbctl does not overwrite it",
            hint=f"keep its password with --password-secret {name}, or change it with kubectl "
                 f"({_delete(name)}, then add the peer again)") from exc
    uid = (created.get("metadata") or {}).get("uid")
    return uid if isinstance(uid, str) and uid else None  # none: lbctl never deletes it


def delete_released(applied: Applied[Any], kube: Callable[[], KubeAPI] | None, *,
                    dry_run: bool = False) -> list[SecretCleanup]:
    """Delete the password Secrets lbctl created that the change ``applied`` left unnamed
    (:func:`lbctl.core.peers.released_secrets`), each only if it is still the object lbctl
    created; ``kube`` connects to the cluster (only when there is one to delete), None: the
    state is a local file, they stay."""
    found = []
    for name, uid in core.released_secrets(applied.before, applied.after):
        by_hand = _delete(name)
        if kube is None:  # (a dry run says the same: the real run would keep it too)
            found.append(SecretCleanup(name, False, "the state is a local file, not the "
                                       "cluster's", f"delete it on the cluster: {by_hand}"))
            continue
        if dry_run:
            found.append(SecretCleanup(name, True))
            continue
        try:
            kube().delete(SECRETS, name, SECRET_NAMESPACE, uid=uid)
        except NotFoundError:
            found.append(SecretCleanup(name, True))  # gone already: nothing left behind
        except ConflictError:
            found.append(SecretCleanup(name, False, "it was replaced since lbctl created it",
                                       f"delete it with {by_hand} if nothing else uses it"))
        except LbctlError as exc:
            found.append(SecretCleanup(name, False, exc.message, f"delete it with {by_hand}"
                                       + (f" (hint: {exc.hint})" if exc.hint else "")))
        else:
            found.append(SecretCleanup(name, True))
    return found


#: A change of the peers that may name a new password Secret (name, uid; None: no new one).
PeerChange = Callable[[State, str | None, str | None], tuple[State, Peer]]


def _with_password(store: StateStore, name: str, change: PeerChange, password: str | None,
                   kube: KubeAPI | None, dry_run: bool) -> Applied[Peer]:
    """Run ``change`` through the store.  With ``password``: a dry run first (the change is
    checked, and the new Secret named: :func:`lbctl.core.peers.secret_name`), then the Secret
    is created (a dry run: not), then the change is made naming it and its uid."""
    if password is None:
        return store.update(lambda state: change(state, None, None), dry_run=dry_run)
    trial = store.update(lambda state: change(state, core.secret_name(state, name), None),
                         dry_run=True)
    secret = trial.result.password_secret
    assert secret is not None, "the change names the new Secret"
    if dry_run:
        return trial
    assert kube is not None, "a password is written to the cluster"
    uid = write_password(kube, secret, password)
    try:
        return store.update(lambda state: change(state, secret, uid), dry_run=False)
    except LbctlError as exc:
        raise _unnamed(store, kube, name, secret, uid, exc) from exc


def _unnamed(store: StateStore, kube: KubeAPI, peer: str, secret: str, uid: str | None,
             error: LbctlError) -> LbctlError:
    """The state write that was to name the Secret lbctl just created failed with ``error``:
    delete the Secret again, by its uid, unless the state names it (the write may have been
    made, its answer lost); ``error`` again, saying what became of the Secret."""
    where = f"Secret {SECRET_NAMESPACE}/{secret}, created for peer {peer},"
    try:
        named: bool | None = any(p.password_secret == secret
                                 for p in store.load().peers.values())
    except LbctlError:
        named = None  # unknown: it stays, the operator decides
    deleted = False
    if named is False and uid is not None:
        try:
            kube.delete(SECRETS, secret, SECRET_NAMESPACE, uid=uid)
            deleted = True
        except NotFoundError:
            deleted = True  # gone already
        except LbctlError:
            pass  # it stays
    if deleted:
        fate = f"{where} was deleted again"
    elif named:
        fate = (f"{where} stays: the state names it (lbctl bgp peer list shows whether the "
                "change was made)")
    else:
        fate = f"{where} stays (delete it with {_delete(secret)} if no peer names it)"
    return type(error)(f"{error.message}; {fate}", error.hint)


def add_peer(store: StateStore, peer: Peer, *, password: str | None = None,
             kube: KubeAPI | None = None, dry_run: bool = False) -> Applied[Peer]:
    """Record ``peer``.  With ``password`` (and ``kube``), the password goes first into a new
    Secret and the peer names it (and its uid); a dry run writes neither."""
    def change(state: State, secret: str | None, uid: str | None) -> tuple[State, Peer]:
        new = replace(peer, password_secret=secret, password_secret_uid=uid) if secret else peer
        return core.add_peer(state, new), new

    return _with_password(store, peer.name, change, password, kube, dry_run)


def set_peer(store: StateStore, name: str, changes: dict[str, Any], *,
             password: str | None = None, kube: Callable[[], KubeAPI] | None = None,
             dry_run: bool = False) -> tuple[Applied[Peer], list[SecretCleanup]]:
    """Change a peer in place (:func:`lbctl.core.peers.change_peer`); with ``password``, a new
    Secret first (as :func:`add_peer`).  Then the password Secret lbctl created that no peer
    names any more is deleted (:func:`delete_released`)."""
    def change(state: State, secret: str | None, uid: str | None) -> tuple[State, Peer]:
        extra = {"password_secret": secret, "password_secret_uid": uid} if secret else {}
        return core.change_peer(state, name, {**changes, **extra})

    applied = _with_password(store, name, change, password,
                             kube() if password is not None and kube and not dry_run else None,
                             dry_run)
    return applied, delete_released(applied, kube, dry_run=dry_run)


def remove_peer(store: StateStore, name: str, *, kube: Callable[[], KubeAPI] | None = None,
                dry_run: bool = False) -> PeerRemoved:
    """Forget a peer (refused while a pool's advertisement names it), then delete the password
    Secret lbctl created for it unless another peer names it (:func:`delete_released`;
    ``kube`` None: the state is a local file)."""
    applied = store.update(
        lambda state: (core.remove_peer(state, name), core.get_peer(state, name)),
        dry_run=dry_run)
    peer = applied.result
    shared = (core.secret_users(applied.after, peer.password_secret)
              if peer.password_secret and peer.password_secret_uid else [])
    return PeerRemoved(applied, delete_released(applied, kube, dry_run=dry_run), shared)


def peers(state: State, names: Sequence[str] = ()) -> list[Peer]:
    """Peers (all, sorted, or the ones named)."""
    return [core.get_peer(state, n) for n in names] or [state.peers[n]
                                                       for n in sorted(state.peers)]


def nodes(kube: KubeAPI) -> list[Obj]:
    """The cluster's Nodes (for ``bgp export``: one neighbour each)."""
    return kube.list(NODES)
