"""kubectl habits, across commands: ``-o name`` wherever ``-o`` is offered, global options after
a group's name, ``svc/NAME``, ``--no-headers`` on every table, ``svc list -l``.

Exact output and exit codes, on files and on the fake kube-apiserver.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from lbctl import __version__
from tests.conftest import Cli
from tests.kubefake.server import FakeKubeServer


def put(server: FakeKubeServer, name: str, namespace: str = "web", **labels: str) -> None:
    server.put_object({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
    })


@pytest.fixture
def run(cli: Cli, kubeconfig: Path, kube_server: FakeKubeServer) -> Cli:
    put(kube_server, "front", app="shop", tier="fe")
    put(kube_server, "api", app="shop", tier="be")
    put(kube_server, "other", namespace="elsewhere", app="shop")

    def invoke(*args: str) -> Any:
        return cli(*args, "--kubeconfig", str(kubeconfig))

    assert invoke("pool", "add", "default", "192.0.2.10-192.0.2.19").code == 0
    return invoke


@pytest.fixture
def state(tmp_path: Path, cli: Cli) -> str:
    path = str(tmp_path / "lb.yaml")
    assert cli("pool", "add", "a", "10.0.0.0/30", "--state", path).code == 0
    return path


# --------------------------------------------------------------------------- -o name


@pytest.mark.parametrize(("args", "out"), [
    (("pool", "add", "b", "10.0.1.0/30"), "pool/b\n"),
    (("pool", "show", "a"), "pool/a\n"),
    (("pool", "list"), "pool/a\n"),
    (("pool", "reserve", "a", "10.0.0.1"), "pool/a\n"),
    (("pool", "remove", "a"), "pool/a\n"),
    (("pool", "export", "--format", "metallb"),
     "ipaddresspool.metallb.io/a\nl2advertisement.metallb.io/lbctl\n"),
])
def test_o_name_on_pools(cli: Cli, state: str, args: tuple[str, ...], out: str) -> None:
    result = cli(*args, "-o", "name", "--state", state)
    assert (result.code, result.out, result.err) == (0, out, "")


def test_o_name_on_unreserve(cli: Cli, state: str) -> None:
    assert cli("pool", "reserve", "a", "10.0.0.1", "--state", state).code == 0
    result = cli("pool", "unreserve", "a", "10.0.0.1", "-o", "name", "--state", state)
    assert (result.code, result.out) == (0, "pool/a\n")


def test_o_name_on_rbac_and_version(cli: Cli) -> None:
    rbac = cli("rbac", "-o", "name")
    assert (rbac.code, rbac.out.splitlines()[:3]) == (0, [
        "serviceaccount/lbctl", "clusterrole.rbac.authorization.k8s.io/lbctl",
        "clusterrolebinding.rbac.authorization.k8s.io/lbctl"])
    version = cli("version", "-o", "name")
    assert (version.code, version.out) == (0, f"{__version__}\n")


def test_o_name_on_services(run: Cli) -> None:
    assert run("assign", "svc", "front", "-n", "web", "-o", "name").out == "service/front\n"
    batch = run("assign", "--all", "-A", "-o", "name")
    assert (batch.code, batch.out) == (0, "service/other\nservice/api\n")
    assert run("svc", "show", "svc/api", "-n", "web", "-o", "name").out == "service/api\n"
    released = run("release", "svc/api", "-n", "web", "-o", "name")
    assert (released.code, released.out) == (0, "service/api\n")


# --------------------------------------------------------------------------- flags, names


def test_global_options_after_a_group_name(run: Cli) -> None:
    after_group = run("svc", "-n", "web", "list", "-o", "name")
    after_command = run("svc", "list", "-n", "web", "-o", "name")
    assert (after_group.code, after_group.out) == (0, "service/api\nservice/front\n")
    assert after_group.out == after_command.out
    last_wins = run("svc", "-n", "elsewhere", "list", "-n", "web", "-o", "name")
    assert last_wins.out == "service/api\nservice/front\n"


def test_global_options_after_a_group_name_offline(cli: Cli, state: str) -> None:
    result = cli("pool", "--state", state, "-o", "name", "list")
    assert (result.code, result.out) == (0, "pool/a\n")


@pytest.mark.parametrize("target", [("front",), ("svc/front",), ("svc", "front"),
                                    ("service/front",)])
def test_svc_show_takes_kubectl_spellings(run: Cli, target: tuple[str, ...]) -> None:
    result = run("svc", "show", *target, "-n", "web", "-o", "json")
    assert result.code == 0
    assert '"name": "front"' in result.out


def test_svc_show_bad_spelling(run: Cli) -> None:
    result = run("svc", "show", "deploy/front", "-n", "web")
    assert (result.code, result.err) == (2, (
        "lbctl: error: expected svc NAME or svc/NAME, not deploy/front\n"
        "hint: example: lbctl svc show svc/web -n shop\n"))


def test_svc_list_label_selector(run: Cli) -> None:
    result = run("svc", "list", "-A", "-l", "app=shop,tier!=be", "--no-headers")
    assert (result.code, result.err) == (0, "")
    assert [line.split()[:2] for line in result.out.splitlines()] == [
        ["elsewhere", "other"], ["web", "front"]]
    none = run("svc", "list", "-n", "web", "-l", "app=nothing")
    assert (none.code, none.out, none.err) == (
        0, "", "No LoadBalancer Services matching app=nothing found in namespace web.\n")
    bad = run("svc", "list", "-l", "app in (a")
    assert bad.code == 2
    assert bad.err.startswith("lbctl: error: ")


# --------------------------------------------------------------------------- --no-headers


def test_no_headers_on_every_table(run: Cli, tmp_path: Path) -> None:
    assigned = run("assign", "--all", "-A", "--no-headers")
    assert assigned.code == 0
    assert not assigned.out.startswith("NAMESPACE")
    assert assigned.out.splitlines()[0].split()[:3] == ["elsewhere", "other", "assigned"]
    listed = run("pool", "list", "--no-headers")
    assert listed.out.split()[:2] == ["default", "IPv4"]
    shown = run("svc", "list", "-A", "--no-headers")
    assert not shown.out.startswith("NAMESPACE")


# --------------------------------------------------------------------------- the list shape


LISTS = {
    # command, kind, -o name's type, takes -o wide, what an empty list says (on stderr)
    "svc": (("svc", "list", "-A"), "ServiceList", "service", True,
            "No LoadBalancer Services found in namespace empty.\n"),
    "pool": (("pool", "list"), "PoolList", "pool", True,
             "no pools in state file {empty}; add one with lbctl pool add\n"),
    "bgp": (("bgp", "peer", "list"), "BGPPeerList", "bgppeer", True,
            "no BGP peers in state file {empty}; add one with lbctl bgp peer add\n"),
    "hold": (("hold", "list", "-A"), "HoldList", "hold", False,
             "no holds in state file {empty}\n"),
}


@pytest.mark.parametrize("name", sorted(LISTS))
def test_every_list_has_kubectls_shape_in_every_format(
        run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Each list command, full and empty, in each format it takes: ``{"kind": ..., "items":
    [...]}`` in JSON and the same document in YAML; one ``TYPE/NAME`` a line; a table whose
    rows ``--no-headers`` prints alone (``-o wide`` too); an empty list prints the empty
    document, no name, and no table but one line on stderr.  (The exact rows are each
    command's own tests'.)"""
    import yaml

    from lbctl.cli.context import App

    monkeypatch.setattr(App, "now", lambda self: datetime(2030, 1, 1, tzinfo=timezone.utc))
    assert run("assign", "--all", "-A").code == 0
    assert run("release", "svc", "api", "-n", "web", "--hold").code == 0
    assert run("bgp", "peer", "add", "tor", "--address", "10.0.0.1", "--asn", "64501",
               "--my-asn", "64500").code == 0
    args, kind, typename, wide, empty_err = LISTS[name]
    doc = json.loads(run(*args, "-o", "json").out)
    assert (list(doc), doc["kind"]) == (["kind", "items"], kind) and doc["items"], doc
    shown = run(*args, "-o", "yaml")
    assert (shown.code, shown.err) == (0, "")
    assert shown.out.startswith(f"kind: {kind}\nitems:\n")
    assert yaml.safe_load(shown.out) == doc
    names = run(*args, "-o", "name")
    assert (names.code, names.err) == (0, "")
    assert len(names.out.splitlines()) == len(doc["items"])
    assert all(line.startswith(f"{typename}/") for line in names.out.splitlines())
    for table in ([], ["-o", "wide"]) if wide else ([],):
        full = run(*args, *table)
        assert (full.code, full.err) == (0, ""), full.err
        header, *rows = full.out.splitlines(keepends=True)
        assert rows and header == header.upper()
        bare = run(*args, *table, "--no-headers")  # columns as wide as their cells
        assert (bare.code, bare.err) == (0, "")
        assert [line.split() for line in bare.out.splitlines()] == [r.split() for r in rows]
    if wide:
        assert run(*args, "-o", "wide").out.split("\n")[0].startswith(
            run(*args).out.split("\n")[0].rstrip())
    empty_state = str(tmp_path / "empty.yaml")
    nothing = [*args, "-n", "empty"] if name == "svc" else [*args, "--state", empty_state]
    if name == "svc":
        nothing.remove("-A")
    for fmt, out in (("json", f'{{\n  "kind": "{kind}",\n  "items": []\n}}\n'),
                     ("yaml", f"kind: {kind}\nitems: []\n"), ("name", "")):
        result = run(*nothing, "-o", fmt)
        assert (result.code, result.out, result.err) == (0, out, ""), fmt
    for table in ([], ["--no-headers"], *([["-o", "wide"]] if wide else [])):
        result = run(*nothing, *table)
        assert (result.code, result.out, result.err) == (
            0, "", empty_err.format(empty=empty_state)), table
