"""``lbctl controller`` options and ``lbctl controller status`` against the fake apiserver."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from lbctl.cli import controller as command
from lbctl.cli.context import App
from lbctl.core import names
from lbctl.core.leases import format_micro_time
from lbctl.errors import keep_secret
from tests.conftest import Cli
from tests.kubefake.server import FakeKubeServer


def test_the_defaults_are_the_permission_lists_names() -> None:
    assert (command.SYSTEM_NAMESPACE, command.CONTROLLER_LEASE, command.CONTROLLER) == (
        names.SYSTEM_NAMESPACE, names.CONTROLLER_LEASE, names.CONTROLLER)


def test_default_identity() -> None:
    assert command.default_identity({"POD_NAME": "lbctl-controller-abc"}) == (
        "lbctl-controller-abc")
    assert command.default_identity({}).rsplit("_", 1)[1].isdigit()


def test_log_lines_as_text_and_json() -> None:
    """One line per call, with its fields; a credential never shows; an unknown level is
    info."""
    keep_secret("s3cr3t-token-value")
    text, as_json = io.StringIO(), io.StringIO()
    command.make_log(command.LogFormat.text, text)(
        "warning", "could not use s3cr3t-token-value", {"service": "shop/web", "hint": ""})
    command.make_log(command.LogFormat.text, text)("info", "assigned", {"hint": "h"})
    first, second = text.getvalue().splitlines()
    assert first.endswith(" warning could not use *** service=shop/web")
    assert datetime.strptime(first.split()[0], "%Y-%m-%dT%H:%M:%SZ")
    assert second.endswith(" info    assigned hint=h")
    command.make_log(command.LogFormat.json, as_json)(
        "debug", "assigned 192.0.2.10", {"ips": ["192.0.2.10"], "at": datetime(2026, 1, 1)})
    line = json.loads(as_json.getvalue())
    assert line["level"] == "info" and line["msg"] == "assigned 192.0.2.10"
    assert line["ips"] == ["192.0.2.10"] and line["at"] == "2026-01-01 00:00:00"
    assert line["time"].endswith("Z")


def test_a_log_that_cannot_be_written_does_not_stop_the_caller() -> None:
    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    command.make_log(command.LogFormat.json, Full())("error", "lost", {})


def lease(server: FakeKubeServer, holder: str, renewed: datetime) -> None:
    server.put_object({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "lbctl-controller", "namespace": "kube-system"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15,
                 "acquireTime": format_micro_time(renewed - timedelta(minutes=5)),
                 "renewTime": format_micro_time(renewed), "leaseTransitions": 2}})


def pod(server: FakeKubeServer, name: str, ready: bool) -> None:
    server.put_object({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "kube-system",
                     "labels": {"app.kubernetes.io/name": "lbctl-controller"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "lbctl"}]},
        "status": {"phase": "Running",
                   "conditions": [{"type": "Ready", "status": str(ready)}]}})


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The commands' clock, stopped: a Lease renewed a minute before it is 60s old however
    long a loaded machine takes between writing the Lease and reading it."""
    stopped = datetime.now(timezone.utc).replace(microsecond=0)
    monkeypatch.setattr(App, "now", lambda self: stopped)
    return stopped


def test_status_with_a_leader(cli: Cli, kube_server: FakeKubeServer, kubeconfig: Path,
                              now: datetime) -> None:
    lease(kube_server, "ctl-a", now)
    pod(kube_server, "ctl-a", True)
    pod(kube_server, "ctl-b", False)
    result = cli("--kubeconfig", str(kubeconfig), "controller", "status")
    assert (result.code, result.err) == (0, "")
    lines = result.out.splitlines()
    assert lines[0] == "Lease:         kube-system/lbctl-controller"
    assert lines[1].startswith("Leader:        ctl-a (for 5m")
    assert lines[2:] == ["Transitions:   2",
                         "Replicas:      ctl-a (Running, ready, leader), ctl-b (Running)"]
    doc = json.loads(cli("--kubeconfig", str(kubeconfig), "controller", "status",
                         "-o", "json").out)
    assert (doc["kind"], doc["holder"], doc["leading"], doc["leaseTransitions"]) == (
        "ControllerStatus", "ctl-a", True, 2)
    assert doc["replicas"][0] == {"name": "ctl-a", "phase": "Running", "ready": True,
                                  "node": "n1", "leader": True}


def test_status_without_a_leader_exits_1(cli: Cli, kube_server: FakeKubeServer,
                                         kubeconfig: Path, now: datetime) -> None:
    result = cli("--kubeconfig", str(kubeconfig), "controller", "status")
    assert result.code == 1
    assert result.out.splitlines()[1] == (
        "Leader:     none: Lease kube-system/lbctl-controller does not exist (no controller "
        "has run)")
    lease(kube_server, "ctl-a", now - timedelta(minutes=1))
    result = cli("--kubeconfig", str(kubeconfig), "controller", "status")
    assert result.code == 1
    assert result.out.splitlines()[1] == "Leader:        none: ctl-a stopped renewing 60s ago"


def test_controller_refuses_a_state_file(cli: Cli, kubeconfig: Path, tmp_path: Path) -> None:
    result = cli("--kubeconfig", str(kubeconfig), "--state", str(tmp_path / "s.yaml"),
                 "controller")
    assert (result.code, result.out) == (2, "")
    assert result.err == ("lbctl: error: the controller keeps its state in the ConfigMap "
                          "kube-system/lbctl-state, not in a file\n"
                          "hint: drop --state (and unset LBCTL_STATE)\n")


def test_global_flags_after_the_group_name(cli: Cli, kubeconfig: Path, tmp_path: Path) -> None:
    # As the speaker and every other group: `lbctl controller --kubeconfig K --state S`.
    result = cli("controller", "--kubeconfig", str(kubeconfig), "--state", str(tmp_path / "s"))
    assert (result.code, result.out) == (2, "")
    assert result.err.startswith("lbctl: error: the controller keeps its state in the ConfigMap")
    missing = cli("controller", "--kubeconfig", str(tmp_path / "none"))
    assert missing.err.startswith("lbctl: error: no Kubernetes configuration found (looked in "
                                  f"{tmp_path / 'none'})"), missing.err


def test_bad_metrics_address(cli: Cli, kubeconfig: Path) -> None:
    result = cli("--kubeconfig", str(kubeconfig), "controller", "--metrics-addr", "nonsense")
    assert (result.code, result.out) == (2, "")
    assert result.err.startswith("lbctl: error: invalid --metrics-addr 'nonsense'")


def test_svc_show_says_whether_a_controller_serves_the_service(
        cli: Cli, kube_server: FakeKubeServer, kubeconfig: Path, now: datetime) -> None:
    from tests.actions.test_services import put

    put(kube_server, "web", "shop")
    put(kube_server, "other", "shop", loadBalancerClass="example.com/other")
    show = ("--kubeconfig", str(kubeconfig), "svc", "show", "-n", "shop")
    line = next(x for x in cli(*show, "web").out.splitlines() if x.startswith("Controller:"))
    assert line == ("Controller:       none runs: only lbctl assign and reconcile give it an "
                    "address")
    lease(kube_server, "ctl-a", now)
    line = next(x for x in cli(*show, "web").out.splitlines() if x.startswith("Controller:"))
    assert line == ("Controller:       ctl-a serves it (leader of the Lease "
                    "kube-system/lbctl-controller)")
    doc = json.loads(cli(*show, "web", "-o", "json").out)
    assert doc["controller"] == {"leader": "ctl-a", "serving": True}
    doc = json.loads(cli(*show, "other", "-o", "json").out)
    assert doc["controller"] == {"leader": "ctl-a", "serving": False}
    kube_server.deny("get", "leases")
    line = next(x for x in cli(*show, "web").out.splitlines() if x.startswith("Controller:"))
    assert line.startswith("Controller:       unknown (cannot read the Lease "
                           "kube-system/lbctl-controller: forbidden")


def test_status_without_permission_to_list_pods(cli: Cli, kube_server: FakeKubeServer,
                                                kubeconfig: Path, now: datetime) -> None:
    lease(kube_server, "ctl-a", now)
    kube_server.deny("list", "pods")
    result = cli("--kubeconfig", str(kubeconfig), "controller", "status")
    assert result.code == 0
    assert result.out.splitlines()[-1] == (
        "Replicas:      unknown (forbidden: cannot list pods in namespace kube-system)")


def test_metrics_in_prometheus_format() -> None:
    from prometheus_client.exposition import generate_latest

    from lbctl.controller.metrics import Metrics

    metrics = Metrics()
    metrics.set_usage([("default", 4, 3, 10), ("v6", 6, 1, 2**64)])
    metrics.allocated("assigned")
    metrics.failed("PoolExhausted", 2)
    metrics.watch_restarted("services", "expired")
    metrics.published(0.07)
    metrics.published(3.0)
    metrics.leading(True)
    metrics.transaction()
    text = generate_latest(command.registry(metrics)).decode()
    for line in (
            'lbctl_allocator_addresses_in_use_total{family="IPv4",pool="default"} 3.0',
            'lbctl_allocator_addresses_total{family="IPv6",pool="v6"} 1.8446744073709552e+19',
            'lbctl_allocations_total{result="assigned"} 1.0',
            'lbctl_allocation_failures_total{reason="PoolExhausted"} 2.0',
            'lbctl_watch_restarts_total{reason="expired",resource="services"} 1.0',
            'lbctl_publication_seconds_bucket{le="0.1"} 1.0',
            'lbctl_publication_seconds_bucket{le="5.0"} 2.0',
            'lbctl_publication_seconds_count 2.0',
            "lbctl_leader 1.0",
            "lbctl_leader_transitions_total 1.0",
            "lbctl_state_transactions_total 1.0"):
        assert line in text.splitlines(), line
