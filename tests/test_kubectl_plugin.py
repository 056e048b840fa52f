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
