"""``lbctl release``: exact output and exit codes against the fake kube-apiserver."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests import statefiles
from tests.conftest import Cli, Result
from tests.kubefake import resources
from tests.kubefake.server import FakeKubeServer


def put(server: FakeKubeServer, name: str) -> None:
    server.put_object({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "shop"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
    })


def shown(server: FakeKubeServer, name: str) -> list[str]:
    obj = server.get_object("services", name, "shop")
    assert obj is not None
    return [i["ip"] for i in obj.get("status", {}).get("loadBalancer", {}).get("ingress", [])]


def state(server: FakeKubeServer) -> dict[str, object]:
    obj = server.get_object("configmaps", "lbctl-state", "kube-system")
    assert obj is not None
    loaded: dict[str, object] = yaml.safe_load(obj["data"]["state.yaml"])
    return loaded


@pytest.fixture
def run(cli: Cli, kubeconfig: Path, kube_server: FakeKubeServer) -> Cli:
    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return cli(*args, "--kubeconfig", str(kubeconfig), env=env)

    assert invoke("pool", "add", "default", "192.0.2.10-192.0.2.12").code == 0
    put(kube_server, "web")
    assert invoke("assign", "svc", "web", "-n", "shop").code == 0
    return invoke


def test_release(run: Cli, kube_server: FakeKubeServer) -> None:
    result = run("release", "svc", "web", "-n", "shop")
    assert (result.code, result.out, result.err) == (0, "service/web released 192.0.2.10\n", "")
    assert shown(kube_server, "web") == []
    assert state(kube_server)["allocations"] == {}


def test_dry_run_changes_nothing(run: Cli, kube_server: FakeKubeServer) -> None:
    result = run("release", "svc/web", "-n", "shop", "--dry-run", "-o", "json")
    assert json.loads(result.out) == {
        "kind": "Release", "namespace": "shop", "name": "web", "result": "released",
        "dryRun": True, "ips": ["192.0.2.10"], "pool": "default", "withdrawn": False,
        "orphan": False}
    assert shown(kube_server, "web") == ["192.0.2.10"]


def test_hold_an_orphan_then_recreate(run: Cli, kube_server: FakeKubeServer) -> None:
    kube_server.store.delete(resources.lookup("services"), "shop", "web", {})
    result = run("release", "svc", "web", "-n", "shop", "--hold")
    assert (result.code, result.out, result.err) == (
        0, "service/web released 192.0.2.10, held for shop/web\n",
        "service shop/web no longer exists; its address was only in the state\n")
    assert state(kube_server)["holds"] == {"shop": {"web": {"ips": ["192.0.2.10"],
                                                            "pool": "default"}}}
    again = run("release", "svc", "web", "-n", "shop", "--hold")
    assert again.out == "service/web unchanged: 192.0.2.10 already held\n"
    put(kube_server, "web")
    assert run("assign", "svc", "web", "-n", "shop").out == (
        "service/web assigned 192.0.2.10 (pool default)\n")


def test_not_in_state(run: Cli) -> None:
    result = run("release", "svc", "other", "-n", "shop")
    assert (result.code, result.out, result.err) == (
        3, "", "lbctl: error: service shop/other has no address in ConfigMap "
               "kube-system/lbctl-state\n"
               "hint: lbctl svc list shows the assigned Services\n")


def test_forbidden_withdrawal_keeps_the_state(run: Cli, kube_server: FakeKubeServer) -> None:
    kube_server.deny("patch", "services/status")
    result = run("release", "svc", "web", "-n", "shop")
    assert (result.code, result.err) == (
        6, "lbctl: error: forbidden: cannot patch services/status in namespace shop\n"
           "hint: kubectl auth can-i patch services --subresource=status -n shop\n")
    assert state(kube_server)["allocations"] == {"shop": {"web": {"ips": ["192.0.2.10"],
                                                                  "pool": "default"}}}


def test_offline_release_changes_only_the_state_file(cli: Cli, tmp_path: Path) -> None:
    """GitOps: the state file in the repository, no kubeconfig at all."""
    state = str(tmp_path / "lb.yaml")
    assert cli("pool", "add", "default", "192.0.2.10-192.0.2.12", "--state", state).code == 0
    (tmp_path / "web.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\n"
        "spec:\n  type: LoadBalancer\n")
    assert cli("assign", "-f", str(tmp_path / "web.yaml"), "--state", state).code == 0
    result = cli("release", "svc", "web", "-n", "shop", "--state", state, "--hold")
    assert (result.code, result.out, result.err) == (
        0, "service/web released 192.0.2.10, held for shop/web\n",
        f"no cluster: only state file {state} changed\n")
    loaded = statefiles.document(state)
    assert (loaded["allocations"], loaded["holds"]) == (
        {}, {"shop": {"web": {"ips": ["192.0.2.10"], "pool": "default"}}})
    result = cli("release", "svc", "web", "-n", "shop", "--state", state)
    assert (result.code, result.out) == (0, "service/web released 192.0.2.10\n")
    assert statefiles.document(state)["holds"] == {}


def test_without_state_file_release_still_needs_a_cluster(cli: Cli) -> None:
    result = cli("release", "svc", "web", "-n", "shop")
    assert result.code == 7


def test_force_withdraws_an_address_lbctl_did_not_record(
        run: Cli, kube_server: FakeKubeServer) -> None:
    kube_server.put_object({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "np", "namespace": "shop"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.12"}]}},
    })
    refused = run("release", "svc", "np", "-n", "shop")
    assert (refused.code, refused.out, refused.err) == (
        3, "", "lbctl: error: service shop/np has no address in ConfigMap "
               "kube-system/lbctl-state; its status shows 192.0.2.12, which lbctl did not "
               "record\n"
               "hint: record it: lbctl adopt svc np -n shop; or withdraw it from the status: "
               "lbctl release svc np -n shop --force\n")
    dry = run("release", "svc", "np", "-n", "shop", "--force", "--dry-run")
    assert dry.out == "service/np withdrew 192.0.2.12 (not recorded in the state) (dry run)\n"
    assert shown(kube_server, "np") == ["192.0.2.12"]
    result = run("release", "svc", "np", "-n", "shop", "--force")
    assert (result.code, result.out, result.err) == (
        0, "service/np withdrew 192.0.2.12 (not recorded in the state)\n", "")
    assert shown(kube_server, "np") == []
    assert run("release", "svc", "np", "-n", "shop", "--force").code == 3  # nothing left
    assert run("assign", "svc", "np", "-n", "shop").out == (
        "service/np assigned 192.0.2.11 (pool default)\n")
