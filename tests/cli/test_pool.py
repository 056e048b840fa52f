"""``lbctl pool``: exact output and exit codes on the offline file state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import statefiles
from tests.conftest import Cli


@pytest.fixture
def state(tmp_path: Path) -> str:
    return str(tmp_path / "lb.yaml")


def test_add_then_list(cli: Cli, state: str) -> None:
    result = cli("pool", "add", "default", "192.168.1.30-192.168.1.49", "--state", state)
    assert (result.code, result.out, result.err) == (0, "pool/default created\n", "")
    result = cli("pool", "list", "--state", state)
    assert result.code == 0
    assert result.out == (
        "NAME      FAMILY   ADDRESSES                   AUTO   USED   FREE   UTILISATION\n"
        "default   IPv4     192.168.1.30-192.168.1.49   yes    0      20     [----------]   0%\n"
    )
    assert statefiles.document(state)["pools"]["default"] == {
        "addresses": ["192.168.1.30-192.168.1.49"],
        "autoAssign": True,
        "avoidBuggyIPs": False,
    }


def test_global_options_before_the_command_work_too(cli: Cli, state: str) -> None:
    assert cli("--state", state, "pool", "add", "a", "10.0.0.0/30").code == 0
    result = cli("--state", state, "-o", "name", "pool", "list")
    assert (result.code, result.out) == (0, "pool/a\n")


def test_state_from_environment(cli: Cli, state: str) -> None:
    assert cli("pool", "add", "a", "10.0.0.0/30", env={"LBCTL_STATE": state}).code == 0
    assert "pool/a" in cli("pool", "list", "-o", "name", "--state", state).out


def test_list_json_shape_with_ipv6_capacity(cli: Cli, state: str) -> None:
    cli("pool", "add", "v6", "2001:db8::/64", "10.0.0.0/24", "--avoid-buggy-ips",
        "--priority", "5", "-n", "web", "-l", "app=web", "--node-selector", "zone=a",
        "--state", state)
    result = cli("pool", "list", "-o", "json", "--state", state)
    assert result.code == 0
    assert json.loads(result.out) == {
        "kind": "PoolList",
        "items": [{
            "name": "v6",
            "addresses": ["2001:db8::/64", "10.0.0.0/24"],
            "autoAssign": True,
            "avoidBuggyIPs": True,
            "namespaces": ["web"],
            "serviceSelectors": ["app=web"],
            "nodeSelectors": ["zone=a"],
            "priority": 5,
            "reservations": {},
            "usage": [
                {"family": "IPv4", "used": 0, "free": 254, "capacity": 254},
                {"family": "IPv6", "used": 0, "free": 2**64 - 1, "capacity": 2**64 - 1},
            ],
        }],
    }


def test_wide_table(cli: Cli, state: str) -> None:
    cli("pool", "add", "v6", "2001:db8::/64", "--no-auto-assign", "--state", state)
    result = cli("pool", "list", "-o", "wide", "--no-headers", "--state", state)
    assert result.out.split() == [
        "v6", "IPv6", "2001:db8::/64", "no", "0", "2^64-1", "[----------]", "0%", "-", "no", "*",
        "*", "layer2", "0",
    ]
    cli("pool", "add", "routed", "192.0.2.0/28", "--announce", "both", "--state", state)
    routed = cli("pool", "list", "-o", "wide", "--no-headers", "--state", state)
    assert [line.split()[-2] for line in routed.out.splitlines()] == ["both", "layer2"]


def test_a_mixed_pool_shows_each_family(cli: Cli, state: str) -> None:
    """IPv4 exhausted must not hide behind a /64 of free IPv6 addresses."""
    cli("pool", "add", "mixed", "192.0.2.8/30", "2001:db8::/64", "--state", state)
    cli("pool", "reserve", "mixed", "192.0.2.8", "192.0.2.9", "192.0.2.10", "192.0.2.11",
        "2001:db8::5", "--state", state)
    result = cli("pool", "list", "--state", state)
    assert (result.code, result.err) == (0, "")
    assert result.out == (
        "NAME    FAMILY   ADDRESSES       AUTO   USED   FREE     UTILISATION\n"
        "mixed   IPv4     192.0.2.8/30    yes    4      0        [##########] 100%\n"
        "mixed   IPv6     2001:db8::/64   yes    1      2^64-2   [#---------]  <1%\n"
    )
    wide = cli("pool", "list", "-o", "wide", "--no-headers", "--state", state)
    assert [line.split()[-1] for line in wide.out.splitlines()] == ["4", "1"]


def test_empty_list_says_how_to_start(cli: Cli, state: str) -> None:
    result = cli("pool", "list", "--state", state)
    assert (result.code, result.out) == (0, "")
    assert result.err == f"no pools in state file {state}; add one with lbctl pool add\n"


@pytest.mark.parametrize(
    ("args", "code", "message", "hint"),
    [
        (["bad_name", "10.0.0.1"], 2, "invalid pool name 'bad_name'",
         "use lower-case letters, digits, '-' and '.', starting and ending alphanumeric"),
        (["a", "10.0.0.300"], 2, "'10.0.0.300' is not an IP address",
         "write IPv4 as 192.0.2.10 and IPv6 as 2001:db8::10"),
        (["a", "10.0.0.9-10.0.0.1"], 2, "range '10.0.0.9-10.0.0.1' is reversed: 10.0.0.9 comes "
         "after 10.0.0.1", "write it as 10.0.0.1-10.0.0.9"),
        (["a", "10.0.0.1-2001:db8::1"], 2, "range '10.0.0.1-2001:db8::1' mixes IPv4 and IPv6",
         "give each family its own entry"),
        (["a", "10.0.0.1/24"], 2, "'10.0.0.1/24' has host bits set",
         "did you mean 10.0.0.0/24? or give a range like 10.0.0.1-10.0.0.255"),
        (["a", "10.0.0.0/24", "10.0.0.128/25"], 2,
         "pool a overlap: 10.0.0.0/24 and 10.0.0.128/25 share 10.0.0.128-10.0.0.255",
         "give each address once"),
    ],
    ids=["name", "malformed", "reversed", "two-families", "host-bits", "self-overlap"],
)
def test_add_rejects_bad_input_and_changes_nothing(
    cli: Cli, state: str, args: list[str], code: int, message: str, hint: str
) -> None:
    result = cli("pool", "add", *args, "--state", state)
    assert (result.code, result.out) == (code, "")
    assert result.err == f"lbctl: error: {message}\nhint: {hint}\n"
    assert not Path(state).exists()


def test_add_without_addresses_is_a_usage_error(cli: Cli, state: str) -> None:
    result = cli("pool", "add", "a", "--state", state)
    assert result.code == 2
    assert result.err.startswith("lbctl: error: Missing argument 'ADDRESS...'")
    assert result.err.endswith("hint: see 'lbctl pool add --help'\n")


def test_overlap_with_another_pool_names_both_and_keeps_bytes(cli: Cli, state: str) -> None:
    cli("pool", "add", "first", "192.168.1.30-192.168.1.49", "--state", state)
    before = Path(state).read_bytes()
    result = cli("pool", "add", "second", "192.168.1.40/29", "--state", state)
    assert result.code == 4
    assert result.err == (
        "lbctl: error: pools first and second overlap: 192.168.1.30-192.168.1.49 and "
        "192.168.1.40/29 share 192.168.1.40-192.168.1.47\n"
        "hint: give pool second addresses no other pool holds, or free them in pool first: "
        f"lbctl --state {state} pool set first --remove ADDRESS\n"
    )
    assert Path(state).read_bytes() == before


def test_remove_dry_run_shows_the_diff_and_changes_nothing(cli: Cli, state: str) -> None:
    cli("pool", "add", "a", "10.0.0.0/30", "--state", state)
    before = Path(state).read_bytes()
    result = cli("pool", "remove", "a", "--dry-run", "--state", state)
    assert result.code == 0
    assert result.out == (
        "--- a/state.yaml\n"
        "+++ b/state.yaml\n"
        "@@ -1,8 +1,4 @@\n"
        " schemaVersion: 1\n"
        "-pools:\n"
        "-  a:\n"
        "-    addresses: [10.0.0.0/30]\n"
        "-    autoAssign: true\n"
        "-    avoidBuggyIPs: false\n"
        "+pools: {}\n"
        " allocations: {}\n"
        " holds: {}\n"
        "pool/a deleted (dry run)\n"
    )
    assert Path(state).read_bytes() == before
    assert cli("pool", "remove", "a", "--state", state).out == "pool/a deleted\n"
    assert cli("pool", "list", "-o", "name", "--state", state).out == ""


def test_remove_refuses_while_allocated_naming_the_services(cli: Cli, state: str) -> None:
    Path(state).write_text(
        "schemaVersion: 1\n"
        "pools:\n  a: {addresses: [10.0.0.0/30]}\n"
        "allocations:\n  web:\n    front: {ips: [10.0.0.1], pool: a}\n"
    )
    before = Path(state).read_bytes()
    result = cli("pool", "remove", "a", "--state", state)
    assert result.code == 4
    assert result.err == (
        "lbctl: error: pool a is in use by web/front (10.0.0.1)\n"
        f"hint: release those Services first (lbctl --state {state} release svc NAME -n NS)\n"
    )
    assert Path(state).read_bytes() == before


def test_missing_pool_is_not_found(cli: Cli, state: str) -> None:
    cli("pool", "add", "a", "10.0.0.0/30", "--state", state)
    result = cli("pool", "show", "nope", "--state", state)
    assert result.code == 3
    assert result.err == ("lbctl: error: pool nope not found (pools: a)\n"
                          f"hint: lbctl --state {state} pool list shows the pools\n")


def test_reserve_show_and_unreserve(cli: Cli, state: str) -> None:
    cli("pool", "add", "a", "10.0.0.0/29", "--state", state)
    result = cli("pool", "reserve", "a", "10.0.0.3", "--note", "edge router", "--state", state)
    assert (result.code, result.out) == (0, "pool/a reserved 10.0.0.3\n")
    result = cli("pool", "show", "a", "--state", state)
    assert result.out == (
        "Name:              a\n"
        "Addresses:         10.0.0.0/29\n"
        "Auto assign:       yes\n"
        "Avoid buggy IPs:   no\n"
        "Priority:          -\n"
        "Serves:            every Service\n"
        "Announced from:    every node\n"
        "IPv4:              1 used, 7 free of 8\n"
        "\n"
        "Allocations: none\n"
        "\n"
        "Holds: none\n"
        "\n"
        "Reservations: 1\n"
        "IP         NOTE\n"
        "10.0.0.3   edge router\n"
    )
    shown = json.loads(cli("pool", "show", "a", "-o", "json", "--state", state).out)
    assert shown["reservations"] == {"10.0.0.3": "edge router"}
    assert shown["allocations"] == [] and shown["holds"] == []
    assert cli("pool", "unreserve", "a", "10.0.0.3", "--state", state).code == 0
    result = cli("pool", "unreserve", "a", "10.0.0.3", "--state", state)
    assert result.code == 3
    assert result.err.startswith("lbctl: error: 10.0.0.3 is not reserved in pool a\n")


def test_reserve_outside_the_pool_is_refused(cli: Cli, state: str) -> None:
    cli("pool", "add", "a", "10.0.0.0/29", "--state", state)
    result = cli("pool", "reserve", "a", "10.0.1.1", "--state", state)
    assert result.code == 2
    assert result.err.startswith("lbctl: error: 10.0.1.1 is not in pool a (it is in no pool)\n")


def test_unsupported_output_format_is_a_usage_error(cli: Cli, state: str) -> None:
    result = cli("pool", "show", "a", "-o", "wide", "--state", state)
    assert result.code == 2
    assert result.err == ("lbctl: error: -o wide is not supported here\n"
                          "hint: choose one of: table, json, yaml, name\n")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("schemaVersion: 1\npools:\n\tdefault: {}\n",
         "state file {}:3:1: not valid YAML: found character that cannot start any token"),
        ("schemaVersion: 9\n", "state file {} has schemaVersion 9; this lbctl understands up to 1"),
        ("schemaVersion: 1\nextra: 1\n",
         "state file {} is invalid: unknown field 'extra' in the document (line 2, column 1)"),
    ],
    ids=["yaml", "schema", "unknown-field"],
)
def test_an_invalid_state_is_never_overwritten(
    cli: Cli, state: str, document: str, message: str
) -> None:
    Path(state).write_text(document)
    result = cli("pool", "add", "a", "10.0.0.0/30", "--state", state)
    assert result.code == 4
    assert result.err.splitlines()[0] == "lbctl: error: " + message.format(state)
    assert Path(state).read_text() == document


def test_no_traceback_without_debug_and_one_with_it(cli: Cli, state: str) -> None:
    Path(state).write_text("pools: [")
    assert "Traceback" not in cli("pool", "list", "--state", state).err
    assert "Traceback" in cli("pool", "list", "--state", state, "--debug").err


def test_no_cluster_and_no_state_file_explains_the_offline_way(cli: Cli) -> None:
    result = cli("pool", "list")
    assert result.code == 7
    assert result.err.startswith("lbctl: error: no Kubernetes configuration found")
    assert "--state PATH" in result.err.splitlines()[1]



def test_the_invalid_state_hint_names_the_state_file_in_use(cli: Cli, state: str) -> None:
    Path(state).write_text("schemaVersion: 1\nextra: 1\n")
    result = cli("pool", "list", "--state", state)
    assert result.err.splitlines()[1] == (
        f"hint: run `lbctl doctor --state {state}` for the full list; lbctl will not "
        "overwrite an invalid document")
    doctor = cli("doctor", "--state", state)
    assert doctor.code == 1
    assert "unknown field 'extra' in the document" in doctor.out


def test_node_selectors_are_kept_normalised_and_shown(cli: Cli, state: str) -> None:
    result = cli("pool", "add", "edge", "10.0.0.0/30",
                 "--node-selector", "openyurt.io/is-edge-worker==true",
                 "--node-selector", "apps.openyurt.io/nodepool=hz", "--state", state)
    assert result.code == 0, result.err
    assert statefiles.document(state)["pools"]["edge"]["nodeSelectors"] == [
        "apps.openyurt.io/nodepool=hz", "openyurt.io/is-edge-worker=true"]
    shown = cli("pool", "show", "edge", "--state", state).out
    assert "Announced from:    apps.openyurt.io/nodepool=hz | openyurt.io/is-edge-worker=true\n" \
        in shown


def test_a_malformed_node_selector_is_refused(cli: Cli, state: str) -> None:
    result = cli("pool", "add", "edge", "10.0.0.0/30", "--node-selector", "a=(b", "--state", state)
    assert result.code == 2
    assert result.err.startswith("lbctl: error: ")
    assert not Path(state).exists() or "edge" not in Path(state).read_text()


def test_reserve_ranges_and_keep_notes(cli: Cli, state: str) -> None:
    cli("pool", "add", "a", "10.0.0.0/29", "--state", state)
    result = cli("pool", "reserve", "a", "10.0.0.2-10.0.0.4", "10.0.0.6/32", "--note", "lab",
                 "--state", state)
    assert (result.code, result.out) == (0, "pool/a reserved 10.0.0.2-10.0.0.4,10.0.0.6/32\n")
    assert cli("pool", "reserve", "a", "10.0.0.3", "10.0.0.5", "--state", state).code == 0
    reservations = json.loads(cli("pool", "show", "a", "-o", "json", "--state", state).out)[
        "reservations"]
    assert reservations == {"10.0.0.2": "lab", "10.0.0.3": "lab", "10.0.0.4": "lab",
                            "10.0.0.5": "", "10.0.0.6": "lab"}
    assert cli("pool", "unreserve", "a", "10.0.0.2-10.0.0.5", "--state", state).code == 0
    assert statefiles.document(state)["pools"]["a"]["reservations"] == {
        "10.0.0.6": "lab"}


def test_reserve_refuses_a_huge_range(cli: Cli, state: str) -> None:
    cli("pool", "add", "a", "fd00::/64", "--state", state)
    before = Path(state).read_text()
    result = cli("pool", "reserve", "a", "fd00::/100", "--state", state)
    assert (result.code, result.err) == (
        2, "lbctl: error: fd00::/100 names 268435456 addresses; reserve at most 1024 at once\n"
           f"hint: a block that large belongs outside the pool: lbctl --state {state} pool set "
           "NAME --remove ADDR\n")
    assert Path(state).read_text() == before


def test_pool_set_node_selectors_replace_and_clear(cli: Cli, state: str) -> None:
    assert cli("pool", "add", "edge", "10.0.0.0/30", "--state", state).code == 0
    result = cli("pool", "set", "edge", "--node-selector", "zone=b", "--node-selector",
                 "zone=a", "--state", state)
    assert (result.code, result.err) == (0, "")
    assert statefiles.document(state)["pools"]["edge"]["nodeSelectors"] == ["zone=a", "zone=b"]
    assert cli("pool", "set", "edge", "--any-node", "--state", state).code == 0
    assert "nodeSelectors" not in statefiles.document(state)["pools"]["edge"]
    both = cli("pool", "set", "edge", "--any-node", "--node-selector", "a=b", "--state", state)
    assert both.code == 2


def test_interfaces_are_kept_sorted_and_shown_only_when_set(cli: Cli, state: str) -> None:
    result = cli("pool", "add", "dmz", "10.0.0.0/30", "--interface", "eth1", "--interface",
                 "bond1.20", "--interface", "eth1", "--state", state)
    assert (result.code, result.out, result.err) == (0, "pool/dmz created\n", "")
    assert statefiles.document(state)["pools"]["dmz"] == {
        "addresses": ["10.0.0.0/30"], "autoAssign": True, "avoidBuggyIPs": False,
        "interfaces": ["bond1.20", "eth1"]}
    shown = cli("pool", "show", "dmz", "--state", state).out
    assert ("Announced from:    every node\n"
            "Interfaces:        bond1.20, eth1 (nodes without one do not announce)\n") in shown
    doc = json.loads(cli("pool", "show", "dmz", "-o", "json", "--state", state).out)
    assert doc["interfaces"] == ["bond1.20", "eth1"]
    cli("pool", "add", "plain", "10.0.1.0/30", "--state", state)
    assert "Interfaces" not in cli("pool", "show", "plain", "--state", state).out
    plain = json.loads(cli("pool", "show", "plain", "-o", "json", "--state", state).out)
    assert "interfaces" not in plain
    assert "interfaces" not in statefiles.document(state)["pools"]["plain"]


@pytest.mark.parametrize(("name", "problem"), [
    ("eth 1", "interface name 'eth 1' holds ' ' (Linux refuses '/', ':' and whitespace)"),
    ("eth0/1", "interface name 'eth0/1' holds '/' (Linux refuses '/', ':' and whitespace)"),
    ("eth0:1", "interface name 'eth0:1' holds ':' (Linux refuses '/', ':' and whitespace)"),
    ("a-sixteen-chars1", "interface name 'a-sixteen-chars1' is longer than 15 bytes"),
    ("..", "'..' is not an interface name"),
    ("", "'' is not an interface name"),
    ("eth\x1b[0m", "interface name 'eth\\x1b[0m' holds a control character"),
])
def test_an_interface_linux_refuses_is_refused(cli: Cli, state: str, name: str,
                                               problem: str) -> None:
    result = cli("pool", "add", "dmz", "10.0.0.0/30", "--interface", name, "--state", state)
    assert (result.code, result.out) == (2, "")
    assert result.err == (f"lbctl: error: {problem}\nhint: give the name `ip -br link` shows on "
                          "the nodes (up to 15 characters, no '/', ':' or spaces)\n")
    assert not Path(state).exists()


def test_interfaces_need_layer2(cli: Cli, state: str) -> None:
    result = cli("pool", "add", "routed", "10.0.0.0/30", "--announce", "bgp", "--interface",
                 "eth1", "--state", state)
    assert (result.code, result.err) == (
        2, "lbctl: error: pool routed announces with bgp only: interfaces do not apply (they "
           "choose where ARP/NDP is answered)\nhint: announce it in layer 2 too (--announce "
           "both), or leave the interfaces out\n")
    assert cli("pool", "add", "both", "10.0.0.0/30", "--announce", "both", "--interface",
               "eth1", "--state", state).code == 0
    # announcing over BGP only drops them, as --announce layer2 drops the BGP options
    assert cli("pool", "set", "both", "--announce", "bgp", "--state", state).code == 0
    assert "interfaces" not in statefiles.document(state)["pools"]["both"]


def test_pool_set_interfaces_replace_and_clear(cli: Cli, state: str) -> None:
    assert cli("pool", "add", "dmz", "10.0.0.0/30", "--interface", "eth1",
               "--state", state).code == 0
    result = cli("pool", "set", "dmz", "--interface", "vlan20", "--interface", "bond0",
                 "--state", state)
    assert (result.code, result.out, result.err) == (0, "pool/dmz configured\n", "")
    assert statefiles.document(state)["pools"]["dmz"]["interfaces"] == ["bond0", "vlan20"]
    dry = cli("pool", "set", "dmz", "--any-interface", "--dry-run", "--state", state)
    assert (dry.code, dry.err) == (0, "")
    assert dry.out.endswith("-    interfaces: [bond0, vlan20]\n allocations: {}\n holds: {}\n"
                            "pool/dmz configured (dry run)\n")
    assert cli("pool", "set", "dmz", "--any-interface", "--state", state).code == 0
    assert "interfaces" not in statefiles.document(state)["pools"]["dmz"]
    both = cli("pool", "set", "dmz", "--any-interface", "--interface", "eth1", "--state", state)
    assert (both.code, both.err) == (
        2, "lbctl: error: --any-interface drops the interfaces; --interface sets them\n"
           "hint: give one of them\n")


def test_a_state_with_a_bad_interface_is_refused_and_kept(cli: Cli, state: str) -> None:
    Path(state).write_text("schemaVersion: 1\npools:\n  dmz:\n    addresses: [10.0.0.0/30]\n"
                           "    interfaces: [eth1, 'eth/2']\n    announce: bgp\n")
    before = Path(state).read_text()
    result = cli("pool", "add", "x", "10.0.1.0/30", "--state", state)
    assert result.code == 4
    assert result.err.startswith(
        f"lbctl: error: state file {state} is invalid: pool dmz interfaces: interface name "
        "'eth/2' holds '/' (Linux refuses '/', ':' and whitespace) (and 1 more problems)\n")
    assert Path(state).read_text() == before
    assert "pool dmz has interfaces but announce is bgp: no node answers ARP/NDP for it" in \
        cli("doctor", "--state", state).out
