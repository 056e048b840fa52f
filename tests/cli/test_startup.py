"""Help and completion stay fast: ``lbctl --help`` must not import the heavy libraries.

Measured numbers live in bench/ (BENCHMARKS.md); this test pins the property behind them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

GROUPS = ("pool", "kube-proxy", "doctor", "arp", "svc", "assign", "release", "reconcile",
          "rbac", "version")
#: A state with a pool (without label selectors) and an allocation.
STATE = ("schemaVersion: 1\npools:\n  web:\n    addresses: [192.0.2.0/28]\n"
         "allocations:\n  shop:\n    web: {ips: [192.0.2.1], pool: web}\n")
HEAVY = ("kubernetes", "scapy", "yaml", "netaddr", "lbctl.core", "lbctl.actions", "lbctl.kube",
         "lbctl.net", "lbctl.doctor")


def _imported(args: list[str], names: tuple[str, ...], cache: str = "") -> str:
    """Run ``lbctl ARGS`` in a fresh interpreter, off a terminal: its exit code and which of
    the modules ``names`` it imported.  ``cache``: the state cache's directory (none: the state
    is read and checked every time)."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env["LBCTL_CACHE_DIR"] = cache
    code = (
        "import sys\n"
        "from lbctl.cli.main import run\n"
        f"code = run({args!r})\n"
        f"print(code, sorted(n for n in {names!r} if n in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env=env)
    return done.stdout.splitlines()[-1]


def _seed(kube_server: Any, *, service: bool = False) -> None:
    """The state document :data:`STATE` in the cluster; with ``service``, the LoadBalancer
    Service ``shop/web`` showing its address 192.0.2.1."""
    kube_server.put_object({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "lbctl-state", "namespace": "kube-system"},
                            "data": {"state.yaml": STATE}})
    if service:
        kube_server.put_object({"apiVersion": "v1", "kind": "Service",
                                "metadata": {"name": "web", "namespace": "shop"},
                                "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
                                "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}})


def test_help_imports_none_of_the_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from lbctl.cli.main import run\n"
        "assert run(['--help']) == 0\n"
        f"for group in {GROUPS!r}:\n"
        "    assert run([group, '--help']) == 0\n"
        f"print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert out.splitlines()[-1] == "[]"


def test_root_help_builds_no_command_and_imports_no_rich() -> None:
    """``lbctl --help`` lists every command from the root's table: no command module is
    imported, no command built, and rich (which only a command's output uses) stays unloaded."""
    code = (
        "import sys\n"
        "from lbctl.cli.main import run\n"
        "assert run(['--help']) == 0\n"
        "print(sorted(m for m in sys.modules if m.startswith(('rich', 'lbctl'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert out.splitlines()[-1] == str(["lbctl", "lbctl.cli", "lbctl.cli.complete",
                                        "lbctl.cli.context", "lbctl.cli.main", "lbctl.errors"])


def test_a_command_imports_only_its_own_command_module(kubeconfig: Path) -> None:
    """``lbctl svc list`` builds ``svc`` alone: no other command module is imported."""
    from lbctl.cli.main import COMMANDS

    found = _imported(["svc", "list", "-A", "--kubeconfig", str(kubeconfig)],
                      tuple(module for module, _ in COMMANDS.values()))
    assert found == "0 ['lbctl.cli.svc']"


def test_a_group_builds_the_subcommands_the_command_line_names(cli: Any,
                                                              tmp_path: Path) -> None:
    """``lbctl pool list`` builds ``pool list`` alone; a word that names no subcommand (a typo,
    ``--help``, nothing) builds them all, for the help, the suggestion and completion; an option
    value that happens to be a subcommand's name does not hide the subcommand that follows."""
    from lbctl.cli.main import load_command

    every = set(load_command("pool").commands)  # type: ignore[attr-defined]
    assert {"add", "list", "show"} <= every
    assert set(load_command("pool", ["list"]).commands) == {"list"}  # type: ignore[attr-defined]
    assert set(load_command("pool", ["lst"]).commands) == every  # type: ignore[attr-defined]
    assert set(load_command("pool", ["-n", "show", "list"]).commands) == {  # type: ignore[attr-defined]
        "show", "list"}
    state = str(tmp_path / "lb.yaml")
    assert cli("pool", "add", "web", "192.0.2.0/28", "--state", state).code == 0
    listed = cli("pool", "-n", "show", "list", "--state", state)
    assert (listed.code, listed.out.split()[:2]) == (0, ["NAME", "FAMILY"])
    typo = cli("pool", "lst", "--state", state)
    assert (typo.code, typo.err.splitlines()[0]) == (
        2, "lbctl: error: No such command 'lst'. Did you mean 'list', 'set'?")
    # a later word that names a subcommand does not hide the suggestion
    assert set(load_command("pool", ["lst", "show"]).commands) == every  # type: ignore[attr-defined]
    typo = cli("pool", "lst", "show", "--state", state)
    assert (typo.code, typo.err.splitlines()[0]) == (
        2, "lbctl: error: No such command 'lst'. Did you mean 'list', 'set'?")


@pytest.mark.parametrize(("args", "group", "suggestion"), [
    (("pool", "--dry-run", "lst", "show"), "pool", "'lst'. Did you mean 'list', 'set'?"),
    (("pool", "-A", "lst", "list"), "pool", "'lst'. Did you mean 'list', 'set'?"),
    (("pool", "--no-headers", "--debug", "lst", "show"), "pool",
     "'lst'. Did you mean 'list', 'set'?"),
    (("pool", "-o", "json", "lst", "show"), "pool", "'lst'. Did you mean 'list', 'set'?"),
    (("pool", "-An", "web", "lst", "show"), "pool", "'lst'. Did you mean 'list', 'set'?"),
    (("pool", "-nweb", "lst", "show"), "pool", "'lst'. Did you mean 'list', 'set'?"),
    (("pool", "--namespace=web", "lst", "show"), "pool", "'lst'. Did you mean 'list', 'set'?"),
    (("svc", "--dry-run", "lst", "list"), "svc", "'lst'. Did you mean 'list'?"),
    (("hold", "-A", "lst", "list"), "hold", "'lst'. Did you mean 'list'?"),
    (("arp", "--dry-run", "anounce", "probe"), "arp", "'anounce'. Did you mean 'announce'?"),
    (("kube-proxy", "--dry-run", "dif", "apply"), "kube-proxy", "'dif'. Did you mean 'diff'?"),
    (("bgp", "peer", "lst", "show"), "bgp peer", "'lst'. Did you mean 'list', 'set'?"),
    (("bgp", "--dry-run", "peer", "lst", "remove"), "bgp peer",
     "'lst'. Did you mean 'list', 'set'?"),
    (("bgp", "exprt", "peer"), "bgp", "'exprt'. Did you mean 'export'?"),
    (("controller", "statsu", "status"), "controller", "'statsu'. Did you mean 'status'?"),
    (("speaker", "--node", "n1", "stauts", "status"), "speaker",
     "'stauts'. Did you mean 'status'?"),
])
def test_a_typo_is_answered_with_a_suggestion_whatever_surrounds_it(
        cli: Any, tmp_path: Path, args: tuple[str, ...], group: str, suggestion: str) -> None:
    """The subcommand's place holds a typo: the suggestion names every close subcommand, also
    when a later word names one and when the group's own options (flags, or options with their
    values, in every spelling) come first; nothing runs."""
    state = tmp_path / "lb.yaml"
    typo = cli(*args, "--state", str(state))
    assert (typo.code, typo.out, typo.err) == (
        2, "", f"lbctl: error: No such command {suggestion}\nhint: see 'lbctl {group} --help'\n")
    assert not state.exists()


def test_an_option_value_in_the_subcommands_place_is_no_typo() -> None:
    """A word an option takes as its value is passed over, in every spelling of the option;
    after a flag, the word is the subcommand's."""
    from lbctl.cli.main import load_command

    every = set(load_command("pool").commands)  # type: ignore[attr-defined]
    for words in (["-n", "lst", "show"], ["--namespace", "lst", "show"], ["-An", "lst", "show"],
                  ["-o", "lst", "show"], ["--state", "lst", "show"]):
        assert set(load_command("pool", words).commands) == {"show"}, words  # type: ignore[attr-defined]
    for words in (["-A", "lst", "show"], ["--dry-run", "lst", "show"], ["-nweb", "lst", "show"],
                  ["--state=lst", "lst", "show"]):
        assert set(load_command("pool", words).commands) == every, words  # type: ignore[attr-defined]


def test_the_root_table_says_what_each_command_says() -> None:
    """Each summary in the root's table is the first paragraph of its command's own help, so
    ``lbctl --help`` (which shows the summaries) says what ``lbctl COMMAND --help`` says; and
    with every command built, the root's help is the same text."""
    from lbctl.cli import main

    def paragraph(text: str) -> str:
        return " ".join(text.split("\n\n")[0].split())

    for name, (_, summary) in main.COMMANDS.items():
        command = main.load_command(name)
        assert summary == paragraph(command.help or ""), name
    root = typer.main.get_command(main.app)
    lazy = root.get_help(typer.Context(root, info_name="lbctl"))
    for name in main.COMMANDS:
        root.get_command(typer.Context(root), name)
    assert root.get_help(typer.Context(root, info_name="lbctl")) == lazy
    assert "  svc         LoadBalancer Services: their external IPs, pool, and...\n" in lazy


def test_cluster_commands_on_the_fast_path_import_neither_the_client_nor_pydantic(
    kubeconfig: Path,
) -> None:
    """``svc list``, ``pool list`` and ``version`` with a token kubeconfig: lbctl reads it and
    speaks HTTP itself; the official client (and pydantic, which it pulls in) stays unloaded."""
    for args in (["svc", "list", "-A"], ["pool", "list"], ["version"]):
        found = _imported([*args, "--kubeconfig", str(kubeconfig)],
                          ("kubernetes", "pydantic", "scapy"))
        assert found == "0 []", args


def test_reading_commands_import_none_of_the_modules_they_do_not_read_with(
    kube_server: Any, kubeconfig: Path,
) -> None:
    """``svc list`` reads Services and the state: not the allocator (building a request does),
    not the node's ports (ARP, probes, BGP), not the permission list, not the label selectors
    (a state whose pools have none parses none); ``pool list`` counts the used addresses
    without the allocator (nor the pools' changes, nor the actions that make them);
    ``version`` reads no state."""
    unused = ("lbctl.core.allocator", "lbctl.nodeports", "lbctl.core.permissions",
              "lbctl.core.state", "lbctl.actions.services", "lbctl.core.selectors",
              "lbctl.core.pools", "lbctl.actions.pools")
    _seed(kube_server)
    expected = {"svc": ["lbctl.core.state"], "pool": ["lbctl.core.state"], "version": []}
    for args in (["svc", "list", "-A"], ["pool", "list"], ["version"]):
        found = _imported([*args, "--kubeconfig", str(kubeconfig)], unused)
        assert found == f"0 {expected[args[0]]}", args


def test_listing_commands_with_a_warm_state_cache_allocate_nothing(
    kube_server: Any, kubeconfig: Path, tmp_path: Path,
) -> None:
    """With the state cache warm (the state unchanged since the last command), ``pool list``
    and ``svc list -A`` build the state from the cache's data and import neither the
    allocator, nor the pools' changes, nor the actions that change Services; the first run
    (cold) filled the cache."""
    _seed(kube_server)
    heavy = ("lbctl.core.allocator", "lbctl.core.pools", "lbctl.actions.pools",
             "lbctl.actions.services")
    cache = tmp_path / "cache"
    for args in (["pool", "list"], ["svc", "list", "-A"]):
        command = [*args, "--kubeconfig", str(kubeconfig)]
        assert _imported(command, heavy, str(cache)) == "0 []", args
        assert list(cache.glob("state-*.json")), args
        assert _imported(command, heavy, str(cache)) == "0 []", args


def test_json_output_off_a_terminal_is_written_without_rich_or_yaml(
    kube_server: Any, kubeconfig: Path, tmp_path: Path,
) -> None:
    """``-o json`` off a terminal (a pipeline's ``| jq``) is written as json.dumps makes it:
    no rich (which cost more than making the document: 1,000 Services took 1,675 M
    instructions, 723 M without it), no PyYAML (imported for ``-o yaml`` only); the output is
    the document, one line break after it."""
    _seed(kube_server, service=True)
    cache = tmp_path / "cache"
    command = ["svc", "list", "-A", "-o", "json", "--kubeconfig", str(kubeconfig)]
    _imported(command, (), str(cache))  # fills the state cache
    assert _imported(command, ("rich", "rich.console", "yaml"), str(cache)) == "0 []"
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    out = subprocess.run([sys.executable, "-m", "lbctl", *command], capture_output=True,
                         text=True, check=True, env={**env, "LBCTL_CACHE_DIR": str(cache)}).stdout
    document = json.loads(out)
    assert out == json.dumps(document, indent=2) + "\n"
    assert [(item["namespace"], item["name"]) for item in document["items"]] == [("shop", "web")]


def test_an_ipv4_cluster_without_proxy_lists_without_urllib3_netaddr_idna_or_rich(
    kube_server: Any, kubeconfig: Path
) -> None:
    """Off a terminal, with no proxy and IPv4 addresses: ``svc list`` speaks http.client (the
    server's name reaches the resolver without the IDNA codec), reads IPv4 without netaddr and
    writes a plain table without rich; so do ``pool list`` (its utilisation bars too) and
    ``version``."""
    _seed(kube_server, service=True)
    heavy = ("urllib3", "netaddr", "rich", "rich.console", "encodings.idna")
    expected: dict[str, list[str]] = {"svc": [], "pool": [], "version": []}
    for args in (["svc", "list", "-A"], ["pool", "list"], ["version"]):
        found = _imported([*args, "--kubeconfig", str(kubeconfig)], heavy)
        assert found == f"0 {expected[args[0]]}", args
    assert "192.0.2.1" in subprocess.run(
        [sys.executable, "-m", "lbctl", "svc", "list", "-A", "--kubeconfig", str(kubeconfig)],
        capture_output=True, text=True, check=True).stdout


def test_a_state_built_from_the_caches_data_imports_no_yaml() -> None:
    """The state's module imports neither PyYAML nor lbctl's YAML reader: a state the cache
    gives (data, no text) is built without them; the first text written imports them."""
    code = (
        "import sys\n"
        "from lbctl.core.state import encode, from_valid\n"
        "state = from_valid({'schemaVersion': 1, 'pools': {'web': {'addresses': "
        "['192.0.2.0/28']}}, 'allocations': {'shop': {'web': {'ips': ['192.0.2.1'], "
        "'pool': 'web'}}}})\n"
        "names = ('yaml', 'lbctl.core.yamlkit')\n"
        "print(sorted(n for n in names if n in sys.modules), state.pool_of('192.0.2.1'))\n"
        "text = encode(state)\n"
        "print(sorted(n for n in names if n in sys.modules), text.splitlines()[-1])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert out.splitlines() == ["[] web", "['lbctl.core.yamlkit', 'yaml'] holds: {}"]


@pytest.mark.parametrize("layout", ["json", "kubectl"])
def test_a_kubeconfig_as_kubectl_or_json_writes_it_is_read_without_pyyaml(
    kube_server: Any, kubeconfig: Path, layout: str, tmp_path: Path
) -> None:
    """``version``, and ``pool list`` and ``svc list -A`` with a warm state cache, with a
    kubeconfig in JSON or in the layout kubectl writes (k3s.yaml, kubeadm's admin.conf):
    lbctl's one YAML reader vets and reads it in one pass, and PyYAML (~15 % of a short
    command's start-up) is never imported; a comment sends the kubeconfig through the event
    reader, which imports it."""
    import yaml

    _seed(kube_server)
    if layout == "kubectl":
        document = yaml.safe_load(kubeconfig.read_text())
        kubeconfig.write_text(yaml.safe_dump(document, default_flow_style=False))
        assert kubeconfig.read_text().startswith("apiVersion: v1\nclusters:\n- cluster:\n")
    cache = str(tmp_path / "cache")
    for args in (["version"], ["pool", "list"], ["svc", "list", "-A"]):
        command = [*args, "--kubeconfig", str(kubeconfig)]
        _imported(command, ("yaml",), cache)  # (the state, read and kept in the cache)
        assert _imported(command, ("yaml",), cache) == "0 []", args
    kubeconfig.write_text("# a comment\n" + kubeconfig.read_text())
    for args in (["version"], ["pool", "list"]):
        found = _imported([*args, "--kubeconfig", str(kubeconfig)], ("yaml",), cache)
        assert found == "0 ['yaml']", args
