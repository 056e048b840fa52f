"""``lbctl assign``: exact output and exit codes, on the fake cluster and on manifests."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests import statefiles
from tests.conftest import Cli, Result
from tests.kubefake.server import FakeKubeServer

FIXTURES = Path(__file__).parents[1] / "fixtures" / "manifests"


def put(server: FakeKubeServer, name: str, namespace: str = "shop", *,
        annotations: dict[str, str] | None = None, **spec: Any) -> None:
    server.put_object({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], **spec},
    })


def shown(server: FakeKubeServer, name: str, namespace: str = "shop") -> list[str]:
    obj = server.get_object("services", name, namespace)
    assert obj is not None
    return [i["ip"] for i in obj.get("status", {}).get("loadBalancer", {}).get("ingress", [])]


@pytest.fixture
def run(cli: Cli, kubeconfig: Path) -> Cli:
    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return cli(*args, "--kubeconfig", str(kubeconfig), env=env)

    assert invoke("pool", "add", "default", "192.0.2.10-192.0.2.12").code == 0
    return invoke


def test_assign_then_again(run: Cli, kube_server: FakeKubeServer) -> None:
    put(kube_server, "web")
    result = run("assign", "svc", "web", "-n", "shop")
    assert (result.code, result.out, result.err) == (
        0, "service/web assigned 192.0.2.10 (pool default)\n", "")
    assert shown(kube_server, "web") == ["192.0.2.10"]
    result = run("assign", "svc/web", "-n", "shop")
    assert (result.code, result.out, result.err) == (
        0, "service/web unchanged: already 192.0.2.10 (pool default)\n", "")


def test_assign_an_explicit_address_as_json(run: Cli, kube_server: FakeKubeServer) -> None:
    put(kube_server, "web")
    result = run("assign", "svc", "web", "-n", "shop", "--ip", "192.0.2.12", "-o", "json")
    assert json.loads(result.out) == {
        "kind": "Assignment", "namespace": "shop", "name": "web", "result": "assigned",
        "dryRun": False, "ips": ["192.0.2.12"], "pool": "default"}


def test_dry_run_changes_nothing(run: Cli, kube_server: FakeKubeServer) -> None:
    put(kube_server, "web")
    result = run("assign", "svc", "web", "-n", "shop", "--dry-run")
    assert result.out == "service/web assigned 192.0.2.10 (pool default) (dry run)\n"
    assert shown(kube_server, "web") == []
    assert run("svc", "list", "-n", "shop", "-o", "json").out.count('"pending"') == 1


@pytest.mark.parametrize(("setup", "args", "code", "err"), [
    ({}, ["web"], 3,
     "lbctl: error: service shop/web not found\n"
     "hint: kubectl get svc -n shop lists the Services\n"),
    ({"type": "ClusterIP"}, ["web"], 4,
     "lbctl: error: service shop/web is of type ClusterIP, not LoadBalancer\n"
     "hint: only Services of type LoadBalancer get an external address\n"),
    ({"loadBalancerClass": "example.com/cloud"}, ["web"], 4,
     "lbctl: error: service shop/web has loadBalancerClass example.com/cloud; another "
     "controller owns it\n"
     "hint: lbctl serves Services without a class or with class lbctl.io/lbctl\n"),
    ({"type": "LoadBalancer"}, ["web", "--ip", "198.51.100.1"], 4,
     "lbctl: error: 198.51.100.1 is outside every pool\n"
     "hint: lbctl pool list shows the pools; add one with lbctl pool add NAME ADDRESS...\n"),
    ({"type": "LoadBalancer"}, ["web", "--ip", "192.0.2.10"], 4,
     "lbctl: error: 192.0.2.10 is used by shop/first, which may not share it: shop/web has no "
     "sharing key\n"
     "hint: give both Services the same metallb.io/allow-shared-ip key and distinct ports, or "
     "ask for another address\n"),
    ({"type": "LoadBalancer"}, ["web", "--pool", "gold"], 3,
     "lbctl: error: pool gold not found\nhint: lbctl pool list shows the pools\n"),
])
def test_refusals(run: Cli, kube_server: FakeKubeServer, setup: dict[str, Any],
                  args: list[str], code: int, err: str) -> None:
    put(kube_server, "first")
    assert run("assign", "svc", "first", "-n", "shop").code == 0
    if setup:
        put(kube_server, "web", **setup)
    result = run("assign", "svc", *args, "-n", "shop")
    assert (result.code, result.out, result.err) == (code, "", err)


def test_exhausted_pool(run: Cli, kube_server: FakeKubeServer) -> None:
    for name in ("a", "b", "c", "d"):
        put(kube_server, name)
    assert run("assign", "svc", "--all", "-n", "shop").code == 1
    result = run("assign", "svc", "d", "-n", "shop")
    assert (result.code, result.err) == (
        4, "lbctl: error: no address for shop/d: pool default is exhausted (3 of 3 IPv4 "
           "addresses used)\n"
           "hint: add addresses (lbctl pool set default --add ADDRESS) or release unused ones "
           "(lbctl svc list)\n")


def test_forbidden_status_names_the_permission(run: Cli, kube_server: FakeKubeServer) -> None:
    put(kube_server, "web")
    kube_server.deny("patch", "services/status")
    result = run("assign", "svc", "web", "-n", "shop")
    assert (result.code, result.out, result.err) == (
        6, "", "lbctl: error: forbidden: cannot patch services/status in namespace shop\n"
               "hint: kubectl auth can-i patch services --subresource=status -n shop; the "
               "state no longer holds an address for it\n")


def test_usage_errors(run: Cli) -> None:
    assert run("assign", "web").err == (
        "lbctl: error: expected svc NAME or svc/NAME, not web\n"
        "hint: example: lbctl assign svc/web -n shop\n")
    assert run("assign", "svc", "web", "--all").code == 2
    assert run("assign", "svc", "web", "--in-place").code == 2
    assert run("assign", "-f", "x.yaml", "--ip", "192.0.2.1").code == 2


def test_assign_all_summary_and_exit_code(run: Cli, kube_server: FakeKubeServer) -> None:
    for name in ("a", "b", "c", "d"):
        put(kube_server, name)
    put(kube_server, "e", namespace="dev")
    result = run("assign", "svc", "--all", "-A")
    assert result.code == 1
    assert result.out == (
        "NAMESPACE   NAME   RESULT     EXTERNAL-IP   POOL      MESSAGE\n"
        "dev         e      assigned   192.0.2.10    default   -\n"
        "shop        a      assigned   192.0.2.11    default   -\n"
        "shop        b      assigned   192.0.2.12    default   -\n"
        "shop        c      failed     -             -         no address for shop/c: pool "
        "default is exhausted (3 of 3 IPv4 addresses used)\n"
        "shop        d      failed     -             -         no address for shop/d: pool "
        "default is exhausted (3 of 3 IPv4 addresses used)\n"
    )
    assert result.err == (
        "hint: shop/c: add addresses (lbctl pool set default --add ADDRESS) or release unused "
        "ones (lbctl svc list)\n"
        "hint: shop/d: add addresses (lbctl pool set default --add ADDRESS) or release unused "
        "ones (lbctl svc list)\n"
        "3 assigned, 2 failed\n")
    again = run("assign", "svc", "--all", "-n", "dev")
    assert (again.code, again.out, again.err) == (0, "", "nothing to do\n")


def test_assign_all_without_svc(run: Cli, kube_server: FakeKubeServer) -> None:
    """``lbctl assign --all -A``, as the svc.pending hints and the README print it."""
    put(kube_server, "a")
    put(kube_server, "e", namespace="dev")
    result = run("assign", "--all", "-A")
    assert (result.code, result.err) == (0, "2 assigned\n")
    assert (shown(kube_server, "e", "dev"), shown(kube_server, "a")) == (
        ["192.0.2.10"], ["192.0.2.11"])
    assert run("assign", "--all", "-n", "shop").err == "nothing to do\n"
    assert run("assign", "--all", "--ip", "192.0.2.12").err == (
        "lbctl: error: --all assigns every pending Service as it asks; give no --ip or --pool\n"
        "hint: lbctl assign --all -n NS (or -A)\n")


# --------------------------------------------------------------------------- offline


@pytest.fixture
def offline(cli: Cli, tmp_path: Path) -> tuple[Cli, Path]:
    """A copy of the manifest fixtures and a state file with a pool, no cluster at all."""
    shutil.copytree(FIXTURES, tmp_path / "manifests")
    state = tmp_path / "lb.yaml"
    assert cli("pool", "add", "default", "192.0.2.10-192.0.2.29", "--state", str(state)).code == 0
    return cli, tmp_path


def test_offline_to_stdout(offline: tuple[Cli, Path]) -> None:
    cli, root = offline
    state = str(root / "lb.yaml")
    result = cli("assign", "-f", str(root / "manifests" / "app.yaml"), "--state", state)
    assert result.code == 0
    assert result.out == (FIXTURES / "app.yaml.expected").read_text()
    assert result.err == (
        "NAMESPACE   NAME        RESULT    EXTERNAL-IP   POOL      MESSAGE\n"
        "shop        dns         pinned    192.0.2.11    default   -\n"
        "shop        elsewhere   skipped   -             -         loadBalancerClass "
        "example.com/cloud\n"
        "shop        web         pinned    192.0.2.10    default   -\n"
        "2 pinned, 1 skipped\n"
    )
    assert (root / "manifests" / "app.yaml").read_text() == (FIXTURES / "app.yaml").read_text()
    allocations = statefiles.document(root / "lb.yaml")["allocations"]
    assert allocations == {"shop": {
        "dns": {"ips": ["192.0.2.11"], "pool": "default", "sharingKey": "dns",
                "ports": ["UDP/53"], "backend": ""},
        "web": {"ips": ["192.0.2.10"], "pool": "default"}}}


def test_offline_in_place_directory_is_idempotent(offline: tuple[Cli, Path]) -> None:
    cli, root = offline
    state = str(root / "lb.yaml")
    directory = root / "manifests"
    result = cli("assign", "-f", str(directory), "--state", state, "--in-place", "-n", "dev")
    assert result.code == 1  # folded.yaml cannot be edited safely
    assert result.out == ""
    assert result.err == (
        f"{directory / 'app.yaml'}: written\n"
        f"{directory / 'flow.yaml'}: written\n"
        f"{directory / 'list.yaml'}: written\n"
        f"{directory / 'nested' / 'more.yml'}: written\n"
        "NAMESPACE   NAME        RESULT      EXTERNAL-IP   POOL      MESSAGE\n"
        "dev         admin       pinned      192.0.2.13    default   -\n"
        "dev         api         failed      -             -         no address for dev/api: "
        "pool default has no IPv6 addresses\n"
        "dev         more        pinned      192.0.2.14    default   -\n"
        "shop        compact     pinned      192.0.2.12    default   -\n"
        "shop        dns         pinned      192.0.2.11    default   -\n"
        "shop        elsewhere   skipped     -             -         loadBalancerClass "
        "example.com/cloud\n"
        f"shop        folded      failed      -             -         {directory / 'folded.yaml'}"
        ":1: its metadata.name is not a one-line value\n"
        "shop        legacy      unchanged   192.0.2.20    default   -\n"
        "shop        older       unchanged   192.0.2.21    default   -\n"
        "shop        web         pinned      192.0.2.10    default   -\n"
        "hint: dev/api: add a pool with addresses of the Service's IP family\n"
        "hint: shop/folded: write the annotation metallb.io/loadBalancerIPs by hand\n"
        "2 failed, 5 pinned, 1 skipped, 2 unchanged\n"
    )
    assert (directory / "app.yaml").read_text() == (FIXTURES / "app.yaml.expected").read_text()
    assert (directory / "folded.yaml").read_text() == (FIXTURES / "folded.yaml").read_text()
    written = {p: p.read_text() for p in directory.rglob("*") if p.is_file()}
    state_text = (root / "lb.yaml").read_text()
    again = cli("assign", "-f", str(directory), "--state", state, "--in-place", "-n", "dev")
    assert "written" not in again.err
    assert {p: p.read_text() for p in directory.rglob("*") if p.is_file()} == written
    assert (root / "lb.yaml").read_text() == state_text


def test_offline_from_stdin(offline: tuple[Cli, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    cli, root = offline
    text = (FIXTURES / "nested" / "more.yml").read_text()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    result = cli("assign", "-f", "-", "--state", str(root / "lb.yaml"), "--dry-run")
    assert result.out == text.replace(
        "  name: more\n", "  name: more\n  annotations:\n    metallb.io/loadBalancerIPs: "
                         "192.0.2.10\n")
    assert result.err.endswith("1 pinned (dry run)\n")
    assert "allocations: {}" in (root / "lb.yaml").read_text()


def test_offline_in_place_dry_run_shows_a_diff(offline: tuple[Cli, Path]) -> None:
    cli, root = offline
    path = root / "manifests" / "nested" / "more.yml"
    result = cli("assign", "-f", str(path), "--state", str(root / "lb.yaml"), "--in-place",
                 "--dry-run")
    label = str(path).lstrip("/")
    assert result.out == (
        f"--- a/{label}\n+++ b/{label}\n@@ -2,6 +2,8 @@\n kind: Service\n metadata:\n"
        "   name: more\n+  annotations:\n+    metallb.io/loadBalancerIPs: 192.0.2.10\n"
        " spec:\n   type: LoadBalancer\n   ports:\n")
    assert path.read_text() == (FIXTURES / "nested" / "more.yml").read_text()


def test_offline_errors(offline: tuple[Cli, Path]) -> None:
    cli, root = offline
    state = str(root / "lb.yaml")
    missing = cli("assign", "-f", str(root / "nope.yaml"), "--state", state)
    assert (missing.code, missing.err) == (
        3, f"lbctl: error: {root / 'nope.yaml'} does not exist\n"
           "hint: give files, directories, or - for stdin, with -f\n")
    (root / "bad.yaml").write_text("a: [\n")
    bad = cli("assign", "-f", str(root / "bad.yaml"), "--state", state)
    assert (bad.code, bad.err) == (
        2, f"lbctl: error: {root / 'bad.yaml'}:2:1: not valid YAML: did not find expected "
           "node content\nhint: fix the file; lbctl changed nothing\n")
    assert cli("assign", "-f", "-", "--in-place", "--state", state).code == 2


def test_a_directory_contributes_what_doctor_reads(cli: Cli, tmp_path: Path) -> None:
    """assign -f and doctor -f read the same files (*.yaml, *.yml, *.json, as kubectl does): a
    JSON Service is pinned as JSON, the state document kept beside the manifests (the README's
    GitOps layout) is recognised, other files are left out."""
    (tmp_path / "k8s").mkdir()
    service = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: {}\n  namespace: shop\n"
               "spec:\n  type: LoadBalancer\n  ports:\n  - port: 80\n")
    (tmp_path / "k8s" / "web.yaml").write_text(service.format("web"))
    as_json = ('{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", '
               '"namespace": "shop"}, "spec": {"type": "LoadBalancer"}}\n')
    (tmp_path / "k8s" / "api.json").write_text(as_json)
    (tmp_path / "k8s" / "notes.txt").write_text("not: [yaml\n")
    state = str(tmp_path / "k8s" / "lbctl-state.yaml")
    cli("pool", "add", "default", "192.0.2.10-192.0.2.19", "--state", state)
    result = cli("assign", "-f", str(tmp_path / "k8s"), "--state", state, "--in-place")
    assert result.code == 0, result.err
    assert "metallb.io/loadBalancerIPs: 192.0.2.11" in (tmp_path / "k8s" / "web.yaml").read_text()
    pinned = (tmp_path / "k8s" / "api.json").read_text()
    assert pinned == as_json.replace(
        '{"name"', '{"annotations": {"metallb.io/loadBalancerIPs": "192.0.2.10"}, "name"')
    assert json.loads(pinned)["metadata"]["annotations"] == {
        "metallb.io/loadBalancerIPs": "192.0.2.10"}
    doctor = cli("doctor", "-f", str(tmp_path / "k8s"), "-o", "json")
    assert doctor.code == 0, doctor.err
    assert json.loads(doctor.out)["source"].startswith("3 files (")


@pytest.mark.parametrize("text", [
    "just text\n",
    "kind: Service\nmetadata: {name: a}\nspec: {type: LoadBalancer}\n",
    "apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {type: loadbalancer}\n",
], ids=["scalar", "no-apiversion", "lowercase-type"])
def test_assign_and_doctor_say_the_same_about_what_is_not_an_object(
        cli: Cli, tmp_path: Path, text: str) -> None:
    """A document that is not a Kubernetes object is never skipped silently: assign -f,
    doctor -f and pool import -f refuse it with the same words (kubectl apply refuses it too)."""
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "web.yaml").write_text(text)
    state = str(tmp_path / "lb.yaml")
    cli("pool", "add", "default", "192.0.2.10-192.0.2.19", "--state", state)
    before = Path(state).read_bytes()
    assign = cli("assign", "-f", str(tmp_path / "k8s"), "--state", state)
    doctor = cli("doctor", "-f", str(tmp_path / "k8s"), "--state", state)
    imported = cli("pool", "import", "metallb", "-f", str(tmp_path / "k8s"), "--state", state)
    assert assign.code == doctor.code == imported.code == 2
    assert assign.err == doctor.err == imported.err
    assert assign.err.startswith(f"lbctl: error: {tmp_path / 'k8s' / 'web.yaml'}:")
    assert Path(state).read_bytes() == before
