"""The README's two day-two walk-throughs, run as written: a migration from MetalLB (its
IPAddressPool CRDs, or its legacy ConfigMap, with Services already holding addresses) and a
GitOps repository (add, pin, edit, delete, prune, apply with kubectl).  Nothing edits the state
by hand: every step is a line of README.md, read from it here.

``lbctl`` lines run in-process through the real error boundary; ``sed`` and ``git`` run as
they are in a folder of the test's own; ``kubectl`` is the real kubectl, pointed at the fake
kube-apiserver, with two concessions to that fake: ``apply`` gets ``--validate=false`` (the
fake serves no OpenAPI document to validate against), and ``scale`` runs with
``--dry-run=client`` (the fake has no ``scale`` subresource) followed by the same change as a
``kubectl patch`` of ``spec.replicas``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import statefiles
from tests.cli.test_pool_interop import metallb_crds  # noqa: F401  (a fixture)
from tests.conftest import Cli, Result
from tests.kubefake.server import FakeKubeServer

README = Path(__file__).parents[2] / "README.md"
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


def steps(marker: str) -> list[str]:
    """The command lines of the first ``sh`` block after the README line holding ``marker``,
    without comment lines."""
    text = README.read_text()
    start = text.index("```sh\n", text.index(marker)) + len("```sh\n")
    block = text[start:text.index("```", start)]
    return [line for line in block.splitlines() if line.strip()
            and not line.lstrip().startswith("#")]


class Shell:
    """Runs README lines in ``repo``: ``S=...`` sets a variable, ``> FILE`` redirects."""

    def __init__(self, cli: Cli, repo: Path, kubeconfig: Path | None) -> None:
        self.cli, self.repo, self.kubeconfig = cli, repo, kubeconfig
        self.variables: dict[str, str] = {}

    def __call__(self, line: str) -> Result:
        words = shlex.split(line, comments=True)
        result = Result(0, "", "")
        while words and not result.code:  # a && b
            at = words.index("&&") if "&&" in words else len(words)
            result = self._one([self._expand(w) for w in words[:at]])
            words = words[at + 1:]
        return result

    def _one(self, words: list[str]) -> Result:
        if len(words) == 1 and "=" in words[0]:
            name, value = words[0].split("=", 1)
            self.variables[name] = value
            return Result(0, "", "")
        target = None
        if ">" in words:
            at = words.index(">")
            words, target = words[:at], words[at + 1]
        result = self._run(words)
        if target is not None:
            (self.repo / target).write_text(result.out)
        return result

    def _expand(self, word: str) -> str:
        for name, value in self.variables.items():
            word = word.replace(f"${name}", value)
        return word

    def _run(self, words: list[str]) -> Result:
        program, args = words[0], words[1:]
        if program == "lbctl":
            extra = ["--kubeconfig", str(self.kubeconfig)] if self.kubeconfig else []
            return self.cli(*args, *extra)
        if program == "kubectl":
            return self._kubectl(args)
        assert program in ("sed", "git"), program
        done = subprocess.run(words, cwd=self.repo, capture_output=True, text=True, timeout=60,
                              check=False)
        return Result(done.returncode, done.stdout, done.stderr)

    def _kubectl(self, args: list[str]) -> Result:
        assert KUBECTL is not None and self.kubeconfig is not None
        if "apply" in args:
            args = [*args, "--validate=false"]
        if "scale" in args:
            dry = self._kubectl_run([*args, "--dry-run=client"])
            if dry.code:
                return dry
            replicas = args[args.index("--replicas") + 1]
            at = args.index("scale")
            args = [*args[:at], "patch", *args[at + 1:at + 3], "-p",
                    json.dumps({"spec": {"replicas": int(replicas)}})]
        return self._kubectl_run(args)

    def _kubectl_run(self, args: list[str]) -> Result:
        assert KUBECTL is not None
        done = subprocess.run([KUBECTL, "--kubeconfig", str(self.kubeconfig), *args],
                              cwd=self.repo, capture_output=True, text=True, timeout=120,
                              check=False, env={**os.environ, "KUBECONFIG": ""})
        return Result(done.returncode, done.stdout, done.stderr)


def walk(shell: Shell, lines: list[str], codes: dict[str, int],
         before: dict[str, Callable[[], None]] | None = None) -> dict[str, Result]:
    """Run every line; each must exit 0 unless ``codes`` names a part of it.  ``before`` runs
    a hook before the line holding its key (the world moving on between two steps)."""
    results = {}
    for line in lines:
        for key, hook in (before or {}).items():
            if key in line:
                hook()
        result = shell(line)
        expected = next((code for key, code in codes.items() if key in line), 0)
        assert result.code == expected, (line, result.out[-2000:], result.err[-2000:])
        assert "Traceback" not in result.err
        results[line] = result
    return results


# --------------------------------------------------------------------------- GitOps


def service(name: str, namespace: str = "shop", port: int = 80) -> str:
    return (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: "
            f"{namespace}\nspec:\n  type: LoadBalancer\n  ports:\n  - port: {port}\n")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A Git repository with ``k8s/api.yaml`` and ``k8s/web.yaml``, committed."""
    repo = tmp_path / "repo"
    (repo / "k8s").mkdir(parents=True)
    for name in ("api", "web"):
        (repo / "k8s" / f"{name}.yaml").write_text(service(name))
    for variable in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "t")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "t@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "t")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "t@example.com")
    for command in (["git", "init", "-q", "."], ["git", "add", "-A"],
                    ["git", "commit", "-q", "-m", "Services"]):
        subprocess.run(command, cwd=repo, check=True, capture_output=True, timeout=60)
    monkeypatch.chdir(repo)
    yield repo


def pins(repo: Path) -> dict[str, str]:
    found = {}
    for path in sorted((repo / "k8s").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        if doc.get("kind") == "Service":
            found[doc["metadata"]["name"]] = doc["metadata"]["annotations"][
                "metallb.io/loadBalancerIPs"]
    return found


@needs_kubectl
def test_the_gitops_cycle_runs_as_the_readme_shows(cli: Cli, repo: Path, kubeconfig: Path,
                                                   kube_server: FakeKubeServer) -> None:
    lines = steps("The whole GitOps cycle")
    assert [line.split()[0] for line in lines].count("lbctl") >= 6
    results = walk(Shell(cli, repo, kubeconfig), lines,
                   codes={"sed -i": 0, "doctor -f k8s/ --state $S  ": 1})
    state = statefiles.document(repo / "k8s" / "lbctl-state.yaml")
    assert state["allocations"] == {"shop": {"web": {"ips": ["192.168.1.40"],
                                                     "pool": "default"}}}
    assert pins(repo) == {"web": "192.168.1.40"}
    pinned = next(r for line, r in results.items() if "doctor -f k8s/ --state $S  " in line)
    assert "svc.pinned" in pinned.out and "lbctl assign -f k8s/" in pinned.out
    pruned = next(r for line, r in results.items() if "--prune --dry-run" in line)
    assert "shop        api    pruned (dry run)" in pruned.out + pruned.err
    applied = kube_server.get_object("configmaps", "lbctl-state", "kube-system")
    assert applied is not None and applied["data"]["state.yaml"] == statefiles.document_text(
        repo / "k8s" / "lbctl-state.yaml")
    assert kube_server.get_object("services", "web", "shop") is not None
    log = subprocess.run(["git", "log", "--oneline"], cwd=repo, capture_output=True,
                         text=True, check=True).stdout
    assert len(log.splitlines()) >= 2


@needs_kubectl
def test_the_short_gitops_walkthrough_runs_too(cli: Cli, repo: Path, kubeconfig: Path,
                                               kube_server: FakeKubeServer) -> None:
    lines = steps("### A GitOps repository, end to end")
    walk(Shell(cli, repo, kubeconfig), lines, codes={})
    assert pins(repo) == {"api": "192.168.1.30", "web": "192.168.1.31"}
    assert "<testsuites" in (repo / "doctor.xml").read_text()
    applied = kube_server.get_object("configmaps", "lbctl-state", "kube-system")
    assert applied is not None and applied["data"]["state.yaml"] == statefiles.document_text(
        repo / "k8s" / "lbctl-state.yaml")


# --------------------------------------------------------------------------- migration

POOLS = {
    "crds": [{"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
              "metadata": {"name": "production", "namespace": "metallb-system"},
              "spec": {"addresses": ["192.168.10.0/24"]}},
             {"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement",
              "metadata": {"name": "all", "namespace": "metallb-system"}, "spec": {}}],
    "legacy": [{"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "config", "namespace": "metallb-system"},
                "data": {"config": "address-pools:\n- name: production\n  protocol: layer2\n"
                                   "  addresses:\n  - 192.168.10.0/24\n"}}],
}
CONTROLLER = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "controller", "namespace": "metallb-system",
                           "labels": {"app": "metallb", "component": "controller"}},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "metallb"}},
                       "template": {"metadata": {"labels": {"app": "metallb"}},
                                    "spec": {"containers": [{"name": "controller",
                                                             "image": "metallb/controller"}]}}}}


def lb_service(name: str, namespace: str, ip: str, protocol: str = "TCP", port: int = 80,
               sharing: str = "") -> dict[str, Any]:
    annotations = {"metallb.io/allow-shared-ip": sharing} if sharing else {}
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
            "spec": {"type": "LoadBalancer", "selector": {"app": name},
                     "ports": [{"port": port, "protocol": protocol}]},
            "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}}


SERVICES = [lb_service("web", "shop", "192.168.10.7"),
            lb_service("dns-tcp", "infra", "192.168.10.8", "TCP", 53, "dns"),
            lb_service("dns-udp", "infra", "192.168.10.8", "UDP", 53, "dns")]


def statuses(server: FakeKubeServer) -> dict[str, list[str]]:
    return {f"{s['metadata']['namespace']}/{s['metadata']['name']}":
            [i["ip"] for i in s["status"]["loadBalancer"]["ingress"]]
            for s in server.objects_of("services")}


@needs_kubectl
@pytest.mark.parametrize("form", sorted(POOLS))
def test_the_metallb_migration_runs_as_the_readme_shows(
        cli: Cli, tmp_path: Path, metallb_crds: None, form: str,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    lines = steps("### Migrating from MetalLB, end to end")
    assert any("pool import metallb" in line for line in lines)
    monkeypatch.chdir(tmp_path)
    with FakeKubeServer() as server:
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
        for obj in [*POOLS[form], CONTROLLER, *SERVICES]:
            server.put_object(obj)
        before = statuses(server)

        def metallb_publishes_one_more() -> None:  # MetalLB still runs between two steps
            server.put_object(lb_service("late", "shop", "192.168.10.9"))

        walk(Shell(cli, tmp_path, kubeconfig), lines, codes={},
             before={"adopt --all": metallb_publishes_one_more})
        configmap = server.get_object("configmaps", "lbctl-state", "kube-system")
        assert configmap is not None
        state = yaml.safe_load(configmap["data"]["state.yaml"])
        assert state["pools"]["production"]["addresses"] == ["192.168.10.0/24"]
        recorded = {f"{ns}/{name}": (a["ips"], a["pool"], a.get("sharingKey"))
                    for ns, services in state["allocations"].items()
                    for name, a in services.items()}
        assert recorded == {
            "infra/dns-tcp": (["192.168.10.8"], "production", "dns"),
            "infra/dns-udp": (["192.168.10.8"], "production", "dns"),
            "shop/late": (["192.168.10.9"], "production", None),
            "shop/web": (["192.168.10.7"], "production", None)}
        assert statuses(server) == {**before, "shop/late": ["192.168.10.9"]}  # none renumbered
        deployment = server.get_object("deployments", "controller", "metallb-system")
        assert deployment is not None and deployment["spec"]["replicas"] == 0
