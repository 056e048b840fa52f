"""The state file's two forms: a ConfigMap manifest, or the bare state document.

A state file (``--state PATH``) is written as the manifest of the very ConfigMap lbctl uses on a
cluster, ``kube-system/lbctl-state`` with the document under the key ``state.yaml``, so a GitOps
repository that keeps it beside its manifests stays a valid input for ``kubectl apply -f``, Argo
CD and Flux, and applying the repository creates exactly the ConfigMap lbctl reads on the
cluster.  The older form, the bare document (``schemaVersion: 1`` at the top), is still read; it
becomes a ConfigMap manifest on its next write.

:func:`unwrap` finds the document in a file's text, :func:`wrap` puts a document into the
manifest (keeping the name, labels, annotations and other keys of an existing manifest), and
:func:`is_state` tells whether a manifest document is the state, so that commands reading
manifests (``assign -f``, ``doctor -f``) can set it apart.

Pure: text in, text out.  A file that is a manifest of another kind, or a ConfigMap without the
``state.yaml`` key, raises :class:`~lbctl.errors.InvalidStateError` (never overwritten).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from lbctl.core import yamlkit
from lbctl.core.names import STATE_CONFIGMAP, SYSTEM_NAMESPACE
from lbctl.errors import InvalidStateError

KEY = "state.yaml"
HEADER = ("# lbctl's state: pools, allocations and holds. Change it with lbctl (--state FILE);\n"
          "# `kubectl apply` creates the ConfigMap lbctl uses on the cluster.\n")
#: A top-level ``kind:`` (block style) or a flow mapping: the text may be a manifest.
_MANIFEST_HINT = re.compile(r"""^(?:["']?kind["']?\s*:|\s*\{)""", re.MULTILINE)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True)
class Envelope:
    """Where the document sat: ``manifest`` is the parsed ConfigMap (empty for a bare
    document or no file), kept so that a write changes only ``data.state.yaml``."""

    manifest: Mapping[str, Any] = field(default_factory=dict)

    @property
    def bare(self) -> bool:
        return not self.manifest


def is_state(doc: Any) -> bool:
    """A bare state document, or a ConfigMap manifest carrying one (``data.state.yaml``); the
    document text of the latter is ``doc["data"]["state.yaml"]``."""
    if not isinstance(doc, Mapping):
        return False
    if "kind" not in doc:
        return "schemaVersion" in doc
    data = doc.get("data")
    return (doc.get("kind") == "ConfigMap" and isinstance(data, Mapping)
            and isinstance(data.get(KEY), str) and "schemaVersion" in data[KEY])


def document_of(doc: Mapping[str, Any]) -> str:
    """The state document a parsed state (:func:`is_state`) carries, as text: its ConfigMap's
    ``data.state.yaml``, or the bare document written out again."""
    if "kind" in doc:
        return str(doc["data"][KEY])
    return str(yaml.dump(dict(doc), Dumper=_DUMPER, sort_keys=False, allow_unicode=True))


def unwrap(text: str | None, source: str) -> tuple[str | None, Envelope]:
    """The state document in a file's ``text`` and the envelope it came in.  A text with no
    top-level ``kind`` is the bare document itself (not parsed here: :func:`decode` does)."""
    if text is None or not _MANIFEST_HINT.search(text):
        return text, Envelope()
    try:
        doc = yamlkit.load(text, source)
    except yamlkit.YAMLInputError:
        return text, Envelope()  # not YAML lbctl reads: decode says where
    if not isinstance(doc, Mapping) or "kind" not in doc:
        return text, Envelope()
    if not is_state(doc):
        raise InvalidStateError(
            f"{source} is a {doc.get('kind')} manifest without the lbctl state "
            f"(a ConfigMap with the key {KEY})",
            hint="is --state pointing at the right file? lbctl will not overwrite it",
        )
    return str(doc["data"][KEY]), Envelope(dict(doc))


class _Literal(str):
    """A string written as a YAML block scalar (``|``) where YAML allows it."""


def _literal(dumper: yaml.SafeDumper, data: _Literal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style="|")


class _Dumper(_DUMPER):  # type: ignore[misc, valid-type]
    pass


_Dumper.add_representer(_Literal, _literal)


def wrap(document: str, envelope: Envelope = Envelope()) -> str:
    """The ConfigMap manifest carrying ``document``: the envelope's manifest with its
    ``data.state.yaml`` replaced, or a new ``kube-system/lbctl-state``."""
    manifest = dict(envelope.manifest) or {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": STATE_CONFIGMAP,
            "namespace": SYSTEM_NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "lbctl"},
        },
    }
    data = {key: value for key, value in (manifest.get("data") or {}).items() if key != KEY}
    manifest["data"] = {**data, KEY: _Literal(document)}
    text = HEADER + str(yaml.dump(manifest, Dumper=_Dumper, sort_keys=False, width=1 << 20,
                                  allow_unicode=True))
    again, _ = unwrap(text, "the new state file")
    assert again == document, "the state file's manifest must carry the document unchanged"
    return text
