"""The fake API server's object storage: one lock, one resourceVersion counter, watch history.

Owns every stored object and the write semantics a client can observe: server-set metadata
(uid, creationTimestamp, resourceVersion, generateName), optimistic concurrency (a stale
``resourceVersion`` is a 409), the status subresource split, defaulting and validation through
:mod:`tests.kubefake.resources`, pagination, and the event history watches read from.  It knows
nothing of HTTP, permissions or fault injection.

Stored objects are never mutated in place: every write stores a new dict together with its JSON
encoding, so a LIST of a thousand objects joins pre-encoded bytes instead of re-serialising, and
watch events can share the stored dicts.  A write that needs a private copy of a stored object
decodes its encoding (:meth:`Stored.copy`), which is several times cheaper than a deep copy;
objects are therefore stored in their JSON form (seeding converts tuples to lists, as a real
server's storage would).

Error policy: every refusal is a :class:`status.ApiError` with the real server's code and
message; nothing else is raised on purpose.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import collections
import itertools
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from tests.kubefake import resources as res
from tests.kubefake.resources import ResourceType
from tests.kubefake.status import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    expired,
    not_found,
)

Obj = dict[str, Any]
Predicate = Callable[[Obj], bool]

#: Namespaces every real cluster has.
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclass(frozen=True)
class Stored:
    """One stored object: the dict (never mutated) and its JSON encodings."""

    obj: Obj
    item: bytes  # as inside a list: no kind/apiVersion, like the real server
    full: bytes  # as returned for a single object and in watch events

    def copy(self) -> Obj:
        """A private copy of ``obj`` (equal to it; ``kind`` and ``apiVersion`` come first)."""
        loaded: Obj = json.loads(self.full)
        return loaded


@dataclass(frozen=True)
class Event:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    resource: ResourceType
    stored: Stored


@dataclass(frozen=True)
class Page:
    items: list[Stored]
    resource_version: int
    continue_token: str | None
    remaining: int | None


def _encode(resource: ResourceType, obj: Obj) -> Stored:
    body = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
    item = json.dumps(body, separators=(",", ":")).encode()
    prefix = f'{{"kind":"{resource.kind}","apiVersion":"{resource.api_version}",'.encode()
    return Stored(obj, item, prefix + item[1:])


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj["metadata"]
    return (meta.get("namespace", ""), meta["name"])


def _only_rv(obj: Obj) -> dict[str, str]:
    return {"resourceVersion": obj["metadata"]["resourceVersion"]}


def _without_rv(obj: Obj) -> Obj:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}
    return {**obj, "metadata": meta}


class Store:
    """Thread-safe storage for every resource type the fake serves."""

    def __init__(self, *, require_namespaces: bool = False, watch_history: int = 10_000) -> None:
        self.cond = threading.Condition()
        self.require_namespaces = require_namespaces
        self.closed = False
        self._rv = 0
        self._objects: dict[tuple[str, str], dict[tuple[str, str], Stored]] = {
            r.key: {} for r in res.RESOURCES
        }
        self._history: collections.deque[Event] = collections.deque(maxlen=watch_history)
        self._history_floor = 0  # events at or below this rv have been forgotten
        self.allocator = res.ServiceAllocator()
        for name in SYSTEM_NAMESPACES:
            self.put(res.lookup("namespaces"), {"metadata": {"name": name}})

    # --- reading -------------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        with self.cond:
            return self._rv

    def get(self, resource: ResourceType, namespace: str, name: str) -> Stored:
        with self.cond:
            stored = self._objects[resource.key].get((namespace, name))
        if stored is None:
            raise not_found(resource.plural, resource.group, name)
        return stored

    def list(
        self,
        resource: ResourceType,
        namespace: str | None,
        matches: Predicate,
        limit: int = 0,
        continue_token: str | None = None,
    ) -> Page:
        """Objects in key order (namespace, name); ``namespace=None`` means all namespaces."""
        start = self._decode_continue(continue_token) if continue_token else None
        with self.cond:
            rv = self._rv
            table = self._objects[resource.key]
            keys = sorted(k for k in table if namespace is None or k[0] == namespace)
            if start is not None:
                keys = [k for k in keys if k > start]
            items: list[Stored] = []
            last_index = len(keys)
            for index, key in enumerate(keys):
                stored = table[key]
                if matches(stored.obj):
                    items.append(stored)
                    if limit and len(items) == limit:
                        last_index = index + 1
                        break
        more = limit > 0 and last_index < len(keys)
        token = self._encode_continue(keys[last_index - 1], rv) if more else None
        return Page(items, rv, token, (len(keys) - last_index) if more else None)

    @staticmethod
    def _encode_continue(key: tuple[str, str], rv: int) -> str:
        raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": list(key)})
        return base64.urlsafe_b64encode(raw.encode()).decode()

    @staticmethod
    def _decode_continue(token: str) -> tuple[str, str]:
        try:
            data = json.loads(base64.urlsafe_b64decode(token.encode()))
            namespace, name = data["start"]
            return (str(namespace), str(name))
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise bad_request(f"continue key is not valid: {exc}") from exc

    def objects(self, resource: ResourceType) -> builtins.list[Stored]:
        with self.cond:
            table = self._objects[resource.key]
            return [table[k] for k in sorted(table)]

    # --- writing -------------------------------------------------------------------------------

    def _commit(self, resource: ResourceType, obj: Obj, event: str) -> Stored:
        """Store ``obj`` (a fresh dict) at a new resourceVersion and record the event."""
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        stored = _encode(resource, obj)
        key = _key(obj)
        if event == "DELETED":
            del self._objects[resource.key][key]
        else:
            self._objects[resource.key][key] = stored
        if len(self._history) == self._history.maxlen:
            self._history_floor = self._history[0].rv
        self._history.append(Event(self._rv, event, resource, stored))
        self.cond.notify_all()
        return stored

    def _check_namespace(self, resource: ResourceType, namespace: str) -> None:
        if resource.namespaced and self.require_namespaces:
            if ("", namespace) not in self._objects[("", "namespaces")]:
                raise not_found("namespaces", "", namespace)

    def create(
        self, resource: ResourceType, namespace: str, body: Obj, *, keep_status: bool = False
    ) -> Stored:
        """POST semantics; like the real server, the status of a resource with a status
        subresource is not taken from the request (``keep_status`` is for seeding).  ``body``
        becomes the stored object: the caller hands over a dict of its own (decoded from a
        request, or copied) and keeps no reference to it."""
        obj = body
        if resource.has_status and not keep_status:
            obj.pop("status", None)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if resource.namespaced:
            if (meta.get("namespace") or namespace) != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if meta.get("resourceVersion"):
            raise ApiError(
                500,
                "Internal error occurred: resourceVersion should not be set on objects to be "
                "created",
            )
        if not meta.get("name") and meta.get("generateName"):
            suffix = "".join(random.choices(_GENERATE_ALPHABET, k=5))
            meta["name"] = meta["generateName"] + suffix
        name = meta.get("name", "")
        res.raise_invalid(resource, name, res.name_causes(resource, name))
        obj["kind"], obj["apiVersion"] = resource.kind, resource.api_version
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now()
        with self.cond:
            self._check_namespace(resource, namespace)
            if (meta.get("namespace", ""), name) in self._objects[resource.key]:
                raise already_exists(resource.plural, resource.group, name)
            self._default_and_validate(resource, obj, None)
            return self._commit(resource, obj, "ADDED")

    def _default_and_validate(self, resource: ResourceType, obj: Obj, old: Obj | None) -> None:
        causes: list[tuple[str, str]] = []
        if resource.plural == "services":
            causes = res.default_service(obj, old, self.allocator)
        elif resource.plural == "namespaces":
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj.setdefault("status", {"phase": "Active"})
            labels = obj["metadata"].setdefault("labels", {})
            labels["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        res.raise_invalid(resource, obj["metadata"]["name"], causes + res.validate(obj, resource))

    def update(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        change: Callable[[Obj], Obj],
        subresource: str | None = None,
    ) -> Stored:
        """Read-modify-write under the lock: ``change`` gets a private copy of the stored object
        (with ``kind``/``apiVersion``) and returns the object the client wants stored."""
        with self.cond:
            stored = self.get(resource, namespace, name)
            old = stored.obj
            new = change(stored.copy())
            if not isinstance(new, dict) or not isinstance(new.get("metadata", {}), dict):
                raise bad_request("the request body is not a Kubernetes object")
            meta = new.setdefault("metadata", {})
            if meta.get("name", name) != name:
                raise bad_request(
                    f"the name of the object ({meta.get('name')}) does not match the name on the "
                    f"URL ({name})"
                )
            if resource.namespaced and (meta.get("namespace") or namespace) != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            wanted_rv = meta.get("resourceVersion")
            if wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
                raise conflict(resource.plural, resource.group, name)
            if subresource == "status":
                new = {**stored.copy(), "status": new.get("status", {})}
            else:
                if resource.has_status:
                    new["status"] = stored.copy().get("status")
                    if new["status"] is None:
                        del new["status"]
                new["metadata"] = {
                    **new["metadata"],
                    **{k: old["metadata"][k] for k in ("uid", "creationTimestamp", "name")},
                }
                if resource.namespaced:
                    new["metadata"]["namespace"] = namespace
                new["kind"], new["apiVersion"] = resource.kind, resource.api_version
            if subresource == "status":  # the spec is the stored one, defaulted when stored
                res.raise_invalid(resource, name, res.validate(new, resource))
            else:
                self._default_and_validate(resource, new, old)
            if _without_rv(new) == _without_rv(old):
                return self.get(resource, namespace, name)  # a no-op write is not a write
            return self._commit(resource, new, "MODIFIED")

    def delete(
        self, resource: ResourceType, namespace: str, name: str, preconditions: dict[str, Any]
    ) -> Stored:
        with self.cond:
            stored = self.get(resource, namespace, name)
            for field in ("uid", "resourceVersion"):
                wanted = preconditions.get(field)
                if wanted and wanted != stored.obj["metadata"].get(field):
                    raise conflict(resource.plural, resource.group, name)
            if resource.plural == "namespaces":
                for other in res.RESOURCES:
                    if other.namespaced:
                        for key in [k for k in self._objects[other.key] if k[0] == name]:
                            self._delete_locked(other, self._objects[other.key][key])
            return self._delete_locked(resource, stored)

    def _delete_locked(self, resource: ResourceType, stored: Stored) -> Stored:
        if resource.plural == "services":
            self.allocator.release(stored.obj)
        return self._commit(resource, stored.copy(), "DELETED")

    def put(self, resource: ResourceType, body: Obj) -> Stored:
        """Create or unconditionally replace ``body``, as seeding does: a ``status`` in ``body``
        is stored too (a replaced object keeps its status when ``body`` has none)."""
        meta = body.get("metadata", {})
        namespace = (meta.get("namespace") or "default") if resource.namespaced else ""
        name = meta.get("name", "")
        body = json.loads(json.dumps(body))  # a private copy, in JSON form
        body.get("metadata", {}).pop("resourceVersion", None)

        def replace(current: Obj) -> Obj:
            return {**body, "metadata": {**body["metadata"], **_only_rv(current)}}

        with self.cond:
            if (namespace, name) not in self._objects[resource.key]:
                return self.create(resource, namespace, body, keep_status=True)
            self.update(resource, namespace, name, replace)
            if resource.has_status and "status" in body:
                self.update(resource, namespace, name, replace, subresource="status")
            return self.get(resource, namespace, name)

    # --- watching ------------------------------------------------------------------------------

    def events_after(self, cursor: int, deadline: float) -> builtins.list[Event]:
        """Events with rv > ``cursor``, waiting until one arrives, the deadline passes or the
        store closes (then the list is empty)."""
        with self.cond:
            while True:
                if cursor < self._history_floor:
                    raise expired(cursor, self._history_floor + 1)
                # The history holds consecutive resourceVersions: the newest rv - cursor events.
                newer = min(self._rv - cursor, len(self._history))
                events = list(itertools.islice(reversed(self._history), max(newer, 0)))
                events.reverse()
                remaining = deadline - time.monotonic()
                if events or self.closed or remaining <= 0:
                    return events
                self.cond.wait(remaining)

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
