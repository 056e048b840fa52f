"""``lbctl adopt``: exact output and exit codes against the fake kube-apiserver."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Cli, Result
from tests.kubefake.server import FakeKubeServer


def put(server: FakeKubeServer, name: str, *ips: str, namespace: str = "shop",
        annotations: dict[str, str] | None = None, **spec: Any) -> None:
    server.put_object({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], **spec},
        "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}},
    })


def allocations(server: FakeKubeServer) -> Any:
    obj = server.get_object("configmaps", "lbctl-state", "kube-system")
    assert obj is not None
    return yaml.safe_load(obj["data"]["state.yaml"])["allocations"]


@pytest.fixture
def run(cli: Cli, kubeconfig: Path) -> Cli:
    def invoke(*args: str) -> Result:
        return cli(*args, "--kubeconfig", str(kubeconfig))

    assert invoke("pool", "add", "default", "192.0.2.10-192.0.2.19").code == 0
    assert invoke("pool", "add", "web-only", "192.0.2.20/32", "-n", "web").code == 0
    return invoke


def test_adopt_one_then_assign_leaves_it(run: Cli, kube_server: FakeKubeServer) -> None:
    put(kube_server, "np", "192.0.2.15")
    refused = run("assign", "svc", "np", "-n", "shop")
    assert (refused.code, refused.err) == (
        4, "lbctl: error: service shop/np: status shows 192.0.2.15, which the state does not "
           "record; lbctl does not overwrite an address it did not publish\n"
           "hint: record it: lbctl adopt svc np -n shop; or, if it is stale, withdraw it: "
           "lbctl release svc np -n shop --force\n")
    dry = run("adopt", "svc", "np", "-n", "shop", "--dry-run")
    assert dry.out == "service/np adopted 192.0.2.15 (pool default) (dry run)\n"
    assert allocations(kube_server) == {}
    result = run("adopt", "svc/np", "-n", "shop")
    assert (result.code, result.out, result.err) == (
        0, "service/np adopted 192.0.2.15 (pool default)\n", "")
    assert allocations(kube_server) == {"shop": {"np": {"ips": ["192.0.2.15"],
                                                        "pool": "default"}}}
    assert run("assign", "svc", "np", "-n", "shop").out == (
        "service/np unchanged: already 192.0.2.15 (pool default)\n")
    again = run("adopt", "svc", "np", "-n", "shop", "-o", "json")
    assert json.loads(again.out) == {
        "kind": "Adoption", "namespace": "shop", "name": "np", "result": "unchanged",
        "dryRun": False, "ips": ["192.0.2.15"], "pool": "default"}


@pytest.mark.parametrize(("setup", "code", "err"), [
    ({"ips": ("198.51.100.1",)}, 4,
     "lbctl: error: 198.51.100.1 is outside every pool\n"
     "hint: lbctl pool list shows the pools; add one with lbctl pool add NAME ADDRESS...\n"),
    ({"ips": ("192.0.2.20",)}, 4,
     "lbctl: error: pool web-only does not serve shop/np (it serves namespaces web)\n"
     "hint: ask for another pool, or widen it: lbctl pool set web-only -n shop -n web\n"),
    ({"ips": ()}, 2,
     "lbctl: error: service shop/np shows no address: there is nothing to adopt\n"
     "hint: give it one: lbctl assign svc np -n shop\n"),
    ({"ips": ("192.0.2.15",), "loadBalancerClass": "example.com/other"}, 4,
     "lbctl: error: service shop/np has loadBalancerClass example.com/other; another "
     "controller owns it\nhint: lbctl serves Services without a class or with class "
     "lbctl.io/lbctl\n"),
])
def test_adopt_refusals_change_nothing(run: Cli, kube_server: FakeKubeServer,
                                       setup: dict[str, Any], code: int, err: str) -> None:
    put(kube_server, "np", *setup.pop("ips"), **setup)
    result = run("adopt", "svc", "np", "-n", "shop")
    assert (result.code, result.out, result.err) == (code, "", err)
    assert allocations(kube_server) == {}


def test_an_address_held_or_shown_by_another(run: Cli, kube_server: FakeKubeServer) -> None:
    put(kube_server, "old")
    assert run("assign", "svc", "old", "-n", "shop").code == 0  # 192.0.2.10
    assert run("release", "svc", "old", "-n", "shop", "--hold").code == 0
    put(kube_server, "np", "192.0.2.10")
    held = run("adopt", "svc", "np", "-n", "shop")
    assert (held.code, held.err) == (
        4, "lbctl: error: 192.0.2.10 is held for shop/old\n"
           "hint: lbctl release svc old -n shop drops the hold\n")
    put(kube_server, "a", "192.0.2.16")
    put(kube_server, "b", "192.0.2.16", namespace="dev")
    shown = run("adopt", "svc", "a", "-n", "shop")
    assert (shown.code, shown.err) == (
        4, "lbctl: error: 192.0.2.16 is already published by service dev/b (its "
           "status.loadBalancer.ingress shows it)\n"
           "hint: ask for another address; if that status is stale, withdraw it: lbctl release "
           "svc b -n dev --force\n")


def test_adopt_all(run: Cli, kube_server: FakeKubeServer) -> None:
    put(kube_server, "a", "192.0.2.16")
    put(kube_server, "b", "192.0.2.16", namespace="dev")  # not sharable: no sharing key
    put(kube_server, "c", "192.0.2.17", namespace="dev")
    put(kube_server, "pending")
    result = run("adopt", "--all", "-A")
    assert result.code == 1
    assert result.out == (
        "NAMESPACE   NAME   RESULT    EXTERNAL-IP   POOL      MESSAGE\n"
        "dev         b      adopted   192.0.2.16    default   -\n"
        "dev         c      adopted   192.0.2.17    default   -\n"
        "shop        a      failed    -             -         192.0.2.16 is used by dev/b, "
        "which may not share it: shop/a has no sharing key\n")
    assert result.err == (
        "hint: shop/a: give both Services the same metallb.io/allow-shared-ip key and distinct "
        "ports, or ask for another address\n"
        "2 adopted, 1 failed\n")
    assert set(allocations(kube_server)) == {"dev"}
    assert run("adopt", "--all", "-n", "dev").err == "nothing to do\n"
    assert run("adopt", "svc", "x", "--all").code == 2


def _k3s_servicelb(server: FakeKubeServer) -> None:
    """k3s with ServiceLB: Traefik's Service shows its node's address; lbctl has no state."""
    server.put_object({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
                       "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.11"}]}})
    put(server, "traefik", "10.0.0.11", namespace="kube-system")


def test_adopt_with_no_state_counts_no_nodes_address_as_lost(
        cli: Cli, kubeconfig: Path, kube_server: FakeKubeServer) -> None:
    """No state, and a Service shows a node's address (k3s ServiceLB): that is no lost state
    (lbctl never hands a node's address out, as the controller and doctor know), so adopt does
    not say the state was lost; the Service fails as one showing an address of no pool.  A
    Service showing another address is still a lost state, named alone."""
    _k3s_servicelb(kube_server)
    config = ("--kubeconfig", str(kubeconfig))
    one = cli("adopt", "svc", "traefik", "-n", "kube-system", *config)
    assert (one.code, one.out, one.err) == (
        4, "", "lbctl: error: 10.0.0.11 is outside every pool\n"
               "hint: lbctl pool list shows the pools; add one with lbctl pool add NAME "
               "ADDRESS...\n")
    every = cli("adopt", "--all", "-A", *config)
    assert (every.code, every.err) == (1, "hint: kube-system/traefik: lbctl pool list shows the "
                                          "pools; add one with lbctl pool add NAME ADDRESS...\n"
                                          "1 failed\n")
    put(kube_server, "web", "192.0.2.10")
    lost = cli("adopt", "--all", "-A", *config)
    assert (lost.code, lost.out) == (4, "")
    assert lost.err.startswith(
        "lbctl: error: ConfigMap kube-system/lbctl-state is missing, but 1 LoadBalancer Service "
        "shows addresses no state records: shop/web (192.0.2.10); ")
    assert kube_server.get_object("configmaps", "lbctl-state", "kube-system") is None


def test_adopt_with_no_state_and_no_right_to_list_nodes_refuses_to_guess(
        cli: Cli, kubeconfig: Path, kube_server: FakeKubeServer) -> None:
    """No state, a Service shows an address, and the Nodes may not be listed: adopt cannot
    tell a node's address from one lost with the state, so it refuses (exit 6, nothing
    changed) naming the permission; with no address shown it needs no Node."""
    _k3s_servicelb(kube_server)
    kube_server.deny("list", "nodes")
    config = ("--kubeconfig", str(kubeconfig))
    for args in (("svc", "traefik", "-n", "kube-system"), ("--all", "-A")):
        refused = cli("adopt", *args, *config)
        assert (refused.code, refused.out, refused.err) == (
            6, "", "lbctl: error: ConfigMap kube-system/lbctl-state is missing, and 1 "
                   "LoadBalancer Service shows addresses no state records: "
                   "kube-system/traefik (10.0.0.11); lbctl cannot tell whether they are the "
                   "Nodes' own (k3s ServiceLB publishes them) or were lost with the state: "
                   "forbidden: cannot list nodes at cluster scope\n"
                   "hint: adopt with no state needs list on nodes (lbctl rbac grants it); "
                   "kubectl auth can-i list nodes\n")
    assert kube_server.get_object("configmaps", "lbctl-state", "kube-system") is None
    put(kube_server, "traefik", namespace="kube-system")  # (ServiceLB disabled: no address)
    assert cli("adopt", "--all", "-A", *config).err == "nothing to do\n"
