"""kube-proxy actions against the fake kube-apiserver, through the real client.

What users rely on: ``apply`` changes the one line in ``config.conf`` and nothing else in the
ConfigMap; applying twice writes once; a concurrent edit is never overwritten (409 -> re-read,
recompute) and a ConfigMap that keeps changing is a ConflictError; ``--restart`` stamps the
DaemonSet like ``kubectl rollout restart`` and waits for the rollout within the timeout; k3s and
RKE2 clusters (no ConfigMap) are explained with what their nodes run.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from lbctl import kube
from lbctl.actions import kubeproxy as actions
from lbctl.core.kubeproxy import RolloutStatus
from lbctl.errors import ConflictError, ElsewhereError, ExitCode, NotFoundError, RefusedError
from lbctl.ports import CONFIGMAPS, KubeAPI, Obj, Resource
from tests.kubefake.server import FakeKubeServer

FIXTURES = Path(__file__).parent.parent / "fixtures" / "kube-proxy"
KUBEADM = (FIXTURES / "kubeadm-ipvs.conf").read_text()
STRICT = KUBEADM.replace("  strictARP: false\n", "  strictARP: true\n")
NOW = datetime(2024, 9, 12, 10, 30, 0, tzinfo=timezone(timedelta(hours=2)))


def seed_configmap(server: FakeKubeServer, config: str = KUBEADM) -> Obj:
    return server.put_object({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kube-proxy", "namespace": "kube-system",
                     "labels": {"app": "kube-proxy"},
                     "annotations": {"kubeadm.kubernetes.io/component-config.hash": "sha256:0"}},
        "data": {"config.conf": config, "kubeconfig.conf": "apiVersion: v1\nkind: Config\n"},
    })


def seed_daemonset(server: FakeKubeServer, *, generation: int = 1, observed: int = 1,
                   updated: int = 3, available: int = 3) -> Obj:
    return server.put_object({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "kube-proxy", "namespace": "kube-system", "generation": generation},
        "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
                 "updateStrategy": {"type": "RollingUpdate"},
                 "template": {"metadata": {"labels": {"k8s-app": "kube-proxy"}},
                              "spec": {"containers": [{"name": "kube-proxy",
                                                       "image": "registry.k8s.io/kube-proxy"}]}}},
        "status": {"observedGeneration": observed, "desiredNumberScheduled": 3,
                   "updatedNumberScheduled": updated, "numberAvailable": available},
    })


def stored(server: FakeKubeServer) -> Obj:
    obj = server.get_object("configmaps", "kube-proxy", "kube-system")
    assert obj is not None
    return obj


def writes(server: FakeKubeServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.requests if r.method in ("PUT", "PATCH")]


@pytest.fixture
def api(kubeconfig: Path) -> KubeAPI:
    return kube.connect(str(kubeconfig), None)


# --- diff and apply ----------------------------------------------------------------------------


def test_diff_reads_the_cluster_and_writes_nothing(kube_server: FakeKubeServer,
                                                   api: KubeAPI) -> None:
    seed_configmap(kube_server)
    result = actions.diff_cluster(api)
    assert result.plan.change_needed
    assert result.source == "ConfigMap kube-system/kube-proxy"
    assert "-  strictARP: false\n+  strictARP: true\n" in result.text
    assert result.text.startswith("--- a/configmap/kube-system/kube-proxy/config.conf\n")
    assert writes(kube_server) == []


def test_apply_changes_one_line_and_keeps_the_rest(kube_server: FakeKubeServer,
                                                  api: KubeAPI) -> None:
    before = seed_configmap(kube_server)
    applied = actions.apply(api)
    assert (applied.written, applied.restarted, applied.rollout) == (True, False, None)
    after = stored(kube_server)
    assert after["data"] == {**before["data"], "config.conf": STRICT}
    assert after["metadata"]["labels"] == before["metadata"]["labels"]
    assert after["metadata"]["annotations"] == before["metadata"]["annotations"]


def test_apply_twice_writes_once(kube_server: FakeKubeServer, api: KubeAPI) -> None:
    seed_configmap(kube_server)
    assert actions.apply(api).written
    second = actions.apply(api)
    assert not second.written and not second.diff.plan.changes
    assert writes(kube_server) == ["PUT /api/v1/namespaces/kube-system/configmaps/kube-proxy"]
    assert stored(kube_server)["data"]["config.conf"] == STRICT


def test_apply_dry_run_writes_nothing(kube_server: FakeKubeServer, api: KubeAPI) -> None:
    seed_configmap(kube_server)
    seed_daemonset(kube_server)
    applied = actions.apply(api, dry_run=True, restart=True)
    assert applied.diff.plan.change_needed and not applied.written and not applied.restarted
    assert writes(kube_server) == []


@pytest.mark.parametrize(("always", "written"), [(False, False), (True, True)])
def test_apply_in_iptables_mode_needs_always(kube_server: FakeKubeServer, api: KubeAPI,
                                             always: bool, written: bool) -> None:
    config = (FIXTURES / "iptables.conf").read_text()
    seed_configmap(kube_server, config)
    assert actions.apply(api, always=always).written is written
    assert stored(kube_server)["data"]["config.conf"] == (
        config.replace("strictARP: false", "strictARP: true") if written else config)


def test_one_shot_conflict_is_retried(kube_server: FakeKubeServer, api: KubeAPI) -> None:
    seed_configmap(kube_server)
    fault = kube_server.inject(409, "PUT", "/configmaps/kube-proxy$")
    assert actions.apply(api).written
    assert fault.hits == 1
    assert len(writes(kube_server)) == 2
    assert stored(kube_server)["data"]["config.conf"] == STRICT


class RacingAPI:
    """Delegates to a real client; right after lbctl's first read of the ConfigMap, another
    writer edits it on the server (so lbctl's resourceVersion is stale)."""

    def __init__(self, inner: KubeAPI, server: FakeKubeServer, config: str) -> None:
        self.inner, self.server, self.config, self.raced = inner, server, config, False

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> Obj:
        obj = self.inner.get(resource, name, namespace)
        if resource == CONFIGMAPS and not self.raced:
            self.raced = True
            seed_configmap(self.server, self.config)
        return obj

    def replace(self, resource: Resource, body: Obj) -> Obj:
        return self.inner.replace(resource, body)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_concurrent_edit_is_kept_not_overwritten(kube_server: FakeKubeServer,
                                                 api: KubeAPI) -> None:
    seed_configmap(kube_server)
    theirs = "# tuned by the network team\n" + KUBEADM.replace("scheduler: \"\"", "scheduler: lc")
    applied = actions.apply(RacingAPI(api, kube_server, theirs))
    assert applied.written
    assert len(writes(kube_server)) == 2  # the first PUT was refused with 409
    assert stored(kube_server)["data"]["config.conf"] == theirs.replace(
        "  strictARP: false\n", "  strictARP: true\n")


def test_config_that_keeps_changing_is_a_conflict(kube_server: FakeKubeServer,
                                                  api: KubeAPI) -> None:
    seed_configmap(kube_server)
    kube_server.inject(409, "PUT", "/configmaps/kube-proxy$", times=None)
    sleeps: list[float] = []
    with pytest.raises(ConflictError) as caught:
        actions.apply(api, sleep=sleeps.append, jitter=lambda: 1.0)
    assert caught.value.exit_code == ExitCode.CONFLICT
    assert len(writes(kube_server)) == actions.ATTEMPTS == 8
    # the state store's policy: a doubling, capped wait between attempts
    assert sleeps == [0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.0]
    assert stored(kube_server)["data"]["config.conf"] == KUBEADM


def test_unreadable_cluster_config_is_refused(kube_server: FakeKubeServer, api: KubeAPI) -> None:
    seed_configmap(kube_server, "mode: ipvs\n")
    with pytest.raises(RefusedError, match="holds no KubeProxyConfiguration"):
        actions.apply(api)
    assert writes(kube_server) == []


def test_configmap_without_config_conf(kube_server: FakeKubeServer, api: KubeAPI) -> None:
    kube_server.put_object({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
                            "data": {"config.yaml": "x"}})
    with pytest.raises(NotFoundError, match="has no data key config.conf") as caught:
        actions.diff_cluster(api)
    assert "config.yaml" in caught.value.hint


# --- restart -----------------------------------------------------------------------------------


class Controller:
    """Stands in for the DaemonSet controller and the clock: each sleep moves the rollout on."""

    def __init__(self, server: FakeKubeServer, steps: list[dict[str, int]]) -> None:
        self.server, self.steps, self.now, self.slept = server, steps, 0.0, 0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += 1
        if self.steps:
            ds = self.server.get_object("daemonsets", "kube-proxy", "kube-system")
            assert ds is not None
            ds["status"].update(self.steps.pop(0))
            self.server.put_object(ds)


def test_restart_stamps_the_template_and_waits(kube_server: FakeKubeServer,
                                               api: KubeAPI) -> None:
    seed_configmap(kube_server)
    seed_daemonset(kube_server, generation=2, observed=1)  # the server's bump of the patch
    controller = Controller(kube_server, [
        {"observedGeneration": 2, "updatedNumberScheduled": 1},
        {"updatedNumberScheduled": 3, "numberAvailable": 2},
        {"numberAvailable": 3},
    ])
    seen: list[RolloutStatus] = []
    applied = actions.apply(api, restart=True, timeout=60, progress=seen.append,
                            clock=controller.clock, sleep=controller.sleep, now=lambda: NOW)
    assert applied.written and applied.restarted
    assert applied.rollout is not None and applied.rollout.done
    assert [s.message for s in seen] == [
        "waiting for the DaemonSet spec update to be observed",
        "1 of 3 updated pods scheduled",
        "2 of 3 updated pods available",
        "3 of 3 pods updated and available",
    ]
    ds = kube_server.get_object("daemonsets", "kube-proxy", "kube-system")
    assert ds is not None
    assert ds["spec"]["template"]["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/restartedAt": "2024-09-12T10:30:00+02:00"}
    assert writes(kube_server)[-1] == \
        "PATCH /apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy"


def test_restart_gives_up_at_the_timeout(kube_server: FakeKubeServer, api: KubeAPI) -> None:
    seed_configmap(kube_server, STRICT)
    seed_daemonset(kube_server, updated=1)
    controller = Controller(kube_server, [])
    applied = actions.apply(api, restart=True, timeout=5, clock=controller.clock,
                            sleep=controller.sleep, now=lambda: NOW)
    assert not applied.written and applied.restarted  # the config was already right
    assert applied.rollout is not None and not applied.rollout.done
    assert applied.rollout.message == "1 of 3 updated pods scheduled"
    assert (controller.now, controller.slept) == (5.0, 3)  # 2 + 2 + 1 seconds, then the deadline


def test_restart_without_daemonset_writes_nothing(kube_server: FakeKubeServer,
                                                  api: KubeAPI) -> None:
    seed_configmap(kube_server)
    with pytest.raises(NotFoundError, match="DaemonSet kube-system/kube-proxy not found"):
        actions.apply(api, restart=True)
    assert writes(kube_server) == []


def test_restart_is_skipped_when_the_mode_needs_no_strict_arp(kube_server: FakeKubeServer,
                                                              api: KubeAPI) -> None:
    seed_configmap(kube_server, (FIXTURES / "iptables.conf").read_text())
    seed_daemonset(kube_server)
    applied = actions.apply(api, restart=True)
    assert (applied.written, applied.restarted) == (False, False)
    assert writes(kube_server) == []


# --- clusters without the ConfigMap ------------------------------------------------------------


def seed_node(server: FakeKubeServer, name: str, version: str,
              annotations: dict[str, str]) -> None:
    server.put_object({"apiVersion": "v1", "kind": "Node",
                       "metadata": {"name": name, "annotations": annotations},
                       "status": {"nodeInfo": {"kubeletVersion": version}}})


def test_k3s_cluster_is_explained(kube_server: FakeKubeServer, api: KubeAPI) -> None:
    args = ["server", "--kube-proxy-arg", "proxy-mode=ipvs"]
    seed_node(kube_server, "k3s-1", "v1.30.4+k3s1", {"k3s.io/node-args": json.dumps(args)})
    seed_node(kube_server, "k3s-2", "v1.30.4+k3s1",
              {"k3s.io/node-args": json.dumps([*args, "--kube-proxy-arg", "ipvs-strict-arp=true"])})
    with pytest.raises(ElsewhereError) as caught:
        actions.apply(api)
    assert caught.value.exit_code == ExitCode.ELSEWHERE
    assert caught.value.message == (
        "kube-proxy on this k3s cluster is configured by k3s flags, not a ConfigMap (2 nodes: "
        "1 proxy-mode=ipvs without ipvs-strict-arp=true, 1 proxy-mode=ipvs with "
        "ipvs-strict-arp=true)")
    assert "/etc/rancher/k3s/config.yaml" in caught.value.hint


def test_rke2_cluster_reads_the_static_pods(kube_server: FakeKubeServer, api: KubeAPI) -> None:
    for name in ("cp-1", "worker-1"):
        seed_node(kube_server, name, "v1.30.4+rke2r1", {"rke2.io/node-args": '["server"]'})
        kube_server.put_object({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"kube-proxy-{name}", "namespace": "kube-system",
                         "labels": {"component": "kube-proxy", "tier": "control-plane"}},
            "spec": {"nodeName": name, "containers": [{
                "name": "kube-proxy", "image": "rancher/hardened-kubernetes",
                "command": ["kube-proxy", "--cluster-cidr=10.42.0.0/16", "--proxy-mode=ipvs",
                            "--ipvs-strict-arp=true"]}]},
        })
    with pytest.raises(ElsewhereError) as caught:
        actions.diff_cluster(api)
    assert caught.value.message.endswith(
        "(2 nodes: 2 proxy-mode=ipvs with ipvs-strict-arp=true)")
    assert caught.value.hint.startswith("nothing to add")


def test_other_cluster_without_configmap(kube_server: FakeKubeServer, api: KubeAPI) -> None:
    seed_node(kube_server, "n1", "v1.30.4", {})
    with pytest.raises(NotFoundError, match="ConfigMap kube-system/kube-proxy not found"):
        actions.diff_cluster(api)


def test_detection_uses_what_it_may_read(kube_server: FakeKubeServer, api: KubeAPI) -> None:
    seed_node(kube_server, "k3s-1", "v1.30.4+k3s1", {})
    kube_server.deny("list", "pods")
    with pytest.raises(ElsewhereError, match="1 flags not readable"):
        actions.diff_cluster(api)


# --- check-node --------------------------------------------------------------------------------


def test_check_node_judges_what_the_reader_returns() -> None:
    values = {"all": {"arp_ignore": 1, "arp_announce": 2}, "eth0": {"arp_ignore": 0,
                                                                    "arp_announce": 0}}
    assert actions.check_node(lambda: values).active
