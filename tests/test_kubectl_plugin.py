"""``kubectl lb``: kubectl finds the ``kubectl-lb`` script on PATH and runs lbctl under that name.

The script written here is what installing the package generates for the ``kubectl-lb`` entry
point (a Python shebang calling :func:`lbctl.kubectl_plugin.main`); the real ``kubectl`` does the
plugin discovery.  Skipped, with the reason, where kubectl is missing or does not discover
plugins.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import lbctl

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.slow  # each test starts kubectl and Python


Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def kubectl(tmp_path: Path) -> Kubectl:
    """``kubectl(*args)`` runs ``kubectl lb *args`` with the plugin script first on PATH."""
    if KUBECTL is None:
        pytest.skip("kubectl is not installed: plugin discovery cannot be tested")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "kubectl-lb"
    script.write_text(f"#!{sys.executable}\nimport sys\nfrom lbctl.kubectl_plugin import main\n"
                      "sys.exit(main())\n")
    script.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),
        "NO_COLOR": "1",
        "COLUMNS": "100",
        "PYTHONPATH": str(Path(lbctl.__file__).parent.parent),  # this tree's lbctl
    }
    listed = subprocess.run([KUBECTL, "plugin", "list"], env=env, capture_output=True,
                            text=True, check=False, timeout=60)
    if str(script) not in listed.stdout:
        pytest.skip(f"this kubectl does not discover plugins on PATH: {listed.stderr.strip()}")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(KUBECTL), "lb", *args], env=env, capture_output=True,
                              text=True, check=False, timeout=60)

    return run


def test_help_names_the_program_kubectl_lb(kubectl: Kubectl) -> None:
    result = kubectl("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: kubectl lb [OPTIONS] COMMAND [ARGS]...\n")
    assert "  pool " in result.stdout


def test_errors_name_the_program_kubectl_lb(kubectl: Kubectl) -> None:
    result = kubectl("pool", "lisst")
    assert result.returncode == 2
    assert result.stderr.startswith("kubectl lb: error: No such command 'lisst'.")
    assert result.stderr.endswith("hint: see 'kubectl lb pool --help'\n")


def test_commands_and_flags_are_lbctls(kubectl: Kubectl, tmp_path: Path) -> None:
    state = str(tmp_path / "lb.yaml")
    assert kubectl("pool", "add", "a", "10.0.0.0/30", "--state", state).returncode == 0
    result = kubectl("pool", "list", "-o", "name", "--state", state)
    assert (result.returncode, result.stdout) == (0, "pool/a\n")


# --------------------------------------------------------------------------- kubectl lb <TAB>


def complete(*words: str) -> str:
    import io

    from lbctl.kubectl_plugin import completions

    out = io.StringIO()
    completions(words, out)
    return out.getvalue()


@pytest.mark.parametrize(("words", "answer"), [
    (("po",), "pool\tManage address pools: the IPs lbctl may...\n:4\n"),
    (("pool", "re"), "remove\tRemove a pool.\nreserve\tReserve addresses of a pool so that "
                     "they...\n:4\n"),
    (("svc", "list", "--no-h"), "--no-headers\tPrint tables without their header row.\n:4\n"),
    (("assign", "-f", ""), ":0\n"),  # a path: the shell completes file names
])
def test_completion_speaks_kubectls_protocol(words: tuple[str, ...], answer: str) -> None:
    assert complete(*words) == answer


def test_completion_of_pool_names_from_the_state_file(tmp_path: Path) -> None:
    from lbctl.cli.main import run

    state = str(tmp_path / "lb.yaml")
    assert run(["pool", "add", "gold", "10.0.0.0/30", "--state", state]) == 0
    assert run(["pool", "add", "green", "10.0.1.0/30", "--state", state]) == 0
    assert complete("pool", "show", "--state", state, "g") == "gold\ngreen\n:4\n"


def test_kubectl_runs_kubectl_complete_lb(tmp_path: Path) -> None:
    """The real kubectl finds ``kubectl_complete-lb`` next to the plugin and relays its answer."""
    if KUBECTL is None:
        pytest.skip("kubectl is not installed: plugin completion cannot be tested")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, entry in (("kubectl-lb", "main"), ("kubectl_complete-lb", "complete")):
        script = bin_dir / name
        script.write_text(f"#!{sys.executable}\nimport sys\nfrom lbctl.kubectl_plugin import "
                          f"{entry}\nsys.exit({entry}())\n")
        script.chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": str(tmp_path),
           "PYTHONPATH": str(Path(lbctl.__file__).parent.parent)}
    result = subprocess.run([KUBECTL, "__complete", "lb", "pool", "ex"], env=env,
                            capture_output=True, text=True, check=False, timeout=60)
    if "kubectl_complete-lb" not in result.stderr:
        pytest.skip(f"this kubectl does not complete plugins: {result.stderr.strip()}")
    assert result.returncode == 0
    assert result.stdout == "export\tPrint the pools as MetalLB, kube-vip,...\n:4\n"
