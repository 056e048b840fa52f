"""Reading Services: every LoadBalancer Service of a namespace (or of all) next to its
allocation and its condition, for ``svc list``.

Apart from :mod:`lbctl.actions.services` (which changes Services and the state, and needs the
allocator) so that a listing imports only what it reads with.  Kubernetes through the
:class:`~lbctl.ports.KubeAPI` port, the state through the :class:`~lbctl.state.store.StateStore`;
errors are :mod:`lbctl.errors`' and pass through.

The reads of a listing are independent, so they are sent at once: the state (and, for ``-o
wide``, the EndpointSlices) is read in a thread while the Services are listed, and the server's
time on one overlaps the decoding of the other.  Which error a failed listing reports does not
depend on which answer came first: the Services' LIST's, else the state's, else the
EndpointSlices' -- the order in which they were read one after the other before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Generic, TypeVar

from lbctl.core import service as core
from lbctl.core.state import Allocation, ServiceKey
from lbctl.ports import ENDPOINTSLICES, SERVICES, KubeAPI, Obj
from lbctl.state.store import StateStore

T = TypeVar("T")


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


class _Meanwhile(Generic[T]):
    """``work()`` running in a thread from now on; :meth:`result` waits for it and returns what
    it returned, or raises what it raised."""

    def __init__(self, work: Callable[[], T], name: str) -> None:
        self._work = work
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._work()
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def wait(self) -> None:
        self._thread.join()

    def result(self) -> T:
        self.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


def list_services(kube: KubeAPI, store: StateStore, namespace: str | None, *,
                  with_nodes: bool = False, selector: str | None = None) -> list[ServiceView]:
    """Every LoadBalancer Service in ``namespace`` (None: all) whose labels match ``selector``
    (kubectl syntax; the API server filters), sorted, with its state: one LIST of Services
    (filtered here: the ``spec.type`` field selector needs Kubernetes 1.31), one state read,
    and with ``with_nodes`` one LIST of EndpointSlices, all three at once."""
    state_read = _Meanwhile(store.load, "lbctl-state-read")
    slices_read = (_Meanwhile(lambda: kube.list(ENDPOINTSLICES, namespace), "lbctl-slices-read")
                   if with_nodes else None)
    try:
        listed = kube.list(SERVICES, namespace, label_selector=selector)
    finally:  # the others are waited for even when the LIST failed: nothing outlives the call
        state_read.wait()
        if slices_read is not None:
            slices_read.wait()
    services = [s for s in listed if core.is_load_balancer(s)]
    state = state_read.result()
    nodes = core.ready_nodes(slices_read.result()) if slices_read is not None else None
    views = []
    for svc in services:
        key = core.key_of(svc)
        allocation = state.allocations.get(key)
        views.append((key, ServiceView(svc, allocation, core.condition(svc, allocation),
                                       None if nodes is None else nodes.get(key, ()))))
    views.sort(key=lambda pair: pair[0])
    return [view for _, view in views]
