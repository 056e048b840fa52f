"""Contract: the PATCH flavours, through the real client and as pure functions."""

from __future__ import annotations

from typing import Any

import pytest

from tests.kubefake import patches
from tests.kubefake.support import Raw, configmap, raises_status, service

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [  # RFC 7386 appendix A, abridged
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
        ({"a": "foo"}, "bar", "bar"),
    ],
)
def test_merge_patch_follows_rfc_7386(target: Any, patch: Any, expected: Any) -> None:
    assert patches.merge_patch(target, patch) == expected


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [
        pytest.param(
            {"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443}]}},
            {"spec": {"ports": [{"port": 80, "name": "web"}, {"port": 8080}]}},
            {"spec": {"ports": [{"port": 80, "name": "web"}, {"port": 443}, {"port": 8080}]}},
            id="service ports merge by port",
        ),
        pytest.param(
            {"containers": [{"name": "a", "image": "x", "env": [{"name": "A", "value": "1"}]}]},
            {"containers": [{"name": "a", "env": [{"name": "B", "value": "2"}]}]},
            {
                "containers": [
                    {
                        "name": "a",
                        "image": "x",
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    }
                ]
            },
            id="containers by name, env by name",
        ),
        pytest.param(
            {"containers": [{"name": "a", "ports": [{"containerPort": 1}, {"containerPort": 2}]}]},
            {"containers": [{"name": "a", "ports": [{"containerPort": 2, "$patch": "delete"}]}]},
            {"containers": [{"name": "a", "ports": [{"containerPort": 1}]}]},
            id="$patch delete removes a list element by merge key",
        ),
        pytest.param(
            {"spec": {"ports": [{"port": 80}, {"port": 443}]}},
            {"spec": {"ports": [{"$patch": "replace"}, {"port": 8080}]}},
            {"spec": {"ports": [{"port": 8080}]}},
            id="$patch replace on a list",
        ),
        pytest.param(
            {"data": {"a": "1", "b": "2"}},
            {"data": {"$patch": "replace", "c": "3"}},
            {"data": {"c": "3"}},
            id="$patch replace on a map",
        ),
        pytest.param(
            {"metadata": {"labels": {"a": "1"}}, "spec": {"x": 1}},
            {"spec": {"$patch": "delete"}, "metadata": {"labels": {"a": None}}},
            {"metadata": {"labels": {}}},
            id="$patch delete on a map, null deletes a key",
        ),
        pytest.param(
            {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}},
            {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.2"}]}}},
            {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.2"}]}}},
            id="lists without a merge key are replaced",
        ),
    ],
)
def test_strategic_merge_patch(target: Any, patch: Any, expected: Any) -> None:
    assert patches.strategic_merge_patch(target, patch) == expected


DOC = {"a": {"b": [1, 2]}, "c": "d", "~/": True}


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ([{"op": "add", "path": "/a/b/1", "value": 9}], {**DOC, "a": {"b": [1, 9, 2]}}),
        ([{"op": "add", "path": "/a/b/-", "value": 3}], {**DOC, "a": {"b": [1, 2, 3]}}),
        ([{"op": "remove", "path": "/c"}], {"a": {"b": [1, 2]}, "~/": True}),
        ([{"op": "replace", "path": "/~0~1", "value": False}], {**DOC, "~/": False}),
        ([{"op": "move", "from": "/c", "path": "/e"}], {"a": {"b": [1, 2]}, "~/": True, "e": "d"}),
        ([{"op": "copy", "from": "/a/b/0", "path": "/a/b/0"}], {**DOC, "a": {"b": [1, 1, 2]}}),
        ([{"op": "test", "path": "/a/b", "value": [1, 2]}], DOC),
    ],
)
def test_json_patch_operations(ops: list[Any], expected: Any) -> None:
    assert patches.json_patch(DOC, ops) == expected
    assert DOC == {"a": {"b": [1, 2]}, "c": "d", "~/": True}  # the input is never modified


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "test", "path": "/~0~1", "value": 1}],  # true is not 1
        [{"op": "remove", "path": "/missing"}],
        [{"op": "replace", "path": "/a/b/5", "value": 0}],
        [{"op": "move", "from": "/a", "path": "/a/x"}],
        [{"op": "add", "path": "/c/x", "value": 1}],
    ],
)
def test_json_patch_failures_apply_nothing(ops: list[Any]) -> None:
    with pytest.raises(patches.PatchError) as info:
        patches.json_patch(DOC, ops)
    assert not info.value.malformed


def test_merge_and_strategic_patches_through_the_client(core: Any) -> None:
    core.create_namespaced_service("default", service("web", ports=[{"port": 80, "name": "http"}]))
    strategic = core.patch_namespaced_service(
        "web", "default", {"spec": {"ports": [{"port": 443, "name": "https"}]}}
    )
    assert [p.port for p in strategic.spec.ports] == [80, 443]

    merged = core.patch_namespaced_service(
        "web", "default", {"spec": {"ports": [{"port": 8080}]}}, _content_type=MERGE
    )
    assert [p.port for p in merged.spec.ports] == [8080]


def test_json_patch_and_a_failed_test_operation(core: Any) -> None:
    core.create_namespaced_config_map("default", configmap("x", k="1"))
    patched = core.patch_namespaced_config_map(
        "x",
        "default",
        [
            {"op": "test", "path": "/data/k", "value": "1"},
            {"op": "replace", "path": "/data/k", "value": "2"},
        ],
    )
    assert patched.data == {"k": "2"}

    code, status = raises_status(
        lambda: core.patch_namespaced_config_map(
            "x",
            "default",
            [
                {"op": "test", "path": "/data/k", "value": "1"},
                {"op": "replace", "path": "/data/k", "value": "3"},
            ],
        )
    )
    assert (code, status["reason"]) == (422, "Invalid")
    assert status["message"] == "testing value /data/k failed: test failed"
    assert core.read_namespaced_config_map("x", "default").data == {"k": "2"}


def test_a_patch_carrying_a_stale_resource_version_is_a_conflict(core: Any) -> None:
    created = core.create_namespaced_config_map("default", configmap("x", k="1"))
    core.patch_namespaced_config_map("x", "default", {"data": {"k": "2"}})
    stale = {"metadata": {"resourceVersion": created.metadata.resource_version}, "data": {"k": "3"}}
    code, status = raises_status(
        lambda: core.patch_namespaced_config_map("x", "default", stale, _content_type=MERGE)
    )
    assert (code, status["reason"]) == (409, "Conflict")


def test_patching_a_missing_object_is_not_found(core: Any) -> None:
    code, _ = raises_status(lambda: core.patch_namespaced_config_map("x", "default", {"data": {}}))
    assert code == 404


@pytest.mark.parametrize(
    ("content_type", "code"),
    [("application/apply-patch+yaml", 415), ("", 415), ("application/json-patch+json", 400)],
)
def test_unsupported_or_malformed_patches(raw: Raw, content_type: str, code: int) -> None:
    raw("POST", "/api/v1/namespaces/default/configmaps", configmap("x"))
    headers = {"Content-Type": content_type} if content_type else {}
    status, body = raw("PATCH", "/api/v1/namespaces/default/configmaps/x", {"data": {}}, headers)
    assert (status, body["code"], body["kind"]) == (code, code, "Status")


def test_post_and_put_bodies_without_content_type_are_json(raw: Raw) -> None:
    status, created = raw("POST", "/api/v1/namespaces/default/configmaps", configmap("x", k="1"))
    assert (status, created["data"]) == (201, {"k": "1"})
    status, replaced = raw("PUT", "/api/v1/namespaces/default/configmaps/x", configmap("x", k="2"))
    assert (status, replaced["data"]) == (200, {"k": "2"})
