"""Kubernetes ``Status`` error bodies, as the real kube-apiserver writes them.

This module owns the exact wording, ``reason`` and ``details`` of every error the fake returns,
so that the contract tests (and lbctl's error translation) are pinned against the messages a real
cluster sends.  It knows nothing about HTTP, storage or threads.

Error policy: :class:`ApiError` is the only exception the fake's request handling raises on
purpose; the HTTP layer turns it into a response with :meth:`ApiError.body`.
"""

from __future__ import annotations

import json
from typing import Any

#: ``reason`` the API server uses for each status code it can return.
REASONS: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """An error response: HTTP ``code`` with a ``Status`` body."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason if reason is not None else REASONS.get(code, "Unknown")
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        """The ``Status`` object (also used as the object of a watch ``ERROR`` event)."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body

    def body(self) -> bytes:
        return json.dumps(self.status()).encode()


def _details(name: str, plural: str, group: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name} if name else {}  # Go's omitempty
    if group:
        details["group"] = group
    details["kind"] = plural
    return details


def qualified(plural: str, group: str) -> str:
    """``services``, ``deployments.apps``: how messages name a resource."""
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        404, f'{qualified(plural, group)} "{name}" not found', details=_details(name, plural, group)
    )


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        f'{qualified(plural, group)} "{name}" already exists',
        reason="AlreadyExists",
        details=_details(name, plural, group),
    )


def conflict(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": the object has '
        "been modified; please apply your changes to the latest version and try again",
        details=_details(name, plural, group),
    )


def forbidden(
    user: str,
    verb: str,
    plural: str,
    group: str,
    name: str,
    namespace: str | None,
    subresource: str | None = None,
) -> ApiError:
    subject = qualified(plural, group) + (f' "{name}"' if name else "")
    resource = f"{plural}/{subresource}" if subresource else plural
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    return ApiError(
        403,
        f'{subject} is forbidden: User "{user}" cannot {verb} resource "{resource}" '
        f'in API group "{group}" {scope}',
        details=_details(name, plural, group),
    )


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 ``Invalid`` for ``causes`` given as ``(field, "Invalid value: ...")`` pairs."""
    rendered = [f"{field}: {message}" for field, message in causes]
    summary = rendered[0] if len(rendered) == 1 else "[" + ", ".join(rendered) + "]"
    qualified_kind = f"{kind}.{group}" if group else kind
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [
        {"reason": _cause_reason(message), "message": message, "field": field}
        for field, message in causes
    ]
    return ApiError(422, f'{qualified_kind} "{name}" is invalid: {summary}', details=details)


def _cause_reason(message: str) -> str:
    for prefix, reason in (
        ("Required value", "FieldValueRequired"),
        ("Too long", "FieldValueTooLong"),
        ("Unsupported value", "FieldValueNotSupported"),
        ("Forbidden", "FieldValueForbidden"),
    ):
        if message.startswith(prefix):
            return reason
    return "FieldValueInvalid"


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized")


def method_not_allowed() -> ApiError:
    return ApiError(405, "the server does not allow this method on the requested resource")


def unknown_path() -> ApiError:
    return ApiError(404, "the server could not find the requested resource", details={})


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        415,
        f"the body of the request was in an unknown format ({content_type}) - accepted media "
        "types include: application/json-patch+json, application/merge-patch+json, "
        "application/strategic-merge-patch+json",
    )


def expired(requested: int, oldest: int) -> ApiError:
    """A watch from a resourceVersion older than the history kept (the real server's wording)."""
    return ApiError(410, f"too old resource version: {requested} ({oldest})", reason="Expired")


def generic(code: int) -> ApiError:
    """What a real server sends for a bare status code (used by fault injection)."""
    if code == 429:
        return ApiError(
            429,
            "the server has received too many requests and has asked us to try again later",
            details={"retryAfterSeconds": 1},
            headers={"Retry-After": "1"},
        )
    if code == 503:
        return ApiError(503, "the server is currently unable to handle the request")
    if code == 500:
        return ApiError(
            500,
            "Internal error occurred: injected fault",
            details={"causes": [{"message": "injected fault"}]},
        )
    return ApiError(code, f"injected fault ({code})")
