"""A GitOps repository end to end with no cluster and no manual edit of the state: add, pin,
edit a pin, delete a Service, prune; doctor -f reports each disagreement and its hint fixes it.
Exact output and exit codes."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests import statefiles
from tests.conftest import Cli

SERVICE = ("apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: shop\n"
           "spec:\n  type: LoadBalancer\n  ports:\n  - port: 80\n")


@pytest.fixture
def repo(cli: Cli, tmp_path: Path) -> Path:
    k8s = tmp_path / "k8s"
    k8s.mkdir()
    for name in ("web", "api"):
        (k8s / f"{name}.yaml").write_text(SERVICE.format(name=name))
    state = str(k8s / "lbctl-state.yaml")
    assert cli("pool", "add", "default", "192.0.2.10-192.0.2.19", "--state", state).code == 0
    return k8s


def allocations(repo: Path) -> dict[str, object]:
    found: dict[str, object] = statefiles.document(repo / "lbctl-state.yaml")["allocations"]
    return found


def hint_of(output: str, check: str) -> str:
    """The command a doctor finding's hint prints after ``: ``."""
    lines = output.splitlines()
    at = next(i for i, line in enumerate(lines) if f" {check} " in line)
    hint = next(line for line in lines[at:] if line.strip().startswith("hint: "))
    return hint.split(": ", 2)[2].split(" (or ")[0]


def run_hint(cli: Cli, command: str) -> object:
    words = shlex.split(command)
    assert words[0] == "lbctl"
    return cli(*words[1:])


def test_add_pin_edit_delete_prune(cli: Cli, repo: Path) -> None:
    state = str(repo / "lbctl-state.yaml")
    pinned = cli("assign", "-f", str(repo), "--state", state, "--in-place")
    assert (pinned.code, pinned.out) == (0, "")
    assert pinned.err.endswith(
        "NAMESPACE   NAME   RESULT   EXTERNAL-IP   POOL      MESSAGE\n"
        "shop        api    pinned   192.0.2.10    default   -\n"
        "shop        web    pinned   192.0.2.11    default   -\n"
        "2 pinned\n")
    assert "metallb.io/loadBalancerIPs: 192.0.2.11" in (repo / "web.yaml").read_text()
    assert cli("doctor", "-f", str(repo), "--state", state).code == 0

    # Edit a pin by hand: doctor reports it, and its hint moves the allocation.
    web = repo / "web.yaml"
    web.write_text(web.read_text().replace("192.0.2.11", "192.0.2.15"))
    doctor = cli("doctor", "-f", str(repo), "--state", state)
    assert doctor.code == 1
    assert ("FAIL svc.pinned service shop/web asks for 192.0.2.15, but the state records "
            "192.0.2.11 (pool default) for it") in " ".join(doctor.out.split())
    command = hint_of(doctor.out, "svc.pinned")
    assert command == f"lbctl assign -f {repo} --state {state} --in-place"
    moved = run_hint(cli, command)
    assert moved.code == 0  # type: ignore[attr-defined]
    assert ("shop        web    moved       192.0.2.15    default   was 192.0.2.11 (pool "
            "default)\n") in moved.err  # type: ignore[attr-defined]
    assert allocations(repo)["shop"]["web"]["ips"] == ["192.0.2.15"]  # type: ignore[index]
    assert cli("doctor", "-f", str(repo), "--state", state).code == 0

    # An edit lbctl cannot follow: the Service keeps its address, and lbctl says why.
    web.write_text(web.read_text().replace("192.0.2.15", "192.0.2.10"))
    refused = cli("assign", "-f", str(repo), "--state", state, "--in-place")
    assert refused.code == 1
    assert ("shop        web    failed      -             -         shop/web keeps 192.0.2.15 "
            "(pool default): the manifest asks for 192.0.2.10, and 192.0.2.10 is used by "
            "shop/api, which may not share it: shop/web has no sharing key\n") in refused.err
    assert allocations(repo)["shop"]["web"]["ips"] == ["192.0.2.15"]  # type: ignore[index]
    web.write_text(web.read_text().replace("192.0.2.10", "192.0.2.15"))

    # Delete a Service: doctor names the orphan, and prune (after a dry run) forgets it.
    (repo / "api.yaml").unlink()
    doctor = cli("doctor", "-f", str(repo), "--state", state, "--fail-on", "warning")
    assert doctor.code == 1
    command = hint_of(doctor.out, "svc.orphan")
    assert command == f"lbctl assign -f {repo} --state {state} --prune"
    before = Path(state).read_text()
    dry = cli("assign", "-f", str(repo), "--state", state, "--prune", "--dry-run")
    assert dry.err.endswith(
        "NAMESPACE   NAME   RESULT                EXTERNAL-IP   POOL      MESSAGE\n"
        "shop        api    pruned (dry run)      192.0.2.10    default   no longer in the "
        "manifests\n"
        "shop        web    unchanged (dry run)   192.0.2.15    default   -\n"
        "1 pruned, 1 unchanged (dry run)\n")
    assert Path(state).read_text() == before
    pruned = run_hint(cli, command)
    assert pruned.code == 0  # type: ignore[attr-defined]
    assert allocations(repo) == {"shop": {"web": {"ips": ["192.0.2.15"], "pool": "default"}}}
    assert cli("doctor", "-f", str(repo), "--state", state, "--fail-on", "warning").code == 0


def test_prune_goes_with_f(cli: Cli, repo: Path) -> None:
    result = cli("assign", "--all", "--prune", "--state", str(repo / "lbctl-state.yaml"))
    assert (result.code, result.err) == (
        2, "lbctl: error: --prune goes with -f\n"
           "hint: lbctl assign -f PATH --state FILE --in-place --prune\n")
