"""The ConfigMap state store against the fake kube-apiserver, through the real client.

What users rely on: the first write creates ``kube-system/lbctl-state``; every write carries the
resourceVersion it read, so concurrent writers lose nothing and duplicate nothing; a refused
change or an invalid document leaves the stored bytes identical; other keys and labels survive.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lbctl import kube
from lbctl.core.allocator import Allocator, Request
from lbctl.core.pools import add_pool, make_pool
from lbctl.core.state import State, decode
from lbctl.errors import ConflictError, InvalidStateError, RefusedError
from lbctl.state.configmap import ConfigMapBackend
from lbctl.state.store import StateStore
from tests.conftest import Cli
from tests.kubefake import resources
from tests.kubefake.server import FakeKubeServer


def _store(kubeconfig: Path, attempts: int = 8) -> StateStore:
    return StateStore(ConfigMapBackend(kube.connect(str(kubeconfig), None)), attempts=attempts)


def _stored_text(server: FakeKubeServer) -> str:
    obj = server.get_object("configmaps", "lbctl-state", "kube-system")
    assert obj is not None
    text: str = obj["data"]["state.yaml"]
    return text


def _with_pool(state: State) -> tuple[State, None]:
    return add_pool(state, make_pool("default", ["10.0.0.0/16"])), None


def test_first_write_creates_the_configmap(kube_server: FakeKubeServer, kubeconfig: Path) -> None:
    assert kube_server.get_object("configmaps", "lbctl-state", "kube-system") is None
    applied = _store(kubeconfig).update(_with_pool)
    assert applied.written
    obj = kube_server.get_object("configmaps", "lbctl-state", "kube-system")
    assert obj is not None
    assert obj["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "lbctl"}
    assert "default" in decode(obj["data"]["state.yaml"]).pools


def test_write_keeps_other_keys_and_labels(kube_server: FakeKubeServer, kubeconfig: Path) -> None:
    kube_server.put_object({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "lbctl-state", "namespace": "kube-system",
                     "labels": {"team": "net"}},
        "data": {"notes.txt": "hand-written", "state.yaml": "schemaVersion: 1\n"},
    })
    _store(kubeconfig).update(_with_pool)
    obj = kube_server.get_object("configmaps", "lbctl-state", "kube-system")
    assert obj is not None
    assert obj["metadata"]["labels"] == {"team": "net"}
    assert obj["data"]["notes.txt"] == "hand-written"


def test_a_base_whose_configmap_was_deleted_is_read_again(
        kube_server: FakeKubeServer, kubeconfig: Path) -> None:
    """A writer that follows the ConfigMap writes against the version it last saw; when the
    ConfigMap was deleted since (404, not 409), it reads again and creates it."""
    store = _store(kubeconfig)
    base = store.update(_with_pool).stored
    assert base is not None
    kube_server.store.delete(resources.lookup("configmaps"), "kube-system", "lbctl-state", {})

    def other_pool(state: State) -> tuple[State, None]:
        return add_pool(state, make_pool("other", ["10.1.0.0/16"])), None

    applied = store.update(other_pool, base=base)
    assert applied.written and list(applied.before.pools) == []
    assert list(decode(_stored_text(kube_server)).pools) == ["other"]


def test_a_409_rereads_and_reruns_the_change(kube_server: FakeKubeServer, kubeconfig: Path) -> None:
    store = _store(kubeconfig)
    store.update(_with_pool)
    runs = []

    def change(state: State) -> tuple[State, None]:
        runs.append(len(state.allocations))
        allocator = Allocator(state)
        allocator.allocate(Request("web", "front"))
        return allocator.state(), None

    kube_server.inject(409, method="PUT", path="/configmaps/lbctl-state")
    store.update(change)
    assert runs == [0, 0]
    assert list(decode(_stored_text(kube_server)).allocations) == [("web", "front")]


def test_gives_up_after_the_bounded_attempts(kube_server: FakeKubeServer, kubeconfig: Path) -> None:
    store = _store(kubeconfig, attempts=3)
    store.update(_with_pool)
    before = _stored_text(kube_server)
    kube_server.inject(409, method="PUT", path="/configmaps/lbctl-state", times=None)
    with pytest.raises(ConflictError, match="gave up after 3 attempts"):
        store.update(lambda s: (Allocator(s).state().__class__(pools={}), None))
    assert _stored_text(kube_server) == before


def test_refused_change_and_invalid_document_leave_bytes_identical(
    kube_server: FakeKubeServer, kubeconfig: Path
) -> None:
    store = _store(kubeconfig)
    store.update(_with_pool)
    before = _stored_text(kube_server)
    with pytest.raises(RefusedError):
        store.update(_with_pool)  # a second pool named default is refused
    assert _stored_text(kube_server) == before

    broken = before.replace(
        "allocations: {}\n", "allocations:\n  web:\n    x: {ips: [192.0.2.1], pool: default}\n"
    )
    obj = kube_server.get_object("configmaps", "lbctl-state", "kube-system")
    assert obj is not None
    obj["data"]["state.yaml"] = broken
    kube_server.put_object(obj)
    with pytest.raises(InvalidStateError, match="outside every pool"):
        store.update(lambda s: (State(), None))
    assert _stored_text(kube_server) == broken


def test_concurrent_writers_lose_nothing_and_duplicate_nothing(
    kube_server: FakeKubeServer, kubeconfig: Path
) -> None:
    _store(kubeconfig).update(_with_pool)
    writers, per_writer = 4, 6
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        store = _store(kubeconfig, attempts=200)
        try:
            for j in range(per_writer):
                def change(state: State, name: str = f"svc-{index}-{j}") -> tuple[State, None]:
                    allocator = Allocator(state)
                    allocator.allocate(Request("default", name))
                    return allocator.state(), None

                store.update(change)
        except BaseException as exc:  # reported below; a thread cannot raise into the test
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    state = decode(_stored_text(kube_server))
    assert len(state.allocations) == writers * per_writer
    ips = [ip for record in state.allocations.values() for ip in record.ips]
    assert len(set(ips)) == len(ips)
    conflicts = [r for r in kube_server.requests if r[0] == "PUT" and "lbctl-state" in r[1]]
    assert len(conflicts) >= writers * per_writer


def test_too_large_for_a_configmap_is_refused_before_sending(
    kube_server: FakeKubeServer, kubeconfig: Path
) -> None:
    store = _store(kubeconfig)
    store.update(_with_pool)
    before = _stored_text(kube_server)

    def huge(state: State) -> tuple[State, None]:
        allocator = Allocator(state)
        for i in range(14_000):  # about 80 bytes each: just over 1 MiB
            allocator.allocate(Request("a-rather-long-namespace-name-for-the-size-test",
                                       f"service-with-a-long-name-number-{i:06d}"))
        return allocator.state(), None

    with pytest.raises(RefusedError, match="a ConfigMap holds at most 1048576"):
        store.update(huge)
    assert _stored_text(kube_server) == before


def test_cli_against_the_cluster_writes_the_configmap(
    cli: Cli, kube_server: FakeKubeServer, kubeconfig: Path
) -> None:
    result = cli("pool", "add", "default", "192.168.1.30-192.168.1.49",
                 "--kubeconfig", str(kubeconfig))
    assert (result.code, result.out, result.err) == (0, "pool/default created\n", "")
    assert "192.168.1.30-192.168.1.49" in _stored_text(kube_server)
    result = cli("pool", "list", "-o", "name", env={"KUBECONFIG": str(kubeconfig)})
    assert (result.code, result.out) == (0, "pool/default\n")


def test_cli_reports_403_naming_verb_and_resource(
    cli: Cli, kube_server: FakeKubeServer, kubeconfig: Path
) -> None:
    kube_server.deny("create", "configmaps", namespace="kube-system")
    result = cli("pool", "add", "a", "10.0.0.0/30", "--kubeconfig", str(kubeconfig))
    assert result.code == 6
    first, hint = result.err.splitlines()
    assert first.startswith("lbctl: error: ")
    assert "create" in first and "configmaps" in first and "kube-system" in first
    assert hint.startswith("hint: ")


def test_cli_reports_an_unreachable_server(cli: Cli, tmp_path: Path) -> None:
    with FakeKubeServer() as server:
        config = server.write_kubeconfig(tmp_path / "kubeconfig")
    result = cli("pool", "list", "--kubeconfig", str(config))
    assert result.code == 7
    assert result.err.startswith("lbctl: error: cannot reach the API server")
