"""LIST then WATCH one collection, for as long as a long-running command runs.

:class:`Reflector` keeps a consumer in step with the API server, as client-go's reflector
does; ``lbctl controller`` (Services, the state ConfigMap) and ``lbctl speaker`` (Services,
EndpointSlices, Nodes, Leases, the state ConfigMap) both run it:

* it LISTs (every page) and hands the whole listing to ``on_list`` (the consumer replaces its
  cache: anything missing from the listing was deleted while nobody watched);
* it WATCHes from the listing's ``resourceVersion`` and hands each change to ``on_event``;
  bookmarks only move the ``resourceVersion`` forward;
* when the stream ends (the server's timeout, a dropped connection) it WATCHes again from the
  last ``resourceVersion`` it saw: nothing missed, nothing repeated;
* when the server no longer remembers that version (410 Gone,
  :class:`~lbctl.errors.ExpiredError`) it LISTs again: at once, unless the version was that
  of a listing just made (then after a growing delay);
* any other failure (5xx, unreachable, 403) is retried after a growing delay, never fatal; so
  is a stream that ends at once with nothing in it (else a proxy that closes every watch
  would have the loop ask the API server again and again, as fast as it answers).

One named object is followed the same way, with the field selector ``metadata.name=NAME``
(RBAC grants ``list``/``watch`` of one name to such requests): a change reaches the consumer
at once, with no polling.

With ``keep=True`` the reflector also keeps the objects itself (:meth:`snapshot`, :meth:`get`),
for a consumer that reads a consistent copy whenever something changed (``on_change()``); a
consumer with its own cache (the controller's, slimmed) passes ``keep=False`` and uses
``on_list``/``on_event``.

Every restart is reported to ``on_restart(reason)`` (``closed``, ``expired``, ``error``) for the
watch-restart metric; every failure to ``on_error(error)`` and :attr:`error` (``None`` once it
works again).  Waiting is injected (``wait(seconds) -> True`` to stop), so the loop runs in
tests without sleeping; ``stop()`` ends it after the current event or stream.  API requests:
one LIST at start and after a 410, one WATCH per stream (``timeout_seconds``); nothing per
object.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from lbctl.errors import ExpiredError, LbctlError
from lbctl.ports import KubeAPI, Obj, Resource, WatchEvent

#: ``wait(seconds)``: sleep, returning True early when the caller must stop.
Wait = Callable[[float], bool]
Key = tuple[str, str]  # (namespace or "", name)

CLOSED = "closed"
EXPIRED = "expired"
ERROR = "error"
#: Seconds: a watch that ends sooner than this with nothing in it is retried after a growing
#: delay, as after an error (client-go's reflector does the same).
SHORT_STREAM = 1.0


def key_of(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _nothing(*_: object) -> None:
    pass


class Reflector:
    """Objects of one resource (optionally one namespace, one label or field selector)."""

    def __init__(self, kube: KubeAPI, resource: Resource, *, wait: Wait,
                 namespace: str | None = None, label_selector: str | None = None,
                 field_selector: str | None = None,
                 on_list: Callable[[list[Obj]], None] = _nothing,
                 on_event: Callable[[WatchEvent], None] = _nothing,
                 on_change: Callable[[], None] = _nothing,
                 on_restart: Callable[[str], None] = _nothing,
                 on_error: Callable[[LbctlError], None] = _nothing,
                 keep: bool = True, timeout_seconds: int = 300, first_backoff: float = 0.5,
                 max_backoff: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.kube = kube
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.on_list = on_list
        self.on_event = on_event
        self.on_change = on_change
        self.on_restart = on_restart
        self.on_error = on_error
        self.keep = keep
        self.timeout_seconds = timeout_seconds
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self._wait = wait
        self._clock = clock
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._objects: dict[Key, Obj] = {}
        self._snapshot: tuple[int, list[Obj]] | None = None
        self.resource_version: str | None = None  # None: list first
        self.lists = 0  # how many LISTs (the first, then one per 410 or error before a list)
        self.synced = threading.Event()  # set after the first LIST reached the consumer
        self.error: LbctlError | None = None  # the last failure, None once it works again
        self.version = 0  # counts changes: an unchanged version means an unchanged snapshot

    # ------------------------------------------------------------------ reading (keep=True)

    def snapshot(self) -> list[Obj]:
        """Every object, as of the last event applied: the same list object while nothing
        changed (callers may compare by identity, and must not change it)."""
        with self._lock:
            if self._snapshot is None or self._snapshot[0] != self.version:
                self._snapshot = (self.version, list(self._objects.values()))
            return self._snapshot[1]

    def get(self, key: Key) -> Obj | None:
        with self._lock:
            return self._objects.get(key)

    # ------------------------------------------------------------------ running

    def stop(self) -> None:
        self._stopped.set()

    def run(self) -> None:
        """List and watch until ``wait`` says stop (or :meth:`stop`)."""
        failures = 0
        while not self._stopped.is_set():
            listed: str | None = None  # the version of a listing made this round
            try:
                if self.resource_version is None:
                    self._list()
                    listed = self.resource_version
                started = self._clock()
                delivered = self._stream()
                self.on_restart(CLOSED)
                if delivered or self._clock() - started >= SHORT_STREAM:
                    failures = 0
                    if self._stopped.is_set() or self._wait(0):
                        return
                    continue
                # Closed at once with nothing in it (a proxy that cuts watches, a broken
                # server): back off as after an error rather than ask again at once, forever.
            except ExpiredError:
                just_listed = listed is not None and self.resource_version == listed
                self.resource_version = None
                self.on_restart(EXPIRED)
                if not just_listed:
                    continue
                # Even the version of a listing just made is gone: LIST again after a delay,
                # not at once (a LIST of every Service, in a loop, loads the API server).
            except LbctlError as exc:
                self.error = exc
                self.on_error(exc)
                self.on_restart(ERROR)
            delay = min(self.first_backoff * 2 ** failures, self.max_backoff)
            failures += 1
            if self._stopped.is_set() or self._wait(delay):
                return

    def _list(self) -> None:
        listing = self.kube.list_versioned(self.resource, self.namespace, self.label_selector,
                                           field_selector=self.field_selector)
        self.lists += 1
        if self.keep:
            with self._lock:
                self._objects = {key_of(obj): obj for obj in listing.items}
                self.version += 1
        self.on_list(listing.items)
        self.resource_version = listing.resource_version
        self.error = None
        self.synced.set()
        self.on_change()

    def _stream(self) -> bool:
        """Follow one watch request to its end; whether it delivered anything."""
        assert self.resource_version is not None
        delivered = False
        events = self.kube.watch(self.resource, resource_version=self.resource_version,
                                 namespace=self.namespace, label_selector=self.label_selector,
                                 field_selector=self.field_selector,
                                 timeout_seconds=self.timeout_seconds)
        try:
            for event in events:
                delivered = True
                version = (event.object.get("metadata") or {}).get("resourceVersion")
                if event.type != "BOOKMARK":
                    self._apply(event)
                if version:
                    self.resource_version = str(version)
                if self._stopped.is_set():
                    break
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
        return delivered

    def _apply(self, event: WatchEvent) -> None:
        if self.keep:
            with self._lock:
                if event.type == "DELETED":
                    self._objects.pop(key_of(event.object), None)
                else:
                    self._objects[key_of(event.object)] = event.object
                self.version += 1
        self.on_event(event)
        self.error = None
        self.on_change()
