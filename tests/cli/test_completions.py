"""Shell completion: the committed scripts match the CLI, and names complete from the state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli

COMPLETIONS = Path(__file__).resolve().parents[2] / "completions"


def _lbctl(env: dict[str, str]) -> str:
    return subprocess.run([sys.executable, "-m", "lbctl"], env={**os.environ, **env},
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize(("shell", "name"),
                         [("bash", "lbctl.bash"), ("zsh", "_lbctl"), ("fish", "lbctl.fish")])
def test_committed_scripts_match_the_cli(shell: str, name: str) -> None:
    generated = _lbctl({"_LBCTL_COMPLETE": f"source_{shell}"})
    assert generated, f"no {shell} script generated"
    assert (COMPLETIONS / name).read_text() == generated, "run completions/generate"


def test_pool_names_complete_from_the_state_file(cli: Cli, tmp_path: Path) -> None:
    state = str(tmp_path / "lb.yaml")
    cli("pool", "add", "default", "10.0.0.0/24", "--state", state)
    cli("pool", "add", "dmz", "10.0.1.0/24", "--state", state)
    cli("pool", "add", "edge", "10.0.2.0/24", "--state", state)
    words = f"lbctl pool show --state {state} d"
    out = _lbctl({"_LBCTL_COMPLETE": "complete_bash", "COMP_WORDS": words,
                  "COMP_CWORD": str(len(words.split()) - 1)})
    assert out.split() == ["default", "dmz"]


def test_bgp_peer_names_complete_from_the_state_file(cli: Cli, tmp_path: Path) -> None:
    state = str(tmp_path / "lb.yaml")
    for name, address in (("tor-a", "10.0.0.1"), ("tor-b", "10.0.0.2"), ("rr", "10.0.0.3")):
        cli("bgp", "peer", "add", name, "--address", address, "--asn", "64501", "--my-asn",
            "64500", "--state", state)
    words = f"lbctl bgp peer show --state {state} t"
    out = _lbctl({"_LBCTL_COMPLETE": "complete_bash", "COMP_WORDS": words,
                  "COMP_CWORD": str(len(words.split()) - 1)})
    assert out.split() == ["tor-a", "tor-b"]


def test_namespaces_complete_from_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "lb.yaml"
    state.write_text(
        "schemaVersion: 1\npools:\n  a: {addresses: [10.0.0.0/24]}\n"
        "allocations:\n  shop:\n    web: {ips: [10.0.0.1], pool: a}\n"
        "  staging:\n    web: {ips: [10.0.0.2], pool: a}\n"
        "holds:\n  search:\n    api: {ips: [10.0.0.3], pool: a}\n")
    words = f"lbctl svc list --state {state} -n s"
    out = _lbctl({"_LBCTL_COMPLETE": "complete_bash", "COMP_WORDS": words,
                  "COMP_CWORD": str(len(words.split()) - 1)})
    assert out.split() == ["search", "shop", "staging"]


def test_commands_complete() -> None:
    out = _lbctl({"_LBCTL_COMPLETE": "complete_bash", "COMP_WORDS": "lbctl pool re",
                  "COMP_CWORD": "2"})
    assert out.split() == ["remove", "reserve"]


def test_root_commands_complete_with_their_summaries() -> None:
    """``lbctl <TAB>`` offers every command (built lazily: the names and summaries come from the
    root's table), zsh with their short help."""
    out = _lbctl({"_LBCTL_COMPLETE": "complete_bash", "COMP_WORDS": "lbctl re",
                  "COMP_CWORD": "1"})
    assert out.split() == ["release", "reconcile"]
    out = _lbctl({"_LBCTL_COMPLETE": "complete_zsh", "COMP_WORDS": "lbctl ver",
                  "COMP_CWORD": "1"})
    assert '"version":"Print the versions of lbctl and of the..."' in out.splitlines()


# --- names from the cluster ------------------------------------------------------------------


def _complete(words: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Ask for completions of the last word of ``words`` (a trailing space: a new word)."""
    count = len(words.split()) - (0 if words.endswith(" ") else 1)
    return subprocess.run(
        [sys.executable, "-m", "lbctl"], capture_output=True, text=True, timeout=30,
        env={**os.environ, "_LBCTL_COMPLETE": "complete_bash", "COMP_WORDS": words,
             "COMP_CWORD": str(count), **(env or {})},
    )


@pytest.fixture
def cluster(kube_server: Any, kubeconfig: Path) -> Path:
    services = [("shop", "web", "LoadBalancer"), ("shop", "worker", "LoadBalancer"),
                ("shop", "wiki", "ClusterIP"), ("default", "edge", "LoadBalancer")]
    for namespace, name, kind in services:
        kube_server.put_object({"apiVersion": "v1", "kind": "Service",
                                "metadata": {"name": name, "namespace": namespace},
                                "spec": {"type": kind, "ports": [{"port": 80}]}})
    return kubeconfig


@pytest.mark.parametrize(("words", "expected"), [
    ("lbctl svc show -n shop w", ["web", "worker"]),  # LoadBalancer Services only
    ("lbctl svc show ", ["edge"]),  # the context's namespace
    ("lbctl assign svc -n shop ", ["web", "worker"]),
    ("lbctl assign ", ["svc"]),
    ("lbctl release svc -n shop we", ["web"]),
    ("lbctl release -n shop svc/w", ["svc/web", "svc/worker"]),
])
def test_service_names_complete_from_the_cluster(
    cluster: Path, words: str, expected: list[str]
) -> None:
    done = _complete(words.replace("lbctl ", f"lbctl --kubeconfig {cluster} ", 1))
    assert (done.returncode, done.stdout.split(), done.stderr) == (0, expected, "")


def test_pool_names_complete_from_the_cluster_state(cli: Cli, cluster: Path) -> None:
    for name, cidr in [("default", "10.0.0.0/24"), ("dmz", "10.0.1.0/24"), ("edge", "10.0.2.0/24")]:
        assert cli("pool", "add", name, cidr, "--kubeconfig", str(cluster)).code == 0
    done = _complete(f"lbctl pool show --kubeconfig {cluster} d")
    assert (done.stdout.split(), done.stderr) == (["default", "dmz"], "")


def test_completion_is_silent_when_the_cluster_is_down(tmp_path: Path) -> None:
    from tests.kubefake.server import FakeKubeServer

    with FakeKubeServer() as server:
        path = server.write_kubeconfig(tmp_path / "kc")
    for words in (f"lbctl svc show --kubeconfig {path} ", f"lbctl pool show --kubeconfig {path} ",
                  f"lbctl svc show --kubeconfig {tmp_path / 'missing'} "):
        done = _complete(words)
        assert (done.returncode, done.stdout.split(), done.stderr) == (0, [], "")


def test_completion_never_runs_an_exec_plugin(tmp_path: Path, kube_server: Any) -> None:
    marker = tmp_path / "plugin-ran"
    config = {
        "clusters": [{"name": "c", "cluster": {"server": kube_server.url}}],
        "users": [{"name": "u", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "sh",
            "args": ["-c", f"touch {marker}; echo '{{}}'"]}}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path = tmp_path / "kc"
    path.write_text(json.dumps(config))
    done = _complete(f"lbctl svc show --kubeconfig {path} ")
    assert (done.returncode, done.stdout.split(), done.stderr) == (0, [], "")
    assert not marker.exists()
