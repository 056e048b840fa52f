"""Gathering from a live cluster: read-only, within the permissions lbctl declares, and honest
about what it could not read."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pytest

from lbctl.core.permissions import PERMISSIONS, Permission
from lbctl.doctor import checks, gather
from lbctl.doctor.facts import Absent
from lbctl.doctor.report import CheckResult
from lbctl.ports import KubeAPI, Obj, Resource
from lbctl.state.configmap import ConfigMapBackend
from tests.doctor.clusters import METALLB, seed
from tests.kubefake import FakeKubeServer

Call = tuple[str, Resource, "str | None", "str | None"]  # verb, resource, namespace, name


class Recording:
    """A KubeAPI that records every read and refuses every write."""

    def __init__(self, inner: KubeAPI) -> None:
        self.inner = inner
        self.calls: builtins.list[Call] = []

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> Obj:
        self.calls.append(("get", resource, namespace, name))
        return self.inner.get(resource, name, namespace)

    def list(self, resource: Resource, namespace: str | None = None,
             label_selector: str | None = None) -> builtins.list[Obj]:
        self.calls.append(("list", resource, namespace, None))
        return self.inner.list(resource, namespace, label_selector)

    def can_i(self, verb: str, resource: str, group: str = "", namespace: str | None = None,
              subresource: str = "", name: str = "") -> bool:
        return self.inner.can_i(verb, resource, group, namespace, subresource, name)

    def server_version(self) -> str:
        return self.inner.server_version()

    def create(self, *args: Any, **kwargs: Any) -> Obj:
        raise AssertionError("doctor must never write")

    replace = patch = create


def _connect(server: FakeKubeServer, tmp_path: Path) -> KubeAPI:
    from lbctl import kube

    return kube.connect(str(server.write_kubeconfig(tmp_path / "kubeconfig")), None)


def _covers(permission: Permission, call: Call) -> bool:
    verb, resource, namespace, name = call
    return (permission.verb == verb and permission.resource == resource.plural
            and permission.group == resource.group_version.rpartition("/")[0]
            and not permission.subresource
            and permission.namespace in (None, namespace)
            and permission.name in (None, name))


def test_doctor_reads_only_what_the_permission_list_declares(
        kube_server: FakeKubeServer, kubeconfig: Path, tmp_path: Path) -> None:
    seed(kube_server, "broken", extra=METALLB)
    recording = Recording(_connect(kube_server, tmp_path))
    gather.live(recording, ConfigMapBackend(recording))
    uncovered = [(verb, r.plural, ns, name) for verb, r, ns, name in recording.calls
                 if not any(_covers(p, (verb, r, ns, name)) for p in PERMISSIONS)]
    assert uncovered == []
    assert len(recording.calls) > 10


def test_permission_list_is_one_entry_per_rule() -> None:
    keys = [(p.verb, p.group, p.resource, p.subresource, p.namespace, p.name)
            for p in PERMISSIONS]
    assert len(keys) == len(set(keys))
    assert all(p.why and p.commands for p in PERMISSIONS)
    assert not [p for p in PERMISSIONS if p.verb == "create" and p.name]


def test_a_denied_permission_is_named_and_what_it_hides_is_skipped(
        kube_server: FakeKubeServer, kubeconfig: Path, tmp_path: Path) -> None:
    seed(kube_server, "broken", extra=METALLB)
    kube_server.deny("list", "deployments", group="apps")
    kube_server.deny("patch", "services/status")
    client = _connect(kube_server, tmp_path)
    facts = gather.live(client, ConfigMapBackend(client))
    assert isinstance(facts.workloads, Absent)
    results = {r.id: r for r in checks.diagnose(facts)}
    assert [f.message.partition(":")[0] for f in results["rbac.permissions"].findings] == [
        "this identity may not patch services/status (all namespaces)",
        "this identity may not list deployments.apps (all namespaces)",
    ]
    metallb = results["impl.metallb"].findings[0]
    assert metallb.severity == "skip"
    assert "cannot list deployments.apps" in metallb.message  # the API server's reason
    assert results["pool.exhausted"].status == "error"  # everything else still ran


def test_a_cluster_without_the_state_configmap_has_no_state_yet(
        kube_server: FakeKubeServer, kubeconfig: Path, tmp_path: Path) -> None:
    client = _connect(kube_server, tmp_path)
    results = {r.id: r for r in checks.diagnose(gather.live(client, ConfigMapBackend(client)))}
    assert results["state.parse"].findings[0].message == (
        "ConfigMap kube-system/lbctl-state: no state document yet (no pools, no allocations)")
    assert results["kube-proxy.strict-arp"].status == "skip"


def test_a_state_configmap_gone_while_services_show_addresses_is_a_lost_state(
        kube_server: FakeKubeServer, kubeconfig: Path, tmp_path: Path) -> None:
    client = _connect(kube_server, tmp_path)

    def diagnose() -> dict[str, CheckResult]:
        return {r.id: r for r in checks.diagnose(gather.live(client, ConfigMapBackend(client)))}

    # k3s ServiceLB published a node's address: not lbctl's, no sign of a lost state
    kube_server.put_object({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
                            "status": {"addresses": [{"type": "InternalIP",
                                                      "address": "10.0.0.11"}]}})
    kube_server.put_object({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "traefik", "namespace": "kube-system"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.11"}]}}})
    assert diagnose()["state.missing"].findings[0].message == (
        "ConfigMap kube-system/lbctl-state: no state document yet, and no Service shows an "
        "address it should record")
    for name, ip in (("web", "192.0.2.10"), ("db", "192.0.2.11")):
        kube_server.put_object({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
            "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}})
    missing = diagnose()["state.missing"]
    assert missing.status == "error"
    (finding,) = missing.findings
    assert finding.message.startswith(
        "ConfigMap kube-system/lbctl-state is missing, but 2 LoadBalancer Services show "
        "addresses no state records: shop/db (192.0.2.11), shop/web (192.0.2.10);")
    assert "lbctl adopt --all -A" in finding.hint
    assert finding.objects == ("service/shop/db", "service/shop/web")


def test_doctor_does_not_list_services_per_namespace(
        kube_server: FakeKubeServer, kubeconfig: Path, tmp_path: Path) -> None:
    client = _connect(kube_server, tmp_path)
    kube_server.requests.reset()
    gather.live(client, ConfigMapBackend(client), context="fake")
    services = [r.path for r in kube_server.requests if r.path.endswith("/services")]
    assert services == ["/api/v1/services"]


@pytest.mark.parametrize("fault", [500, 503])
def test_a_failing_api_server_ends_the_run(kube_server: FakeKubeServer, kubeconfig: Path,
                                           tmp_path: Path, fault: int) -> None:
    from lbctl.errors import UnreachableError

    client = _connect(kube_server, tmp_path)
    kube_server.inject(fault, path="/version", times=None)
    with pytest.raises(UnreachableError):
        gather.live(client, ConfigMapBackend(client))


def test_progress_says_what_is_read_next(kube_server: FakeKubeServer, kubeconfig: Path,
                                         tmp_path: Path) -> None:
    client = _connect(kube_server, tmp_path)
    seen: list[str] = []
    gather.live(client, ConfigMapBackend(client), progress=seen.append)
    assert seen[0] == "the API server"
    assert seen[-1] == "permissions"
    assert len(seen) == len(set(seen)) > 3


class _Silent:
    """An Announcer nobody answers (doctor --probe without a network)."""

    def probe(self, ips: Any, *, interface: Any, timeout: float) -> builtins.list[Any]:
        from lbctl.nodeports import Probed

        return [Probed(ip, "eth0", (), "test") for ip in ips]

    def announce(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("doctor never announces")


@pytest.mark.parametrize(("given", "namespace"), [(None, "kube-system"), ("lb", "lb")])
def test_probe_reads_the_speakers_leases_where_they_live(
        kube_server: FakeKubeServer, tmp_path: Path, given: str | None, namespace: str) -> None:
    from lbctl.ports import LEASES

    seed(kube_server, "broken")
    recording = Recording(_connect(kube_server, tmp_path))
    options = gather.ProbeOptions(_Silent(), **({"lease_namespace": given} if given else {}))
    facts = gather.live(recording, ConfigMapBackend(recording), probe=options)
    assert [ns for verb, r, ns, _ in recording.calls if verb == "list" and r == LEASES] == [
        namespace]
    assert facts.speaker_leases == []
    without = gather.live(recording, ConfigMapBackend(recording))
    assert isinstance(without.speaker_leases, Absent)
