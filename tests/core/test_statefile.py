"""The state file's forms: a ConfigMap manifest (written) or the bare document (still read)."""

from __future__ import annotations

import pytest
import yaml

from lbctl.core.manifests import read_objects, without_states
from lbctl.core.statefile import Envelope, is_state, unwrap, wrap
from lbctl.errors import InvalidStateError, UsageError

DOC = "schemaVersion: 1\npools:\n  a: {addresses: [10.0.0.0/24]}\n"

NEW = """\
# lbctl's state: pools, allocations and holds. Change it with lbctl (--state FILE);
# `kubectl apply` creates the ConfigMap lbctl uses on the cluster.
apiVersion: v1
kind: ConfigMap
metadata:
  name: lbctl-state
  namespace: kube-system
  labels:
    app.kubernetes.io/managed-by: lbctl
data:
  state.yaml: |
    schemaVersion: 1
    pools:
      a: {addresses: [10.0.0.0/24]}
"""


def test_a_new_file_is_the_configmap_lbctl_uses_on_the_cluster() -> None:
    assert wrap(DOC) == NEW
    assert unwrap(NEW, "f") == (DOC, Envelope(yaml.safe_load(NEW)))


def test_a_bare_document_is_read_as_it_is() -> None:
    assert unwrap(DOC, "f") == (DOC, Envelope())
    assert unwrap(None, "f") == (None, Envelope())
    assert unwrap("pools: [", "f") == ("pools: [", Envelope())  # decode says what is wrong


def test_a_write_keeps_the_rest_of_an_existing_manifest() -> None:
    mine = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "lbctl-state", "namespace": "kube-system",
                         "annotations": {"argocd.argoproj.io/sync-wave": "-1"}},
            "data": {"notes": "hello", "state.yaml": "schemaVersion: 1\n"}}
    _, envelope = unwrap(yaml.safe_dump(mine), "f")
    written = yaml.safe_load(wrap(DOC, envelope))
    assert written == {**mine, "data": {"notes": "hello", "state.yaml": DOC}}


@pytest.mark.parametrize("document", [
    "schemaVersion: 1\nnote: 'trailing   '   \n",
    "schemaVersion: 1\n\tpools: {}\n",
    "schemaVersion: 1\npools: {}",  # no final newline
    "  schemaVersion: 1\n",  # leading indentation
    "schemaVersion: 1\nreservations: {10.0.0.1: \"caf\u00e9 \u2603\"}\n",
])
def test_any_document_survives_the_manifest(document: str) -> None:
    text = wrap(document)
    assert unwrap(text, "f")[0] == document
    assert yaml.safe_load(text)["data"]["state.yaml"] == document


@pytest.mark.parametrize(("text", "message"), [
    ("apiVersion: v1\nkind: Service\nmetadata: {name: web}\n",
     "f is a Service manifest without the lbctl state (a ConfigMap with the key state.yaml)"),
    ("apiVersion: v1\nkind: ConfigMap\ndata: {other: x}\n",
     "f is a ConfigMap manifest without the lbctl state (a ConfigMap with the key state.yaml)"),
])
def test_another_manifest_is_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidStateError) as caught:
        unwrap(text, "f")
    assert caught.value.message == message


@pytest.mark.parametrize(("text", "expected"), [
    (NEW, True),
    (DOC, True),
    ("apiVersion: v1\nkind: ConfigMap\ndata: {state.yaml: 'schemaVersion: 1'}\n", True),
    ("apiVersion: v1\nkind: ConfigMap\ndata: {state.yaml: 'other'}\n", False),
    ("apiVersion: v1\nkind: Service\nmetadata: {name: schemaVersion}\n", False),
])
def test_manifest_readers_set_a_state_file_apart(text: str, expected: bool) -> None:
    """assign -f, doctor -f and pool import -f read through read_objects, which knows both
    forms of the state file."""
    assert read_objects(text, "f").state is expected


def test_state_documents_among_others_are_set_apart() -> None:
    text = (DOC + "---\napiVersion: v1\nkind: List\nitems:\n"
            "- apiVersion: v1\n  kind: ConfigMap\n  data: {state.yaml: 'schemaVersion: 1'}\n"
            "- {apiVersion: v1, kind: Pod}\n")
    read = read_objects(text, "f")
    assert not read.state
    assert len(read.states) == 2
    assert [p.obj["kind"] for p in read.objects] == ["Pod"]
    assert without_states(text, "f") == (
        "---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod}\n", (1, 8))


@pytest.mark.parametrize(("text", "kept"), [
    ('{"kind": "List", "apiVersion": "v1", "items": [{"apiVersion": "v1", "kind": "ConfigMap", '
     '"data": {"state.yaml": "schemaVersion: 1"}}, {"apiVersion": "v1", "kind": "Pod"}]}',
     '{"kind": "List", "apiVersion": "v1", "items": [{"apiVersion": "v1", "kind": "Pod"}]}'),
    ('{"kind": "List", "apiVersion": "v1", "items": [{"apiVersion": "v1", "kind": "Pod"},\n'
     ' {"apiVersion": "v1", "kind": "ConfigMap", "data": {"state.yaml": "schemaVersion: 1"}}]}',
     '{"kind": "List", "apiVersion": "v1", "items": [{"apiVersion": "v1", "kind": "Pod"}]}'),
    ("{apiVersion: v1, kind: Pod}\n# a comment\n---\n" + NEW,
     "{apiVersion: v1, kind: Pod}\n# a comment\n"),
    (NEW + "---\n" + NEW, ""),
    (NEW, NEW),  # a state file: set apart whole by its readers, not cut here
])
def test_without_states_keeps_every_other_byte(text: str, kept: str) -> None:
    assert without_states(text, "f")[0] == kept


@pytest.mark.parametrize(("text", "message"), [
    ("schemaVersion: [", "f:2:1: not valid YAML: did not find expected node content"),
])
def test_what_is_not_a_state_file_says_why(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        read_objects(text, "f")
    assert caught.value.message == message


def test_is_state() -> None:
    assert is_state({"schemaVersion": 1})
    assert not is_state({"schemaVersion": 1, "kind": "Thing"})
    assert not is_state(["schemaVersion"])
