"""The official ``kubernetes`` client's path: every configuration lbctl does not read itself.

Exec credential plugins, auth-provider configurations, SOCKS proxies, anything lbctl's reader
(:mod:`lbctl.kube.kubeconfig`) does not fully understand — and every broken configuration, whose
errors are worded here — are loaded by the official loader, and requests travel through the
official client's ``ApiClient`` (its exec plugin and token refresh hooks included).  Importing
the client costs most of a second: :func:`lbctl.kube.connect` comes here only when it must.

Error policy: loading raises only :mod:`lbctl.errors`; requests raise what the client raises
(``errors``), translated by :class:`lbctl.kube.client.KubeClient`.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lbctl.errors import LbctlError, PermissionDeniedError, UsageError, keep_secret, redact
from lbctl.kube.kubeconfig import check_token
from lbctl.kube.proxied import quiet_if_insecure, retry_policy
from lbctl.kube.transport import POOL_SIZE


class OfficialTransport:
    """:class:`lbctl.kube.client.Transport` over the official client's ``ApiClient``."""

    def __init__(self, api: Any, errors: tuple[type[BaseException], ...]) -> None:
        self._api = api
        self.host = str(api.configuration.host)
        self.errors = errors

    def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None,
        body: Any,
        headers: Mapping[str, str],
        timeout: tuple[float, float],
    ) -> Any:
        method, url, sent, payload, post = self._api.param_serialize(
            method=method,
            resource_path=path,
            query_params=list((query or {}).items()),
            header_params=dict(headers),
            body=body,
            auth_settings=["BearerToken"],
        )
        for name in [k for k in sent if k.lower() == "authorization"]:
            # A token file ending in a newline (most do): kubectl strips it, and an unstripped
            # header would make http.client raise an error quoting the token.
            scheme, _, credential = str(sent[name]).strip().partition(" ")
            credential = credential.strip()
            check_token(credential)
            sent[name] = f"{scheme} {credential}"
        return self._api.call_api(method, url, sent, payload, post,
                                  _request_timeout=timeout).response


def load(
    existing: list[str],
    context: str | None,
    *,
    in_cluster: bool,
    env: Mapping[str, str],
    account: Path,
) -> tuple[OfficialTransport, str | None, str | None]:
    """Load with the official client: the transport, the context's namespace and its name."""
    kubernetes_config = importlib.import_module("kubernetes.config")
    client = importlib.import_module("kubernetes.client")
    urllib3 = importlib.import_module("urllib3")
    yaml = importlib.import_module("yaml")
    config_error = kubernetes_config.ConfigException
    configuration = client.Configuration()
    failures = _LoggedErrors()
    try:
        with failures:
            if in_cluster:
                namespace, current = _in_cluster(configuration, env, account), None
            else:
                if context is None and len(existing) > 1:
                    context = _first_current_context(existing, yaml)
                namespace, current = _from_kubeconfig(
                    configuration, os.pathsep.join(existing), context
                )
    except config_error as exc:
        raise _config_error(str(exc), existing, context) from exc
    # A kubeconfig of the wrong shape (a number where a mapping or list belongs) fails deep
    # inside the client with TypeError, AttributeError or KeyError.
    except (OSError, ValueError, TypeError, AttributeError, KeyError, yaml.YAMLError) as exc:
        raise UsageError(
            f"cannot read the kubeconfig {', '.join(existing)}: {_first_line(exc)}",
            hint="check the file, or pass another one with --kubeconfig",
        ) from exc
    for value in configuration.api_key.values():
        keep_secret(str(value))
    if failures.messages:  # the loader logs an exec plugin's failure and carries on without it
        raise _plugin_error(failures.messages[0], existing)
    quiet_if_insecure(not configuration.verify_ssl)
    # The client's default pool (5 per CPU) would make batches reconnect for every request.
    configuration.connection_pool_maxsize = max(
        configuration.connection_pool_maxsize or 0, POOL_SIZE
    )
    configuration.retries = retry_policy()
    errors = (
        urllib3.exceptions.HTTPError,
        OSError,
        client.ApiException,
        client.ApiValueError,
        config_error,
    )
    api = client.ApiClient(configuration)
    api.user_agent = "lbctl"
    return OfficialTransport(api, errors), namespace, current


class _LoggedErrors(logging.Handler):
    """Collects what the official loader logs while it loads (an exec plugin that cannot run is
    logged, not raised), instead of letting ``logging`` print ``ERROR:root:...`` on stderr."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(redact(record.getMessage()))

    def __enter__(self) -> _LoggedErrors:
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger().removeHandler(self)


def _plugin_error(message: str, existing: list[str]) -> LbctlError:
    where = ", ".join(existing) or "the in-cluster service account"
    first = _first_line(message)
    if "No such file or directory" in first or "Permission denied" in first:
        return UsageError(
            f"the exec credential plugin in {where} cannot be run: {first}",
            hint="install the plugin, or fix users[].user.exec.command in the kubeconfig",
        )
    return PermissionDeniedError(
        f"cannot get credentials from {where}: {first}",
        hint="check the user section of the kubeconfig (its exec plugin)",
    )


def _from_kubeconfig(
    configuration: Any, config_file: str, context: str | None
) -> tuple[str | None, str | None]:
    """Configure ``configuration``; return the context's namespace and the context's name."""
    kube_config = importlib.import_module("kubernetes.config.kube_config")
    # What load_kube_config does, keeping the loader to ask it which context it chose (its
    # list_kube_config_contexts would fail on a file without current-context even when
    # --context names one).  persist_config=False: lbctl never rewrites the user's kubeconfig.
    loader = kube_config._get_kube_config_loader(
        filename=config_file, active_context=context, persist_config=False
    )
    loader.load_and_set(configuration)
    chosen = loader.current_context
    body = chosen["context"]  # a ConfigNode, or a dict once loaded
    namespace = body.get("namespace") if isinstance(body, dict) else body.safe_get("namespace")
    return (str(namespace) if namespace else None), str(chosen["name"])


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
    # Judge by the words, not by the file names the message quotes (a temporary directory
    # named /tmp/x6execab/ is no exec plugin).
    words = message
    for path in existing:
        words = words.replace(path, "")
    if "exec" in words.lower() or "token" in words.lower():
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
