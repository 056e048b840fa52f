"""The YAML toolkit: one way to read YAML, for every input lbctl parses, and the pieces of a
minimal text edit.

Reading (:func:`load_all`, :func:`load`) is the only YAML reading path of lbctl: the state
document, ``-f`` manifests, kube-proxy configurations, import files and doctor's files all go
through it, so a hostile or broken input fails the same way everywhere.  It drives libyaml's
event parser (PyYAML's pure-Python one when libyaml is missing) and builds the data itself,
without recursion, under limits:

* a size limit (:data:`MAX_CHARS`), checked before parsing;
* a depth limit (:data:`MAX_DEPTH` nested collections), so nothing later recurses too deep;
* an alias-expansion limit (:data:`MAX_ALIASED` nodes that aliases may add in all): a
  "billion laughs" document of a few hundred bytes is refused, not expanded.  An alias is
  expanded into a copy, so no two places of the data share an object;
* keys that read the same are refused: ``1`` and ``'1'``, ``null`` and ``'None'``, ``yes`` and
  ``true`` would silently keep one value of two;
* only the plain data tags are read (null, bool, int, float, str, timestamp, sequences,
  mappings, merge keys): ``!!binary``, ``!!set``, ``!!python/...``, ``!custom`` and complex keys
  are refused rather than turned into something else; a scalar that cannot be read as its type
  (an integer of 5,000 digits, the 13th month) is refused too.

:func:`load` and :func:`vet` first try a line reader for the layouts lbctl itself (the state
document) and kubectl (a kubeconfig) write, and for plain JSON: faster, and without importing
PyYAML unless a scalar may be a number or a timestamp, it returns exactly what the event reader
(and ``yaml.safe_load``) would and leaves anything else, errors included, to it.

Every refusal is a :class:`YAMLInputError` (a :class:`~lbctl.errors.UsageError`, exit 2) whose
message is ``SOURCE:LINE:COLUMN: what``, the one position format of lbctl; callers that need
another class (the state: exit 4) re-raise it.  Scalars mean what ``yaml.safe_load`` says they
mean.  With ``nodes=True`` the reader also returns PyYAML nodes with exact positions
(``start_mark``/``end_mark``: index, line, column) for the text editors.

Editing pieces: :func:`lines` and :func:`join` split and re-join text on YAML's line breaks
keeping each break, :func:`newline` is the break a text uses, :func:`entry` finds a key in a
mapping node, :func:`plain_or_quoted` writes a string as a scalar that reads back as itself,
and :func:`reads_as` is the proof: each editor (:mod:`lbctl.core.manifests`,
:mod:`lbctl.core.kubeproxy`) computes its edit on the text, applies it, and refuses it unless
the result reads as the original documents with exactly the one value set.

Pure: text in, data out; no I/O.
"""

from __future__ import annotations

import copy
import functools
import gc
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lbctl.errors import UsageError

if TYPE_CHECKING:
    from yaml.nodes import Node

#: The longest text read, in characters (the ``-f`` readers bound their bytes the same way).
MAX_CHARS = 32 * 1024 * 1024
#: The deepest nesting of collections read (Kubernetes objects nest about 20 deep).
MAX_DEPTH = 100
#: How many nodes aliases may add to a stream, in all.
MAX_ALIASED = 100_000

_TAG = "tag:yaml.org,2002:"
STR = _TAG + "str"
_MERGE_TAG = _TAG + "merge"
_SCALARS = {_TAG + kind for kind in ("null", "bool", "int", "float", "timestamp")}
_MAP_TAGS = {None, "!", _TAG + "map"}
_SEQ_TAGS = {None, "!", _TAG + "seq"}
_KIND = {_TAG + "null": "null", _TAG + "bool": "a boolean", _TAG + "int": "an integer",
         _TAG + "float": "a number", _TAG + "timestamp": "a timestamp"}
_NO_KEY = object()
_MERGE = object()

_BREAK = r"\r\n|\r|\n|\x85|\u2028|\u2029"  # what YAML counts as a line break
Line = tuple[str, str]  # (content, line break) -- the break is "" on a last line without one


class YAMLInputError(UsageError):
    """YAML that lbctl does not read: ``SOURCE:LINE:COLUMN: problem`` (1-based)."""

    def __init__(self, source: str, line: int, column: int, problem: str,
                 hint: str | None = None) -> None:
        super().__init__(f"{source}:{line}:{column}: {problem}",
                         hint=hint or "fix the file; lbctl changed nothing")
        self.source = source
        self.line = line
        self.column = column
        self.problem = problem


@dataclass(frozen=True)
class Document:
    """One document of a stream: its data, its node (with ``nodes=True``; None for an empty
    document) and the 1-based line where its content starts (its ``---`` when empty)."""

    data: Any
    node: Node | None
    line: int


class _Refused(Exception):
    def __init__(self, mark: Any, problem: str, secret: str | None = None) -> None:
        super().__init__(problem)
        self.mark = mark
        self.problem = problem
        #: The problem said without the input's text, for inputs whose values may be secrets.
        self.secret = secret


class _Open:
    """A collection being read."""

    __slots__ = ("data", "node", "anchor", "mark", "key", "key_node", "key_mark", "size",
                 "merges", "keys")

    def __init__(self, data: Any, node: Node | None, anchor: str | None, mark: Any) -> None:
        self.data = data
        self.node = node
        self.anchor = anchor
        self.mark = mark
        self.key: Any = _NO_KEY
        self.key_node: Node | None = None
        self.key_mark: Any = None
        self.size = 1
        self.merges: list[tuple[Any, Any]] = []
        self.keys: dict[str, Any] = {}  # each key as text -> where it was


def load_all(text: str, source: str, *, nodes: bool = False, hint: str | None = None,
             secrets: bool = False) -> list[Document]:
    """Every document of ``text`` (``---``-separated), read under the limits above.
    ``secrets``: its values may be credentials (a kubeconfig), so no refusal quotes one."""
    if len(text) > MAX_CHARS:
        raise YAMLInputError(source, 1, 1, f"{len(text)} characters is more than lbctl reads "
                             f"({MAX_CHARS})", hint=hint)
    import yaml

    bom = 1 if text.startswith("\ufeff") else 0
    try:
        return _read(text[bom:], nodes, bom)
    except _Refused as exc:
        problem = exc.secret if secrets and exc.secret is not None else exc.problem
        raise YAMLInputError(source, exc.mark.line + 1, exc.mark.column + 1, problem,
                             hint=hint) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = f"not valid YAML: {exc.problem or exc.context}"
        raise YAMLInputError(source, line, column, problem, hint=hint) from None
    except yaml.reader.ReaderError as exc:
        line, column = _position(text, exc.position)
        raise YAMLInputError(source, line, column,
                             f"not valid YAML: character {_code(exc.character):#06x} is not "
                             "allowed", hint=hint) from None
    except yaml.YAMLError as exc:
        raise YAMLInputError(source, 1, 1, f"not valid YAML: {_first_line(exc)}",
                             hint=hint) from None
    except UnicodeEncodeError as exc:  # a lone surrogate (from a JSON "\ud800" escape)
        line, column = _position(text, exc.start)
        raise YAMLInputError(source, line, column, "not valid YAML: a lone surrogate "
                             "character", hint=hint) from None


def vet(text: str, source: str, *, hint: str | None = None) -> Document | None:
    """Refuse ``text`` as :func:`load_all` does, reading it once if that can be done quickly:
    its one document when the quick reader read it (its data is then what ``yaml.safe_load``
    returns for ``text``: a loader need not read it again), else None once the event reader has
    found nothing to refuse.  For inputs another loader reads (a kubeconfig: its values may
    be credentials, so no refusal quotes one)."""
    if len(text) <= MAX_CHARS:
        quick = _quick(text)
        if quick is not _UNSURE:
            return Document(quick, None, 1)
    load_all(text, source, hint=hint, secrets=True)
    return None


def load(text: str, source: str, *, hint: str | None = None) -> Any:
    """The one document of ``text`` (None when there is none).  Text in the block-and-flow
    layout lbctl writes (the state document) is read by :func:`_quick` first."""
    if len(text) <= MAX_CHARS:
        quick = _quick(text)
        if quick is not _UNSURE:
            return quick
    documents = load_all(text, source, hint=hint)
    if len(documents) > 1:
        raise YAMLInputError(source, documents[1].line, 1,
                             "a second document; one is expected here", hint=hint)
    return documents[0].data if documents else None


# --------------------------------------------------------------------------- the quick reader
#
# Two layouts are read without the event reader (and without importing PyYAML when no scalar
# needs its resolver):
#
# * block mappings and block sequences, one node per line, as lbctl writes the state and as
#   kubectl (``kubectl config view --raw``), k3s (k3s.yaml) and kubeadm (admin.conf) write a
#   kubeconfig: keys at one column per mapping, ``- `` items at their parent key's column or
#   further right, values on the key's line as flow collections or one-line scalars (plain,
#   single-quoted, or double-quoted without a backslash);
# * JSON that YAML reads as JSON does (:func:`_quick_json`): a kubeconfig written by a tool or
#   a test server.
#
# _quick gives up (_UNSURE) at the first thing outside them -- a comment, a blank line, a tab, an
# anchor or alias, a tag, a multi-line or escaped scalar, a key that is not a string, a key
# given twice, a non-ASCII character, a document marker, spacing it does not know -- so that
# the event reader reads it, with its errors and its limits.  Whatever _quick returns is what
# load_all would and what ``yaml.safe_load`` does: a plain scalar is read by the constants
# below when its first character allows only a string, a boolean or null, else by PyYAML's own
# resolver and constructors (tests/core/test_yamlkit_quick.py compares the three readers on
# generated documents and on every edit of one character).

_UNSURE = object()
#: YAML 1.1's booleans as PyYAML reads them (``y`` and ``n`` are strings there).
_BOOLS = {"yes": True, "Yes": True, "YES": True, "no": False, "No": False, "NO": False,
          "true": True, "True": True, "TRUE": True, "false": False, "False": False,
          "FALSE": False, "on": True, "On": True, "ON": True, "off": False, "Off": False,
          "OFF": False}
_NULLS = frozenset({"~", "null", "Null", "NULL"})
#: The first characters of the booleans and nulls: PyYAML's resolver knows nothing else there.
_BOOL_OR_NULL_FIRST = frozenset("yYnNtTfFoO~")
#: The first characters of the plain scalars its resolver may read as a number, a timestamp,
#: a merge or value key, or an alias-like ``!``/``&``/``*``: read by PyYAML itself.
_RESOLVED_FIRST = frozenset("!&*+-.0123456789<=")
#: The first characters of a token that may be something but the text it is.
_NOT_JUST_TEXT = frozenset("'\"") | _BOOL_OR_NULL_FIRST | _RESOLVED_FIRST
#: A plain scalar in a flow collection: starts with a letter, a digit, "_" or "/", then those,
#: ".", "-", "=", "(", ")" or "+", single spaces between words; no YAML indicator anywhere.
_PLAIN_TEXT = r"[A-Za-z0-9_/][A-Za-z0-9_./=()+-]*(?: [A-Za-z0-9_./=()+-]+)*"
#: A plain scalar in block context (a URL, ``admin@cluster``, base64): no indicator first ("-"
#: only before another character), then anything but "#" and a ":" that ends a key, single
#: spaces between words.  PyYAML's and libyaml's scanners read this subset alike.
_BLOCK_PLAIN = (r"(?>(?:[^- ?:,\[\]{}#&*!|>'\"%@`]|-[^ #:])[^ #:]*+(?::++[^ #:]++)*+"
                r"(?: [^ #:]++(?::++[^ #:]++)*+)*+)")  # atomic: it never gives back
_QUOTED_TEXT = r"'(?:[^'\n]|'')*'"
_DOUBLE_QUOTED = r'"[^"\\\n]*"'  # no escape: its text is what is between the quotes
_BLOCK_VALUE = rf"{_QUOTED_TEXT}|{_DOUBLE_QUOTED}|[\[{{].*|{_BLOCK_PLAIN}"
#: One line: its indent, "- " when it is a sequence item, then a value alone (an item only),
#: ``key:`` or ``key: value`` (a flow collection takes the rest of its line: it is no key).
#: Compiled on first use (:func:`_compiled`): compiling costs a JSON reading.
_LINE = rf"( *+)(- )?({_BLOCK_VALUE})(?:(:)(?: ({_BLOCK_VALUE}))?)?"
#: A flow collection's pieces; what is none of them comes out one character at a time.
_FLOW_TOKEN = re.compile(
    rf"[\[\]{{}}]|, |: |{_PLAIN_TEXT}|{_QUOTED_TEXT}|{_DOUBLE_QUOTED}|.")
#: The first characters of the tokens that are scalars, plain or quoted; any other token (a
#: mark such as ", " or ": ", or a character _quick gives up on) is not a node.
_SCALAR_FIRST = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_/'\"")
_ODD = re.compile(r"[^\n\x20-\x7e]")  # a tab, a carriage return, any other control character
#: JSON without escapes, numbers or tabs, each key (of at most 1,000 characters: a YAML key
#: must end within 1,024) followed by its ":" at once; json.loads checks the grammar.
#: Compiled on first use.
_JSON = (r'(?:[ \n]*+(?:"[^"\\\n]{0,1000}+":|"[^"\\\n]*+"|[\[\]{},]|true|false|null))*+'
         r"[ \n]*+")
_MAX_KEY = 1024  # libyaml's limit on an implicit key
_QUICK_DEPTH = 32
#: Whether this Python's re reads atomic groups and possessive quantifiers (3.11 and later).
_POSSESSIVE = sys.version_info >= (3, 11)


def _compiled(pattern: str) -> re.Pattern[str]:
    """``pattern`` (:data:`_LINE`, :data:`_JSON`) compiled (re keeps it).  Its atomic group
    and possessive quantifiers only spare the matcher its backtracking: no match depends on
    them, since no shorter piece can be followed by what its pattern wants next (a word ends
    at " ", ":" or the line's end, a JSON token at its last character).  Python 3.10, which
    lbctl supports, reads neither: there they are plain ones."""
    if not _POSSESSIVE:
        pattern = (pattern.replace("(?>", "(?:").replace("*+", "*").replace("++", "+")
                   .replace("}+", "}"))
    return re.compile(pattern)


class _Twice(Exception):
    """A JSON object gives a key twice (json.loads would keep the last, lbctl refuses)."""


def _quick(text: str) -> Any:
    """The document in ``text`` when it is in a layout above, else :data:`_UNSURE`."""
    if not text or not text.isascii() or _ODD.search(text):
        return _UNSURE
    if text.lstrip(" \n")[:1] in ("{", "["):
        return _quick_json(text)
    if text[-1] != "\n" or text.startswith(("---", "...")) or "\n---" in text or (
            "\n..." in text):  # a document's start or end, maybe
        return _UNSURE
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _quick_block(text.split("\n")[:-1])
    finally:
        if collecting:
            gc.enable()


def _quick_block(lines: list[str]) -> Any:
    root: dict[str, Any] = {}
    opened: list[Any] = [root]  # the open block collections, innermost last
    columns = [0]  # the column of each one's keys or "- "
    pending: tuple[dict[str, Any], str, int] | None = None  # ``key:``, its mapping's column
    match_line, token, flow = _compiled(_LINE).fullmatch, _quick_token, _quick_flow
    for line in lines:
        found = match_line(line)
        if found is None:
            return _UNSURE
        indent, dash, key_text, colon, rest = found.groups()
        column = len(indent)
        if pending is not None:
            mapping, key, at = pending
            pending = None
            if column > at or (dash and column == at):  # the key's value opens here
                if len(opened) >= _QUICK_DEPTH:
                    return _UNSURE
                child: Any = [] if dash else {}
                mapping[key] = child
                opened.append(child)
                columns.append(column)
            # else its value stays null
        while columns[-1] > column:
            del opened[-1], columns[-1]
        if columns[-1] != column:
            return _UNSURE
        target = opened[-1]
        if dash:
            if type(target) is not list:
                return _UNSURE
            if colon is None:  # a scalar or a flow collection
                first = key_text[0]
                value = (flow(key_text, len(opened)) if first == "{" or first == "["
                         else token(key_text))
                if value is _UNSURE:
                    return _UNSURE
                target.append(value)
                continue
            if len(opened) >= _QUICK_DEPTH:
                return _UNSURE
            target = {}  # a mapping, whose keys sit two columns right of the "-"
            opened[-1].append(target)
            opened.append(target)
            column += 2
            columns.append(column)
        elif colon is None:  # a scalar alone on its line
            return _UNSURE
        elif type(target) is list:  # a sequence at its key's column ends at the next key
            del opened[-1], columns[-1]
            target = opened[-1]
            if columns[-1] != column or type(target) is not dict:
                return _UNSURE
        key = token(key_text)
        if type(key) is not str or key in target or len(key_text) > _MAX_KEY:
            return _UNSURE
        if rest is None:
            target[key] = None
            pending = (target, key, column)
            continue
        first = rest[0]
        value = flow(rest, len(opened)) if first == "{" or first == "[" else token(rest)
        if value is _UNSURE:
            return _UNSURE
        target[key] = value
    return root if lines else _UNSURE


def _quick_token(text: str) -> Any:
    """The value of one scalar token (plain or quoted), or :data:`_UNSURE`."""
    first = text[0]
    if first not in _NOT_JUST_TEXT:  # a plain scalar no implicit resolver reads: a string
        return text
    if first == "'":
        if len(text) < 2 or text[-1] != "'":
            return _UNSURE
        return text[1:-1].replace("''", "'")
    if first == '"':
        return text[1:-1] if len(text) >= 2 and text[-1] == '"' else _UNSURE
    if first in _BOOL_OR_NULL_FIRST:
        return None if text in _NULLS else _BOOLS.get(text, text)
    tag = _PLAIN.get(text) or _plain_tag(text)
    if tag == STR:
        return text
    if tag not in _SCALARS:
        return _UNSURE
    kit = _pyyaml()
    try:
        return kit.construct(tag, text)
    except kit.unreadable:
        return _UNSURE


def _quick_flow(text: str, depth: int) -> Any:
    """A flow collection that is the whole of ``text``, or :data:`_UNSURE`."""
    tokens = _FLOW_TOKEN.findall(text)
    value, end = _quick_flow_at(tokens, 0, depth)
    return value if end == len(tokens) else _UNSURE


def _quick_flow_at(tokens: list[str], at: int, depth: int) -> tuple[Any, int]:
    """The flow collection whose opening bracket is ``tokens[at]`` and the index after it."""
    if depth >= _QUICK_DEPTH:
        return _UNSURE, at
    opening = tokens[at]
    at += 1
    closing = "}" if opening == "{" else "]"
    mapping = opening == "{"
    data: Any = {} if mapping else []
    if at < len(tokens) and tokens[at] == closing:
        return data, at + 1
    while at < len(tokens):
        if mapping:
            key_text = tokens[at]
            if key_text[0] not in _SCALAR_FIRST or len(key_text) > _MAX_KEY:
                return _UNSURE, at
            key = _quick_token(key_text)
            if type(key) is not str or key in data or at + 1 >= len(tokens) or (
                    tokens[at + 1] != ": "):
                return _UNSURE, at
            at += 2
        if at >= len(tokens):
            return _UNSURE, at
        item = tokens[at]
        if item == "{" or item == "[":
            value, at = _quick_flow_at(tokens, at, depth + 1)
        elif item[0] not in _SCALAR_FIRST:  # a mark (", " or ": " too), or not a scalar
            return _UNSURE, at
        else:
            value, at = _quick_token(item), at + 1
        if value is _UNSURE:
            return _UNSURE, at
        if mapping:
            data[key] = value
        else:
            data.append(value)
        if at >= len(tokens):
            return _UNSURE, at
        mark = tokens[at]
        if mark == closing:
            return data, at + 1
        if mark != ", ":
            return _UNSURE, at
        at += 1
    return _UNSURE, at


def _quick_json(text: str) -> Any:
    """JSON that YAML reads as JSON does (strings without escapes, ``true``, ``false``,
    ``null``, no numbers: ``1e3`` is a string to YAML 1.1), or :data:`_UNSURE`."""
    if _compiled(_JSON).fullmatch(text) is None:
        return _UNSURE
    import json

    try:
        data = json.loads(text, object_pairs_hook=_json_object)
    except (ValueError, RecursionError, _Twice):
        return _UNSURE
    opened = [(data, 1)]  # no deeper than the block layout
    while opened:
        value, depth = opened.pop()
        if isinstance(value, (dict, list)):
            if depth > _QUICK_DEPTH:
                return _UNSURE
            opened.extend((item, depth + 1)
                          for item in (value.values() if isinstance(value, dict) else value))
    return data


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        raise _Twice
    return data


class _PyYAML:
    """The pieces of PyYAML lbctl reads with, made on first use: importing PyYAML costs more
    than reading a kubeconfig, and the quick reader mostly needs none of it."""

    def __init__(self) -> None:
        import yaml

        self.loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml if there
        self.scalar_node = yaml.ScalarNode
        self.resolve: Callable[[Any, str, tuple[bool, bool]], str] = (
            yaml.resolver.Resolver().resolve)
        self.constructor = yaml.constructor.SafeConstructor()
        #: What a constructor raises for a scalar it cannot read as its type.
        self.unreadable = (ValueError, OverflowError, yaml.constructor.ConstructorError)

    def tag(self, value: str, implicit: tuple[bool, bool]) -> str:
        return self.resolve(self.scalar_node, value, implicit)

    def construct(self, tag: str, value: str) -> Any:
        constructor = self.constructor
        return constructor.yaml_constructors[tag](constructor, self.scalar_node(tag, value))


@functools.cache
def _pyyaml() -> _PyYAML:
    return _PyYAML()


def _plain_tag(value: str) -> str:
    """The tag PyYAML's resolver gives the plain scalar ``value`` (remembered: plain scalars
    repeat -- v1, Service, TCP, true)."""
    tag = _PLAIN.get(value)
    if tag is None:
        if len(_PLAIN) > 4096:
            _PLAIN.clear()
        tag = _PLAIN[value] = _pyyaml().tag(value, (True, False))
    return tag


def _position(text: str, index: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _code(character: str | int) -> int:
    return character if isinstance(character, int) else ord(character)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _read(text: str, nodes: bool, shift: int) -> list[Document]:
    mark_of = _shifted if shift else _same
    parser = _pyyaml().loader(text)
    # The reader makes millions of small objects and frees none: the cyclic collector would
    # scan them again and again (5x the time of a large read), for nothing to collect.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _events(parser, nodes, mark_of)
    finally:
        parser.dispose()
        if collecting:
            gc.enable()


def _events(parser: Any, nodes: bool, mark_of: Callable[[Any], Any]) -> list[Document]:
    import yaml
    from yaml.nodes import MappingNode, ScalarNode, SequenceNode

    documents: list[Document] = []
    stack: list[_Open] = []
    anchors: dict[str, tuple[Any, Node | None, int]] = {}
    aliased = 0
    root: Any = None
    root_node: Node | None = None
    start_line = 1
    # Looked up once: this loop runs once per event (tens of thousands for a large state).
    next_event, plain_tag, scalar_event = parser.get_event, _PLAIN.get, yaml.ScalarEvent
    while True:
        event = next_event()
        kind = type(event)
        if kind is yaml.StreamEndEvent or event is None:
            return documents
        node: Node | None = None
        if kind is scalar_event:
            if event.tag is None and event.implicit[0] and plain_tag(event.value) == STR:
                value = event.value  # a plain string seen before: what _scalar would say
            else:
                value = _scalar(event, key=bool(stack) and stack[-1].key is _NO_KEY
                                and isinstance(stack[-1].data, dict))
            if nodes:
                node = ScalarNode(_scalar_tag(event), event.value, mark_of(event.start_mark),
                                  mark_of(event.end_mark), style=event.style or None)
            size, anchor, mark = 1, event.anchor, event.start_mark
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            mapping = kind is yaml.MappingStartEvent
            if event.tag not in (_MAP_TAGS if mapping else _SEQ_TAGS):
                raise _Refused(event.start_mark, f"the tag {_short(event.tag)} is not read by "
                               "lbctl; write plain YAML")
            if len(stack) >= MAX_DEPTH:
                raise _Refused(event.start_mark, f"collections nested more than {MAX_DEPTH} "
                               "deep")
            if nodes:
                cls = MappingNode if mapping else SequenceNode
                node = cls(_TAG + ("map" if mapping else "seq"), [], mark_of(event.start_mark),
                           None, flow_style=event.flow_style)
            stack.append(_Open({} if mapping else [], node, event.anchor, event.start_mark))
            continue
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            done = stack.pop()
            if done.merges:
                _merge(done)
            value, node, size = done.data, done.node, done.size
            anchor, mark = done.anchor, done.mark
            if node is not None:
                node.end_mark = mark_of(event.end_mark)
        elif kind is yaml.AliasEvent:
            found = anchors.get(event.anchor)
            if found is None:
                recursive = any(o.anchor == event.anchor for o in stack)
                raise _Refused(event.start_mark, f"the alias *{event.anchor} refers to "
                               + ("the collection that holds it" if recursive else
                                  "no anchor before it"))
            value, node, size = found
            aliased += size
            if aliased > MAX_ALIASED:
                raise _Refused(event.start_mark, "aliases expand to more than "
                               f"{MAX_ALIASED} nodes (an alias bomb?)")
            if isinstance(value, (dict, list)):
                value = copy.deepcopy(value)
            anchor, mark = None, event.start_mark
        elif kind is yaml.DocumentStartEvent:
            anchors.clear()
            root, root_node, start_line = None, None, event.start_mark.line + 1
            continue
        elif kind is yaml.DocumentEndEvent:
            documents.append(Document(root, root_node, start_line))
            continue
        else:  # the stream's start and end
            continue
        if anchor is not None:
            anchors[anchor] = (value, node, size)
        if not stack:
            root, root_node, start_line = value, node, mark.line + 1
            continue
        parent = stack[-1]
        parent.size += size
        if isinstance(parent.data, list):
            parent.data.append(value)
            if nodes:
                parent.node.value.append(node)  # type: ignore[union-attr]
        elif parent.key is _NO_KEY:
            _take_key(parent, mark, value, node)
        else:
            if parent.key is _MERGE:
                parent.merges.append((value, parent.key_mark))
            else:
                parent.data[parent.key] = value
            if nodes:
                parent.node.value.append((parent.key_node, node))  # type: ignore[union-attr]
            parent.key = _NO_KEY
    return documents


def _take_key(parent: _Open, mark: Any, key: Any, node: Node | None) -> None:
    if isinstance(key, (dict, list)):
        raise _Refused(mark, "a mapping key that is a collection is not read by lbctl")
    text = "<<" if key is _MERGE else key if isinstance(key, str) else str(key)
    first = parent.keys.get(text)
    if first is None and key is not _MERGE and key in parent.data:  # 1 and 1.0, 1 and true
        equal = next(k for k in parent.data if k == key)
        first = parent.keys[equal if isinstance(equal, str) else str(equal)]
    if first is not None:
        raise _Refused(mark, f"the key {text!r} is given twice in one mapping (also at "
                       f"line {first.line + 1}, column {first.column + 1})")
    parent.keys[text] = mark
    parent.key, parent.key_node, parent.key_mark = key, node, mark


def _merge(done: _Open) -> None:
    """YAML 1.1 merge keys: the explicit keys win, then the merged mappings in order."""
    merged: dict[Any, Any] = {}
    for value, mark in done.merges:
        for source in (value if isinstance(value, list) else [value]):
            if not isinstance(source, dict):
                raise _Refused(mark, "a merge key << must name a mapping or a list of "
                               "mappings")
            for key, item in source.items():
                merged.setdefault(key, item)
    for key, item in merged.items():
        if key not in done.data:
            done.data[key] = item


def _scalar_tag(event: Any) -> str:
    if event.tag is not None and event.tag != "!":
        return str(event.tag)
    if not event.implicit[0]:  # quoted: a string, unless the tag says otherwise
        return _pyyaml().tag(event.value, event.implicit)
    return _plain_tag(event.value)


_PLAIN: dict[str, str] = {}  # see _plain_tag


def _scalar(event: Any, *, key: bool) -> Any:
    """The value of a scalar, as ``yaml.safe_load`` reads it; refused when it has another
    tag or cannot be read as its type."""
    tag = _scalar_tag(event)
    if tag == STR:
        return event.value
    if tag not in _SCALARS:
        if tag == _MERGE_TAG and key:
            return _MERGE
        if tag == _TAG + "value":
            raise _Refused(event.start_mark, "a plain = is not read by lbctl; quote it")
        raise _Refused(event.start_mark, f"the tag {_short(tag)} is not read by lbctl; "
                       "write plain YAML")
    kit = _pyyaml()
    try:
        return kit.construct(tag, event.value)
    except kit.unreadable as exc:
        shown = event.value if len(event.value) <= 40 else event.value[:37] + "..."
        raise _Refused(event.start_mark, f"{shown!r} cannot be read as {_KIND[tag]}: "
                       f"{_first_line(exc).split(';')[0]}",
                       secret=f"this value cannot be read as {_KIND[tag]} (not shown: it may "
                       "be a credential)") from None


def _short(tag: str | None) -> str:
    return "!!" + tag[len(_TAG):] if tag and tag.startswith(_TAG) else str(tag)


def _same(mark: Any) -> Any:
    return mark


def _shifted(mark: Any) -> Any:
    """A mark counted in the text with its byte-order mark (libyaml does not count it)."""
    import yaml

    return yaml.error.Mark(mark.name, mark.index + 1, mark.line, mark.column,
                           None, None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- editing pieces


def lines(text: str) -> list[Line]:
    """Split as YAML does, keeping each line's break so that :func:`join` gives ``text``."""
    out: list[Line] = []
    pos = 0
    for match in re.finditer(_BREAK, text):
        out.append((text[pos:match.start()], match.group()))
        pos = match.end()
    if pos < len(text):
        out.append((text[pos:], ""))
    return out


def join(parts: Iterable[Line]) -> str:
    return "".join(content + brk for content, brk in parts)


def newline(text: str) -> str:
    """The line break ``text`` uses (its first one); ``\\n`` when it has none."""
    found = re.search(_BREAK, text)
    return found.group() if found else "\n"


def entry(mapping: Node | None, key: str) -> tuple[Node, Node] | None:
    """The ``(key, value)`` nodes of ``key`` in a mapping node (the reader refuses duplicate
    keys, so there is at most one); None when absent or not a mapping."""
    from yaml.nodes import MappingNode, ScalarNode

    if not isinstance(mapping, MappingNode):
        return None
    for key_node, value_node in mapping.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return key_node, value_node
    return None


def is_empty(node: Node) -> bool:
    """``key:`` with no value at all (its marks sit just after the ``:`` or ``-``)."""
    from yaml.nodes import ScalarNode

    return (isinstance(node, ScalarNode) and node.value == "" and node.style is None
            and node.start_mark.index == node.end_mark.index)


def one_line(node: Node) -> bool:
    """A scalar on one line, plain or quoted (not a block scalar): one a text edit can
    replace."""
    from yaml.nodes import ScalarNode

    return (isinstance(node, ScalarNode) and node.style in (None, "'", '"')
            and node.start_mark.line == node.end_mark.line)


def reads_as(text: str, source: str, expected: Sequence[Any],
             adjust: Callable[[list[Any]], None] = lambda documents: None) -> bool:
    """The proof every text edit gives: ``text`` reads as the documents ``expected`` (after
    ``adjust`` has rewritten the documents read, e.g. read a block scalar as YAML).  False
    when it does not, or does not read at all."""
    try:
        documents = [document.data for document in load_all(text, source)]
        adjust(documents)
    except (UsageError, LookupError, TypeError, AttributeError):
        return False
    return documents == list(expected)


def plain_or_quoted(value: str) -> str:
    """``value`` as a plain scalar when YAML reads it back as the same string (``true``,
    ``1:2:3:4:5:6:7:8`` or ``a: b`` would not), else double-quoted."""
    import yaml

    kit = _pyyaml()
    try:
        plain = (kit.tag(value, (True, False)) == STR
                 and yaml.load(f"k: {value}", Loader=kit.loader) == {"k": value})
    except yaml.YAMLError:
        plain = False
    if plain:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
