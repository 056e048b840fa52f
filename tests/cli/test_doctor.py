"""``lbctl doctor``: exit codes (the same in every format), the table, JSON and JUnit outputs,
offline on the examples and live on the fake kube-apiserver."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from lbctl.cli.context import App
from lbctl.doctor import checks
from tests.conftest import Cli
from tests.doctor.clusters import EXAMPLES, METALLB, seed
from tests.doctor.test_probe import ONE, FakeAnnouncer
from tests.kubefake import FakeKubeServer

FORMATS = ("table", "json", "yaml", "junit")


def _example(name: str) -> str:
    return str(EXAMPLES / name)


_TABLE_RANK = ["SKIP", "PASS", "INFO", "WARN", "FAIL"]
_TABLE_STATUS = {"SKIP": "skip", "PASS": "pass", "INFO": "info", "WARN": "warning",
                 "FAIL": "error"}


def _statuses(fmt: str, out: str) -> dict[str, str]:
    """check ID -> status, read back from any format (JUnit knows only fail/skip/ok)."""
    if fmt == "table":
        worst: dict[str, str] = {}
        current = ""
        for line in out.splitlines():
            parts = line.split()
            if line.startswith("  ") and parts and parts[0] in _TABLE_STATUS:
                current = parts[1] if len(parts) > 1 and parts[1] in checks.IDS else current
                worst[current] = max(worst.get(current, "SKIP"), parts[0],
                                     key=_TABLE_RANK.index)
        return {check: _TABLE_STATUS[label] for check, label in worst.items()}
    if fmt == "junit":
        root = ET.fromstring(out)
        return {c.get("name", ""): "fail" if c.find("failure") is not None else
                "skip" if c.find("skipped") is not None else "ok" for c in root.iter("testcase")}
    doc = json.loads(out) if fmt == "json" else yaml.safe_load(out)
    assert (doc["apiVersion"], doc["kind"]) == ("lbctl.io/v1", "DoctorReport")
    return {check["id"]: check["status"] for check in doc["checks"]}


def _failing(statuses: dict[str, str]) -> set[str]:
    return {check for check, status in statuses.items() if status in ("error", "fail")}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("example", "code"), [("clean", 0), ("broken", 1), ("snapshot", 1),
                                               ("broken-state", 1)])
def test_exit_code_is_the_same_in_every_format(cli: Cli, example: str, code: int,
                                               fmt: str) -> None:
    result = cli("doctor", "-f", _example(example), "-o", fmt)
    assert (result.code, result.err) == (code, "")
    statuses = _statuses(fmt, result.out)
    assert sorted(statuses) == sorted(checks.IDS)
    reference = _statuses("json", cli("doctor", "-f", _example(example), "-o", "json").out)
    assert _failing(statuses) == _failing(reference)
    assert bool(_failing(statuses)) is bool(code)


@pytest.fixture
def warnings_only(tmp_path: Path) -> str:
    """The clean example plus one Service that is pending but can be served: a warning."""
    directory = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "clean", directory)
    (directory / "apps" / "blog.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: blog, namespace: web}\n"
        "spec: {type: LoadBalancer, ports: [{port: 80}]}\n")
    return str(directory)


@pytest.mark.parametrize("fmt", FORMATS)
def test_fail_on_warning(cli: Cli, warnings_only: str, fmt: str) -> None:
    assert cli("doctor", "-f", warnings_only, "-o", fmt).code == 0
    assert cli("doctor", "-f", warnings_only, "-o", fmt, "--fail-on", "warning").code == 1
    assert cli("doctor", "-f", warnings_only, "-o", fmt, "--fail-on", "warning",
               "--skip", "svc.pending").code == 0


def test_table(cli: Cli, warnings_only: str) -> None:
    result = cli("doctor", "-f", warnings_only, "--skip", "state", "--skip", "pool",
                 "--skip", "impl", "--skip", "kube-proxy", "--skip", "net")
    assert result.code == 0
    assert result.out == f"""\
lbctl doctor: offline, 6 files ({warnings_only})

STATE
  SKIP  state.parse                skipped with --skip
  SKIP  state.schema               skipped with --skip
  SKIP  state.pool-overlap         skipped with --skip
  SKIP  state.shared-ip            skipped with --skip
  SKIP  state.outside-pool         skipped with --skip
  SKIP  state.consistency          skipped with --skip
  SKIP  state.missing              skipped with --skip

POOL
  SKIP  pool.node-overlap          skipped with --skip
  SKIP  pool.pod-cidr-overlap      skipped with --skip
  SKIP  pool.cluster-ip-overlap    skipped with --skip
  SKIP  pool.buggy-ips             skipped with --skip
  SKIP  pool.utilisation           skipped with --skip
  SKIP  pool.exhausted             skipped with --skip

SVC
  WARN  svc.pending                service web/blog is pending; the allocator would give it \
192.168.10.34 from pool default
                                   hint: pin it: lbctl assign -f {warnings_only} --state \
{warnings_only}/lbctl-state.yaml --in-place
  PASS  svc.drift                  every LoadBalancer Service shows what the state records
  PASS  svc.orphan                 every allocation belongs to a Service (2 allocations)
  PASS  svc.pinned                 every Service asks for what the state records for it
  PASS  svc.outside-pools          every published address lies in a pool
  PASS  svc.shared-ip              no address is shown by two Services that may not share it
  PASS  svc.requested-ip           every requested address lies in a pool
  SKIP  svc.local-no-endpoints     no EndpointSlices among the files (readiness is known only \
on a cluster)
  PASS  svc.deprecated-annotation  no Service uses a metallb.universe.tf/ annotation

KUBE-PROXY
  SKIP  kube-proxy.strict-arp      skipped with --skip

IMPL
  SKIP  impl.metallb               skipped with --skip
  SKIP  impl.kube-vip              skipped with --skip
  SKIP  impl.servicelb             skipped with --skip
  SKIP  impl.openelb               skipped with --skip
  SKIP  impl.purelb                skipped with --skip
  SKIP  impl.cilium                skipped with --skip

BGP
  PASS  bgp.unheard                no pool is announced over BGP
  PASS  bgp.calico-peers           lbctl has no BGP peers
  PASS  bgp.calico-service-ips     Calico announces no LoadBalancer addresses (no \
serviceLoadBalancerIPs)

RBAC
  SKIP  rbac.permissions           offline: no cluster to ask

CONTROLLER
  SKIP  controller.leader          offline: no cluster to ask

NET
  SKIP  net.probe                  skipped with --skip

35 checks: 1 warning, 10 passed, 24 skipped. Result: OK (--fail-on error)
"""


def test_output_before_the_command(cli: Cli) -> None:
    result = cli("-o", "json", "doctor", "-f", _example("clean"))
    assert result.code == 0
    assert json.loads(result.out)["summary"]["result"] == "pass"
    result = cli("-o", "wide", "doctor", "-f", _example("clean"))
    assert (result.code, result.out) == (2, "")
    assert "-o wide is not supported here" in result.err


@pytest.mark.parametrize(("args", "message", "code"), [
    (("--skip", "svc.orphans"), "lbctl: error: unknown check 'svc.orphans' in --skip", 2),
    (("-f", "no/such/dir"), "lbctl: error: no/such/dir does not exist", 3),
    (("-o", "xml"), "'xml' is not one of", 2),
])
def test_usage_errors(cli: Cli, args: tuple[str, ...], message: str, code: int) -> None:
    result = cli("doctor", "-f", _example("clean"), *args)
    assert (result.code, result.out) == (code, "")
    assert message in result.err


def test_state_file_alone(cli: Cli) -> None:
    result = cli("doctor", "--state", _example("broken-state") + "/lbctl-state.yaml",
                 "-o", "json")
    assert result.code == 1
    doc = json.loads(result.out)
    assert (doc["mode"], doc["source"]) == ("offline", "the state file alone")
    statuses = {c["id"]: c["status"] for c in doc["checks"]}
    assert statuses["state.pool-overlap"] == "error"
    assert statuses["svc.pending"] == "skip"


def test_help_shows_an_example(cli: Cli) -> None:
    result = cli("doctor", "--help")
    assert result.code == 0
    assert "Example: lbctl doctor -f ./k8s --state ./lb.yaml -o junit > doctor.xml" in result.out


# --------------------------------------------------------------------------- live


@pytest.mark.parametrize("fmt", FORMATS)
def test_live_cluster(cli: Cli, kube_server: FakeKubeServer, kubeconfig: Path,
                      fmt: str) -> None:
    seed(kube_server, "broken", extra=METALLB)
    result = cli("doctor", "--kubeconfig", str(kubeconfig), "-o", fmt)
    assert (result.code, result.err) == (1, "")
    statuses = _statuses(fmt, result.out)
    assert statuses["rbac.permissions"] in ("pass", "ok")
    assert statuses["impl.metallb"] in ("warning", "ok")
    assert _failing(statuses) == {"pool.node-overlap", "pool.pod-cidr-overlap",
                                  "pool.cluster-ip-overlap", "pool.exhausted", "svc.pending",
                                  "svc.requested-ip", "svc.pinned", "kube-proxy.strict-arp",
                                  "bgp.unheard", "bgp.calico-peers",
                                  "bgp.calico-service-ips"}


def test_live_clean_cluster_passes(cli: Cli, kube_server: FakeKubeServer,
                                   kubeconfig: Path) -> None:
    seed(kube_server, "clean", publish=True)
    result = cli("doctor", "--kubeconfig", str(kubeconfig), "--skip", "svc.local-no-endpoints",
                 "-o", "json")
    assert result.code == 0, result.out
    assert json.loads(result.out)["source"] == "context (current), Kubernetes v1.30.4"


def test_unreachable_cluster(cli: Cli, tmp_path: Path) -> None:
    with FakeKubeServer() as server:
        path = server.write_kubeconfig(tmp_path / "kubeconfig")
    result = cli("doctor", "--kubeconfig", str(path))
    assert (result.code, result.out) == (7, "")


def test_probe(cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    announcer = FakeAnnouncer({"192.168.10.32": (ONE,)})
    monkeypatch.setattr(App, "announcer", lambda self: announcer)
    state = _example("clean") + "/lbctl-state.yaml"
    result = cli("doctor", "--state", state, "--probe", "-i", "eth1", "--timeout", "0.2",
                 "-o", "json")
    assert result.code == 1
    probe = next(c for c in json.loads(result.out)["checks"] if c["id"] == "net.probe")
    assert [f["message"] for f in probe["findings"]] == [
        "service shop/cart: 192.168.10.33: nobody answered; no node announces it (is it "
        "assigned, and is the node or speaker that should hold it up?)"]
    assert announcer.asked == [(["192.168.10.33", "192.168.10.32"], "eth1", 0.2)]
