"""The installed command run inside a network namespace, as a user runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

IP = shutil.which("ip") or "/usr/sbin/ip"


def lbctl(namespace: str, *args: str, drop: list[str] | None = None,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m lbctl ARGS`` inside ``namespace`` (``drop``: a prefix such as
    :func:`without_net_raw`'s; ``env``: variables set or replaced)."""
    command = [IP, "netns", "exec", namespace, *(drop or []),
               sys.executable, "-m", "lbctl", *args]
    environment = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=60)


def without_net_raw() -> list[str]:
    """A prefix that runs a command with CAP_NET_RAW gone from every capability set."""
    if shutil.which("setpriv"):
        return ["setpriv", "--inh-caps=-all", "--bounding-set=-net_raw", "--"]
    if shutil.which("capsh"):
        return ["capsh", "--drop=cap_net_raw", "--"]
    pytest.skip("needs setpriv (util-linux) or capsh (libcap2-bin) to drop CAP_NET_RAW")
