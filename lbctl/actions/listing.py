"""Reading Services: every LoadBalancer Service of a namespace (or of all) next to its
allocation and its condition, for ``svc list``.

Apart from :mod:`lbctl.actions.services` (which changes Services and the state, and needs the
allocator) so that a listing imports only what it reads with.  Kubernetes through the
:class:`~lbctl.ports.KubeAPI` port, the state through the :class:`~lbctl.state.store.StateStore`;
errors are :mod:`lbctl.errors`' and pass through.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from lbctl.core import service as core
from lbctl.core.state import Allocation, ServiceKey
from lbctl.ports import ENDPOINTSLICES, SERVICES, KubeAPI, Obj
from lbctl.state.store import StateStore


@dataclass(frozen=True)
class ServiceView:
    """A LoadBalancer Service next to its allocation."""

    svc: Obj
    allocation: Allocation | None
    condition: core.Condition
    nodes: tuple[str, ...] | None = None  # nodes with ready endpoints, when asked for

    @cached_property
    def key(self) -> ServiceKey:
        return core.key_of(self.svc)


def list_services(kube: KubeAPI, store: StateStore, namespace: str | None, *,
                  with_nodes: bool = False, selector: str | None = None) -> list[ServiceView]:
    """Every LoadBalancer Service in ``namespace`` (None: all) whose labels match ``selector``
    (kubectl syntax; the API server filters), sorted, with its state: one LIST of Services
    (filtered here: the ``spec.type`` field selector needs Kubernetes 1.31), one state read,
    and with ``with_nodes`` one LIST of EndpointSlices."""
    services = [s for s in kube.list(SERVICES, namespace, label_selector=selector)
                if core.is_load_balancer(s)]
    state = store.load()
    nodes = core.ready_nodes(kube.list(ENDPOINTSLICES, namespace)) if with_nodes else None
    views = []
    for svc in services:
        key = core.key_of(svc)
        allocation = state.allocations.get(key)
        views.append((key, ServiceView(svc, allocation, core.condition(svc, allocation),
                                       None if nodes is None else nodes.get(key, ()))))
    views.sort(key=lambda pair: pair[0])
    return [view for _, view in views]
