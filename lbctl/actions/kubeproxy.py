"""kube-proxy use cases: diff and apply ``ipvs.strictARP: true``, roll kube-proxy, judge a node.

The configuration lives in kubeadm's ConfigMap ``kube-system/kube-proxy``, key ``config.conf``.
:func:`apply` writes it with the ``resourceVersion`` it read, so a concurrent edit is a 409; since
the edit is a pure function of the text (:func:`lbctl.core.kubeproxy.plan_strict_arp`), a conflict
re-reads and recomputes, with the same bounded, jittered retries as the state store
(:mod:`lbctl.core.retry`), and never overwrites someone else's change.
When the ConfigMap does not exist, k3s and RKE2 (kube-proxy configured by ``kube-proxy-arg``
flags) are recognised from the nodes and the kube-proxy pods, and explained.

Everything reaches the world through ports: :class:`~lbctl.ports.KubeAPI`, and a callable that
reads the node's ARP sysctls.  Time is a parameter (``clock``, ``sleep``, ``now``).  Nothing here
prints; progress goes to the ``progress`` callback.  Error policy: :mod:`lbctl.errors` only; a
``config.conf`` lbctl cannot read is a :class:`~lbctl.errors.RefusedError` (the cluster's data is
not the user's input), a missing ConfigMap on k3s/RKE2 an :class:`~lbctl.errors.ElsewhereError`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from lbctl.core import kubeproxy as core
from lbctl.core import retry
from lbctl.core.names import KUBE_PROXY, SYSTEM_NAMESPACE
from lbctl.core.textdiff import unified_diff
from lbctl.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RefusedError,
    UsageError,
)
from lbctl.ports import CONFIGMAPS, DAEMONSETS, NODES, PODS, KubeAPI, Obj, Resource

NAMESPACE = SYSTEM_NAMESPACE
NAME = KUBE_PROXY  # the ConfigMap and the DaemonSet
SOURCE = f"ConfigMap {NAMESPACE}/{NAME}"
LABEL = f"configmap/{NAMESPACE}/{NAME}/{core.CONFIGMAP_KEY}"  # shown in the diff header
RESTART_COMMAND = f"kubectl -n {NAMESPACE} rollout restart daemonset/{NAME}"
STATUS_COMMAND = f"kubectl -n {NAMESPACE} rollout status daemonset/{NAME}"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
#: RKE2 labels its kube-proxy static pods so (k3s runs kube-proxy inside its own process).
STATIC_POD_SELECTOR = "component=kube-proxy"
#: How often apply writes (re-reading and recomputing after each 409) before giving up.
ATTEMPTS = retry.ATTEMPTS
POLL_SECONDS = 2.0


@dataclass(frozen=True)
class Diff:
    """The strictARP plan for one source, and the diff that shows it."""

    source: str  # "ConfigMap kube-system/kube-proxy", "file kube-proxy.yaml", "stdin"
    label: str  # the path in the diff header
    plan: core.StrictARPPlan

    @property
    def text(self) -> str:
        return unified_diff(self.plan.original, self.plan.edited, self.label)


@dataclass(frozen=True)
class Applied:
    diff: Diff
    written: bool  # the ConfigMap was replaced (False: nothing to change, or a dry run)
    restarted: bool  # the DaemonSet's pod template was stamped with restartedAt
    rollout: core.RolloutStatus | None  # the last status seen while waiting (None: no restart)


def diff_text(text: str, source: str, label: str, *, always: bool = False) -> Diff:
    """The plan for a file or stdin: a ConfigMap manifest, a bare KubeProxyConfiguration, or a
    stream holding one of them.  Unreadable input is a :class:`~lbctl.errors.UsageError`."""
    return Diff(source, label, core.plan_strict_arp(text, source, always=always))


def diff_cluster(kube: KubeAPI, *, always: bool = False) -> Diff:
    """The plan for the cluster's ``kube-system/kube-proxy`` ConfigMap."""
    return _read(kube, always)[1]


def apply(
    kube: KubeAPI,
    *,
    always: bool = False,
    dry_run: bool = False,
    restart: bool = False,
    timeout: float = 300.0,
    progress: Callable[[core.RolloutStatus], None] = lambda status: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = lambda: datetime.now().astimezone(),
    jitter: Callable[[], float] = random.random,
) -> Applied:
    """Write ``ipvs.strictARP: true`` into the ConfigMap when the mode needs it (or ``always``).

    With ``restart`` kube-proxy is rolled like ``kubectl rollout restart`` (whenever strictARP
    matters, so that a configuration written earlier takes effect too) and the rollout is
    awaited for at most ``timeout`` seconds; ``progress`` sees every status polled.
    """
    configmap, diff = _read(kube, always)
    if restart:
        _daemonset(kube)  # fail before writing anything when there is nothing to restart
    diff, written = _write(kube, configmap, diff, always=always, dry_run=dry_run, sleep=sleep,
                           jitter=jitter)
    config = diff.plan.config
    if not restart or dry_run or not (config.requires_strict_arp or always):
        return Applied(diff, written, False, None)
    patch = {"spec": {"template": {"metadata": {"annotations": {
        RESTARTED_AT: now().isoformat(timespec="seconds")}}}}}
    kube.patch(DAEMONSETS, NAME, patch, NAMESPACE)
    return Applied(diff, written, True, _await_rollout(kube, timeout, progress, clock, sleep))


def check_node(read_sysctls: Callable[[], Mapping[str, Mapping[str, int]]]) -> core.NodeArp:
    """Whether the kernel of this machine applies strict ARP (kube-proxy's sysctls)."""
    return core.evaluate_arp(read_sysctls())


def _write(kube: KubeAPI, configmap: Obj, diff: Diff, *, always: bool, dry_run: bool,
           sleep: Callable[[float], None], jitter: Callable[[], float]) -> tuple[Diff, bool]:
    """Replace the ConfigMap read as ``configmap``; after a 409, read it again and recompute
    (the one compare-and-swap policy, :mod:`lbctl.core.retry`)."""
    def attempt(number: int) -> tuple[Diff, bool] | retry.Lost:
        nonlocal configmap, diff
        if number:
            configmap, diff = _read(kube, always)
        if dry_run or not diff.plan.change_needed:
            return diff, False
        # Everything as read, metadata.resourceVersion included: a stale one is a 409.
        body = {**configmap, "data": {**configmap["data"], core.CONFIGMAP_KEY: diff.plan.edited}}
        try:
            kube.replace(CONFIGMAPS, body)
        except ConflictError:
            return retry.LOST
        return diff, True

    return retry.compare_and_swap(
        attempt, attempts=ATTEMPTS, sleep=sleep, jitter=jitter,
        gave_up=lambda attempts: ConflictError(
            f"{SOURCE} changed under lbctl {attempts} times in a row",
            hint="something keeps rewriting it (an operator or GitOps controller?); change it "
                 "there"))


def _read(kube: KubeAPI, always: bool) -> tuple[Obj, Diff]:
    try:
        configmap = kube.get(CONFIGMAPS, NAME, NAMESPACE)
    except NotFoundError:
        raise _missing(kube) from None
    data = configmap.get("data") or {}
    text = data.get(core.CONFIGMAP_KEY)
    if not isinstance(text, str):
        raise NotFoundError(
            f"{SOURCE} has no data key {core.CONFIGMAP_KEY}",
            hint=f"its keys are: {', '.join(sorted(data)) or 'none'}; lbctl reads kubeadm's layout",
        )
    source = f"{SOURCE} ({core.CONFIGMAP_KEY})"
    try:
        plan = core.plan_strict_arp(text, source, always=always)
    except UsageError as exc:  # the cluster's document, not the user's input: refuse to touch it
        raise RefusedError(exc.message, exc.hint) from exc
    return configmap, Diff(SOURCE, LABEL, plan)


def _missing(kube: KubeAPI) -> Exception:
    """Why there is no ConfigMap: k3s/RKE2 (an ElsewhereError), or a plain NotFoundError."""
    embedded = core.detect_embedded(_readable(kube, NODES, None, None),
                                    _readable(kube, PODS, NAMESPACE, STATIC_POD_SELECTOR))
    if embedded is not None:
        return embedded.error()
    return NotFoundError(
        f"{SOURCE} not found",
        hint="kube-proxy may be absent (replaced by the CNI) or configured on each node; "
             "check such a file with lbctl kube-proxy diff -f FILE",
    )


def _readable(kube: KubeAPI, resource: Resource, namespace: str | None,
              selector: str | None) -> list[Obj]:
    """What can be read: detection works with whatever the identity may list."""
    try:
        return kube.list(resource, namespace, label_selector=selector)
    except PermissionDeniedError:
        return []


def _daemonset(kube: KubeAPI) -> Obj:
    try:
        return kube.get(DAEMONSETS, NAME, NAMESPACE)
    except NotFoundError:
        raise NotFoundError(
            f"DaemonSet {NAMESPACE}/{NAME} not found, so there is nothing to restart",
            hint="restart kube-proxy where it runs, or leave out --restart",
        ) from None


def _await_rollout(
    kube: KubeAPI,
    timeout: float,
    progress: Callable[[core.RolloutStatus], None],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> core.RolloutStatus:
    deadline = clock() + timeout
    while True:
        status = core.rollout_status(_daemonset(kube))
        progress(status)
        left = deadline - clock()
        if status.done or not status.progressing or left <= 0:
            return status
        sleep(min(POLL_SECONDS, left))
