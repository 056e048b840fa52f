"""The Kubernetes adapter: :class:`lbctl.ports.KubeAPI` over the official client's transport.

Owns everything lbctl says to an API server: finding and loading the configuration (kubeconfig
files, ``KUBECONFIG``, ``--context``, the in-cluster service account), building URLs, paging
LISTs, retrying briefly when the server says it is overloaded, and translating every failure into
:mod:`lbctl.errors`.  Objects go in and come out as plain JSON dictionaries: the client's model
classes are never used, because deserialising a thousand Services into them is slow, and importing
them (and the generated API classes) costs most of a second.

It must not be imported eagerly for anything but :func:`connect`: ``kubernetes`` (and with it
urllib3, pydantic, yaml) is imported inside :func:`connect` only, so ``lbctl --help`` stays fast.
Importing this module imports nothing but the standard library and lbctl's own ports and errors.

Error policy: no exception from ``kubernetes``, urllib3 or the socket layer leaves this module;
each is translated at the edge (``raise ... from exc``): 401/403 -> PermissionDeniedError,
404 -> NotFoundError, 409 -> ConflictError, 400 -> UsageError, 422 and other 4xx ->
RefusedError, 5xx/429 (after a short bounded retry) and transport failures -> UnreachableError.
A bearer token never appears in a message.
"""

from __future__ import annotations

import builtins
import importlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from lbctl.errors import (
    ConflictError,
    ExpiredError,
    LbctlError,
    NoClusterConfigError,
    NotFoundError,
    PermissionDeniedError,
    RefusedError,
    UnreachableError,
    UsageError,
)
from lbctl.ports import NAMESPACES, Listing, Obj, Resource, WatchEvent

DEFAULT_KUBECONFIG = "~/.kube/config"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
PAGE_SIZE = 500
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"

#: Statuses that mean "the server did not process the request": safe to retry for any method.
_RETRY_ANY = frozenset({429, 503})
#: Statuses retried only for reads: a write may have been applied before the failure.
_RETRY_READS = frozenset({500, 502, 504})
_FORBIDDEN_RE = re.compile(
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
    """A connected :class:`lbctl.ports.KubeAPI`.  Build it with :func:`connect`."""

    def __init__(
        self,
        api_client: Any,
        *,
        default_namespace: str,
        context: str | None,
        transport_errors: tuple[type[BaseException], ...],
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api = api_client
        self.default_namespace = default_namespace
        self.context = context
        self.server = _display_url(api_client.configuration.host)
        self._transport_errors = transport_errors
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
    ) -> Listing:
        target = _Target(resource, namespace if resource.namespaced else None)
        versions: builtins.list[str] = []
        items = [*self._pages(target, label_selector, versions)]
        return Listing(items, versions[0] if versions else "")

    def watch(
        self,
        resource: Resource,
        *,
        resource_version: str,
        namespace: str | None = None,
        label_selector: str | None = None,
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
        except self._transport_errors:
            return  # a dropped stream ends the watch: the caller resumes from its last version
        finally:
            response.release_conn()

    def _open(self, path: str, query: Mapping[str, str], read_timeout: float) -> tuple[int, Any]:
        """A streaming GET: the status and the undecoded response."""
        try:
            request = self._api.param_serialize(
                method="GET",
                resource_path=path,
                query_params=list(query.items()),
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            response = self._api.call_api(
                *request, _request_timeout=(self._timeout[0], read_timeout)
            )
            raw = response.response
        except self._transport_errors as exc:
            raise UnreachableError(
                self._scrub(f"cannot reach the API server at {self.server}: {_reason(exc)}"),
                hint=_UNREACHABLE_HINT,
            ) from exc
        return int(raw.status), raw

    def create(self, resource: Resource, body: Obj, namespace: str | None = None) -> Obj:
        namespace = namespace or body.get("metadata", {}).get("namespace")
        target = _Target(resource, self._namespace(resource, namespace))
        name = body.get("metadata", {}).get("name")
        named = _Target(resource, target.namespace, name) if name else None
        return self._call("POST", target, verb="create", body=body, described=named)

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
        if (patch_type == JSON_PATCH) != isinstance(patch, list):
            raise UsageError(
                f"a {patch_type} patch must be a "
                + ("list of operations" if patch_type == JSON_PATCH else "JSON object"),
                hint="this is a bug in lbctl; please report it",
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
        if not name:
            raise UsageError(
                f"a {resource.kind} needs a name", hint="this is a bug in lbctl; please report it"
            )
        return _Target(resource, self._namespace(resource, namespace), name, subresource)

    def _pages(
        self, target: _Target, label_selector: str | None, versions: builtins.list[str]
    ) -> Iterator[Obj]:
        """Every item of every page; the first page's ``resourceVersion`` goes to ``versions``."""
        api_version, kind = target.resource.group_version, target.resource.kind
        query: dict[str, str] = {"limit": str(PAGE_SIZE)}
        if label_selector:
            query["labelSelector"] = label_selector
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
            request = self._api.param_serialize(
                method=method,
                resource_path=path,
                query_params=list((query or {}).items()),
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self._api.call_api(*request, _request_timeout=self._timeout)
            data: bytes = response.read()
        except self._transport_errors as exc:
            raise UnreachableError(
                self._scrub(f"cannot reach the API server at {self.server}: {_reason(exc)}"),
                hint=_UNREACHABLE_HINT,
            ) from exc
        return int(response.status), response.headers, data

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
        """Remove any credential of the configuration from ``text``."""
        for secret in self._api.configuration.api_key.values():
            for part in str(secret).split():
                if len(part) > 6 and part.lower() != "bearer":
                    text = text.replace(part, "***")
        return " ".join(text.split())

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
    match = _FORBIDDEN_RE.search(message)
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


# --- connecting --------------------------------------------------------------------------------


def connect(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    service_account_dir: str = SERVICE_ACCOUNT_DIR,
    timeout: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> KubeClient:
    """Load the configuration like kubectl does and return a client for it.

    ``--kubeconfig`` wins, then ``KUBECONFIG`` (a ``:``-separated list, merged), then
    ``~/.kube/config``; with none of those present (and no ``--kubeconfig``/``--context``), the
    in-cluster service account.  The client's ``default_namespace`` is the context's namespace,
    else ``default`` (a ``-n`` given by the user overrides it; that is the caller's business).
    """
    env = os.environ if environ is None else environ
    if kubeconfig:
        paths = [kubeconfig]
    else:
        paths = [p for p in env.get("KUBECONFIG", "").split(os.pathsep) if p] or [
            DEFAULT_KUBECONFIG
        ]
    existing = [p for p in paths if Path(p).expanduser().exists()]
    in_cluster = (
        not kubeconfig
        and not context
        and not existing
        and bool(env.get("KUBERNETES_SERVICE_HOST") and env.get("KUBERNETES_SERVICE_PORT"))
    )
    if not existing and not in_cluster:
        looked = ", ".join(paths) + ("" if kubeconfig else ", the in-cluster service account")
        raise NoClusterConfigError(
            f"no Kubernetes configuration found (looked in {looked})",
            hint="pass --kubeconfig, or set KUBECONFIG",
        )

    kubernetes_config = importlib.import_module("kubernetes.config")
    client = importlib.import_module("kubernetes.client")
    urllib3 = importlib.import_module("urllib3")
    yaml = importlib.import_module("yaml")
    config_error = kubernetes_config.ConfigException
    configuration = client.Configuration()
    try:
        if in_cluster:
            namespace, current = _in_cluster(configuration, env, Path(service_account_dir)), None
        else:
            if context is None and len(existing) > 1:
                context = _first_current_context(existing, yaml)
            namespace, current = _from_kubeconfig(configuration, os.pathsep.join(existing), context)
    except config_error as exc:
        raise _config_error(str(exc), existing, context) from exc
    # A kubeconfig of the wrong shape (a number where a mapping or list belongs) fails deep
    # inside the client with TypeError, AttributeError or KeyError.
    except (OSError, ValueError, TypeError, AttributeError, KeyError, yaml.YAMLError) as exc:
        raise UsageError(
            f"cannot read the kubeconfig {', '.join(existing)}: {_first_line(exc)}",
            hint="check the file, or pass another one with --kubeconfig",
        ) from exc
    # Batches patch Services 16 at a time; the client's default pool (5 per CPU) would make
    # some of them reconnect for every request.
    configuration.connection_pool_maxsize = max(configuration.connection_pool_maxsize or 0, 32)
    # Connection errors are retried by urllib3 (cheap, and they never reached the server);
    # a read error is retried once for idempotent methods.  HTTP statuses are retried by
    # KubeClient, so urllib3 must neither retry nor raise on them (not even on Retry-After).
    configuration.retries = urllib3.util.Retry(
        total=3,
        connect=2,
        read=1,
        status=0,
        other=0,
        redirect=0,
        backoff_factor=0.05,
        respect_retry_after_header=False,
        raise_on_status=False,
    )
    transport_errors = (
        urllib3.exceptions.HTTPError,
        OSError,
        client.ApiException,
        client.ApiValueError,
        config_error,
    )
    api = client.ApiClient(configuration)
    api.user_agent = "lbctl"
    return KubeClient(
        api,
        default_namespace=namespace or "default",
        context=current,
        transport_errors=transport_errors,
        timeout=timeout,
        sleep=sleep,
    )


def _from_kubeconfig(
    configuration: Any, config_file: str, context: str | None
) -> tuple[str | None, str | None]:
    """Configure ``configuration``; return the context's namespace and the context's name."""
    kube_config = importlib.import_module("kubernetes.config.kube_config")
    # persist_config=False: lbctl never rewrites the user's kubeconfig.
    kube_config.load_kube_config(
        config_file=config_file,
        context=context,
        client_configuration=configuration,
        persist_config=False,
    )
    contexts, current = kube_config.list_kube_config_contexts(config_file)
    chosen = (
        next((c for c in contexts if c.get("name") == context), current) if context else current
    )
    namespace = (chosen.get("context") or {}).get("namespace")
    return (str(namespace) if namespace else None), str(chosen.get("name"))


def _first_current_context(paths: list[str], yaml: Any) -> str | None:
    """kubectl's rule for merged files: the first file that sets current-context wins (the
    Python client would let the last one win)."""
    for path in paths:
        document = yaml.safe_load(Path(path).expanduser().read_text()) or {}
        if isinstance(document, dict) and document.get("current-context"):
            return str(document["current-context"])
    return None


def _in_cluster(configuration: Any, env: Mapping[str, str], account: Path) -> str | None:
    incluster = importlib.import_module("kubernetes.config.incluster_config")
    incluster.InClusterConfigLoader(
        token_filename=str(account / "token"),
        cert_filename=str(account / "ca.crt"),
        environ=env,
    ).load_and_set(configuration)
    namespace_file = account / "namespace"
    return namespace_file.read_text().strip() if namespace_file.exists() else None


def _config_error(message: str, existing: list[str], context: str | None) -> LbctlError:
    where = ", ".join(existing) or "the in-cluster service account"
    if context and f"name {context} " in message + " ":
        return UsageError(
            f"context {context!r} not found in {where}",
            hint="kubectl config get-contexts lists the contexts",
        )
    if "current-context" in message:
        return UsageError(
            f"{where} names no current context",
            hint="pass --context, or run kubectl config use-context",
        )
    if "exec" in message.lower() or "token" in message.lower():
        return PermissionDeniedError(
            f"cannot get credentials from {where}: {_first_line(message)}",
            hint="check the user section of the kubeconfig (its exec plugin or token)",
        )
    return UsageError(
        f"invalid Kubernetes configuration in {where}: {_first_line(message)}",
        hint="check the file, or pass another one with --kubeconfig",
    )


def _first_line(error: object) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
