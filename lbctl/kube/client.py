"""The API client behind :class:`lbctl.ports.KubeAPI`, whatever carries its requests.

Owns URLs, LIST paging, WATCH streams, the short bounded retry when the server says it is
overloaded, and the translation of every failure into :mod:`lbctl.errors`.  The bytes travel
through a :class:`Transport`: lbctl's own (:mod:`lbctl.kube.transport` over ``http.client``, or
:mod:`lbctl.kube.proxied` over urllib3 behind a proxy) for the configurations lbctl reads
itself, the official client's (:mod:`lbctl.kube.official`) for the rest.  Objects go in and
come out as plain JSON dictionaries.

Error policy: no exception from a transport leaves this module; each is translated at the edge
(``raise ... from exc``): 401/403 -> PermissionDeniedError, 404 -> NotFoundError, 409 ->
ConflictError, 400 -> UsageError, 422 and other 4xx -> RefusedError, 5xx/429 (after a short
bounded retry) and transport failures -> UnreachableError.  No credential appears in a message.
"""

from __future__ import annotations

import builtins
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from lbctl.errors import (
    ConflictError,
    ExpiredError,
    LbctlError,
    NotFoundError,
    PermissionDeniedError,
    RefusedError,
    UnreachableError,
    UsageError,
    redact,
)
from lbctl.ports import NAMESPACES, Listing, Obj, Resource, WatchEvent


class Response(Protocol):
    """What a transport returns: a response whose body has not been read yet (urllib3's, or
    :mod:`lbctl.kube.transport`'s over ``http.client``)."""

    status: int
    headers: Mapping[str, str]

    def read(self) -> bytes: ...

    def stream(self, amt: int, decode_content: bool) -> Iterator[bytes]: ...

    def release_conn(self) -> None: ...

    def close(self) -> None: ...


class Transport(Protocol):
    """Carries one request to the API server, credentials added."""

    #: The server's URL as messages show it (no user:password part).
    host: str
    #: What the transport raises when no HTTP answer arrives.
    errors: tuple[type[BaseException], ...]

    def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None,
        body: Any,
        headers: Mapping[str, str],
        timeout: tuple[float, float],
    ) -> Response: ...


PAGE_SIZE = 500
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"

#: Statuses that mean "the server did not process the request": safe to retry for any method.
_RETRY_ANY = frozenset({429, 503})
#: Statuses retried only for reads: a write may have been applied before the failure.
_RETRY_READS = frozenset({500, 502, 504})
_FORBIDDEN_RE = (
    r'cannot (?P<verb>\S+) resource "(?P<resource>[^"]+)" in API group "(?P<group>[^"]*)"'
    r'(?: in the namespace "(?P<namespace>[^"]+)")?'
)
_UNREACHABLE_HINT = "check --context / the server address, and that the cluster is up"


@dataclass(frozen=True)
class _Target:
    """What one request is about, for URLs and for error messages."""

    resource: Resource
    namespace: str | None  # None: cluster-scoped, or all namespaces
    name: str | None = None
    subresource: str | None = None

    def path(self) -> str:
        r = self.resource
        path = "/api/v1" if r.group_version == "v1" else f"/apis/{r.group_version}"
        if r.namespaced and self.namespace is not None:
            path += f"/namespaces/{quote(self.namespace, safe='')}"
        path += f"/{r.plural}"
        if self.name is not None:
            path += f"/{quote(self.name, safe='')}"
        if self.subresource:
            path += f"/{self.subresource}"
        return path

    def describe(self) -> str:
        """``service default/web``, ``node worker-1``, ``services in namespace default``."""
        r = self.resource
        if self.name is None:
            where = f"namespace {self.namespace}" if self.namespace else "all namespaces"
            return f"{r.plural} in {where}" if r.namespaced else r.plural
        where = f"{self.namespace}/" if r.namespaced and self.namespace else ""
        return f"{r.kind.lower()} {where}{self.name}"

    @property
    def group(self) -> str:
        return self.resource.group_version.rpartition("/")[0]


class KubeClient:
    """A connected :class:`lbctl.ports.KubeAPI`.  Build it with :func:`lbctl.kube.connect`."""

    def __init__(
        self,
        transport: Transport,
        *,
        default_namespace: str,
        context: str | None,
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
        fast: bool = True,
    ) -> None:
        self._transport = transport
        self.default_namespace = default_namespace
        self.context = context
        #: True when lbctl's own transport carries the requests (False: the official client's).
        self.fast = fast
        self.server = _display_url(transport.host)
        self._transport_errors = transport.errors
        self._timeout = (min(timeout, 10.0), timeout)
        self._retries = retries
        self._backoff = backoff
        self._sleep = sleep

    # --- KubeAPI -------------------------------------------------------------------------------

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> Obj:
        target = self._object(resource, name, namespace)
        return self._call("GET", target, verb="get")

    def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> builtins.list[Obj]:
        return self.list_versioned(resource, namespace, label_selector).items

    def list_versioned(
        self,
        resource: Resource,
        namespace: str | None = None,
        label_selector: str | None = None,
        *,
        field_selector: str | None = None,
    ) -> Listing:
        target = _Target(resource, namespace if resource.namespaced else None)
        versions: builtins.list[str] = []
        items = [*self._pages(target, label_selector, versions, field_selector)]
        return Listing(items, versions[0] if versions else "")

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
        target = _Target(resource, namespace if resource.namespaced else None)
        query = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(timeout_seconds),
        }
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        status, response = self._open(target.path(), query, timeout_seconds + 10.0)
        if status != 200:
            data = response.read()
            response.release_conn()
            if status == 410:
                raise ExpiredError(
                    f"the watch of {target.describe()} resumed from a version the server forgot",
                    hint="list again",
                )
            raise self._error(status, data, "GET", "watch", target)
        return self._events(response, target)

    def _events(self, response: Any, target: _Target) -> Iterator[WatchEvent]:
        api_version, kind = target.resource.group_version, target.resource.kind
        buffer = b""
        finished = False
        try:
            for chunk in response.stream(65536, decode_content=True):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if not line.strip():
                        continue
                    event = self._decode(line)
                    kind_of = event.get("type")
                    obj = event.get("object") or {}
                    if kind_of == "ERROR":
                        if obj.get("code") == 410:
                            raise ExpiredError(
                                f"the watch of {target.describe()} fell behind the server's "
                                "history",
                                hint="list again",
                            )
                        raise self._error(int(obj.get("code") or 500), line, "GET", "watch",
                                          target)
                    if kind_of not in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
                        continue
                    obj.setdefault("apiVersion", api_version)
                    obj.setdefault("kind", kind)
                    yield WatchEvent(kind_of, obj)
            finished = True
        except self._transport_errors:
            return  # a dropped stream ends the watch: the caller resumes from its last version
        finally:
            if not finished:  # closed early, or failed: the rest of the stream must not be
                response.close()  # read by the next request on this connection
            response.release_conn()

    def _open(self, path: str, query: Mapping[str, str], read_timeout: float) -> tuple[int, Any]:
        """A streaming GET: the status and the undecoded response."""
        try:
            raw = self._transport.request(
                "GET", path, query, None, {"Accept": "application/json"},
                (self._timeout[0], read_timeout),
            )
        except self._transport_errors as exc:
            raise self._unreachable(exc) from exc
        return int(raw.status), raw

    def create(self, resource: Resource, body: Obj, namespace: str | None = None) -> Obj:
        namespace = namespace or body.get("metadata", {}).get("namespace")
        target = _Target(resource, self._namespace(resource, namespace))
        name = body.get("metadata", {}).get("name")
        named = _Target(resource, target.namespace, name) if name else None
        return self._call("POST", target, verb="create", body=body, described=named)

    def delete(self, resource: Resource, name: str, namespace: str | None = None, *,
               uid: str | None = None) -> None:
        target = self._object(resource, name, namespace)
        options = {"apiVersion": "v1", "kind": "DeleteOptions",
                   **({"preconditions": {"uid": uid}} if uid else {})}
        self._call("DELETE", target, verb="delete", body=options)

    def replace(self, resource: Resource, body: Obj) -> Obj:
        meta = body.get("metadata", {})
        target = self._object(resource, meta.get("name", ""), meta.get("namespace"))
        return self._call("PUT", target, verb="update", body=body)

    def patch(
        self,
        resource: Resource,
        name: str,
        patch: Obj | builtins.list[Obj],
        namespace: str | None = None,
        *,
        subresource: str | None = None,
        patch_type: str = MERGE_PATCH,
    ) -> Obj:
        if (patch_type == JSON_PATCH) != isinstance(patch, list):  # a caller's bug
            raise TypeError(
                f"a {patch_type} patch must be a "
                + ("list of operations" if patch_type == JSON_PATCH else "JSON object")
            )
        target = self._object(resource, name, namespace, subresource)
        return self._call("PATCH", target, verb="patch", body=patch, content_type=patch_type)

    def can_i(
        self,
        verb: str,
        resource: str,
        group: str = "",
        namespace: str | None = None,
        subresource: str = "",
        name: str = "",
    ) -> bool:
        attributes = {"verb": verb, "group": group, "resource": resource}
        if namespace:
            attributes["namespace"] = namespace
        if subresource:
            attributes["subresource"] = subresource
        if name:
            attributes["name"] = name
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        target = _Target(_ACCESS_REVIEWS, None)
        answer = self._call("POST", target, verb="create", body=review)
        return bool(answer.get("status", {}).get("allowed", False))

    def server_version(self) -> str:
        info = self._call("GET", None, verb="get", path="/version")
        return str(info.get("gitVersion", ""))

    # --- requests ------------------------------------------------------------------------------

    def _namespace(self, resource: Resource, namespace: str | None) -> str | None:
        return (namespace or self.default_namespace) if resource.namespaced else None

    def _object(
        self, resource: Resource, name: str, namespace: str | None, subresource: str | None = None
    ) -> _Target:
        if not name:  # a caller's bug: the commands refuse an empty name with a hint of theirs
            raise ValueError(f"a {resource.kind} needs a name")
        return _Target(resource, self._namespace(resource, namespace), name, subresource)

    def _pages(
        self, target: _Target, label_selector: str | None, versions: builtins.list[str],
        field_selector: str | None = None,
    ) -> Iterator[Obj]:
        """Every item of every page; the first page's ``resourceVersion`` goes to ``versions``."""
        api_version, kind = target.resource.group_version, target.resource.kind
        query: dict[str, str] = {"limit": str(PAGE_SIZE)}
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        while True:
            page = self._call("GET", target, verb="list", query=query)
            if not versions:
                versions.append(str((page.get("metadata") or {}).get("resourceVersion") or ""))
            for item in page.get("items") or []:
                # List items carry no kind/apiVersion on the wire; make each self-describing.
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
                yield item
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return
            query["continue"] = token

    def _call(
        self,
        method: str,
        target: _Target | None,
        *,
        verb: str,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        path: str | None = None,
        described: _Target | None = None,
    ) -> Obj:
        """One request, retried on 429/503 (and 5xx for reads); the decoded JSON object."""
        path = path if path is not None else target.path() if target is not None else "/"
        for attempt in range(self._retries + 1):
            status, headers, data = self._send(method, path, query, body, content_type)
            if 200 <= status < 300:
                return self._decode(data)
            retryable = status in _RETRY_ANY or (method == "GET" and status in _RETRY_READS)
            if not retryable or attempt == self._retries:
                break
            self._sleep(_delay(headers.get("Retry-After"), self._backoff * 2**attempt))
        raise self._error(status, data, method, verb, described or target)

    def _send(
        self, method: str, path: str, query: Mapping[str, str] | None, body: Any, content_type: str
    ) -> tuple[int, Mapping[str, str], bytes]:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            response = self._transport.request(method, path, query, body, headers, self._timeout)
            try:
                data: bytes = response.read()
            finally:
                response.release_conn()
        except self._transport_errors as exc:
            raise self._unreachable(exc) from exc
        return int(response.status), response.headers, data

    def _unreachable(self, exc: BaseException) -> UnreachableError:
        return UnreachableError(
            self._scrub(f"cannot reach the API server at {self.server}: {_reason(exc)}"),
            hint=_UNREACHABLE_HINT,
        )

    def _decode(self, data: bytes) -> Obj:
        try:
            decoded = json.loads(data) if data else {}
        except ValueError as exc:
            raise self._not_an_object() from exc
        if not isinstance(decoded, dict):
            raise self._not_an_object()
        return decoded

    def _not_an_object(self) -> UnreachableError:
        return UnreachableError(
            f"the API server at {self.server} sent a response that is not a JSON object",
            hint="check that --context points at a Kubernetes API server, not a proxy page",
        )

    def _scrub(self, text: str) -> str:
        """``text`` on one line, without any credential."""
        return " ".join(redact(text).split())

    # --- errors --------------------------------------------------------------------------------

    def _error(
        self, status: int, data: bytes, method: str, verb: str, target: _Target | None
    ) -> LbctlError:
        body = _status_body(data)
        message = self._scrub(str(body.get("message") or f"HTTP {status}"))
        reason = str(body.get("reason") or "")
        details = body.get("details")
        details = details if isinstance(details, dict) else {}
        what = target.describe() if target is not None else "the request"
        if status == 401:
            where = f"context {self.context}" if self.context else "the configuration"
            return PermissionDeniedError(
                "the API server rejected the credentials (401 Unauthorized)",
                hint=f"check the user of {where} in your kubeconfig; its token or certificate "
                "may have expired",
            )
        if status == 403:
            return _forbidden(message, verb, target)
        if status == 404:
            return _not_found(details, what, target)
        if status == 409:
            if reason == "AlreadyExists":
                return ConflictError(
                    f"{what} already exists", hint="pick another name, or delete it first"
                )
            return ConflictError(
                f"{what} was changed by someone else at the same time",
                hint="run the command again; it starts from the current state",
            )
        if status == 400:
            return UsageError(
                f"the API server rejected the request for {what}: {message}",
                hint="check the selector and the values given on the command line",
            )
        if status == 429 or status >= 500:
            return UnreachableError(
                f"the API server at {self.server} is not answering normally: {message} "
                f"(HTTP {status})",
                hint="it may be overloaded or restarting; try again in a moment",
            )
        if status == 422:
            return RefusedError(
                f"the API server refused {what}: {message}",
                hint="the value it names is invalid; fix it and run the command again",
            )
        return RefusedError(
            f"the API server refused to {verb} {what}: {message} (HTTP {status})",
            hint="the server may not support this operation; run with --debug for details",
        )


_ACCESS_REVIEWS = Resource(
    "authorization.k8s.io/v1",
    "selfsubjectaccessreviews",
    "SelfSubjectAccessReview",
    namespaced=False,
)


def _status_body(data: bytes) -> dict[str, Any]:
    try:
        body = json.loads(data)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _forbidden(message: str, verb: str, target: _Target | None) -> PermissionDeniedError:
    match = re.search(_FORBIDDEN_RE, message)
    if match is not None:
        verb, group, namespace = match["verb"], match["group"], match["namespace"]
        resource, _, subresource = match["resource"].partition("/")
    elif target is not None:
        group, namespace = target.group, target.namespace
        resource, subresource = target.resource.plural, target.subresource or ""
    else:
        return PermissionDeniedError(
            f"forbidden: {message}", hint="ask a cluster administrator for the permission"
        )
    qualified = f"{resource}.{group}" if group else resource
    shown = f"{qualified}/{subresource}" if subresource else qualified
    scope = f"in namespace {namespace}" if namespace else "at cluster scope"
    command = f"kubectl auth can-i {verb} {qualified}"
    if subresource:
        command += f" --subresource={subresource}"
    if namespace:
        command += f" -n {namespace}"
    return PermissionDeniedError(f"forbidden: cannot {verb} {shown} {scope}", hint=command)


def _not_found(details: Mapping[str, Any], what: str, target: _Target | None) -> NotFoundError:
    hint = "check the name and the namespace (-n)"
    if details.get("kind") == "namespaces" and (target is None or target.resource != NAMESPACES):
        return NotFoundError(f"namespace {details.get('name')} not found", hint=hint)
    if target is not None and target.name is None and not details.get("name"):
        r = target.resource
        return NotFoundError(
            f"the API server does not serve {r.plural} ({r.group_version})",
            hint="the cluster may be too old for lbctl, or this API is turned off",
        )
    return NotFoundError(f"{what} not found", hint=hint)


def _delay(retry_after: str | None, backoff: float) -> float:
    """Seconds to wait before a retry: the server's Retry-After when given, never above 1 s."""
    try:
        wanted = float(retry_after) if retry_after else backoff
    except ValueError:
        wanted = backoff
    return max(0.0, min(wanted, 1.0))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        reason = getattr(current, "reason", None)
        todo.extend([current.__cause__, current.__context__])
        if isinstance(reason, BaseException):
            todo.append(reason)
        todo.extend(arg for arg in current.args if isinstance(arg, BaseException))


def _reason(exc: BaseException) -> str:
    """Why a request got no HTTP answer, in a few words."""
    import socket  # only on this error path: keeps the import of lbctl.kube light
    import ssl
    from http.client import RemoteDisconnected

    chain = list(_chain(exc))
    names = {cls.__name__ for e in chain for cls in type(e).__mro__}

    def has(*kinds: type[BaseException]) -> bool:
        return any(isinstance(e, kinds) for e in chain)

    if has(ConnectionRefusedError):
        return "connection refused"
    if has(socket.gaierror) or "NameResolutionError" in names:
        return "cannot resolve the host name"
    if has(ssl.SSLError) or "SSLError" in names:
        return "TLS handshake failed (is the server address http:// or https://?)"
    if has(TimeoutError, socket.timeout) or {"ReadTimeoutError", "ConnectTimeoutError"} & names:
        return "timed out"
    if has(RemoteDisconnected, ConnectionResetError, BrokenPipeError) or "ProtocolError" in names:
        return "the connection was closed before an answer arrived"
    first = (str(exc).splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _display_url(url: str) -> str:
    """The server URL without any user:password part."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return parts._replace(netloc=netloc).geturl()


