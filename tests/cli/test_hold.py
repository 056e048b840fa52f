"""``lbctl hold list`` and holds that expire (``release --hold-for``): exact output, exit codes,
against the fake apiserver and on a state file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests import statefiles
from tests.conftest import Cli, Result
from tests.kubefake.server import FakeKubeServer


def put(server: FakeKubeServer, name: str, namespace: str = "shop") -> None:
    server.put_object({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
    })


@pytest.fixture
def run(cli: Cli, kubeconfig: Path, kube_server: FakeKubeServer) -> Cli:
    def invoke(*args: str) -> Result:
        return cli(*args, "--kubeconfig", str(kubeconfig))

    assert invoke("pool", "add", "default", "192.0.2.10-192.0.2.11").code == 0
    for name in ("web", "api"):
        put(kube_server, name)
        assert invoke("assign", "svc", name, "-n", "shop").code == 0
    return invoke


def test_hold_for_then_list(run: Cli) -> None:
    result = run("release", "svc", "web", "-n", "shop", "--hold-for", "1h")
    assert result.code == 0
    assert re.fullmatch(r"service/web released 192\.0\.2\.10, held for shop/web until "
                        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n", result.out), result.out
    until = result.out.split("until ")[1].strip()
    assert run("release", "svc", "api", "-n", "shop", "--hold").code == 0
    listed = run("hold", "list")
    assert re.fullmatch(  # 60m, or 59m when the second turned in between
        "NAMESPACE   NAME   IPS          POOL      EXPIRES\n"
        "shop        api    192.0.2.11   default   never\n"
        f"shop        web    192.0.2.10   default   {until} \\(in (60|59)m\\)\n", listed.out)
    doc = json.loads(run("hold", "list", "-o", "json").out)
    assert doc == {"kind": "HoldList", "items": [
        {"namespace": "shop", "name": "api", "ips": ["192.0.2.11"], "pool": "default",
         "expires": None, "expired": False},
        {"namespace": "shop", "name": "web", "ips": ["192.0.2.10"], "pool": "default",
         "expires": until, "expired": False}]}
    assert run("hold", "list", "-o", "name", "-n", "shop").out == "hold/shop/api\nhold/shop/web\n"
    empty = run("hold", "list", "-n", "dev")
    assert (empty.code, empty.out, empty.err) == (
        0, "", "no holds in ConfigMap kube-system/lbctl-state\n")


def test_a_bad_duration_changes_nothing(run: Cli, kube_server: FakeKubeServer) -> None:
    result = run("release", "svc", "web", "-n", "shop", "--hold-for", "soon")
    assert (result.code, result.err) == (
        2, "lbctl: error: invalid duration 'soon'\nhint: write it like 30m, 1h, 1h30m or 7d\n")
    obj = kube_server.get_object("services", "web", "shop")
    assert obj is not None and obj["status"]["loadBalancer"]["ingress"] == [{"ip": "192.0.2.10"}]


# --------------------------------------------------------------------------- on a state file


SERVICE = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: {}\n  namespace: shop\n"
           "spec:\n  type: LoadBalancer\n")


def test_an_expired_hold_is_free(cli: Cli, tmp_path: Path) -> None:
    state = tmp_path / "lb.yaml"
    state.write_text(
        "schemaVersion: 1\npools:\n  default: {addresses: [192.0.2.10/32]}\n"
        "holds:\n  shop:\n    old: {ips: [192.0.2.10], pool: default, "
        "expires: '2020-01-01T00:00:00Z'}\n")
    listed = cli("hold", "list", "--state", str(state))
    assert listed.out == (
        "NAMESPACE   NAME   IPS          POOL      EXPIRES\n"
        "shop        old    192.0.2.10   default   2020-01-01T00:00:00Z (expired: free)\n")
    (tmp_path / "web.yaml").write_text(SERVICE.format("web"))
    result = cli("assign", "-f", str(tmp_path / "web.yaml"), "--state", str(state))
    assert result.code == 0, result.err
    assert "metallb.io/loadBalancerIPs: 192.0.2.10" in result.out
    loaded = statefiles.document(state)
    assert loaded["holds"] == {}  # the ended hold is forgotten with the write
    assert loaded["allocations"] == {"shop": {"web": {"ips": ["192.0.2.10"],
                                                      "pool": "default"}}}


def test_hold_for_on_a_held_service_sets_a_new_end(cli: Cli, tmp_path: Path) -> None:
    state = str(tmp_path / "lb.yaml")
    cli("pool", "add", "default", "192.0.2.10/32", "--state", state)
    (tmp_path / "web.yaml").write_text(SERVICE.format("web"))
    assert cli("assign", "-f", str(tmp_path / "web.yaml"), "--state", state).code == 0
    assert cli("release", "svc", "web", "-n", "shop", "--hold", "--state", state).code == 0
    again = cli("release", "svc", "web", "-n", "shop", "--hold", "--state", state)
    assert again.out == "service/web unchanged: 192.0.2.10 already held\n"
    renewed = cli("release", "svc", "web", "-n", "shop", "--hold-for", "2d", "--state", state)
    assert renewed.out.startswith("service/web released 192.0.2.10, held for shop/web until ")
    assert "expires:" in Path(state).read_text()


def test_pool_usage_counts_no_ended_hold(cli: Cli, tmp_path: Path) -> None:
    state = tmp_path / "lb.yaml"
    state.write_text(
        "schemaVersion: 1\npools:\n  default: {addresses: [192.0.2.10/31]}\n"
        "holds:\n  shop:\n    old: {ips: [192.0.2.10], pool: default, "
        "expires: '2020-01-01T00:00:00Z'}\n    kept: {ips: [192.0.2.11], pool: default}\n")
    usage = json.loads(cli("pool", "show", "default", "-o", "json", "--state", str(state)).out)
    assert (usage["usage"], [h["name"] for h in usage["holds"]]) == (
        [{"family": "IPv4", "used": 1, "free": 1, "capacity": 2}], ["kept"])
