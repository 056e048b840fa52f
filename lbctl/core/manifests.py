"""Kubernetes objects in manifest text, and pinning LoadBalancer addresses with a minimal edit.

Owns two things every ``-f`` reader shares:

* :func:`read_objects`: the objects of a multi-document YAML (or JSON) text, ``kind: List``
  (and ``ServiceList``, ...) flattened into its items, through the one YAML reader
  (:mod:`lbctl.core.yamlkit`).  A document that is not a Kubernetes object (a scalar, a mapping
  without ``apiVersion`` or ``kind``, a Service of another ``apiVersion`` or with a ``spec.type``
  Kubernetes does not know, such as ``loadbalancer``) is refused with its line and column, the
  way ``kubectl apply`` refuses it: ``assign -f``, ``doctor -f`` and ``pool import -f`` all read
  through here, so they accept the same documents and say the same thing about the others.
  A state file (:func:`lbctl.core.statefile.is_state`: the bare document or its ConfigMap
  manifest), alone in its text or among other documents (a ``kustomize build`` stream, a
  ``List`` item), is recognised and set apart; :func:`without_states` cuts it out of a text.
* :class:`Manifest`: the GitOps half of ``lbctl assign -f``: the LoadBalancer Services of a text
  (``apiVersion: v1``, ``kind: Service``, ``spec.type: LoadBalancer``) and an edit that writes
  an address into a Service so that every other byte (comments, key order, quoting, blank lines,
  line endings) stays as it was.

Where the address goes: the annotation :data:`~lbctl.core.service.PIN_ANNOTATION`
(``metallb.io/loadBalancerIPs``).  ``spec.loadBalancerIP`` is deprecated since Kubernetes 1.24
and holds one address, so it cannot pin a dual-stack Service; MetalLB and lbctl both read the
annotation.  A Service that already asks for exactly its addresses (either annotation prefix, or
``spec.loadBalancerIP``) is already pinned and is left alone; adding the annotation next to
``spec.loadBalancerIP`` would make MetalLB refuse the Service.

How: the reader gives every node's position.  The edit replaces the annotation's value, or
inserts one entry into the ``annotations`` mapping, or inserts an ``annotations`` entry into
``metadata``: in block style one line indented like its neighbours, in flow style (JSON
included) one entry before the first, quoted like it.  The result is read again and must equal
the original documents with exactly that annotation set; anything else (a block scalar, an
alias) is refused with :class:`~lbctl.errors.RefusedError` rather than guessed at.

Pure: text in, text out; no file access.  Unreadable YAML and documents that are not objects
raise :class:`~lbctl.errors.UsageError` with ``SOURCE:LINE:COLUMN``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from lbctl.core import yamlkit
from lbctl.core.service import PIN_ANNOTATION, asked
from lbctl.core.statefile import is_state
from lbctl.errors import RefusedError, UsageError

#: The ``spec.type`` values Kubernetes accepts (case matters: ``loadbalancer`` is refused).
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
NOT_AN_OBJECT_HINT = ("every document must be a Kubernetes object, as kubectl apply requires; "
                      "fix or remove it")


# --------------------------------------------------------------------------- objects


@dataclass(frozen=True)
class Placed:
    """A Kubernetes object read from a text, and where it starts (1-based)."""

    obj: dict[str, Any]
    node: Node | None  # with ``nodes=True``
    line: int


@dataclass(frozen=True)
class Objects:
    """What a text holds: its objects, or (``state``) lbctl's state file alone.  ``states``
    are state documents found among other objects (a ``kustomize build`` stream, a ``List``
    from ``kubectl get -o yaml``): set apart, never read as objects."""

    objects: tuple[Placed, ...] = ()
    state: bool = False
    states: tuple[Placed, ...] = ()


def read_objects(text: str, where: str, *, nodes: bool = False,
                 also: Callable[[Any], bool] = lambda data: False) -> Objects:
    """The objects of ``text`` (``where`` names it in messages: a path, or ``stdin``).  A
    document for which ``also`` is true is taken as it is (MetalLB's legacy configuration)."""
    documents = yamlkit.load_all(text, where, nodes=nodes,
                                 hint="fix the file; lbctl changed nothing")
    try:
        return objects_in(documents, where, also=also)
    except _NotAnObject:
        if nodes:
            raise
    return read_objects(text, where, nodes=True, also=also)  # again, for the line and column


class _NotAnObject(UsageError):
    pass


def objects_in(documents: Sequence[yamlkit.Document], where: str,
               also: Callable[[Any], bool] = lambda data: False) -> Objects:
    """:func:`read_objects` of documents already read."""
    present = [d for d in documents if d.data is not None]
    if len(present) == 1 and is_state(present[0].data):
        return Objects(state=True)
    placed: list[Placed] = []
    states: list[Placed] = []
    for number, document in enumerate(documents, start=1):
        if document.data is None:
            continue
        what = f"document {number}"
        if also(document.data):
            placed.append(Placed(document.data, document.node, document.line))
            continue
        if is_state(document.data):
            states.append(Placed(document.data, document.node, document.line))
            continue
        _check(document.data, document.node, where, what, document.line)
        items = document.data.get("items")
        kind = str(document.data["kind"])
        if not (kind.endswith("List") and "items" in document.data):
            placed.append(Placed(document.data, document.node, document.line))
            continue
        if items is None:
            continue
        items_node = yamlkit.entry(document.node, "items")
        if not isinstance(items, list):
            _refuse(where, f"{what} ({kind}): items is not a list", document.line,
                    items_node[1] if items_node else None)
        nodes = items_node[1].value if items_node and isinstance(items_node[1], SequenceNode) \
            else [None] * len(items)
        for index, (item, node) in enumerate(zip(items, nodes, strict=True), start=1):
            line = node.start_mark.line + 1 if node else document.line
            if is_state(item):
                states.append(Placed(item, node, line))
                continue
            _check(item, node, where, f"item {index} of {what} ({kind})", document.line)
            placed.append(Placed(item, node, line))
    return Objects(tuple(placed), states=tuple(states))


def without_states(text: str, where: str) -> tuple[str, tuple[int, ...]]:
    """``text`` with the state documents among its objects cut out (a document, or an item of
    a block-style ``List``), and the lines where they started.  ``assign -f`` never writes the
    state into the manifests it prints: that copy would be stale the moment lbctl records an
    allocation, and applying it would take the allocation back on the cluster.  The result
    must read as the other documents, unchanged; where it would not (a flow-style or JSON
    ``List``), :class:`~lbctl.errors.RefusedError` rather than a guess."""
    documents = yamlkit.load_all(text, where, nodes=True)
    read = objects_in(documents, where)
    if not read.states or read.state:
        return text, ()
    cuts: list[tuple[int, int]] = []
    previous = 0  # where the document before ends: its "---" separator belongs to the next
    for document in documents:
        node = document.node
        if node is None:
            continue
        if any(placed.node is node for placed in read.states):
            # from its own "---" line (comments after the document before stay with it)
            marker = max(text.rfind("\n---", previous, node.start_mark.index) + 1, previous)
            cuts.append((marker, node.end_mark.index))
        elif isinstance(node, MappingNode):
            items = yamlkit.entry(node, "items")
            if items is not None and isinstance(items[1], SequenceNode):
                cuts += [_item_span(text, item) for item in items[1].value
                         if any(placed.node is item for placed in read.states)]
        previous = node.end_mark.index
    kept = text
    for start, end in sorted(cuts, reverse=True):
        kept = kept[:start] + kept[end:]
    expected = [_without_items(d.data, read.states) for d in documents
                if d.data is not None and not any(p.node is d.node for p in read.states)]
    if not yamlkit.reads_as(kept, where, expected, adjust=_drop_empty):
        raise RefusedError(
            f"{where}:{read.states[0].line}: cannot leave the state document out of the "
            "manifests safely",
            hint="keep the state in a file of its own (lbctl --state FILE), apart from the "
                 "manifests")
    return kept, tuple(placed.line for placed in read.states)


def _item_span(text: str, item: Node) -> tuple[int, int]:
    """A block sequence entry from the start of its ``- `` line to the start of the next
    entry's line; a flow (JSON) entry with the comma that separates it from the next entry,
    or from the one before when it is the last.  The caller proves the result."""
    start, end = item.start_mark.index, item.end_mark.index
    line = text.rfind("\n", 0, start) + 1
    if text[line:start].strip(" ") == "-":
        if not text[end - item.end_mark.column:end].strip(" "):
            end -= item.end_mark.column
        return (line, end)
    after = len(text) - len(text[end:].lstrip())
    if text[after:after + 1] == ",":
        return (start, len(text) - len(text[after + 1:].lstrip()))
    before = len(text[:start].rstrip())
    if text[before - 1:before] == ",":
        return (before - 1, end)
    return (start, end)


def _without_items(data: Any, states: Sequence[Placed]) -> Any:
    if not (isinstance(data, dict) and isinstance(data.get("items"), list)):
        return data
    items = [i for i in data["items"] if not any(p.obj is i for p in states)]
    return {**data, "items": items} if len(items) != len(data["items"]) else data


def _drop_empty(documents: list[Any]) -> None:
    """Empty documents dropped, and a List whose last item was cut (``items:`` with nothing)
    read as the empty list it means."""
    documents[:] = [d for d in documents if d is not None]
    for document in documents:
        if isinstance(document, dict) and "items" in document and document["items"] is None:
            document["items"] = []


def _check(data: Any, node: Node | None, where: str, what: str, line: int) -> None:
    """Refuse ``data`` unless it is a Kubernetes object lbctl can read."""
    problem, path = _problem(data)
    if problem:
        target = node
        for key in path:
            found = yamlkit.entry(target, key)
            if found is None:
                break
            target = found[1]
        _refuse(where, f"{what} {problem}", line, target)


def _refuse(where: str, message: str, line: int, node: Node | None) -> None:
    position = (f"{node.start_mark.line + 1}:{node.start_mark.column + 1}" if node is not None
                else f"{line}:1")
    raise _NotAnObject(f"{where}:{position}: {message}", hint=NOT_AN_OBJECT_HINT)


_TYPE_NAMES = {str: "a string", int: "a number", float: "a number", bool: "a boolean",
               list: "a list"}


def _problem(data: Any) -> tuple[str, tuple[str, ...]]:
    """Why ``data`` is not a Kubernetes object lbctl can read ("" when it is), and where."""
    if not isinstance(data, dict):
        name = _TYPE_NAMES.get(type(data), type(data).__name__)
        return f"is {name}, not a Kubernetes object", ()
    for field in ("apiVersion", "kind"):
        value = data.get(field)
        if value is None or value == "":
            return f"is not a Kubernetes object: it has no {field}", ()
        if not isinstance(value, str):
            return f"is not a Kubernetes object: its {field} is not a string", (field,)
    if "metadata" in data and not isinstance(data["metadata"], (dict, type(None))):
        return "is not a Kubernetes object: its metadata is not a mapping", ("metadata",)
    labels = (data.get("metadata") or {}).get("labels")
    if labels is not None and not (isinstance(labels, dict) and all(
            isinstance(v, str) for v in labels.values())):
        return ("is not a Kubernetes object: its metadata.labels is not a mapping of strings",
                ("metadata", "labels"))
    if data["kind"] == "Node":
        return _node_problem(data)
    if data["kind"] != "Service":
        return "", ()
    if data["apiVersion"] != "v1":
        return f"is a Service of apiVersion {data['apiVersion']!r}; Services are v1", (
            "apiVersion",)
    spec = data.get("spec")
    if spec is not None and not isinstance(spec, dict):
        return "is a Service whose spec is not a mapping", ("spec",)
    kind = (spec or {}).get("type")
    if kind is not None and kind not in SERVICE_TYPES:
        return (f"is a Service of spec.type {kind!r}, which Kubernetes does not know "
                f"({', '.join(SERVICE_TYPES)})", ("spec", "type"))
    return "", ()


def _node_problem(data: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """Why a Node (from ``-f``: doctor, ``bgp export``) has a shape no cluster would give."""
    status = data.get("status")
    if status is None:
        return "", ()
    if not isinstance(status, dict):
        return "is a Node whose status is not a mapping", ("status",)
    for field in ("addresses", "conditions"):
        entries = status.get(field)
        if entries is not None and not (isinstance(entries, list) and all(
                isinstance(entry, dict) for entry in entries)):
            return f"is a Node whose status.{field} is not a list of mappings", (
                "status", field)
    return "", ()


def is_lb_service(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and data.get("apiVersion") == "v1"
        and data.get("kind") == "Service"
        and isinstance(data.get("spec"), dict)
        and data["spec"].get("type") == "LoadBalancer"
    )


# --------------------------------------------------------------------------- pinning


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
    """One manifest text (a file, or stdin) and the LoadBalancer Services in it.  ``source``
    names it in messages (a path, or ``stdin``)."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.newline = yamlkit.newline(text)
        self._documents = yamlkit.load_all(text, source, nodes=True)
        read = objects_in(self._documents, source)
        self.state = read.state
        self._nodes: list[MappingNode] = []
        self._objects: list[dict[str, Any]] = []
        found: list[FoundService] = []
        for placed in read.objects:
            if not is_lb_service(placed.obj) or not isinstance(placed.node, MappingNode):
                continue
            problem = ""
            try:
                self._plan(placed.node, ("192.0.2.1",))
            except RefusedError as exc:
                problem = exc.message
            found.append(FoundService(len(found), placed.obj, placed.line, problem))
            self._nodes.append(placed.node)
            self._objects.append(placed.obj)
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
            hint=f"write the annotation {PIN_ANNOTATION} by hand",
        )

    def _plan(self, svc: MappingNode, ips: tuple[str, ...]) -> _Edit | None:
        """The one text edit that pins ``ips`` in ``svc``, or None when already pinned."""
        found = yamlkit.entry(svc, "metadata")
        if found is None:
            raise RefusedError("it has no metadata")
        meta_key, meta = found
        if not isinstance(meta, MappingNode) or not meta.value:
            raise RefusedError("its metadata is not a mapping with a name")
        value = ",".join(ips)
        entry = yamlkit.entry(meta, "annotations")
        if meta.flow_style:
            return self._plan_flow(meta, entry, value)
        column = meta.value[0][0].start_mark.column
        step = column - meta_key.start_mark.column
        nl = self.newline
        if entry is None:
            name = yamlkit.entry(meta, "name")
            if name is None or not yamlkit.one_line(name[1]):
                raise RefusedError("its metadata.name is not a one-line value")
            at = self.text.find("\n", name[1].end_mark.index) + 1
            lines = (f"{' ' * column}annotations:{nl}"
                     f"{' ' * (column + step)}{PIN_ANNOTATION}: "
                     f"{yamlkit.plain_or_quoted(value)}{nl}")
            if at == 0:  # the name is on the last line, which has no line break
                at, lines = len(self.text), nl + lines[: -len(nl)]
            return _Edit(at, at, lines)
        annotations = entry[1]
        if isinstance(annotations, MappingNode) and annotations.flow_style:
            if annotations.value:
                return self._plan_flow(annotations, yamlkit.entry(annotations, PIN_ANNOTATION),
                                       value, key=PIN_ANNOTATION)
            start = annotations.start_mark.index
            while start > 0 and self.text[start - 1] == " ":
                start -= 1
            line = (f"{nl}{' ' * (column + step)}{PIN_ANNOTATION}: "
                    f"{yamlkit.plain_or_quoted(value)}")
            return _Edit(start, annotations.end_mark.index, line)
        if not isinstance(annotations, MappingNode) or not annotations.value:
            raise RefusedError("its metadata.annotations is not a mapping")
        pinned = yamlkit.entry(annotations, PIN_ANNOTATION)
        if pinned is not None:
            return _replace(pinned[1], value)
        first = annotations.value[0][0]
        line_start = first.start_mark.index - first.start_mark.column
        if self.text[line_start : first.start_mark.index].strip(" "):
            raise RefusedError("its first annotation does not start its own line")
        at = self.text.find("\n", entry[0].end_mark.index) + 1  # after "annotations:"
        line = (f"{' ' * first.start_mark.column}{PIN_ANNOTATION}: "
                f"{yamlkit.plain_or_quoted(value)}{nl}")
        return _Edit(at, at, line)

    def _plan_flow(self, mapping: MappingNode, entry: tuple[Node, Node] | None, value: str,
                   key: str = "annotations") -> _Edit | None:
        """In a flow mapping (JSON too): replace the value, or insert ``key`` as its first
        entry, written and separated like the entry it goes before."""
        if entry is not None:
            if key == "annotations":  # metadata's annotations
                annotations = entry[1]
                if not isinstance(annotations, MappingNode) or not annotations.flow_style:
                    raise RefusedError("its metadata.annotations is not a flow mapping")
                if annotations.value:
                    return self._plan_flow(annotations,
                                           yamlkit.entry(annotations, PIN_ANNOTATION), value,
                                           key=PIN_ANNOTATION)
                style = getattr(entry[0], "style", None)
                return _Edit(annotations.start_mark.index, annotations.end_mark.index,
                             "{" + _flow_pair(PIN_ANNOTATION, value, style) + "}")
            return _replace(entry[1], value)
        first = mapping.value[0][0]
        assert isinstance(first, ScalarNode)
        gap = self.text[mapping.start_mark.index + 1 : first.start_mark.index]
        if "#" in gap:
            raise RefusedError("a comment starts its metadata")
        style = first.style
        written = (_flow_pair(PIN_ANNOTATION, value, style) if key == PIN_ANNOTATION else
                   _quoted("annotations", style) + ": {"
                   + _flow_pair(PIN_ANNOTATION, value, style) + "}")
        return _Edit(first.start_mark.index, first.start_mark.index,
                     written + "," + (gap or " "))

    def _verify(self, text: str, pins: Mapping[int, Sequence[str]]) -> None:
        """The new text must read as the old documents with only the pinned annotations set."""
        memo: dict[int, Any] = {}
        expected = copy.deepcopy([d.data for d in self._documents], memo)
        for index, ips in pins.items():
            meta = memo[id(self._objects[index])]["metadata"]
            meta["annotations"] = {**(meta.get("annotations") or {}),
                                   PIN_ANNOTATION: ",".join(ips)}
        if not yamlkit.reads_as(text, self.source, expected):
            raise RefusedError(
                f"{self.source}: pinning addresses would change more than the annotation "
                f"{PIN_ANNOTATION}",
                hint="pin them by hand; lbctl left the file as it was",
            )


def _replace(node: Node, value: str) -> _Edit | None:
    """Replace a one-line scalar's value, keeping its quotes."""
    if not isinstance(node, ScalarNode) or not yamlkit.one_line(node):
        raise RefusedError(f"its {PIN_ANNOTATION} value is not a one-line string")
    if node.value == value:
        return None
    styled = _styled(value, node.style)
    if yamlkit.is_empty(node):  # "key:" with no value at all
        styled = " " + styled
    return _Edit(node.start_mark.index, node.end_mark.index, styled)


def _styled(value: str, style: str | None) -> str:
    if style == '"':
        return f'"{value}"'
    if style == "'":
        return f"'{value}'"
    return yamlkit.plain_or_quoted(value)


def _quoted(text: str, style: str | None) -> str:
    """A key or value written as its neighbour is: double-quoted in JSON, else as needed."""
    return f'"{text}"' if style == '"' else yamlkit.plain_or_quoted(text)


def _flow_pair(key: str, value: str, style: str | None) -> str:
    """``key: "value"`` (the value is double-quoted: in flow style a comma would end it)."""
    return f'{_quoted(key, style)}: "{value}"'
