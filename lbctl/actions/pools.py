"""Pool use cases: add, list, show, remove, reserve, unreserve.

Each mutating action runs one pure change from :mod:`lbctl.core.pools` through the state store
and returns the :class:`~lbctl.state.store.Applied` record (before/after states), which is what
``--dry-run`` shows as a diff.  Reading pools with their usage is
:mod:`lbctl.actions.listing`'s (``pool list`` imports neither this module nor the allocator).

On a cluster, a new pool is first checked against the cluster's own addresses
(:func:`check_cluster`: nodes, pod CIDRs, ClusterIPs in use), through the
:class:`~lbctl.ports.KubeAPI` port; ``pool set`` calls the same function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lbctl.core import pools as core
from lbctl.core.state import Pool, State
from lbctl.ports import NODES, SERVICES, KubeAPI
from lbctl.state.store import Applied, StateStore

#: The ``pool add`` option that skips :func:`check_cluster`, named in its refusal.
ALLOW_CLUSTER_OVERLAP = "--allow-cluster-overlap"


def check_cluster(kube: KubeAPI, pools: Sequence[Pool], *,
                  flag: str = ALLOW_CLUSTER_OVERLAP) -> None:
    """Refuse pools that hold a node's address, overlap a pod CIDR or hold a ClusterIP in use,
    naming them (:func:`lbctl.core.pools.cluster_overlaps`, the rule doctor also applies): one
    LIST of Nodes, one of Services.  ``flag`` is the option that skips the check."""
    core.refuse_cluster_overlaps(pools, kube.list(NODES), kube.list(SERVICES), flag)


def add(store: StateStore, pool: Pool, *, dry_run: bool = False,
        kube: KubeAPI | None = None) -> Applied[Pool]:
    """Add ``pool``; with ``kube``, refuse it first when it holds the cluster's own addresses
    (:func:`check_cluster`)."""
    if kube is not None:
        check_cluster(kube, [pool])
    return store.update(lambda state: (core.add_pool(state, pool), pool), dry_run=dry_run)


def set_(store: StateStore, name: str, *, dry_run: bool = False, kube: KubeAPI | None = None,
         add: Sequence[str] = (), **changes: Any) -> Applied[Pool]:
    """Change a pool in place (:func:`lbctl.core.pools.set_pool` names the changes); with
    ``kube``, the addresses ``add`` brings are first checked against the cluster's own
    (:func:`check_cluster`, as ``pool add`` does)."""
    if kube is not None and add:
        check_cluster(kube, [core.make_pool(name, add)])

    def change(state: State) -> tuple[State, Pool]:
        new = core.set_pool(state, name, add=add, **changes)
        return new, new.pools[name]

    return store.update(change, dry_run=dry_run)


def remove(store: StateStore, name: str, *, dry_run: bool = False) -> Applied[Pool]:
    return store.update(
        lambda state: (core.remove_pool(state, name), core.get_pool(state, name)),
        dry_run=dry_run,
    )


def reserve(store: StateStore, name: str, ips: Sequence[str], note: str | None, *,
            dry_run: bool = False) -> Applied[Pool]:
    def change(state: State) -> tuple[State, Pool]:
        new = core.reserve(state, name, ips, note)
        return new, new.pools[name]

    return store.update(change, dry_run=dry_run)


def unreserve(store: StateStore, name: str, ips: Sequence[str], *,
              dry_run: bool = False) -> Applied[Pool]:
    def change(state: State) -> tuple[State, Pool]:
        new = core.unreserve(state, name, ips)
        return new, new.pools[name]

    return store.update(change, dry_run=dry_run)
