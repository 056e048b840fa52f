"""lbctl's own kubeconfig reader: the common case, read the way kubectl reads it.

Owns the choice of files (``--kubeconfig``, else ``KUBECONFIG`` — a list, empty entries and
missing files skipped — else ``~/.kube/config``), kubectl's merge rules (the first file to set a
key wins: a cluster, user or context name, and ``current-context``), relative paths resolved
against the file that holds them, ``--context``, and the in-cluster service account.

It serves what it fully understands and nothing else: a server; a bearer ``token`` or
``tokenFile``; basic auth; a client certificate and key (file or data); a CA (file or data);
``insecure-skip-tls-verify``, ``tls-server-name``, an ``http(s)`` ``proxy-url``,
``disable-compression``; the context's namespace.  Anything else — an ``exec`` plugin, an
``auth-provider``, impersonation, a SOCKS proxy, a key it does not know, a file it cannot parse
or whose shape is wrong, a file it cannot read — makes :func:`read` return ``None``, and the caller
hands the whole configuration to the official client, which does what it does today (and
reports the errors it reports today).

Error policy: it raises nothing of its own except :class:`~lbctl.errors.UsageError` for a token
that cannot be sent in an HTTP header (the message never contains the token) and for a cluster
without a server.  Secrets it reads
are registered with :func:`lbctl.errors.keep_secret` so that no message ever shows them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lbctl.errors import UsageError, keep_secret

#: Keys of a ``cluster`` entry this reader serves (``extensions`` carries nothing it needs).
_CLUSTER_KEYS = frozenset({
    "server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify",
    "tls-server-name", "proxy-url", "disable-compression", "extensions",
})
#: Keys of a ``user`` entry this reader serves; ``exec``, ``auth-provider``, ``as``... are not.
_USER_KEYS = frozenset({
    "token", "tokenFile", "client-certificate", "client-certificate-data", "client-key",
    "client-key-data", "username", "password", "extensions",
})
_CONTEXT_KEYS = frozenset({"cluster", "user", "namespace", "extensions"})


@dataclass(frozen=True)
class Pem:
    """A certificate or key: a file (absolute path) or the decoded data of a ``*-data`` key."""

    file: str | None = None
    data: bytes | None = field(default=None, repr=False)

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.file is not None
        return Path(self.file).read_bytes()


@dataclass(frozen=True)
class ClusterConfig:
    """Everything needed to talk to one API server as one user."""

    server: str  # "https://10.0.0.1:6443", no trailing slash
    context: str | None  # the context's name; None in-cluster
    namespace: str | None  # the context's namespace (or the service account's)
    token: str | None = field(default=None, repr=False)  # stripped of surrounding whitespace
    token_file: str | None = None  # re-read when it changes (rotation); wins over ``token``
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_cert: Pem | None = None
    client_key: Pem | None = None
    ca: Pem | None = None
    insecure: bool = False
    tls_server_name: str | None = None
    proxy_url: str | None = None
    compression: bool = True


def kubeconfig_paths(kubeconfig: str | None, env: Mapping[str, str]) -> list[str]:
    """The files kubectl would read, in precedence order, as given (not yet expanded)."""
    if kubeconfig:
        return [kubeconfig]
    listed = [p for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    return list(dict.fromkeys(listed)) or ["~/.kube/config"]


def read(files: list[str], context: str | None,
         read_already: Mapping[str, dict[str, Any]] | None = None) -> ClusterConfig | None:
    """The configuration of ``context`` (else the current context) merged from ``files`` (which
    exist), or ``None`` when the official client must handle it.  ``read_already`` holds the
    files a caller has read already, as ``yaml.safe_load`` reads them (see
    :func:`lbctl.kube.connect`'s ``vet``): they are not read again."""
    documents: list[tuple[Path, dict[str, Any]]] = []
    for name in files:
        path = Path(name).expanduser()
        document = read_already[name] if read_already and name in read_already else _load(path)
        if document is None:
            return None
        documents.append((path.absolute(), document))
    try:
        clusters, users, contexts, current = _merge(documents)
    except _Unsupported:
        return None
    name = context or current
    if not name or name not in contexts:
        return None  # the official client words these errors
    ctx_path, ctx = contexts[name]
    cluster_entry = clusters.get(str(ctx.get("cluster") or ""))
    if cluster_entry is None:
        return None
    user_name = ctx.get("user")
    user_entry = users.get(str(user_name)) if user_name else None
    if user_name and user_entry is None:
        return None
    cluster_path, cluster = cluster_entry
    user_path, user = user_entry or (ctx_path, {})
    if not (_known(cluster, _CLUSTER_KEYS) and _known(user, _USER_KEYS)
            and _known(ctx, _CONTEXT_KEYS)):
        return None
    try:
        return _config(name, ctx, cluster_path, cluster, user_path, user)
    except _Unsupported:
        return None


class _Unsupported(Exception):
    """Something this reader does not serve: the official client takes over."""


def _load(path: Path) -> dict[str, Any] | None:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        text = path.read_bytes()
        document = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except (OSError, yaml.YAMLError, ValueError, RecursionError):
        return None
    if document is None:
        return {}  # kubectl reads an empty file as an empty configuration
    return document if isinstance(document, dict) else None


_Named = dict[str, tuple[Path, dict[str, Any]]]


def _merge(documents: list[tuple[Path, dict[str, Any]]]) -> tuple[_Named, _Named, _Named, str]:
    """kubectl's merge: for each name, and for ``current-context``, the first file wins."""
    tables: dict[str, _Named] = {"clusters": {}, "users": {}, "contexts": {}}
    inner = {"clusters": "cluster", "users": "user", "contexts": "context"}
    current = ""
    for path, document in documents:
        if not current and document.get("current-context"):
            value = document["current-context"]
            if not isinstance(value, str):
                raise _Unsupported
            current = value
        for key, table in tables.items():
            entries = document.get(key) or []
            if not isinstance(entries, list):
                raise _Unsupported
            for entry in entries:
                if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                    raise _Unsupported
                body = entry.get(inner[key]) or {}
                if not isinstance(body, dict):
                    raise _Unsupported
                table.setdefault(entry["name"], (path, body))
    return tables["clusters"], tables["users"], tables["contexts"], current


def _known(section: Mapping[str, Any], keys: frozenset[str]) -> bool:
    return all(key in keys for key in section)


def _config(
    name: str,
    ctx: Mapping[str, Any],
    cluster_path: Path,
    cluster: Mapping[str, Any],
    user_path: Path,
    user: Mapping[str, Any],
) -> ClusterConfig:
    server = _text(cluster, "server").rstrip("/")
    if not server:
        raise UsageError(
            f"the cluster {ctx.get('cluster')!r} in {cluster_path} names no server",
            hint="set clusters[].cluster.server in the kubeconfig, or pass another one with "
            "--kubeconfig",
        )
    if not server.startswith(("https://", "http://")):
        raise _Unsupported  # kubectl's host-only forms: the official client decides
    proxy = _text(cluster, "proxy-url") or None
    if proxy is not None and not proxy.startswith(("http://", "https://")):
        raise _Unsupported  # SOCKS needs PySocks: the official client's business
    insecure = cluster.get("insecure-skip-tls-verify", False)
    compression = cluster.get("disable-compression", False)
    if not isinstance(insecure, bool) or not isinstance(compression, bool):
        raise _Unsupported
    token_file = _path(user, "tokenFile", user_path)
    token = _token(_text(user, "token")) if "token" in user else None
    if token_file is not None:
        try:
            token = read_token(token_file)
        except OSError as exc:
            raise _Unsupported from exc
    password = _text(user, "password") or None
    if password:
        keep_secret(password)
    namespace = ctx.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise _Unsupported
    return ClusterConfig(
        server=server,
        context=name,
        namespace=namespace or None,
        token=token or None,
        token_file=token_file,
        username=_text(user, "username") or None,
        password=password,
        client_cert=_pem(user, "client-certificate", user_path),
        client_key=_pem(user, "client-key", user_path, secret=True),
        ca=_pem(cluster, "certificate-authority", cluster_path),
        insecure=insecure,
        tls_server_name=_text(cluster, "tls-server-name") or None,
        proxy_url=proxy,
        compression=not compression,
    )


def _text(section: Mapping[str, Any], key: str) -> str:
    value = section.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Unsupported
    return value


def _path(section: Mapping[str, Any], key: str, holder: Path) -> str | None:
    """A file named in ``holder``: relative paths are relative to ``holder``'s directory."""
    value = _text(section, key)
    if not value:
        return None
    return str(holder.parent / value)  # an absolute ``value`` replaces the directory


def _pem(section: Mapping[str, Any], key: str, holder: Path, *, secret: bool = False) -> Pem | None:
    encoded = _text(section, f"{key}-data")
    if encoded:  # kubectl: the data wins over the file
        if secret:
            keep_secret(encoded)
        import base64  # only for the data forms

        try:
            data = base64.b64decode(encoded, validate=False)
        except ValueError as exc:  # binascii.Error is one
            raise _Unsupported from exc
        if secret:
            keep_pem_secret(data)
        return Pem(data=data)
    file = _path(section, key, holder)
    return Pem(file=file) if file else None


def keep_pem_secret(data: bytes) -> None:
    """Register the body lines of a PEM key so that no message can show them."""
    for line in data.decode("ascii", "replace").splitlines():
        if not line.startswith("-----") and len(line.strip()) >= 16:
            keep_secret(line.strip())


def read_token(path: str) -> str:
    """A token file's content, stripped of surrounding whitespace as kubectl strips it."""
    return _token(Path(path).read_text(encoding="utf-8", errors="replace"))


def _token(raw: str) -> str:
    token = raw.strip()
    check_token(token)
    return token


def check_token(token: str) -> None:
    """Refuse a token that cannot travel in an HTTP header, without ever quoting it."""
    if token:
        keep_secret(token)
    if any(not (0x21 <= ord(c) <= 0x7E) for c in token):
        raise UsageError(
            "the bearer token in the kubeconfig contains characters that cannot be sent in an "
            "HTTP header (spaces, line breaks or non-ASCII characters inside it)",
            hint="check the user's token or tokenFile; it must be a single line",
        )


# --- in-cluster ----------------------------------------------------------------------------------


def in_cluster(env: Mapping[str, str], account: Path) -> ClusterConfig | None:
    """The pod's service account, or ``None`` when something is missing (the official client
    then reports it as it does today)."""
    host, port = env.get("KUBERNETES_SERVICE_HOST", ""), env.get("KUBERNETES_SERVICE_PORT", "")
    token_file, ca_file = account / "token", account / "ca.crt"
    if not (host and port and token_file.is_file() and ca_file.is_file()):
        return None
    try:
        token = read_token(str(token_file))
        namespace_file = account / "namespace"
        namespace = namespace_file.read_text().strip() if namespace_file.exists() else None
    except OSError:
        return None
    if not token:
        return None
    if ":" in host:
        host = f"[{host}]"
    return ClusterConfig(
        server=f"https://{host}:{port}",
        context=None,
        namespace=namespace or None,
        token=token,
        token_file=str(token_file),
        ca=Pem(file=str(ca_file)),
    )
