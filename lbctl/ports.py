"""The ports: what actions, the state store and doctor need from the outside world.

Each port is a :class:`typing.Protocol`.  The adapters (:mod:`lbctl.kube`,
:mod:`lbctl.state.file`, :mod:`lbctl.state.configmap`) implement them; tests implement them with
fakes.  The node's ports (raw ARP/NDP, probes, BGP; :mod:`lbctl.net`, :mod:`lbctl.bgp`) live in
:mod:`lbctl.nodeports`, which a command that only reads the cluster never imports.

Ports speak plain data: Kubernetes objects are the JSON dictionaries the API server sends
(``{"metadata": {...}, "spec": {...}}``), never client model classes, so nothing above the
adapters imports ``kubernetes`` and nothing pays for its model classes.

Error policy: an implementation raises only :mod:`lbctl.errors` classes.  In particular a stale
``resourceVersion`` (HTTP 409) is :class:`lbctl.errors.ConflictError` and a missing object is
:class:`lbctl.errors.NotFoundError`.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any, Literal, NamedTuple, Protocol

#: A Kubernetes object as JSON: ``{"apiVersion": ..., "kind": ..., "metadata": ..., ...}``.
Obj = dict[str, Any]


class Source(NamedTuple):
    """Text the user gave with ``-f``: a file's content, or stdin's (``name`` is ``-``)."""

    name: str  # the path as given, or "-"
    text: str

    @property
    def label(self) -> str:
        """How messages name it: ``file k8s/svc.yaml`` or ``stdin``."""
        return "stdin" if self.name == "-" else f"file {self.name}"

    @property
    def where(self) -> str:
        """How positions name it: ``k8s/svc.yaml`` (``k8s/svc.yaml:3:5: ...``) or ``stdin``."""
        return "stdin" if self.name == "-" else self.name


class Resource(NamedTuple):
    """Where a kind of object lives in the API: ``/api/v1/namespaces/{ns}/services``."""

    group_version: str  # "v1", "apps/v1", "discovery.k8s.io/v1"
    plural: str  # "services"
    kind: str  # "Service"
    namespaced: bool = True


SERVICES = Resource("v1", "services", "Service")
CONFIGMAPS = Resource("v1", "configmaps", "ConfigMap")
NODES = Resource("v1", "nodes", "Node", namespaced=False)
NAMESPACES = Resource("v1", "namespaces", "Namespace", namespaced=False)
PODS = Resource("v1", "pods", "Pod")
EVENTS = Resource("v1", "events", "Event")
ENDPOINTSLICES = Resource("discovery.k8s.io/v1", "endpointslices", "EndpointSlice")
DAEMONSETS = Resource("apps/v1", "daemonsets", "DaemonSet")
DEPLOYMENTS = Resource("apps/v1", "deployments", "Deployment")
LEASES = Resource("coordination.k8s.io/v1", "leases", "Lease")
SECRETS = Resource("v1", "secrets", "Secret")


class Listing(NamedTuple):
    """Every object of a LIST (all pages) and the list's ``resourceVersion``: where a watch of the
    same collection resumes so that it misses nothing and repeats nothing."""

    items: builtins.list[Obj]
    resource_version: str


#: ``BOOKMARK`` carries only ``metadata.resourceVersion``: progress to resume from, no change.
WatchEventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK"]


class WatchEvent(NamedTuple):
    """One change of a watched collection, as the API server streamed it."""

    type: WatchEventType
    object: Obj


class KubeAPI(Protocol):
    """The slice of the Kubernetes API lbctl uses."""

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> Obj:
        """Read one object; :class:`~lbctl.errors.NotFoundError` when absent."""
        ...

    def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> builtins.list[Obj]:
        """All objects of a kind (every page), in one namespace or (``None``) in all."""
        ...

    def list_versioned(
        self,
        resource: Resource,
        namespace: str | None = None,
        label_selector: str | None = None,
        *,
        field_selector: str | None = None,
    ) -> Listing:
        """As :meth:`list`, with the collection's ``resourceVersion`` for a following watch.
        ``field_selector`` ``metadata.name=NAME`` lists one object, which RBAC limited to that
        name allows."""
        ...

    def watch(
        self,
        resource: Resource,
        *,
        resource_version: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> Iterator[WatchEvent]:
        """Changes after ``resource_version``, bookmarks requested (``allowWatchBookmarks``).

        The iterator ends when the server closes the stream (its timeout, a dropped connection):
        the caller resumes from the last ``metadata.resourceVersion`` it saw.  A
        ``resource_version`` the server no longer remembers (HTTP 410 Gone, or an ``ERROR`` event
        with code 410) raises :class:`~lbctl.errors.ExpiredError`: list again.  Closing the
        iterator (``close()``) releases the connection."""
        ...

    def create(self, resource: Resource, body: Obj, namespace: str | None = None) -> Obj:
        """Create; :class:`~lbctl.errors.ConflictError` when it already exists."""
        ...

    def delete(self, resource: Resource, name: str, namespace: str | None = None, *,
               uid: str | None = None) -> None:
        """Delete one object (with ``uid``: only if it is still that object);
        :class:`~lbctl.errors.NotFoundError` when absent, :class:`~lbctl.errors.ConflictError`
        when its uid is another.  Nothing of the object is returned."""
        ...

    def replace(self, resource: Resource, body: Obj) -> Obj:
        """PUT ``body`` (which names itself and carries the ``resourceVersion`` it was read at);
        :class:`~lbctl.errors.ConflictError` when the object changed since."""
        ...

    def patch(
        self,
        resource: Resource,
        name: str,
        patch: Obj | builtins.list[Obj],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        patch_type: str = "application/merge-patch+json",
    ) -> Obj:
        """PATCH the object or a subresource (``"status"``)."""
        ...

    def can_i(self, verb: str, resource: str, group: str = "", namespace: str | None = None,
              subresource: str = "", name: str = "") -> bool:
        """SelfSubjectAccessReview: may the current identity do this (to the object ``name``,
        when the permission is limited to named objects)?"""
        ...

    def server_version(self) -> str:
        """``gitVersion`` of the API server."""
        ...


class StateBackend(Protocol):
    """Raw storage of the state document: bytes and a version token, nothing more.

    ``read`` returns ``(None, version)`` when no document exists yet.  ``write`` stores the text
    only if the stored document is still at ``version`` and raises
    :class:`~lbctl.errors.ConflictError` otherwise (compare-and-swap); it returns the version of
    what it wrote (for the next compare-and-swap without reading again).  Neither ever parses
    YAML.
    """

    #: For messages: ``"ConfigMap kube-system/lbctl-state"``, ``"file ./lb.yaml"``.
    location: str

    def read(self) -> tuple[str | None, object]: ...

    def write(self, text: str, version: object) -> object: ...

    def exclusive(self) -> AbstractContextManager[None]:
        """Keep other writers out for a whole read-change-write, where the storage has a lock
        (a local file's ``flock``); a no-op where compare-and-swap is the only guard (the
        ConfigMap).  Re-entrant: ``write`` inside it does not wait for itself."""
        ...
