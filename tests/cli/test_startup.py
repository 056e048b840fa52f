"""Help and completion stay fast: ``lbctl --help`` must not import the heavy libraries.

Measured numbers live in bench/ (BENCHMARKS.md); this test pins the property behind them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GROUPS = ("pool", "kube-proxy", "doctor", "arp", "svc", "assign", "release", "reconcile",
          "rbac", "version")
HEAVY = ("kubernetes", "scapy", "yaml", "netaddr", "lbctl.core", "lbctl.actions", "lbctl.kube",
         "lbctl.net", "lbctl.doctor")


def test_help_imports_none_of_the_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from lbctl.cli.main import run\n"
        "assert run(['--help']) == 0\n"
        f"for group in {GROUPS!r}:\n"
        "    assert run([group, '--help']) == 0\n"
        f"print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert out.splitlines()[-1] == "[]"


def test_cluster_commands_on_the_fast_path_import_neither_the_client_nor_pydantic(
    kubeconfig: Path,
) -> None:
    """``svc list``, ``pool list`` and ``version`` with a token kubeconfig: lbctl reads it and
    speaks HTTP itself; the official client (and pydantic, which it pulls in) stays unloaded."""
    heavy = ("kubernetes", "pydantic", "scapy")
    for args in (["svc", "list", "-A"], ["pool", "list"], ["version"]):
        code = (
            "import sys\n"
            "from lbctl.cli.main import run\n"
            f"code = run({[*args, '--kubeconfig', str(kubeconfig)]!r})\n"
            f"loaded = {{m.split('.')[0] for m in sys.modules if m.startswith({heavy!r})}}\n"
            "print(code, sorted(loaded))\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True)
        assert done.stdout.splitlines()[-1] == "0 []", (args, done.stdout, done.stderr)
