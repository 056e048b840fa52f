"""Every hint leads somewhere: build the situation an error or a doctor finding describes, check
that its hint prints the command, run exactly that command, and check the situation is fixed.

Against the fake kube-apiserver; the offline (GitOps) hints, ``svc.pinned`` and ``svc.orphan``'s
``--prune``, are followed the same way in test_gitops.py.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shlex
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lbctl.cli.main import COMMANDS as ROOT_COMMANDS
from lbctl.doctor.checks import GROUPS as DOCTOR_GROUPS
from lbctl.doctor.checks import IDS as DOCTOR_CHECKS
from tests import hintinventory
from tests.conftest import Cli, Result
from tests.kubefake.server import FakeKubeServer


def service(name: str, namespace: str = "shop", *ips: str, **spec: Any) -> dict[str, Any]:
    annotations = spec.pop("annotations", {})
    obj: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], **spec},
    }
    if ips:
        obj["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}
    return obj


class World:
    """The fake cluster and the CLI pointed at it."""

    def __init__(self, cli: Cli, kubeconfig: Path, server: FakeKubeServer) -> None:
        self.cli, self.kubeconfig, self.server = cli, kubeconfig, server

    def run(self, *args: str) -> Result:
        return self.cli(*args, "--kubeconfig", str(self.kubeconfig))

    def ok(self, *args: str) -> None:
        result = self.run(*args)
        assert result.code == 0, (args, result.err)

    def put(self, *args: Any, **spec: Any) -> None:
        self.server.put_object(service(*args, **spec))

    def shown(self, name: str, namespace: str = "shop") -> list[str]:
        obj = self.server.get_object("services", name, namespace)
        assert obj is not None
        ingress = (obj.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
        return [entry["ip"] for entry in ingress]

    def doctor_hint(self, check: str) -> str:
        """The hint of ``check``'s first finding in ``lbctl doctor``."""
        import json

        report = json.loads(self.run("doctor", "-o", "json").out)
        found = next(c for c in report["checks"] if c["id"] == check)
        assert found["findings"], found
        hint: str = found["findings"][0]["hint"]
        return hint


@dataclass(frozen=True)
class Case:
    setup: Callable[[World], None]
    trigger: Callable[[World], str]  # runs what fails; returns the hint lbctl printed
    command: str  # the command the hint must print, run as it is
    fixed: Callable[[World], bool]


def error_hint(world: World, *args: str) -> str:
    result = world.run(*args)
    assert result.code not in (0, 70), result
    lines = result.err.splitlines()
    assert lines[-1].startswith("hint: "), result.err
    return lines[-1][len("hint: "):]


def _pool(world: World, *extra: str) -> None:
    world.ok("pool", "add", "default", "192.0.2.10-192.0.2.11", *extra)


def _exhausted(world: World) -> None:
    _pool(world)
    for name in ("a", "b", "c"):
        world.put(name)
    world.run("assign", "--all", "-n", "shop")


def _held(world: World) -> None:
    _pool(world)
    world.put("old")
    world.ok("assign", "svc", "old", "-n", "shop")
    world.ok("release", "svc", "old", "-n", "shop", "--hold")
    world.put("web")


def _two(world: World) -> None:
    _pool(world)
    world.put("web")
    world.put("api")
    world.ok("assign", "--all", "-n", "shop")


def _pending(world: World) -> None:
    _pool(world)
    world.put("web")


def _unrecorded(world: World) -> None:
    _pool(world)
    world.put("np", "shop", "192.0.2.11")  # MetalLB published it


def _mismatch(world: World) -> None:
    _two(world)
    world.put("web", "shop", "192.0.2.99")  # something else overwrote the status


def _assigned(world: World) -> None:
    _pending(world)
    world.ok("assign", "svc", "web", "-n", "shop")


def _reserved(world: World) -> None:
    _pending(world)
    world.ok("pool", "reserve", "default", "192.0.2.11")


def _published(world: World) -> None:
    _pending(world)
    world.put("owner", "dev", "192.0.2.11")


def _not_permitted(world: World) -> None:
    _pool(world, "-n", "web")
    world.put("api")


def _no_pool(world: World) -> None:
    _pool(world, "-n", "web", "--no-auto-assign")
    world.put("api")


def _orphan(world: World) -> None:
    from tests.kubefake import resources

    _two(world)
    world.server.store.delete(resources.lookup("services"), "shop", "api", {})


CASES: dict[str, Case] = {
    "svc.pending -> assign svc": Case(
        _pending,
        lambda w: w.doctor_hint("svc.pending"),
        "lbctl assign svc web -n shop",
        lambda w: w.shown("web") == ["192.0.2.10"]),
    "svc.pending -> assign --all": Case(
        _pending,
        lambda w: w.doctor_hint("svc.pending"),
        "lbctl assign --all -A",
        lambda w: w.shown("web") == ["192.0.2.10"]),
    "PoolExhausted -> pool set --add": Case(
        _exhausted,
        lambda w: error_hint(w, "assign", "svc", "c", "-n", "shop"),
        "lbctl pool set default --add 192.0.2.12",
        lambda w: w.run("assign", "svc", "c", "-n", "shop").code == 0),
    "pool.exhausted -> pool set --add": Case(
        _exhausted,
        lambda w: w.doctor_hint("pool.exhausted"),
        "lbctl pool set default --add 192.0.2.12",
        lambda w: w.run("assign", "--all", "-n", "shop").code == 0),
    "svc.drift unrecorded -> adopt": Case(
        _unrecorded,
        lambda w: w.doctor_hint("svc.drift"),
        "lbctl adopt svc np -n shop",
        lambda w: w.run("doctor", "--skip", "rbac", "--skip", "kube-proxy").code == 0),
    "svc.drift unrecorded -> release --force": Case(
        _unrecorded,
        lambda w: w.doctor_hint("svc.drift"),
        "lbctl release svc np -n shop --force",
        lambda w: w.shown("np") == []),
    "assign on an unrecorded address -> adopt": Case(
        _unrecorded,
        lambda w: error_hint(w, "assign", "svc", "np", "-n", "shop"),
        "lbctl adopt svc np -n shop",
        lambda w: w.run("assign", "svc", "np", "-n", "shop").code == 0),
    "release of an unrecorded address -> release --force": Case(
        _unrecorded,
        lambda w: error_hint(w, "release", "svc", "np", "-n", "shop"),
        "lbctl release svc np -n shop --force",
        lambda w: w.shown("np") == []),
    "svc.drift mismatch -> release --force && assign": Case(
        _mismatch,
        lambda w: w.doctor_hint("svc.drift"),
        "lbctl release svc web -n shop --force && lbctl assign svc web -n shop",
        lambda w: w.shown("web") == ["192.0.2.11"]),
    "assign on a mismatched status -> release --force && assign": Case(
        _mismatch,
        lambda w: error_hint(w, "assign", "svc", "web", "-n", "shop"),
        "lbctl release svc web -n shop --force && lbctl assign svc web -n shop",
        lambda w: w.shown("web") == ["192.0.2.11"]),
    "release --force --hold of an unrecorded address -> adopt": Case(
        _unrecorded,
        lambda w: error_hint(w, "release", "svc", "np", "-n", "shop", "--force", "--hold"),
        "lbctl adopt svc np -n shop",
        lambda w: w.run("release", "svc", "np", "-n", "shop", "--hold").code == 0),
    "AlreadyAllocated -> release first": Case(
        _assigned,
        lambda w: error_hint(w, "assign", "svc", "web", "-n", "shop", "--ip", "192.0.2.11"),
        "lbctl release svc web -n shop",
        lambda w: w.run("assign", "svc", "web", "-n", "shop", "--ip", "192.0.2.11").code == 0),
    "Held -> release drops the hold": Case(
        _held,
        lambda w: error_hint(w, "assign", "svc", "web", "-n", "shop", "--ip", "192.0.2.10"),
        "lbctl release svc old -n shop",
        lambda w: w.run("assign", "svc", "web", "-n", "shop", "--ip", "192.0.2.10").code == 0),
    "Reserved -> pool unreserve": Case(
        _reserved,
        lambda w: error_hint(w, "assign", "svc", "web", "-n", "shop", "--ip", "192.0.2.11"),
        "lbctl pool unreserve default 192.0.2.11",
        lambda w: w.run("assign", "svc", "web", "-n", "shop", "--ip", "192.0.2.11").code == 0),
    "AlreadyPublished -> release --force": Case(
        _published,
        lambda w: error_hint(w, "assign", "svc", "web", "-n", "shop", "--ip", "192.0.2.11"),
        "lbctl release svc owner -n dev --force",
        lambda w: w.run("assign", "svc", "web", "-n", "shop", "--ip", "192.0.2.11").code == 0),
    "PoolNotPermitted -> pool set -n": Case(
        _not_permitted,
        lambda w: error_hint(w, "assign", "svc", "api", "-n", "shop", "--pool", "default"),
        "lbctl pool set default -n shop -n web",
        lambda w: w.run("assign", "svc", "api", "-n", "shop", "--pool", "default").code == 0),
    "NoPoolAdmits -> pool set -n --auto-assign": Case(
        _no_pool,
        lambda w: error_hint(w, "assign", "svc", "api", "-n", "shop"),
        "lbctl pool set default -n shop -n web --auto-assign",
        lambda w: w.run("assign", "svc", "api", "-n", "shop").code == 0),
    "pool add of an existing name -> pool set": Case(
        _pool,
        lambda w: error_hint(w, "pool", "add", "default", "192.0.2.20"),
        "lbctl pool set default --add 192.0.2.20",
        lambda w: "192.0.2.20" in w.run("pool", "show", "default").out),
    "pool remove in use -> release": Case(
        _two,
        lambda w: error_hint(w, "pool", "remove", "default"),
        "lbctl release svc NAME -n NS",
        lambda w: True),
    "svc.orphan -> reconcile": Case(
        _orphan,
        lambda w: w.doctor_hint("svc.orphan"),
        "lbctl reconcile",
        lambda w: w.run("release", "svc", "api", "-n", "shop").code == 3),
}


#: Hints that name placeholders: what the test puts in their place.
PLACEHOLDERS = {"lbctl release svc NAME -n NS": "lbctl release svc web -n shop && lbctl release "
                                                "svc api -n shop && lbctl pool remove default"}
ADDRESS = {"lbctl pool set default --add 192.0.2.12": "lbctl pool set default --add ADDRESS",
           "lbctl pool set default --add 192.0.2.20": "lbctl pool set default --add ADDRESS"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_hint_fixes_the_situation(cli: Cli, kubeconfig: Path, kube_server: FakeKubeServer,
                                      name: str) -> None:
    case = CASES[name]
    world = World(cli, kubeconfig, kube_server)
    case.setup(world)
    hint = case.trigger(world)
    assert ADDRESS.get(case.command, case.command) in hint, hint
    command = PLACEHOLDERS.get(case.command, case.command)
    for step in command.split(" && "):
        words = shlex.split(step)
        assert words[0] == "lbctl"
        result = world.run(*words[1:])
        assert result.code == 0, (step, result.err)
    assert case.fixed(world)


# --------------------------------------------------------------------------- every hint
#
# The cases above follow a hint's command and check the situation is fixed.  Below: every hint
# lbctl can print, read from its source (tests/hintinventory.py), must be proved by a test, and
# every command a hint names must exist and parse.


@functools.cache
def _root_command() -> Any:
    import typer

    from lbctl.cli.main import app

    return typer.main.get_command(app)


def _lbctl_parses(args: list[str]) -> str:
    """"" when ``lbctl ARGS`` parses down to a command (its options known, their values of the
    right type); else the parser's complaint.  Nothing runs.  (By duck typing: typer 0.26-0.28
    vendor their own click.)"""
    command: Any = _root_command()
    parent = None
    name = "lbctl"
    rest = list(args)
    try:
        while True:
            ctx = command.make_context(name, rest, parent=parent, resilient_parsing=False)
            if not hasattr(command, "get_command"):
                return ""
            rest = [*ctx._protected_args, *ctx.args]
            if not rest:
                return "names a group, not a command"
            name, sub = rest[0], command.get_command(ctx, rest[0])
            if sub is None:
                return f"no command {name!r}"
            command, parent, rest = sub, ctx, rest[1:]
    except Exception as exc:  # the parser's own exceptions
        if type(exc).__name__ == "Exit":  # --help
            return ""
        if not hasattr(exc, "format_message"):
            raise
        message: str = exc.format_message()
        return message


def _prose(word: str) -> bool:
    """A word of the sentence around a command (not a flag, not a placeholder like NAME or
    M: those are all capitals)."""
    return re.fullmatch(r"[A-Za-z][a-z'.]*", word) is not None and not word.isupper()


def lbctl_problem(args: list[str]) -> str:
    """Why the command ``lbctl ARGS`` a hint names would not parse ("" when it does), after
    dropping the words of prose that follow it (``lbctl pool list shows the pools``)."""
    commands = ROOT_COMMANDS
    words = list(args)
    problem = _lbctl_parses(words)
    while problem and words and _prose(words[-1]):
        words.pop()
        problem = _lbctl_parses(words) if words and words[0] in commands else problem
    return problem


#: The first word of an lbctl command (``lbctl reads both`` in a hint is prose): the root's.
COMMANDS = tuple(ROOT_COMMANDS)
LBCTL_COMMANDS = [(t.shown, args) for t in hintinventory.templates()
                  for args in hintinventory.commands(t.text, "lbctl") if args[0] in COMMANDS]
KUBECTL_COMMANDS = [(t.shown, args) for t in hintinventory.templates()
                    for args in hintinventory.commands(t.text, "kubectl")]


def test_the_inventory_finds_the_hints() -> None:
    """The inventory reads what it should: if this fails, it lost its way in the source."""
    shown = {t.shown for t in hintinventory.templates()}
    assert len(shown) > 200
    assert "give each address once" in shown
    assert "lbctl release svc {} -n {} drops the hold" in shown  # an f-string
    assert "give files, directories, or - for stdin, with -f" in shown  # a module constant
    assert len(LBCTL_COMMANDS) > 60


#: Commands hints name before the CLI has them: each must start to parse one day (strict).
NOT_YET_COMMANDS: dict[str, str] = {}


@pytest.mark.parametrize(("template", "args"), [
    pytest.param(t, a, marks=pytest.mark.xfail(reason=NOT_YET_COMMANDS[t], strict=True))
    if t in NOT_YET_COMMANDS else (t, a) for t, a in LBCTL_COMMANDS],
    ids=[f"{t[:40]}:{' '.join(a)[:30]}" for t, a in LBCTL_COMMANDS])
def test_every_lbctl_command_a_hint_names_parses(template: str, args: list[str]) -> None:
    assert lbctl_problem(args) == "", (template, args)


def test_the_parse_check_can_fail() -> None:
    assert {"pool", "assign", "kube-proxy"} <= set(COMMANDS)
    assert lbctl_problem(["assign", "--all", "-A"]) == ""
    assert lbctl_problem(["pool", "list", "shows", "the", "pools"]) == ""
    assert "--bogus" in lbctl_problem(["pool", "set", "web", "--bogus"])
    assert "requires an argument" in lbctl_problem(["pool", "set", "web", "--priority"])
    assert lbctl_problem(["pool", "add", "--avoid-buggy-ips"]) == "Missing argument 'NAME'."
    assert lbctl_problem(["pool", "nope"]) != ""
    assert lbctl_problem(["pool"]) != ""  # a group alone shows its help


@pytest.mark.skipif(not Path("/usr/bin/kubectl").exists(), reason="kubectl is not installed")
@pytest.mark.parametrize(("template", "args"), KUBECTL_COMMANDS,
                         ids=[f"{t[:40]}:{' '.join(a)[:30]}" for t, a in KUBECTL_COMMANDS])
def test_every_kubectl_command_a_hint_names_parses(template: str, args: list[str]) -> None:
    """kubectl parses the command (its flags known) and shows its help: nothing is asked of
    any cluster."""
    import subprocess

    def parses(words: list[str]) -> str:
        done = subprocess.run(["/usr/bin/kubectl", *words, "--help"], capture_output=True,
                              text=True, timeout=30, env={"PATH": "/usr/bin:/bin",
                                                          "KUBECONFIG": "/nonexistent"})
        return "" if done.returncode == 0 else done.stderr

    words = [w for w in args if not w.startswith("$(")]
    problem = parses(words)
    while problem and len(words) > 1 and _prose(words[-1]):
        words.pop()
        problem = parses(words)
    assert problem == "", (template, args)


# --------------------------------------------------------------------------- situations
#
# One row per hint the tests elsewhere do not assert: the situation (files next to a state
# file holding pool default 192.0.2.10-192.0.2.19, and for ``cluster`` rows the fake
# apiserver), the command that meets it, its exit code and the exact hint line it prints.
# ``{dir}`` in an argument is the folder of the files, ``{state}`` the state file.

KUBE_PROXY = ("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"
              "mode: ipvs\nipvs:\n  strictARP: false\n")
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\ndata: {a: b}\n"
POOL = ("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: lab, "
        "namespace: metallb-system}\nspec:\n")


@dataclass(frozen=True)
class Situation:
    args: tuple[str, ...]
    code: int
    hint: str
    files: tuple[tuple[str, str], ...] = ()
    cluster: Callable[[FakeKubeServer], None] | None = None
    check: str = ""  # a doctor check: the hint is one of its findings' (doctor -o json)


def _no_kube_proxy(server: FakeKubeServer) -> None:
    return None


def _kube_proxy_keys(server: FakeKubeServer) -> None:
    server.put_object({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
                       "data": {"kubeconfig.conf": "x"}})


def _kube_proxy_no_daemonset(server: FakeKubeServer) -> None:
    server.put_object({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
                       "data": {"config.conf": KUBE_PROXY}})


def _no_status_patch(server: FakeKubeServer) -> None:
    server.deny("patch", "services/status")


def _no_metallb_pools(server: FakeKubeServer) -> None:
    server.deny("list", "l2advertisements", namespace="metallb-system", group="metallb.io")


def _cluster_state(server: FakeKubeServer, web: str = "", reserved: str = "") -> None:
    """The state ConfigMap: pool default, web's allocation (when given), a reservation."""
    pool = ("  default:\n    addresses: [192.0.2.10-192.0.2.19]\n    autoAssign: true\n"
            "    avoidBuggyIPs: false\n")
    if reserved:
        pool += f"    reservations: {{{reserved}: router}}\n"
    allocations = (f"allocations:\n  shop:\n    web: {{ips: [{web}], pool: default}}\n"
                   if web else "allocations: {}\n")
    server.put_object({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "lbctl-state", "namespace": "kube-system"},
                       "data": {"state.yaml": "schemaVersion: 1\npools:\n" + pool
                                + allocations + "holds: {}\n"}})


def _web(server: FakeKubeServer, *ips: str, name: str = "web") -> None:
    server.put_object(service(name, "shop", *ips))


def _web_assigned(server: FakeKubeServer) -> None:
    _cluster_state(server, web="192.0.2.10")
    _web(server, "192.0.2.10")


def _web_mismatched(server: FakeKubeServer) -> None:
    _cluster_state(server, web="192.0.2.10")
    _web(server, "192.0.2.99")


def _web_and_a_reservation(server: FakeKubeServer) -> None:
    _cluster_state(server, reserved="192.0.2.11")
    _web(server)


def _np_unrecorded(server: FakeKubeServer) -> None:
    _cluster_state(server)
    _web(server, "192.0.2.12", name="np")


def _two_of_one_family(server: FakeKubeServer) -> None:
    _cluster_state(server)
    server.put_object(service("two", "shop", annotations={
        "metallb.io/loadBalancerIPs": "192.0.2.10,192.0.2.11"}))


def _ipv6_only(server: FakeKubeServer) -> None:
    _cluster_state(server)
    server.put_object(service("six", "shop", ipFamilies=["IPv6"]))


def _deprecated_annotation(server: FakeKubeServer) -> None:
    server.put_object({"apiVersion": "v1", "kind": "Service",
                       "metadata": {"name": "web", "namespace": "shop", "annotations": {
                           "metallb.universe.tf/loadBalancerIPs": "192.0.2.10"}},
                       "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})


def _bgp_state(server: FakeKubeServer, pool: str, peers: str) -> None:
    server.put_object({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "lbctl-state", "namespace": "kube-system"},
                       "data": {"state.yaml": "schemaVersion: 1\npools:\n  routed: " + pool
                                + "\nallocations: {}\nholds: {}\npeers:\n" + peers}})


def _bgp_pool_without_peers(server: FakeKubeServer) -> None:
    _bgp_state(server, "{addresses: [192.0.2.10-192.0.2.19], announce: bgp}", "  {}\n")


def _bgp_pool_for_the_ipv4_peer_only(server: FakeKubeServer) -> None:
    _bgp_state(server, "{addresses: ['2001:db8::/120'], announce: bgp, bgp: {peers: [r4]}}",
               "  r4: {address: 192.0.2.1, asn: 64501, myASN: 64500}\n"
               "  r6: {address: '2001:db8:1::1', asn: 64501, myASN: 64500}\n")


SITUATIONS: dict[str, Situation] = {
    # arp
    "arp: nothing to announce": Situation(
        ("arp", "announce", "--dry-run", "--state", "{state}"), 2,
        "name addresses or svc/NAME, or use --all"),
    "arp: --pool without --all": Situation(
        ("arp", "announce", "--pool", "default", "--dry-run", "--state", "{state}"), 2,
        "add --all"),
    "arp: addresses and --all": Situation(
        ("arp", "announce", "192.0.2.10", "--all", "--dry-run", "--state", "{state}"), 2,
        "lbctl arp announce --all, or lbctl arp announce IP|svc/NAME..."),
    "arp: unknown pool": Situation(
        ("arp", "announce", "--all", "--pool", "nope", "--dry-run", "--state", "{state}"), 3,
        "see lbctl pool list"),
    "arp: a Service without an address": Situation(
        ("arp", "announce", "svc/web", "-n", "shop", "--dry-run", "--state", "{state}"), 3,
        "assign one with: lbctl assign svc web -n shop"),
    # kube-proxy
    "kube-proxy: a ConfigMap without config.conf": Situation(
        ("kube-proxy", "diff", "-f", "{dir}/cm.yaml"), 2,
        "pass the kube-proxy ConfigMap (kubectl -n kube-system get cm kube-proxy -o yaml) or "
        "its config.conf", files=(("cm.yaml", CONFIGMAP),)),
    "kube-proxy: two configurations in one file": Situation(
        ("kube-proxy", "diff", "-f", "{dir}/kp.yaml"), 2, "split the file and pass one document",
        files=(("kp.yaml", KUBE_PROXY + "---\n" + KUBE_PROXY),)),
    "kube-proxy: config.conf as a quoted string": Situation(
        ("kube-proxy", "diff", "-f", "{dir}/cm.yaml"), 4,
        "use the YAML form (kubectl get -o yaml), or pass the config.conf text alone",
        files=(("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kube-proxy, "
                "namespace: kube-system}\ndata:\n  config.conf: " + json.dumps(KUBE_PROXY)
                + "\n"),)),
    "kube-proxy: strictARP over several lines": Situation(
        ("kube-proxy", "diff", "-f", "{dir}/kp.yaml"), 4, "set it to true by hand",
        files=(("kp.yaml", KUBE_PROXY.replace("strictARP: false", "strictARP: >-\n    false")),)),
    "kube-proxy: no ConfigMap on the cluster": Situation(
        ("kube-proxy", "diff"), 3,
        "kube-proxy may be absent (replaced by the CNI) or configured on each node; check such "
        "a file with lbctl kube-proxy diff -f FILE", cluster=_no_kube_proxy),
    "kube-proxy: a ConfigMap of another layout": Situation(
        ("kube-proxy", "diff"), 3,
        "its keys are: kubeconfig.conf; lbctl reads kubeadm's layout", cluster=_kube_proxy_keys),
    "kube-proxy: --restart without a DaemonSet": Situation(
        ("kube-proxy", "apply", "--restart"), 3,
        "restart kube-proxy where it runs, or leave out --restart",
        cluster=_kube_proxy_no_daemonset),
    # files
    "-f a named pipe": Situation(
        ("assign", "-f", "{dir}/fifo", "--state", "{state}"), 2,
        "give regular files, directories, or - for stdin", files=(("fifo", "FIFO"),)),
    "--in-place and stdin": Situation(
        ("assign", "-f", "-", "--in-place", "--state", "{state}"), 2,
        "give file or directory paths"),
    "--state a directory": Situation(
        ("pool", "list", "--state", "{dir}"), 2,
        "give the path of a regular file, or choose another --state"),
    "--state in a missing directory": Situation(
        ("pool", "add", "x", "10.0.0.1", "--state", "{dir}/nope/lb.yaml"), 3,
        "create the directory, or choose another --state"),
    "--state whose lock is a link": Situation(
        ("pool", "add", "x", "10.0.0.1", "--state", "{state}"), 4,
        "remove it; lbctl creates its own lock file", files=(("lb.yaml.lock", "LINK"),)),
    # import and export
    "import: a pool whose addresses are no list": Situation(
        ("pool", "import", "metallb", "-f", "{dir}/pool.yaml", "--state", "{state}"), 2,
        "check the manifest's shape", files=(("pool.yaml", POOL + "  addresses: 10.0.0.0/24\n"),)),
    "import: a selector operator MetalLB does not know": Situation(
        ("pool", "import", "metallb", "-f", "{dir}/pool.yaml", "--state", "{state}"), 2,
        "operators: In and NotIn (with values), Exists and DoesNotExist (without)",
        files=(("pool.yaml", POOL + "  addresses: [10.0.0.0/24]\n  serviceAllocation:\n"
                "    serviceSelectors:\n    - matchExpressions:\n"
                "      - {key: app, operator: Like, values: [web]}\n"),)),
    "import: a Cilium block of another shape": Situation(
        ("pool", "import", "cilium", "-f", "{dir}/pool.yaml", "--state", "{state}"), 2,
        "each block is {cidr: ...} or {start: ..., stop: ...}",
        files=(("pool.yaml", "apiVersion: cilium.io/v2alpha1\nkind: CiliumLoadBalancerIPPool\n"
                "metadata: {name: lab}\nspec:\n  blocks:\n  - {first: 10.0.0.1}\n"),)),
    "export: kube-vip without autoAssign": Situation(
        ("pool", "export", "--format", "kube-vip", "--state", "{state}"), 4,
        "name pools with autoAssign, or export them with --format metallb",
        files=(("lb.yaml", "NO-AUTO"),)),
    # doctor
    "doctor: an unknown check": Situation(
        ("doctor", "--skip", "nope", "--state", "{state}"), 2,
        f"checks: {', '.join(DOCTOR_CHECKS)}; groups: {', '.join(DOCTOR_GROUPS)}"),
    # doctor's findings on a cluster (rbac, Services)
    "rbac: a permission lbctl needs": Situation(
        ("doctor", "-o", "json"), 1,
        "grant it (lbctl's RBAC manifests hold every permission lbctl uses), or run lbctl as "
        "an identity that has it", cluster=_no_status_patch, check="rbac.permissions"),
    "rbac: a permission only MetalLB's namespace needs": Situation(
        ("doctor", "-o", "json"), 0, "where it exists, grant it with lbctl rbac --metallb",
        cluster=_no_metallb_pools, check="rbac.permissions"),
    "svc: MetalLB's deprecated annotation prefix": Situation(
        ("doctor", "-o", "json"), 1,
        "rename it to metallb.io/loadBalancerIPs (lbctl reads both; MetalLB deprecated the old "
        "prefix)", cluster=_deprecated_annotation, check="svc.deprecated-annotation"),
    # addresses, names and selectors
    "pool add: a CIDR that is none": Situation(
        ("pool", "add", "x", "10.0.0.1/33", "--state", "{state}"), 2,
        "write a network as 192.0.2.0/24 or 2001:db8::/64"),
    "pool add: host bits set": Situation(
        ("pool", "add", "x", "10.0.0.1/24", "--state", "{state}"), 2,
        "did you mean 10.0.0.0/24? or give a range like 10.0.0.1-10.0.0.255"),
    "pool add: a reversed range": Situation(
        ("pool", "add", "x", "10.0.0.5-10.0.0.1", "--state", "{state}"), 2,
        "write it as 10.0.0.1-10.0.0.5"),
    "pool add: a range of two families": Situation(
        ("pool", "add", "x", "10.0.0.1-fd00::1", "--state", "{state}"), 2,
        "give each family its own entry"),
    "pool add: not an address": Situation(
        ("pool", "add", "x", "1.2.3", "--state", "{state}"), 2,
        "write IPv4 as 192.0.2.10 and IPv6 as 2001:db8::10"),
    "pool add: a name Kubernetes would refuse": Situation(
        ("pool", "add", "BAD", "10.0.0.1", "--state", "{state}"), 2,
        "use lower-case letters, digits, '-' and '.', starting and ending alphanumeric"),
    "pool add: a name in use": Situation(
        ("pool", "add", "default", "10.9.0.1", "--state", "{state}"), 4,
        "change it in place (lbctl pool set default --add ADDRESS) or choose another name"),
    "pool unreserve: an address not reserved": Situation(
        ("pool", "unreserve", "default", "192.0.2.11", "--state", "{state}"), 3,
        "lbctl pool show default lists its reservations"),
    "a selector with an empty requirement": Situation(
        ("pool", "add", "y", "10.0.0.9", "-l", "a=b,,c", "--state", "{state}"), 2,
        "example: app=web,tier!=db"),
    "a selector with a bad key": Situation(
        ("pool", "add", "y", "10.0.0.9", "-l", "tier in (a", "--state", "{state}"), 2,
        "example: app=web,tier in (frontend,api),!canary"),
    "adopt: a Service and --all": Situation(
        ("adopt", "svc", "x", "--all", "--state", "{state}"), 2,
        "lbctl adopt --all -n NS (or -A)"),
    "assign: -f and a Service": Situation(
        ("assign", "-f", "{dir}/cm.yaml", "svc", "web", "--state", "{state}"), 2,
        "lbctl assign -f PATH --state FILE", files=(("cm.yaml", CONFIGMAP),)),
    "--state a manifest of another kind": Situation(
        ("pool", "list", "--state", "{dir}/cm.yaml"), 4,
        "is --state pointing at the right file? lbctl will not overwrite it",
        files=(("cm.yaml", CONFIGMAP),)),
    # assign and release on a cluster
    "assign: a status that shows other addresses than the state": Situation(
        ("assign", "svc", "web", "-n", "shop"), 4,
        "withdraw both and assign again: lbctl release svc web -n shop --force && lbctl assign "
        "svc web -n shop", cluster=_web_mismatched),
    "assign --ip on an assigned Service": Situation(
        ("assign", "svc", "web", "-n", "shop", "--ip", "192.0.2.11"), 4,
        "release it first: lbctl release svc web -n shop", cluster=_web_assigned),
    "assign --ip of a reserved address": Situation(
        ("assign", "svc", "web", "-n", "shop", "--ip", "192.0.2.11"), 4,
        "ask for another address, or: lbctl pool unreserve default 192.0.2.11",
        cluster=_web_and_a_reservation),
    "release --force --hold of an unrecorded address": Situation(
        ("release", "svc", "np", "-n", "shop", "--force", "--hold"), 2,
        "record it first: lbctl adopt svc np -n shop", cluster=_np_unrecorded),
    # more inputs
    "an empty --state": Situation(
        ("pool", "list", "--state", ""), 2,
        "give --state a value, or leave it out (is a shell variable unset?)"),
    "no cluster and no --state": Situation(
        ("pool", "list"), 7,
        "pass --kubeconfig or set KUBECONFIG; or keep the state in a local file with --state "
        "PATH (no cluster needed)"),
    "export: no pools": Situation(
        ("pool", "export", "--format", "metallb", "--state", "{dir}/empty.yaml"), 3,
        "add one: lbctl pool add NAME ADDRESS..."),
    "-f: a document that is no Kubernetes object": Situation(
        ("assign", "-f", "{dir}/x.yaml", "--state", "{state}"), 2,
        "every document must be a Kubernetes object, as kubectl apply requires; fix or remove "
        "it", files=(("x.yaml", "a: 1\n"),)),
    "assign: --all and a target that is no Service": Situation(
        ("assign", "deploy/web", "--all", "--state", "{state}"), 2,
        "example: lbctl assign svc/web -n shop, or lbctl assign --all -A"),
    "import: MetalLB's legacy configuration that is no YAML": Situation(
        ("pool", "import", "metallb", "-f", "{dir}/cm.yaml", "--state", "{state}"), 2,
        "kubectl -n metallb-system get cm config -o yaml shows it",
        files=(("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config, "
                "namespace: metallb-system}\ndata:\n  config: \"a: [\"\n"),)),
    "import: a selector of another shape": Situation(
        ("pool", "import", "metallb", "-f", "{dir}/pool.yaml", "--state", "{state}"), 2,
        "a label selector has matchLabels and matchExpressions",
        files=(("pool.yaml", POOL + "  addresses: [10.0.0.0/24]\n  serviceAllocation:\n"
                "    serviceSelectors:\n    - {foo: bar}\n"),)),
    "assign: two addresses of one family": Situation(
        ("assign", "svc", "two", "-n", "shop"), 2,
        "ask for at most one IPv4 and one IPv6 address", cluster=_two_of_one_family),
    "assign: a family no pool has": Situation(
        ("assign", "svc", "six", "-n", "shop"), 4,
        "add a pool with addresses of the Service's IP family", cluster=_ipv6_only),
    # the parser
    "an unknown option": Situation(
        ("hold", "list", "--bogus"), 2, "see 'lbctl hold list --help'"),
    "svc check without a Service": Situation(
        ("svc", "check", "--state", "{state}"), 2,
        "example: lbctl svc check web -n shop, or lbctl svc check --all -A"),
    "svc check --http without a path": Situation(
        ("svc", "check", "web", "--http", "x", "--state", "{state}"), 2,
        "for example --http /healthz"),
    "adopt without a Service": Situation(
        ("adopt", "--state", "{state}"), 2, "example: lbctl adopt svc/web -n shop"),
    "speaker without a node": Situation(
        ("speaker",), 2,
        "set NODE_NAME from spec.nodeName (the DaemonSet does), or pass --node NAME"),
    # the long-running commands' flags (hintsnet; their sockets: test_a_metrics_port_...)
    "controller --id empty": Situation(
        ("controller", "--id", " "), 2,
        "for example --id $(hostname)"),
    "controller --metrics-addr that is no address": Situation(
        ("controller", "--id", "x", "--metrics-addr", "nonsense"), 2,
        "for example :8080, 127.0.0.1:8080 or [::1]:8080", cluster=_no_kube_proxy),
    "speaker --metrics-addr with an IPv6 address without brackets": Situation(
        ("speaker", "--node", "n1", "--metrics-addr", "::1:8080"), 2,
        "for example [::1]:8080", cluster=_no_kube_proxy),
    # debts: errors that printed no hint, and bgp.unheard
    "import: Cilium blocks that are no list": Situation(
        ("pool", "import", "cilium", "-f", "{dir}/pool.yaml", "--state", "{state}"), 2,
        "write it as a YAML list: [a, b], or one '- a' line per item",
        files=(("pool.yaml", "apiVersion: cilium.io/v2alpha1\nkind: CiliumLoadBalancerIPPool\n"
                "metadata: {name: lab}\nspec:\n  blocks: {cidr: 10.0.0.0/24}\n"),)),
    "import: a hold time that is no duration": Situation(
        ("pool", "import", "metallb", "-f", "{dir}/peer.yaml", "--state", "{state}"), 2,
        "write it in hours, minutes and seconds: 90s, 1m30s or 2h",
        files=(("peer.yaml", "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: r1, "
                "namespace: metallb-system}\nspec: {myASN: 64500, peerASN: 64501, peerAddress: "
                "10.0.0.1, holdTime: soon}\n"),)),
    "import: matchExpressions that is no list": Situation(
        ("pool", "import", "metallb", "-f", "{dir}/pool.yaml", "--state", "{state}"), 2,
        "write it as one: matchExpressions: [{key: app, operator: In, values: [web]}]",
        files=(("pool.yaml", POOL + "  addresses: [10.0.0.0/24]\n  serviceAllocation:\n"
                "    serviceSelectors:\n    - matchExpressions: {key: app}\n"),)),
    "kube-proxy check-node: a sysctl that is no number": Situation(
        ("kube-proxy", "check-node", "--proc-root", "{dir}/proc"), 2,
        "the kernel writes a number there: is --proc-root procfs, or a copy of its "
        "sys/net/ipv4/conf?", files=(("proc/sys/net/ipv4/conf/all/arp_ignore", "one\n"),
                                     ("proc/sys/net/ipv4/conf/all/arp_announce", "2\n"))),
    "bgp.unheard: a BGP pool and no peer": Situation(
        ("doctor", "-o", "json"), 1,
        "add a BGP peer of that family: lbctl bgp peer add NAME --address A --asn N --my-asn M",
        cluster=_bgp_pool_without_peers, check="bgp.unheard"),
    "bgp.unheard: an advertisement for a peer of the other family": Situation(
        ("doctor", "-o", "json"), 1,
        "its advertisement names only r4: lbctl pool set routed --all-bgp-peers (or --bgp-peer "
        "PEER for a peer of that family)",
        cluster=_bgp_pool_for_the_ipv4_peer_only, check="bgp.unheard"),
    "kube-proxy: ipvs that is not a mapping": Situation(
        ("kube-proxy", "diff", "-f", "{dir}/kp.yaml"), 2,
        "write it as a mapping, as kube-proxy reads it: ipvs: {strictARP: true}",
        files=(("kp.yaml", KUBE_PROXY.replace("ipvs:\n  strictARP: false", "ipvs: 5")),)),
    "kube-proxy: a mode that is not a word": Situation(
        ("kube-proxy", "diff", "-f", "{dir}/kp.yaml"), 2,
        "write it as one word: mode: ipvs (or iptables, nftables)",
        files=(("kp.yaml", KUBE_PROXY.replace("mode: ipvs", "mode: [ipvs]")),)),
    "kube-proxy: strictARP that is a list": Situation(
        ("kube-proxy", "diff", "-f", "{dir}/kp.yaml"), 2, "write it as strictARP: true (or false)",
        files=(("kp.yaml", KUBE_PROXY.replace("strictARP: false", "strictARP: [false]")),)),
    "kube-proxy: config.conf that is no text": Situation(
        ("kube-proxy", "diff", "-f", "{dir}/cm.yaml"), 2,
        "config.conf holds the KubeProxyConfiguration as text (config.conf: |), as kubectl -n "
        "kube-system get cm kube-proxy -o yaml shows it",
        files=(("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kube-proxy}\n"
                "data:\n  config.conf: 5\n"),)),
    "kube-proxy: config.conf of another kind": Situation(
        ("kube-proxy", "diff", "-f", "{dir}/cm.yaml"), 2,
        "it must hold one document of kind: KubeProxyConfiguration, as kubectl -n kube-system "
        "get cm kube-proxy -o yaml shows it",
        files=(("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kube-proxy}\n"
                "data:\n  config.conf: |\n    mode: ipvs\n"),)),
}


def _files(folder: Path, state: Path, files: tuple[tuple[str, str], ...]) -> None:
    import os

    for name, text in files:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if text == "FIFO":
            os.mkfifo(path)
        elif text == "LINK":
            path.unlink(missing_ok=True)
            path.symlink_to(folder / "elsewhere")
        elif text == "NO-AUTO":
            continue
        else:
            path.write_text(text)


@pytest.mark.parametrize("name", sorted(SITUATIONS))
def test_each_situation_prints_its_hint(cli: Cli, tmp_path: Path, kubeconfig: Path,
                                        kube_server: FakeKubeServer, name: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    situation = SITUATIONS[name]
    state = tmp_path / "lb.yaml"
    assert cli("pool", "add", "default", "192.0.2.10-192.0.2.19", "--state", str(state)).code == 0
    if ("lb.yaml", "NO-AUTO") in situation.files:
        assert cli("pool", "set", "default", "--no-auto-assign", "--state", str(state)).code == 0
    _files(tmp_path, state, situation.files)
    before = state.read_text()
    args = [a.replace("{dir}", str(tmp_path)).replace("{state}", str(state))
            for a in situation.args]
    if situation.cluster is not None:
        situation.cluster(kube_server)
        args += ["--kubeconfig", str(kubeconfig)]
    monkeypatch.delenv("NODE_NAME", raising=False)
    result = cli(*args)
    assert result.code == situation.code, result.err
    if situation.check:
        import json

        report = json.loads(result.out)
        found = next(c for c in report["checks"] if c["id"] == situation.check)
        assert situation.hint in [f["hint"] for f in found["findings"]], found
        return
    lines = result.err.splitlines()
    assert lines[-1] == f"hint: {situation.hint}", result.err
    assert sum(line.startswith("lbctl: error: ") for line in lines) == 1, result.err
    assert state.read_text() == before


#: Hints no test proves yet (the remainder of issue 12, item 2), by the file that prints them.
#: The list may only shrink: a hint that gains a test must leave it, and a new hint must come
#: with a test, not land here.  Many need what a unit test here cannot build cheaply: a
#: non-root user (root reads any file), a network interface or CAP_NET_RAW, an exec credential
#: plugin, API server faults (409 on every retry, 422, 5xx), two writers racing, a live
#: cluster with other load balancers.
NOT_YET_PROVED = (
    # lbctl/core/peers.py, lbctl/core/pools.py, lbctl/cli/bgp.py: BGP (issue 15), in progress
    'write the password alone on the first line',
    'pip install exabgp (lbctl depends on it), or remove the BGP peers',
    "MetalLB's protocols are layer2 and bgp",
    'write the password in it',
    'choose a shorter password',
    'remove it first (lbctl bgp peer remove {}) or choose another name',
    'one peer per router address and port (or give them different --node-selector)',
    'take it out first: lbctl pool set {} --bgp-peer ... (the other peers), or announce to every peer with --all-bgp-peers',  # noqa: E501
    'choose one of {}',
    "a pool's addresses are announced as prefixes of at least their own length: lbctl pool add --help",  # noqa: E501
    'add it: lbctl bgp peer add {} --address A --asn N --my-asn M (lbctl bgp peer list shows the peers)',  # noqa: E501
    # lbctl/actions/interop.py
    'is Cilium installed? or give its pools with -f FILE',
    # lbctl/actions/kubeproxy.py
    'something keeps rewriting it (an operator or GitOps controller?); change it there',
    # lbctl/actions/services.py
    'someone released it at the same time',
    # lbctl/actions/svccheck.py
    'svc check probes LoadBalancer ports',
    # lbctl/cli/adopt.py
    # lbctl/cli/assign.py
    # lbctl/cli/context.py
    'fix the kubeconfig, or pass another one with --kubeconfig',
    # lbctl/cli/inputs.py
    'split the manifests into several files',
    # lbctl/cli/kubeproxy.py
    'give one file (a ConfigMap or a KubeProxyConfiguration), or -',
    # lbctl/cli/main.py
    'this is a bug in lbctl; rerun with --debug and report the traceback',
    # lbctl/cli/svc.py
    # lbctl/core/addresses.py
    'give a CIDR, a range a-b, or an address',
    # lbctl/core/allocator.py
    'ask for one address per family in spec.ipFamilies',
    'a dual-stack Service takes both addresses from one pool',
    'drop the pool request or ask for an address in that pool',
    'add a pool: lbctl pool add NAME ADDRESS...{}',
    'ask for another address',
    # lbctl/core/interop.py
    "give the other tool's manifests with -f",
    # lbctl/core/kubeproxy.py
    'set ipvs.strictARP: true by hand',
    'replace it by hand with a mapping holding strictARP: true',
    'put one key per line and run lbctl again',
    # lbctl/core/manifests.py
    'keep the state in a file of its own (lbctl --state FILE), apart from the manifests',
    'write the annotation {} by hand',
    'pin them by hand; lbctl left the file as it was',
    # lbctl/core/pinning.py
    '{} keeps {} (pool {}): the manifest asks for {}, and {}',
    # lbctl/core/pools.py
    'example: lbctl pool add default 192.0.2.10-192.0.2.49',
    'release it first (lbctl release svc NAME -n NS)',
    # lbctl/core/selectors.py
    # lbctl/core/service.py
    'use IPv4, IPv6, or both',
    'use SingleStack, PreferDualStack or RequireDualStack',
    'write one address per family, comma-separated: 192.0.2.10,2001:db8::10',
    'use the annotation {} for two',
    'set ipFamilyPolicy to PreferDualStack or RequireDualStack',
    # lbctl/core/statefile.py
    # lbctl/doctor/checks.py
    'if another controller set the status, see the impl.* checks; otherwise withdraw both and assign again: lbctl release svc {} -n {} --force && {}',  # noqa: E501
    'check the ConfigMap by hand',
    # lbctl/doctor/gather.py
    'give doctor the one the cluster uses',
    'name the one to check with --state PATH',
    # lbctl/doctor/others.py
    # lbctl/kube/__init__.py
    'pass a kubeconfig file with --kubeconfig, or fix KUBECONFIG',
    'lbctl reads token and certificate kubeconfigs itself; see README, Kubeconfigs',
    # lbctl/kube/client.py
    'check --context / the server address, and that the cluster is up',
    'check the name and the namespace (-n)',
    'check that --context points at a Kubernetes API server, not a proxy page',
    'the server may not support this operation; run with --debug for details',
    'the cluster may be too old for lbctl, or this API is turned off',
    'this is a bug in lbctl; please report it',
    'check the user of {} in your kubeconfig; its token or certificate may have expired',
    'run the command again; it starts from the current state',
    'check the selector and the values given on the command line',
    'it may be overloaded or restarting; try again in a moment',
    'the value it names is invalid; fix it and run the command again',
    'ask a cluster administrator for the permission',
    'pick another name, or delete it first',
    # lbctl/kube/kubeconfig.py
    'set clusters[].cluster.server in the kubeconfig, or pass another one with --kubeconfig',
    "check the user's token or tokenFile; it must be a single line",
    # lbctl/kube/official.py
    'check the file, or pass another one with --kubeconfig',
    'install the plugin, or fix users[].user.exec.command in the kubeconfig',
    'pass --context, or run kubectl config use-context',
    'check the user section of the kubeconfig (its exec plugin or token)',
    # lbctl/net/packet.py
    'run with --debug for details',
    # lbctl/state/configmap.py
    'keep the state in a file (--state PATH), or split pools across clusters',
    # lbctl/state/file.py
    'the file was left as it was',
    'give --state PATH (is a shell variable unset?)',
    'is --state pointing at the right file?',
    'run the command again',
    'wait for the other lbctl to finish, then run the command again',
)


#: Errors built without a hint on purpose, by file: each is caught, and what the user sees is
#: another error's hint or a row of a batch's table.
HINTED_ELSEWHERE = {
    # the manifest pinner's own reasons: Pinner._refused wraps each with its hint
    "lbctl/core/manifests.py": {
        "it has no metadata", "its metadata is not a mapping with a name",
        "its metadata.name is not a one-line value", "its metadata.annotations is not a mapping",
        "its first annotation does not start its own line",
        "its metadata.annotations is not a flow mapping", "a comment starts its metadata",
        "its {} value is not a one-line string"},
    # assign -f: a Service that fails becomes a FAILED row of the batch, with its message
    "lbctl/actions/services.py": {"{}: a Service without metadata.name", "{}: {}"},
}


def test_every_error_is_built_with_a_hint() -> None:
    """An error of lbctl.errors built without a hint prints no ``hint:`` line: the source
    builds none, but where a caller gives the hint (HINTED_ELSEWHERE)."""
    found = hintinventory.errors_without_hint()
    assert [(path, message) for path, message in found
            if message not in HINTED_ELSEWHERE.get(path, ())] == []
    assert {(p, m) for p, ms in HINTED_ELSEWHERE.items() for m in ms} == set(found)


def _proved() -> list[str]:
    return hintinventory.asserted_in_tests() + [s.hint for s in SITUATIONS.values()]


def test_every_hint_is_proved_by_a_test() -> None:
    """Every hint template in the source is asserted (the exact hint line, or the hint of a
    finding) by some test, or is listed in NOT_YET_PROVED; that list holds only templates that
    exist and are still unproved."""
    proved = _proved()
    templates = hintinventory.templates()
    unproved = {t.shown: t for t in templates
                if not any(t.pattern().match(line.replace(hintinventory.WILD, "X"))
                           for line in proved)}
    new = sorted(f"{t.path}:{t.line}: {shown}" for shown, t in unproved.items()
                 if shown not in NOT_YET_PROVED)
    assert new == [], ("hints no test asserts: add a row to SITUATIONS in tests/cli/"
                       "test_hints.py (the situation, its exit code, the exact hint line)")
    stale = sorted(set(NOT_YET_PROVED) - set(unproved))
    assert stale == [], "proved or gone: take them out of NOT_YET_PROVED"
    assert len(set(NOT_YET_PROVED)) == len(NOT_YET_PROVED)


#: Files lbctl may not read: root reads anything, so these run lbctl as nobody (setpriv).
UNREADABLE = {
    "an unreadable --state": (("pool", "list", "--state", "{dir}/lb.yaml"), 6,
                              "hint: check the file's permissions, or choose another --state"),
    "an unreadable -f": (("assign", "-f", "{dir}/web.yaml", "--state", "{dir}/new.yaml"), 6,
                         "hint: check the file's permissions"),
}


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which(
    "setpriv"), reason="needs root and setpriv (util-linux) to run lbctl as another user")
@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_a_file_lbctl_may_not_read(name: str) -> None:
    import subprocess
    import sys
    import tempfile

    args, code, hint = UNREADABLE[name]
    folder = Path(tempfile.mkdtemp(prefix="lbctl-hint-"))
    try:
        folder.chmod(0o755)
        for file in ("lb.yaml", "web.yaml"):
            (folder / file).write_text("schemaVersion: 1\n" if file == "lb.yaml" else
                                       "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n")
            (folder / file).chmod(0)
        done = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
             "-m", "lbctl", *(a.replace("{dir}", str(folder)) for a in args)],
            capture_output=True, text=True, timeout=120, cwd=folder,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder),
                 "NO_COLOR": "1"})
        assert (done.returncode, done.stderr.splitlines()[-1]) == (code, hint), done.stderr
        assert done.stderr.count("lbctl: error: ") == 1
    finally:
        shutil.rmtree(folder)


# --------------------------------------------------------------------------- hintskube
#
# The hints met on the API server (its faults injected into the fake), in kubeconfigs, in state
# files and in doctor's findings on the examples (offline on the files, live on the fake seeded
# with them).  Each hint here is the exact line printed for the real situation; where the
# situation can be fixed by the command it names, the test runs that command and checks.

#: Each example, doctor's findings on it: ``-f examples/NAME`` run from the repository (offline),
#: and the fake API server seeded with the same objects (live).
DOCTOR_OFFLINE: dict[str, list[dict[str, str]]] = {
    "broken": [
        {"check": "pool.node-overlap", "hint": "take it out of the pool, or keep lbctl from "
         "handing it out: lbctl pool reserve default --state examples/broken/lbctl-state.yaml "
         "192.168.20.11 --note 'node node-1'"},
        {"check": "pool.pod-cidr-overlap", "hint": "pool addresses must not be pod addresses: "
         "move the pool to a free range of the node network"},
        {"check": "pool.cluster-ip-overlap", "hint": "the pool overlaps the Service CIDR: take "
         "those addresses out of the pool"},
        {"check": "pool.buggy-ips", "hint": "turn on avoidBuggyIPs: lbctl pool set default "
         "--state examples/broken/lbctl-state.yaml --avoid-buggy-ips (or start and end the "
         "range inside the subnet)"},
        {"check": "pool.utilisation", "hint": "add addresses (lbctl pool set small --state "
         "examples/broken/lbctl-state.yaml --add ADDRESS) or release unused ones"},
        {"check": "pool.exhausted", "hint": "add addresses to the pool (lbctl pool set small "
         "--state examples/broken/lbctl-state.yaml --add ADDRESS) or release unused ones"},
        {"check": "svc.orphan", "hint": "forget the Services no longer in the manifests: lbctl "
         "assign -f examples/broken --state examples/broken/lbctl-state.yaml --prune"},
        {"check": "svc.pinned", "hint": "move it: lbctl assign -f examples/broken --state "
         "examples/broken/lbctl-state.yaml --in-place (or put 192.168.20.60 back in the "
         "manifest)"},
        {"check": "svc.requested-ip", "hint": "ask for an address of a pool (lbctl pool list "
         "--state examples/broken/lbctl-state.yaml), or add it to one"},
        {"check": "kube-proxy.strict-arp", "hint": "lbctl kube-proxy diff shows the change; "
         "lbctl kube-proxy apply --restart makes it"},
        {"check": "impl.metallb", "hint": "uninstall MetalLB, or set spec.loadBalancerClass: "
         "lbctl.io/lbctl on the Services lbctl should serve (MetalLB ignores Services of "
         "another class)"},
        {"check": "bgp.calico-peers", "hint": "let Calico announce lbctl's pools over its own "
         "sessions: lbctl pool export --format calico | calicoctl apply -f -, then lbctl bgp "
         "peer remove router; or peer lbctl's speakers with another router address"},
        {"check": "bgp.calico-service-ips", "hint": "make Calico's list cover every pool: lbctl "
         "pool export --format calico | calicoctl apply -f -"},
    ],
    "snapshot": [
        {"check": "svc.outside-pools", "hint": "add the address to a pool and record it, or "
         "clear the Service's status (lbctl release svc legacy -n web)"},
        {"check": "svc.shared-ip", "hint": "move one of them to another address; to share on "
         "purpose, give both the annotation metallb.io/allow-shared-ip with one key"},
        {"check": "svc.local-no-endpoints", "hint": "check its pods (kubectl -n web get "
         "endpointslices -l kubernetes.io/service-name=api), or use externalTrafficPolicy: "
         "Cluster"},
        {"check": "svc.drift", "hint": "if another controller set the status, see the impl.* "
         "checks; otherwise record what it shows: lbctl adopt svc legacy -n web (or withdraw "
         "it: lbctl release svc legacy -n web --force)"},
        {"check": "impl.kube-vip", "hint": "delete the kube-vip-cloud-provider Deployment and "
         "the kubevip ConfigMap, or set spec.loadBalancerClass: lbctl.io/lbctl on the Services "
         "lbctl should serve (kube-vip ignores Services of another class)"},
        {"check": "impl.servicelb", "hint": "start every k3s server with --disable=servicelb"},
        {"check": "impl.openelb", "hint": "uninstall OpenELB"},
        {"check": "impl.purelb", "hint": "uninstall PureLB"},
        {"check": "impl.cilium", "hint": "delete the CiliumLoadBalancerIPPools, or set "
         "enable-lb-ipam: \"false\" in kube-system/cilium-config, or set "
         "spec.loadBalancerClass: lbctl.io/lbctl on the Services lbctl should serve (Cilium "
         "ignores Services of another class)"},
    ],
}
DOCTOR_LIVE: dict[str, list[dict[str, str]]] = {
    "broken": [
        {"check": "pool.node-overlap", "hint": "take it out of the pool, or keep lbctl from "
         "handing it out: lbctl pool reserve default 192.168.20.11 --note 'node node-1'"},
        {"check": "svc.drift", "hint": "publish it: lbctl assign svc wiki -n web"},
        {"check": "svc.orphan", "hint": "lbctl reconcile frees it (or: lbctl release svc gone "
         "-n old)"},
        {"check": "svc.pinned", "hint": "move it: lbctl release svc wiki -n web && lbctl "
         "assign svc wiki -n web"},
        {"check": "controller.leader", "hint": "lbctl install prints the manifests that run "
         "one"},
    ],
}


def _findings(result: Result) -> list[dict[str, str]]:
    report = json.loads(result.out)
    return [{"check": c["id"], "hint": f["hint"]} for c in report["checks"]
            for f in c["findings"] if f["severity"] != "pass"]


@pytest.mark.parametrize("example", sorted(DOCTOR_OFFLINE))
def test_doctor_offline_on_the_examples_prints_these_hints(
        cli: Cli, example: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(hintinventory.ROOT)
    result = cli("doctor", "-f", f"examples/{example}", "-o", "json")
    assert result.code == 1, result.err
    found = _findings(result)
    assert [f for f in DOCTOR_OFFLINE[example] if f not in found] == []


@pytest.mark.parametrize("example", sorted(DOCTOR_LIVE))
def test_doctor_live_on_the_examples_prints_these_hints(
        cli: Cli, kubeconfig: Path, kube_server: FakeKubeServer, example: str) -> None:
    from tests.doctor.clusters import seed

    seed(kube_server, example)
    result = cli("doctor", "-o", "json", "--kubeconfig", str(kubeconfig))
    assert result.code == 1, result.err
    found = _findings(result)
    assert [f for f in DOCTOR_LIVE[example] if f not in found] == []


#: Offline findings whose command, run as the hint prints it (ADDRESS: a free address), clears
#: the finding: the command must change the files' state, not ask for a cluster.
FOLLOW_OFFLINE = {
    "pool.node-overlap": r"lbctl pool reserve default .* --note 'node node-1'",
    "pool.buggy-ips": r"lbctl pool set default [^(]*--avoid-buggy-ips",
    "pool.exhausted": r"lbctl pool set small [^)]*--add ADDRESS",
}


@pytest.mark.parametrize("check", sorted(FOLLOW_OFFLINE))
def test_doctor_offline_hints_change_the_files_state(
        cli: Cli, check: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(hintinventory.ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)

    def statuses() -> dict[str, list[str]]:
        report = json.loads(cli("doctor", "-f", "examples/broken", "-o", "json").out)
        return {c["id"]: [f["hint"] for f in c["findings"]] for c in report["checks"]
                if c["status"] != "pass"}

    hints = statuses()[check]
    found = re.search(FOLLOW_OFFLINE[check], hints[0])
    assert found is not None, hints
    words = shlex.split(found.group(0).replace("ADDRESS", "10.50.0.12"))
    result = cli(*words[1:])
    assert result.code == 0, result.err
    assert hints[0] not in statuses().get(check, [])


# --------------------------------------------------------------------------- hintsnet
#
# The hints of sockets, processes and the kernel: tests/net/test_net_hints.py builds those
# situations in network namespaces; here, the metrics port of the long-running commands.


@pytest.mark.parametrize("text", re.findall(r"\S*:\d+", "for example :8080, 127.0.0.1:8080 "
                                                       "or [::1]:8080"))
def test_the_metrics_addresses_a_hint_shows_parse(text: str) -> None:
    from lbctl.health import parse_address

    assert parse_address(text)[1] == 8080


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_nobody() -> list[str]:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv (util-linux) to run lbctl as another user")
    limit = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")
    if not limit.exists() or int(limit.read_text()) <= 80:
        pytest.skip("ports below 1024 are not privileged here")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@contextlib.contextmanager
def _controller(command: list[str], server: FakeKubeServer, identity: str,
                **popen: Any) -> Iterator[Any]:
    """``lbctl controller`` started as ``command``, until it leads (holds the Lease as
    ``identity``); stopped by its PID (SIGTERM) at the end."""
    import signal
    import subprocess
    import time

    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, **popen)
    try:
        deadline = time.monotonic() + 60
        while True:
            lease = server.get_object("leases", "lbctl-controller", "kube-system")
            if lease is not None and lease["spec"].get("holderIdentity") == identity:
                break
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.mark.slow
@pytest.mark.parametrize("taken", ["in use", "privileged"])
def test_a_metrics_port_lbctl_cannot_listen_on(kube_server: FakeKubeServer, taken: str) -> None:
    """The controller cannot listen on --metrics-addr; the hint says pick another: with
    another (and --id $(hostname), as the hint of an empty --id says) it runs and leads."""
    import socket
    import subprocess
    import sys
    import tempfile
    import urllib.request

    folder = Path(tempfile.mkdtemp(prefix="lbctl-hint-"))  # readable by nobody
    folder.chmod(0o755)
    holder = socket.socket()
    try:
        kubeconfig = kube_server.write_kubeconfig(folder / "kubeconfig")
        kubeconfig.chmod(0o644)
        user = _as_nobody() if taken == "privileged" else []
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = 80 if taken == "privileged" else holder.getsockname()[1]
        lbctl = [*user, sys.executable, "-m", "lbctl", "controller", "--kubeconfig",
                 str(kubeconfig)]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder),
               "NO_COLOR": "1"}
        done = subprocess.run([*lbctl, "--metrics-addr", f"127.0.0.1:{port}"], cwd=folder,
                              capture_output=True, text=True, timeout=60, env=env)
        expected = {"in use": (4, "hint: another process may use the port; pick another "
                                  "--metrics-addr"),
                    "privileged": (6, "hint: ports below 1024 need privileges; pick another "
                                      "--metrics-addr")}[taken]
        assert (done.returncode, done.stderr.splitlines()[-1]) == expected, done.stderr
        other = _free_port()
        with _controller(["sh", "-c", 'exec "$@" --id $(hostname)', "sh", *lbctl,
                          "--metrics-addr", f"127.0.0.1:{other}"], kube_server,
                         socket.gethostname(), cwd=folder, env=env), urllib.request.urlopen(
                f"http://127.0.0.1:{other}/healthz", timeout=10) as got:
            assert got.status == 200
    finally:
        holder.close()
        shutil.rmtree(folder)


@pytest.mark.slow
def test_doctor_a_controller_that_stopped_leading(cli: Cli, kubeconfig: Path,
                                                  kube_server: FakeKubeServer) -> None:
    """The leader is killed (SIGKILL: it cannot hand the Lease over); once its 2 s Lease ran
    out, doctor says so; what the hint names shows it, and a controller started again leads."""
    import signal
    import sys
    import time

    world = World(cli, kubeconfig, kube_server)
    command = [sys.executable, "-m", "lbctl", "controller", "--kubeconfig", str(kubeconfig),
               "--lease-duration", "2", "--metrics-addr", "127.0.0.1:0"]
    env = {**os.environ, "NO_COLOR": "1"}
    with _controller([*command, "--id", "ctl-1"], kube_server, "ctl-1", env=env) as proc:
        os.kill(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        report = json.loads(world.run("doctor", "-o", "json").out)
        found = next(c for c in report["checks"] if c["id"] == "controller.leader")
        if found["status"] == "error" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    [finding] = found["findings"]
    assert finding["message"].startswith("no lbctl controller leads: ctl-1 stopped renewing it")
    assert finding["hint"] == ("kubectl get pods -A -l app.kubernetes.io/name=lbctl-controller; "
                               "lbctl controller status")
    status = world.run("controller", "status")  # what the hint names, but kubectl's half
    assert status.code == 1, status.err
    assert re.search(r"^Leader: +none: ctl-1 stopped renewing \d+s ago$", status.out, re.M)
    with _controller([*command, "--id", "ctl-2"], kube_server, "ctl-2", env=env):
        report = json.loads(world.run("doctor", "-o", "json").out)
        found = next(c for c in report["checks"] if c["id"] == "controller.leader")
        assert found["status"] == "pass", found
