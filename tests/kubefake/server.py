"""A fake kube-apiserver on 127.0.0.1 for tests: real HTTP, real ``Status`` bodies.

:class:`FakeKubeServer` is what tests use.  It owns the HTTP side (routing of ``/api`` and
``/apis`` paths, bearer-token authentication, permission rules, fault injection, the request log,
watch streaming, discovery) and exposes the storage of :mod:`tests.kubefake.store` for seeding
and assertions.  The official ``kubernetes`` client and ``kubectl`` talk to it through a
kubeconfig from :meth:`FakeKubeServer.write_kubeconfig`.  Standard library only.

It must never listen anywhere but the loopback address it was given, and it must not grow
behaviour lbctl does not depend on: it is a contract, pinned by ``test_contract_*.py``.

Deliberate simplifications (each documented where it lives): continue tokens resume from the
current state, not a snapshot; core and ``events.k8s.io`` Events are separate collections;
unknown fields are kept; server-side apply is refused with 415; a watch does not turn a
MODIFIED object that stops matching its selector into DELETED.

Error policy: request handling raises :class:`status.ApiError`, which becomes a ``Status``
response; any other exception is a bug in the fake and becomes a 500 whose message names it.
"""

from __future__ import annotations

import email.utils
import gzip
import json
import re
import socket
import ssl
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple, overload
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.kubefake import patches, resources, status, tables
from tests.kubefake.resources import ResourceType
from tests.kubefake.selectors import Predicate, parse_field_selector, parse_label_selector
from tests.kubefake.status import ApiError
from tests.kubefake.store import Store, Stored

Obj = dict[str, Any]
_PATCHERS = {
    "application/merge-patch+json": patches.merge_patch,
    "application/strategic-merge-patch+json": patches.strategic_merge_patch,
    "application/json-patch+json": patches.json_patch,
}
#: Resources whose DELETE answers with the object rather than a ``Status`` (graceful deletion).
_DELETE_RETURNS_OBJECT = {("", "pods"), ("", "namespaces")}
_DEFAULT_WATCH_TIMEOUT = 1800.0
#: Like kube-apiserver: a response of at least 128 KiB is gzipped when the client accepts it.
_GZIP_THRESHOLD = 128 * 1024


class _RequestLine(NamedTuple):
    method: str
    path: str
    query: dict[str, str]


class Request(_RequestLine):
    """One request as the server saw it: ``(method, path, query)``, ``query`` holding the
    decoded parameters; ``headers`` are the request's headers (names in lower case), outside
    the tuple (and its equality)."""

    headers: dict[str, str]

    def __new__(
        cls, method: str, path: str, query: dict[str, str], headers: dict[str, str] | None = None
    ) -> Request:
        self = super().__new__(cls, method, path, query)
        self.headers = headers or {}
        return self


class RequestLog(Sequence[Request]):
    """Thread-safe log of every request, in arrival order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[Request] = []

    def append(self, request: Request) -> None:
        with self._lock:
            self._entries.append(request)

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()

    @overload
    def __getitem__(self, index: int) -> Request: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Request]: ...

    def __getitem__(self, index: int | slice) -> Request | Sequence[Request]:
        with self._lock:
            return self._entries[index]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


@dataclass
class Fault:
    """An injected fault; ``hits`` counts how often it fired."""

    action: int | float | str
    method: str | None
    path: re.Pattern[str] | None
    times: int | None
    after: int
    watch: bool | None = None
    hits: int = 0

    def matches(self, method: str, path: str, watch: bool) -> bool:
        return (
            (self.method is None or self.method == method)
            and (self.path is None or self.path.search(path) is not None)
            and (self.watch is None or self.watch == watch)
        )


@dataclass(frozen=True)
class _Rule:
    verb: str
    resource: str
    subresource: str | None
    namespace: str | None
    group: str | None

    def matches(
        self, verb: str, group: str, plural: str, subresource: str | None, namespace: str | None
    ) -> bool:
        # A rule for one namespace also denies the cluster-wide form of the request: RBAC can
        # only allow "all namespaces" to someone allowed in every one of them.
        return (
            self.verb in ("*", verb)
            and self.resource in ("*", plural)
            and (self.group is None or self.group == group)
            and (self.subresource or None) == (subresource or None)
            and (self.namespace is None or namespace is None or self.namespace == namespace)
        )


@dataclass(frozen=True)
class _Target:
    """What a resource URL addresses."""

    resource: ResourceType
    namespace: str | None  # None: cluster-scoped resource, or a list across all namespaces
    name: str | None
    subresource: str | None

    def verb(self, method: str, watch: bool) -> str:
        if method == "GET":
            return "get" if self.name else ("watch" if watch else "list")
        if method == "DELETE" and not self.name:
            return "deletecollection"
        return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]


@dataclass
class _Reply:
    code: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    #: A watch: each item is the lines (one chunk each) that are ready at the same time.
    stream: Iterator[list[bytes]] | None = None


def _json(obj: Any, code: int = 200) -> _Reply:
    return _Reply(code, json.dumps(obj).encode())


def _parse_target(path: str) -> _Target | None:
    """``None`` for paths outside ``/api/v1`` and ``/apis/<g>/<v>``; 404 for unknown ones."""
    parts = path.strip("/").split("/")
    if "%" in path:
        parts = [unquote(p) for p in parts]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    if (
        rest[0] == "namespaces"
        and len(rest) >= 3
        and (group, version, rest[2]) in resources.BY_PATH
        and resources.BY_PATH[(group, version, rest[2])].namespaced
    ):
        namespace: str | None = rest[1]
        rest = rest[2:]
    else:
        namespace = None
    resource = resources.BY_PATH.get((group, version, rest[0]))
    if (
        resource is None
        or len(rest) > 3
        or (resource.namespaced and namespace is None and len(rest) > 1)
    ):
        raise status.unknown_path()
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if subresource is not None and subresource not in resource.subresources:
        raise status.unknown_path()
    return _Target(resource, namespace, name, subresource)


class FakeKubeServer:
    """A kube-apiserver for tests.  Use as a context manager, or ``start()`` / ``stop()``.

    ``require_namespaces``: real servers refuse to create an object in a namespace that does not
    exist (404 ``namespaces "x" not found``).  The fake is lenient by default so that tests need
    not create namespaces first; pass ``True`` to test that behaviour.  ``default``,
    ``kube-system``, ``kube-public`` and ``kube-node-lease`` always exist.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        user: str = "alice",
        require_namespaces: bool = False,
        git_version: str = "v1.30.4",
        watch_history: int = 10_000,
        tls: ssl.SSLContext | None = None,
        bookmark_interval: float = 60.0,
    ) -> None:
        self.host = host
        self.tls = tls
        #: Seconds between BOOKMARK events on a watch that asked for them (a real server sends
        #: one about every minute, and one as the watch ends).
        self.bookmark_interval = bookmark_interval
        self.token = token
        self.user = user
        self.git_version = git_version
        self.store = Store(require_namespaces=require_namespaces, watch_history=watch_history)
        self.requests = RequestLog()
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._rules: list[_Rule] = []
        self._httpd = _Server((host, port), _Handler)
        self._httpd.fake = self
        if tls is not None:  # HTTPS: the handshake happens when a connection is accepted
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def connections(self) -> int:
        """TCP connections accepted so far (keep-alive reuse shows as fewer than requests)."""
        return self._httpd.accepted

    def end_connections(self) -> None:
        """End every kept-alive connection now, as a server (or a load balancer in front of
        it) does with idle ones."""
        self._httpd.close_connections()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def start(self) -> FakeKubeServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.store.close()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.close_connections()
        self._httpd.server_close()

    def __enter__(self) -> FakeKubeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- test controls -------------------------------------------------------------------------

    def inject(
        self,
        fault: int | float | str,
        method: str | None = None,
        path: str | None = None,
        times: int | None = 1,
        after: int = 0,
        watch: bool | None = None,
    ) -> Fault:
        """Make matching requests fail: ``fault`` is an HTTP status code (``int``, answered with
        the Status body a real server sends), ``"drop"`` (close the connection without a
        response) or a delay in seconds (``float``; the request then proceeds).  ``path`` is a
        regex searched in the URL path; ``watch`` (when not ``None``) limits the fault to watch
        requests (``True``) or to the others (``False``), which share a LIST's path; ``after``
        matching requests pass first; the fault then fires ``times`` times (``None``:
        forever)."""
        if isinstance(fault, bool) or not (
            fault == "drop"
            or (isinstance(fault, int) and 400 <= fault <= 599)
            or (isinstance(fault, float) and fault >= 0)
        ):
            raise ValueError(
                f"fault must be an HTTP error code, 'drop' or a float delay: {fault!r}"
            )
        entry = Fault(fault, method, re.compile(path) if path else None, times, after, watch)
        with self._lock:
            self._faults.append(entry)
        return entry

    def deny(
        self,
        verb: str,
        resource: str,
        subresource: str | None = None,
        namespace: str | None = None,
        *,
        group: str | None = None,
    ) -> None:
        """Answer matching requests with 403, and SelfSubjectAccessReviews with "not allowed".
        ``verb``/``resource`` may be ``"*"``; ``resource`` may be ``"services/status"``;
        ``namespace``/``group`` ``None`` match any."""
        if subresource is None and "/" in resource:
            resource, subresource = resource.split("/", 1)
        with self._lock:
            self._rules.append(_Rule(verb, resource, subresource, namespace, group))

    def put_object(self, obj: Obj) -> Obj:
        """Store ``obj`` (create or replace, status included) and return it as stored."""
        resource = resources.BY_KIND.get((obj.get("apiVersion", ""), obj.get("kind", "")))
        if resource is None:
            raise ValueError(f"the fake serves no {obj.get('apiVersion')} {obj.get('kind')}")
        return _load(self.store.put(resource, obj))

    def get_object(self, plural: str, name: str, namespace: str | None = None) -> Obj | None:
        """The stored object (a copy), or ``None``; ``namespace`` defaults to ``default``."""
        resource = resources.lookup(plural)
        try:
            return _load(self.store.get(resource, _ns(resource, namespace or "default"), name))
        except ApiError:
            return None

    def objects_of(self, plural: str) -> list[Obj]:
        """Every stored object of a kind (copies), ordered by namespace and name."""
        return [_load(s) for s in self.store.objects(resources.lookup(plural))]

    def write_kubeconfig(
        self,
        path: str | Path,
        *,
        context: str = "fake",
        namespace: str = "default",
        token: str | None = None,
    ) -> Path:
        """A kubeconfig for this server.  ``token=None`` uses the server's token (if any);
        ``token=""`` writes a user without credentials."""
        token = self.token if token is None else token
        user: dict[str, str] = {"token": token} if token else {}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": f"{context}-user", "user": user}],
            "contexts": [
                {
                    "name": context,
                    "context": {
                        "cluster": context,
                        "user": f"{context}-user",
                        "namespace": namespace,
                    },
                }
            ],
            "current-context": context,
            "preferences": {},
        }
        target = Path(path)
        target.write_text(json.dumps(config, indent=2))  # JSON is YAML: both clients read it
        return target

    # --- request handling ----------------------------------------------------------------------

    def _take_fault(self, method: str, path: str, watch: bool) -> Fault | None:
        chosen = None
        with self._lock:
            for fault in self._faults:
                if not fault.matches(method, path, watch):
                    continue
                if fault.after > 0:
                    fault.after -= 1
                elif chosen is None:
                    chosen = fault
                    fault.hits += 1
                    if fault.times is not None:
                        fault.times -= 1
            self._faults = [f for f in self._faults if f.times is None or f.times > 0]
        return chosen

    def _denied(self, verb: str, target: _Target) -> bool:
        r = target.resource
        with self._lock:
            return any(
                rule.matches(verb, r.group, r.plural, target.subresource, target.namespace)
                for rule in self._rules
            )

    def _forbidden(self, verb: str, target: _Target) -> ApiError:
        r = target.resource
        return status.forbidden(
            self.user,
            verb,
            r.plural,
            r.group,
            target.name or "",
            target.namespace,
            target.subresource,
        )

    def _fault_reply(self, code: int, target: _Target | None, verb: str) -> ApiError:
        if target is not None and code in (403, 404, 409):
            r, name = target.resource, target.name or ""
            if code == 403:
                return self._forbidden(verb, target)
            if code == 404:
                return status.not_found(r.plural, r.group, name)
            return status.conflict(r.plural, r.group, name)
        return status.generic(code)

    def handle(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
    ) -> _Reply | None:
        """Answer one request; ``None`` means: drop the connection."""
        self.requests.append(
            Request(method, path, query, {k.lower(): v for k, v in headers.items()})
        )
        try:
            target = _parse_target(path)
            watch = query.get("watch") in ("true", "1")
            verb = target.verb(method, watch) if target is not None else method.lower()
            fault = self._take_fault(method, path, watch)
            if fault is not None:
                if fault.action == "drop":
                    return None
                if isinstance(fault.action, float):
                    time.sleep(fault.action)
                else:
                    raise self._fault_reply(int(fault.action), target, verb)
            self._authenticate(headers)
            if target is None:
                return self._non_resource(method, path)
            if self._denied(verb, target):
                raise self._forbidden(verb, target)
            return self._resource(method, verb, target, query, headers, body)
        except ApiError as error:
            return _Reply(error.code, error.body(), headers=error.headers)

    def _authenticate(self, headers: Any) -> None:
        if self.token is None:
            return
        scheme, _, credential = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or credential.strip() != self.token:
            raise status.unauthorized()

    def _non_resource(self, method: str, path: str) -> _Reply:
        if method != "GET":
            raise status.method_not_allowed()
        path = path.rstrip("/") or "/"
        if path in ("/healthz", "/livez", "/readyz"):
            return _Reply(200, b"ok", content_type="text/plain")
        if path == "/version":
            minor = self.git_version.split(".")[1]
            return _json(
                {
                    "major": "1",
                    "minor": minor,
                    "gitVersion": self.git_version,
                    "gitCommit": "0000000000000000000000000000000000000000",
                    "gitTreeState": "clean",
                    "buildDate": "2024-01-01T00:00:00Z",
                    "goVersion": "go1.22.0",
                    "compiler": "gc",
                    "platform": "linux/amd64",
                }
            )
        if path == "/api":
            return _json(resources.api_versions(f"{self.host}:{self.port}"))
        if path == "/apis":
            return _json(resources.api_group_list())
        parts = path.strip("/").split("/")
        document: Obj | None = None
        if parts == ["api", "v1"]:
            document = resources.api_resource_list("", "v1")
        elif parts[0] == "apis" and len(parts) == 2:
            document = resources.api_group(parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            document = resources.api_resource_list(parts[1], parts[2])
        if document is None:
            raise status.unknown_path()
        return _json(document)

    def _resource(
        self,
        method: str,
        verb: str,
        target: _Target,
        query: dict[str, str],
        headers: Any,
        body: bytes,
    ) -> _Reply:
        r = target.resource
        if verb not in r.verbs or (verb in ("update", "patch") and target.name is None):
            raise status.method_not_allowed()
        namespace = target.namespace
        if r.namespaced and namespace is None and verb not in ("list", "watch"):
            raise status.unknown_path()
        ns = _ns(r, namespace)
        if verb in ("list", "watch"):
            return self._list(target, query, headers, watch=verb == "watch")
        if verb == "create":
            if target.name is not None:
                raise status.method_not_allowed()
            obj = _body(headers, body)
            if r.plural == "selfsubjectaccessreviews":
                return self._access_review(obj)
            return _Reply(201, self.store.create(r, ns, obj).full)
        name = target.name or ""
        if verb == "get":
            stored = self.store.get(r, ns, name)
            if _wants_table(headers):
                return _json(
                    tables.table(r.plural, [stored.obj], stored.obj["metadata"]["resourceVersion"])
                )
            return _Reply(200, stored.full)
        if verb == "update":
            obj = _body(headers, body)
            return _Reply(
                200, self.store.update(r, ns, name, lambda _old: obj, target.subresource).full
            )
        if verb == "patch":
            change = _patcher(headers, body)
            return _Reply(200, self.store.update(r, ns, name, change, target.subresource).full)
        options = _decode(body) if body.strip() else {}
        preconditions = options.get("preconditions") if isinstance(options, dict) else None
        gone = self.store.delete(r, ns, name, preconditions or {})
        if r.key in _DELETE_RETURNS_OBJECT:
            return _Reply(200, gone.full)
        details = {
            "name": name,
            **({"group": r.group} if r.group else {}),
            "kind": r.plural,
            "uid": gone.obj["metadata"]["uid"],
        }
        return _json(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": details,
            }
        )

    def _list(self, target: _Target, query: dict[str, str], headers: Any, *, watch: bool) -> _Reply:
        r = target.resource
        label = parse_label_selector(query.get("labelSelector", ""))
        fields = parse_field_selector(query.get("fieldSelector", ""), r.field_selectors)

        def matches(obj: Obj) -> bool:
            return label(obj) and fields(obj)

        if not query.get("labelSelector") and not query.get("fieldSelector"):
            matches = _everything  # the common case, checked for every event of a watch

        if watch:
            return self._watch(target, matches, query)
        return self._page(target, matches, query, table=_wants_table(headers))

    def _page(
        self, target: _Target, matches: Predicate, query: dict[str, str], *, table: bool
    ) -> _Reply:
        r = target.resource
        try:
            limit = int(query.get("limit") or 0)
        except ValueError as exc:
            raise status.bad_request(f"invalid limit: {query['limit']!r}") from exc
        page = self.store.list(r, target.namespace, matches, limit, query.get("continue") or None)
        if table:
            document = tables.table(
                r.plural, [s.obj for s in page.items], str(page.resource_version)
            )
            if page.continue_token:
                document["metadata"]["continue"] = page.continue_token
            return _json(document)
        meta: Obj = {"resourceVersion": str(page.resource_version)}
        if page.continue_token:
            meta["continue"] = page.continue_token
            if (
                page.remaining is not None
                and not query.get("labelSelector")
                and not query.get("fieldSelector")
            ):
                meta["remainingItemCount"] = page.remaining
        head = json.dumps({"kind": f"{r.kind}List", "apiVersion": r.api_version, "metadata": meta})
        items = b",".join([s.item for s in page.items])
        return _Reply(200, b"".join((head[:-1].encode(), b',"items":[', items, b"]}")))

    def _watch(self, target: _Target, matches: Predicate, query: dict[str, str]) -> _Reply:
        r = target.resource
        try:
            timeout = float(query.get("timeoutSeconds") or _DEFAULT_WATCH_TIMEOUT)
        except ValueError as exc:
            raise status.bad_request(
                f"invalid timeoutSeconds: {query['timeoutSeconds']!r}"
            ) from exc
        since = query.get("resourceVersion") or "0"
        if not since.isdigit():
            raise status.bad_request(f"invalid resource version: {since!r}")
        deadline = time.monotonic() + timeout
        store = self.store

        def relevant(stored: Stored) -> bool:
            meta = stored.obj["metadata"]
            return (
                target.namespace is None or meta.get("namespace") == target.namespace
            ) and matches(stored.obj)

        def line(kind: str, obj: bytes) -> bytes:
            return b'{"type":"' + kind.encode() + b'","object":' + obj + b"}\n"

        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")

        def bookmark(cursor: int) -> bytes:
            """Only ``kind``, ``apiVersion`` and ``metadata.resourceVersion``, as a real server
            sends it."""
            return json.dumps({"kind": r.kind, "apiVersion": r.api_version,
                               "metadata": {"resourceVersion": str(cursor)}}).encode()

        def events() -> Iterator[bytes]:
            cursor = int(since)
            if cursor == 0:  # no resourceVersion (or "0"): the current state first, as ADDED
                with store.cond:
                    cursor = store.resource_version
                    current = [s for s in store.objects(r) if relevant(s)]
                if current:
                    yield [line("ADDED", stored.full) for stored in current]
            while True:
                wake = min(deadline, time.monotonic() + self.bookmark_interval)
                try:
                    batch = store.events_after(cursor, wake if bookmarks else deadline)
                except ApiError as error:
                    yield [line("ERROR", error.body())]
                    return
                if not batch:
                    if store.closed:
                        return
                    if bookmarks:  # progress: everything up to ``cursor`` has been sent
                        yield [line("BOOKMARK", bookmark(cursor))]
                    if time.monotonic() >= deadline:
                        return
                    continue
                cursor = batch[-1].rv
                lines = [line(event.type, event.stored.full) for event in batch
                         if event.resource is r and relevant(event.stored)]
                if lines:
                    yield lines
                if time.monotonic() >= deadline:  # also while events flow, as a real server
                    return

        return _Reply(200, stream=events())

    def _access_review(self, review: Obj) -> _Reply:
        spec = review.get("spec") or {}
        attributes = spec.get("resourceAttributes")
        if attributes:
            with self._lock:
                allowed = not any(
                    rule.matches(
                        attributes.get("verb", ""),
                        attributes.get("group", ""),
                        attributes.get("resource", ""),
                        attributes.get("subresource") or None,
                        attributes.get("namespace") or None,
                    )
                    for rule in self._rules
                )
        elif spec.get("nonResourceAttributes"):
            allowed = True
        else:
            raise status.invalid(
                "SelfSubjectAccessReview",
                "authorization.k8s.io",
                "",
                [
                    (
                        "spec.resourceAttributes",
                        "Required value: exactly one of "
                        "nonResourceAttributes or resourceAttributes must be specified",
                    )
                ],
            )
        answer: Obj = {"allowed": allowed}
        if allowed:
            answer["reason"] = "allowed by the fake API server"
        result = {
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None},
            "spec": spec,
            "status": answer,
        }
        return _json(result, 201)


def _everything(obj: Obj) -> bool:
    """The predicate of a request without selectors."""
    return True


def _ns(resource: ResourceType, namespace: str | None) -> str:
    return (namespace or "") if resource.namespaced else ""


def _load(stored: Stored) -> Obj:
    loaded: Obj = json.loads(stored.full)
    return loaded


def _wants_table(headers: Any) -> bool:
    """kubectl asks for server-side printing with ``Accept: application/json;as=Table;...``."""
    return "as=Table" in str(headers.get("Accept") or "")


def _media_type(headers: Any) -> str:
    return str(headers.get("Content-Type") or "").split(";")[0].strip().lower()


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise status.bad_request(f"couldn't decode the request body as JSON: {exc}") from exc


def _body(headers: Any, body: bytes) -> Obj:
    """A POST/PUT body.  The Python client sends these without a Content-Type: that is JSON."""
    media = _media_type(headers)
    if media not in ("", "application/json"):
        raise status.unsupported_media_type(media)
    obj = _decode(body)
    if not isinstance(obj, dict):
        raise status.bad_request("the request body is not a Kubernetes object")
    return obj


def _patcher(headers: Any, body: bytes) -> Any:
    media = _media_type(headers)
    patcher = _PATCHERS.get(media)
    if patcher is None:
        raise status.unsupported_media_type(media or "no Content-Type")
    patch = _decode(body)

    def change(current: Obj) -> Obj:
        try:
            result: Obj = patcher(current, patch)
        except patches.PatchError as exc:
            raise ApiError(400 if exc.malformed else 422, str(exc)) from exc
        return result

    return change


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    fake: FakeKubeServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self.accepted = 0  # TCP connections accepted so far

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
            self.accepted += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (timeout, drop) is normal here; anything else is a bug."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """End idle keep-alive connections, so that no handler thread outlives the server."""
        with self._open_lock:
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed by the peer


class _Headers:
    """A request's headers by lower-case name (the first of repeated ones); ``get`` takes any
    case, as ``email.message.Message`` does."""

    def __init__(self, fields: dict[str, str]) -> None:
        self._fields = fields

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._fields.get(name.lower(), default)

    def items(self) -> Iterator[tuple[str, str]]:
        return iter(self._fields.items())


_MAX_LINE = 65536
_MAX_HEADERS = 100
_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    """The ``Date`` header's value, formatted once per second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, email.utils.formatdate(now, usegmt=True))
    return _date_cache[1]


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive and chunked watch streams.  The request line and headers are
    read here rather than by ``BaseHTTPRequestHandler.parse_request`` (whose ``email`` parser
    cost more CPU than answering the request), and each response leaves in one write."""

    protocol_version = "HTTP/1.1"
    # Without TCP_NODELAY every request after the first on a kept-alive connection waits ~40 ms
    # for the client's delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence the per-request line on stderr; ``server.requests`` is the log."""

    def parse_request(self) -> bool:
        """Read the request line and headers; on a malformed request answer 400 (431 for too
        long or too many header lines, 505 for an HTTP version other than 1.x) and say
        ``False``, as ``BaseHTTPRequestHandler`` does."""
        self.command = ""
        self.request_version = "HTTP/1.1"  # what an error answer is written in
        self.close_connection = True
        self.requestline = line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = line.split()
        if len(words) != 3 or not words[2].startswith("HTTP/"):
            self.send_error(400, f"Bad request syntax ({line!r})")
            return False
        command, path, version = words
        if version not in ("HTTP/1.0", "HTTP/1.1"):
            self.send_error(505 if version[5:6].isdigit() else 400,
                            f"Bad request version ({version!r})")
            return False
        self.command, self.path, self.request_version = command, path, version
        fields: dict[str, str] = {}
        for _ in range(_MAX_HEADERS + 1):
            raw = self.rfile.readline(_MAX_LINE + 1)
            if len(raw) > _MAX_LINE:
                self.send_error(431, "Line too long")
                return False
            if raw in (b"\r\n", b"\n", b""):
                break
            name, colon, value = raw.decode("iso-8859-1").partition(":")
            if not colon or not name or name != name.strip():
                self.send_error(400, f"Bad header line ({raw!r})")
                return False
            fields.setdefault(name.lower(), value.strip())
        else:
            self.send_error(431, "Too many headers")
            return False
        self.headers = _Headers(fields)  # type: ignore[assignment]
        connection = {t.strip() for t in fields.get("connection", "").lower().split(",")}
        self.close_connection = "close" in connection or (
            version == "HTTP/1.0" and "keep-alive" not in connection
        )
        if version == "HTTP/1.1" and fields.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    def _head(self, code: int, headers: list[tuple[str, str]]) -> bytes:
        """The status line and headers, as ``send_response`` and ``send_header`` write them."""
        phrase = self.responses[code][0] if code in self.responses else ""
        lines = [f"{self.protocol_version} {code} {phrase}",
                 f"Server: {self.version_string()}", f"Date: {_http_date()}"]
        lines.extend(f"{name}: {value}" for name, value in headers)
        lines.append("\r\n")
        return "\r\n".join(lines).encode("latin-1")

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _serve(self) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            reply = self.server.fake.handle(self.command, url.path, query, self.headers, body)
        except Exception as exc:  # a bug in the fake: say so in a 500, keep serving
            traceback.print_exc(file=sys.stderr)
            error = ApiError(500, f"Internal error occurred: fake server bug: {exc!r}")
            reply = _Reply(500, error.body())
        if reply is None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the client left first
            return
        headers = [("Content-Type", reply.content_type), *reply.headers.items()]
        if reply.stream is None:
            body = reply.body
            if len(body) >= _GZIP_THRESHOLD and "gzip" in (
                self.headers.get("Accept-Encoding") or ""
            ):
                body = gzip.compress(body, compresslevel=1)
                headers.append(("Content-Encoding", "gzip"))
            headers.append(("Content-Length", str(len(body))))
            self.wfile.write(self._head(reply.code, headers) + body)
            return
        headers.append(("Transfer-Encoding", "chunked"))
        self.wfile.write(self._head(reply.code, headers))
        try:
            for lines in reply.stream:  # one chunk per line, the lines of a batch in one write
                self.wfile.write(b"".join([b"%x\r\n%s\r\n" % (len(c), c) for c in lines]))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the watcher went away
            self.close_connection = True
