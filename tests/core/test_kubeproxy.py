"""The strictARP text edit, the k3s/RKE2 detection, rollout and sysctl judgements (pure, fast).

Fixtures in ``tests/fixtures/kube-proxy/``: ``kubeadm-ipvs.conf`` is ``config.conf`` exactly as
kubeadm v1.30+ stores it (every field, no final newline) with ``mode: ipvs``; ``iptables.conf``
and ``strict.conf`` differ from it in one line; ``commented.conf`` is hand-written (comments,
quoted keys and values, a ``#`` inside quotes, four-space indentation, blank lines);
``no-ipvs.conf`` has no ``ipvs`` section; ``configmap.yaml`` is ``kubectl get cm kube-proxy -o
yaml``; ``kubeadm-init.yaml`` is a ``kubeadm init --config`` stream of three documents.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from lbctl.core import kubeproxy as kp
from lbctl.errors import ElsewhereError, ExitCode, LbctlError, RefusedError, UsageError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "kube-proxy"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode()


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """(lines only in before, lines only in after), as multisets: everything else is kept."""
    old, new = Counter(before.splitlines()), Counter(after.splitlines())
    return sorted((old - new).elements()), sorted((new - old).elements())


# --- the fixtures ------------------------------------------------------------------------------

FIXTURE_CASES = [
    # name, mode, current, removed lines, added lines
    ("kubeadm-ipvs.conf", "ipvs", False, ["  strictARP: false"], ["  strictARP: true"]),
    ("commented.conf", "ipvs", "false",
     ["    strictARP: 'false'    # FIXME: MetalLB needs this true"],
     ["    strictARP: true    # FIXME: MetalLB needs this true"]),
    ("no-ipvs.conf", "ipvs", None, [], ["  strictARP: true", "ipvs:"]),
    ("configmap.yaml", "ipvs", False, ["      strictARP: false"], ["      strictARP: true"]),
    ("kubeadm-init.yaml", "ipvs", None, [], ["  strictARP: true", "ipvs:"]),
]


@pytest.mark.parametrize(("name", "mode", "current", "removed", "added"), FIXTURE_CASES)
def test_fixture_edit_changes_only_the_strict_arp_line(
    name: str, mode: str, current: kp.Scalar, removed: list[str], added: list[str]
) -> None:
    text = fixture(name)
    plan = kp.plan_strict_arp(text, name)
    assert plan.config == kp.ProxyConfig(mode, current)
    assert plan.change_needed
    assert changed_lines(text, plan.edited) == (removed, added)
    assert kp.read_config(plan.edited, name).strict


def test_kubeadm_config_keeps_its_missing_final_newline() -> None:
    text = fixture("kubeadm-ipvs.conf")
    edited = kp.plan_strict_arp(text, "x").edited
    assert not text.endswith("\n")
    assert edited == text.replace("  strictARP: false\n", "  strictARP: true\n")


def test_configmap_manifest_keeps_every_other_byte() -> None:
    text = fixture("configmap.yaml")
    edited = kp.plan_strict_arp(text, "x").edited
    assert edited == text.replace("      strictARP: false\n", "      strictARP: true\n")
    config = yaml.safe_load(yaml.safe_load(edited)["data"]["config.conf"])
    assert config["ipvs"]["strictARP"] is True


@pytest.mark.parametrize("name", ["iptables.conf", "strict.conf"])
def test_fixtures_that_need_nothing(name: str) -> None:
    text = fixture(name)
    plan = kp.plan_strict_arp(text, name)
    assert (plan.edited, plan.changes, plan.change_needed) == (text, False, False)


def test_always_edits_in_iptables_mode() -> None:
    text = fixture("iptables.conf")
    plan = kp.plan_strict_arp(text, "x", always=True)
    assert plan.change_needed and plan.forced
    assert changed_lines(text, plan.edited) == (["  strictARP: false"], ["  strictARP: true"])


@pytest.mark.parametrize("name", [c[0] for c in FIXTURE_CASES])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_edit_is_idempotent_and_keeps_line_endings(name: str, newline: str) -> None:
    text = fixture(name).replace("\n", newline)
    edited = kp.plan_strict_arp(text, name).edited
    assert kp.plan_strict_arp(edited, name).edited == edited
    assert edited.count("\r\n") == (edited.count("\n") if newline == "\r\n" else 0)


# --- the line editor, case by case -----------------------------------------------------------

HEAD = "kind: KubeProxyConfiguration\nmode: ipvs\n"
CM = "kind: ConfigMap\ndata:\n  config.conf: "


def indent(text: str, spaces: int) -> str:
    return "".join(" " * spaces + line for line in text.splitlines(keepends=True))


EDITS = [
    pytest.param(HEAD + "ipvs:\n  strictARP: false\n", HEAD + "ipvs:\n  strictARP: true\n",
                 id="false"),
    pytest.param(HEAD + 'ipvs:\n  strictARP: "false"  # keep\n',
                 HEAD + "ipvs:\n  strictARP: true  # keep\n", id="double-quoted"),
    pytest.param(HEAD + "ipvs:\n  strictARP: !!bool no\n", HEAD + "ipvs:\n  strictARP: true\n",
                 id="tagged-yaml11-no"),
    pytest.param(HEAD + "ipvs:\n  strictARP: ~\n", HEAD + "ipvs:\n  strictARP: true\n",
                 id="null"),
    pytest.param(HEAD + "ipvs:\n  strictARP:   # decide later\n  scheduler: rr\n",
                 HEAD + "ipvs:\n  strictARP: true   # decide later\n  scheduler: rr\n",
                 id="empty-with-comment"),
    pytest.param(HEAD + '"ipvs":\n  "strictARP": false\n',
                 HEAD + '"ipvs":\n  "strictARP": true\n', id="quoted-keys"),
    pytest.param(HEAD + "ipvs:\n  scheduler: rr\n  # sync every 30s\n  syncPeriod: 30s\n",
                 HEAD + "ipvs:\n  scheduler: rr\n  strictARP: true\n  # sync every 30s\n"
                        "  syncPeriod: 30s\n", id="missing-key-sorted-before-its-comment"),
    pytest.param(HEAD + "ipvs:\n   tcpTimeout: 0s\n   excludeCIDRs:\n   - 10.0.0.1/32\n"
                        "# the end\n",
                 HEAD + "ipvs:\n   tcpTimeout: 0s\n   excludeCIDRs:\n   - 10.0.0.1/32\n"
                        "   strictARP: true\n# the end\n", id="missing-key-unsorted-appended"),
    pytest.param(HEAD + "ipvs:  # nothing yet\nz: 1\n",
                 HEAD + "ipvs:  # nothing yet\n  strictARP: true\nz: 1\n", id="ipvs-empty"),
    pytest.param(HEAD + "ipvs: {}\n", HEAD + "ipvs: {strictARP: true}\n", id="ipvs-flow-empty"),
    pytest.param(HEAD + "ipvs: {scheduler: rr, strictARP: off}\n",
                 HEAD + "ipvs: {scheduler: rr, strictARP: true}\n", id="ipvs-flow-value"),
    pytest.param('{"kind": "KubeProxyConfiguration", "mode": "ipvs", "ipvs": {"strictARP": false}}',
                 '{"kind": "KubeProxyConfiguration", "mode": "ipvs", "ipvs": {"strictARP": true}}',
                 id="json"),
    pytest.param("apiVersion: v1\niptables:\n    syncPeriod: 30s\nkind: KubeProxyConfiguration\n"
                 "mode: ipvs",
                 "apiVersion: v1\niptables:\n    syncPeriod: 30s\nipvs:\n    strictARP: true\n"
                 "kind: KubeProxyConfiguration\nmode: ipvs",
                 id="missing-ipvs-sorted-indent-4"),
    pytest.param(HEAD + "clientConnection:\n  kubeconfig: x",
                 HEAD + "clientConnection:\n  kubeconfig: x\nipvs:\n  strictARP: true",
                 id="missing-ipvs-appended-without-final-newline"),
    pytest.param("\ufeff" + HEAD + "ipvs:\n  strictARP: false\n",
                 "\ufeff" + HEAD + "ipvs:\n  strictARP: true\n", id="byte-order-mark"),
    pytest.param(HEAD.replace("\n", "\r\n") + "ipvs:\r\n  scheduler: rr\r\n",
                 HEAD.replace("\n", "\r\n") + "ipvs:\r\n  scheduler: rr\r\n  strictARP: true\r\n",
                 id="crlf-insert"),
    pytest.param(CM + "|2\n" + indent(HEAD + "ipvs:\n  strictARP: false\n", 6),
                 CM + "|2\n" + indent(HEAD + "ipvs:\n  strictARP: true\n", 6),
                 id="manifest-indentation-indicator"),
    pytest.param((CM + "|\n" + indent(HEAD, 4) + "\n  other: x\n").replace("\n", "\r\n"),
                 (CM + "|\n" + indent("ipvs:\n  strictARP: true\n" + HEAD, 4)
                  + "\n  other: x\n").replace("\n", "\r\n"),
                 id="manifest-crlf-missing-ipvs"),
    pytest.param("data:\n  config.conf: |-\n    kind: KubeProxyConfiguration\n    mode: ipvs\n"
                 "    ipvs:\n      scheduler: rr\nkind: ConfigMap\n",
                 "data:\n  config.conf: |-\n    kind: KubeProxyConfiguration\n    mode: ipvs\n"
                 "    ipvs:\n      scheduler: rr\n      strictARP: true\nkind: ConfigMap\n",
                 id="manifest-key-at-end-of-block"),
]


@pytest.mark.parametrize(("text", "expected"), EDITS)
def test_edit(text: str, expected: str) -> None:
    plan = kp.plan_strict_arp(text, "t")
    assert plan.edited == expected
    assert kp.plan_strict_arp(expected, "t").changes is False


REFUSALS = [
    pytest.param(HEAD + "ipvs: {scheduler: rr}\n", RefusedError, "flow style", id="flow-mapping"),
    pytest.param(HEAD + "base: &b\n  scheduler: rr\nipvs: *b\n", RefusedError,
                 "more than ipvs.strictARP", id="alias-shared-with-another-key"),
    pytest.param(HEAD + "ipvs:\n  strictARP: false\n  strictARP: false\n", UsageError,
                 "the key 'strictARP' is given twice in one mapping", id="duplicate-key"),
    pytest.param(HEAD + "ipvs:\n  strictARP: [false]\n", UsageError, "collection",
                 id="collection-value"),
    pytest.param(HEAD + "ipvs:\n  strictARP: !!set {false}\n", UsageError,
                 "the tag !!set is not read by lbctl", id="set-value"),
    pytest.param(HEAD + "ipvs:\n  strictARP: \"fa\n    lse\"\n", RefusedError, "several lines",
                 id="multi-line-value"),
    pytest.param(HEAD + "ipvs: null\n", RefusedError, "not a mapping", id="ipvs-null"),
    pytest.param(HEAD + "ipvs: 5\n", UsageError, "not a mapping", id="ipvs-scalar"),
    pytest.param("kind: ConfigMap\ndata:\n  config.conf: >\n    kind: KubeProxyConfiguration\n",
                 RefusedError, "not a literal block", id="folded-config"),
    pytest.param('{"kind": "ConfigMap", "data": {"config.conf": "kind: KubeProxyConfiguration\\n'
                 'mode: ipvs\\n"}}', RefusedError, "not a literal block", id="json-configmap"),
    pytest.param("kind: ConfigMap\ndata:\n  config.conf: |\n    mode: ipvs\n", UsageError,
                 "is not one KubeProxyConfiguration", id="configmap-without-kind"),
    pytest.param("kind: ConfigMap\ndata:\n  config.conf: 5\n", UsageError, "not a string",
                 id="config-not-a-string"),
    pytest.param("mode: ipvs\n", UsageError, "holds no KubeProxyConfiguration", id="no-kind"),
    pytest.param("kind: [\n", UsageError, "not valid YAML", id="not-yaml"),
    pytest.param(HEAD + "---\n" + HEAD, UsageError, "documents 1, 2", id="two-configs"),
]


@pytest.mark.parametrize(("text", "error", "words"), REFUSALS)
def test_refusals(text: str, error: type[LbctlError], words: str) -> None:
    with pytest.raises(error) as caught:
        kp.plan_strict_arp(text, "t")
    assert words in caught.value.message
    assert "\n" not in caught.value.message and "\n" not in caught.value.hint


def test_refusals_carry_their_exit_codes() -> None:
    assert RefusedError("x").exit_code == ExitCode.REFUSED
    assert UsageError("x").exit_code == ExitCode.USAGE


# --- modes -------------------------------------------------------------------------------------

MODES = [
    # mode line, strictARP line, always -> changes, change_needed
    ("mode: ipvs", "  strictARP: false", False, True, True),
    ("mode: ipvs", "  strictARP: true", False, False, False),
    ("mode: ipvs", "  scheduler: rr", False, True, True),
    ("mode: iptables", "  strictARP: false", False, False, False),
    ("mode: nftables", "  strictARP: false", False, False, False),
    ('mode: ""', "  strictARP: false", False, False, False),
    ("apiVersion: v1", "  strictARP: false", False, False, False),
    ("mode: iptables", "  strictARP: false", True, True, True),
    ("mode: iptables", "  strictARP: true", True, False, False),
]


@pytest.mark.parametrize(("mode", "strict", "always", "changes", "needed"), MODES)
def test_mode_decides_whether_strict_arp_is_needed(
    mode: str, strict: str, always: bool, changes: bool, needed: bool
) -> None:
    text = f"kind: KubeProxyConfiguration\n{mode}\nipvs:\n{strict}\n"
    plan = kp.plan_strict_arp(text, "t", always=always)
    assert (plan.changes, plan.change_needed) == (changes, needed)
    assert plan.config.requires_strict_arp == (mode == "mode: ipvs")


def test_read_config_reports_the_default_mode_as_empty() -> None:
    assert kp.read_config("kind: KubeProxyConfiguration\n", "t") == kp.ProxyConfig("", None)


# --- k3s and RKE2 ------------------------------------------------------------------------------


def node(name: str, version: str = "v1.30.4", annotations: dict[str, str] | None = None,
         labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "annotations": annotations or {}, "labels": labels or {}},
            "status": {"nodeInfo": {"kubeletVersion": version}}}


def k3s_node(name: str, *args: str) -> dict[str, Any]:
    return node(name, "v1.30.4+k3s1", {"k3s.io/node-args": json.dumps(["server", *args])})


def rke2_pod(node_name: str, *args: str) -> dict[str, Any]:
    return {"metadata": {"name": f"kube-proxy-{node_name}", "namespace": "kube-system"},
            "spec": {"nodeName": node_name, "containers": [
                {"name": "kube-proxy", "command": ["kube-proxy", *args]}]}}


@pytest.mark.parametrize(("nodes", "distro"), [
    ([node("a")], None),
    ([node("a", "v1.30.4+k3s1")], "k3s"),
    ([node("a", "v1.30.4+rke2r1")], "rke2"),
    ([node("a", annotations={"k3s.io/hostname": "a"})], "k3s"),
    ([node("a", labels={"node.kubernetes.io/instance-type": "rke2"})], "rke2"),
    ([node("a"), node("b", annotations={"rke2.io/node-args": "[]"})], "rke2"),
    ([], None),
])
def test_distro_of(nodes: list[dict[str, Any]], distro: str | None) -> None:
    assert kp.distro_of(nodes) == distro


def test_k3s_flags_come_from_the_node_args_annotation() -> None:
    nodes = [
        k3s_node("s1", "--kube-proxy-arg", "proxy-mode=ipvs", "--kube-proxy-arg",
                 "ipvs-strict-arp=true"),
        k3s_node("s2", "--kube-proxy-arg=proxy-mode=ipvs", "--kube-proxy-arg=ipvs-strict-arp"),
        k3s_node("a1", "--kube-proxy-arg", "proxy-mode=ipvs", "--token", "********"),
        node("a2", "v1.30.4+k3s1"),
    ]
    found = kp.detect_embedded(nodes, [])
    assert found is not None
    assert found.distro == "k3s"
    assert [(n.node, n.mode, n.strict_arp, n.ok) for n in found.nodes] == [
        ("s1", "ipvs", True, True), ("s2", "ipvs", True, True), ("a1", "ipvs", None, False)]
    assert found.unread == ("a2",)
    error = found.error()
    assert error.exit_code == ExitCode.ELSEWHERE
    assert error.message == (
        "kube-proxy on this k3s cluster is configured by k3s flags, not a ConfigMap (4 nodes: "
        "2 proxy-mode=ipvs with ipvs-strict-arp=true, 1 proxy-mode=ipvs without "
        "ipvs-strict-arp=true, 1 flags not readable)")
    assert error.hint == (
        "on every node add kube-proxy-arg: [ipvs-strict-arp=true] (or "
        "--kube-proxy-arg=ipvs-strict-arp=true) to /etc/rancher/k3s/config.yaml, then restart "
        "k3s (k3s-agent on agents)")


def test_rke2_flags_come_from_the_static_pod_first() -> None:
    nodes = [node("cp", "v1.30.4+rke2r1", {"rke2.io/node-args": '["server"]'}),
             node("w", "v1.30.4+rke2r1", {"rke2.io/node-args": '["agent"]'})]
    pods = [rke2_pod("cp", "--proxy-mode=ipvs", "--ipvs-strict-arp=False")]
    found = kp.detect_embedded(nodes, pods)
    assert found is not None
    assert [(n.node, n.source, n.mode, n.strict_arp) for n in found.nodes] == [
        ("cp", "pod kube-system/kube-proxy-cp", "ipvs", False),
        ("w", "annotation rke2.io/node-args", "", None)]
    error = found.error()
    assert "this RKE2 cluster" in error.message
    assert "1 default proxy-mode (iptables)" in error.message
    assert error.hint == ("on every node add kube-proxy-arg: [ipvs-strict-arp=true] to "
                          "/etc/rancher/rke2/config.yaml, then restart rke2-server "
                          "(rke2-agent on agents)")


def test_embedded_cluster_already_strict_says_nothing_to_add() -> None:
    found = kp.detect_embedded(
        [k3s_node("a", "--kube-proxy-arg", "proxy-mode=ipvs", "--kube-proxy-arg",
                  "ipvs-strict-arp=1")], [])
    assert found is not None
    assert isinstance(found.error(), ElsewhereError)
    assert found.error().hint == "nothing to add: keep ipvs-strict-arp=true in " \
        "/etc/rancher/k3s/config.yaml"


def test_other_clusters_are_not_embedded() -> None:
    assert kp.detect_embedded([node("a")], [rke2_pod("a", "--proxy-mode=ipvs")]) is None


@pytest.mark.parametrize(("value", "parsed"), [
    ("true", True), ("1", True), ("T", True), ("False", False), ("0", False), ("yes", None)])
def test_ipvs_strict_arp_flag_is_parsed_like_go(value: str, parsed: bool | None) -> None:
    found = kp.detect_embedded([node("n", "v1+rke2r1")],
                               [rke2_pod("n", "--proxy-mode=ipvs", f"--ipvs-strict-arp={value}")])
    assert found is not None
    assert found.nodes[0].strict_arp is parsed


# --- rollout -----------------------------------------------------------------------------------


def daemonset(generation: int, observed: int, desired: int, updated: int, available: int,
              strategy: str = "RollingUpdate") -> dict[str, Any]:
    return {"metadata": {"generation": generation},
            "spec": {"updateStrategy": {"type": strategy}},
            "status": {"observedGeneration": observed, "desiredNumberScheduled": desired,
                       "updatedNumberScheduled": updated, "numberAvailable": available}}


@pytest.mark.parametrize(("ds", "done", "message"), [
    (daemonset(2, 1, 3, 3, 3), False, "waiting for the DaemonSet spec update to be observed"),
    (daemonset(2, 2, 3, 1, 3), False, "1 of 3 updated pods scheduled"),
    (daemonset(2, 2, 3, 3, 2), False, "2 of 3 updated pods available"),
    (daemonset(2, 2, 3, 3, 3), True, "3 of 3 pods updated and available"),
    (daemonset(2, 3, 0, 0, 0), True, "0 of 0 pods updated and available"),
])
def test_rollout_status(ds: dict[str, Any], done: bool, message: str) -> None:
    status = kp.rollout_status(ds)
    assert (status.done, status.message, status.progressing) == (done, message, True)


def test_on_delete_rollout_cannot_progress() -> None:
    status = kp.rollout_status(daemonset(2, 2, 3, 0, 3, "OnDelete"))
    assert (status.done, status.progressing) == (False, False)


# --- the node's sysctls ------------------------------------------------------------------------


def sysctls(**values: tuple[int, int]) -> dict[str, dict[str, int]]:
    return {name: {"arp_ignore": i, "arp_announce": a} for name, (i, a) in values.items()}


@pytest.mark.parametrize(("values", "active"), [
    (sysctls(all=(1, 2), eth0=(0, 0), lo=(0, 0)), True),  # kube-proxy's way: conf/all
    (sysctls(all=(0, 0), eth0=(1, 2)), True),  # per interface, every interface
    (sysctls(all=(0, 2), eth0=(1, 0), cni0=(2, 0)), True),  # max(all, interface), per setting
    (sysctls(all=(0, 0), eth0=(1, 2), cni0=(0, 0)), False),
    (sysctls(all=(1, 1), eth0=(0, 0)), False),  # arp_announce 1 is not strict
    (sysctls(all=(0, 2), eth0=(0, 0)), False),
    (sysctls(all=(1, 2), default=(0, 0), lo=(0, 0)), True),  # default and lo are not judged
    (sysctls(all=(0, 0), default=(1, 2), lo=(1, 2)), False),
    (sysctls(all=(8, 2), eth0=(0, 0)), True),
])
def test_evaluate_arp(values: dict[str, dict[str, int]], active: bool) -> None:
    assert kp.evaluate_arp(values).active is active


def test_evaluate_arp_reports_effective_values() -> None:
    node_arp = kp.evaluate_arp(sysctls(all=(1, 0), eth0=(0, 2), lo=(0, 0)))
    assert node_arp.interfaces == (kp.InterfaceArp("eth0", 0, 2, 1, 2),)
    assert node_arp.interfaces[0].strict


def test_evaluate_arp_needs_conf_all() -> None:
    with pytest.raises(UsageError) as caught:
        kp.evaluate_arp(sysctls(eth0=(1, 2)))
    assert caught.value.hint == ("conf/all holds the values every interface starts from: read "
                                 "them from procfs (<proc>/sys/net/ipv4/conf/all)")
