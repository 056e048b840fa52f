"""Every hint leads somewhere: build the situation an error or a doctor finding describes, check
that its hint prints the command, run exactly that command, and check the situation is fixed.

Against the fake kube-apiserver; the offline (GitOps) hints, ``svc.pinned`` and ``svc.orphan``'s
``--prune``, are followed the same way in test_gitops.py.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

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
    """A word of the sentence around a command (not a flag, not a placeholder like NAME)."""
    return re.fullmatch(r"[A-Za-z][a-z'.]*", word) is not None


def lbctl_problem(args: list[str]) -> str:
    """Why the command ``lbctl ARGS`` a hint names would not parse ("" when it does), after
    dropping the words of prose that follow it (``lbctl pool list shows the pools``)."""
    from lbctl.cli.main import app

    commands = {info.name for info in app.registered_groups} | {
        info.name for info in app.registered_commands}
    words = list(args)
    problem = _lbctl_parses(words)
    while problem and words and _prose(words[-1]):
        words.pop()
        problem = _lbctl_parses(words) if words and words[0] in commands else problem
    return problem


#: The first word of an lbctl command (``lbctl reads both`` in a hint is prose).
COMMANDS = ("adopt", "arp", "assign", "controller", "doctor", "hold", "install", "kube-proxy",
            "pool", "rbac", "reconcile", "release", "speaker", "svc", "version")
LBCTL_COMMANDS = [(t.shown, args) for t in hintinventory.templates()
                  for args in hintinventory.commands(t.text, "lbctl") if args[0] in COMMANDS]
KUBECTL_COMMANDS = [(t.shown, args) for t in hintinventory.templates()
                    for args in hintinventory.commands(t.text, "kubectl")]


def test_the_inventory_finds_the_hints() -> None:
    """The inventory reads what it should: if this fails, it lost its way in the source."""
    shown = {t.shown for t in hintinventory.templates()}
    assert len(shown) > 200
    assert "pools may not share addresses" in shown
    assert "lbctl release svc {} -n {} drops the hold" in shown  # an f-string
    assert "give files, directories, or - for stdin, with -f" in shown  # a module constant
    assert len(LBCTL_COMMANDS) > 60


@pytest.mark.parametrize(("template", "args"), LBCTL_COMMANDS,
                         ids=[f"{t[:40]}:{' '.join(a)[:30]}" for t, a in LBCTL_COMMANDS])
def test_every_lbctl_command_a_hint_names_parses(template: str, args: list[str]) -> None:
    assert lbctl_problem(args) == "", (template, args)


def test_the_parse_check_can_fail() -> None:
    from lbctl.cli.main import app

    assert {i.name for i in app.registered_groups} | {
        i.name for i in app.registered_commands} == set(COMMANDS)
    assert lbctl_problem(["assign", "--all", "-A"]) == ""
    assert lbctl_problem(["pool", "list", "shows", "the", "pools"]) == ""
    assert "--bogus" in lbctl_problem(["pool", "set", "web", "--bogus"])
    assert "requires an argument" in lbctl_problem(["pool", "set", "web", "--priority"])
    assert lbctl_problem(["pool", "add", "--avoid-buggy-ips"]) == "Missing argument 'NAME'."
    assert lbctl_problem(["pool", "nope"]) != ""
    assert lbctl_problem(["pool"]) == "names a group, not a command"


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
