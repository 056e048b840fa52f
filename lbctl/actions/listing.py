"""Reading Services: every LoadBalancer Service of a namespace (or of all) next to its
allocation and its condition, for ``svc list``; and the pools with their usage, for ``pool list``.

Apart from :mod:`lbctl.actions.services` (which changes Services and the state, and needs the
allocator) so that a listing imports only what it reads with.  Kubernetes through the
:class:`~lbctl.ports.KubeAPI` port, the state through the :class:`~lbctl.state.store.StateStore`;
errors are :mod:`lbctl.errors`' and pass through.

The reads of a listing are independent, so they overlap: the Services' LIST (and, for ``-o
wide``, the EndpointSlices') is sent in a thread first, and while the server answers this module
imports what it compares with (the Service rules, the state's codec: importing this module
imports neither) and reads the state.  Which error a failed listing reports does not depend on
which answer came first: opening the store's, else the Services' LIST's, else the state's, else
the EndpointSlices' -- the order in which they came one after the other before.  Ctrl-C is
not held up by a LIST still waiting for the server: its thread is a daemon, left to end with
the process.  ``pool list`` reads the same way: the state's read is sent first, and what counts
the used and free addresses (:mod:`lbctl.core.used`, not the allocator) is imported while the
server answers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Generic, TypeVar

from lbctl.ports import ENDPOINTSLICES, SERVICES, KubeAPI, Obj

if TYPE_CHECKING:
    from datetime import datetime

    from lbctl.core import service as core
    from lbctl.core.state import Allocation, Pool, ServiceKey, State
    from lbctl.core.used import FamilyUsage
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
        from lbctl.core.service import key_of

        return key_of(self.svc)


class _Outcome(Generic[T]):
    """What ``work()`` returned, or the error it raised, for :meth:`result` to give later."""

    _value: T | None = None
    _error: BaseException | None = None

    def _settle(self, work: Callable[[], T], catch: type[BaseException]) -> None:
        try:
            self._value = work()
        except catch as exc:  # handed to the caller by result()
            self._error = exc

    def wait(self) -> None:
        """Until the outcome is known (it is, unless the work runs in a thread)."""

    def result(self) -> T:
        self.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


def _now(work: Callable[[], T]) -> _Outcome[T]:
    """``work()`` done now; its error kept for later (a KeyboardInterrupt is not kept)."""
    outcome: _Outcome[T] = _Outcome()
    outcome._settle(work, Exception)
    return outcome


class _Meanwhile(_Outcome[T]):
    """``work()`` running in a thread from now on; :meth:`result` waits for it."""

    def __init__(self, work: Callable[[], T], name: str) -> None:
        self._thread = threading.Thread(target=self._settle, args=(work, BaseException),
                                        name=name, daemon=True)
        self._thread.start()

    def wait(self) -> None:
        self._thread.join()


def _wait(*reads: _Meanwhile[list[Obj]] | None) -> None:
    for read in reads:
        if read is not None:
            read.wait()


def list_services(kube: KubeAPI, store: StateStore | Callable[[], StateStore],
                  namespace: str | None, *, with_nodes: bool = False,
                  selector: str | None = None) -> list[ServiceView]:
    """Every LoadBalancer Service in ``namespace`` (None: all) whose labels match ``selector``
    (kubectl syntax; the API server filters), sorted, with its state: one LIST of Services
    (filtered here: the ``spec.type`` field selector needs Kubernetes 1.31), one state read,
    and with ``with_nodes`` one LIST of EndpointSlices, all at once.  ``store`` may be a
    function that opens the store: it is called once the LISTs are on their way."""
    services_read = _Meanwhile(lambda: kube.list(SERVICES, namespace, label_selector=selector),
                               "lbctl-services-read")
    slices_read = (_Meanwhile(lambda: kube.list(ENDPOINTSLICES, namespace), "lbctl-slices-read")
                   if with_nodes else None)
    try:  # meanwhile, in this thread: what the answers are compared with, and the state
        from lbctl.core import service as core

        opened = store if not callable(store) else store()
        state_read = _now(opened.load)
    except KeyboardInterrupt:  # Ctrl-C ends the command now, not when the server answers
        raise
    except BaseException:  # the LISTs are waited for even when this failed: their errors
        _wait(services_read, slices_read)  # come after the store's, nothing outlives the call
        raise
    _wait(services_read, slices_read)
    services = [s for s in services_read.result() if core.is_load_balancer(s)]
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


@dataclass(frozen=True)
class PoolView:
    """A pool with its usage per family; its allocations and holds (sorted) when asked for."""

    pool: Pool
    usage: list[FamilyUsage]
    state: State  # the state the view was made of

    @cached_property
    def allocations(self) -> list[Allocation]:
        return self._records(self.state.allocations.values())

    @cached_property
    def holds(self) -> list[Allocation]:
        return self._records(self.state.holds.values())

    def _records(self, records: Iterable[Allocation]) -> list[Allocation]:
        name = self.pool.name
        return sorted((a for a in records if a.pool == name), key=lambda a: a.key)


def views(state: State, names: Sequence[str] = ()) -> list[PoolView]:
    """Pools (all, or the ones named) with exact usage (:func:`lbctl.core.used.usage`)."""
    from lbctl.core.used import usage

    if names:
        from lbctl.core.pools import get_pool  # (names a missing pool with its hint)

        selected = [get_pool(state, n) for n in names]
    else:
        selected = [state.pools[n] for n in sorted(state.pools)]
    used = usage(state)
    return [PoolView(pool, used[pool.name], state) for pool in selected]


def list_pools(store: StateStore, now: Callable[[], datetime]) -> list[PoolView]:
    """Every pool with its exact usage (:func:`views`) as allocation sees the state at
    ``now()`` (holds whose end has passed are free): the state's read is sent in a thread
    first, and meanwhile this imports what counts the used addresses and the state's codec
    (importing this module imports neither)."""
    state_read = _Meanwhile(store.backend.read, "lbctl-state-read")
    from lbctl.core import used  # noqa: F401 - imported while the server answers
    from lbctl.core.holds import live

    state = store.stored(*state_read.result()).state
    return views(live(state, now()))
