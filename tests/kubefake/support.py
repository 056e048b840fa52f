"""Small helpers shared by the contract tests (not fixtures: plain functions)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

#: The ``raw`` fixture: ``raw(method, path, body=None, headers=None) -> (status, body)``.
Raw = Callable[..., tuple[int, Any]]


def status_of(exc: Any) -> dict[str, Any]:
    """The ``Status`` body carried by a client ``ApiException``."""
    body: dict[str, Any] = json.loads(exc.body)
    return body


def raises_status(call: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
    """Run ``call``, which must fail with an ``ApiException``; return its code and Status."""
    from kubernetes.client import ApiException

    try:
        call()
    except ApiException as exc:
        return int(exc.status), status_of(exc)
    raise AssertionError("the call succeeded; an error Status was expected")


def service(name: str, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    """A minimal valid Service manifest (one TCP port 80 unless ``ports`` is given)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"ports": [{"port": 80}], **spec},
    }


def configmap(name: str, namespace: str = "default", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }
