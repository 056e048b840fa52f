"""``lbctl pool set``: a pool changed in place, with exact output and exit codes, on a state
file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import statefiles
from tests.conftest import Cli
from tests.kubefake.server import FakeKubeServer

SERVICE = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: {}\n  namespace: shop\n"
           "spec:\n  type: LoadBalancer\n")


@pytest.fixture
def state(cli: Cli, tmp_path: Path) -> str:
    path = str(tmp_path / "lb.yaml")
    assert cli("pool", "add", "default", "192.0.2.10-192.0.2.19", "--state", path).code == 0
    assert cli("pool", "add", "other", "192.0.2.32/28", "--state", path).code == 0
    return path


def pool_doc(state: str, name: str = "default") -> dict[str, object]:
    found: dict[str, object] = statefiles.document(state)["pools"][name]
    return found


def test_grow_and_shrink_in_one_go_dry_run_first(cli: Cli, state: str) -> None:
    before = Path(state).read_text()
    dry = cli("pool", "set", "default", "--remove", "192.0.2.12-192.0.2.13", "--add",
              "192.0.2.20-192.0.2.24", "--dry-run", "--state", state)
    assert (dry.code, dry.err) == (0, "")
    assert dry.out.endswith(
        "-    addresses: [192.0.2.10-192.0.2.19]\n"
        "+    addresses: [192.0.2.10-192.0.2.11, 192.0.2.14-192.0.2.19, 192.0.2.20-192.0.2.24]\n"
        "     autoAssign: true\n     avoidBuggyIPs: false\n   other:\n"
        "pool/default configured (dry run)\n")
    assert Path(state).read_text() == before
    result = cli("pool", "set", "default", "--remove", "192.0.2.12-192.0.2.13", "--add",
                 "192.0.2.20-192.0.2.24", "--state", state)
    assert (result.code, result.out, result.err) == (0, "pool/default configured\n", "")
    assert pool_doc(state)["addresses"] == [
        "192.0.2.10-192.0.2.11", "192.0.2.14-192.0.2.19", "192.0.2.20-192.0.2.24"]


def test_settings_change_and_the_rest_is_kept(cli: Cli, state: str) -> None:
    assert cli("pool", "reserve", "default", "192.0.2.19", "--note", "router",
               "--state", state).code == 0
    result = cli("pool", "set", "default", "--no-auto-assign", "--avoid-buggy-ips",
                 "--priority", "5", "-n", "web", "-n", "api", "-l", "app=web", "--state", state)
    assert result.code == 0, result.err
    assert pool_doc(state) == {
        "addresses": ["192.0.2.10-192.0.2.19"], "autoAssign": False, "avoidBuggyIPs": True,
        "namespaces": ["api", "web"], "serviceSelectors": ["app=web"], "priority": 5,
        "reservations": {"192.0.2.19": "router"}}
    assert cli("pool", "set", "default", "--auto-assign", "--state", state).code == 0
    assert pool_doc(state)["autoAssign"] is True


def test_any_namespace_and_any_labels_clear_what_n_and_l_set(cli: Cli, state: str,
                                                             tmp_path: Path) -> None:
    assert cli("pool", "set", "default", "-n", "web", "-l", "app=web", "--state",
               state).code == 0
    manifest = tmp_path / "api.yaml"
    manifest.write_text(SERVICE.format("api").replace(
        "  namespace: shop\n", "  namespace: shop\n  annotations:\n"
                               "    metallb.io/address-pool: default\n"))
    refused = cli("assign", "-f", str(manifest), "--state", state)
    assert refused.code == 1, refused.err
    dry = cli("pool", "set", "default", "--any-namespace", "--any-labels", "--dry-run",
              "--state", state)
    assert (dry.code, dry.err) == (0, "")
    assert "-    namespaces: [web]\n" in dry.out and "-    serviceSelectors: [app=web]\n" in dry.out
    result = cli("pool", "set", "default", "--any-namespace", "--any-labels", "--state", state)
    assert (result.code, result.out, result.err) == (0, "pool/default configured\n", "")
    assert pool_doc(state) == {"addresses": ["192.0.2.10-192.0.2.19"], "autoAssign": True,
                               "avoidBuggyIPs": False}
    assigned = cli("assign", "-f", str(manifest), "--state", state)
    assert assigned.code == 0, assigned.err
    assert "192.0.2.10" in assigned.out


def test_no_communities_and_all_bgp_peers_clear_the_bgp_lists(cli: Cli, state: str) -> None:
    for name, address in (("tor-a", "10.0.0.1"), ("tor-b", "10.0.0.2")):
        assert cli("bgp", "peer", "add", name, "--address", address, "--asn", "64501",
                   "--my-asn", "64500", "--state", state).code == 0
    assert cli("pool", "set", "default", "--announce", "both", "--community", "64500:100",
               "--community", "no-export", "--bgp-peer", "tor-a", "--state", state).code == 0
    before = Path(state).read_text()
    dry = cli("pool", "set", "default", "--no-communities", "--dry-run", "--state", state)
    assert (dry.code, dry.err) == (0, "")
    assert dry.out.endswith(
        "-    bgp: {aggregationLength: 32, aggregationLengthV6: 128, communities: ['64500:100', "
        "no-export], peers: [tor-a]}\n"
        "+    bgp: {aggregationLength: 32, aggregationLengthV6: 128, peers: [tor-a]}\n"
        "   other:\n     addresses: [192.0.2.32/28]\n     autoAssign: true\n"
        "pool/default configured (dry run)\n"), dry.out
    assert Path(state).read_text() == before
    result = cli("pool", "set", "default", "--no-communities", "--all-bgp-peers",
                 "--state", state)
    assert (result.code, result.out, result.err) == (0, "pool/default configured\n", "")
    assert pool_doc(state) == {"addresses": ["192.0.2.10-192.0.2.19"], "autoAssign": True,
                               "avoidBuggyIPs": False, "announce": "both"}
    again = cli("pool", "set", "default", "--no-communities", "--state", state)
    assert (again.code, again.out) == (0, "pool/default configured (unchanged)\n")


def test_no_priority_and_no_local_pref_drop_them(cli: Cli, state: str) -> None:
    assert cli("bgp", "peer", "add", "tor", "--address", "10.0.0.1", "--asn", "64500",
               "--my-asn", "64500", "--state", state).code == 0
    assert cli("pool", "set", "default", "--priority", "5", "--state", state).code == 0
    assert cli("pool", "set", "other", "--priority", "1", "--announce", "both", "--local-pref",
               "200", "--state", state).code == 0
    before = Path(state).read_text()
    dry = cli("pool", "set", "other", "--no-priority", "--no-local-pref", "--dry-run",
              "--state", state)
    assert (dry.code, dry.err) == (0, "")
    assert dry.out.endswith(
        "     avoidBuggyIPs: false\n"
        "-    priority: 1\n"
        "     announce: both\n"
        "-    bgp: {aggregationLength: 32, aggregationLengthV6: 128, localPref: 200}\n"
        " allocations: {}\n holds: {}\n peers:\n"
        "pool/other configured (dry run)\n"), dry.out
    assert Path(state).read_text() == before
    result = cli("pool", "set", "other", "--no-priority", "--no-local-pref", "--state", state)
    assert (result.code, result.out, result.err) == (0, "pool/other configured\n", "")
    assert pool_doc(state, "other") == {"addresses": ["192.0.2.32/28"], "autoAssign": True,
                                        "avoidBuggyIPs": False, "announce": "both"}
    listed = cli("pool", "list", "-o", "wide", "--no-headers", "--state", state)
    assert [line.split()[0] + " " + line.split()[8] for line in listed.out.splitlines()] == [
        "default 5", "other -"]  # the PRIORITY column


@pytest.mark.parametrize(("args", "err"), [
    (["-n", ""], "lbctl: error: -n is empty\n"
     "hint: to drop the namespaces, give --any-namespace; else give -n a value\n"),
    (["-n", "web", "--namespace", " "], "lbctl: error: -n is empty\n"
     "hint: to drop the namespaces, give --any-namespace; else give -n a value\n"),
    (["-l", ""], "lbctl: error: -l is empty\n"
     "hint: to drop the Service selectors, give --any-labels; else give -l a value\n"),
    (["--node-selector", ""], "lbctl: error: --node-selector is empty\n"
     "hint: to drop the node selectors, give --any-node; else give --node-selector a value\n"),
    (["--interface", ""], "lbctl: error: --interface is empty\n"
     "hint: to drop the interfaces, give --any-interface; else give --interface a value\n"),
    (["--community", ""], "lbctl: error: --community is empty\n"
     "hint: to drop the communities, give --no-communities; else give --community a value\n"),
    (["--bgp-peer", ""], "lbctl: error: --bgp-peer is empty\n"
     "hint: to drop the BGP peers it names, give --all-bgp-peers; else give --bgp-peer a "
     "value\n"),
])
def test_an_empty_value_is_refused_with_the_option_that_empties_the_list(
        cli: Cli, state: str, args: list[str], err: str) -> None:
    """``-n ""`` (an unset shell variable, or a guess at how to clear) names no namespace: it
    would leave a pool that serves none; the hint names the option that empties the list."""
    assert cli("pool", "set", "default", "-n", "web", "--state", state).code == 0
    before = Path(state).read_text()
    result = cli("pool", "set", "default", *args, "--state", state)
    assert (result.code, result.out, result.err) == (2, "", err)
    assert Path(state).read_text() == before


@pytest.mark.parametrize(("command", "namespace"), [
    (("pool", "set", "default"), "Shop"), (("pool", "set", "default"), "web_app"),
    (("pool", "add", "new", "192.0.2.64/28"), ""), (("pool", "add", "new", "192.0.2.64/28"),
                                                    "a" * 64),
])
def test_a_namespace_kubernetes_cannot_have_is_refused(cli: Cli, state: str,
                                                       command: tuple[str, ...],
                                                       namespace: str) -> None:
    before = Path(state).read_text()
    result = cli(*command, "-n", namespace, "--state", state)
    assert (result.code, result.out, result.err) == (
        2, "", f"lbctl: error: invalid namespace {namespace!r} for pool {command[2]}\n"
        "hint: a namespace's name is up to 63 lower-case letters, digits and '-', starting "
        "and ending alphanumeric (kubectl get namespaces lists them)\n")
    assert Path(state).read_text() == before
    assert cli(*command, "-n", "a" * 63, "--state", state).code == 0


def test_a_pool_whose_stored_namespace_predates_the_check_can_still_be_changed(
        cli: Cli, state: str) -> None:
    """A state written before namespaces were checked (``pool add -n Shop`` was taken) is not
    locked: a change that does not touch the namespaces keeps them, one that does is
    checked."""
    text = Path(state).read_text()
    Path(state).write_text(text.replace("avoidBuggyIPs: false\n",
                                        "avoidBuggyIPs: false\n        namespaces: [Shop]\n", 1))
    assert pool_doc(state)["namespaces"] == ["Shop"]
    grown = cli("pool", "set", "default", "--add", "192.0.2.200/29", "--state", state)
    assert (grown.code, grown.err) == (0, "")
    assert pool_doc(state)["namespaces"] == ["Shop"]
    assert "192.0.2.200/29" in pool_doc(state)["addresses"]  # type: ignore[operator]
    assert cli("pool", "set", "default", "-n", "Shop", "--state", state).code == 2
    fixed = cli("pool", "set", "default", "-n", "shop", "--state", state)
    assert (fixed.code, pool_doc(state)["namespaces"]) == (0, ["shop"])


@pytest.mark.parametrize(("args", "err"), [
    (["--any-namespace", "-n", "web"],
     "lbctl: error: --any-namespace drops the namespaces; -n sets them\n"
     "hint: give one of them\n"),
    (["--no-communities", "--community", "no-export"],
     "lbctl: error: --no-communities drops the communities; --community sets them\n"
     "hint: give one of them\n"),
    (["--no-priority", "--priority", "3"],
     "lbctl: error: --no-priority drops the priority; --priority sets it\n"
     "hint: give one of them\n"),
    (["--no-local-pref", "--local-pref", "100"],
     "lbctl: error: --no-local-pref drops the LOCAL_PREF; --local-pref sets it\n"
     "hint: give one of them\n"),
    (["--all-bgp-peers", "--bgp-peer", "tor-a"],
     "lbctl: error: --all-bgp-peers drops the BGP peers it names; --bgp-peer sets them\n"
     "hint: give one of them\n"),
    (["--any-labels", "-l", "app=web"],
     "lbctl: error: --any-labels drops the Service selectors; -l sets them\n"
     "hint: give one of them\n"),
    (["--any-node", "--node-selector", "zone=a"],
     "lbctl: error: --any-node drops the node selectors; --node-selector sets them\n"
     "hint: give one of them\n"),
])
def test_clearing_and_setting_one_list_at_once_is_refused(cli: Cli, state: str,
                                                          args: list[str], err: str) -> None:
    before = Path(state).read_text()
    result = cli("pool", "set", "default", *args, "--state", state)
    assert (result.code, result.out, result.err) == (2, "", err)
    assert Path(state).read_text() == before


@pytest.mark.parametrize(("args", "code", "err"), [
    (["--add", "192.0.2.40"], 4,
     "lbctl: error: pools other and default overlap: 192.0.2.32/28 and 192.0.2.40 share "
     "192.0.2.40\nhint: give pool default addresses no other pool holds, or free them in pool "
     "other: lbctl --state {state} pool set other --remove ADDRESS\n"),
    (["--add", "192.0.2.15"], 2,
     "lbctl: error: pool default overlap: 192.0.2.10-192.0.2.19 and 192.0.2.15 share "
     "192.0.2.15\nhint: give each address once\n"),
    (["--remove", "192.0.2.18-192.0.2.25"], 2,
     "lbctl: error: 192.0.2.18-192.0.2.25 is not wholly in pool default "
     "(192.0.2.10-192.0.2.19)\nhint: lbctl --state {state} pool show default lists its "
     "addresses\n"),
    (["--remove", "192.0.2.10-192.0.2.19"], 4,
     "lbctl: error: pool default would have no addresses left\n"
     "hint: remove the pool instead: lbctl --state {state} pool remove default\n"),
    ([], 2, "lbctl: error: nothing to change in pool default\n"
            "hint: example: lbctl --state {state} pool set default --add "
            "192.0.2.50-192.0.2.59\n"),
    (["--add", "nonsense"], 2,
     "lbctl: error: 'nonsense' is not an IP address\n"),
])
def test_refusals_change_nothing(cli: Cli, state: str, args: list[str], code: int,
                                 err: str) -> None:
    before = Path(state).read_text()
    result = cli("pool", "set", "default", *args, "--state", state)
    assert result.code == code
    assert result.err.startswith(err.replace("{state}", state)), result.err
    assert Path(state).read_text() == before


def test_missing_pool(cli: Cli, state: str) -> None:
    result = cli("pool", "set", "nope", "--add", "192.0.2.99", "--state", state)
    assert result.code == 3


def test_shrinking_under_allocations_names_the_services(cli: Cli, state: str,
                                                        tmp_path: Path) -> None:
    for name in ("web", "api"):
        (tmp_path / f"{name}.yaml").write_text(SERVICE.format(name))
    assert cli("assign", "-f", str(tmp_path / "web.yaml"), "-f", str(tmp_path / "api.yaml"),
               "--state", state).code == 0  # web 192.0.2.10, api 192.0.2.11
    assert cli("pool", "reserve", "default", "192.0.2.12", "--state", state).code == 0
    before = Path(state).read_text()
    result = cli("pool", "set", "default", "--remove", "192.0.2.10-192.0.2.11",
                 "--state", state)
    assert (result.code, result.err) == (
        4, "lbctl: error: pool default would no longer hold addresses allocated to shop/api "
           "(192.0.2.11), shop/web (192.0.2.10)\n"
           f"hint: release those Services first (lbctl --state {state} release svc NAME -n NS), "
           "or remove other addresses\n")
    reserved = cli("pool", "set", "default", "--remove", "192.0.2.12", "--state", state)
    assert (reserved.code, reserved.err) == (
        4, "lbctl: error: pool default would no longer hold its reserved 192.0.2.12\n"
           f"hint: unreserve them first: lbctl --state {state} pool unreserve default "
           "192.0.2.12\n")
    assert Path(state).read_text() == before
    assert cli("pool", "set", "default", "--remove", "192.0.2.13-192.0.2.19",
               "--state", state).code == 0
    assert pool_doc(state)["addresses"] == ["192.0.2.10-192.0.2.12"]


def test_growing_on_a_cluster_refuses_its_own_addresses(
        cli: Cli, kubeconfig: Path, kube_server: FakeKubeServer) -> None:
    kube_server.put_object({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
        "status": {"addresses": [{"type": "InternalIP", "address": "192.168.7.11"}]}})
    k = ("--kubeconfig", str(kubeconfig))
    assert cli("pool", "add", "lan", "192.168.7.20/30", *k).code == 0
    result = cli("pool", "set", "lan", "--add", "192.168.7.8/30", *k)
    assert (result.code, result.err) == (
        4, "lbctl: error: pool lan contains 192.168.7.11, the InternalIP of node node-1\n"
           "hint: a VIP there would break the node, the pods or the Service: take those "
           "addresses out of the pool, or pass --allow-cluster-overlap if you mean it\n")
    assert cli("pool", "set", "lan", "--add", "192.168.7.8/30", "--allow-cluster-overlap",
               *k).code == 0
    assert cli("pool", "set", "lan", "--priority", "3", *k).code == 0  # no new addresses
