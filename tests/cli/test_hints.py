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
        "lbctl --state {state} arp announce --all, or lbctl --state {state} arp announce "
        "IP|svc/NAME..."),
    "arp: unknown pool": Situation(
        ("arp", "announce", "--all", "--pool", "nope", "--dry-run", "--state", "{state}"), 3,
        "see lbctl --state {state} pool list"),
    "arp: a Service without an address": Situation(
        ("arp", "announce", "svc/web", "-n", "shop", "--dry-run", "--state", "{state}"), 3,
        "assign one with: lbctl --state {state} assign svc web -n shop"),
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
        "change it in place (lbctl --state {state} pool set default --add ADDRESS) or choose "
        "another name"),
    "pool unreserve: an address not reserved": Situation(
        ("pool", "unreserve", "default", "192.0.2.11", "--state", "{state}"), 3,
        "lbctl --state {state} pool show default lists its reservations"),
    "a selector with an empty requirement": Situation(
        ("pool", "add", "y", "10.0.0.9", "-l", "a=b,,c", "--state", "{state}"), 2,
        "example: app=web,tier!=db"),
    "a selector with a bad key": Situation(
        ("pool", "add", "y", "10.0.0.9", "-l", "tier in (a", "--state", "{state}"), 2,
        "example: app=web,tier in (frontend,api),!canary"),
    "adopt: a Service and --all": Situation(
        ("adopt", "svc", "x", "--all", "--state", "{state}"), 2,
        "lbctl --state {state} adopt --all -n NS (or -A)"),
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
        "add one: lbctl --state {dir}/empty.yaml pool add NAME ADDRESS..."),
    "-f: a document that is no Kubernetes object": Situation(
        ("assign", "-f", "{dir}/x.yaml", "--state", "{state}"), 2,
        "every document must be a Kubernetes object, as kubectl apply requires; fix or remove "
        "it", files=(("x.yaml", "a: 1\n"),)),
    "assign: --all and a target that is no Service": Situation(
        ("assign", "deploy/web", "--all", "--state", "{state}"), 2,
        "example: lbctl --state {state} assign svc/web -n shop, or lbctl --state {state} "
        "assign --all -A"),
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
        "example: lbctl --state {state} svc check web -n shop, or lbctl --state {state} svc "
        "check --all -A"),
    "svc check --http without a path": Situation(
        ("svc", "check", "web", "--http", "x", "--state", "{state}"), 2,
        "for example --http /healthz"),
    "adopt without a Service": Situation(
        ("adopt", "--state", "{state}"), 2,
        "example: lbctl --state {state} adopt svc/web -n shop"),
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
    hint = situation.hint.replace("{dir}", str(tmp_path)).replace("{state}", str(state))
    assert lines[-1] == f"hint: {hint}", result.err
    assert sum(line.startswith("lbctl: error: ") for line in lines) == 1, result.err
    assert state.read_text() == before


#: Hints no test proves yet.  Empty since every hint lbctl prints is proved (issue 12, item 2),
#: and it stays empty: a new hint comes with its test, in SITUATIONS or beside the code.
NOT_YET_PROVED: tuple[str, ...] = ()


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
    "lbctl/actions/services.py": {"{}: a Service without metadata.name"},
    # shell completion asks for lbctl's own transport only, and shows no error at all
    "lbctl/kube/__init__.py": {"this configuration needs the official Kubernetes client"},
    # a lost race: the store reads again and retries; its own error, if it gives up, has a hint
    "lbctl/state/file.py": {"{} changed while lbctl was working"},
    # nobody reads the output: lbctl ends by SIGPIPE and prints nothing at all
    "lbctl/cli/streams.py": {"the reader of the output went away"},
}


def test_every_error_is_built_with_a_hint() -> None:
    """An error of lbctl.errors built without a hint prints no ``hint:`` line: the source
    builds none, but where a caller gives the hint (HINTED_ELSEWHERE)."""
    found = hintinventory.errors_without_hint()
    assert [(path, message) for path, message in found
            if message not in HINTED_ELSEWHERE.get(path, ())] == []
    assert {(p, m) for p, ms in HINTED_ELSEWHERE.items() for m in ms} == set(found)


def _proved() -> list[str]:
    return hintinventory.asserted_in_tests() + [hintinventory.bare(s.hint)
                                                for s in SITUATIONS.values()]


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


class Lab:
    """What a row's setup builds with: the fake API server, a folder for files, kubeconfigs."""

    def __init__(self, server: FakeKubeServer, folder: Path, kubeconfig: Path) -> None:
        self.server, self.folder, self.kubeconfig = server, folder, kubeconfig
        self.threads: list[Any] = []

    def kubeconfig_with(self, *, user: dict[str, Any] | None = None,
                        cluster: dict[str, Any] | None = None, current: bool = True) -> None:
        """Rewrite the kubeconfig: another user or cluster section, no current-context."""
        config = json.loads(self.kubeconfig.read_text())
        if user is not None:
            config["users"][0]["user"] = user
        if cluster is not None:
            config["clusters"][0]["cluster"] = cluster
        if not current:
            del config["current-context"]
        self.kubeconfig.write_text(json.dumps(config))

    def plugin(self, script: str) -> dict[str, Any]:
        """A user whose credentials come from an exec plugin running ``script`` (sh)."""
        path = self.folder / "plugin"
        path.write_text("#!/bin/sh\n" + script)
        path.chmod(0o755)
        return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(path),
                         "interactiveMode": "Never"}}

    def meanwhile(self, fault: Any, act: Callable[[], object]) -> None:
        """Run ``act`` while the request the injected delay ``fault`` holds is waiting: another
        writer, racing lbctl."""
        import threading
        import time

        def race() -> None:
            deadline = time.monotonic() + 60
            while not fault.hits and time.monotonic() < deadline:
                time.sleep(0.01)
            act()

        thread = threading.Thread(target=race, daemon=True)
        thread.start()
        self.threads.append(thread)


@dataclass(frozen=True)
class Met:
    """A situation met for real: the command, its exit code, the exact last line of stderr."""

    args: tuple[str, ...]
    code: int
    line: str
    setup: Callable[[Lab], object] | None = None
    kube: bool = True  # append --kubeconfig (the fake's) to the arguments
    check: str = ""  # a doctor check (-o json): ``line`` is "hint: " and one of its findings'
    #: Follow the hint: run the command the regex ``follow`` finds in it (group 1, after
    #: "lbctl "), then ``args`` again must succeed.
    follow: str = ""
    batch: bool = False  # a batch (-f, --all): ``line`` is one of its lines, "hint: NS/NAME: ..."


def _state_cm(lab: Lab, allocations: str = "{}", note: str = "") -> None:
    """The state ConfigMap: pool default, ``allocations``, a reservation with ``note``."""
    _cluster_state(lab.server, reserved="192.0.2.11" if note else "")
    cm = lab.server.get_object("configmaps", "lbctl-state", "kube-system")
    assert cm is not None
    cm["data"]["state.yaml"] = cm["data"]["state.yaml"].replace(
        "allocations: {}", f"allocations: {allocations}").replace("router", note or "router")
    lab.server.put_object(cm)


def _locked(lab: Lab) -> None:
    """Another lbctl holds the state file's lock (for a test, lbctl waits 0.2 s, not 60)."""
    import fcntl

    from lbctl.state.file import FileBackend

    (lab.folder / "lb.yaml").write_text(STATE_FILE)
    handle = (lab.folder / "lb.yaml.lock").open("w")
    fcntl.flock(handle, fcntl.LOCK_EX)
    lab.threads.append(handle)
    defaults = FileBackend.__init__.__kwdefaults__
    was = defaults["lock_timeout"]  # put back afterwards: later tests of this process wait 60 s
    lab.threads.append(lambda: defaults.update(lock_timeout=was))
    defaults["lock_timeout"] = 0.2


def _proxy_page(lab: Lab) -> None:
    """The kubeconfig's server answers like a web proxy's login page: 200 and HTML."""
    import http.server
    import threading

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><body>Please log in</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return None

    page = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=page.serve_forever, daemon=True).start()
    lab.threads.append(page)
    lab.kubeconfig_with(cluster={"server": f"http://127.0.0.1:{page.server_address[1]}"})


def _released_meanwhile(lab: Lab) -> None:
    """lbctl release reads web's allocation; while it withdraws the status, another lbctl
    releases web."""
    _state_cm(lab, "{shop: {web: {ips: [192.0.2.10], pool: default}}}")
    lab.server.put_object(service("web", "shop", "192.0.2.10"))
    fault = lab.server.inject(0.5, method="PATCH", path="/services/web/status")
    lab.meanwhile(fault, lambda: _cluster_state(lab.server))


def _kube_proxy_ipvs(lab: Lab) -> None:
    _kube_proxy_no_daemonset(lab.server)
    lab.server.put_object({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
        "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
                 "template": {"metadata": {"labels": {"k8s-app": "kube-proxy"}},
                              "spec": {"containers": [{"name": "kube-proxy",
                                                       "image": "kube-proxy"}]}}}})


#: A state file: an IPv4 and IPv6 pool, another IPv4 pool with an IPv6 range of its own.
STATE_FILE = ("schemaVersion: 1\npools:\n"
              "  default: {addresses: [192.0.2.10-192.0.2.19, '2001:db8::/120'], "
              "autoAssign: true, avoidBuggyIPs: false}\n"
              "  other: {addresses: [198.51.100.10-198.51.100.19, '2001:db8:1::/120'], "
              "autoAssign: true, avoidBuggyIPs: false}\n"
              "allocations: {}\nholds: {}\n")
#: Assign Service shop/web (what _web_asks puts on the cluster) on the state file STATE_FILE.
ASSIGN = ("assign", "svc", "web", "-n", "shop", "--state", "{dir}/lb.yaml")


def _web_asks(annotations: dict[str, str] | None = None, state: str = STATE_FILE,
              **spec: Any) -> Callable[[Lab], None]:
    """Write the state file lb.yaml; put Service shop/web with ``spec`` and ``annotations``."""
    def write(lab: Lab) -> None:
        (lab.folder / "lb.yaml").write_text(state)
        lab.server.put_object(service("web", "shop", annotations=annotations or {}, **spec))

    return write


def _write(**texts: str) -> Callable[[Lab], None]:
    """Write files in the folder: ``lb_yaml=STATE_FILE`` writes lb.yaml."""
    def write(lab: Lab) -> None:
        for name, text in texts.items():
            (lab.folder / name.replace("_", ".")).write_text(text)

    return write


#: STATE_FILE with BGP peer router, which pool default's advertisement names.
PEERED = STATE_FILE.replace("holds: {}\n", "holds: {}\npeers:\n  router: {address: "
                            "192.168.200.1, asn: 64501, myASN: 64500, port: 179, holdTime: 90}\n"
                            ).replace("autoAssign: true, avoidBuggyIPs: false}\n  other",
                                      "autoAssign: true, avoidBuggyIPs: false, announce: bgp, "
                                      "bgp: {peers: [router]}}\n  other")
PEER_ADD = ("bgp", "peer", "add", "r2", "--address", "192.168.200.3", "--asn", "64501",
            "--my-asn", "64500", "--password-file", "{dir}/pw", "--dry-run")
KP = "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n"
STATE = ("--state", "{dir}/lb.yaml")


def _big(lab: Lab) -> None:
    """big.yaml: one byte more than lbctl reads (a sparse file: nothing is written)."""
    from lbctl.core.yamlkit import MAX_CHARS

    (lab.folder / "lb.yaml").write_text(STATE_FILE)
    with (lab.folder / "big.yaml").open("wb") as handle:
        handle.truncate(MAX_CHARS + 1)


def _two_states(lab: Lab) -> None:
    for folder in ("a", "b"):
        (lab.folder / folder).mkdir()
        (lab.folder / folder / "lb.yaml").write_text(STATE_FILE)


def _controller_installed(lab: Lab) -> None:
    from tests.doctor.clusters import workload

    lab.server.put_object(workload("Deployment", "kube-system", "lbctl-controller",
                                   "ghcr.io/lbctl/lbctl"))


#: doctor on the manifest svc.yaml (what _manifest writes) and the state file STATE_FILE: the
#: API server refuses such a Service, a file does not.
DOCTOR_F = ("doctor", "-f", "{dir}/svc.yaml", "--state", "{dir}/lb.yaml", "-o", "json")


def _manifest(**spec: Any) -> Callable[[Lab], None]:
    def write(lab: Lab) -> None:
        (lab.folder / "lb.yaml").write_text(STATE_FILE)
        (lab.folder / "svc.yaml").write_text(json.dumps(service("web", "shop", **spec)))

    return write


MET: dict[str, Met] = {
    # a Service's request, read from a manifest
    "spec.ipFamilies of another family (a manifest)": Met(
        DOCTOR_F, 1, "hint: use IPv4, IPv6, or both", _manifest(ipFamilies=["IPv5"]), False,
        "svc.pending"),
    "an ipFamilyPolicy Kubernetes does not have (a manifest)": Met(
        DOCTOR_F, 1, "hint: use SingleStack, PreferDualStack or RequireDualStack",
        _manifest(ipFamilyPolicy="Dual"), False, "svc.pending"),
    "two ipFamilies with SingleStack": Met(
        ASSIGN, 2, "hint: set ipFamilyPolicy to PreferDualStack or RequireDualStack",
        _web_asks(ipFamilies=["IPv4", "IPv6"], ipFamilyPolicy="SingleStack")),
    "spec.loadBalancerIP that is no address": Met(
        ASSIGN, 2,
        "hint: write one address per family, comma-separated: 192.0.2.10,2001:db8::10",
        _web_asks(loadBalancerIP="web.example")),
    "two addresses in spec.loadBalancerIP": Met(
        ASSIGN, 2, "hint: use the annotation metallb.io/loadBalancerIPs for two",
        _web_asks(loadBalancerIP="192.0.2.10,2001:db8::10", ipFamilyPolicy="PreferDualStack")),
    "an address of the family the Service is not": Met(
        ASSIGN, 4, "hint: ask for one address per family in spec.ipFamilies",
        _web_asks(loadBalancerIP="192.0.2.10", ipFamilies=["IPv6"])),
    "a dual-stack request across two pools": Met(
        ASSIGN, 4, "hint: a dual-stack Service takes both addresses from one pool",
        _web_asks({"metallb.io/loadBalancerIPs": "192.0.2.10,2001:db8:1::10"},
                  ipFamilyPolicy="RequireDualStack")),
    "an address outside the pool requested": Met(
        ASSIGN, 4, "hint: drop the pool request or ask for an address in that pool",
        _web_asks({"metallb.io/address-pool": "other"}, loadBalancerIP="192.0.2.10")),
    "the Subnet-Router anycast address": Met(
        ASSIGN, 4, "hint: ask for another address",
        _web_asks(loadBalancerIP="2001:db8::", ipFamilies=["IPv6"])),
    "no pool at all": Met(
        ASSIGN, 4, "hint: add a pool: lbctl --state {dir}/lb.yaml pool add NAME ADDRESS...",
        _web_asks(state="schemaVersion: 1\n")),
    # the API server and the way to it
    "nothing answers": Met(
        ("svc", "list", "-A"), 7,
        "hint: check --context / the server address, and that the cluster is up",
        lambda lab: lab.server.inject("drop", times=None)),
    "a proxy's login page answers": Met(
        ("svc", "list", "-A"), 7,
        "hint: check that --context points at a Kubernetes API server, not a proxy page",
        _proxy_page),
    "405 Method Not Allowed": Met(
        ("svc", "list", "-A"), 4,
        "hint: the server may not support this operation; run with --debug for details",
        lambda lab: lab.server.inject(405, path="/services")),
    "a resource the server does not serve": Met(
        ("svc", "list", "-A"), 3,
        "hint: the cluster may be too old for lbctl, or this API is turned off",
        lambda lab: lab.server.inject(404, path="/services")),
    "a Service that does not exist": Met(
        ("svc", "check", "nope", "-n", "shop"), 3, "hint: check the name and the namespace (-n)"),
    "401 Unauthorized": Met(
        ("svc", "list", "-A"), 6,
        "hint: check the user of context fake in your kubeconfig; its token or certificate may "
        "have expired", lambda lab: lab.server.inject(401)),
    "400 Bad Request": Met(
        ("svc", "list", "-A"), 2,
        "hint: check the selector and the values given on the command line",
        lambda lab: lab.server.inject(400, path="/services")),
    "503 on every retry": Met(
        ("svc", "list", "-A"), 7, "hint: it may be overloaded or restarting; try again in a "
        "moment", lambda lab: lab.server.inject(503, times=None)),
    "422 Unprocessable Entity": Met(
        ("svc", "list", "-A"), 4,
        "hint: the value it names is invalid; fix it and run the command again",
        lambda lab: lab.server.inject(422, path="/services")),
    "403 on a path that names no resource": Met(
        ("doctor",), 6, "hint: ask a cluster administrator for the permission",
        lambda lab: lab.server.inject(403, path="/version")),
    "409 on the kube-proxy restart": Met(
        ("kube-proxy", "apply", "--restart"), 5,
        "hint: run the command again; it starts from the current state",
        lambda lab: (_kube_proxy_ipvs(lab),
                     lab.server.inject(409, method="PATCH", path="/daemonsets/"))),
    "the kube-proxy ConfigMap rewritten on every try": Met(
        ("kube-proxy", "apply"), 5,
        "hint: something keeps rewriting it (an operator or GitOps controller?); change it there",
        lambda lab: (_kube_proxy_ipvs(lab),
                     lab.server.inject(409, method="PUT", path="/configmaps/kube-proxy",
                                       times=None))),
    # kubeconfigs
    "an exec plugin that is not installed": Met(
        ("svc", "list", "-A"), 2,
        "hint: install the plugin, or fix users[].user.exec.command in the kubeconfig",
        lambda lab: lab.kubeconfig_with(user={"exec": {
            "apiVersion": "client.authentication.k8s.io/v1", "command": "/nonexistent/plugin",
            "interactiveMode": "Never"}})),
    "a kubeconfig without current-context": Met(
        ("svc", "list", "-A"), 2, "hint: pass --context, or run kubectl config use-context",
        lambda lab: lab.kubeconfig_with(current=False)),
    "a cluster without a server": Met(
        ("svc", "list", "-A"), 2,
        "hint: set clusters[].cluster.server in the kubeconfig, or pass another one with "
        "--kubeconfig", lambda lab: lab.kubeconfig_with(cluster={})),
    "a token with a space in it": Met(
        ("svc", "list", "-A"), 2,
        "hint: check the user's token or tokenFile; it must be a single line",
        lambda lab: lab.kubeconfig_with(user={"token": "abc def"})),
    "a kubeconfig that is a named pipe": Met(
        ("svc", "list", "-A", "--kubeconfig", "{dir}/fifo"), 2,
        "hint: pass a kubeconfig file with --kubeconfig, or fix KUBECONFIG",
        lambda lab: os.mkfifo(lab.folder / "fifo")),
    "a kubeconfig with a key given twice": Met(
        ("svc", "list", "-A", "--kubeconfig", "{dir}/kc.yaml"), 2,
        "hint: fix the kubeconfig, or pass another one with --kubeconfig",
        lambda lab: (lab.folder / "kc.yaml").write_text("apiVersion: v1\napiVersion: v1\n")),
    "a kubeconfig of another shape": Met(
        ("svc", "list", "-A", "--kubeconfig", "{dir}/kc.yaml"), 2,
        "hint: check the file, or pass another one with --kubeconfig",
        lambda lab: (lab.folder / "kc.yaml").write_text(
            "apiVersion: v1\nclusters: 5\ncontexts: [{name: a, context: {cluster: x, user: y}}]"
            "\ncurrent-context: a\n")),
    # actions on the cluster
    "pool import cilium without Cilium": Met(
        ("pool", "import", "cilium"), 3,
        "hint: is Cilium installed? or give its pools with -f FILE"),
    "svc check of a ClusterIP Service": Met(
        ("svc", "check", "web", "-n", "shop"), 4, "hint: svc check probes LoadBalancer ports",
        lambda lab: lab.server.put_object(service("web", "shop", type="ClusterIP"))),
    "svc show of an empty name": Met(
        ("svc", "show", ""), 2, "hint: example: lbctl svc show svc/web -n shop"),
    "svc check of an empty name": Met(
        ("svc", "check", ""), 2, "hint: example: lbctl svc check svc/web -n shop"),
    "arp announce svc/ without a name": Met(
        ("arp", "announce", "svc/", "-n", "shop", "--dry-run", "--state", "{dir}/lb.yaml"), 2,
        "hint: example: lbctl --state {dir}/lb.yaml arp announce svc/web -n shop",
        lambda lab: (lab.folder / "lb.yaml").write_text(STATE_FILE), False),
    # BGP
    "a password file of two lines": Met(
        PEER_ADD, 2, "hint: write the password alone on the first line", _write(pw="a\nb\n")),
    "an empty password file": Met(
        PEER_ADD, 2, "hint: write the password in it", _write(pw="")),
    "a password longer than TCP MD5 takes": Met(
        PEER_ADD, 2, "hint: choose a shorter password", _write(pw="x" * 81)),
    "bgp peer add of a name in use": Met(
        ("bgp", "peer", "add", "router", "--address", "192.168.200.2", "--asn", "64501",
         "--my-asn", "64500", *STATE), 4,
        "hint: remove it first (lbctl --state {dir}/lb.yaml bgp peer remove router) or choose "
        "another name", _write(lb_yaml=PEERED.replace(", announce: bgp, bgp: {peers: [router]}",
                                                      "")), False, follow=r"\(lbctl (.*?)\)"),
    "bgp peer add of a session another peer opens": Met(
        ("bgp", "peer", "add", "twin", "--address", "192.168.200.1", "--asn", "64501",
         "--my-asn", "64500", *STATE), 4,
        "hint: one peer per router address and port (or give them different --node-selector)",
        _write(lb_yaml=PEERED), False),
    "bgp peer remove of a peer a pool names": Met(
        ("bgp", "peer", "remove", "router", *STATE), 4,
        "hint: take it out first: lbctl --state {dir}/lb.yaml pool set default --bgp-peer ... "
        "(the other peers), or announce to every peer with --all-bgp-peers",
        _write(lb_yaml=PEERED), False),
    "an aggregation shorter than the pool's prefix": Met(
        ("pool", "add", "x", "10.0.0.0/24", "--announce", "bgp", "--aggregation-length", "16",
         *STATE), 2,
        "hint: a pool's addresses are announced as prefixes of at least their own length: "
        "lbctl --state {dir}/lb.yaml pool add --help", _write(lb_yaml=STATE_FILE), False),
    "a pool naming a peer that does not exist": Met(
        ("pool", "add", "x", "10.0.0.0/24", "--announce", "bgp", "--bgp-peer", "nope", *STATE),
        3, "hint: add it: lbctl --state {dir}/lb.yaml bgp peer add nope --address A --asn N "
        "--my-asn M (lbctl --state {dir}/lb.yaml bgp peer list shows the peers)",
        _write(lb_yaml=STATE_FILE), False),
    # import
    "import: lbctl's state given as the other tool's manifests": Met(
        ("pool", "import", "metallb", "-f", "{dir}/lb.yaml", "--state", "{dir}/new.yaml"), 2,
        "hint: give the other tool's manifests with -f", _write(lb_yaml=STATE_FILE), False),
    "import: matchExpressions that are no list": Met(
        ("pool", "import", "metallb", "-f", "{dir}/pool.yaml", *STATE), 2,
        "hint: write it as one: matchExpressions: [{key: app, operator: In, values: [web]}]",
        _write(lb_yaml=STATE_FILE, pool_yaml=POOL + (
            "  addresses: [10.0.0.0/24]\n  serviceAllocation:\n    serviceSelectors:\n"
            "    - {matchExpressions: x}\n")), False),
    "import: a legacy pool of a protocol MetalLB does not have": Met(
        ("pool", "import", "metallb", "-f", "{dir}/cm.yaml", *STATE), 2,
        "hint: MetalLB's protocols are layer2 and bgp", _write(lb_yaml=STATE_FILE, cm_yaml=(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config, namespace: "
            "metallb-system}\ndata:\n  config: |\n    address-pools:\n    - name: lab\n"
            "      protocol: arp\n      addresses: [10.0.0.0/24]\n")), False),
    "import: a pool without addresses": Met(
        ("pool", "import", "metallb", "-f", "{dir}/pool.yaml", *STATE), 2,
        "hint: example: lbctl --state {dir}/lb.yaml pool add default 192.0.2.10-192.0.2.49",
        _write(lb_yaml=STATE_FILE, pool_yaml=POOL + "  addresses: []\n"), False),
    # kube-proxy's configuration, edited as text
    "kube-proxy: ipvs: null": Met(
        ("kube-proxy", "diff", "-f", "{dir}/kp.yaml"), 4,
        "hint: replace it by hand with a mapping holding strictARP: true",
        _write(kp_yaml=KP + "ipvs: null\n"), False),
    "kube-proxy: a key that does not start its line": Met(
        ("kube-proxy", "diff", "-f", "{dir}/kp.yaml"), 4,
        "hint: put one key per line and run lbctl again",
        _write(kp_yaml="apiVersion: kubeproxy.config.k8s.io/v1alpha1\n? kind\n"
                       ": KubeProxyConfiguration\nmode: ipvs\n"), False),
    "kube-proxy: strictARP an alias of another value": Met(
        ("kube-proxy", "diff", "-f", "{dir}/kp.yaml"), 4,
        "hint: set ipvs.strictARP: true by hand",
        _write(kp_yaml=KP + "metricsBindAddress: &f false\nipvs:\n  strictARP: *f\n"), False),
    "a reservation of an address in use": Met(
        ("pool", "reserve", "default", "192.0.2.10", *STATE), 4,
        "hint: release it first (lbctl --state {dir}/lb.yaml release svc web -n shop)",
        _write(lb_yaml=STATE_FILE.replace(
            "allocations: {}", "allocations: {shop: {web: {ips: [192.0.2.10], pool: default}}}")),
        False, follow=r"\(lbctl (.*?)\)"),
    "an OIDC auth-provider without its id-token": Met(
        ("svc", "list", "-A"), 6,
        "hint: check the user section of the kubeconfig (its exec plugin or token)",
        lambda lab: lab.kubeconfig_with(user={"auth-provider": {"name": "oidc", "config": {}}})),
    "-f of a file longer than lbctl reads": Met(
        ("assign", "-f", "{dir}/big.yaml", *STATE), 2,
        "hint: split the manifests into several files", _big, False),
    "doctor -f with two state documents": Met(
        ("doctor", "-f", "{dir}/a", "-f", "{dir}/b"), 2,
        "hint: name the one to check with --state PATH", _two_states, False),
    "doctor -f with two kube-proxy configurations": Met(
        ("doctor", "-f", "{dir}/a.yaml", "-f", "{dir}/b.yaml", *STATE), 2,
        "hint: give doctor the one the cluster uses",
        _write(lb_yaml=STATE_FILE, a_yaml=KP, b_yaml=KP), False),
    # doctor on a cluster
    "doctor: a status that shows other addresses than the state": Met(
        ("doctor", "-o", "json"), 1,
        "hint: if another controller set the status, see the impl.* checks; otherwise withdraw "
        "both and assign again: lbctl release svc web -n shop --force && lbctl assign svc web "
        "-n shop", lambda lab: _web_mismatched(lab.server), check="svc.drift"),
    "doctor: the controller installed, and never leading": Met(
        ("doctor", "-o", "json"), 1,
        "hint: kubectl get pods -A -l app.kubernetes.io/name=lbctl-controller; lbctl controller "
        "status", _controller_installed, check="controller.leader"),
    "doctor: kube-proxy's ipvs that is no mapping": Met(
        ("doctor", "-o", "json"), 1,
        "hint: write it as a mapping, as kube-proxy reads it: ipvs: {strictARP: true}",
        lambda lab: lab.server.put_object({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "data": {"config.conf": KP + "ipvs: 5\n"}}), check="kube-proxy.strict-arp"),
    # manifests lbctl edits as text
    "assign -f: a pin that would change an aliased mapping too": Met(
        ("assign", "-f", "{dir}/svc.yaml", *STATE), 1,
        "hint: shop/web: pin them by hand; lbctl left the file as it was",
        _write(lb_yaml=STATE_FILE, svc_yaml=(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\n"
            "  annotations: &a {x: y}\n  labels: *a\nspec:\n  type: LoadBalancer\n"
            "  ports: [{port: 80}]\n")), False, batch=True),
    "assign -f: a state document another object refers into": Met(
        ("assign", "-f", "{dir}/list.yaml", *STATE), 4,
        "hint: keep the state in a file of its own (lbctl --state FILE), apart from the "
        "manifests", _write(lb_yaml=STATE_FILE, list_yaml=(
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n"
            "  metadata: {name: lbctl-state, namespace: kube-system}\n  data:\n"
            "    state.yaml: &s \"schemaVersion: 1\\n\"\n- apiVersion: v1\n  kind: ConfigMap\n"
            "  metadata: {name: copy, namespace: shop}\n  data: {x: *s}\n")), False),
    # the state, in a ConfigMap or a file
    "a state that outgrows its ConfigMap": Met(
        ("pool", "reserve", "default", "192.0.2.12", "--note", "m" * 600), 4,
        "hint: keep the state in a file (--state PATH), or split pools across clusters",
        lambda lab: _state_cm(lab, note="n" * (1024 * 1024 - 400))),
    "a state file that is no text": Met(
        ("pool", "list", "--state", "{dir}/lb.yaml"), 4,
        "hint: is --state pointing at the right file?",
        lambda lab: (lab.folder / "lb.yaml").write_bytes(b"\xff\xfe\x00schemaVersion: 1\n"),
        False),
    "a state file another lbctl holds locked": Met(
        ("pool", "reserve", "default", "192.0.2.11", "--state", "{dir}/lb.yaml"), 5,
        "hint: wait for the other lbctl to finish, then run the command again", _locked, False),
    "an empty address entry": Met(
        ("pool", "add", "x", " ", "--state", "{dir}/lb.yaml"), 2,
        "hint: give a CIDR, a range a-b, or an address", kube=False),
    "kube-proxy diff -f of a directory": Met(
        ("kube-proxy", "diff", "-f", "{dir}"), 2,
        "hint: give one file (a ConfigMap or a KubeProxyConfiguration), or -", kube=False),
    "a pool that does not hand out automatically": Met(
        ASSIGN, 4, "hint: add a pool: lbctl --state {dir}/lb.yaml pool add NAME ADDRESS..., or "
        "widen one: lbctl --state {dir}/lb.yaml pool set default --auto-assign",
        _web_asks(state=STATE_FILE.replace("autoAssign: true", "autoAssign: false")),
        follow=r"widen one: lbctl (.*)"),
    "release while another lbctl releases the same Service": Met(
        ("release", "svc", "web", "-n", "shop"), 3,
        "hint: someone released it at the same time", _released_meanwhile),
}


@pytest.mark.parametrize("name", sorted(MET))
def test_each_met_situation_prints_its_hint(cli: Cli, tmp_path: Path, kubeconfig: Path,
                                            kube_server: FakeKubeServer, name: str) -> None:
    met = MET[name]
    lab = Lab(kube_server, tmp_path, kubeconfig)
    try:
        if met.setup is not None:
            met.setup(lab)
        args = [a.replace("{dir}", str(tmp_path)) for a in met.args]
        line = met.line.replace("{dir}", str(tmp_path))
        if met.kube and "--kubeconfig" not in args:
            args += ["--kubeconfig", str(kubeconfig)]
        result = cli(*args)
    finally:
        for thread in lab.threads:  # servers, racing writers, open locks, undo
            if hasattr(thread, "shutdown"):
                thread.shutdown()
            elif hasattr(thread, "join"):
                thread.join(timeout=30)
            elif hasattr(thread, "close"):
                thread.close()
            else:
                thread()
    assert "Traceback" not in result.err
    if met.check:
        report = json.loads(result.out)
        found = next(c for c in report["checks"] if c["id"] == met.check)
        assert result.code == met.code, result.err
        assert met.line.removeprefix("hint: ") in [f["hint"] for f in found["findings"]], found
        return
    lines = result.err.splitlines()
    if met.batch:
        assert (result.code, line in lines) == (met.code, True), result.err
        return
    assert (result.code, lines[-1]) == (met.code, line), result.err
    assert sum(line.startswith("lbctl: error: ") for line in lines) == 1, result.err
    if met.follow:
        command = re.search(met.follow, line)
        assert command is not None, line
        kube = ["--kubeconfig", str(kubeconfig)] if met.kube else []
        followed = cli(*shlex.split(command.group(1)), *kube)
        assert followed.code == 0, followed.err
        again = cli(*args)
        assert again.code == 0, again.err


def test_a_bug_is_one_line_and_debug_shows_its_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The error boundary's own hint: a bug (an exception nobody translated) is one line and
    exit 70; rerun with --debug, as the hint says, and the traceback is there to report."""
    from lbctl.cli.main import run
    from lbctl.state.file import FileBackend

    def bug(*args: object, **kwargs: object) -> None:
        raise RuntimeError("planted bug")

    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("LBCTL_DEBUG", raising=False)
    monkeypatch.setattr(FileBackend, "read", bug)
    (tmp_path / "lb.yaml").write_text(STATE_FILE)
    command = ["pool", "list", "--state", str(tmp_path / "lb.yaml")]
    assert run(command) == 70
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "lbctl: error: internal error: RuntimeError: planted bug",
        "hint: this is a bug in lbctl; rerun with --debug and report the traceback"]
    assert run([*command, "--debug"]) == 70
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert "RuntimeError: planted bug" in err


def test_no_credential_appears_in_an_error(cli: Cli, kube_server: FakeKubeServer,
                                           kubeconfig: Path, tmp_path: Path) -> None:
    """A token the server rejects, from the kubeconfig or from an exec plugin, and a token
    lbctl refuses to send, appear in no error, not even with --debug."""
    lab = Lab(kube_server, tmp_path, kubeconfig)
    kube_server.inject(401, times=None)
    secret = "s3cr3t-t0ken-ABCDEF"
    credential = json.dumps({"apiVersion": "client.authentication.k8s.io/v1",
                             "kind": "ExecCredential", "status": {"token": secret}})
    for user in ({"token": secret}, {"token": f"{secret} {secret}"},
                 lab.plugin(f"echo '{credential}'")):
        lab.kubeconfig_with(user=user)
        for debug in ((), ("--debug",)):
            result = cli("svc", "list", "-A", "--kubeconfig", str(kubeconfig), *debug)
            assert result.code in (2, 6), result.err
            assert result.err.splitlines()[-1].startswith("hint: check the user"), result.err
            assert secret not in result.err + result.out


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="needs POSIX resource limits")
def test_a_state_file_lbctl_cannot_write_is_left_as_it_was(tmp_path: Path) -> None:
    """The disk refuses the write (here the file size limit, as a quota would): lbctl says the
    file was left as it was, and it was: the same bytes, no temporary file left behind."""
    import resource
    import signal
    import subprocess
    import sys

    state = tmp_path / "lb.yaml"
    state.write_text(STATE_FILE)

    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails: EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))

    done = subprocess.run(
        [sys.executable, "-m", "lbctl", "pool", "reserve", "default", "192.0.2.11", "--state",
         str(state)], capture_output=True, text=True, timeout=120, preexec_fn=small_files,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
             "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1"}, cwd=hintinventory.ROOT)
    assert (done.returncode, done.stderr.splitlines()[-1]) == (
        4, "hint: the file was left as it was"), done.stderr
    assert state.read_text() == STATE_FILE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lb.yaml", "lb.yaml.lock"]


@pytest.mark.parametrize("spelling", ["--state PATH", "--state=PATH", "LBCTL_STATE"])
def test_a_hint_names_the_state_file_in_use(cli: Cli, tmp_path: Path, spelling: str) -> None:
    """With --state on the command line, the lbctl commands a hint names carry it: followed as
    printed, the command changes that file (without it, it would ask for a cluster: exit 7).
    LBCTL_STATE stays in the environment, so a hint needs no --state then."""
    state = tmp_path / "lb.yaml"
    state.write_text(STATE_FILE)
    given = {"--state PATH": ["--state", str(state)], "--state=PATH": [f"--state={state}"],
             "LBCTL_STATE": []}[spelling]
    env = {"LBCTL_STATE": str(state)} if spelling == "LBCTL_STATE" else {}
    result = cli("pool", "add", "default", "10.9.0.1", *given, env=env)
    assert result.code == 4, result.err
    state_option = f"--state {state} " if given else ""
    assert result.err.splitlines()[-1] == (
        f"hint: change it in place (lbctl {state_option}pool set default --add ADDRESS) or "
        "choose another name")
    command = re.search(r"\(lbctl (.*?)\)", result.err)
    assert command is not None
    followed = cli(*shlex.split(command.group(1).replace("ADDRESS", "10.9.0.1")), env=env)
    assert followed.code == 0, followed.err
    assert "10.9.0.1" in state.read_text()


def test_the_client_names_an_object_that_already_exists(kube_server: FakeKubeServer,
                                                        kubeconfig: Path) -> None:
    """409 AlreadyExists, as the API client words it.  No command prints it today: the state
    ConfigMap's creation retries, and a BGP password Secret has its own refusal."""
    from lbctl import kube
    from lbctl.errors import ConflictError
    from lbctl.ports import CONFIGMAPS

    client = kube.connect(str(kubeconfig))
    body = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x", "namespace": "default"}, "data": {}}
    client.create(CONFIGMAPS, body)
    with pytest.raises(ConflictError) as caught:
        client.create(CONFIGMAPS, body)
    assert caught.value.message == "configmap default/x already exists"
    assert caught.value.hint == "pick another name, or delete it first"
