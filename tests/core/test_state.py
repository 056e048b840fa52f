"""The state document: its exact text, round trips, schema versions, and every validation error."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lbctl.core import state as codec
from lbctl.core import yamlkit
from lbctl.core.pools import reserve
from lbctl.core.state import (
    Allocation,
    State,
    decode,
    encode,
    problems_of,
    to_document,
    validate,
)
from lbctl.errors import ExitCode, InvalidStateError
from tests.core.support import pool, state_of

GOLDEN = """\
schemaVersion: 1
pools:
  dmz:
    addresses: [198.51.100.0/28]
    autoAssign: false
    avoidBuggyIPs: true
  lan:
    addresses: [192.0.2.10-192.0.2.49, '2001:db8::/64']
    autoAssign: true
    avoidBuggyIPs: false
    namespaces: [web]
    serviceSelectors: [app=web]
    priority: 10
    reservations: {192.0.2.11: router, '2001:db8::': router}
allocations:
  web:
    api: {ips: [192.0.2.12, '2001:db8::1'], pool: lan, sharingKey: k, ports: [TCP/443], \
backend: app=api}
    frontend: {ips: [192.0.2.10], pool: lan}
holds:
  web:
    old: {ips: [192.0.2.13], pool: lan}
"""

FRONTEND = Allocation("web", "frontend", ("192.0.2.10",), "lan")
API = Allocation("web", "api", ("192.0.2.12", "2001:db8::1"), "lan", "k", ("TCP/443",), "app=api")
OLD = Allocation("web", "old", ("192.0.2.13",), "lan")


def golden_state(reverse: bool = False) -> State:
    """The state of GOLDEN, its mappings filled in one order or the reverse."""
    order = reversed if reverse else list
    lan = pool("lan", "192.0.2.10-192.0.2.49", "2001:db8::/64", namespaces=["web"],
               selectors=["app=web"], priority=10)
    dmz = pool("dmz", "198.51.100.0/28", auto_assign=False, avoid_buggy_ips=True)
    state = state_of(*order([lan, dmz]), allocations=order([FRONTEND, API]), holds=[OLD])
    for ip in order(["192.0.2.11", "2001:db8::"]):
        state = reserve(state, "lan", [ip], "router")
    return state


def test_encode_writes_the_documented_shape() -> None:
    assert encode(golden_state()) == GOLDEN


def test_encode_does_not_depend_on_insertion_order() -> None:
    assert list(golden_state(reverse=True).pools) == ["dmz", "lan"]
    assert encode(golden_state(reverse=True)) == encode(golden_state()) == GOLDEN


def test_round_trip() -> None:
    assert decode(GOLDEN) == golden_state()
    assert decode(encode(golden_state())) == golden_state()


def test_interfaces_are_written_after_the_node_selectors_and_read_back() -> None:
    dmz = pool("dmz", "198.51.100.0/28", node_selectors=["zone=a"],
               interfaces=["vlan20", "eth1"])
    text = encode(state_of(dmz))
    assert text.startswith("schemaVersion: 1\npools:\n  dmz:\n    addresses: [198.51.100.0/28]\n"
                           "    autoAssign: true\n    avoidBuggyIPs: false\n"
                           "    nodeSelectors: [zone=a]\n    interfaces: [eth1, vlan20]\n")
    assert decode(text).pools["dmz"] == dmz


def test_yaml_look_alikes_stay_strings() -> None:
    """Names YAML 1.1 would read as booleans, nulls or numbers survive a round trip."""
    odd = pool("no", "10.0.0.0/24", namespaces=["on", "123", "null"])
    state = reserve(state_of(odd), "no", ["10.0.0.1"], "yes: #1")
    state = State(pools=state.pools, allocations={
        ("123", "true"): Allocation("123", "true", ("10.0.0.2",), "no", "off", ("TCP/80",),
                                    "app in (a,b)"),
        ("on", "1.5"): Allocation("on", "1.5", ("10.0.0.3",), "no"),
    })
    assert decode(encode(state)) == state


@pytest.mark.parametrize("text", [None, "", "  \n", "# nothing yet\n"])
def test_nothing_is_the_empty_state(text: str | None) -> None:
    assert decode(text) == State()
    assert to_document(State()) == {"schemaVersion": 1, "pools": {}, "allocations": {},
                                    "holds": {}}


# ------------------------------------------------------------------------------- refusals

POOLS = """\
schemaVersion: 1
pools:
  a: {addresses: [10.0.0.0/24, '2001:db8::/64'], reservations: {10.0.0.1: gw}}
  b: {addresses: [10.0.1.0/24]}
"""


def refused(text: str) -> InvalidStateError:
    with pytest.raises(InvalidStateError) as caught:
        decode(text, "state file lb.yaml")
    assert caught.value.exit_code == ExitCode.REFUSED
    return caught.value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("pools: [\n  a\n", "state file lb.yaml:3:1: not valid YAML: did not find "
                     "expected ',' or ']'",
                     id="unclosed-flow"),
        pytest.param("schemaVersion: 1\npools:\n\ta: {}\n",
                     "state file lb.yaml:3:1: not valid YAML: found character that cannot "
                     "start any token", id="tab"),
        pytest.param("- schemaVersion: 1\n", "state file lb.yaml is invalid: the document is "
                     "not a mapping", id="not-a-mapping"),
        pytest.param("pools: {}\n", "state file lb.yaml is invalid: schemaVersion must be a "
                     "positive integer, not None", id="no-schema-version"),
        pytest.param("schemaVersion: '1'\n", "state file lb.yaml is invalid: schemaVersion must "
                     "be a positive integer, not '1'", id="schema-version-text"),
        pytest.param("schemaVersion: true\n", "state file lb.yaml is invalid: schemaVersion must "
                     "be a positive integer, not True", id="schema-version-bool"),
        pytest.param("schemaVersion: 0\n", "state file lb.yaml is invalid: schemaVersion must "
                     "be a positive integer, not 0", id="schema-version-zero"),
        pytest.param("schemaVersion: 2\n", "state file lb.yaml has schemaVersion 2; this lbctl "
                     "understands up to 1", id="too-new"),
        pytest.param(POOLS + "allocations:\n  web:\n    x: {ips: [10.0.0.2], pool: a}\n"
                     "    x: {ips: [10.0.0.3], pool: a}\n",
                     "state file lb.yaml:8:5: the key 'x' is given twice in one mapping (also "
                     "at line 7, column 5)", id="duplicate-key"),
        pytest.param(POOLS + "allocations:\n  web: &w\n    x: {ips: [10.0.0.2], pool: a}\n"
                     "    x: {ips: [10.0.0.3], pool: a}\n",
                     "state file lb.yaml:8:5: the key 'x' is given twice in one mapping (also "
                     "at line 7, column 5)", id="duplicate-key-with-anchor"),
        pytest.param(POOLS.replace("  b:", "  1:") + "  '1': {addresses: [10.0.2.0/24]}\n",
                     "state file lb.yaml:5:3: the key '1' is given twice in one mapping (also "
                     "at line 4, column 3)", id="keys-equal-as-text"),
        pytest.param("schemaVersion: 1\npools: {}\nallocations:\n  null: {}\n  'None': {}\n",
                     "state file lb.yaml:5:3: the key 'None' is given twice in one mapping (also "
                     "at line 4, column 3)", id="null-and-None"),
        pytest.param("schemaVersion: 1\npools:\n  a: {addresses: [10.0.0.0/24], reservations: "
                     "{10.0.0.1: !!binary aGVsbG8=}}\n",
                     "state file lb.yaml:3:58: the tag !!binary is not read by lbctl; write "
                     "plain YAML", id="binary-note"),
    ],
)
def test_refused_before_validation(text: str, message: str) -> None:
    assert refused(text).message == message


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        pytest.param(POOLS.replace("gw}", "[gw, router]}"),
                     ["pool a reservations: the note of 10.0.0.1 must be a string, not "
                      "['gw', 'router'] (line 3, column 75)"], id="list-note"),
        pytest.param(POOLS + "allocations:\n  web:\n    x: {ips: [10.0.0.2], pool: a, "
                     "sharingKey: {k: v}, ports: [TCP/80]}\n",
                     ["allocations web/x: sharingKey must be a string, not {'k': 'v'} "
                      "(line 7, column 47)"], id="mapping-sharing-key"),
        pytest.param(POOLS + "allocations:\n  web:\n    x: {ips: [10.0.0.2], pool: a, "
                     "sharingKey: 7, ports: [TCP/80]}\n",
                     ["allocations web/x: sharingKey must be a string, not 7 "
                      "(line 7, column 47)"], id="number-sharing-key"),
        pytest.param(POOLS.replace("  b:", "  7:"),
                     ["pools: the key 7 must be a string (quote it) (line 4, column 3)"],
                     id="number-pool-name"),
        pytest.param(POOLS + "allocations:\n  null:\n    x: {ips: [10.0.0.2], pool: a}\n",
                     ["allocations: the key None must be a string (quote it) (line 6, column 3)"],
                     id="null-namespace"),
        pytest.param(POOLS + "allocations:\n  web:\n    true: {ips: [10.0.0.2], pool: a}\n",
                     ["allocations web: the key True must be a string (quote it) "
                      "(line 7, column 5)"], id="boolean-service-name"),
        pytest.param(POOLS.replace("gw}", "2024-01-01}"),
                     ["pool a reservations: the note of 10.0.0.1 must be a string, not "
                      "datetime.date(2024, 1, 1) (line 3, column 75)"], id="date-note"),
    ],
)
def test_wrong_types_are_refused_never_converted(text: str, problems: list[str]) -> None:
    """A value of another type would be written back converted (a list note as the text of a
    list): the document is refused instead, and each problem says where."""
    assert [p.message for p in problems_of(refused(text))] == problems


def test_too_new_schema_says_to_upgrade() -> None:
    assert refused("schemaVersion: 7\npools: {x: 1}\n").hint == (
        "upgrade lbctl; it never overwrites a document it does not understand")


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        pytest.param("schemaVersion: 1\nextra: 1\nalso: 2\n",
                     ["unknown field 'also' in the document (line 3, column 1)",
                      "unknown field 'extra' in the document (line 2, column 1)"],
                     id="unknown-top"),
        pytest.param("schemaVersion: 1\npools:\n  a: {addresses: [10.0.0.0/24], autoassign: no}\n",
                     ["unknown field 'autoassign' in pool a (line 3, column 33)"],
                     id="unknown-pool-field"),
        pytest.param(POOLS + "allocations:\n  web:\n    x: {ips: [10.0.0.2], pool: a, ip: 1}\n",
                     ["unknown field 'ip' in allocations web/x (line 7, column 35)"],
                     id="unknown-allocation-field"),
        pytest.param(POOLS + "holds:\n  web:\n    x: {ips: [10.0.0.2], pool: a, note: n}\n",
                     ["unknown field 'note' in holds web/x (line 7, column 35)"],
                     id="unknown-hold-field"),
        pytest.param("schemaVersion: 1\npools: [a]\n",
                     ["pools must be a mapping (line 2, column 8)"],
                     id="pools-not-mapping"),
        pytest.param("schemaVersion: 1\npools:\n  a: {addresses: 10.0.0.0/24}\n",
                     ["pool a: addresses must be a list of strings (line 3, column 18)",
                      "pool a has no addresses"],
                     id="addresses-not-list"),
        pytest.param("schemaVersion: 1\npools:\n  a: {addresses: [10.0.0.0/24], autoAssign: 1, "
                     "avoidBuggyIPs: 'true', priority: high}\n",
                     ["pool a: autoAssign must be true or false (line 3, column 45)",
                      "pool a: avoidBuggyIPs must be true or false (line 3, column 63)",
                      "pool a: priority must be an integer (line 3, column 81)"],
                     id="pool-field-types"),
        pytest.param("schemaVersion: 1\npools:\n  a: {addresses: []}\n",
                     ["pool a has no addresses"], id="empty-pool"),
        pytest.param("schemaVersion: 1\npools:\n  a: {addresses: [10.0.0.1/24]}\n",
                     ["pool a: '10.0.0.1/24' has host bits set"], id="host-bits"),
        pytest.param("schemaVersion: 1\npools:\n  a: {addresses: [10.0.0.9-10.0.0.1]}\n",
                     ["pool a: range '10.0.0.9-10.0.0.1' is reversed: 10.0.0.9 comes after "
                      "10.0.0.1"], id="reversed-range"),
        pytest.param("schemaVersion: 1\npools:\n  a: {addresses: [10.0.0.0/24], "
                     "serviceSelectors: ['a=b=c']}\n",
                     ["pool a: invalid label value 'b=c' in selector 'a=b=c'"], id="selector"),
        pytest.param(POOLS + "  c: {addresses: [10.0.0.128/25, 10.0.1.255]}\n",
                     ["pools a and c overlap: 10.0.0.0/24 and 10.0.0.128/25 share "
                      "10.0.0.128-10.0.0.255",
                      "pools b and c overlap: 10.0.1.0/24 and 10.0.1.255 share 10.0.1.255"],
                     id="overlap"),
        pytest.param("schemaVersion: 1\npools:\n  a: {addresses: [10.0.0.0/24], "
                     "interfaces: eth1}\n",
                     ["pool a: interfaces must be a list of strings (line 3, column 45)"],
                     id="interfaces-not-list"),
        pytest.param("schemaVersion: 1\npools:\n  a: {addresses: [10.0.0.0/24], "
                     "interfaces: [eth1, 'bond 0', 'a-sixteen-chars1'], announce: bgp}\n",
                     ["pool a interfaces: interface name 'bond 0' holds ' ' (Linux refuses '/', "
                      "':' and whitespace)",
                      "pool a interfaces: interface name 'a-sixteen-chars1' is longer than 15 "
                      "bytes",
                      "pool a has interfaces but announce is bgp: no node answers ARP/NDP for "
                      "it"],
                     id="interfaces"),
        pytest.param(POOLS.replace("gw}", "gw, 10.0.1.1: x, 10.0.0.01: y}"),
                     ["pool a reservation: 10.0.1.1 is in pool b, not in pool a",
                      "pool a reservation: '10.0.0.01' is not an IP address"],
                     id="reservations"),
        pytest.param(POOLS + "allocations:\n  web:\n    x: {ips: [10.0.0.2, 10.0.0.3], pool: a}\n"
                     "    y: {ips: [], pool: a}\n    z: {ips: [10.0.0.4], pool: 7}\n",
                     ["allocations web/z: pool must be a pool name (line 9, column 32)",
                      "web/x has two addresses of one family", "web/y has no ips",
                      "web/z: 10.0.0.4 is in pool a, not in pool 7"], id="allocation-shape"),
        pytest.param(POOLS + "allocations:\n  web:\n    x: {ips: [10.9.9.9], pool: a}\n",
                     ["web/x: 10.9.9.9 is outside every pool"], id="outside-every-pool"),
        pytest.param(POOLS + "allocations:\n  web:\n    x: {ips: [10.0.1.5], pool: a}\n",
                     ["web/x: 10.0.1.5 is in pool b, not in pool a"], id="wrong-pool"),
        pytest.param(POOLS + "allocations:\n  web:\n    x: {ips: ['2001:DB8::5'], pool: a}\n",
                     ["web/x: '2001:DB8::5' is not in canonical form (2001:db8::5)"],
                     id="not-canonical"),
        pytest.param(POOLS + "allocations:\n  web:\n    x: {ips: [10.0.0.1], pool: a}\n",
                     ["web/x uses 10.0.0.1, which pool a reserves"], id="uses-reservation"),
        pytest.param(POOLS + "allocations:\n  web:\n    x: {ips: [10.0.0.2], pool: a}\n"
                     "    y: {ips: [10.0.0.2], pool: a}\n",
                     ["10.0.0.2 is held by web/x and web/y: web/x has no sharing key"],
                     id="duplicate-ip-unkeyed"),
        pytest.param(POOLS + "allocations:\n  web:\n    x: {ips: [10.0.0.2], pool: a, "
                     "sharingKey: k, ports: [TCP/80]}\n"
                     "holds:\n  api:\n    y: {ips: [10.0.0.2], pool: a, sharingKey: k, "
                     "ports: [TCP/80]}\n",
                     ["10.0.0.2 is held by web/x and api/y: both use TCP/80"],
                     id="duplicate-ip-allocation-and-hold"),
    ],
)
def test_validation_problems(text: str, problems: list[str]) -> None:
    error = refused(text)
    assert [p.message for p in problems_of(error)] == problems
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    assert error.message == f"state file lb.yaml is invalid: {problems[0]}{more}"


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        pytest.param("pools: [\n", [("parse", True)], id="not-yaml"),
        pytest.param("- a\n", [("parse", True)], id="not-a-mapping"),
        pytest.param("schemaVersion: 9\n", [("schema", True)], id="newer-schema"),
        pytest.param("schemaVersion: 1\ncolour: red\n", [("parse", False)], id="unknown-field"),
        pytest.param(POOLS + "  c: {addresses: [10.0.0.128/25]}\n",
                     [("pool-overlap", False)], id="overlap"),
        pytest.param(POOLS + "allocations:\n  web:\n    x: {ips: [10.9.9.9], pool: a}\n",
                     [("outside-pool", False)], id="outside"),
        pytest.param(POOLS + "allocations:\n  web:\n    x: {ips: [10.0.0.2], pool: a}\n"
                     "    y: {ips: [10.0.0.2], pool: a}\n", [("shared-ip", False)], id="shared"),
        pytest.param(POOLS + "allocations:\n  web:\n    x: {ips: [10.0.0.1], pool: a}\n",
                     [("consistency", False)], id="reserved"),
    ],
)
def test_each_problem_says_which_rule_it_breaks(text: str, kinds: list[tuple[str, bool]]) -> None:
    """doctor files problems under checks by these codes, never by their wording."""
    assert [(p.kind, p.fatal) for p in problems_of(refused(text))] == kinds


def test_valid_sharing_is_not_a_problem() -> None:
    text = POOLS + (
        "allocations:\n  web:\n"
        "    x: {ips: [10.0.0.2], pool: a, sharingKey: k, ports: [TCP/80], backend: app=x}\n"
        "    y: {ips: [10.0.0.2], pool: a, sharingKey: k, ports: [UDP/80], backend: app=x}\n"
    )
    state = decode(text)
    assert validate(state) == []
    assert [a.ref for a in state.holders("10.0.0.2")] == ["web/x", "web/y"]


def test_migration_is_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    """A version-1 document is carried to the current version by the registered steps."""

    def rename_ip_pools(raw: dict[str, object]) -> dict[str, object]:
        raw = dict(raw)
        raw["pools"] = raw.pop("ipPools")
        return raw

    monkeypatch.setattr(codec, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(codec, "MIGRATIONS", {1: rename_ip_pools})
    old = "schemaVersion: 1\nipPools:\n  a: {addresses: [10.0.0.0/24]}\n"
    migrated = decode(old)
    assert list(migrated.pools) == ["a"]
    assert encode(migrated).startswith("schemaVersion: 2\npools:\n  a:\n")
    assert decode(encode(migrated)) == migrated  # version 2 needs no step
    assert refused("schemaVersion: 3\n").message == (
        "state file lb.yaml has schemaVersion 3; this lbctl understands up to 2")


# ------------------------------------------------------------------------------- the YAML layer
# encode talks to libyaml in events, not through PyYAML's representer, and decode reads through
# lbctl.core.yamlkit, not through PyYAML's constructor.  These prove that changes nothing: the
# same data from the same text (see also tests/core/test_yamlkit.py), the same bytes from the
# same data.


class ReferenceDumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """The representer route: yaml.dump with flow style for one-line mappings and lists."""


ReferenceDumper.add_representer(codec._Flow, lambda dumper, data: dumper.represent_mapping(
    "tag:yaml.org,2002:map", data.items(), flow_style=True))
ReferenceDumper.add_representer(list, lambda dumper, data: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", data, flow_style=True))
REFERENCE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

TRICKY = st.one_of(
    st.sampled_from(["", "yes", "No", "on", "OFF", "y", "null", "~", "Null", "1_000", "0x1F",
                     "0o17", "017", "1:20", "1e3", "6.5", ".inf", "-.NaN", "2001-12-14",
                     "2001-12-14t21:59:43.10-05:00", "<<", "=", "- a", "a: b", "#c", "a #c",
                     " lead", "trail ", "2001:db8::1", "10.0.0.1", "svc-00001", "'", '"', "!x",
                     "&a", "*a", "%x", "@x", "`x", "{a}", "[a]", "a,b", "?", "|", ">", "é",
                     "a\nb", "tab\there", "\x85", "\u2028", "\ufeff"]),
    st.text(st.characters(max_codepoint=0xD7FF), max_size=12),
)
SCALARS = st.one_of(TRICKY, st.integers(-(2**70), 2**70), st.booleans())
PLAIN = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TRICKY, inner, max_size=4),
    max_leaves=25,
)
WITH_FLOW = st.recursive(  # as encode() has them: some mappings on one line
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(TRICKY, inner, max_size=4),
        st.dictionaries(TRICKY, inner, max_size=4).map(codec._Flow),
    ),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(TRICKY, WITH_FLOW, max_size=5))
def test_encoding_writes_what_the_representer_writes(document: dict[str, object]) -> None:
    text = codec._dump(document)
    assert text == yaml.dump(document, Dumper=ReferenceDumper, sort_keys=False,
                             default_flow_style=False, width=4096)
    assert yamlkit.load(text, "t") == yaml.load(text, Loader=REFERENCE_LOADER)


# --------------------------------------------------------------------------- Encoder

_TEXT = st.one_of(
    st.sampled_from(["web", "a", "null", "true", "1", "0x10", "1e3", "~", "a b", "a: b", "#x",
                     "-x", "'q'", '"d"', "é", "x" * 130, "ns-" + "y" * 101, "", "[a]", "{b}",
                     "2024-01-01", "yes", "a,b", "- a", "?", "a\tb", "l\nm"]),
    st.text(min_size=1, max_size=12))
_RECORD = st.builds(
    Allocation, namespace=_TEXT, name=_TEXT,
    ips=st.lists(st.sampled_from(["192.0.2.10", "2001:db8::1", "10.0.0.1", "x", "::"]),
                 max_size=3).map(tuple),
    pool=st.sampled_from(["lan", "dmz", "null", "p q"]),
    sharing_key=st.sampled_from(["", "k", "a: b"]),
    ports=st.lists(st.sampled_from(["TCP/80", "UDP/53"]), max_size=2).map(tuple),
    backend=st.sampled_from(["", "app=api"]),
    expires=st.sampled_from(["", "2025-01-31T12:00:00Z"]))


def _records(found: list[Allocation]) -> dict[tuple[str, str], Allocation]:
    return {(r.namespace, r.name): r for r in found}


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(st.tuples(st.lists(_RECORD, max_size=6), st.lists(_RECORD, max_size=3),
                                st.integers(0, 5), st.integers(0, 3), st.booleans()),
                      min_size=1, max_size=6))
def test_the_encoder_writes_what_encode_writes_state_after_state(
        steps: list[tuple[list[Allocation], list[Allocation], int, int, bool]]) -> None:
    """A state after another (records added, changed, removed, held; the pools changed): the
    Encoder, which re-encodes only what changed, writes the bytes encode() writes, whatever
    the names and values."""
    encoder = codec.Encoder()
    state = golden_state()
    for added, held, removed, changed, other_pools in steps:
        allocations = {**state.allocations, **_records(added)}
        for key in list(allocations)[:removed]:
            del allocations[key]
        for key in list(allocations)[-changed:] if changed else []:
            record = allocations[key]
            allocations[key] = Allocation(record.namespace, record.name,
                                          (*record.ips, "192.0.2.99"), record.pool)
        pools = golden_state(reverse=True).pools if other_pools else state.pools
        if other_pools:
            pools = {name: p for name, p in pools.items() if name != "dmz"}
        state = State(pools=pools, allocations=allocations,
                      holds={**state.holds, **_records(held)}, peers=state.peers)
        assert encoder.encode(state) == encode(state)


def test_the_encoder_writes_empty_sections_and_long_names_as_encode_does() -> None:
    encoder = codec.Encoder()
    long = Allocation("web", "n" * 200, ("192.0.2.10",), "lan")
    for state in (State(), golden_state(), state_of(allocations=[long]), golden_state(),
                  State(pools=golden_state().pools), golden_state()):
        assert encoder.encode(state) == encode(state)
