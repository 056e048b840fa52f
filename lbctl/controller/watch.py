"""LIST then WATCH one collection, for as long as the controller runs.

:class:`Watch` keeps a consumer in step with the API server, as client-go's reflector does:

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

Every restart is reported to ``on_restart(reason)`` (``closed``, ``expired``, ``error``) for the
watch-restart metric.  Waiting is injected (``wait(seconds) -> True`` to stop), so the loop runs
in tests without sleeping; ``stop()`` ends it after the current event or stream.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from lbctl.errors import ExpiredError, LbctlError
from lbctl.ports import KubeAPI, Obj, Resource, WatchEvent

Wait = Callable[[float], bool]

CLOSED = "closed"
EXPIRED = "expired"
ERROR = "error"
#: Seconds: a watch that ends sooner than this with nothing in it is retried after a growing
#: delay, as after an error (client-go's reflector does the same).
SHORT_STREAM = 1.0


class Watch:
    def __init__(self, kube: KubeAPI, resource: Resource, *,
                 on_list: Callable[[list[Obj]], None], on_event: Callable[[WatchEvent], None],
                 wait: Wait, namespace: str | None = None, field_selector: str | None = None,
                 on_restart: Callable[[str], None] = lambda reason: None,
                 on_error: Callable[[LbctlError], None] = lambda error: None,
                 timeout_seconds: int = 300, first_backoff: float = 0.5,
                 max_backoff: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.kube = kube
        self.resource = resource
        self.namespace = namespace
        self.field_selector = field_selector
        self.on_list = on_list
        self.on_event = on_event
        self.on_restart = on_restart
        self.on_error = on_error
        self.timeout_seconds = timeout_seconds
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self._wait = wait
        self._clock = clock
        self._stopped = threading.Event()
        self.resource_version: str | None = None  # None: list first
        self.lists = 0  # how many LISTs (the first, then one per 410 or error before a list)
        self.synced = threading.Event()  # set after the first LIST reached on_list

    def stop(self) -> None:
        self._stopped.set()

    def run(self) -> None:
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
                self.on_error(exc)
                self.on_restart(ERROR)
            delay = min(self.first_backoff * 2 ** failures, self.max_backoff)
            failures += 1
            if self._stopped.is_set() or self._wait(delay):
                return

    def _list(self) -> None:
        listing = self.kube.list_versioned(self.resource, self.namespace,
                                           field_selector=self.field_selector)
        self.lists += 1
        self.on_list(listing.items)
        self.resource_version = listing.resource_version
        self.synced.set()

    def _stream(self) -> bool:
        """Follow one watch request to its end; whether it delivered anything."""
        assert self.resource_version is not None
        delivered = False
        events = self.kube.watch(self.resource, resource_version=self.resource_version,
                                 namespace=self.namespace, field_selector=self.field_selector,
                                 timeout_seconds=self.timeout_seconds)
        try:
            for event in events:
                delivered = True
                version = (event.object.get("metadata") or {}).get("resourceVersion")
                if event.type != "BOOKMARK":
                    self.on_event(event)
                if version:
                    self.resource_version = str(version)
                if self._stopped.is_set():
                    break
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
        return delivered
