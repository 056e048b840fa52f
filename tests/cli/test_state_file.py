"""The state file in a GitOps repository: it lives beside the manifests as the ConfigMap lbctl
uses on the cluster, so `kubectl apply -f k8s/` accepts the directory and creates exactly that
ConfigMap.

Exact output and exit codes, files only (and the fake apiserver standing in for `kubectl apply`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from lbctl.core.statefile import wrap
from tests import statefiles
from tests.conftest import Cli
from tests.kubefake.server import FakeKubeServer

FIXTURES = Path(__file__).parents[1] / "fixtures" / "manifests"
POOL_ONLY = ("schemaVersion: 1\npools:\n  default:\n    addresses: [192.0.2.10-192.0.2.29]\n"
             "    autoAssign: true\n    avoidBuggyIPs: false\nallocations: {}\nholds: {}\n")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """``k8s/`` with the application's manifests, and the state file beside them."""
    k8s = tmp_path / "k8s"
    k8s.mkdir()
    shutil.copy(FIXTURES / "app.yaml", k8s / "app.yaml")
    return k8s


def test_a_new_state_file_is_a_configmap_manifest(cli: Cli, repo: Path) -> None:
    state = repo / "lbctl-state.yaml"
    result = cli("pool", "add", "default", "192.0.2.10-192.0.2.29", "--state", str(state))
    assert (result.code, result.out, result.err) == (0, "pool/default created\n", "")
    assert state.read_text() == wrap(POOL_ONLY)
    manifest = yaml.safe_load(state.read_text())
    assert (manifest["apiVersion"], manifest["kind"], manifest["metadata"]["namespace"],
            manifest["metadata"]["name"]) == ("v1", "ConfigMap", "kube-system", "lbctl-state")
    assert manifest["data"] == {"state.yaml": POOL_ONLY}


def test_a_bare_state_file_is_read_and_becomes_a_manifest_on_its_next_write(
        cli: Cli, repo: Path) -> None:
    state = repo / "lbctl-state.yaml"
    state.write_text(POOL_ONLY)
    listed = cli("pool", "list", "-o", "name", "--state", str(state))
    assert (listed.code, listed.out) == (0, "pool/default\n")
    assert state.read_text() == POOL_ONLY  # reading changes nothing
    result = cli("pool", "reserve", "default", "192.0.2.11", "--note", "router", "--state",
                 str(state))
    assert result.code == 0
    assert yaml.safe_load(state.read_text())["kind"] == "ConfigMap"
    assert statefiles.document(state)["pools"]["default"]["reservations"] == {
        "192.0.2.11": "router"}


def test_assign_never_copies_the_state_into_the_manifest_stream(cli: Cli, repo: Path) -> None:
    state = str(repo / "lbctl-state.yaml")
    assert cli("pool", "add", "default", "192.0.2.10-192.0.2.29", "--state", state).code == 0
    result = cli("assign", "-f", str(repo), "--state", state)
    assert result.code == 0
    assert result.out == (FIXTURES / "app.yaml.expected").read_text()
    assert result.err.endswith("2 pinned, 1 skipped\n")


def test_a_state_document_inside_a_stream_is_never_printed(cli: Cli, repo: Path,
                                                            tmp_path: Path) -> None:
    """``kustomize build k8s/ | lbctl assign -f -``: the stream carries the state ConfigMap
    among the manifests; the output carries the manifests alone (the copy would be stale)."""
    state = repo / "lbctl-state.yaml"
    assert cli("pool", "add", "default", "192.0.2.10-192.0.2.29", "--state", str(state)).code == 0
    stream = tmp_path / "built.yaml"
    stream.write_text(state.read_text() + "---\n" + (repo / "app.yaml").read_text())
    before = state.read_text()
    result = cli("assign", "-f", str(stream), "--state", str(state), "--dry-run")
    assert result.code == 0, result.err
    assert state.read_text() == before
    assert result.out == "---\n" + (FIXTURES / "app.yaml.expected").read_text()
    warning = (f"lbctl: warning: {stream}:3: the state document is left out of the manifests "
               "printed (a copy would be stale once lbctl records an allocation); apply the "
               "--state file itself\n")
    assert result.err.startswith(warning)
    listed = tmp_path / "list.yaml"  # kubectl get cm,svc -o yaml: a List
    cm = yaml.safe_load(state.read_text())
    listed.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [
        cm, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "a"},
             "spec": {"type": "LoadBalancer"}}]}, sort_keys=False))
    result = cli("assign", "-f", str(listed), "--state", str(state))
    assert result.code == 0, result.err
    assert [item["kind"] for item in yaml.safe_load(result.out)["items"]] == ["Service"]
    assert "lbctl-state" not in result.out and "schemaVersion" not in result.out
    assert statefiles.document(state)["allocations"] == {
        "a": {"web": {"ips": ["192.0.2.10"], "pool": "default"}}}
    doctor = cli("doctor", "-f", str(stream), "-o", "json")
    report = json.loads(doctor.out)
    parse = next(c for c in report["checks"] if c["id"] == "state.parse")
    assert (parse["status"], parse["findings"][0]["message"]) == (
        "pass", f"state file {stream}:3: the state document is readable YAML with the known "
                "fields")


def test_assign_in_place_prints_the_summary_document(cli: Cli, repo: Path) -> None:
    state = str(repo / "lbctl-state.yaml")
    assert cli("pool", "add", "default", "192.0.2.10-192.0.2.29", "--state", state).code == 0
    result = cli("assign", "-f", str(repo), "--state", state, "--in-place", "-o", "json")
    assert result.code == 0
    assert json.loads(result.out) == {"kind": "AssignmentList", "dryRun": False, "items": [
        {"namespace": "shop", "name": "dns", "result": "pinned", "ips": ["192.0.2.11"],
         "pool": "default", "reason": "", "message": "", "hint": ""},
        {"namespace": "shop", "name": "elsewhere", "result": "skipped", "ips": [],
         "pool": None, "reason": "", "message": "loadBalancerClass example.com/cloud", "hint": ""},
        {"namespace": "shop", "name": "web", "result": "pinned", "ips": ["192.0.2.10"],
         "pool": "default", "reason": "", "message": "", "hint": ""}]}
    assert result.err == f"{repo / 'app.yaml'}: written\n2 pinned, 1 skipped\n"
    assert (repo / "app.yaml").read_text() == (FIXTURES / "app.yaml.expected").read_text()
    to_stdout = cli("assign", "-f", str(repo), "--state", state, "-o", "yaml")
    assert to_stdout.out == (FIXTURES / "app.yaml.expected").read_text()
    assert yaml.safe_load(to_stdout.err.rsplit("\n", 2)[0])["kind"] == "AssignmentList"


def test_doctor_finds_the_state_among_the_manifests(cli: Cli, repo: Path) -> None:
    state = str(repo / "lbctl-state.yaml")
    assert cli("pool", "add", "default", "192.0.2.10-192.0.2.29", "--state", state).code == 0
    assert cli("assign", "-f", str(repo), "--state", state, "--in-place").code == 0
    result = cli("doctor", "-f", str(repo), "-o", "json")
    report = json.loads(result.out)
    statuses = {check["id"]: check["status"] for check in report["checks"]}
    assert (result.code, statuses["state.parse"], statuses["svc.pending"]) == (0, "pass", "pass")
    assert report["source"] == f"2 files ({repo})"


def test_kubectl_apply_creates_the_configmap_lbctl_uses(cli: Cli, repo: Path, kubeconfig: Path,
                                                        kube_server: FakeKubeServer) -> None:
    state = str(repo / "lbctl-state.yaml")
    assert cli("pool", "add", "default", "192.0.2.10-192.0.2.29", "--state", state).code == 0
    kube_server.put_object(yaml.safe_load(Path(state).read_text()))  # kubectl apply -f k8s/
    offline = cli("pool", "list", "-o", "json", "--state", state)
    live = cli("pool", "list", "-o", "json", "--kubeconfig", str(kubeconfig))
    assert (live.code, live.out) == (0, offline.out)
    assert json.loads(live.out)["items"][0]["name"] == "default"
