"""Help and completion stay fast: ``lbctl --help`` must not import the heavy libraries.

Measured numbers live in bench/ (BENCHMARKS.md); this test pins the property behind them.
"""

from __future__ import annotations

import subprocess
import sys

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
