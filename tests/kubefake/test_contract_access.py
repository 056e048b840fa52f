"""Contract: authentication, permission rules and SelfSubjectAccessReview."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.kubefake.server import FakeKubeServer
from tests.kubefake.support import raises_status, service


@pytest.mark.parametrize("written_token", ["wrong", ""])
def test_a_wrong_or_missing_token_is_401(tmp_path: Path, written_token: str) -> None:
    from kubernetes import client, config

    with FakeKubeServer(token="s3cret") as server:
        good = config.new_client_from_config(str(server.write_kubeconfig(tmp_path / "good")))
        bad = config.new_client_from_config(
            str(server.write_kubeconfig(tmp_path / "bad", token=written_token))
        )
        assert client.CoreV1Api(good).list_namespace().items
        code, status = raises_status(lambda: client.CoreV1Api(bad).list_namespace())
        good.close()
        bad.close()
    assert (code, status) == (
        401,
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "Unauthorized",
            "reason": "Unauthorized",
            "code": 401,
        },
    )


def test_a_denied_request_gets_the_real_403(core: Any, kube_server: FakeKubeServer) -> None:
    core.create_namespaced_service("default", service("web", type="LoadBalancer"))
    kube_server.deny("patch", "services", subresource="status", namespace="default")

    code, status = raises_status(
        lambda: core.patch_namespaced_service_status("web", "default", {"status": {}})
    )

    assert code == 403
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'services "web" is forbidden: User "alice" cannot patch resource '
        '"services/status" in API group "" in the namespace "default"',
        "reason": "Forbidden",
        "details": {"name": "web", "kind": "services"},
        "code": 403,
    }
    assert core.patch_namespaced_service("web", "default", {"metadata": {"labels": {"a": "b"}}})


def test_denied_lists_and_cluster_scoped_requests(
    core: Any, api: Any, kube_server: FakeKubeServer
) -> None:
    from kubernetes import client

    kube_server.deny("list", "services", namespace="kube-system")
    kube_server.deny("get", "nodes")
    kube_server.deny("*", "deployments", group="apps")

    _, status = raises_status(lambda: core.list_namespaced_service("kube-system"))
    assert status["message"] == (
        'services is forbidden: User "alice" cannot list resource "services" '
        'in API group "" in the namespace "kube-system"'
    )
    _, status = raises_status(lambda: core.list_service_for_all_namespaces())
    assert status["message"].endswith(
        'cannot list resource "services" in API group "" at the cluster scope'
    )
    assert core.list_namespaced_service("default").items == []
    _, status = raises_status(lambda: core.read_node("n1"))
    assert status["message"] == (
        'nodes "n1" is forbidden: User "alice" cannot get resource "nodes" '
        'in API group "" at the cluster scope'
    )
    _, status = raises_status(lambda: client.AppsV1Api(api).list_namespaced_deployment("default"))
    assert status["message"].startswith("deployments.apps is forbidden:")
    assert status["details"] == {"group": "apps", "kind": "deployments"}


def test_access_reviews_answer_from_the_same_rules(api: Any, kube_server: FakeKubeServer) -> None:
    from kubernetes import client

    kube_server.deny("patch", "services/status", namespace="default")
    authz = client.AuthorizationV1Api(api)

    def allowed(**attributes: str) -> bool:
        review = {"spec": {"resourceAttributes": attributes}}
        return bool(authz.create_self_subject_access_review(review).status.allowed)

    assert not allowed(verb="patch", resource="services", subresource="status", namespace="default")
    assert not allowed(verb="patch", resource="services", subresource="status")  # all namespaces
    assert allowed(verb="patch", resource="services", subresource="status", namespace="other")
    assert allowed(verb="patch", resource="services", namespace="default")
    assert allowed(verb="get", resource="services", namespace="default")


def test_an_access_review_needs_attributes(api: Any) -> None:
    from kubernetes import client

    code, status = raises_status(
        lambda: client.AuthorizationV1Api(api).create_self_subject_access_review({"spec": {}})
    )
    assert (code, status["reason"]) == (422, "Invalid")
