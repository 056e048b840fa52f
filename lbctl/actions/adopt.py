"""``adopt``: record in the state the addresses Services' statuses already show.

A migration from MetalLB (or any controller) leaves Services whose
``status.loadBalancer.ingress`` shows an address lbctl never recorded; lbctl refuses to
overwrite such an address, and would hand it to another Service.  Adopting records it, after
the checks of an assignment (:mod:`lbctl.core.adoption`), in one state transaction.  Nothing
on the cluster changes: the status already shows the address.

Reaches Kubernetes only through :class:`~lbctl.ports.KubeAPI` (one GET or one LIST, and one
LIST of every Service to see which addresses other Services show).  Error policy: one Service
raises; ``--all`` reports each Service as an :class:`~lbctl.actions.services.Outcome`.  With no
state document while Services show addresses (:mod:`lbctl.core.lost`), both refuse at once:
there is no pool to record them in, and the way to start one is ``pool add --new-state``.
Whether they do is the lost-state rule the controller and doctor apply, with the Nodes (one
LIST, only then): a node's address (k3s ServiceLB) was never lbctl's.  When the Nodes may not
be listed, that cannot be told, and both refuse, naming the permission.
"""

from __future__ import annotations

from datetime import datetime

from lbctl.actions.services import FAILED, UNCHANGED, Batch, Outcome, reason_of
from lbctl.core import adoption, holds, lost
from lbctl.core import service as core
from lbctl.core.allocator import Allocator
from lbctl.core.state import Allocation, ServiceKey, State
from lbctl.errors import LbctlError, NotFoundError, PermissionDeniedError
from lbctl.ports import NODES, SERVICES, KubeAPI, Obj
from lbctl.state.store import StateStore, Stored

ADOPTED = "adopted"


def _read(kube: KubeAPI, store: StateStore, services: list[Obj]) -> Stored:
    """The state document; refused when there is none while Services show addresses lbctl
    could have handed out (every adoption would fail: there is no pool yet)."""
    stored = store.read()

    def nodes(found: list[lost.Stranded]) -> list[Obj]:
        try:
            return kube.list(NODES)
        except PermissionDeniedError as exc:
            raise lost.nodes_unknown(store.location, found, exc, "adopt") from exc

    if stored.text is None and (found := lost.stranded_without_state(services, nodes)):
        raise lost.missing(store.location, found, "there is no pool to record them in")
    return stored


def _adopt(store: StateStore, targets: list[Obj], services: list[Obj], base: Stored, *,
           now: datetime, dry_run: bool) -> dict[ServiceKey, tuple[Allocation, bool] | LbctlError]:
    published = adoption.published_except(core.published(services),
                                          {core.key_of(obj) for obj in targets})

    def change(state: State) -> tuple[State, dict[ServiceKey, tuple[Allocation, bool]
                                                  | LbctlError]]:
        state = holds.live(state, now)
        allocator = Allocator(state, published)
        results: dict[ServiceKey, tuple[Allocation, bool] | LbctlError] = {}
        for obj in targets:
            try:
                results[core.key_of(obj)] = adoption.adopt(allocator, obj, state=state)
            except LbctlError as exc:
                results[core.key_of(obj)] = exc
        return allocator.state(), results

    return store.update(change, dry_run=dry_run, base=base).result


def adopt(kube: KubeAPI, store: StateStore, namespace: str, name: str, *, now: datetime,
          dry_run: bool = False) -> tuple[Allocation, bool]:
    """Record what one Service's status shows; returns the allocation and whether it is new
    (False: the state already recorded exactly that)."""
    try:
        obj = kube.get(SERVICES, name, namespace)
    except NotFoundError as exc:
        raise NotFoundError(f"service {namespace}/{name} not found",
                            hint=f"kubectl get svc -n {namespace} lists the Services") from exc
    core.check_ours(obj)
    services = kube.list(SERVICES, None)
    result = _adopt(store, [obj], services, _read(kube, store, services), now=now,
                    dry_run=dry_run)[(namespace, name)]
    if isinstance(result, LbctlError):
        raise result
    return result


def adopt_all(kube: KubeAPI, store: StateStore, namespace: str | None, *, now: datetime,
              dry_run: bool = False) -> Batch:
    """Adopt every Service of ours in ``namespace`` (None: all) whose status shows addresses
    the state does not record for it, in one transaction; each Service is an outcome."""
    services = kube.list(SERVICES, None)
    stored = _read(kube, store, services)
    state = stored.state
    targets = [obj for obj in sorted(services, key=core.key_of)
               if core.is_ours(obj) and core.ingress_ips(obj)
               and (namespace is None or core.key_of(obj)[0] == namespace)
               and core.condition(obj, state.allocations.get(core.key_of(obj))).drift
               == core.UNRECORDED]
    results = _adopt(store, targets, services, stored, now=now, dry_run=dry_run)
    outcomes = []
    for key, result in sorted(results.items()):
        if isinstance(result, LbctlError):
            outcomes.append(Outcome(*key, FAILED, reason=reason_of(result),
                                    message=result.message, hint=result.hint))
        else:
            allocation, new = result
            outcomes.append(Outcome(*key, ADOPTED if new else UNCHANGED, allocation.ips,
                                    allocation.pool))
    return Batch(outcomes, dry_run=dry_run)
