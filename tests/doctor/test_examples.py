"""Every check passes on the clean example and fails on the example where its problem is planted,
offline on the files and live on the fake kube-apiserver seeded with the same objects.

``PLANTED`` names, for each check, the example that trips it and how severe the finding is; a
test makes sure no check is left without one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lbctl.cli.inputs import read_sources
from lbctl.doctor import checks, gather
from lbctl.doctor.report import CheckResult, Severity
from lbctl.state.configmap import ConfigMapBackend
from lbctl.state.file import FileBackend
from tests.doctor.clusters import EXAMPLES, METALLB, ready_slice, seed
from tests.kubefake import FakeKubeServer

#: check -> (example with the planted problem, severity of its findings)
PLANTED: dict[str, tuple[str, Severity]] = {
    "state.parse": ("broken-state", "error"),
    "state.schema": ("newer-state", "error"),
    "state.pool-overlap": ("broken-state", "error"),
    "state.shared-ip": ("broken-state", "error"),
    "state.outside-pool": ("broken-state", "error"),
    "state.consistency": ("broken-state", "error"),
    "pool.node-overlap": ("broken", "error"),
    "pool.pod-cidr-overlap": ("broken", "error"),
    "pool.cluster-ip-overlap": ("broken", "error"),
    "pool.buggy-ips": ("broken", "warning"),
    "pool.utilisation": ("broken", "warning"),
    "pool.exhausted": ("broken", "error"),
    "svc.pending": ("broken", "error"),
    "svc.drift": ("snapshot", "error"),
    "svc.orphan": ("broken", "warning"),
    "svc.pinned": ("broken", "error"),
    "svc.outside-pools": ("snapshot", "warning"),
    "svc.shared-ip": ("snapshot", "error"),
    "svc.requested-ip": ("broken", "error"),
    "svc.local-no-endpoints": ("snapshot", "warning"),
    "svc.deprecated-annotation": ("broken", "info"),
    "kube-proxy.strict-arp": ("broken", "error"),
    "impl.metallb": ("broken", "warning"),
    "impl.kube-vip": ("snapshot", "warning"),
    "impl.servicelb": ("snapshot", "warning"),
    "impl.openelb": ("snapshot", "warning"),
    "impl.purelb": ("snapshot", "warning"),
    "impl.cilium": ("snapshot", "warning"),
    "bgp.unheard": ("broken", "error"),
    "bgp.calico-peers": ("broken", "error"),
    "bgp.calico-service-ips": ("broken", "error"),
}
#: Checks that need a cluster or the wire; their failing cases live in test_live.py and
#: test_probe.py.
NOT_OFFLINE = ("rbac.permissions", "net.probe", "controller.leader", "state.missing")
#: The fake API server has no CRDs, so live Cilium is only its operator: installed, dormant.
LIVE_SEVERITY: dict[str, Severity] = {"impl.cilium": "info"}

Results = dict[str, CheckResult]


def _by_id(results: tuple[CheckResult, ...]) -> Results:
    return {result.id: result for result in results}


def test_every_check_has_a_planted_problem() -> None:
    assert sorted([*PLANTED, *NOT_OFFLINE]) == sorted(checks.IDS)


# --------------------------------------------------------------------------- offline


@pytest.fixture(scope="module")
def offline() -> Callable[[str], Results]:
    cache: dict[str, Results] = {}

    def report(example: str) -> Results:
        if example not in cache:
            facts = gather.offline(read_sources([str(EXAMPLES / example)]))
            cache[example] = _by_id(checks.diagnose(facts))
        return cache[example]

    return report


def test_clean_example_passes_offline(offline: Callable[[str], Results]) -> None:
    results = offline("clean")
    assert {i: r.status for i, r in results.items() if r.status != "pass"} == {
        "svc.local-no-endpoints": "skip",  # EndpointSlices are not kept in Git
        "rbac.permissions": "skip",
        "net.probe": "skip",
        "controller.leader": "skip",
    }
    assert "offline: no cluster to ask" in results["rbac.permissions"].findings[0].message


@pytest.mark.parametrize("check", sorted(PLANTED))
def test_planted_problem_fails_offline(offline: Callable[[str], Results], check: str) -> None:
    example, severity = PLANTED[check]
    result = offline(example)[check]
    assert result.status == severity, result.findings
    assert all(f.message and (f.hint or f.severity == "pass") for f in result.findings)


def test_an_explicit_state_file_wins_over_the_one_among_the_files(tmp_path: Path) -> None:
    facts = gather.offline(read_sources([str(EXAMPLES / "clean")]),
                           FileBackend(str(EXAMPLES / "broken-state" / "lbctl-state.yaml")))
    results = _by_id(checks.diagnose(facts))
    assert results["state.pool-overlap"].status == "error"


# --------------------------------------------------------------------------- live


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Results]]:
    """The report of a fake cluster seeded with an example, gathered once per example."""
    from lbctl import kube

    servers: list[FakeKubeServer] = []
    cache: dict[str, Results] = {}

    def report(example: str) -> Results:
        if example not in cache:
            server = FakeKubeServer().start()
            servers.append(server)
            if example == "clean":  # as lbctl left it: published, and the Local pod ready
                seed(server, example, publish=True,
                     extra=(ready_slice("shop", "cart", "node-2"),))
            else:
                seed(server, example, extra=METALLB if example == "broken" else ())
            path = server.write_kubeconfig(tmp_path_factory.mktemp(example) / "kubeconfig")
            client = kube.connect(str(path), None)
            facts = gather.live(client, ConfigMapBackend(client))
            cache[example] = _by_id(checks.diagnose(facts))
        return cache[example]

    with pytest.MonkeyPatch.context() as patch:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                     "all_proxy"):
            patch.delenv(name, raising=False)
        yield report
    for server in servers:
        server.stop()


def test_clean_cluster_passes_live(live: Callable[[str], Results]) -> None:
    results = live("clean")
    assert {i: r.status for i, r in results.items() if r.status != "pass"} == {
        "net.probe": "skip",
        "controller.leader": "info",  # no controller installed: the CLI assigns
    }
    assert "holds all" in results["rbac.permissions"].findings[0].message


@pytest.mark.parametrize("check", sorted(PLANTED))
def test_planted_problem_fails_live(live: Callable[[str], Results], check: str) -> None:
    example, severity = PLANTED[check]
    result = live(example)[check]
    assert result.status == LIVE_SEVERITY.get(check, severity), result.findings
