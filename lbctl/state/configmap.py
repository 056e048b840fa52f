"""ConfigMap backend: the state document in ``kube-system/lbctl-state``, key ``state.yaml``.

Reads return the whole ConfigMap as the version token, so a write keeps every other key, label
and annotation and carries the ``resourceVersion`` it was read at: a concurrent writer makes the
API server answer 409, which the adapter raises as :class:`~lbctl.errors.ConflictError` and the
store retries.  The ConfigMap is created on the first write (a racing creator is a conflict too).

Error policy: everything from the :class:`~lbctl.ports.KubeAPI` port passes through; a document
over the ConfigMap size limit is refused here, before the API server is asked.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from lbctl.core.names import STATE_CONFIGMAP, SYSTEM_NAMESPACE
from lbctl.errors import NotFoundError, RefusedError
from lbctl.ports import CONFIGMAPS, KubeAPI, Obj

DEFAULT_NAMESPACE = SYSTEM_NAMESPACE
DEFAULT_NAME = STATE_CONFIGMAP
KEY = "state.yaml"
#: The API server refuses ConfigMaps whose data is larger than this.
MAX_BYTES = 1024 * 1024


def location_of(namespace: str, name: str) -> str:
    """How messages name the state ConfigMap: ``ConfigMap kube-system/lbctl-state``."""
    return f"ConfigMap {namespace}/{name}"


def document_of(configmap: Obj | None) -> tuple[str | None, object]:
    """What :meth:`ConfigMapBackend.read` makes of the ConfigMap as the API server sent it (a
    GET, a LIST item, a watch event): the state document and the version token."""
    if configmap is None:
        return None, None
    return (configmap.get("data") or {}).get(KEY), configmap


class ConfigMapBackend:
    def __init__(self, api: KubeAPI, namespace: str = DEFAULT_NAMESPACE,
                 name: str = DEFAULT_NAME) -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self.location = location_of(namespace, name)

    def exclusive(self) -> AbstractContextManager[None]:
        """No lock: the resourceVersion check of each write is the only guard."""
        return nullcontext()

    def read(self) -> tuple[str | None, object]:
        try:
            obj = self.api.get(CONFIGMAPS, self.name, self.namespace)
        except NotFoundError:
            return None, None
        return document_of(obj)

    def write(self, text: str, version: object) -> object:
        """The ConfigMap as the API server stored it is the next version."""
        size = len(text.encode("utf-8"))
        if size > MAX_BYTES:
            raise RefusedError(
                f"the state document is {size} bytes; a ConfigMap holds at most {MAX_BYTES}",
                hint="keep the state in a file (--state PATH), or split pools across clusters",
            )
        if version is None:
            body: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": self.name,
                    "namespace": self.namespace,
                    "labels": {"app.kubernetes.io/managed-by": "lbctl"},
                },
                "data": {KEY: text},
            }
            return self.api.create(CONFIGMAPS, body, self.namespace)
        assert isinstance(version, dict)
        # A new top level and a new ``data``: the ConfigMap read (a watch's, a cache's) is not
        # changed, and nothing else of it is copied (its managedFields can be large).
        body = {**version, "data": {**(version.get("data") or {}), KEY: text}}
        return self.api.replace(CONFIGMAPS, body)
