"""kube-proxy's ``ipvs.strictARP``: read it, set it with a minimal text edit, and judge the node.

In IPVS mode kube-proxy binds every Service address to ``kube-ipvs0``, so without
``strictARP: true`` (which makes it set ``arp_ignore=1``/``arp_announce=2``) every node answers ARP
for every LoadBalancer address and layer-2 announcement fails in ways that look random.  This
module owns that knowledge:

* :func:`plan_strict_arp` reads a KubeProxyConfiguration (the ``config.conf`` text of kubeadm's
  ConfigMap, a bare file, a ConfigMap manifest wrapping it, or a multi-document stream such as a
  kubeadm config file) and returns the text with ``ipvs.strictARP: true``.  The edit is made on the
  TEXT: YAML is read (by :mod:`lbctl.core.yamlkit`) only to find positions and values; every
  other byte -- order, comments, quoting, indentation, line endings, a missing final newline -- is
  kept.  The result is parsed again and must differ from the input in ``ipvs.strictARP`` alone.
* :func:`detect_embedded` recognises k3s and RKE2, where kube-proxy is configured by
  ``kube-proxy-arg`` flags instead of a ConfigMap, and reads the flags each node runs with.
* :func:`rollout_status` judges a DaemonSet rollout the way ``kubectl rollout status`` does.
* :func:`evaluate_arp` judges the live ``arp_ignore``/``arp_announce`` sysctls of a node.

Pure: no I/O, no clock; input is text and plain JSON dictionaries.  Error policy: input that is not
what it should be (not YAML, no KubeProxyConfiguration) is a :class:`~lbctl.errors.UsageError`;
a document that cannot be edited safely, or whose edit would change anything else, is a
:class:`~lbctl.errors.RefusedError` -- never a guess.  k3s/RKE2 clusters are described by
:meth:`EmbeddedKubeProxy.error`, an :class:`~lbctl.errors.ElsewhereError`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from lbctl.core import yamlkit
from lbctl.errors import ElsewhereError, RefusedError, UsageError

#: A YAML scalar as PyYAML reads it (``strictARP: "false"`` is a string, not a boolean).
Scalar = Union[bool, int, float, str, None]

KIND = "KubeProxyConfiguration"
CONFIGMAP_KEY = "config.conf"
#: kube-proxy only needs strictARP in this mode; iptables, nftables and "" (the default) do not.
STRICT_MODE = "ipvs"
#: What kube-proxy writes to ``conf/all`` when strictARP is on; the kernel uses the larger of
#: ``conf/all`` and ``conf/<interface>`` for both settings.
ARP_IGNORE_MIN = 1
ARP_ANNOUNCE_MIN = 2

_BLOCK_HEADER = re.compile(r"\|(?:([1-9])[-+]?|[-+]([1-9])?)?(?=[ \t#]|$)")

_STR = yamlkit.STR
Line = yamlkit.Line
_lines = yamlkit.lines
_join = yamlkit.join


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxyConfig:
    """What a KubeProxyConfiguration says about ARP."""

    mode: str  # "" when unset: kube-proxy's default, iptables on Linux
    strict_arp: Scalar  # ``ipvs.strictARP`` as written; None when unset

    @property
    def requires_strict_arp(self) -> bool:
        return self.mode == STRICT_MODE

    @property
    def strict(self) -> bool:
        return self.strict_arp is True


@dataclass(frozen=True)
class StrictARPPlan:
    """The document as read, and as it must be.  ``edited == original`` when nothing changes."""

    config: ProxyConfig
    original: str
    edited: str
    #: True when the edit was computed even though the mode does not need it (``--always``).
    forced: bool = False

    @property
    def changes(self) -> bool:
        return self.edited != self.original

    @property
    def change_needed(self) -> bool:
        """The answer ``diff`` gives with its exit code."""
        return self.changes and (self.config.requires_strict_arp or self.forced)


def read_config(text: str, source: str) -> ProxyConfig:
    """The mode and strictARP of the one KubeProxyConfiguration in ``text`` (bare or wrapped)."""
    return _locate(text, source).config


def plan_strict_arp(text: str, source: str, *, always: bool = False) -> StrictARPPlan:
    """``text`` with ``ipvs.strictARP: true`` when the mode needs it (or ``always``).

    ``source`` names the input in messages (``"file kube-proxy.yaml"``).  Raises
    :class:`~lbctl.errors.UsageError` for unreadable input and :class:`~lbctl.errors.RefusedError`
    when the text cannot be edited safely.
    """
    target = _locate(text, source)
    config = target.config
    if config.strict or not (config.requires_strict_arp or always):
        return StrictARPPlan(config, text, text, forced=always)
    edit = _strict_arp_edit(target)
    edited = target.bom + _join(_apply(_lines(target.body), edit, target))
    _verify(target, edited, source)
    return StrictARPPlan(config, text, edited, forced=always)


# --- finding the KubeProxyConfiguration ------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """Where the KubeProxyConfiguration is: its root node and how its lines map onto ``body``."""

    bom: str
    body: str  # the text without a byte-order mark (PyYAML's columns do not count it)
    doc: int  # index of the document in the stream
    root: MappingNode  # the KubeProxyConfiguration, in the coordinates of ``inner``
    inner: str  # the KubeProxyConfiguration text (``body`` itself, or a block scalar's value)
    line_offset: int  # inner line i is body line i + line_offset ...
    indent: int  # ... indented by this many more spaces
    wrapped: bool  # inside a ConfigMap's data."config.conf"
    documents: tuple[Any, ...]  # every document of ``body``, parsed
    value: dict[str, Any]  # the KubeProxyConfiguration, parsed
    config: ProxyConfig


#: The hint for a file that holds no single {KIND} where one was expected.
_ONE_DOCUMENT = (f"it must hold one document of kind: {KIND}, as kubectl -n kube-system get cm "
                 "kube-proxy -o yaml shows it")
#: The hint for a ConfigMap whose config.conf cannot be edited in place.
_YAML_FORM = "use the YAML form (kubectl get -o yaml), or pass the config.conf text alone"


def _locate(text: str, source: str) -> _Target:
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom):]
    nodes, values = _parse(body, source)
    found = [i for i, value in enumerate(values) if _is_proxy_config(value) or _is_configmap(value)]
    if not found:
        raise UsageError(
            f"{source} holds no {KIND} and no ConfigMap with data.{CONFIGMAP_KEY}",
            hint="pass the kube-proxy ConfigMap (kubectl -n kube-system get cm kube-proxy -o yaml) "
            f"or its {CONFIGMAP_KEY}",
        )
    if len(found) > 1:
        raise UsageError(
            f"{source} holds {len(found)} kube-proxy configurations (documents "
            f"{', '.join(str(i + 1) for i in found)}); expected one",
            hint="split the file and pass one document",
        )
    doc = found[0]
    if _is_proxy_config(values[doc]):
        root = nodes[doc]
        if not isinstance(root, MappingNode):  # a mapping value always composes to one
            raise UsageError(f"{source}: the {KIND} is not a mapping", hint=_ONE_DOCUMENT)
        return _Target(bom, body, doc, root, body, 0, 0, False, tuple(values), values[doc],
                       _config_of(values[doc], source))
    return _locate_in_configmap(bom, body, doc, nodes[doc], tuple(values), source)


def _locate_in_configmap(bom: str, body: str, doc: int, node: Node | None,
                         documents: tuple[Any, ...], source: str) -> _Target:
    data = _entry(node, "data", source)
    value = _entry(data[1], CONFIGMAP_KEY, source) if data else None
    if value is None or not isinstance(value[1], ScalarNode) or value[1].tag != _STR:
        raise UsageError(f"{source}: data.{CONFIGMAP_KEY} is not a string",
                         hint=f"{CONFIGMAP_KEY} holds the {KIND} as text ({CONFIGMAP_KEY}: |), "
                              "as kubectl -n kube-system get cm kube-proxy -o yaml shows it")
    scalar = value[1]
    where = f"{source}: data.{CONFIGMAP_KEY}"
    if scalar.style != "|":
        raise RefusedError(
            f"{where} is not a literal block (|), so it cannot be edited byte for byte",
            hint=_YAML_FORM,
        )
    lines = _lines(body)
    header = lines[scalar.start_mark.line][0][scalar.start_mark.column:]
    match = _BLOCK_HEADER.match(header)
    if match is None:
        raise RefusedError(f"{where}: cannot read the block header {header.strip()!r}",
                           hint=_YAML_FORM)
    digit = match.group(1) or match.group(2)
    inner: str = scalar.value
    inner_lines = _lines(inner)
    first = scalar.start_mark.line + 1
    if digit:
        indent = value[0].start_mark.column + int(digit)
    else:
        contents = [c for c, _ in lines[first:first + len(inner_lines)] if c.strip()]
        indent = len(contents[0]) - len(contents[0].lstrip(" ")) if contents else 0
    for i, (content, _) in enumerate(inner_lines):
        outer = lines[first + i][0] if first + i < len(lines) else None
        if not _maps_onto(outer, content, indent):
            raise RefusedError(f"{where}: line {i + 1} does not map onto the file; refusing",
                               hint=_YAML_FORM)
    nodes, values = _parse(inner, where)
    if len(values) != 1 or not _is_proxy_config(values[0]) or not isinstance(nodes[0], MappingNode):
        raise UsageError(f"{where} is not one {KIND} document", hint=_ONE_DOCUMENT)
    return _Target(bom, body, doc, nodes[0], inner, first, indent, True, documents, values[0],
                   _config_of(values[0], where))


def _maps_onto(outer: str | None, content: str, indent: int) -> bool:
    """Is ``outer``, a line of the file, the block scalar's line ``content`` plus indentation?"""
    if outer is None:
        return False
    if not content:
        return outer.strip(" ") == ""
    return outer[:indent] == " " * indent and outer[indent:] == content


def _parse(text: str, source: str) -> tuple[list[Node | None], list[Any]]:
    documents = yamlkit.load_all(text, source, nodes=True,
                                 hint="fix the YAML; lbctl changed nothing")
    return [d.node for d in documents], [d.data for d in documents]


def _is_proxy_config(value: Any) -> bool:
    return isinstance(value, dict) and value.get("kind") == KIND


def _is_configmap(value: Any) -> bool:
    return (isinstance(value, dict) and value.get("kind") == "ConfigMap"
            and isinstance(value.get("data"), dict) and CONFIGMAP_KEY in value["data"])


def _config_of(value: dict[str, Any], source: str) -> ProxyConfig:
    mode = value.get("mode") or ""
    if not isinstance(mode, str):
        raise UsageError(f"{source}: mode is {mode!r}, not a string",
                         hint="write it as one word: mode: ipvs (or iptables, nftables)")
    ipvs = value.get("ipvs")
    if ipvs is not None and not isinstance(ipvs, dict):
        raise UsageError(f"{source}: ipvs is {ipvs!r}, not a mapping",
                         hint="write it as a mapping, as kube-proxy reads it: ipvs: {strictARP: "
                              "true}")
    strict = (ipvs or {}).get("strictARP")
    if isinstance(strict, (list, dict, set, tuple)):
        raise UsageError(f"{source}: ipvs.strictARP is a collection, not a boolean",
                         hint="write it as strictARP: true (or false)")
    if not isinstance(strict, (bool, int, float, str, type(None))):  # a date, bytes, a set...
        strict = str(strict)
    return ProxyConfig(mode, strict)


def _entry(node: Node | None, key: str, source: str) -> tuple[Node, Node] | None:
    """The (key, value) nodes of ``key`` in a mapping node (the reader refuses duplicates)."""
    return yamlkit.entry(node, key)


# --- the edit --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Replace:
    """Replace columns [start, end) of one line (inner coordinates)."""

    line: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class _Insert:
    """Insert whole lines before line ``before`` (inner coordinates; may be the line count)."""

    before: int
    lines: tuple[str, ...]


_Edit = Union[_Replace, _Insert]


def _strict_arp_edit(target: _Target) -> _Edit:
    root, where = target.root, "the " + KIND
    lines = [content for content, _ in _lines(target.inner)]
    step = _indent_step(root)
    ipvs = _entry(root, "ipvs", where)
    if ipvs is None:
        return _insert_entry(root, lines, "ipvs", ("ipvs:", " " * step + "strictARP: true"),
                             "ipvs: {strictARP: true}", where)
    key, value = ipvs
    if _is_empty(value):  # "ipvs:" and nothing (or a comment) after it
        pad = " " * (key.start_mark.column + step)
        return _Insert(value.start_mark.line + 1, (pad + "strictARP: true",))
    if not isinstance(value, MappingNode):
        raise RefusedError(f"ipvs in {where} is not a mapping; lbctl will not rewrite it",
                           hint="replace it by hand with a mapping holding strictARP: true")
    strict = _entry(value, "strictARP", "ipvs")
    if strict is None:
        return _insert_entry(value, lines, "strictARP", ("strictARP: true",), "strictARP: true",
                             "ipvs")
    return _replace_value(strict[1])


def _replace_value(value: Node) -> _Edit:
    assert isinstance(value, ScalarNode), "_config_of refuses a collection"
    start, end = value.start_mark, value.end_mark
    if _is_empty(value):  # "strictARP:" with nothing (or a comment) after the colon
        return _Replace(start.line, start.column, start.column, " true")
    if not yamlkit.one_line(value):
        raise RefusedError("ipvs.strictARP spans several lines; lbctl will not guess",
                           hint="set it to true by hand")
    return _Replace(start.line, start.column, end.column, "true")


def _insert_entry(mapping: MappingNode, lines: Sequence[str], key: str, block: tuple[str, ...],
                  flow: str, where: str) -> _Edit:
    if mapping.flow_style:
        start, end = mapping.start_mark, mapping.end_mark
        if mapping.value or start.line != end.line:
            raise RefusedError(
                f"{where} is written in flow style ({{...}}); lbctl edits only block style",
                hint="rewrite it in block style, one key per line, and run lbctl again",
            )
        return _Replace(start.line, start.column, end.column, "{" + flow + "}")
    keys = [k for k, _ in mapping.value]
    indent = keys[0].start_mark.column
    names = [k.value if isinstance(k, ScalarNode) else "" for k in keys]
    later = [k for k, name in zip(keys, names, strict=True) if name > key]
    pad = " " * indent
    if later and names == sorted(names):  # sorted, as kubeadm writes it: keep it so
        first = later[0]
        if lines[first.start_mark.line][:first.start_mark.column].strip():
            raise RefusedError(f"{where}: the key {first.value!r} does not start its line",
                               hint="put one key per line and run lbctl again")
        return _Insert(_comment_top(lines, first.start_mark.line, indent),
                       tuple(pad + line for line in block))
    return _Insert(_last_line(mapping.value[-1][1]) + 1, tuple(pad + line for line in block))


def _indent_step(root: MappingNode) -> int:
    """How far this document indents a nested block mapping (kubeadm: 2)."""
    for key, value in root.value:
        if isinstance(value, MappingNode) and not value.flow_style and value.value:
            step = int(value.value[0][0].start_mark.column - key.start_mark.column)
            if step > 0:
                return step
    return 2


def _comment_top(lines: Sequence[str], line: int, indent: int) -> int:
    """The first of the comment lines directly above ``line`` at its indentation: they belong to
    that key, so a new key goes above them."""
    while line > 0:
        above = lines[line - 1]
        if not above.lstrip(" ").startswith("#") or len(above) - len(above.lstrip(" ")) != indent:
            break
        line -= 1
    return line


def _last_line(node: Node) -> int:
    """The last line a block value occupies (its deepest last scalar, or a flow collection)."""
    while isinstance(node, (MappingNode, SequenceNode)) and not node.flow_style and node.value:
        item = node.value[-1]
        node = item[1] if isinstance(node, MappingNode) else item
    if _is_empty(node):  # its marks are just after the ":" or "-" on the line that owns it
        return int(node.start_mark.line)
    end = node.end_mark
    return int(end.line if end.column > 0 else end.line - 1)


_is_empty = yamlkit.is_empty


def _apply(lines: list[Line], edit: _Edit, target: _Target) -> list[Line]:
    out = list(lines)
    pad = " " * target.indent
    if isinstance(edit, _Replace):
        at = target.line_offset + edit.line
        content, brk = out[at]
        start, end = target.indent + edit.start, target.indent + edit.end
        out[at] = (content[:start] + edit.text + content[end:], brk)
        return out
    at = target.line_offset + edit.before
    brk = yamlkit.newline(target.body)
    new = [(pad + line, brk) for line in edit.lines]
    if at == len(out) and out and not out[-1][1]:  # appending after a last line with no break
        out[-1] = (out[-1][0], brk)
        new[-1] = (new[-1][0], "")
    out[at:at] = new
    return out


def _verify(target: _Target, edited: str, source: str) -> None:
    """Parse the edited text: it must differ from the original in ipvs.strictARP alone."""
    hint = "set ipvs.strictARP: true by hand"
    want = copy.deepcopy(list(target.documents))
    strict = _with_strict_arp(target.value)
    if target.wrapped:  # compare config.conf by what it says, not by its text
        want[target.doc]["data"][CONFIGMAP_KEY] = [strict]
    else:
        want[target.doc] = strict

    def read_config_conf(documents: list[Any]) -> None:
        if target.wrapped:
            data = documents[target.doc]["data"]
            data[CONFIGMAP_KEY] = _load_all(data[CONFIGMAP_KEY], source)

    if not yamlkit.reads_as(edited[len(target.bom):], source, want, read_config_conf):
        raise RefusedError(f"{source}: the edit would change more than ipvs.strictARP; refusing",
                           hint=hint)


def _with_strict_arp(config: dict[str, Any]) -> dict[str, Any]:
    out = dict(config)
    out["ipvs"] = {**(out.get("ipvs") or {}), "strictARP": True}
    return out


def _load_all(text: str, source: str) -> list[Any]:
    return [document.data for document in yamlkit.load_all(text, source)]


# --- k3s and RKE2 ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeFlags:
    """The kube-proxy flags one node runs with, and where they were read."""

    node: str
    source: str  # "pod kube-system/kube-proxy-n1" or "annotation k3s.io/node-args"
    mode: str  # "" when --proxy-mode is not given (iptables)
    strict_arp: bool | None  # None when --ipvs-strict-arp is not given (false)

    @property
    def ok(self) -> bool:
        return self.mode != STRICT_MODE or self.strict_arp is True


@dataclass(frozen=True)
class EmbeddedKubeProxy:
    """A k3s or RKE2 cluster: kube-proxy is configured by ``kube-proxy-arg``, per node."""

    distro: str  # "k3s" or "rke2"
    nodes: tuple[NodeFlags, ...]
    unread: tuple[str, ...]  # nodes whose flags could not be read

    @property
    def config_file(self) -> str:
        return f"/etc/rancher/{self.distro}/config.yaml"

    def summary(self) -> str:
        """``3 nodes: 2 proxy-mode=ipvs without ipvs-strict-arp=true, 1 unread``."""
        counts: dict[str, int] = {}
        for node in self.nodes:
            state = _flag_state(node)
            counts[state] = counts.get(state, 0) + 1
        if self.unread:
            counts["flags not readable"] = len(self.unread)
        total = len(self.nodes) + len(self.unread)
        parts = ", ".join(f"{n} {state}" for state, n in counts.items())
        return f"{total} node{'s' if total != 1 else ''}: {parts}" if parts else "no nodes"

    def error(self) -> ElsewhereError:
        """Where the setting lives and what to add there."""
        name = {"k3s": "k3s", "rke2": "RKE2"}[self.distro]
        message = (f"kube-proxy on this {name} cluster is configured by {self.distro} flags, "
                   f"not a ConfigMap ({self.summary()})")
        if self.nodes and not self.unread and all(node.ok for node in self.nodes):
            if any(node.mode == STRICT_MODE for node in self.nodes):
                hint = f"nothing to add: keep ipvs-strict-arp=true in {self.config_file}"
            else:
                hint = (f"nothing to add in this mode; switching to proxy-mode=ipvs, add "
                        f"ipvs-strict-arp=true with it in {self.config_file}")
            return ElsewhereError(message, hint=hint)
        service = {"k3s": "k3s (k3s-agent on agents)",
                   "rke2": "rke2-server (rke2-agent on agents)"}[self.distro]
        flag = ("kube-proxy-arg: [ipvs-strict-arp=true]" if self.distro == "rke2" else
                "kube-proxy-arg: [ipvs-strict-arp=true] (or --kube-proxy-arg=ipvs-strict-arp=true)")
        return ElsewhereError(
            message, hint=f"on every node add {flag} to {self.config_file}, then restart {service}")


def _flag_state(node: NodeFlags) -> str:
    mode = f"proxy-mode={node.mode}" if node.mode else "default proxy-mode (iptables)"
    if node.mode != STRICT_MODE:
        return mode
    return f"{mode} {'with' if node.ok else 'without'} ipvs-strict-arp=true"


def distro_of(nodes: Iterable[Mapping[str, Any]]) -> str | None:
    """``rke2``, ``k3s`` or None, from kubelet versions (``+rke2r1``), annotations and labels."""
    seen: set[str] = set()
    for node in nodes:
        meta = node.get("metadata") or {}
        version = ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion") or ""
        names = [*(meta.get("annotations") or {}), *(meta.get("labels") or {})]
        instance = (meta.get("labels") or {}).get("node.kubernetes.io/instance-type")
        for distro in ("rke2", "k3s"):
            if (f"+{distro}" in version or instance == distro
                    or any(name.startswith(f"{distro}.io/") for name in names)):
                seen.add(distro)
                break
    return "rke2" if "rke2" in seen else "k3s" if "k3s" in seen else None


def detect_embedded(nodes: Sequence[Mapping[str, Any]],
                    pods: Sequence[Mapping[str, Any]]) -> EmbeddedKubeProxy | None:
    """The k3s/RKE2 picture, or None for other clusters.

    Flags come from the running kube-proxy pod of a node when there is one (RKE2's static pod
    ``kube-system/kube-proxy-<node>``), else from the node's ``<distro>.io/node-args`` annotation,
    where k3s and RKE2 record their own command line including ``--kube-proxy-arg`` values.
    """
    distro = distro_of(nodes)
    if distro is None:
        return None
    from_pods: dict[str, tuple[str, dict[str, str]]] = {}
    for pod in pods:
        node_name = (pod.get("spec") or {}).get("nodeName")
        args = _pod_args(pod)
        if node_name and args is not None:
            meta = pod.get("metadata") or {}
            from_pods[node_name] = (f"pod {meta.get('namespace')}/{meta.get('name')}", args)
    found: list[NodeFlags] = []
    unread: list[str] = []
    for node in nodes:
        meta = node.get("metadata") or {}
        name = str(meta.get("name"))
        annotation = f"{distro}.io/node-args"
        source, flags = from_pods.get(name) or (
            f"annotation {annotation}",
            _node_args(str((meta.get("annotations") or {}).get(annotation) or "")))
        if flags is None:
            unread.append(name)
            continue
        found.append(NodeFlags(name, source, flags.get("proxy-mode", ""),
                               _go_bool(flags["ipvs-strict-arp"]) if "ipvs-strict-arp" in flags
                               else None))
    return EmbeddedKubeProxy(distro, tuple(found), tuple(unread))


def _pod_args(pod: Mapping[str, Any]) -> dict[str, str] | None:
    containers = (pod.get("spec") or {}).get("containers") or []
    for container in containers:
        if container.get("name") == "kube-proxy":
            return _flags([*(container.get("command") or [])[1:], *(container.get("args") or [])])
    return None


def _node_args(annotation: str) -> dict[str, str] | None:
    """``--kube-proxy-arg`` values from a node-args annotation (a JSON list of arguments)."""
    try:
        args = json.loads(annotation)
    except ValueError:
        return None
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        return None
    values = []
    for i, arg in enumerate(args):
        if arg == "--kube-proxy-arg" and i + 1 < len(args):
            values.append(args[i + 1])
        elif arg.startswith("--kube-proxy-arg="):
            values.append(arg.split("=", 1)[1])
    return _flags("--" + value.lstrip("-") for value in values)


def _flags(args: Iterable[str]) -> dict[str, str]:
    """``--name=value`` and bare ``--name`` (a boolean) into a dict; the last one wins."""
    out: dict[str, str] = {}
    for arg in args:
        if arg.startswith("--"):
            name, _, value = arg[2:].partition("=")
            out[name] = value if "=" in arg else "true"
    return out


def _go_bool(value: str) -> bool | None:
    """Go's ``strconv.ParseBool``, which kube-proxy's flag parsing uses; None if invalid."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


# --- rollout ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RolloutStatus:
    done: bool
    message: str
    desired: int
    updated: int
    available: int
    #: False when waiting cannot help: an OnDelete DaemonSet replaces pods only when deleted.
    progressing: bool = True


def rollout_status(daemonset: Mapping[str, Any]) -> RolloutStatus:
    """Like ``kubectl rollout status daemonset/...``: observed, updated everywhere, available."""
    meta = daemonset.get("metadata") or {}
    status = daemonset.get("status") or {}
    desired = int(status.get("desiredNumberScheduled") or 0)
    updated = int(status.get("updatedNumberScheduled") or 0)
    available = int(status.get("numberAvailable") or 0)
    strategy = ((daemonset.get("spec") or {}).get("updateStrategy") or {}).get("type")
    if strategy == "OnDelete":
        return RolloutStatus(False, "the DaemonSet updates OnDelete: its pods restart only when "
                             "deleted", desired, updated, available, progressing=False)
    if int(meta.get("generation") or 0) > int(status.get("observedGeneration") or 0):
        message = "waiting for the DaemonSet spec update to be observed"
    elif updated < desired:
        message = f"{updated} of {desired} updated pods scheduled"
    elif available < desired:
        message = f"{available} of {desired} updated pods available"
    else:
        return RolloutStatus(True, f"{desired} of {desired} pods updated and available",
                             desired, updated, available)
    return RolloutStatus(False, message, desired, updated, available)


# --- the node's sysctls ----------------------------------------------------------------------


@dataclass(frozen=True)
class InterfaceArp:
    """One interface's own values and the effective ones (the larger of it and ``all``)."""

    name: str
    arp_ignore: int
    arp_announce: int
    effective_ignore: int
    effective_announce: int

    @property
    def strict(self) -> bool:
        return _strict(self.effective_ignore, self.effective_announce)


@dataclass(frozen=True)
class NodeArp:
    all_ignore: int
    all_announce: int
    interfaces: tuple[InterfaceArp, ...]  # sorted by name; without "all", "default" and "lo"

    @property
    def active(self) -> bool:
        """Strict ARP holds on every interface (on ``all`` alone when there is none)."""
        if not self.interfaces:
            return _strict(self.all_ignore, self.all_announce)
        return all(interface.strict for interface in self.interfaces)


def _strict(arp_ignore: int, arp_announce: int) -> bool:
    return arp_ignore >= ARP_IGNORE_MIN and arp_announce >= ARP_ANNOUNCE_MIN


def evaluate_arp(sysctls: Mapping[str, Mapping[str, int]]) -> NodeArp:
    """Judge ``{"all": {"arp_ignore": 1, "arp_announce": 2}, "eth0": {...}, ...}``.

    The kernel applies ``max(conf/all, conf/<interface>)`` for both settings, so an interface is
    strict when both effective values reach kube-proxy's (1 and 2).  ``default`` (the template for
    new interfaces) and ``lo`` (no ARP) are not judged.
    """
    if "all" not in sysctls:
        raise UsageError("no conf/all values among the ARP sysctls read",
                         hint="conf/all holds the values every interface starts from: read "
                              "them from procfs (<proc>/sys/net/ipv4/conf/all)")
    all_ignore = sysctls["all"]["arp_ignore"]
    all_announce = sysctls["all"]["arp_announce"]
    interfaces = tuple(
        InterfaceArp(name, values["arp_ignore"], values["arp_announce"],
                     max(all_ignore, values["arp_ignore"]),
                     max(all_announce, values["arp_announce"]))
        for name, values in sorted(sysctls.items()) if name not in ("all", "default", "lo"))
    return NodeArp(all_ignore, all_announce, interfaces)
