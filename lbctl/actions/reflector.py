"""A local copy of one kind of object, kept current by LIST then WATCH.

:class:`Reflector` is what the long-running commands read instead of asking the API server on
every decision: it lists once, then follows the watch from the list's ``resourceVersion``,
resuming from the last version it saw whenever the stream ends, and listing again when the
server no longer remembers that version (410: :class:`~lbctl.errors.ExpiredError`).  Every
change calls ``on_change()``; the consumer then reads a consistent :meth:`snapshot`.

The loop runs in the caller's thread (:meth:`run`, usually a daemon thread) until ``wait``
says stop; ``wait(seconds) -> True to stop`` is also how it backs off after an error, so tests
drive it with a fake.  API requests: one LIST at start and after a 410, one WATCH per stream
(``timeout_seconds``); nothing per object.

Error policy: :meth:`run` never raises for an API failure; the last one is in :attr:`error`
(``None`` once it works again) and it retries with capped exponential backoff.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from lbctl.errors import ExpiredError, LbctlError, NotFoundError
from lbctl.ports import KubeAPI, Obj, Resource

#: ``wait(seconds)``: sleep, returning True early when the caller must stop.
Wait = Callable[[float], bool]
Key = tuple[str, str]  # (namespace or "", name)


def key_of(obj: Obj) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


class Reflector:
    """Objects of one resource (optionally one namespace, one label selector), by key."""

    def __init__(self, kube: KubeAPI, resource: Resource, *, on_change: Callable[[], None],
                 wait: Wait, namespace: str | None = None, label_selector: str | None = None,
                 timeout_seconds: int = 300, max_backoff: float = 10.0) -> None:
        self.kube = kube
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self._on_change = on_change
        self._wait = wait
        self._timeout = timeout_seconds
        self._max_backoff = max_backoff
        self._lock = threading.Lock()
        self._objects: dict[Key, Obj] = {}
        self._snapshot: tuple[int, list[Obj]] | None = None
        self.synced = False
        self.error: LbctlError | None = None
        self.lists = 0  # LIST requests made, for tests and metrics
        self.version = 0  # counts changes: an unchanged version means an unchanged snapshot

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

    def run(self) -> None:
        """List and watch until ``wait`` says stop."""
        backoff = 0.5
        while True:
            try:
                self._follow()
                return
            except ExpiredError:
                continue  # list again, at once
            except LbctlError as exc:
                self.error = exc
                if self._wait(backoff):
                    return
                backoff = min(backoff * 2, self._max_backoff)

    def _follow(self) -> None:
        listing = self.kube.list_versioned(self.resource, self.namespace, self.label_selector)
        self.lists += 1
        with self._lock:
            self._objects = {key_of(obj): obj for obj in listing.items}
            self.version += 1
        self.synced = True
        self.error = None
        self._on_change()
        version = listing.resource_version
        while True:
            stream = self.kube.watch(self.resource, resource_version=version,
                                     namespace=self.namespace,
                                     label_selector=self.label_selector,
                                     timeout_seconds=self._timeout)
            for event in stream:
                meta = event.object.get("metadata") or {}
                version = str(meta.get("resourceVersion") or version)
                if event.type == "BOOKMARK":
                    continue
                with self._lock:
                    if event.type == "DELETED":
                        self._objects.pop(key_of(event.object), None)
                    else:
                        self._objects[key_of(event.object)] = event.object
                    self.version += 1
                self.error = None
                self._on_change()
            if self._wait(0):
                return


class Poller:
    """One named object, read with GET every ``period`` seconds: for an object the identity
    may read but not list or watch (RBAC can name an object for ``get``; ``list``/``watch``
    limited to a name need a field selector).  Same reading interface as :class:`Reflector`."""

    def __init__(self, kube: KubeAPI, resource: Resource, name: str, namespace: str | None, *,
                 on_change: Callable[[], None], wait: Wait, period: float = 2.0) -> None:
        self.kube = kube
        self.resource = resource
        self.name = name
        self.namespace = namespace
        self._on_change = on_change
        self._wait = wait
        self._period = period
        self._object: Obj | None = None
        self.synced = False
        self.error: LbctlError | None = None
        self.version = 0

    def get(self, key: Key) -> Obj | None:
        return self._object if key == (self.namespace or "", self.name) else None

    def run(self) -> None:
        seen: str | None = None
        while True:
            try:
                current: Obj | None = self.kube.get(self.resource, self.name, self.namespace)
            except NotFoundError:
                current = None
            except LbctlError as exc:
                self.error = exc
                current = self._object
            else:
                self.error = None
            if current is not self._object or not self.synced:
                meta = (current or {}).get("metadata") or {}
                version = str(meta.get("resourceVersion") or "") if current else None
                if version != seen or not self.synced:
                    seen = version
                    self._object = current
                    self.version += 1
                    self.synced = True
                    self._on_change()
            if self._wait(self._period):
                return
