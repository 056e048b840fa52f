"""The one YAML reader: it reads what ``yaml.safe_load`` reads, refuses what lbctl must not
guess at (with line and column), and stays bounded on hostile input."""

from __future__ import annotations

import time

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lbctl.core import yamlkit
from lbctl.core.yamlkit import YAMLInputError, load, load_all
from lbctl.errors import ExitCode
from tests.core.test_state import PLAIN, REFERENCE_LOADER


def _repeats_a_key(text: str) -> bool:
    """Whether a mapping of ``text`` has two keys the loader reads as one (it keeps the last
    value silently; lbctl refuses)."""
    constructor = yaml.constructor.SafeConstructor()
    todo = list(yaml.compose_all(text, Loader=REFERENCE_LOADER))
    while todo:
        node = todo.pop()
        if isinstance(node, yaml.MappingNode):
            keys = [constructor.construct_object(key) for key, _ in node.value]
            if len(set(keys)) < len(keys):
                return True
            todo.extend(value for _, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)
    return False


# PyYAML's dumper writes the key '\x85' (NEL) quoted but as a raw line break, which reads
# back folded as ' ': the text then holds the key ' ' twice, and the reader must refuse it.
@example({" ": 2, "\x85": 1}, None)
@example([{"\x85": 0, " ": 1}], False)
@settings(max_examples=150, deadline=None)
@given(PLAIN, st.sampled_from([None, True, False]))
def test_reading_gives_what_the_loader_gives(document: object, flow: bool | None) -> None:
    text = yaml.safe_dump(document, default_flow_style=flow, allow_unicode=True)
    if _repeats_a_key(text):
        with pytest.raises(YAMLInputError, match="is given twice in one mapping"):
            load(text, "t")
    else:
        assert load(text, "t") == yaml.load(text, Loader=REFERENCE_LOADER)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a: &x [1, 2]\nb: *x\n", id="anchor-alias"),
        pytest.param("base: &b {x: 1}\nderived: {<<: *b, y: 2}\n", id="merge-key"),
        pytest.param("a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc: {<<: [*a, *b], z: 3}\n",
                     id="merge-list-first-wins"),
        pytest.param("a: !!str 10\nb: ! 10\nc: !!int '7'\nd: !!map {x: 1}\n", id="plain-tags"),
        pytest.param("a: 2001-12-14\nb: 2001-12-14 21:59:43.10 -5\nc: ~\nd:\n~: e\n",
                     id="timestamps-and-nulls"),
        pytest.param("", id="empty"),
        pytest.param("--- plain\n", id="scalar-document"),
        pytest.param("a: é\nb: [x, ü]\n\"c\": 💩 z\n", id="unicode"),
    ],
)
def test_ordinary_yaml_reads_as_the_loader_reads_it(text: str) -> None:
    assert load(text, "t") == yaml.load(text, Loader=REFERENCE_LOADER)


def test_an_alias_is_a_copy() -> None:
    """Changing one place of the data never changes another (the data is mutated by callers
    that fill in defaults)."""
    data = load("a: &x {k: [1]}\nb: *x\n", "t")
    data["a"]["k"].append(2)
    assert data["b"] == {"k": [1]}


def test_several_documents() -> None:
    documents = load_all("a: 1\n---\n---\n- x\n", "t")
    assert [(d.data, d.line) for d in documents] == [({"a": 1}, 1), (None, 3), (["x"], 4)]


BOMB = "".join(f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join(
    [f"*{chr(96 + i)}"] * 9 if i else ['"lol"'] * 9) + "]\n" for i in range(9))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("a: [1, 2\n", "f:2:1: not valid YAML: did not find expected ',' or ']'",
                     id="broken"),
        pytest.param("a: 1\n  b: 2\n", "f:2:4: not valid YAML: mapping values are not allowed "
                     "in this context", id="indentation"),
        pytest.param("a: \x00\n", "f:1:4: not valid YAML: character 0x0000 is not allowed",
                     id="nul"),
        pytest.param("a: \ud800\n", "f:1:4: not valid YAML: a lone surrogate character",
                     id="surrogate"),
        pytest.param("a: 1\na: 2\n", "f:2:1: the key 'a' is given twice in one mapping (also at "
                     "line 1, column 1)", id="duplicate"),
        pytest.param("1: a\n'1': b\n", "f:2:1: the key '1' is given twice in one mapping (also "
                     "at line 1, column 1)", id="int-and-text"),
        pytest.param("null: a\n'None': b\n", "f:2:1: the key 'None' is given twice in one "
                     "mapping (also at line 1, column 1)", id="null-and-None"),
        pytest.param("yes: a\ntrue: b\n", "f:2:1: the key 'True' is given twice in one mapping "
                     "(also at line 1, column 1)", id="yes-and-true"),
        pytest.param("1: a\n1.0: b\n", "f:2:1: the key '1.0' is given twice in one mapping "
                     "(also at line 1, column 1)", id="int-and-float"),
        pytest.param("x: {<<: {a: 1}, <<: {b: 2}}\n", "f:1:17: the key '<<' is given twice in "
                     "one mapping (also at line 1, column 5)", id="two-merge-keys"),
        pytest.param("a: !!binary aGk=\n", "f:1:4: the tag !!binary is not read by lbctl; "
                     "write plain YAML", id="binary"),
        pytest.param("a: !!set {x, y}\n", "f:1:4: the tag !!set is not read by lbctl; write "
                     "plain YAML", id="set"),
        pytest.param("a: !!omap [x: 1]\n", "f:1:4: the tag !!omap is not read by lbctl; write "
                     "plain YAML", id="omap"),
        pytest.param("a: !!python/object:os.system x\n", "f:1:4: the tag "
                     "!!python/object:os.system is not read by lbctl; write plain YAML",
                     id="python"),
        pytest.param("a: !Ref x\n", "f:1:4: the tag !Ref is not read by lbctl; write plain "
                     "YAML", id="custom-tag"),
        pytest.param("? [a, b]\n: c\n", "f:1:3: a mapping key that is a collection is not read "
                     "by lbctl", id="complex-key"),
        pytest.param("a: =\n", "f:1:4: a plain = is not read by lbctl; quote it", id="value"),
        pytest.param("x: " + "9" * 5000 + "\n", "f:1:4: '9999999999999999999999999999999999999"
                     "...' cannot be read as an integer: Exceeds the limit (4300 digits) for "
                     "integer string conversion: value has 5000 digits", id="long-integer"),
        pytest.param("d: 2024-13-45\n", "f:1:4: '2024-13-45' cannot be read as a timestamp: "
                     "month must be in 1..12", id="bad-date"),
        pytest.param("a: {<<: [1]}\n", "f:1:5: a merge key << must name a mapping or a list of "
                     "mappings", id="merge-scalar"),
        pytest.param("&a [*a]\n", "f:1:5: the alias *a refers to the collection that holds it",
                     id="recursive"),
        pytest.param("a: *nope\n", "f:1:4: the alias *nope refers to no anchor before it",
                     id="undefined-alias"),
        pytest.param(BOMB, "f:6:8: aliases expand to more than 100000 nodes (an alias bomb?)",
                     id="alias-bomb"),
        pytest.param("a: " + "[" * 101 + "]" * 101 + "\n", "f:1:103: collections nested more "
                     "than 100 deep", id="deep-flow"),
        pytest.param("".join(" " * i + "k:\n" for i in range(150)), "f:101:101: collections "
                     "nested more than 100 deep", id="deep-block"),
        pytest.param("[" * 100_000 + "]" * 100_000, "f:1:1001: not valid YAML: exceeded "
                     "maximum nesting depth", id="very-deep"),
    ],
)
def test_refused_with_line_and_column(text: str, message: str) -> None:
    started = time.monotonic()
    with pytest.raises(YAMLInputError) as caught:
        load_all(text, "f")
    assert time.monotonic() - started < 2
    assert caught.value.message == message
    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.hint == "fix the file; lbctl changed nothing"


def test_too_long_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlkit, "MAX_CHARS", 10)
    with pytest.raises(YAMLInputError, match=r"^f:1:1: 11 characters is more than lbctl reads "
                                             r"\(10\)$"):
        load("a: 1234567\n", "f")


def test_one_document_is_expected() -> None:
    with pytest.raises(YAMLInputError, match=r"^f:3:1: a second document; one is expected"):
        load("a: 1\n---\nb: 2\n", "f", hint="h")


def test_positions_count_characters_and_the_byte_order_mark() -> None:
    text = "\ufeffa: é\nb:\n  c: 'x'\n"
    node = load_all(text, "t", nodes=True)[0].node
    found = yamlkit.entry(yamlkit.entry(node, "b")[1], "c")  # type: ignore[index]
    assert found is not None
    value = found[1]
    assert text[value.start_mark.index:value.end_mark.index] == "'x'"
    assert (value.start_mark.line, value.start_mark.column, value.style) == (2, 5, "'")


def test_a_plain_scalar_has_no_style() -> None:
    node = load_all("a: b\n", "t", nodes=True)[0].node
    assert [(k.style, v.style) for k, v in node.value] == [(None, None)]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "parts", "newline"),
    [
        ("a\nb", [("a", "\n"), ("b", "")], "\n"),
        ("a\r\nb\r\n", [("a", "\r\n"), ("b", "\r\n")], "\r\n"),
        ("a\rb\x85c\u2028", [("a", "\r"), ("b", "\x85"), ("c", "\u2028")], "\r"),
        ("", [], "\n"),
    ],
)
def test_lines_keep_their_breaks(text: str, parts: list[tuple[str, str]], newline: str) -> None:
    assert yamlkit.lines(text) == parts
    assert yamlkit.join(parts) == text
    assert yamlkit.newline(text) == newline


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("192.0.2.10", "192.0.2.10"),
        ("192.0.2.10,2001:db8::1", "192.0.2.10,2001:db8::1"),
        ("2001:db8::", '"2001:db8::"'),
        ("1:2:3:4:5:6:7:8", '"1:2:3:4:5:6:7:8"'),
        ("true", '"true"'),
        ("a: b", '"a: b"'),
        ('say "hi"', 'say "hi"'),
        ('#"x"', '"#\\"x\\""'),
    ],
)
def test_plain_or_quoted_reads_back_as_itself(value: str, written: str) -> None:
    assert yamlkit.plain_or_quoted(value) == written
    assert load(f"k: {written}\n", "t") == {"k": value}


@pytest.mark.parametrize(("text", "expected", "reads"), [
    ("a: 1\n---\nb: 2\n", [{"a": 1}, {"b": 2}], True),
    ("a: 1\n", [{"a": 2}], False),
    ("a: [1\n", [{"a": [1]}], False),  # does not read at all
    ("a: 1\na: 1\n", [{"a": 1}], False),  # reads only with a key twice: refused
])
def test_reads_as_is_the_proof_of_an_edit(text: str, expected: list[object], reads: bool) -> None:
    assert yamlkit.reads_as(text, "t", expected) is reads


def test_reads_as_can_read_a_block_scalar_as_yaml() -> None:
    def inner(documents: list[object]) -> None:
        documents[0]["data"] = load(documents[0]["data"], "t")  # type: ignore[index]
    assert yamlkit.reads_as("data: |\n  x: 1\n", "t", [{"data": {"x": 1}}], inner)
    assert not yamlkit.reads_as("data: |\n  x: [\n", "t", [{"data": {"x": 1}}], inner)


@pytest.mark.parametrize(("text", "empty", "one_line"), [
    ("k:\n", True, True),
    ("k: ''\n", False, True),
    ("k: v\n", False, True),
    ("k: |\n  v\n", False, False),
    ("k: 'a\n  b'\n", False, False),
])
def test_the_scalars_an_edit_may_replace(text: str, empty: bool, one_line: bool) -> None:
    node = load_all(text, "t", nodes=True)[0].node
    value = yamlkit.entry(node, "k")[1]  # type: ignore[index]
    assert (yamlkit.is_empty(value), yamlkit.one_line(value)) == (empty, one_line)


@pytest.mark.parametrize("value", ["2023-02-30", "2023-13-01", "2023-01-01 25:00:00"])
def test_a_kubeconfig_value_that_cannot_be_read_is_refused_without_being_shown(
    value: str
) -> None:
    """A kubeconfig's values may be credentials (a token that looks like a date): the vetting
    refusal says where and why, never what; other inputs (the state) still quote the value."""
    text = f"users:\n- name: u\n  user:\n    token: {value}\n"
    with pytest.raises(YAMLInputError) as refused:
        yamlkit.vet(text, "kc")
    assert value not in str(refused.value) and value not in (refused.value.hint or "")
    assert (refused.value.line, refused.value.column) == (4, 12)
    assert "cannot be read as a timestamp" in refused.value.problem
    with pytest.raises(YAMLInputError, match=f"'{value}' cannot be read as a timestamp"):
        load_all(text, "state")
