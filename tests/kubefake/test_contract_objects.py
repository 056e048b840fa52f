"""Contract: object writes through the real client behave like a real API server.

Server-set metadata, resourceVersion and 409s, Status error bodies, 422 validation, Service
defaults, the status subresource, DELETE, and the namespace rule.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.kubefake.server import FakeKubeServer
from tests.kubefake.support import Raw, configmap, raises_status, service


def test_create_sets_server_metadata_and_defaults_the_namespace_from_the_path(core: Any) -> None:
    created = core.create_namespaced_config_map("kube-system", {"metadata": {"name": "cfg"}})

    meta = created.metadata
    assert meta.namespace == "kube-system"
    assert re.fullmatch(r"[0-9a-f-]{36}", meta.uid)
    assert meta.creation_timestamp is not None
    assert meta.resource_version.isdigit()


def test_a_body_namespace_must_match_the_path_unless_empty(raw: Raw) -> None:
    path = "/api/v1/namespaces/default/configmaps"
    status, created = raw("POST", path, {"metadata": {"name": "a", "namespace": ""}})
    assert (status, created["metadata"]["namespace"]) == (201, "default")
    status, body = raw("POST", path, {"metadata": {"name": "b", "namespace": "other"}})
    assert (status, body["message"]) == (
        400,
        "the namespace of the provided object does not match the namespace sent on the request",
    )


def test_every_write_bumps_one_global_resource_version(core: Any) -> None:
    first = core.create_namespaced_config_map("default", configmap("a"))
    second = core.create_namespaced_service("default", service("web"))
    patched = core.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})

    versions = [int(o.metadata.resource_version) for o in (first, second, patched)]
    assert versions == sorted(versions) and len(set(versions)) == 3
    assert int(core.list_namespaced_config_map("default").metadata.resource_version) == versions[-1]


def test_a_write_that_changes_nothing_keeps_the_resource_version(core: Any) -> None:
    created = core.create_namespaced_config_map("default", configmap("a", k="v"))
    again = core.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})
    assert again.metadata.resource_version == created.metadata.resource_version


def test_generate_name_appends_a_random_suffix(core: Any) -> None:
    created = core.create_namespaced_config_map("default", {"metadata": {"generateName": "lbctl-"}})
    assert re.fullmatch(r"lbctl-[a-z0-9]{5}", created.metadata.name)


def test_put_with_a_stale_resource_version_is_a_conflict(core: Any) -> None:
    created = core.create_namespaced_config_map("default", configmap("x", k="1"))
    core.patch_namespaced_config_map("x", "default", {"data": {"k": "2"}})
    stale = {
        **configmap("x", k="3"),
        "metadata": {"name": "x", "resourceVersion": created.metadata.resource_version},
    }

    code, status = raises_status(lambda: core.replace_namespaced_config_map("x", "default", stale))

    assert code == 409
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Operation cannot be fulfilled on configmaps "x": the object has been modified; '
        "please apply your changes to the latest version and try again",
        "reason": "Conflict",
        "details": {"name": "x", "kind": "configmaps"},
        "code": 409,
    }


def test_put_with_the_current_resource_version_succeeds_and_bumps_it(core: Any) -> None:
    created = core.create_namespaced_config_map("default", configmap("x", k="1"))
    body = {
        **configmap("x", k="2"),
        "metadata": {"name": "x", "resourceVersion": created.metadata.resource_version},
    }

    replaced = core.replace_namespaced_config_map("x", "default", body)

    assert replaced.data == {"k": "2"}
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    assert replaced.metadata.uid == created.metadata.uid


def test_put_without_a_resource_version_is_unconditional(core: Any) -> None:
    core.create_namespaced_config_map("default", configmap("x", k="1"))
    core.patch_namespaced_config_map("x", "default", {"data": {"k": "2"}})
    replaced = core.replace_namespaced_config_map("x", "default", configmap("x", k="3"))
    assert replaced.data == {"k": "3"}


def test_put_whose_body_names_another_object_is_a_bad_request(core: Any) -> None:
    core.create_namespaced_config_map("default", configmap("x"))
    code, status = raises_status(
        lambda: core.replace_namespaced_config_map("x", "default", configmap("y"))
    )
    assert (code, status["reason"]) == (400, "BadRequest")
    assert status["message"] == "the name of the object (y) does not match the name on the URL (x)"


def test_creating_an_existing_name_is_already_exists(core: Any) -> None:
    core.create_namespaced_config_map("default", configmap("x"))
    code, status = raises_status(
        lambda: core.create_namespaced_config_map("default", configmap("x"))
    )
    assert code == 409
    assert (status["reason"], status["message"]) == (
        "AlreadyExists",
        'configmaps "x" already exists',
    )
    assert status["details"] == {"name": "x", "kind": "configmaps"}


def test_a_missing_object_is_not_found_with_the_real_message(core: Any, api: Any) -> None:
    from kubernetes import client

    code, status = raises_status(lambda: core.read_namespaced_config_map("x", "default"))
    assert code == 404
    assert status == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'configmaps "x" not found',
        "reason": "NotFound",
        "details": {"name": "x", "kind": "configmaps"},
        "code": 404,
    }
    apps = client.AppsV1Api(api)
    _, status = raises_status(lambda: apps.read_namespaced_deployment("d", "default"))
    assert status["message"] == 'deployments.apps "d" not found'
    assert status["details"] == {"name": "d", "group": "apps", "kind": "deployments"}


@pytest.mark.parametrize(
    ("name", "field_message"),
    [
        ("", "metadata.name: Required value: name or generateName is required"),
        ("Bad_Name", 'metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain'),
    ],
)
def test_invalid_configmap_names_are_422(core: Any, name: str, field_message: str) -> None:
    code, status = raises_status(
        lambda: core.create_namespaced_config_map("default", {"metadata": {"name": name}})
    )
    assert (code, status["reason"]) == (422, "Invalid")
    assert status["message"].startswith(f'ConfigMap "{name}" is invalid: {field_message}')
    assert status["details"]["causes"][0]["field"] == "metadata.name"


def test_service_names_must_be_dns_1035_labels(core: Any) -> None:
    code, status = raises_status(lambda: core.create_namespaced_service("default", service("1web")))
    assert code == 422
    assert "a DNS-1035 label must consist of lower case alphanumeric" in status["message"]


def test_configmap_data_over_one_mebibyte_is_too_long(core: Any) -> None:
    big = {"metadata": {"name": "big"}, "data": {"a": "x" * (1024 * 1024 - 1)}}
    core.create_namespaced_config_map("default", big)  # exactly 1 MiB with its key: allowed

    bigger = {
        "metadata": {"name": "bigger"},
        "data": {"a": "x" * 600_000},
        "binaryData": {"b": "eHh4" * 200_000},
    }  # 600,001 + 600,001 bytes
    code, status = raises_status(lambda: core.create_namespaced_config_map("default", bigger))
    assert code == 422
    assert (
        status["message"]
        == 'ConfigMap "bigger" is invalid: []: Too long: must have at most 1048576 bytes'
    )


def test_a_load_balancer_ingress_ip_must_be_an_ip(core: Any) -> None:
    core.create_namespaced_service("default", service("web", type="LoadBalancer"))
    code, status = raises_status(
        lambda: core.patch_namespaced_service_status(
            "web", "default", {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.300"}]}}}
        )
    )
    assert code == 422
    assert status["message"] == (
        'Service "web" is invalid: status.loadBalancer.ingress[0].ip: '
        'Invalid value: "192.0.2.300": must be a valid IP address'
    )


def test_services_get_a_type_cluster_ip_families_and_node_ports(core: Any) -> None:
    plain = core.create_namespaced_service("default", service("plain"))
    lb = core.create_namespaced_service("default", service("lb", type="LoadBalancer"))
    dual = core.create_namespaced_service(
        "default", service("dual", ipFamilyPolicy="PreferDualStack")
    )
    v6 = core.create_namespaced_service("default", service("v6", ipFamilies=["IPv6"]))

    assert plain.spec.type == "ClusterIP"
    assert plain.spec.cluster_ip.startswith("10.") and plain.spec.cluster_ips == [
        plain.spec.cluster_ip
    ]
    assert (plain.spec.ip_families, plain.spec.ip_family_policy) == (["IPv4"], "SingleStack")
    assert plain.spec.ports[0].protocol == "TCP" and plain.spec.ports[0].node_port is None
    assert 30000 <= lb.spec.ports[0].node_port <= 32767
    assert lb.spec.external_traffic_policy == "Cluster"
    assert dual.spec.ip_families == ["IPv4", "IPv6"] and ":" in dual.spec.cluster_ips[1]
    assert ":" in v6.spec.cluster_ip
    assert len({plain.spec.cluster_ip, lb.spec.cluster_ip, dual.spec.cluster_ip}) == 3


def test_a_service_update_without_cluster_ip_keeps_the_allocated_one(core: Any) -> None:
    created = core.create_namespaced_service("default", service("web", type="LoadBalancer"))
    replaced = core.replace_namespaced_service(
        "web", "default", service("web", type="LoadBalancer")
    )
    assert replaced.spec.cluster_ip == created.spec.cluster_ip
    assert replaced.spec.ports[0].node_port == created.spec.ports[0].node_port


def test_status_writes_change_only_status_and_main_writes_keep_status(core: Any) -> None:
    core.create_namespaced_service("default", service("web", type="LoadBalancer"))
    ingress = {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}

    after_status = core.patch_namespaced_service_status(
        "web",
        "default",
        {"metadata": {"labels": {"a": "b"}}, "spec": {"type": "NodePort"}, "status": ingress},
    )
    assert after_status.status.load_balancer.ingress[0].ip == "192.0.2.10"
    assert after_status.spec.type == "LoadBalancer" and after_status.metadata.labels is None

    after_main = core.patch_namespaced_service(
        "web", "default", {"metadata": {"labels": {"a": "b"}}, "status": {"loadBalancer": {}}}
    )
    assert after_main.metadata.labels == {"a": "b"}
    assert after_main.status.load_balancer.ingress[0].ip == "192.0.2.10"


def test_create_ignores_the_status_of_resources_with_a_status_subresource(core: Any) -> None:
    body = {**service("web"), "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}
    created = core.create_namespaced_service("default", body)
    assert created.status.load_balancer.ingress is None


def test_delete_returns_a_status_and_then_the_object_is_gone(core: Any) -> None:
    core.create_namespaced_config_map("default", configmap("x"))
    result = core.delete_namespaced_config_map("x", "default")
    assert result["status"] == "Success"
    assert result["details"]["name"] == "x" and result["details"]["kind"] == "configmaps"

    code, _ = raises_status(lambda: core.delete_namespaced_config_map("x", "default"))
    assert code == 404


def test_delete_with_a_stale_precondition_is_a_conflict(core: Any) -> None:
    created = core.create_namespaced_config_map("default", configmap("x"))
    core.patch_namespaced_config_map("x", "default", {"data": {"k": "v"}})
    code, _ = raises_status(
        lambda: core.delete_namespaced_config_map(
            "x",
            "default",
            body={"preconditions": {"resourceVersion": created.metadata.resource_version}},
        )
    )
    assert code == 409


def test_deleting_a_namespace_deletes_what_is_in_it(core: Any, kube_server: FakeKubeServer) -> None:
    core.create_namespace({"metadata": {"name": "team"}})
    core.create_namespaced_config_map("team", configmap("x", "team"))
    core.delete_namespace("team")
    assert kube_server.get_object("configmaps", "x", "team") is None
    assert kube_server.get_object("namespaces", "team") is None


def test_namespaces_get_their_name_label_and_the_system_ones_exist(core: Any) -> None:
    created = core.create_namespace({"metadata": {"name": "team"}})
    assert created.metadata.labels == {"kubernetes.io/metadata.name": "team"}
    names = [n.metadata.name for n in core.list_namespace().items]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system", "team"]


@pytest.mark.parametrize("strict", [False, True])
def test_namespaces_are_only_required_when_asked(tmp_path: Path, strict: bool) -> None:
    from kubernetes import client, config

    with FakeKubeServer(require_namespaces=strict) as server:
        api = config.new_client_from_config(str(server.write_kubeconfig(tmp_path / "kc")))
        core = client.CoreV1Api(api)

        def create() -> Any:
            return core.create_namespaced_config_map("nowhere", configmap("x", "nowhere"))

        if strict:
            code, status = raises_status(create)
            assert (code, status["message"]) == (404, 'namespaces "nowhere" not found')
        else:
            assert create().metadata.namespace == "nowhere"
        api.close()


def test_seeding_and_reading_objects_directly(kube_server: FakeKubeServer, core: Any) -> None:
    seeded = kube_server.put_object(
        {
            **service("web", type="LoadBalancer"),
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.7"}]}},
        }
    )
    assert seeded["spec"]["clusterIP"] and seeded["metadata"]["resourceVersion"]
    assert (
        core.read_namespaced_service("web", "default").status.load_balancer.ingress[0].ip
        == "192.0.2.7"
    )

    kube_server.put_object({**service("web", type="LoadBalancer"), "status": {"loadBalancer": {}}})
    assert kube_server.get_object("services", "web")["status"] == {"loadBalancer": {}}
    assert [o["metadata"]["name"] for o in kube_server.objects_of("services")] == ["web"]
    with pytest.raises(ValueError, match="serves no v1 PersistentVolume"):
        kube_server.put_object({"apiVersion": "v1", "kind": "PersistentVolume",
                                "metadata": {"name": "s"}})


def test_load_balancer_node_ports_follow_allocate_load_balancer_node_ports(raw: Raw) -> None:
    path = "/api/v1/namespaces/default/services"
    body = {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}],
                                                 "allocateLoadBalancerNodePorts": False}}
    status, created = raw("POST", path, body)
    assert status == 201 and "nodePort" not in created["spec"]["ports"][0]
    body = {"metadata": {"name": "lb2"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}
    status, created = raw("POST", path, body)
    assert status == 201 and 30000 <= created["spec"]["ports"][0]["nodePort"] < 32768
