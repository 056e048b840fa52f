"""``lbctl rbac``: the manifests, and proof that they grant every API call lbctl's commands make.

The proof runs the commands against the fake kube-apiserver and checks each request in its log
against the printed RBAC with Kubernetes' own rule semantics (a ClusterRoleBinding grants its
rules everywhere, a RoleBinding only in its namespace; ``resourceNames`` match only requests that
name the object).  Requests every authenticated user may make are left out: discovery and
``/version`` (system:discovery, system:public-info-viewer) and SelfSubjectAccessReviews
(system:basic-user); so ``lbctl version``, which asks only ``/version``, needs no rule.  ``arp
announce`` is not run here: it needs raw sockets (tests/net/).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from lbctl.core.permissions import PERMISSIONS
from tests.actions.test_kubeproxy import seed_configmap, seed_daemonset
from tests.cli.test_pool_interop import CRDS, KUBEVIP, LEGACY, SERVICES, metallb_crds, seed
from tests.conftest import Cli
from tests.kubefake import FakeKubeServer, Request

__all__ = ["metallb_crds"]  # the fixture, used by the scenarios below

Doc = dict[str, Any]


class Call(NamedTuple):
    """One API request as RBAC sees it."""

    verb: str
    group: str
    resource: str  # "services" or "services/status"
    namespace: str | None
    name: str | None


def call_of(request: Request) -> Call | None:
    """The RBAC attributes of a logged request; None for requests every user may make."""
    parts = request.path.strip("/").split("/")
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None  # /version, /api, /apis
    if not rest:
        return None  # discovery of one group version
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    name = rest[1] if len(rest) > 1 else None
    resource = "/".join([rest[0], *rest[2:3]])
    if request.method == "GET":
        verb = "get" if name else "watch" if request.query.get("watch") == "true" else "list"
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[
            request.method]
    if (group, resource, verb) == ("authorization.k8s.io", "selfsubjectaccessreviews",
                                   "create"):
        return None
    return Call(verb, group, resource, namespace, name)


def grants(documents: Iterable[Doc], account: tuple[str, str], call: Call) -> bool:
    """Does the RBAC in ``documents`` let ServiceAccount ``account`` (namespace, name) make
    ``call``?"""
    documents = list(documents)
    roles = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d
             for d in documents if d["kind"] in ("ClusterRole", "Role")}
    for binding in documents:
        if binding["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        if {"kind": "ServiceAccount", "namespace": account[0], "name": account[1]} not in \
                binding["subjects"]:
            continue
        scope = binding["metadata"].get("namespace")
        if scope is not None and call.namespace != scope:
            continue
        ref = binding["roleRef"]
        role = roles.get((ref["kind"], scope if ref["kind"] == "Role" else None, ref["name"]))
        for rule in (role or {}).get("rules", []):
            names = rule.get("resourceNames")
            if (call.group in rule["apiGroups"] and call.resource in rule["resources"]
                    and call.verb in rule["verbs"] and (not names or call.name in names)):
                return True
    return False


def printed(cli: Cli, *args: str) -> list[Doc]:
    result = cli("rbac", *args, "-o", "yaml")
    assert (result.code, result.err) == (0, "")
    return [d for d in yaml.safe_load_all(result.out) if d]


# --------------------------------------------------------------------------- the manifests


def test_objects_and_bindings(cli: Cli) -> None:
    documents = printed(cli, "-n", "lb")
    assert [(d["kind"], d["metadata"].get("namespace")) for d in documents] == [
        ("Namespace", None),
        ("ServiceAccount", "lb"), ("ClusterRole", None), ("ClusterRoleBinding", None),
        ("Role", "kube-system"), ("RoleBinding", "kube-system"),
    ]
    assert [d["metadata"]["name"] for d in documents] == ["lb"] + ["lbctl"] * 5
    for binding in (d for d in documents if d["kind"].endswith("Binding")):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "lbctl",
                                        "namespace": "lb"}]
        assert binding["roleRef"]["kind"] == binding["kind"].removesuffix("Binding")


def test_the_state_configmap_rules_are_namespaced_and_named(cli: Cli) -> None:
    role = printed(cli)[3]
    assert (role["kind"], role["metadata"]["namespace"]) == ("Role", "kube-system")
    # Secrets: create and delete (a BGP peer's password Secret lbctl makes, deleted by its
    # uid once no peer names it), never get, list or update
    assert {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]} in role["rules"]
    assert {"apiGroups": [""], "resources": ["secrets"],
            "verbs": ["create", "delete"]} in role["rules"]
    assert [r["verbs"] for r in role["rules"] if "secrets" in r["resources"]] == [
        ["create", "delete"]]
    assert {"apiGroups": [""], "resources": ["configmaps"],
            "verbs": ["get", "list", "update", "watch"],
            "resourceNames": ["lbctl-state"]} in role["rules"]


def test_metallb_namespace_only_when_asked(cli: Cli) -> None:
    """metallb-system exists only where MetalLB runs: a Role there without it would make
    ``kubectl apply`` fail on every other cluster."""
    kinds = [(d["kind"], d["metadata"].get("namespace")) for d in printed(cli, "--metallb")]
    assert kinds == [
        ("ServiceAccount", "kube-system"), ("ClusterRole", None), ("ClusterRoleBinding", None),
        ("Role", "kube-system"), ("RoleBinding", "kube-system"),
        ("Role", "metallb-system"), ("RoleBinding", "metallb-system"),
    ]
    assert all(d["metadata"].get("namespace") != "metallb-system" for d in printed(cli))


@pytest.mark.parametrize("namespace", ["kube-system", "default", "lb"])
def test_no_namespace_object_for_namespaces_every_cluster_has(cli: Cli, namespace: str) -> None:
    kinds = [d["kind"] for d in printed(cli, "-n", namespace)]
    assert kinds[0] == ("Namespace" if namespace == "lb" else "ServiceAccount")


@pytest.mark.parametrize("permission", PERMISSIONS, ids=lambda p: p.describe())
def test_every_listed_permission_is_granted(cli: Cli, permission: Any) -> None:
    resource = permission.resource + (f"/{permission.subresource}"
                                      if permission.subresource else "")
    call = Call(permission.verb, permission.group, resource,
                permission.namespace or "any-namespace", permission.name or "any-name")
    # the speakers' own (reading BGP passwords) is for their ServiceAccount only: lbctl install
    assert grants(printed(cli, "--metallb"), ("kube-system", "lbctl"), call) is permission.operator
    assert grants(printed(cli), ("kube-system", "lbctl"), call) is (
        permission.operator and not permission.optional)


def apply_in_order(server: FakeKubeServer, documents: list[Doc]) -> list[str]:
    """Create each document in order, as ``kubectl apply`` does on an empty cluster; the
    failures (a missing namespace)."""
    import http.client

    from tests.kubefake import resources

    failures = []
    for document in documents:
        resource = resources.BY_KIND[(document["apiVersion"], document["kind"])]
        namespace = document["metadata"].get("namespace")
        base = "/api/" if not resource.group else f"/apis/{resource.group}/"
        path = (base + f"{resource.version}/" + (f"namespaces/{namespace}/" if namespace else "")
                + resource.plural)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("POST", path, body=json.dumps(document),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        body = response.read()
        connection.close()
        if response.status != 201:
            failures.append(f"{document['kind']}: {response.status} {body!r}")
    return failures


@pytest.mark.parametrize("args", [[], ["-n", "tools"], ["-n", "default"]], ids=str)
def test_the_output_applies_on_a_fresh_cluster_without_metallb(cli: Cli, args: list[str]) -> None:
    with FakeKubeServer(require_namespaces=True) as server:
        assert apply_in_order(server, printed(cli, *args)) == []
    with FakeKubeServer(require_namespaces=True) as server:  # what --metallb is not for
        failures = apply_in_order(server, printed(cli, "--metallb"))
    assert [f.split(" ", 2)[:2] for f in failures] == [["Role:", "404"], ["RoleBinding:", "404"]]


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_the_readme_command_works_on_a_fresh_cluster(tmp_path: Path) -> None:
    """``lbctl rbac -n tools | kubectl apply -f -``, with the real kubectl."""
    assert KUBECTL is not None
    with FakeKubeServer(require_namespaces=True) as server:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "NO_COLOR": "1"}
        printed_rbac = subprocess.run([sys.executable, "-m", "lbctl", "rbac", "-n", "tools"],
                                      capture_output=True, text=True, env=env, timeout=60)
        applied = subprocess.run(
            [KUBECTL, "--kubeconfig", str(kubeconfig), "apply", "--validate=false", "-f", "-"],
            input=printed_rbac.stdout, capture_output=True, text=True, env=env, timeout=60)
        assert (applied.returncode, applied.stderr) == (0, "")
        assert server.get_object("serviceaccounts", "lbctl", "tools") is not None
        assert server.get_object("rolebindings", "lbctl", "kube-system") is not None


@pytest.mark.parametrize("call", [
    Call("delete", "", "services", "web", "front"),
    Call("update", "", "services", "web", "front"),
    Call("get", "", "secrets", "kube-system", "token"),
    Call("get", "", "configmaps", "kube-system", "coredns"),
    Call("update", "", "configmaps", "kube-system", "kubevip"),
    Call("get", "", "configmaps", "web", "lbctl-state"),
    Call("list", "", "configmaps", "kube-system", None),
    Call("patch", "apps", "daemonsets", "kube-system", "kube-flannel"),
], ids=str)
def test_nothing_else_is_granted(cli: Cli, call: Call) -> None:
    assert not grants(printed(cli), ("kube-system", "lbctl"), call)


def test_another_service_account_gets_nothing(cli: Cli) -> None:
    call = Call("list", "", "services", None, None)
    assert grants(printed(cli, "-n", "lb"), ("lb", "lbctl"), call)
    assert not grants(printed(cli, "-n", "lb"), ("kube-system", "lbctl"), call)


def test_table_output_explains_each_permission_and_is_the_same_yaml(cli: Cli) -> None:
    table = cli("rbac").out
    comments = [line for line in table.splitlines() if line.startswith("#")]
    assert comments == [f"# {p.describe()}: {p.why}" for p in PERMISSIONS
                        if p.operator and not p.optional]
    assert [d for d in yaml.safe_load_all(table) if d] == printed(cli)


def test_json_is_a_list(cli: Cli) -> None:
    result = cli("rbac", "-o", "json")
    assert json.loads(result.out) == {"apiVersion": "v1", "kind": "List", "items": printed(cli)}


# --------------------------------------------------------------------------- every call granted


Run = Callable[..., Any]


def pools(run: Run, server: FakeKubeServer) -> None:
    run("pool", "add", "a", "10.0.0.0/29", "-n", "web")
    run("pool", "list")
    run("pool", "show", "a")
    run("pool", "reserve", "a", "10.0.0.1")
    run("pool", "unreserve", "a", "10.0.0.1")
    run("pool", "export", "--format", "metallb")
    run("pool", "export", "--format", "kube-vip")
    run("pool", "remove", "a")


def legacy_import(run: Run, server: FakeKubeServer) -> None:
    seed(server, LEGACY, SERVICES, KUBEVIP)
    run("pool", "import", "metallb", codes=(1,))  # shop/elsewhere holds an address of no pool
    run("pool", "import", "kube-vip", "--dry-run", codes=(1,))  # the same Service


def crd_import(run: Run, server: FakeKubeServer) -> None:
    seed(server, CRDS)
    run("pool", "import", "metallb", "-n", "metallb-system")


def kube_proxy(run: Run, server: FakeKubeServer) -> None:
    seed_configmap(server)
    seed_daemonset(server)
    run("kube-proxy", "diff", codes=(0, 1))
    run("kube-proxy", "apply", "--restart")


def services(run: Run, server: FakeKubeServer) -> None:
    run("pool", "add", "a", "10.0.0.0/29")
    server.put_object({"apiVersion": "v1", "kind": "Service",
                       "metadata": {"name": "web", "namespace": "shop"},
                       "spec": {"type": "LoadBalancer", "ports": [{"port": 80}],
                                "selector": {"app": "web"}}})
    run("svc", "list", "-A", "-o", "wide")
    run("svc", "show", "web", "-n", "shop")
    run("assign", "svc", "web", "-n", "shop")
    run("assign", "svc", "--all", "-A")
    run("release", "svc", "web", "-n", "shop")
    run("reconcile", codes=(0, 1))
    run("doctor", codes=(0, 1))


def adoption(run: Run, server: FakeKubeServer) -> None:
    server.put_object({"apiVersion": "v1", "kind": "Service",
                       "metadata": {"name": "web", "namespace": "shop"},
                       "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
                       "status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.3"}]}}})
    run("adopt", "--all", "-A", codes=(4,))  # no state: lost (the Nodes are listed)
    run("pool", "add", "a", "10.0.0.0/29", "--new-state")
    run("adopt", "svc", "web", "-n", "shop", "--dry-run")
    run("adopt", "--all", "-A")


SCENARIOS: list[tuple[Callable[[Run, FakeKubeServer], None], tuple[str, ...]]] = [
    (pools, ("pool",)),
    (legacy_import, ("pool",)),
    (crd_import, ("pool",)),
    (kube_proxy, ("kube-proxy",)),
    (services, ("svc", "assign", "release", "reconcile", "doctor")),
    (adoption, ("adopt",)),
]


@pytest.mark.parametrize(("scenario", "commands"), SCENARIOS,
                         ids=[s.__name__ for s, _ in SCENARIOS])
def test_every_api_call_of_the_commands_is_granted(
        cli: Cli, metallb_crds: None, tmp_path: Path,
        scenario: Callable[[Run, FakeKubeServer], None], commands: tuple[str, ...]) -> None:
    missing = [c for c in commands if cli(c, "--help").code != 0]
    if missing:
        pytest.skip(f"{', '.join(missing)} not registered in lbctl.cli.main yet")
    with FakeKubeServer() as server:
        kubeconfig = str(server.write_kubeconfig(tmp_path / "kubeconfig"))

        def run(*args: str, codes: tuple[int, ...] = (0,)) -> None:
            result = cli(*args, "--kubeconfig", kubeconfig)
            assert result.code in codes, (args, result)

        scenario(run, server)
        calls = {c for c in map(call_of, server.requests) if c is not None}
    assert calls, "the scenario made no API call"
    documents = printed(cli, "--metallb")  # the scenarios include a cluster running MetalLB
    denied = sorted(c for c in calls if not grants(documents, ("kube-system", "lbctl"), c))
    assert denied == [], "add these to lbctl/core/permissions.py"
