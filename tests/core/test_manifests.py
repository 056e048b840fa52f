"""lbctl.core.manifests: find LoadBalancer Services in YAML text and pin their addresses with a
minimal edit that keeps every other byte."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lbctl.core.manifests import Manifest
from lbctl.core.service import PIN_ANNOTATION
from lbctl.errors import RefusedError, UsageError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "manifests"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def names(manifest: Manifest) -> list[str]:
    return [found.obj["metadata"]["name"] for found in manifest.services]


def test_finds_load_balancer_services_only() -> None:
    manifest = Manifest(fixture("app.yaml"), "app.yaml")
    # the Deployment and the ClusterIP Service are not found; another class's Service is
    # (the caller skips it), so that it can be reported
    assert names(manifest) == ["web", "dns", "elsewhere"]
    assert [found.line for found in manifest.services] == [10, 24, 48]
    assert [found.problem for found in manifest.services] == ["", "", ""]


def test_pins_with_a_minimal_edit() -> None:
    manifest = Manifest(fixture("app.yaml"), "app.yaml")
    text, edited = manifest.pin({0: ["192.0.2.10"], 1: ["192.0.2.11"]})
    assert text == fixture("app.yaml.expected")
    assert edited == {0, 1}


def test_every_other_line_is_kept() -> None:
    before = fixture("app.yaml")
    text, _ = Manifest(before, "app.yaml").pin({0: ["192.0.2.10"], 1: ["192.0.2.11"]})
    changes = [line for line in difflib.ndiff(before.splitlines(), text.splitlines())
               if line[:1] in "+-"]
    assert changes == [
        "+   annotations:",
        "+     metallb.io/loadBalancerIPs: 192.0.2.10",
        "+         metallb.io/loadBalancerIPs: 192.0.2.11",
    ]


def test_a_second_run_changes_nothing() -> None:
    pins = {0: ["192.0.2.10"], 1: ["192.0.2.11"]}
    once, _ = Manifest(fixture("app.yaml"), "app.yaml").pin(pins)
    assert Manifest(once, "app.yaml").pin(pins) == (once, set())


def test_list_items_flow_empty_annotations_and_empty_values() -> None:
    manifest = Manifest(fixture("list.yaml"), "list.yaml")
    assert names(manifest) == ["api", "admin"]
    text, edited = manifest.pin({0: ["192.0.2.10", "2001:db8::"], 1: ["192.0.2.11"]})
    assert text == fixture("list.yaml.expected")
    assert edited == {0, 1}


def test_services_that_already_ask_for_their_addresses_are_left_alone() -> None:
    # spec.loadBalancerIP or the older annotation already pins them; adding the annotation next
    # to spec.loadBalancerIP would even make MetalLB refuse the Service.
    text = fixture("pinned.yaml")
    assert Manifest(text, "pinned.yaml").pin({0: ["192.0.2.20"], 1: ["192.0.2.21"]}) == (text,
                                                                                         set())


def test_a_different_address_replaces_the_annotation_value_keeping_its_quotes() -> None:
    text = (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  annotations:\n"
        f"    {PIN_ANNOTATION}: '192.0.2.1'  # pinned\nspec:\n  type: LoadBalancer\n"
    )
    pinned, _ = Manifest(text, "a.yaml").pin({0: ["192.0.2.2"]})
    assert pinned == text.replace("'192.0.2.1'", "'192.0.2.2'")


def test_addresses_yaml_would_misread_are_quoted() -> None:
    # YAML 1.1 reads 1:2:3:4:5:6:7:8 as a sexagesimal integer, and a trailing ':' ends a key.
    text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  type: LoadBalancer\n"
    for ip in ("1:2:3:4:5:6:7:8", "2001:db8::"):
        pinned, _ = Manifest(text, "a.yaml").pin({0: [ip]})
        assert f'{PIN_ANNOTATION}: "{ip}"\n' in pinned
        assert yaml.safe_load(pinned)["metadata"]["annotations"] == {PIN_ANNOTATION: ip}


def test_windows_line_endings_and_a_missing_final_newline_are_kept() -> None:
    text = ("apiVersion: v1\r\nkind: Service\r\nspec:\r\n  type: LoadBalancer\r\n"
            "metadata:\r\n  name: a")
    pinned, _ = Manifest(text, "a.yaml").pin({0: ["192.0.2.1"]})
    assert pinned == text + f"\r\n  annotations:\r\n    {PIN_ANNOTATION}: 192.0.2.1"


def test_flow_style_metadata_gets_a_first_entry() -> None:
    manifest = Manifest(fixture("flow.yaml"), "flow.yaml")
    assert manifest.services[0].problem == ""
    text, edited = manifest.pin({0: ["192.0.2.1", "2001:db8::1"]})
    assert text == fixture("flow.yaml").replace(
        "metadata: {name:",
        f'metadata: {{annotations: {{{PIN_ANNOTATION}: "192.0.2.1,2001:db8::1"}}, name:')
    assert edited == {0}


def test_json_is_pinned_as_json() -> None:
    text = ('{\n  "apiVersion": "v1",\n  "kind": "Service",\n  "metadata": {\n'
            '    "name": "api"\n  },\n  "spec": {"type": "LoadBalancer"}\n}\n')
    pinned, _ = Manifest(text, "api.json").pin({0: ["192.0.2.1"]})
    assert pinned == text.replace(
        '    "name"', f'    "annotations": {{"{PIN_ANNOTATION}": "192.0.2.1"}},\n    "name"')
    again = pinned.replace('{"metallb', '{"a": "b", "metallb')
    assert Manifest(again, "api.json").pin({0: ["192.0.2.9"]})[0] == again.replace(
        "192.0.2.1", "192.0.2.9")
    empty = text.replace('"name": "api"', '"annotations": {}, "name": "api"')
    assert Manifest(empty, "api.json").pin({0: ["192.0.2.1"]})[0] == empty.replace(
        "{}", f'{{"{PIN_ANNOTATION}": "192.0.2.1"}}')


def test_flow_annotations_get_a_first_entry() -> None:
    text = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  annotations: {a: b}\n"
            "spec:\n  type: LoadBalancer\n")
    pinned, _ = Manifest(text, "a.yaml").pin({0: ["192.0.2.1"]})
    assert pinned == text.replace("{a: b}", f'{{{PIN_ANNOTATION}: "192.0.2.1", a: b}}')


@pytest.mark.parametrize(("metadata", "problem"), [
    ("metadata:\n  name: a\n  annotations:\n", "its metadata.annotations is not a mapping"),
    (f"metadata:\n  name: a\n  annotations:\n    {PIN_ANNOTATION}: |\n      192.0.2.1\n",
     f"its {PIN_ANNOTATION} value is not a one-line string"),
    ("metadata:\n  name: >-\n    a\n", "its metadata.name is not a one-line value"),
    ("metadata: {  # c\n  name: a}\n", "a comment starts its metadata"),
])
def test_shapes_that_cannot_be_edited_safely(metadata: str, problem: str) -> None:
    text = f"apiVersion: v1\nkind: Service\n{metadata}spec:\n  type: LoadBalancer\n"
    assert Manifest(text, "a.yaml").services[0].problem == problem


def test_an_edit_that_would_change_more_is_refused() -> None:
    # Both Services share one metadata node through an alias: pinning one would pin both.
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: v1\n  kind: Service\n  metadata: &meta\n    name: a\n"
        "  spec: {type: LoadBalancer}\n"
        "- apiVersion: v1\n  kind: Service\n  metadata: *meta\n  spec: {type: LoadBalancer}\n"
    )
    with pytest.raises(RefusedError, match="would change more than the annotation"):
        Manifest(text, "a.yaml").pin({0: ["192.0.2.1"]})


def test_invalid_yaml_names_the_source_and_line() -> None:
    with pytest.raises(UsageError, match=r"^bad.yaml:3:7: not valid YAML: did not find "
                                         r"expected ',' or '\]'$"):
        Manifest("a: 1\nb: [\n  c: d: e\n", "bad.yaml")


# --------------------------------------------------------------------------- property

_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=8).map(
    lambda w: "a" + w)
_comment = st.sampled_from(["", "  # note", "   # a: b", "  #"])


@st.composite
def _service_text(draw: st.DrawFn) -> str:
    indent = " " * draw(st.sampled_from([2, 4]))
    lines = ["apiVersion: v1", "kind: Service", "metadata:" + draw(_comment)]
    for key in draw(st.permutations(["name", "namespace", "labels", "annotations"])):
        if key == "name":
            lines.append(f"{indent}name: {draw(_word)}{draw(_comment)}")
        elif key == "namespace" and draw(st.booleans()):
            lines.append(f"{indent}namespace: {draw(_word)}")
        elif key in ("labels", "annotations") and draw(st.booleans()):
            lines.append(f"{indent}{key}:{draw(_comment)}")
            for k in draw(st.lists(_word, min_size=1, max_size=3, unique=True)):
                if draw(st.booleans()):
                    lines.append(f"{indent * 2}# about {k}")
                quote = draw(st.sampled_from(["", "'", '"']))
                lines.append(f"{indent * 2}{k}: {quote}{draw(_word)}{quote}{draw(_comment)}")
        if draw(st.booleans()):
            lines.append("")
    lines += ["spec:", f"{indent}type: LoadBalancer"]
    return "\n".join(lines) + "\n"


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(texts=st.lists(_service_text(), min_size=1, max_size=3),
       ips=st.lists(st.sampled_from(["192.0.2.1", "192.0.2.1,2001:db8::1", "1:2:3:4:5:6:7:8"]),
                    min_size=3, max_size=3))
def test_pinning_only_adds_or_changes_the_annotation(texts: list[str], ips: list[str]) -> None:
    text = "---\n".join(texts)
    manifest = Manifest(text, "gen.yaml")
    pins = {i: ips[i].split(",") for i in range(len(texts))}
    pinned, edited = manifest.pin(pins)
    assert edited == set(range(len(texts)))
    documents = list(yaml.safe_load_all(pinned))
    for document, original, wanted in zip(documents, yaml.safe_load_all(text), ips,
                                          strict=False):
        assert document["metadata"].pop("annotations")[PIN_ANNOTATION] == wanted
        original["metadata"].pop("annotations", None)
        assert document == original
    removed = [line for line in difflib.ndiff(text.splitlines(), pinned.splitlines())
               if line.startswith("- ")]
    assert removed == []  # nothing was rewritten: lines were only added
    assert Manifest(pinned, "gen.yaml").pin(pins) == (pinned, set())
