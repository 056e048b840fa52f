"""The quick reader of :func:`lbctl.core.yamlkit.load`: whatever it reads, it reads exactly as
the event reader does (same values, same types, same order); anything else it leaves to the
event reader, so that errors are the event reader's, with their line and column."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lbctl.core import state as codec
from lbctl.core import yamlkit
from lbctl.core.yamlkit import YAMLInputError
from tests.core.test_state import PLAIN, TRICKY, WITH_FLOW


def typed(data: Any) -> Any:
    """``data`` with the type of every value spelled out: ``1``, ``1.0`` and ``True`` are
    equal in Python, and must not be taken for one another here."""
    if isinstance(data, dict):
        return ("map", [(typed(k), typed(v)) for k, v in data.items()])
    if isinstance(data, list):
        return ("seq", [typed(v) for v in data])
    return (type(data).__name__, data)


def slow(text: str) -> Any:
    documents = yamlkit.load_all(text, "t")
    assert len(documents) == 1
    return documents[0].data


def agrees(text: str) -> bool:
    """The quick reader either leaves ``text`` alone or reads what the event reader reads;
    True when it read it."""
    quick = yamlkit._quick(text)
    if quick is yamlkit._UNSURE:
        return False
    assert typed(quick) == typed(slow(text)), text
    return True


# A state as lbctl writes it, with every field, both families, quoted keys and values.
STATE = """\
schemaVersion: 1
pools:
  default:
    addresses: [192.0.2.10-192.0.2.49, '2001:db8::/64']
    autoAssign: true
    avoidBuggyIPs: false
    namespaces: [web]
    serviceSelectors: [app=web, 'tier in (a,b)']
    priority: 10
    nodeSelectors: [zone=a]
    interfaces: [eth1]
    reservations: {192.0.2.11: router, 192.0.2.12: '', '2001:db8::5': 'a: b'}
    announce: both
    bgp: {aggregationLength: 32, aggregationLengthV6: 128, localPref: 100, communities: \
['64500:100', no-export], peers: [router]}
  empty: {}
allocations:
  web:
    api: {ips: [192.0.2.14], pool: default, sharingKey: k, ports: [TCP/443], backend: ''}
    frontend: {ips: [192.0.2.10, '2001:db8::1'], pool: default}
    'true': {ips: [192.0.2.13], pool: default}
holds:
  web:
    old: {ips: [192.0.2.15], pool: default, expires: '2025-01-31T12:00:00Z'}
peers:
  router: {address: 192.0.2.1, asn: 64501, myASN: 64500, port: 179, holdTime: 90, \
passwordSecret: router-bgp, sourceAddress: 192.0.2.5, ebgpMultiHop: true, nodeSelectors: \
[rack=a]}
"""


def test_a_state_as_lbctl_writes_it_is_read_quickly_and_the_same() -> None:
    assert agrees(STATE)
    valid = STATE.replace("  empty: {}\n", "")  # a pool needs addresses
    assert codec.encode(codec.decode(valid)) == valid


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(TRICKY, WITH_FLOW, max_size=5))
def test_what_lbctl_writes_reads_the_same(document: dict[str, object]) -> None:
    agrees(codec._dump(document))


@settings(max_examples=300, deadline=None)
@given(PLAIN, st.sampled_from([None, True, False]), st.sampled_from([20, 80, 4096]))
def test_what_pyyaml_writes_reads_the_same(document: object, flow: bool | None,
                                           width: int) -> None:
    text = yaml.safe_dump(document, default_flow_style=flow, width=width, allow_unicode=True)
    try:
        slow(text)
    except YAMLInputError:  # a key given twice (PyYAML's dumper writes some that way)
        assert yamlkit._quick(text) is yamlkit._UNSURE
        return
    agrees(text)


#: Every construct of STATE, in few characters (each is edited 35 ways).
SMALL = """\
schemaVersion: 1
pools:
  p:
    addresses: ['2001:db8::/64', 10.0.0.0/8]
    reservations: {10.0.0.1: 'it''s', 10.0.0.2: ''}
    bgp: {a: 1, b: [x y, no-export], c: {}}
allocations:
  web:
    'true': {ips: [10.0.0.3], pool: p}
holds:
"""
EDITS = [" ", "\n", ":", "'", "#", "-", "{", "}", "[", "]", ",", "a", "1", "&", "!", "\t", "~"]


def test_every_edit_of_one_character_reads_the_same_or_is_left_alone() -> None:
    """Delete, replace or insert one character anywhere in a small state: the quick reader reads
    the result as the event reader does, or leaves it to it (the refusals with their line and
    column are then the event reader's)."""
    read = refused = 0
    for at in range(len(SMALL) + 1):
        edits = [SMALL[:at] + c + SMALL[at:] for c in EDITS]
        if at < len(SMALL):
            edits.append(SMALL[:at] + SMALL[at + 1:])
            edits.extend(SMALL[:at] + c + SMALL[at + 1:] for c in EDITS if c != SMALL[at])
        for text in edits:
            quick = yamlkit._quick(text)
            try:
                expected = slow(text)
            except YAMLInputError:
                assert quick is yamlkit._UNSURE, text
                refused += 1
                continue
            if quick is not yamlkit._UNSURE:
                assert typed(quick) == typed(expected), text
                read += 1
    assert read > 1_000 and refused > 1_000  # both kinds of edit happened


@pytest.mark.parametrize("text", [
    pytest.param("", id="empty"),
    pytest.param("a: 1", id="no-final-newline"),
    pytest.param("a: 1\n\nb: 2\n", id="blank-line"),
    pytest.param("a: 1 # note\n", id="comment"),
    pytest.param("a:\n- 1\n", id="block-sequence"),
    pytest.param("a:\n    b: 1\n", id="four-spaces"),
    pytest.param("a: 1\n  b: 2\n", id="over-indented"),
    pytest.param("a: \"x\"\n", id="double-quoted"),
    pytest.param("a: &x [1]\nb: *x\n", id="anchor"),
    pytest.param("a: !!str 1\n", id="tag"),
    pytest.param("a: 1\na: 2\n", id="a-key-twice"),
    pytest.param("a: {b: 1, b: 2}\n", id="a-flow-key-twice"),
    pytest.param("1: a\n", id="an-integer-key"),
    pytest.param("yes: a\n", id="a-boolean-key"),
    pytest.param("a: {1: b}\n", id="an-integer-flow-key"),
    pytest.param("a: [1, 2,]\n", id="trailing-comma"),
    pytest.param("a: [1,2]\n", id="no-space-after-comma"),
    pytest.param("a: {b:1}\n", id="no-space-after-colon"),
    pytest.param("a: b \n", id="trailing-space"),
    pytest.param("a: b\r\n", id="carriage-return"),
    pytest.param("a:\tb\n", id="tab"),
    pytest.param("a: é\n", id="not-ascii"),
    pytest.param("---\na: 1\n", id="document-start"),
    pytest.param("a: 1\n...\n", id="document-end"),
    pytest.param("a: =\n", id="value-key-tag"),
    pytest.param("a: 2024-13-45\n", id="impossible-date"),
    pytest.param("a: " + "9" * 5000 + "\n", id="integer-too-long"),
    pytest.param("k" * 1025 + ": v\n", id="key-too-long"),
    pytest.param("a: {" + "k" * 1025 + ": v}\n", id="flow-key-too-long"),
    pytest.param("a: " + "[" * 40 + "]" * 40 + "\n", id="deep-flow"),
    pytest.param("".join("  " * i + "k:\n" for i in range(40)), id="deep-block"),
    pytest.param("- a\n", id="a-sequence-document"),
    pytest.param("a\n", id="a-scalar-document"),
])
def test_left_to_the_event_reader(text: str) -> None:
    assert yamlkit._quick(text) is yamlkit._UNSURE


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("a:\nb: 1\n", {"a": None, "b": 1}, id="an-empty-value-is-null"),
    pytest.param("a:\n  b:\n", {"a": {"b": None}}, id="an-empty-value-at-the-end"),
    pytest.param("a: {}\nb: []\n", {"a": {}, "b": []}, id="empty-collections"),
    pytest.param("a: [x y, 'it''s', '']\n", {"a": ["x y", "it's", ""]}, id="scalars"),
    pytest.param("a: {b: [{c: d}]}\n", {"a": {"b": [{"c": "d"}]}}, id="nested-flow"),
    pytest.param("n: null\nt: True\ni: 0x1F\nd: 2001-12-14\n",
                 {"n": None, "t": True, "i": 31, "d": yaml.safe_load("2001-12-14")},
                 id="resolved-as-the-loader-does"),
])
def test_read_quickly(text: str, expected: Any) -> None:
    assert typed(yamlkit._quick(text)) == typed(expected)
    assert typed(yamlkit.load(text, "t")) == typed(expected)


@pytest.mark.parametrize("text", [
    "a: {b: 1}\n  c: 2\n", "pools: {}\npools: {}\n", "a: {b: 1, b: 2}\n", "1: a\n'1': b\n",
    "a: [1, 2\n", "a: 1 #c\nb: 'x\n", "a: {b: [c], d: !!binary aGk=}\n", "a: =\n",
])
def test_load_refuses_as_the_event_reader(text: str) -> None:
    """What the quick reader leaves alone is refused by the event reader, position and all."""
    with pytest.raises(YAMLInputError) as expected:
        yamlkit.load_all(text, "f")
    with pytest.raises(YAMLInputError) as caught:
        yamlkit.load(text, "f")
    assert caught.value.message == expected.value.message
    assert caught.value.message.startswith("f:")


#: Scalars whose reading is YAML 1.1's and easy to get wrong by hand: booleans, nulls,
#: integers in every base, with "_" and sexagesimal, floats, timestamps, merge and value keys,
#: quoting, and the two marks of a flow collection.
ODD_SCALARS = [
    "y", "n", "Y", "N", "yes", "No", "on", "Off", "ON", "true", "False", "null", "Null", "NULL",
    "~", "1", "-1", "+1", "07", "08", "0o7", "0x1F", "0x_", "0b101", "0_", "1_000", "1__0",
    "1:20", "190:20:30", "1.5", "1.0e+5", "1e5", ".5", "1.", ".inf", "-.Inf", ".NaN", "NaN",
    "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5", "2001-13-45",
    "<<", "=", "a=b", "x(y)", "/x", "_", "a b", "a  b", "'x'", "''", "'it''s'", "'a: b'",
    "\"q\"", ", ", ": ", ",", ":", "-", "- a", "? a", "a #b", "a:b", "&a a", "*a", "!a a",
    "%a", "@a", "`a", "|", ">", "a ",
]


def read_or_refused(text: str) -> Any:
    try:
        return typed(slow(text))
    except YAMLInputError:
        return "refused"


def pyyaml_reads(text: str) -> Any:
    try:
        return typed(yaml.safe_load(text))
    except (yaml.YAMLError, ValueError):  # "0x_" fails in its constructor: a ValueError
        return "refused"


@pytest.mark.parametrize("scalar", ODD_SCALARS)
def test_odd_scalars_read_as_the_event_reader_and_pyyaml_in_every_place(scalar: str) -> None:
    """A scalar as a block value, a block key, a flow item, a flow key and a flow value, and
    two of them in one flow collection: what the quick reader reads is what the event reader
    and ``yaml.safe_load`` read; what either refuses, it leaves alone."""
    places = [f"k: {scalar}\n", f"{scalar}: v\n", f"k: [{scalar}]\n", f"k: [a, {scalar}]\n",
              f"k: [{scalar}, a]\n", f"k: {{{scalar}: v}}\n", f"k: {{a: {scalar}}}\n",
              f"k: {{a: {scalar}, b: c}}\n", f"k: [{scalar}, {scalar}]\n",
              f"k:\n  {scalar}: v\n", f"k: {{a: [{scalar}]}}\n"]
    for text in places:
        quick = yamlkit._quick(text)
        if quick is not yamlkit._UNSURE:
            assert typed(quick) == read_or_refused(text) == pyyaml_reads(text), text


@pytest.mark.parametrize("text", [
    pytest.param("a: [, ]\n", id="a-comma-as-an-item"),
    pytest.param("a: [x, : ]\n", id="a-colon-as-an-item"),
    pytest.param("a: {, : b}\n", id="a-comma-as-a-key"),
    pytest.param("a: {: : b}\n", id="a-colon-as-a-key"),
    pytest.param("a: {b: , , c: d}\n", id="a-comma-as-a-value"),
])
def test_flow_marks_are_not_scalars(text: str) -> None:
    """``, `` and ``: `` are the marks of a flow collection, never a scalar: PyYAML refuses
    these, and so must load (the quick reader once read them as strings)."""
    assert yamlkit._quick(text) is yamlkit._UNSURE
    with pytest.raises(YAMLInputError):
        yamlkit.load(text, "f")


def test_random_edits_of_a_state_read_the_same_or_are_left_alone() -> None:
    """Up to three edits of several characters (marks, indentation, YAML 1.1's odd scalars)
    at random places of a state: what the quick reader reads, the event reader and PyYAML read
    the same; what they refuse, it leaves alone."""
    import random

    pieces = list(" \n:'#-{}[],a1&!~=<>?|%@`\"*.+_/()") + [
        ", ", ": ", "<<", "1:20", ".inf", "0o7", "y", "on", "Off", "NULL", "1_0", "  ",
        "\n  ", "\n    ", "0x", "2001-01-01", "''", "\r", " #", "- ", "? ", "...", "---"]
    chance = random.Random(20261202)
    read = 0
    for _ in range(4000):
        text = chance.choice([STATE, SMALL])
        for _ in range(chance.randint(1, 3)):
            at = chance.randrange(len(text) + 1)
            how = chance.random()
            if how < 0.3:
                text = text[:at] + text[at + chance.randint(1, 3):]
            else:
                text = text[:at] + chance.choice(pieces) + text[at + (how < 0.6):]
        quick = yamlkit._quick(text)
        if quick is yamlkit._UNSURE:
            continue
        assert typed(quick) == read_or_refused(text) == pyyaml_reads(text), text
        read += 1
    assert read > 500
