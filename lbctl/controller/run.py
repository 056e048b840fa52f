"""The controller's threads: two watches, the leader election, and the one worker.

:class:`Controller` wires them: the Services watch and the state watch feed the
:class:`~lbctl.controller.reconciler.Reconciler` (every replica, leader or not, so a standby's
caches are warm when it takes over); the :class:`~lbctl.actions.leases.Elector` decides who
leads; only the leader's worker takes batches from the queue.  A replica that becomes leader
looks at everything once (it cannot know what the old leader left half done), and every
``resync`` seconds the leader does so again, as a safety net.

Shutdown (:meth:`Controller.stop`, from SIGTERM): the worker finishes its batch, then the Lease
is given up so that a standby takes over at its next attempt.  A SIGKILLed leader gives nothing
up: a standby takes over when the Lease has not been renewed for its duration.  Either way,
two leaders at once would still be safe: every write is a compare-and-swap of the one state.

Readiness: both watches have listed once, and the state is not lost (:mod:`lbctl.core.lost`).
Liveness: every thread is alive.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from lbctl.actions.leases import Elector, utc_now
from lbctl.actions.reflector import Reflector
from lbctl.controller.metrics import Metrics
from lbctl.controller.queue import WorkQueue
from lbctl.controller.reconciler import InFlight, Log, Reconciler, quiet
from lbctl.core import lost
from lbctl.core.names import CONTROLLER_LEASE, SYSTEM_NAMESPACE
from lbctl.core.state import ServiceKey
from lbctl.errors import LbctlError
from lbctl.ports import CONFIGMAPS, SERVICES, KubeAPI
from lbctl.state.store import StateStore


@dataclass(frozen=True)
class Settings:
    identity: str
    lease_namespace: str = SYSTEM_NAMESPACE
    lease_name: str = CONTROLLER_LEASE
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry: float = 2.0
    resync: float = 300.0  # seconds between full passes while leading
    watch_timeout: int = 300  # seconds a watch request lasts before it is renewed
    state_namespace: str = SYSTEM_NAMESPACE
    state_name: str = "lbctl-state"
    workers: int = 16  # status PATCHes in flight
    # Seconds: batches (state writes) start at most this often.  An idle worker starts at once
    # with what is queued; during a burst this bounds the rewrites of the state document.
    interval: float = 0.02


@dataclass
class Controller:
    kube: KubeAPI
    store: StateStore
    settings: Settings
    log: Log = quiet
    clock: Callable[[], datetime] = utc_now
    metrics: Metrics = field(default_factory=Metrics)

    def __post_init__(self) -> None:
        s = self.settings
        self.queue: WorkQueue[ServiceKey] = WorkQueue()
        self.reconciler = Reconciler(self.kube, self.store, self.queue, self.metrics,
                                     clock=self.clock, log=self.log, workers=s.workers)
        self._stopping = threading.Event()  # stop working
        self._elector_stop = threading.Event()  # then give the Lease up
        self._leading = threading.Event()
        self.elector = Elector(self.kube, s.lease_namespace, s.lease_name, s.identity,
                               duration=s.lease_duration, renew_deadline=s.renew_deadline,
                               retry=s.retry, clock=self.clock)

        def restarted(resource: str) -> Callable[[str], None]:
            return lambda reason: self.metrics.watch_restarted(resource, reason)

        def failed(what: str) -> Callable[[LbctlError], None]:
            return lambda error: self.log("warning", f"watch of {what}: {error.message}",
                                          {"hint": error.hint})

        # The reconciler keeps its own (slimmed) caches: the reflectors keep nothing.
        self.services_watch = Reflector(
            self.kube, SERVICES, on_list=self.reconciler.services_listed,
            on_event=self.reconciler.service_changed, wait=self._stopping.wait,
            on_restart=restarted("services"), on_error=failed("Services"), keep=False,
            timeout_seconds=s.watch_timeout)
        self.state_watch = Reflector(
            self.kube, CONFIGMAPS, namespace=s.state_namespace,
            field_selector=f"metadata.name={s.state_name}",
            on_list=self.reconciler.state_listed, on_event=self.reconciler.state_changed,
            wait=self._stopping.wait, on_restart=restarted("configmaps"),
            on_error=failed(f"ConfigMap {s.state_namespace}/{s.state_name}"), keep=False,
            timeout_seconds=s.watch_timeout)
        self._threads: list[threading.Thread] = []
        # Batches recorded, their publications under way, for the finisher (None: stop).
        self._started: queue.SimpleQueue[InFlight | None] = queue.SimpleQueue()

    # ------------------------------------------------------------------ probes

    def live(self) -> str:
        dead = [t.name for t in self._threads if not t.is_alive()]
        if dead and not self._stopping.is_set():
            return f"stopped unexpectedly: {', '.join(dead)}"
        return ""

    def ready(self) -> str:
        waiting = [what for what, watch in (("Services", self.services_watch),
                                            ("the state", self.state_watch))
                   if not watch.synced.is_set()]
        if waiting:
            return f"not synced yet: {', '.join(waiting)}"
        found = self.reconciler.state_lost()  # (the decision itself: the gauge agrees)
        return lost.missing(self.store.location, found).message if found else ""

    @property
    def leading(self) -> bool:
        return self._leading.is_set()

    # ------------------------------------------------------------------ running

    def _leadership(self, leading: bool) -> None:
        self.metrics.leading(leading)
        if leading:
            self._leading.set()
            self.log("info", f"leading (Lease {self.settings.lease_namespace}/"
                     f"{self.settings.lease_name})", {"identity": self.settings.identity})
            self.queue.add(self.reconciler.everything())
        else:
            self._leading.clear()
            holder = self.elector.holder
            self.log("info", "not leading" + (f": {holder} leads" if holder and holder !=
                                              self.settings.identity else ""),
                     {"identity": self.settings.identity})

    def start(self) -> None:
        """Start the watches and the election in background threads."""
        for name, target in (("watch-services", self.services_watch.run),
                             ("watch-state", self.state_watch.run),
                             ("elector", self._elect)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _elect(self) -> None:
        lease = f"{self.settings.lease_namespace}/{self.settings.lease_name}"

        def failed(error: LbctlError) -> None:  # else a forbidden Lease is silence forever
            self.log("warning", f"Lease {lease}: {error.message}", {"hint": error.hint})

        self.elector.run(self._elector_stop.wait, self._leadership, failed)

    def _finish(self) -> None:
        """The finisher thread: waits for each batch's publications, in order."""
        while True:
            started = self._started.get()
            if started is None:
                return
            try:
                self.reconciler.finish(started)
            except Exception as exc:  # the loop's boundary: anything else is a bug in lbctl
                self._bug(started.publication.recorded.keys, exc)

    def work(self) -> None:
        """The worker, in the calling thread, until :meth:`stop`; then the Lease is given up.
        It records batches; a second thread waits for their publications, so that the next
        batch is recorded while the last one's PATCHes are in flight."""
        next_resync = time.monotonic() + self.settings.resync
        finisher = threading.Thread(target=self._finish, name="finisher", daemon=True)
        finisher.start()
        try:
            while not self._stopping.is_set():
                if not self._leading.wait(0.5):
                    continue
                if not (self.services_watch.synced.is_set() and self.state_watch.synced.is_set()):
                    self._stopping.wait(0.05)
                    continue
                if time.monotonic() >= next_resync:
                    next_resync = time.monotonic() + self.settings.resync
                    self.queue.add(self.reconciler.everything())
                keys = self.queue.take(timeout=0.5)
                if keys and self._leading.is_set():
                    started = time.monotonic()
                    self._handle(keys)
                    # What arrives meanwhile is the next batch.
                    self._stopping.wait(self.settings.interval - (time.monotonic() - started))
                elif keys:
                    self.queue.add(keys)  # leadership lost meanwhile: leave them queued
        finally:
            self._started.put(None)
            finisher.join()
            self.reconciler.executor.shutdown(wait=True)
            self._elector_stop.set()
            for thread in self._threads:
                if thread.name == "elector":
                    thread.join(timeout=self.settings.retry + 5)

    def _handle(self, keys: list[ServiceKey]) -> None:
        """Record one batch and hand its publication to the finisher.  A bug that surfaces
        for some Service must not stop the controller for every other one: it is logged, and
        those Services are tried again later."""
        try:
            started = self.reconciler.start(keys)
        except Exception as exc:  # the loop's boundary: anything else is a bug in lbctl
            self._bug(keys, exc)
            return
        if started is not None:
            self._started.put(started)

    def _bug(self, keys: list[ServiceKey], exc: Exception) -> None:
        self.log("error", f"internal error handling {len(keys)} Service(s): "
                 f"{type(exc).__name__}: {exc}", {"hint": "this is a bug in lbctl; "
                                                  "please report it"})
        for key in keys:
            self.queue.retry(key)

    def stop(self) -> None:
        """Ask the worker to finish its batch and the watches to end (safe from a signal
        handler)."""
        self._stopping.set()
        self.services_watch.stop()
        self.state_watch.stop()
        self.queue.close()

    def run(self) -> None:
        self.start()
        self.work()
