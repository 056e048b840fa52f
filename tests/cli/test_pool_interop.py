"""``lbctl pool import`` and ``lbctl pool export``: files, stdin, the cluster, and round trips.

Offline tests use ``--state`` files; cluster tests use the fake kube-apiserver, where the state
lives in the ConfigMap ``kube-system/lbctl-state``.  The fake serves only built-in kinds, so the
tests that need MetalLB's CRDs install them with :func:`metallb_crds` (as installing MetalLB
would on a real cluster).
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lbctl.core import interop as interop_core
from tests import statefiles
from tests.conftest import Cli
from tests.kubefake import FakeKubeServer
from tests.kubefake import resources as fake_resources

FIXTURES = Path(__file__).parent.parent / "fixtures" / "interop"
LEGACY = str(FIXTURES / "metallb-configmap.yaml")
CRDS = str(FIXTURES / "metallb-crds.yaml")
KUBEVIP = str(FIXTURES / "kubevip-configmap.yaml")
SERVICES = str(FIXTURES / "services.yaml")

LEGACY_WARNINGS = ""  # its peers, communities and BGP pool are all imported
ELSEWHERE = (
    "lbctl: error: service shop/elsewhere holds 203.0.113.7, which is in no imported pool\n"
    "hint: import (or lbctl pool add) the pool that holds it, then import again\n"
)


def no_pool(ref: str, ip: str) -> str:
    return (f"lbctl: error: service {ref} holds {ip}, which is in no imported pool\n"
            "hint: import (or lbctl pool add) the pool that holds it, then import again\n")


LEGACY_IMPORTED = (
    "bgppeer/10.0.0.1 imported\n"
    "pool/default imported\n"
    "pool/reserved imported\n"
    "pool/bgp-pool imported\n"
    "service/dns-tcp -n infra adopted 192.168.1.240 (pool default)\n"
    "service/dns-udp -n infra adopted 192.168.1.240 (pool default)\n"
    "service/web -n shop adopted 192.168.1.241 (pool default)\n"
)
LEGACY_STATE = """\
schemaVersion: 1
pools:
  bgp-pool:
    addresses: [198.51.100.0/24]
    autoAssign: true
    avoidBuggyIPs: false
    announce: bgp
    bgp: {aggregationLength: 32, aggregationLengthV6: 128, localPref: 100, communities: \
['65535:65282']}
  default:
    addresses: [192.168.1.240-192.168.1.250]
    autoAssign: true
    avoidBuggyIPs: false
  reserved:
    addresses: [192.168.144.0/20]
    autoAssign: false
    avoidBuggyIPs: true
allocations:
  infra:
    dns-tcp: {ips: [192.168.1.240], pool: default, sharingKey: dns, ports: [TCP/53], backend: ''}
    dns-udp: {ips: [192.168.1.240], pool: default, sharingKey: dns, ports: [UDP/53], backend: ''}
  shop:
    web: {ips: [192.168.1.241], pool: default}
holds: {}
peers:
  10.0.0.1: {address: 10.0.0.1, asn: 64501, myASN: 64500, port: 179, holdTime: 90}
"""


@pytest.fixture
def state(tmp_path: Path) -> str:
    return str(tmp_path / "lb.yaml")


def load(path: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(Path(path).read_text()) if d]


# --------------------------------------------------------------------------- import, offline


def test_import_metallb_files_adopts_the_services_in_them(cli: Cli, state: str) -> None:
    result = cli("pool", "import", "metallb", "-f", LEGACY, "-f", SERVICES, "--state", state)
    # shop/elsewhere holds an address of no MetalLB pool: reported, the rest imported, exit 1
    assert (result.code, result.out, result.err) == (1, LEGACY_IMPORTED,
                                                     LEGACY_WARNINGS + ELSEWHERE)
    assert statefiles.document_text(state) == LEGACY_STATE


def test_import_dry_run_prints_the_diff_and_writes_nothing(cli: Cli, state: str) -> None:
    cli("pool", "add", "mine", "10.0.0.0/30", "--state", state)
    before = Path(state).read_bytes()
    result = cli("pool", "import", "kube-vip", "-f", KUBEVIP, "--dry-run", "--state", state)
    assert result.code == 0
    assert result.out == (
        "--- a/state.yaml\n"
        "+++ b/state.yaml\n"
        "@@ -1,5 +1,21 @@\n"
        " schemaVersion: 1\n"
        " pools:\n"
        "+  development:\n"
        "+    addresses: [192.168.0.224/29]\n"
        "+    autoAssign: true\n"
        "+    avoidBuggyIPs: false\n"
        "+    namespaces: [development]\n"
        "+    priority: 1\n"
        "+  finance:\n"
        "+    addresses: [192.168.0.232-192.168.0.239]\n"
        "+    autoAssign: true\n"
        "+    avoidBuggyIPs: false\n"
        "+    namespaces: [finance]\n"
        "+    priority: 1\n"
        "+  global:\n"
        "+    addresses: [192.168.0.200-192.168.0.219, '2001:db8:10::10-2001:db8:10::1f']\n"
        "+    autoAssign: true\n"
        "+    avoidBuggyIPs: false\n"
        "   mine:\n"
        "     addresses: [10.0.0.0/30]\n"
        "     autoAssign: true\n"
        "pool/development imported (dry run)\n"
        "pool/finance imported (dry run)\n"
        "pool/global imported (dry run)\n"
    )
    assert result.err.count("lbctl: warning: ") == 5
    assert Path(state).read_bytes() == before


def test_import_from_stdin(cli: Cli, state: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(Path(CRDS).read_bytes())))
    result = cli("pool", "import", "metallb", "-f", "-", "--state", state, "-o", "json")
    assert result.code == 0
    doc = json.loads(result.out)
    assert (doc["kind"], doc["dryRun"], doc["adopted"]) == ("PoolImport", False, [])
    assert [p["name"] for p in doc["pools"]] == ["production", "expensive", "tenant-a",
                                                 "labelled"]
    assert doc["pools"][2] == {
        "name": "tenant-a", "addresses": ["172.20.0.0/25"], "autoAssign": True,
        "avoidBuggyIPs": True, "namespaces": ["team-a", "team-a-staging"],
        "serviceSelectors": ["!canary,tier in (edge,frontend)", "exposure=public"],
        "nodeSelectors": [], "interfaces": ["eth1"],  # the L2Advertisement's
        "priority": 50, "reservations": {},
        "usage": [{"family": "IPv4", "used": 0, "free": 127, "capacity": 127}],  # not .0
    }
    assert doc["pools"][1]["announce"] == "bgp"  # expensive: its BGPAdvertisement
    assert doc["peers"] == ["tor"]
    assert "BGPPeer" not in result.err


def test_import_reports_an_overlap_and_imports_the_rest(cli: Cli, state: str) -> None:
    cli("pool", "add", "mine", "192.168.1.250-192.168.1.254", "--state", state)
    result = cli("pool", "import", "metallb", "-f", LEGACY, "-f", SERVICES, "--state", state)
    assert (result.code, result.out) == (1, "bgppeer/10.0.0.1 imported\npool/reserved imported\n"
                                            "pool/bgp-pool imported\n")
    assert result.err == LEGACY_WARNINGS + (
        "lbctl: error: pools default and mine overlap: 192.168.1.240-192.168.1.250 and "
        "192.168.1.250-192.168.1.254 share 192.168.1.250\n"
        "hint: give pool default addresses no other pool holds, or free them in pool mine: "
        "lbctl pool set mine --remove ADDRESS\n"
    ) + no_pool("infra/dns-tcp", "192.168.1.240") + no_pool("infra/dns-udp", "192.168.1.240") \
        + ELSEWHERE + no_pool("shop/web", "192.168.1.241")
    assert sorted(statefiles.document(state)["pools"]) == ["bgp-pool", "mine", "reserved"]


def test_import_prefix_escapes_a_name_collision(cli: Cli, state: str) -> None:
    cli("pool", "add", "default", "10.0.0.0/30", "--state", state)
    collided = cli("pool", "import", "metallb", "-f", LEGACY, "--state", state, "-o", "json")
    assert collided.code == 1
    assert json.loads(collided.out)["failed"] == [{
        "kind": "pool", "namespace": None, "name": "default",
        "message": "pool default already exists"}]
    assert collided.err.endswith(
        "lbctl: error: pool default already exists\n"
        "hint: import under other names with --prefix (for example --prefix metallb-)\n")
    cli("pool", "remove", "reserved", "--state", state)
    cli("pool", "remove", "bgp-pool", "--state", state)
    result = cli("pool", "import", "metallb", "-f", LEGACY, "-f", SERVICES, "--prefix",
                 "metallb-", "--state", state)
    assert result.out == (
        "bgppeer/10.0.0.1 unchanged\n"  # imported with the pools that did not collide
        "pool/metallb-default imported\npool/metallb-reserved imported\n"
        "pool/metallb-bgp-pool imported\n"
        "service/dns-tcp -n infra adopted 192.168.1.240 (pool metallb-default)\n"
        "service/dns-udp -n infra adopted 192.168.1.240 (pool metallb-default)\n"
        "service/web -n shop adopted 192.168.1.241 (pool metallb-default)\n")
    assert result.code == 1  # shop/elsewhere, still
    again = cli("pool", "import", "metallb", "-f", LEGACY, "-f", SERVICES, "--prefix",
                "metallb-", "--state", state)
    assert again.out == ("bgppeer/10.0.0.1 unchanged\n"
                         "pool/metallb-default unchanged\npool/metallb-reserved unchanged\n"
                         "pool/metallb-bgp-pool unchanged\n")
    bad = cli("pool", "import", "metallb", "-f", LEGACY, "--prefix", "Bad_", "--state", state)
    assert (bad.code, bad.err.splitlines()[-2]) == (2, "lbctl: error: invalid pool name "
                                                       "'Bad_default'")


def test_import_refuses_an_address_held_twice_without_sharing(cli: Cli, state: str,
                                                              tmp_path: Path) -> None:
    services = load(SERVICES)[0]
    for item in services["items"]:
        item["metadata"].pop("annotations", None)
    path = tmp_path / "svc.yaml"
    path.write_text(yaml.safe_dump(services))
    result = cli("pool", "import", "metallb", "-f", LEGACY, "-f", str(path), "--state", state)
    assert result.code == 1
    assert result.err.endswith(
        "lbctl: error: cannot adopt infra/dns-udp, which holds 192.168.1.240: 192.168.1.240 is "
        "used by infra/dns-tcp, which may not share it: infra/dns-udp has no sharing key\n"
        "hint: give the Services that share an address the same metallb.io/allow-shared-ip "
        "annotation and distinct ports, then import again\n" + ELSEWHERE)
    allocations = statefiles.document(state)["allocations"]
    assert sorted(allocations["infra"]) == ["dns-tcp"]  # the others are adopted
    assert sorted(allocations["shop"]) == ["web"]


@pytest.mark.parametrize(("args", "code", "err"), [
    (["metallb", "-f", "nope.yaml"], 3,
     "lbctl: error: nope.yaml does not exist\n"
     "hint: give files, directories, or - for stdin, with -f\n"),
    (["kube-vip", "-f", SERVICES], 3,
     "lbctl: error: no kube-vip address pools in file " + SERVICES + "\n"
     "hint: give kube-vip's ConfigMap with cidr-SCOPE or range-SCOPE keys (kubectl -n "
     "kube-system get cm kubevip -o yaml); the warnings say what was skipped\n"),
    (["haproxy", "-f", LEGACY], 2, None),
])
def test_import_input_errors(cli: Cli, state: str, args: list[str], code: int,
                             err: str | None) -> None:
    result = cli("pool", "import", *args, "--state", state)
    assert (result.code, result.out) == (code, "")
    if err is not None:
        assert result.err == err
    assert not Path(state).exists()


def test_import_without_files_or_cluster(cli: Cli, state: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)
    result = cli("pool", "import", "kube-vip", "--state", state)
    assert (result.code, result.out, result.err) == (
        7, "", "lbctl: error: no Kubernetes configuration found (looked in ~/.kube/config, the "
               "in-cluster service account)\n"
               "hint: give the manifests with -f FILE ('-' for stdin), or a cluster with "
               "--kubeconfig\n")


# --------------------------------------------------------------------------- import, cluster


def seed(server: FakeKubeServer, *paths: str) -> None:
    for path in paths:
        for document in load(path):
            for obj in document.get("items", [document]):
                server.put_object(obj)


def stored_state(server: FakeKubeServer) -> str:
    configmap = server.get_object("configmaps", "lbctl-state", "kube-system")
    assert configmap is not None
    return str(configmap["data"]["state.yaml"])


@pytest.fixture
def metallb_crds(monkeypatch: pytest.MonkeyPatch) -> None:
    """MetalLB's CRDs, served by fake servers created after this fixture."""
    added = tuple(fake_resources.ResourceType("metallb.io", version, plural, kind)
                  for version, plural, kind in (
                      ("v1beta1", "ipaddresspools", "IPAddressPool"),
                      ("v1beta1", "l2advertisements", "L2Advertisement"),
                      ("v1beta1", "bgpadvertisements", "BGPAdvertisement"),
                      ("v1beta2", "bgppeers", "BGPPeer")))
    monkeypatch.setattr(fake_resources, "RESOURCES", fake_resources.RESOURCES + added)
    for resource in added:
        monkeypatch.setitem(fake_resources.BY_PATH, (resource.group, resource.version,
                                                     resource.plural), resource)
        monkeypatch.setitem(fake_resources.BY_KIND, (resource.api_version, resource.kind),
                            resource)


@pytest.fixture
def metallb_cluster(metallb_crds: None, tmp_path: Path) -> Iterator[tuple[FakeKubeServer, str]]:
    with FakeKubeServer() as server:
        yield server, str(server.write_kubeconfig(tmp_path / "metallb-kubeconfig"))


def test_import_legacy_metallb_from_the_cluster(cli: Cli, kube_server: FakeKubeServer,
                                                kubeconfig: Path) -> None:
    seed(kube_server, LEGACY, SERVICES)
    result = cli("pool", "import", "metallb", "--kubeconfig", str(kubeconfig))
    assert (result.code, result.out, result.err) == (1, LEGACY_IMPORTED,
                                                     LEGACY_WARNINGS + ELSEWHERE)
    assert stored_state(kube_server) == LEGACY_STATE


PROD_WEB = {
    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "prod"},
    "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]},
    "status": {"loadBalancer": {"ingress": [{"ip": "192.168.10.7"}]}},
}
CRDS_IMPORTED = ("bgppeer/tor imported\n"
                 "pool/production imported\npool/expensive imported\npool/tenant-a imported\n"
                 "pool/labelled imported\n"
                 "service/web -n prod adopted 192.168.10.7 (pool production)\n")


def test_import_ipaddresspools_from_the_cluster(
        cli: Cli, metallb_cluster: tuple[FakeKubeServer, str]) -> None:
    server, kubeconfig = metallb_cluster
    seed(server, CRDS, LEGACY)  # the leftover ConfigMap is not read: MetalLB >= 0.13 ignores it
    server.put_object(PROD_WEB)
    result = cli("pool", "import", "metallb", "--kubeconfig", kubeconfig)
    assert result.code == 0
    assert result.out == ("bgppeer/tor imported\n"
                          "pool/expensive imported\npool/labelled imported\n"  # in API order
                          "pool/production imported\npool/tenant-a imported\n"
                          "service/web -n prod adopted 192.168.10.7 (pool production)\n")
    state = yaml.safe_load(stored_state(server))
    assert sorted(state["pools"]) == ["expensive", "labelled", "production", "tenant-a"]
    assert state["pools"]["expensive"]["announce"] == "bgp"
    assert state["peers"] == {"tor": {"address": "10.0.0.1", "asn": 64501, "myASN": 64500,
                                      "port": 179, "holdTime": 90}}
    assert state["allocations"] == {"prod": {"web": {"ips": ["192.168.10.7"],
                                                     "pool": "production"}}}


def test_import_files_into_a_cluster_adopts_the_cluster_services(
        cli: Cli, kube_server: FakeKubeServer, kubeconfig: Path) -> None:
    kube_server.put_object(PROD_WEB)
    result = cli("pool", "import", "metallb", "-f", CRDS, "-f", SERVICES,
                 "--kubeconfig", str(kubeconfig))
    assert (result.code, result.out) == (0, CRDS_IMPORTED)
    assert result.err.endswith(
        "lbctl: warning: IPAddressPool metallb-system/labelled: no L2Advertisement covers it, so "
        "MetalLB does not announce it in layer 2; lbctl speaker announces it from every eligible "
        "node\n"
        f"lbctl: warning: 5 Services in file {CRDS}, file {SERVICES} ignored: the cluster's "
        "own Services are adopted\n")


def test_import_crds_from_the_cluster_reads_the_advertisements(
        cli: Cli, metallb_cluster: tuple[FakeKubeServer, str]) -> None:
    server, kubeconfig = metallb_cluster
    seed(server, CRDS)
    result = cli("pool", "import", "metallb", "--kubeconfig", kubeconfig, "--dry-run")
    assert result.code == 0
    assert result.err == (
        "lbctl: warning: IPAddressPool metallb-system/labelled: spec.serviceAllocation."
        "namespaceSelectors (environment=prod) not imported: lbctl pools name namespaces, not "
        "namespace labels; the pool serves every namespace\n"
        "lbctl: warning: IPAddressPool metallb-system/labelled: no L2Advertisement covers it, so "
        "MetalLB does not announce it in layer 2; lbctl speaker announces it from every eligible "
        "node\n"
    )
    assert "bgppeer/tor imported (dry run)" in result.out.splitlines()
    assert server.get_object("configmaps", "lbctl-state", "kube-system") is None


def test_import_kubevip_from_the_cluster(cli: Cli, kube_server: FakeKubeServer,
                                         kubeconfig: Path) -> None:
    seed(kube_server, KUBEVIP)
    kube_server.put_object({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "api", "namespace": "finance"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 443, "protocol": "TCP"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.168.0.233"}]}}})
    result = cli("pool", "import", "kube-vip", "--kubeconfig", str(kubeconfig))
    assert result.code == 0
    assert result.out == ("pool/development imported\npool/finance imported\n"
                          "pool/global imported\n"
                          "service/api -n finance adopted 192.168.0.233 (pool finance)\n")
    state = yaml.safe_load(stored_state(kube_server))
    assert state["allocations"] == {"finance": {"api": {"ips": ["192.168.0.233"],
                                                        "pool": "finance"}}}


@pytest.mark.parametrize(("tool", "message"), [
    ("metallb", "no MetalLB configuration in namespace metallb-system: no IPAddressPool and no "
                "ConfigMap config\nhint: name MetalLB's namespace with -n, or give its manifests "
                "with -f FILE\n"),
    ("kube-vip", "no kube-vip configuration: ConfigMap kube-system/kubevip not found\n"
                 "hint: name its namespace with -n, or give the ConfigMap with -f FILE\n"),
])
def test_import_from_a_cluster_without_the_tool(cli: Cli, kubeconfig: Path, tool: str,
                                                message: str) -> None:
    result = cli("pool", "import", tool, "--kubeconfig", str(kubeconfig))
    assert (result.code, result.out, result.err) == (3, "", "lbctl: error: " + message)


def test_import_reads_the_namespace_given(cli: Cli, kube_server: FakeKubeServer,
                                          kubeconfig: Path) -> None:
    configmap = load(LEGACY)[0]
    configmap["metadata"]["namespace"] = "lb"
    kube_server.put_object(configmap)
    result = cli("pool", "import", "metallb", "-n", "lb", "--kubeconfig", str(kubeconfig))
    assert (result.code, result.out.splitlines()[:2]) == (
        0, ["bgppeer/10.0.0.1 imported", "pool/default imported"])


# --------------------------------------------------------------------------- export


@pytest.fixture
def pools(cli: Cli, state: str) -> str:
    cli("pool", "add", "web", "10.0.0.0/29", "-n", "web", "-l", "app=web", "--priority", "5",
        "--state", state)
    cli("pool", "add", "default", "192.168.1.30-192.168.1.49", "2001:db8::/120",
        "--state", state)
    cli("pool", "reserve", "default", "192.168.1.31", "--note", "router", "--state", state)
    return state


def test_export_metallb(cli: Cli, pools: str) -> None:
    result = cli("pool", "export", "--format", "metallb", "--state", pools)
    assert result.code == 0
    assert result.out == """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: web
  namespace: metallb-system
spec:
  addresses:
  - 10.0.0.0/29
  autoAssign: true
  avoidBuggyIPs: false
  serviceAllocation:
    priority: 5
    namespaces:
    - web
    serviceSelectors:
    - matchLabels:
        app: web
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: default
  namespace: metallb-system
spec:
  addresses:
  - 192.168.1.30/32
  - 192.168.1.32-192.168.1.49
  - 2001:db8::/120
  autoAssign: true
  avoidBuggyIPs: false
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: lbctl
  namespace: metallb-system
spec:
  ipAddressPools:
  - web
  - default
"""
    assert result.err == (
        "lbctl: warning: pool default: reservations have no MetalLB equivalent; their addresses "
        "(192.168.1.31) are left out of the exported addresses instead, and their notes are "
        "lost\n")


def test_export_kubevip_named_pools_as_json(cli: Cli, pools: str) -> None:
    result = cli("pool", "export", "web", "--format", "kube-vip", "-n", "lb", "-o", "json",
                 "--state", pools)
    assert result.code == 0
    assert json.loads(result.out) == {"apiVersion": "v1", "kind": "List", "items": [{
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kubevip", "namespace": "lb"},
        "data": {"cidr-web": "10.0.0.0/29"}}]}
    assert result.err == (
        "lbctl: warning: pool web: serviceSelectors (app=web) not exported: kube-vip has no "
        "selectors; the pool serves every Service of namespace web\n")


@pytest.mark.parametrize(("args", "code", "err"), [
    (["nope", "--format", "metallb"], 3,
     "lbctl: error: pool nope not found (pools: default, web)\n"
     "hint: lbctl --state {state} pool list shows the pools\n"),
    (["--format", "metallb", "-o", "wide"], 2,
     "lbctl: error: -o wide is not supported here\nhint: choose one of: table, yaml, json, name\n"),
])
def test_export_errors(cli: Cli, pools: str, args: list[str], code: int, err: str) -> None:
    result = cli("pool", "export", *args, "--state", pools)
    assert (result.code, result.out, result.err) == (code, "", err.replace("{state}", pools))


def test_export_needs_a_format(cli: Cli, pools: str) -> None:
    result = cli("pool", "export", "--state", pools)
    assert result.code == 2
    assert "Missing option '--format'" in result.err


@pytest.mark.parametrize("tool", ["metallb", "kube-vip"])
def test_export_then_import_gives_the_same_pools(cli: Cli, tmp_path: Path, tool: str) -> None:
    first, second = str(tmp_path / "first.yaml"), str(tmp_path / "second.yaml")
    cli("pool", "add", "global", "10.0.0.0/24", "2001:db8::/64", "--state", first)
    cli("pool", "add", "team", "10.0.1.10-10.0.1.20", "-n", "team", "--priority", "1",
        "--state", first)
    exported = cli("pool", "export", "--format", tool, "--state", first)
    assert (exported.code, exported.err) == (0, "")
    manifest = tmp_path / "exported.yaml"
    manifest.write_text(exported.out)
    result = cli("pool", "import", tool, "-f", str(manifest), "--state", second)
    assert (result.code, result.err) == (0, "")
    assert Path(second).read_text() == Path(first).read_text()


def test_node_selectors_go_to_metallb_and_back(cli: Cli, tmp_path: Path) -> None:
    first, second = str(tmp_path / "first.yaml"), str(tmp_path / "second.yaml")
    cli("pool", "add", "global", "10.0.0.0/24", "--state", first)
    cli("pool", "add", "edge", "10.0.1.0/28", "--node-selector",
        "openyurt.io/is-edge-worker=true", "--node-selector", "apps.openyurt.io/nodepool=hz",
        "--state", first)
    exported = cli("pool", "export", "--format", "metallb", "--state", first)
    assert (exported.code, exported.err) == (0, "")
    advertisements = [d for d in yaml.safe_load_all(exported.out)
                      if d["kind"] == "L2Advertisement"]
    assert [(d["metadata"]["name"], d["spec"]) for d in advertisements] == [
        ("lbctl", {"ipAddressPools": ["global"]}),
        ("lbctl-edge", {"ipAddressPools": ["edge"], "nodeSelectors": [
            {"matchLabels": {"apps.openyurt.io/nodepool": "hz"}},
            {"matchLabels": {"openyurt.io/is-edge-worker": "true"}}]}),
    ]
    manifest = tmp_path / "exported.yaml"
    manifest.write_text(exported.out)
    result = cli("pool", "import", "metallb", "-f", str(manifest), "--state", second)
    assert (result.code, result.err) == (0, "")
    assert Path(second).read_text() == Path(first).read_text()
    kubevip = cli("pool", "export", "edge", "--format", "kube-vip", "--state", first)
    assert kubevip.err == (
        "lbctl: warning: pool edge: nodeSelectors (apps.openyurt.io/nodepool=hz | "
        "openyurt.io/is-edge-worker=true) not exported: kube-vip announces from the node its "
        "election picks, whatever its labels\n")


# --------------------------------------------------------------------------- Cilium


CILIUM_POOLS = """\
apiVersion: cilium.io/v2alpha1
kind: CiliumLoadBalancerIPPool
metadata: {name: blue}
spec:
  blocks:
  - cidr: 10.0.10.0/29
  - start: 10.0.20.100
    stop: 10.0.20.102
  serviceSelector:
    matchLabels: {io.kubernetes.service.namespace: shop, color: blue}
---
apiVersion: cilium.io/v2
kind: CiliumLoadBalancerIPPool
metadata: {name: open}
spec:
  allowFirstLastIPs: "Yes"
  disabled: true
  cidrs:
  - cidr: 10.0.30.0/30
---
apiVersion: cilium.io/v2alpha1
kind: CiliumL2AnnouncementPolicy
metadata: {name: l2}
spec: {interfaces: [eth0]}
"""


def test_import_cilium_pools(cli: Cli, state: str, tmp_path: Path) -> None:
    path = tmp_path / "cilium.yaml"
    path.write_text(CILIUM_POOLS)
    result = cli("pool", "import", "cilium", "-f", str(path), "--state", state)
    assert (result.code, result.out) == (0, "pool/blue imported\npool/open imported\n")
    assert result.err == (
        "lbctl: warning: CiliumLoadBalancerIPPool open: disabled: imported with autoAssign false "
        "(it serves only Services that ask for its addresses)\n"
        "lbctl: warning: CiliumL2AnnouncementPolicy l2 not imported: lbctl arp announce chooses "
        "the interface by subnet (or --interface) on the node it runs on\n")
    pools = statefiles.document(state)["pools"]
    assert pools["blue"] == {
        "addresses": ["10.0.10.0/29", "10.0.20.100-10.0.20.102"], "autoAssign": True,
        "avoidBuggyIPs": False, "namespaces": ["shop"], "serviceSelectors": ["color=blue"],
        "reservations": {"10.0.10.0": interop_core.CILIUM_FIRST_LAST,
                         "10.0.10.7": interop_core.CILIUM_FIRST_LAST}}
    assert pools["open"] == {"addresses": ["10.0.30.0/30"], "autoAssign": False,
                             "avoidBuggyIPs": False}


def test_export_cilium_then_import_gives_the_same_addresses(cli: Cli, state: str,
                                                            tmp_path: Path) -> None:
    cli("pool", "add", "web", "10.0.0.0/28", "2001:db8::/64", "-n", "shop", "-l", "tier=fe",
        "--state", state)
    cli("pool", "reserve", "web", "10.0.0.5", "--state", state)
    result = cli("pool", "export", "--format", "cilium", "--state", state)
    assert result.code == 0
    assert yaml.safe_load(result.out) == {
        "apiVersion": "cilium.io/v2alpha1", "kind": "CiliumLoadBalancerIPPool",
        "metadata": {"name": "web"},
        "spec": {"allowFirstLastIPs": "Yes", "blocks": [
            {"start": "10.0.0.0", "stop": "10.0.0.4"}, {"start": "10.0.0.6", "stop": "10.0.0.15"},
            {"start": "2001:db8::1", "stop": "2001:db8::ffff:ffff:ffff:ffff"}],
            "serviceSelector": {"matchLabels": {"tier": "fe"}, "matchExpressions": [
                {"key": "io.kubernetes.service.namespace", "operator": "In",
                 "values": ["shop"]}]}}}
    assert "reservations have no Cilium equivalent" in result.err
    names = cli("pool", "export", "--format", "cilium", "-o", "name", "--state", state)
    assert names.out == "ciliumloadbalancerippool.cilium.io/web\n"
    exported = tmp_path / "exported.yaml"
    exported.write_text(result.out)
    other = str(tmp_path / "other.yaml")
    again = cli("pool", "import", "cilium", "-f", str(exported), "--state", other)
    assert again.code == 0
    pool = statefiles.document(other)["pools"]["web"]
    assert (pool["namespaces"], pool["serviceSelectors"]) == (["shop"], ["tier=fe"])


@pytest.fixture
def cilium_cluster(monkeypatch: pytest.MonkeyPatch,
                   tmp_path: Path) -> Iterator[tuple[FakeKubeServer, str]]:
    """A fake cluster serving Cilium's pools at v2alpha1 only (an older Cilium)."""
    resource = fake_resources.ResourceType("cilium.io", "v2alpha1", "ciliumloadbalancerippools",
                                           "CiliumLoadBalancerIPPool", namespaced=False)
    monkeypatch.setattr(fake_resources, "RESOURCES", fake_resources.RESOURCES + (resource,))
    monkeypatch.setitem(fake_resources.BY_PATH, (resource.group, resource.version,
                                                 resource.plural), resource)
    monkeypatch.setitem(fake_resources.BY_KIND, (resource.api_version, resource.kind), resource)
    with FakeKubeServer() as server:
        yield server, str(server.write_kubeconfig(tmp_path / "cilium-kubeconfig"))


def test_import_cilium_from_the_cluster(cli: Cli,
                                        cilium_cluster: tuple[FakeKubeServer, str]) -> None:
    kube_server, kubeconfig = cilium_cluster
    for doc in yaml.safe_load_all(CILIUM_POOLS):
        if doc["kind"] == "CiliumLoadBalancerIPPool":
            kube_server.put_object({**doc, "apiVersion": "cilium.io/v2alpha1"})
    kube_server.put_object({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"color": "blue"}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "10.0.10.3"}]}}})
    result = cli("pool", "import", "cilium", "--kubeconfig", str(kubeconfig))
    assert (result.code, result.out) == (0, "pool/blue imported\npool/open imported\n"
                                            "service/web -n shop adopted 10.0.10.3 (pool blue)\n")
