"""``lbctl kube-proxy``: exact output and exit codes, on files, on the fake cluster, on fake /proc.

Exit codes users script against: ``diff`` 0 (no change needed) / 1 (a change is needed) like
``kubectl diff``; ``apply`` 0, or 1 when the rollout it waited for is not finished; ``check-node``
0 (strict ARP active) / 1 (not); 2 bad input, 3 not found, 4 refused, 5 conflict, 8 k3s/RKE2.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from tests.actions.test_kubeproxy import (
    FIXTURES,
    KUBEADM,
    STRICT,
    seed_configmap,
    seed_daemonset,
    seed_node,
    stored,
)
from tests.conftest import Cli
from tests.kubefake.server import FakeKubeServer

DIFF_HUNK = (
    "@@ -34,7 +34,7 @@\n"
    "   excludeCIDRs: null\n"
    "   minSyncPeriod: 0s\n"
    '   scheduler: ""\n'
    "-  strictARP: false\n"
    "+  strictARP: true\n"
    "   syncPeriod: 0s\n"
    "   tcpFinTimeout: 0s\n"
    "   tcpTimeout: 0s\n"
)
CLUSTER_DIFF = (
    "--- a/configmap/kube-system/kube-proxy/config.conf\n"
    "+++ b/configmap/kube-system/kube-proxy/config.conf\n" + DIFF_HUNK
)
RESTART_HINT = ("hint: kube-proxy reads its configuration only at start; restart it: "
                "kubectl -n kube-system rollout restart daemonset/kube-proxy\n")


def copy_fixture(tmp_path: Path, name: str, newline: str = "\n") -> Path:
    path = tmp_path / name
    path.write_bytes((FIXTURES / name).read_bytes().replace(b"\n", newline.encode()))
    return path


# --- diff on files -----------------------------------------------------------------------------


def test_diff_file_needing_a_change(cli: Cli, tmp_path: Path) -> None:
    path = copy_fixture(tmp_path, "kubeadm-ipvs.conf")
    result = cli("kube-proxy", "diff", "-f", str(path))
    label = str(path).lstrip("/")
    assert (result.code, result.out, result.err) == (
        1,
        f"--- a/{label}\n+++ b/{label}\n" + DIFF_HUNK,
        f"change needed: ipvs.strictARP is false in file {path}; IPVS needs true\n",
    )


@pytest.mark.parametrize(("name", "err"), [
    ("strict.conf", "no change needed: ipvs.strictARP is already true in file {path}\n"),
    ("iptables.conf", "no change needed: mode iptables does not use strictARP (--always shows "
                      "the change anyway)\n"),
])
def test_diff_file_needing_nothing(cli: Cli, tmp_path: Path, name: str, err: str) -> None:
    path = copy_fixture(tmp_path, name)
    result = cli("kube-proxy", "diff", "-f", str(path))
    assert (result.code, result.out, result.err) == (0, "", err.format(path=path))


def test_diff_always_shows_the_change_in_iptables_mode(cli: Cli, tmp_path: Path) -> None:
    path = copy_fixture(tmp_path, "iptables.conf")
    result = cli("kube-proxy", "diff", "-f", str(path), "--always")
    assert result.code == 1
    assert "-  strictARP: false\n+  strictARP: true\n" in result.out
    assert result.err == ("mode iptables does not need strictARP; the change above is for "
                          "--always\n")


def test_diff_keeps_crlf_bytes_on_stdout(cli: Cli, tmp_path: Path) -> None:
    path = copy_fixture(tmp_path, "no-ipvs.conf", "\r\n")
    result = cli("kube-proxy", "diff", "-f", str(path))
    assert result.code == 1
    assert "+ipvs:\r\n+  strictARP: true\r\n" in result.out


def test_diff_reads_a_manifest_from_stdin(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = (FIXTURES / "configmap.yaml").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(manifest)))
    result = cli("kube-proxy", "diff", "-f", "-", "-o", "json")
    assert result.code == 1
    assert json.loads(result.out) == {
        "source": "stdin",
        "mode": "ipvs",
        "strictARP": {"current": False, "desired": True},
        "required": True,
        "changeNeeded": True,
        "diff": "--- a/stdin\n+++ b/stdin\n@@ -37,7 +37,7 @@\n"
                "       excludeCIDRs: null\n       minSyncPeriod: 0s\n"
                '       scheduler: ""\n-      strictARP: false\n+      strictARP: true\n'
                "       syncPeriod: 0s\n       tcpFinTimeout: 0s\n       tcpTimeout: 0s\n",
    }


@pytest.mark.parametrize(("content", "code", "err"), [
    (None, 3, "lbctl: error: {path} does not exist\n"
              "hint: give files, directories, or - for stdin, with -f\n"),
    (b"kind: [\n", 2, "lbctl: error: file {path}:2:1: not valid YAML: did not find expected "
                      "node content\nhint: fix the YAML; lbctl changed nothing\n"),
    (b"\xff\xfe", 2, "lbctl: error: {path} is not UTF-8 text (byte 0)\n"
                     "hint: give YAML or JSON manifests\n"),
    (b"kind: KubeProxyConfiguration\nmode: ipvs\nipvs: {scheduler: rr}\n", 4,
     "lbctl: error: ipvs is written in flow style ({{...}}); lbctl edits only block style\n"
     "hint: rewrite it in block style, one key per line, and run lbctl again\n"),
])
def test_diff_file_errors(cli: Cli, tmp_path: Path, content: bytes | None, code: int,
                          err: str) -> None:
    path = tmp_path / "kp.yaml"
    if content is not None:
        path.write_bytes(content)
    result = cli("kube-proxy", "diff", "-f", str(path))
    assert (result.code, result.out, result.err) == (code, "", err.format(path=path))


def test_unsupported_output_format(cli: Cli, tmp_path: Path) -> None:
    result = cli("kube-proxy", "diff", "-f", str(copy_fixture(tmp_path, "strict.conf")),
                 "-o", "wide")
    assert (result.code, result.err) == (2, "lbctl: error: -o wide is not supported here\n"
                                            "hint: choose one of: table, json, yaml\n")


# --- the cluster -------------------------------------------------------------------------------


def test_diff_apply_diff(cli: Cli, kube_server: FakeKubeServer, kubeconfig: Path) -> None:
    seed_configmap(kube_server)
    k = ("--kubeconfig", str(kubeconfig))
    result = cli("kube-proxy", "diff", *k)
    assert (result.code, result.out) == (1, CLUSTER_DIFF)
    result = cli("kube-proxy", "apply", *k)
    assert (result.code, result.out, result.err) == (
        0,
        CLUSTER_DIFF + "configmap/kube-proxy configured\n",
        "change needed: ipvs.strictARP is false in ConfigMap kube-system/kube-proxy; IPVS "
        "needs true\n" + RESTART_HINT,
    )
    assert stored(kube_server)["data"]["config.conf"] == STRICT
    result = cli("kube-proxy", "apply", *k)
    assert (result.code, result.out, result.err) == (
        0, "configmap/kube-proxy unchanged\n",
        "no change needed: ipvs.strictARP is already true in ConfigMap kube-system/kube-proxy\n")
    assert cli("kube-proxy", "diff", *k).code == 0


def test_apply_dry_run(cli: Cli, kube_server: FakeKubeServer, kubeconfig: Path) -> None:
    seed_configmap(kube_server)
    result = cli("kube-proxy", "apply", "--dry-run", "--kubeconfig", str(kubeconfig))
    assert (result.code, result.out) == (0, CLUSTER_DIFF + "configmap/kube-proxy configured "
                                                           "(dry run)\n")
    assert result.err.endswith(RESTART_HINT)
    assert stored(kube_server)["data"]["config.conf"] == KUBEADM


def test_apply_restart(cli: Cli, kube_server: FakeKubeServer, kubeconfig: Path) -> None:
    seed_configmap(kube_server)
    seed_daemonset(kube_server)
    result = cli("kube-proxy", "apply", "--restart", "--kubeconfig", str(kubeconfig))
    assert (result.code, result.out, result.err) == (
        0,
        CLUSTER_DIFF + "configmap/kube-proxy configured\ndaemonset.apps/kube-proxy restarted\n",
        "change needed: ipvs.strictARP is false in ConfigMap kube-system/kube-proxy; IPVS "
        "needs true\nkube-proxy rolled out: 3 of 3 pods updated and available\n",
    )


def test_apply_restart_timeout_exits_1(cli: Cli, kube_server: FakeKubeServer,
                                       kubeconfig: Path) -> None:
    seed_configmap(kube_server, STRICT)
    seed_daemonset(kube_server, available=2)
    result = cli("kube-proxy", "apply", "--restart", "--timeout", "0", "-o", "json",
                 "--kubeconfig", str(kubeconfig))
    assert result.code == 1
    assert json.loads(result.out) == {
        "source": "ConfigMap kube-system/kube-proxy",
        "mode": "ipvs",
        "strictARP": {"current": True, "desired": True},
        "required": True,
        "changeNeeded": False,
        "diff": "",
        "applied": False,
        "dryRun": False,
        "restart": {"done": False, "message": "2 of 3 updated pods available", "desired": 3,
                    "updated": 3, "available": 2},
    }


def test_apply_restart_timeout_message(cli: Cli, kube_server: FakeKubeServer,
                                       kubeconfig: Path) -> None:
    seed_configmap(kube_server, STRICT)
    seed_daemonset(kube_server, available=2)
    result = cli("kube-proxy", "apply", "--restart", "--timeout", "0",
                 "--kubeconfig", str(kubeconfig))
    assert result.code == 1
    assert result.err.endswith(
        "kube-proxy rollout not finished after 0s: 2 of 3 updated pods available\n"
        "hint: follow it with kubectl -n kube-system rollout status daemonset/kube-proxy\n")


def test_concurrent_edits_exit_5(cli: Cli, kube_server: FakeKubeServer,
                                 kubeconfig: Path) -> None:
    seed_configmap(kube_server)
    kube_server.inject(409, "PUT", "/configmaps/kube-proxy$", times=None)
    result = cli("kube-proxy", "apply", "--kubeconfig", str(kubeconfig))
    assert (result.code, result.out) == (5, "")
    assert result.err.startswith("lbctl: error: ConfigMap kube-system/kube-proxy changed under "
                                 "lbctl 8 times in a row\n")


@pytest.mark.parametrize(("args", "err"), [
    ([], "(1 node: 1 default proxy-mode (iptables))\n"
         "hint: nothing to add in this mode; switching to proxy-mode=ipvs, add "
         "ipvs-strict-arp=true with it in /etc/rancher/k3s/config.yaml\n"),
    (["--kube-proxy-arg", "proxy-mode=ipvs"],
     "(1 node: 1 proxy-mode=ipvs without ipvs-strict-arp=true)\n"
     "hint: on every node add kube-proxy-arg: [ipvs-strict-arp=true] (or "
     "--kube-proxy-arg=ipvs-strict-arp=true) to /etc/rancher/k3s/config.yaml, then restart "
     "k3s (k3s-agent on agents)\n"),
])
@pytest.mark.parametrize("command", [["diff"], ["apply"], ["apply", "--restart"]])
def test_k3s_exits_8(cli: Cli, kube_server: FakeKubeServer, kubeconfig: Path,
                     command: list[str], args: list[str], err: str) -> None:
    seed_node(kube_server, "edge-1", "v1.31.1+k3s1",
              {"k3s.io/node-args": json.dumps(["server", *args])})
    result = cli("kube-proxy", *command, "--kubeconfig", str(kubeconfig))
    assert (result.code, result.out, result.err) == (
        8, "", "lbctl: error: kube-proxy on this k3s cluster is configured by k3s flags, not a "
               "ConfigMap " + err)


# --- check-node --------------------------------------------------------------------------------


def fake_proc(root: Path, **values: tuple[int, int]) -> Path:
    for name, (ignore, announce) in values.items():
        conf = root / "sys/net/ipv4/conf" / name
        conf.mkdir(parents=True)
        (conf / "arp_ignore").write_text(f"{ignore}\n")
        (conf / "arp_announce").write_text(f"{announce}\n")
    return root


def test_check_node_active(cli: Cli, tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, all=(1, 2), default=(0, 0), lo=(0, 0), eth0=(0, 0))
    result = cli("kube-proxy", "check-node", "--proc-root", str(proc))
    assert (result.code, result.out, result.err) == (
        0,
        "INTERFACE   ARP_IGNORE            ARP_ANNOUNCE          STRICT\n"
        "all         1                     2                     -\n"
        "eth0        1 (from all; own 0)   2 (from all; own 0)   yes\n",
        "strict ARP is active: arp_ignore >= 1 and arp_announce >= 2 apply on every interface\n",
    )


def test_check_node_not_active(cli: Cli, tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, all=(0, 0), eth0=(1, 2), cni0=(0, 0))
    result = cli("kube-proxy", "check-node", "--proc-root", str(proc))
    assert result.code == 1
    assert result.err.startswith("strict ARP is not active on: cni0\n")
    result = cli("kube-proxy", "check-node", "--proc-root", str(proc), "-o", "json")
    assert result.code == 1
    assert json.loads(result.out) == {
        "active": False,
        "all": {"arpIgnore": 0, "arpAnnounce": 0},
        "interfaces": [
            {"name": "cni0", "arpIgnore": 0, "arpAnnounce": 0, "effectiveArpIgnore": 0,
             "effectiveArpAnnounce": 0, "strict": False},
            {"name": "eth0", "arpIgnore": 1, "arpAnnounce": 2, "effectiveArpIgnore": 1,
             "effectiveArpAnnounce": 2, "strict": True},
        ],
    }


def test_check_node_without_proc(cli: Cli, tmp_path: Path) -> None:
    result = cli("kube-proxy", "check-node", "--proc-root", str(tmp_path))
    assert result.code == 3
    assert result.err.startswith(f"lbctl: error: {tmp_path}/sys/net/ipv4/conf does not exist\n")


def test_check_node_skips_an_interface_that_vanished(cli: Cli, tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, all=(1, 2))
    (proc / "sys/net/ipv4/conf/veth0").mkdir()  # listed, then gone before its files were read
    result = cli("kube-proxy", "check-node", "--proc-root", str(proc), "-o", "json")
    assert (result.code, json.loads(result.out)["interfaces"]) == (0, [])


def test_check_node_rejects_garbage(cli: Cli, tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, all=(1, 2))
    (proc / "sys/net/ipv4/conf/all/arp_ignore").write_text("one\n")
    result = cli("kube-proxy", "check-node", "--proc-root", str(proc))
    assert result.code == 2
    assert "holds 'one', not a number" in result.err
