"""LoadBalancer Services in manifest text, and pinning their addresses with a minimal text edit.

Owns the GitOps half of ``lbctl assign -f``: find the Services (``apiVersion: v1``,
``kind: Service``, ``spec.type: LoadBalancer``) in multi-document YAML text, top-level or in the
``items`` of a ``kind: List``, and write an address into a Service by editing the text, so that
every other byte (comments, key order, quoting, blank lines, line endings) stays as it was.

Where the address goes: the annotation :data:`~lbctl.core.service.PIN_ANNOTATION`
(``metallb.io/loadBalancerIPs``).  ``spec.loadBalancerIP`` is deprecated since Kubernetes 1.24
and holds one address, so it cannot pin a dual-stack Service; MetalLB and lbctl both read the
annotation.  A Service that already asks for exactly its addresses (either annotation prefix, or
``spec.loadBalancerIP``) is already pinned and is left alone; adding the annotation next to
``spec.loadBalancerIP`` would make MetalLB refuse the Service.

How: the text is composed once with PyYAML, which gives every node's position.  The edit
replaces the annotation's value, or inserts one line into a block-style ``annotations``
mapping, or inserts an ``annotations`` block after ``metadata.name``, indented like its
neighbours.  The result is parsed again and must equal the original documents with exactly that
annotation set; anything else (flow-style metadata, a block scalar, aliases) is refused with
:class:`~lbctl.errors.RefusedError` rather than guessed at.

Pure: text in, text out; no file access.  Malformed YAML raises :class:`~lbctl.errors.UsageError`
with the source and line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from lbctl.core.service import PIN_ANNOTATION, asked
from lbctl.errors import RefusedError, UsageError


@dataclass(frozen=True)
class FoundService:
    """A LoadBalancer Service in a manifest text."""

    index: int  # its position among the Services of this text
    obj: dict[str, Any]  # as parsed
    line: int  # 1-based line where it starts
    problem: str  # "" when an address can be pinned; else why it cannot


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


class Manifest:
    """One manifest text (a file, or stdin) and the LoadBalancer Services in it."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.newline = "\r\n" if "\r\n" in text else "\n"
        self._documents = _compose(text, source)
        self._nodes: list[MappingNode] = []
        found: list[FoundService] = []
        for node, data in self._documents:
            for svc_node, obj in _services(node, data):
                problem = ""
                try:
                    self._plan(svc_node, ("192.0.2.1",))
                except RefusedError as exc:
                    problem = exc.message
                found.append(FoundService(len(found), obj, svc_node.start_mark.line + 1, problem))
                self._nodes.append(svc_node)
        self.services = found

    def pin(self, pins: Mapping[int, Sequence[str]]) -> tuple[str, set[int]]:
        """Pin each Service ``index`` of ``pins`` to its addresses.  Returns the new text and
        the indexes whose text changed; a Service that already asks for exactly its addresses
        is left alone, so a second run returns the text unchanged."""
        wanted = {i: tuple(ips) for i, ips in pins.items()
                  if set(asked(self.services[i].obj).ips) != set(ips)}
        edits = {}
        for index, ips in wanted.items():
            found = self.services[index]
            if found.problem:
                raise self._refused(found, found.problem)
            edit = self._plan(self._nodes[index], ips)
            if edit is not None:
                edits[index] = edit
        if not edits:
            return self.text, set()
        text = self.text
        for edit in sorted(edits.values(), key=lambda e: e.start, reverse=True):
            text = text[: edit.start] + edit.text + text[edit.end :]
        self._verify(text, wanted)
        return text, set(edits)

    # ------------------------------------------------------------------ planning

    def _refused(self, found: FoundService, why: str) -> RefusedError:
        name = (found.obj.get("metadata") or {}).get("name")
        return RefusedError(
            f"{self.source}:{found.line}: cannot pin an address in service {name}: {why}",
            hint=f"write the annotation {PIN_ANNOTATION} by hand, or use block style",
        )

    def _plan(self, svc: MappingNode, ips: tuple[str, ...]) -> _Edit | None:
        """The one text edit that pins ``ips`` in ``svc``, or None when already pinned."""
        if svc.flow_style:
            raise RefusedError("the Service is written in flow style")
        found = _entry(svc, "metadata")
        if found is None:
            raise RefusedError("it has no metadata")
        meta_key, meta = found
        if not isinstance(meta, MappingNode) or meta.flow_style or not meta.value:
            raise RefusedError("its metadata is not a block-style mapping")
        column = meta.value[0][0].start_mark.column
        step = column - meta_key.start_mark.column
        value = ",".join(ips)
        nl = self.newline
        entry = _entry(meta, "annotations")
        if entry is None:
            name = _entry(meta, "name")
            if name is None or not _one_line(name[1]):
                raise RefusedError("its metadata.name is not a one-line value")
            at = self.text.find("\n", name[1].end_mark.index) + 1
            lines = (f"{' ' * column}annotations:{nl}"
                     f"{' ' * (column + step)}{PIN_ANNOTATION}: {_plain_or_quoted(value)}{nl}")
            if at == 0:  # the name is on the last line, which has no line break
                at, lines = len(self.text), nl + lines[: -len(nl)]
            return _Edit(at, at, lines)
        annotations = entry[1]
        if isinstance(annotations, MappingNode) and annotations.flow_style:
            if annotations.value:
                raise RefusedError("its metadata.annotations is written in flow style")
            start = annotations.start_mark.index
            while start > 0 and self.text[start - 1] == " ":
                start -= 1
            line = f"{nl}{' ' * (column + step)}{PIN_ANNOTATION}: {_plain_or_quoted(value)}"
            return _Edit(start, annotations.end_mark.index, line)
        if not isinstance(annotations, MappingNode) or not annotations.value:
            raise RefusedError("its metadata.annotations is not a mapping")
        pinned = _entry(annotations, PIN_ANNOTATION)
        if pinned is not None:
            node = pinned[1]
            if not isinstance(node, ScalarNode) or not _one_line(node):
                raise RefusedError(f"its {PIN_ANNOTATION} value is not a one-line string")
            if node.value == value:
                return None
            styled = _styled(value, node.style)
            if node.start_mark.index == node.end_mark.index:  # "key:" with no value at all
                styled = " " + styled
            return _Edit(node.start_mark.index, node.end_mark.index, styled)
        first = annotations.value[0][0]
        line_start = first.start_mark.index - first.start_mark.column
        if self.text[line_start : first.start_mark.index].strip(" "):
            raise RefusedError("its first annotation does not start its own line")
        at = self.text.find("\n", entry[0].end_mark.index) + 1  # after "annotations:"
        line = f"{' ' * first.start_mark.column}{PIN_ANNOTATION}: {_plain_or_quoted(value)}{nl}"
        return _Edit(at, at, line)

    def _verify(self, text: str, pins: Mapping[int, Sequence[str]]) -> None:
        """The new text must parse to the old documents with only the pinned annotations set."""
        expected = []
        index = 0
        for node, data in self._documents:
            twin = _unshared(data)
            for _, obj in _services(node, twin):
                if index in pins:
                    meta = obj["metadata"]
                    meta["annotations"] = {**(meta.get("annotations") or {}),
                                           PIN_ANNOTATION: ",".join(pins[index])}
                index += 1
            expected.append(twin)
        try:
            actual = [_unshared(data) for _, data in _compose(text, self.source)]
        except UsageError:
            actual = None
        if actual != expected:
            raise RefusedError(
                f"{self.source}: pinning addresses would change more than the annotation "
                f"{PIN_ANNOTATION}",
                hint="pin them by hand; lbctl left the file as it was",
            )


def _compose(text: str, source: str) -> list[tuple[Node | None, Any]]:
    """Every document: its node (None for an empty one) and its data."""
    loader = yaml.SafeLoader(text)
    documents: list[tuple[Node | None, Any]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            documents.append((node, loader.construct_document(node)))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise UsageError(f"{source}{where} is not valid YAML",
                         hint="fix the file; lbctl leaves it as it is") from exc
    finally:
        loader.dispose()
    return documents


def _is_lb_service(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and data.get("apiVersion") == "v1"
        and data.get("kind") == "Service"
        and isinstance(data.get("spec"), dict)
        and data["spec"].get("type") == "LoadBalancer"
    )


def _services(node: Node | None, data: Any) -> list[tuple[MappingNode, dict[str, Any]]]:
    """LoadBalancer Services in one document, with their nodes: the document itself, or the
    items of a ``kind: List``."""
    if not isinstance(node, MappingNode) or not isinstance(data, dict):
        return []
    if _is_lb_service(data):
        return [(node, data)]
    items = _entry(node, "items")
    if (str(data.get("kind", "")).endswith("List") and items is not None
            and isinstance(items[1], SequenceNode) and isinstance(data.get("items"), list)
            and len(items[1].value) == len(data["items"])):
        return [(n, d) for n, d in zip(items[1].value, data["items"], strict=True)
                if isinstance(n, MappingNode) and _is_lb_service(d)]
    return []


def _entry(mapping: MappingNode, key: str) -> tuple[Node, Node] | None:
    """The last ``key: value`` pair with this key (YAML's last duplicate wins, as in PyYAML)."""
    found = None
    for key_node, value_node in mapping.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            found = (key_node, value_node)
    return found


def _one_line(node: Node) -> bool:
    return (isinstance(node, ScalarNode) and node.style in (None, "'", '"')
            and node.start_mark.line == node.end_mark.line)


def _unshared(data: Any) -> Any:
    """A copy in which no two places share an object (YAML aliases construct shared objects,
    which would make a change in one place look expected in the other)."""
    if isinstance(data, dict):
        return {key: _unshared(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_unshared(value) for value in data]
    return data


def _plain_or_quoted(value: str) -> str:
    """Plain when YAML reads it back as the same string (``1:2:3:4:5:6:7:8`` would be a
    sexagesimal integer in YAML 1.1, and ``2001:db8::`` ends like a key), else
    double-quoted."""
    try:
        plain = yaml.safe_load(f"k: {value}") == {"k": value}
    except yaml.YAMLError:
        plain = False
    return value if plain else f'"{value}"'


def _styled(value: str, style: str | None) -> str:
    if style == '"':
        return f'"{value}"'
    if style == "'":
        return f"'{value}'"
    return _plain_or_quoted(value)
