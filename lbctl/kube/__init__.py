"""The Kubernetes adapter: :class:`lbctl.ports.KubeAPI` for the configuration kubectl would use.

Two paths, one client (:class:`~lbctl.kube.client.KubeClient`: URLs, paging, watch, retries,
error translation):

- the fast path: lbctl reads the kubeconfig itself (:mod:`lbctl.kube.kubeconfig`) and speaks
  HTTP over ``http.client`` (:mod:`lbctl.kube.transport`; over urllib3 behind a proxy,
  :mod:`lbctl.kube.proxied`) — bearer tokens and token files, basic auth,
  client certificates, CAs, ``insecure-skip-tls-verify``, ``tls-server-name``, http(s) proxies,
  the in-cluster service account.  It never imports the ``kubernetes`` package.
- the official path (:mod:`lbctl.kube.official`): everything else (exec plugins,
  auth-providers, SOCKS proxies, keys lbctl does not know, broken files) goes to the official
  client, which loads and speaks exactly as it did before the fast path existed.

Importing this package imports nothing but the standard library and lbctl's ports and errors:
http.client, urllib3, yaml and ``kubernetes`` are imported inside :func:`connect`, each only when
needed.

Error policy: see :mod:`lbctl.kube.client`; loading raises :mod:`lbctl.errors` only.  No
credential appears in any message.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lbctl.errors import NoClusterConfigError, UnreachableError, UsageError, file_kind
from lbctl.kube.client import JSON_PATCH, MERGE_PATCH, PAGE_SIZE, KubeClient

__all__ = ["JSON_PATCH", "MERGE_PATCH", "PAGE_SIZE", "KubeClient", "connect"]

DEFAULT_KUBECONFIG = "~/.kube/config"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


def _refuse_unless_regular(path: Path) -> None:
    """A kubeconfig must be a regular file: a named pipe or a device would be read forever."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # unreadable: the readers below word that
    if not stat.S_ISREG(mode):
        raise UsageError(
            f"kubeconfig {path} is {file_kind(mode)}, not a regular file",
            hint="pass a kubeconfig file with --kubeconfig, or fix KUBECONFIG",
        )


def connect(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    service_account_dir: str = SERVICE_ACCOUNT_DIR,
    timeout: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    official: bool = False,
    fast_only: bool = False,
    retries: int = 2,
    vet: Callable[[str, str], dict[str, Any] | None] | None = None,
) -> KubeClient:
    """Load the configuration like kubectl does and return a client for it.

    ``--kubeconfig`` wins, then ``KUBECONFIG`` (a ``:``-separated list, merged), then
    ``~/.kube/config``; with none of those present (and no ``--kubeconfig``/``--context``), the
    in-cluster service account.  The client's ``default_namespace`` is the context's namespace,
    else ``default`` (a ``-n`` given by the user overrides it; that is the caller's business).
    ``official=True`` forces the official client's path (tests and benchmarks compare them);
    ``fast_only=True`` refuses it instead (:class:`~lbctl.errors.UnreachableError`): shell
    completion must never run an exec plugin nor pay for importing the official client.
    ``vet(text, path)`` sees each kubeconfig file's text before any loader does, and raises to
    refuse it (the caller's bounded YAML reader: an alias bomb must not reach a loader); when it
    read the file exactly as ``yaml.safe_load`` would, into a mapping, it returns that mapping
    and lbctl's reader uses it instead of reading the file again (else it returns None).
    """
    from lbctl.kube import kubeconfig as reader

    env = os.environ if environ is None else environ
    paths = reader.kubeconfig_paths(kubeconfig, env)
    existing = [p for p in paths if Path(p).expanduser().exists()]
    vetted: dict[str, dict[str, Any]] = {}
    for name in existing:
        path = Path(name).expanduser()
        _refuse_unless_regular(path)
        if vet is not None:
            try:
                text = path.read_bytes().decode("utf-8")
            except (OSError, UnicodeDecodeError):
                continue  # the readers below word these
            document = vet(text, str(path))
            if document is not None:
                vetted[name] = document
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
    account = Path(service_account_dir)
    config = None
    if not official:
        config = (reader.in_cluster(env, account) if in_cluster
                  else reader.read(existing, context, vetted))
    if config is not None:
        from lbctl.kube import transport

        carrier = transport.build(config, env)
        if carrier is not None:
            return KubeClient(
                carrier,
                default_namespace=config.namespace or "default",
                context=config.context,
                timeout=timeout,
                retries=retries,
                sleep=sleep,
            )
    if fast_only:  # shell completion: it shows nothing of an error, so no hint is written
        raise UnreachableError("this configuration needs the official Kubernetes client")
    from lbctl.kube import official as slow

    loaded, namespace, current = slow.load(
        existing, context, in_cluster=in_cluster, env=env, account=account
    )
    return KubeClient(
        loaded,
        default_namespace=namespace or "default",
        context=current,
        timeout=timeout,
        retries=retries,
        sleep=sleep,
        fast=False,
    )
