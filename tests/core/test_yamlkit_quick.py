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
    pytest.param("a: 1\n  b: 2\n", id="over-indented"),
    pytest.param("a: \"x\\ty\"\n", id="double-quoted-escape"),
    pytest.param("a:\n- &x 1\n- *x\n", id="anchor-in-a-sequence"),
    pytest.param("a:\n- - 1\n", id="a-sequence-in-a-sequence-item"),
    pytest.param("a:\n-  b: 1\n", id="two-spaces-after-the-dash"),
    pytest.param("a:\n-\n  b: 1\n", id="an-item-on-the-next-line"),
    pytest.param("a:\n- b\n  c: 1\n", id="a-key-under-a-scalar-item"),
    pytest.param("a:\n  - b\n  c: 1\n", id="a-key-after-an-indented-sequence"),
    pytest.param("a:\n- b: 1\n c: 2\n", id="a-key-left-of-its-mapping"),
    pytest.param("a: b\n- c\n", id="an-item-in-a-mapping"),
    pytest.param("a: b\nc\n", id="a-scalar-alone"),
    pytest.param("a: https://h:6443 # api\n", id="a-comment-after-a-url"),
    pytest.param("a: b:\n", id="a-colon-at-the-end-of-a-value"),
    pytest.param("a: b: c\n", id="a-colon-and-a-space-in-a-value"),
    pytest.param("a: -\n", id="a-lone-dash"),
    pytest.param("a:\n- b\n---\nc: d\n", id="a-second-document"),
    pytest.param("...: a\n", id="a-key-like-a-document-end"),
    pytest.param("a: |\n  b\n", id="a-literal-block"),
    pytest.param("? a\n: b\n", id="an-explicit-key"),
    pytest.param('{"a": "b\\n"}', id="json-escape"),
    pytest.param('{"a": 1}', id="json-number"),
    pytest.param('{"a": 1e3}', id="json-exponent"),
    pytest.param('{"a":\t"b"}', id="json-tab"),
    pytest.param('{"a": "b", "a": "c"}', id="json-a-key-twice"),
    pytest.param('{"a"\n: "b"}', id="json-a-colon-on-the-next-line"),
    pytest.param('{"a" : "b"}', id="json-a-space-before-the-colon"),
    pytest.param('{"' + "k" * 1001 + '": "v"}', id="json-key-too-long"),
    pytest.param('{"a": ' + "[" * 40 + "]" * 40 + "}", id="json-deep"),
    pytest.param('{"a": ' + "[" * 5000 + "]" * 5000 + "}", id="json-very-deep"),
    pytest.param('{"a": "b"} x', id="json-trailing-text"),
    pytest.param('{"a": True}', id="json-capital-true"),
    pytest.param("{a: b}\n", id="yaml-flow-at-the-top"),
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
    pytest.param("a:\n- 1\n- b\n", {"a": [1, "b"]}, id="a-sequence-at-its-key-column"),
    pytest.param("a:\n  - 1\n  - [b]\nc: d\n", {"a": [1, ["b"]], "c": "d"},
                 id="an-indented-sequence"),
    pytest.param("a:\n    b: 1\n", {"a": {"b": 1}}, id="four-spaces"),
    pytest.param("a:\n- b:\n  - c\n  d:\n- e: {}\n", {"a": [{"b": ["c"], "d": None},
                                                        {"e": {}}]}, id="mappings-in-items"),
    pytest.param("a: \"x: 'y' #z\"\n", {"a": "x: 'y' #z"}, id="double-quoted"),
    pytest.param("a: [\"x, y\", 'z']\n", {"a": ["x, y", "z"]}, id="double-quoted-in-flow"),
    pytest.param("u: https://u:p@h:6443/x?y=1&z=[2],3\nn: admin@k8s\n",
                 {"u": "https://u:p@h:6443/x?y=1&z=[2],3", "n": "admin@k8s"},
                 id="urls-and-at-signs"),
    pytest.param("a: arn:aws:eks:eu-west-1:1:cluster/x\n",
                 {"a": "arn:aws:eks:eu-west-1:1:cluster/x"}, id="colons-in-a-value"),
    pytest.param("a:b: c\n", {"a:b": "c"}, id="a-colon-in-a-key"),
    pytest.param("a: --x=1 -y\n", {"a": "--x=1 -y"}, id="dashes"),
    pytest.param("a: it's \"q\" 50% *x &y !z\n", {"a": "it's \"q\" 50% *x &y !z"},
                 id="indicators-inside"),
    pytest.param('{\n  "a": {"b": [true, null, "c"]},\n"d":false}',
                 {"a": {"b": [True, None, "c"]}, "d": False}, id="json"),
    pytest.param('[]', [], id="json-array"),
    pytest.param("n: null\nt: True\ni: 0x1F\nd: 2001-12-14\n",
                 {"n": None, "t": True, "i": 31, "d": yaml.safe_load("2001-12-14")},
                 id="resolved-as-the-loader-does"),
])
def test_read_quickly(text: str, expected: Any) -> None:
    assert typed(yamlkit._quick(text)) == typed(expected)
    assert typed(yamlkit.load(text, "t")) == typed(expected)
    assert typed(yaml.safe_load(text)) == typed(expected)


#: A kubeconfig as ``kubectl config view --raw`` writes it (k3s's and kubeadm's are alike).
KUBECTL = """\
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkekNDQVIyZ0F3SUJBZ0lC
    server: https://127.0.0.1:6443
  name: default
- cluster:
    insecure-skip-tls-verify: true
    proxy-url: http://user:pa55@proxy.example:3128
    server: https://[fd00::1]:6443/
    tls-server-name: api.example
  name: arn:aws:eks:eu-west-1:123456789012:cluster/prod
contexts:
- context:
    cluster: default
    namespace: web
    user: kubernetes-admin
  name: kubernetes-admin@kubernetes
current-context: kubernetes-admin@kubernetes
kind: Config
preferences: {}
users:
- name: kubernetes-admin
  user:
    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSURJVENDQWdtZ0F3SUJBZ0lJ
    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFBS0NBUUVBdVc2Ng==
- name: eks
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args:
      - --region
      - eu-west-1
      - eks
      - get-token
      command: aws
      env: null
      interactiveMode: IfAvailable
      provideClusterInfo: false
- name: empty
  user: {}
"""


def test_a_kubeconfig_as_kubectl_writes_it_is_read_quickly_and_the_same() -> None:
    assert agrees(KUBECTL)
    assert typed(yamlkit._quick(KUBECTL)) == typed(yaml.safe_load(KUBECTL))


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


def test_the_bool_and_null_spellings_are_pyyaml_s_in_every_case() -> None:
    """The quick reader reads booleans and nulls without PyYAML: its constants say what
    PyYAML's resolver and constructor say, for every upper and lower case spelling of every
    word near them, and PyYAML has no other reading for a scalar that starts where they do."""
    import itertools

    resolver = yaml.resolver.Resolver()
    words = ["yes", "no", "true", "false", "on", "off", "null", "y", "n", "nul", "nulls",
             "yess", "of", "offf", "tru", "o", "t", "f", "~", "~~", "none", "nan", "ye"]
    checked = 0
    for word in words:
        for letters in itertools.product(*({c.lower(), c.upper()} for c in word)):
            spelled = "".join(letters)
            assert spelled[0] in yamlkit._BOOL_OR_NULL_FIRST
            tag = resolver.resolve(yaml.ScalarNode, spelled, (True, False))
            expected = yaml.safe_load(f"k: {spelled}\n")["k"]
            assert typed(yamlkit._quick_token(spelled)) == typed(expected), spelled
            assert tag == {bool: yamlkit._TAG + "bool", type(None): yamlkit._TAG + "null",
                           str: yamlkit.STR}[type(expected)], spelled
            checked += 1
    assert checked > 200
    implicit = yaml.resolver.Resolver.yaml_implicit_resolvers
    assert None not in implicit  # no resolver for every first character
    firsts = {first for first in implicit if first}
    assert firsts == yamlkit._BOOL_OR_NULL_FIRST | yamlkit._RESOLVED_FIRST
    assert not yamlkit._BOOL_OR_NULL_FIRST & yamlkit._RESOLVED_FIRST
    for first in yamlkit._BOOL_OR_NULL_FIRST:
        assert {tag for tag, _ in implicit[first]} <= {yamlkit._TAG + "bool",
                                                       yamlkit._TAG + "null"}
    assert set(yamlkit._BOOLS) == {
        spelled for word in yaml.constructor.SafeConstructor.bool_values
        for spelled in (word, word.capitalize(), word.upper())}
    assert all(yamlkit._BOOLS[w] is yaml.constructor.SafeConstructor.bool_values[w.lower()]
               for w in yamlkit._BOOLS)


def test_reading_a_kubeconfig_or_a_state_imports_no_pyyaml() -> None:
    """Importing yamlkit and reading kubectl's kubeconfig layout, JSON, or a state whose
    scalars start with no digit leaves PyYAML unimported (it costs ~5 ms); a number is read by
    PyYAML's resolver, imported then (``--region`` starts as ``-1`` does)."""
    import subprocess
    import sys

    static = KUBECTL.split("- name: eks")[0]  # the users without the exec plugin's args
    code = (
        "import sys\n"
        "from lbctl.core import yamlkit\n"
        f"assert yamlkit.vet({static!r}, 'k') is not None\n"
        "assert yamlkit.vet('{\"a\": [true, null, \"b\"]}', 'j') is not None\n"
        "assert yamlkit.load('a: {b: [c, yes]}\\n', 's') == {'a': {'b': ['c', True]}}\n"
        "print('yaml' in sys.modules)\n"
        "assert yamlkit.load('a: 1\\n', 's') == {'a': 1}\n"
        "print('yaml' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["False", "True"]


def test_vet_reads_quickly_or_vets_with_the_event_reader() -> None:
    document = yamlkit.vet(KUBECTL, "k")
    assert document is not None and document.data == yaml.safe_load(KUBECTL)
    assert yamlkit.vet("a: 1 # a comment\n", "k") is None  # vetted, left to the loader
    for refused in ("a: &x [1]\nb: *x\nc: *x\n" + "d: 1\n" * 3, "a: 1\na: 2\n", "a: [\n"):
        with pytest.raises(YAMLInputError) as caught:
            yamlkit.vet(refused, "k")
        with pytest.raises(YAMLInputError) as expected:
            yamlkit.load_all(refused, "k")
        assert caught.value.message == expected.value.message
    with pytest.raises(YAMLInputError, match="more than lbctl reads"):
        yamlkit.vet("a: b\n" * (yamlkit.MAX_CHARS // 5 + 1), "k")  # the size comes first


#: What goes in a kubeconfig: names, URLs, base64, paths, booleans, and the odd ones.
KUBE_WORDS = st.sampled_from([
    "default", "kubernetes-admin@kubernetes", "arn:aws:eks:eu-west-1:123456789012:cluster/x",
    "gke_proj_europe-west1-b_c", "https://127.0.0.1:6443", "https://[fd00::1]:6443/",
    "http://u:p%40ss@proxy:3128", "LS0tLS1CRUdJTi==", "/etc/kubernetes/pki/ca.crt",
    "~/.kube/token", "C:\\Users\\me\\ca.crt", "--region", "-", "true", "yes", "null", "~", "",
    "1.27", "10.0.0.1", "0x1F", "2001:db8::1", "a b", "it's", 'say "hi"', "#x", "a #x", "a: b",
    "{}", "[a]", "a,b", "&a", "*a", "!a", "%a", "@a", "`a", "=", "<<", " lead", "trail ",
    "é", "a\tb", "x\ny",
]) | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=10)
KUBE_SCALARS = KUBE_WORDS | st.booleans() | st.none() | st.integers(-5, 70000)
KUBE_SECTION = st.dictionaries(KUBE_WORDS, KUBE_SCALARS | st.lists(KUBE_WORDS, max_size=3)
                               | st.dictionaries(KUBE_WORDS, KUBE_SCALARS, max_size=2),
                               max_size=5)


def named(kind: str) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(st.fixed_dictionaries({"name": KUBE_WORDS, kind: KUBE_SECTION}),
                    max_size=3)


KUBECONFIGS = st.fixed_dictionaries(
    {"apiVersion": st.just("v1"), "kind": st.just("Config"), "clusters": named("cluster"),
     "users": named("user"), "contexts": named("context"), "current-context": KUBE_WORDS,
     "preferences": st.just({})})


def kubectl_layout(document: Any) -> str:
    """``document`` as kubectl writes a kubeconfig: block style, sequences at their key's
    column, sorted keys, long lines never folded."""
    return yaml.safe_dump(document, default_flow_style=False, sort_keys=True, width=1 << 20)


@settings(max_examples=400, deadline=None)
@given(KUBECONFIGS)
def test_generated_kubeconfigs_read_as_the_event_reader_and_pyyaml(
        document: dict[str, Any]) -> None:
    text = kubectl_layout(document)
    quick = yamlkit._quick(text)
    if quick is yamlkit._UNSURE:
        return
    assert typed(quick) == read_or_refused(text) == pyyaml_reads(text), text
    assert quick == document


def test_generated_kubeconfigs_are_mostly_read_quickly() -> None:
    """The layout is the point: kubeconfigs of kubectl's usual words are read quickly."""
    usual = st.sampled_from(["default", "kubernetes-admin@kubernetes", "https://10.0.0.1:6443",
                             "arn:aws:eks:eu-west-1:1:cluster/x", "LS0tLS1CRUdJTi==", "true",
                             "web", "/etc/k/ca.crt", "--region"])
    section = st.dictionaries(usual, usual | st.booleans() | st.lists(usual, max_size=2),
                              max_size=4)
    configs = st.fixed_dictionaries({
        kind + "s": st.lists(st.fixed_dictionaries({"name": usual, kind: section}), max_size=3)
        for kind in ("cluster", "user", "context")})
    read = 0

    @settings(max_examples=200, deadline=None)
    @given(configs)
    def check(document: dict[str, Any]) -> None:
        nonlocal read
        text = kubectl_layout(document)
        if agrees(text):
            read += 1

    check()
    assert read == 200


#: Every construct of KUBECTL, in few characters (each is edited 35 ways).
SMALL_KUBECONFIG = """\
clusters:
- cluster:
    server: https://[::1]:6443
    x: true
  name: a@b
users:
  - name: u
    user: {}
    exec:
      args:
      - --r
      env: null
c: "d"
"""


@pytest.mark.parametrize("source", [SMALL_KUBECONFIG,
                                    '{\n  "a": [{"b": "c:d"}, true],\n  "e": null\n}\n'],
                         ids=["kubectl-layout", "json"])
def test_every_edit_of_a_kubeconfig_reads_the_same_or_is_left_alone(source: str) -> None:
    """Delete, replace or insert one character anywhere in a small kubeconfig, in kubectl's
    layout or in JSON: the quick reader reads the result as the event reader and
    ``yaml.safe_load`` do, or leaves it to them."""
    read = refused = 0
    for at in range(len(source) + 1):
        edits = [source[:at] + c + source[at:] for c in EDITS + ['"', "@", "\\", "0"]]
        if at < len(source):
            edits.append(source[:at] + source[at + 1:])
            edits.extend(source[:at] + c + source[at + 1:] for c in EDITS + ['"', "@", "\\"]
                         if c != source[at])
        for text in edits:
            quick = yamlkit._quick(text)
            expected = read_or_refused(text)
            if expected == "refused":
                assert quick is yamlkit._UNSURE, text
                refused += 1
            elif quick is not yamlkit._UNSURE:
                assert typed(quick) == expected == pyyaml_reads(text), text
                read += 1
    assert read > 300 and refused > 100


JSON_VALUES = st.recursive(
    KUBE_WORDS | st.booleans() | st.none() | st.integers(-5, 5) | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KUBE_WORDS, inner, max_size=3),
    max_leaves=15)


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES, st.sampled_from([None, 0, 2, 4]),
       st.sampled_from([(", ", ": "), (",", ":"), (",", ": ")]), st.booleans())
def test_generated_json_reads_as_the_event_reader_and_pyyaml(
        document: Any, indent: int | None, separators: tuple[str, str], ascii: bool) -> None:
    import json

    text = json.dumps(document, indent=indent, separators=separators, ensure_ascii=ascii)
    quick = yamlkit._quick(text)
    if quick is yamlkit._UNSURE:
        return
    assert typed(quick) == read_or_refused(text) == pyyaml_reads(text), text
    assert quick == document


def _python_3_10() -> str | None:
    """A Python 3.10 that runs on this machine (pyenv's, or on PATH), or None."""
    import os
    import shutil
    import subprocess
    from pathlib import Path

    versions = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    for python in [*map(str, sorted(versions.glob("3.10*/bin/python3.10"))),
                   shutil.which("python3.10")]:
        if python and subprocess.run(
                [python, "-c", "import sys; assert sys.version_info[:2] == (3, 10)"],
                capture_output=True, check=False).returncode == 0:
            return python
    return None


def test_the_quick_reader_reads_on_python_3_10() -> None:
    """lbctl supports Python 3.10 (README), whose re has no atomic groups nor possessive
    quantifiers: the quick reader reads a kubeconfig in kubectl's layout, JSON and a state
    there too (it raised re.error: every command reading a state or a kubeconfig failed)."""
    import json
    import os
    import subprocess
    from pathlib import Path

    python = _python_3_10()
    if python is None:
        pytest.skip("no Python 3.10 on this machine")
    root = Path(__file__).resolve().parents[2]
    static = KUBECTL.split("- name: eks")[0]  # (PyYAML is not needed: 3.10 may lack it)
    texts = [static, '{"a": [true, null, "b"]}', "a: {b: [c, yes]}\nd:\n- e: f\n"]
    code = ("import json, sys\nfrom lbctl.core import yamlkit\n"
            f"print(json.dumps([yamlkit._quick(t) for t in {texts!r}]))\n")
    done = subprocess.run([python, "-I", "-c", f"import sys; sys.path.insert(0, {str(root)!r})"
                           f"\n{code}"], capture_output=True, text=True, check=False,
                          cwd=root, env={"PATH": os.environ.get("PATH", "")})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [yaml.safe_load(text) for text in texts]


@pytest.mark.parametrize("source", [SMALL_KUBECONFIG, STATE,
                                    '{\n  "a": [{"b": "c:d"}, true],\n  "e": null\n}\n'],
                         ids=["kubectl-layout", "state", "json"])
def test_the_patterns_read_the_same_without_possessive_quantifiers(
        source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The form of the patterns Python 3.10 reads (no atomic group, no possessive quantifier)
    reads every edit of one character of a kubeconfig, a state and JSON as the 3.11 form."""
    read = 0
    for at in range(len(source) + 1):
        edits = [source[:at] + c + source[at:] for c in EDITS + ['"', "@", "\\", "0"]]
        if at < len(source):
            edits.append(source[:at] + source[at + 1:])
        for text in edits:
            monkeypatch.setattr(yamlkit, "_POSSESSIVE", True)
            possessive = yamlkit._quick(text)
            monkeypatch.setattr(yamlkit, "_POSSESSIVE", False)
            plain = yamlkit._quick(text)
            assert (plain is yamlkit._UNSURE) == (possessive is yamlkit._UNSURE), text
            if plain is not yamlkit._UNSURE:
                assert typed(plain) == typed(possessive), text
                read += 1
    assert read > 100
