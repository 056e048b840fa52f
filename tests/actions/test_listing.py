"""``actions.listing.list_services``: its reads overlap, and which error it reports does not
depend on which answer comes first (the order in which they were read one after the other);
``list_pools``: the state's read overlaps the import of what counts the free addresses."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lbctl import kube as adapter
from lbctl.actions.listing import list_pools, list_services
from lbctl.errors import PermissionDeniedError, UsageError
from lbctl.ports import KubeAPI
from lbctl.state.configmap import ConfigMapBackend
from lbctl.state.store import StateStore
from tests.kubefake.server import FakeKubeServer


@pytest.fixture
def kube(kubeconfig: Path) -> KubeAPI:
    return adapter.connect(str(kubeconfig), None)


def test_the_store_is_opened_while_the_list_is_on_its_way(
        kube: KubeAPI, kube_server: FakeKubeServer) -> None:
    kube_server.inject(1.0, "GET", "/services$")  # the answer takes a second
    seen: list[list[str]] = []

    def store() -> StateStore:
        deadline = time.monotonic() + 10
        while not kube_server.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        seen.append([r.path for r in kube_server.requests])
        return StateStore(ConfigMapBackend(kube))

    kube_server.requests.reset()
    assert list_services(kube, store, None) == []
    assert seen == [["/api/v1/services"]]  # the LIST was sent before the store was opened
    assert [r.path for r in kube_server.requests] == [
        "/api/v1/services", "/api/v1/namespaces/kube-system/configmaps/lbctl-state"]


def test_a_store_that_cannot_be_opened_wins_over_a_failed_list(
        kube: KubeAPI, kube_server: FakeKubeServer) -> None:
    """Opening the store came before the LIST when the caller opened it: its error wins."""
    kube_server.deny("list", "services")

    def store() -> StateStore:
        raise UsageError("no store", hint="h")

    with pytest.raises(UsageError, match="no store"):
        list_services(kube, store, None)
    with pytest.raises(PermissionDeniedError, match="cannot list services"):
        list_services(kube, StateStore(ConfigMapBackend(kube)), None)
    assert not [t for t in threading.enumerate() if t.name.startswith("lbctl-")]


def test_importing_the_listing_imports_neither_the_service_rules_nor_the_state_codec() -> None:
    """What makes the overlap pay: svc list imports them while the server answers."""
    code = ("import sys, lbctl.actions.listing; "
            "print(sorted(m for m in ('lbctl.core.service', 'lbctl.core.state', 'yaml', "
            "'lbctl.state.store') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


STATE = ("schemaVersion: 1\npools:\n  web:\n    addresses: [192.0.2.0/28]\n"
         "allocations:\n  shop:\n    web: {ips: [192.0.2.1], pool: web}\n")


def test_pool_list_imports_what_counts_usage_while_the_state_read_is_on_its_way(
        kube_server: FakeKubeServer, kubeconfig: Path) -> None:
    """In a fresh interpreter: opening the store imports neither the state's codec nor what
    counts the used addresses; the state's GET is sent first, and they are imported before its
    answer (held back a second and a half by the server) comes.  The allocator never is."""
    kube_server.put_object({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "lbctl-state", "namespace": "kube-system"},
                            "data": {"state.yaml": STATE}})
    kube_server.inject(1.5, "GET", "/configmaps/lbctl-state$")
    code = (
        "import sys\n"
        "from datetime import datetime, timezone\n"
        "from lbctl import kube\n"
        "from lbctl.actions.listing import list_pools\n"
        "from lbctl.state.configmap import ConfigMapBackend\n"
        "from lbctl.state.store import StateStore\n"
        f"store = StateStore(ConfigMapBackend(kube.connect({str(kubeconfig)!r}, None)))\n"
        "heavy = ('lbctl.core.state', 'lbctl.core.used', 'lbctl.core.allocator')\n"
        "opened = [m for m in heavy if m in sys.modules]\n"
        "answered = []\n"
        "read = store.backend.read\n"
        "def answer():\n"
        "    got = read()\n"
        "    answered.extend(m for m in heavy if m in sys.modules)\n"
        "    return got\n"
        "store.backend.read = answer\n"
        "views = list_pools(store, lambda: datetime.now(timezone.utc))\n"
        "print(opened, answered, [(v.pool.name, [(u.used, u.free) for u in v.usage]) "
        "for v in views])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == (
        "[] ['lbctl.core.state', 'lbctl.core.used'] [('web', [(1, 15)])]")


def test_pool_list_reports_the_state_reads_error(kube: KubeAPI,
                                                 kube_server: FakeKubeServer) -> None:
    kube_server.deny("get", "configmaps")
    with pytest.raises(PermissionDeniedError, match="configmaps"):
        list_pools(StateStore(ConfigMapBackend(kube)), lambda: None)  # type: ignore[arg-type,return-value]
    assert not [t for t in threading.enumerate() if t.name.startswith("lbctl-")]
