"""Stand-in commands for the harness's own tests (:mod:`tests.hostile.test_harness`): each
misbehaves in one way the harness must catch.  Run in the forked child as ``entry=``."""

from __future__ import annotations

import sys
import time
from pathlib import Path


def refuse(argv: list[str]) -> int:
    """A clean refusal: ``argv[0]`` is the message."""
    sys.stderr.write(f"lbctl: error: {argv[0]}\nhint: {argv[1] if len(argv) > 1 else 'no'}\n")
    return 2


def hang(argv: list[str]) -> int:
    time.sleep(600)
    return 0


def crash(argv: list[str]) -> int:
    raise RuntimeError("boom")


def write(argv: list[str]) -> int:
    """Refuse cleanly, but change the file ``argv[0]`` on the way."""
    Path(argv[0]).write_text("changed\n")
    return refuse(["changed a file"])


def chatter(argv: list[str]) -> int:
    """Refuse, with an extra line and data on stdout."""
    sys.stdout.write("partial output\n")
    sys.stderr.write("warning: something\n")
    return refuse(["chatty"])


def leak(argv: list[str]) -> int:
    return refuse([f"token {argv[0]} rejected"])


def whoami(argv: list[str]) -> int:
    """Whether the file ``argv[0]`` can be read, and stdin."""
    try:
        Path(argv[0]).read_bytes()
        readable = "readable"
    except PermissionError:
        readable = "unreadable"
    sys.stdout.write(f"{readable} {sys.stdin.read()}\n")
    return 0


def create_configmap(argv: list[str]) -> int:
    """Refuse, after creating a ConfigMap on the (fake) API server at ``argv[0]``."""
    import json
    import urllib.request

    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}}
    request = urllib.request.Request(
        argv[0] + "/api/v1/namespaces/default/configmaps", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(request, timeout=5).close()
    return refuse(["created a ConfigMap"])
