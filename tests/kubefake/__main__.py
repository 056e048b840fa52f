"""Run the fake kube-apiserver standalone, for benchmarks that compare lbctl with kubectl.

    python -m tests.kubefake --port 6443 --kubeconfig /tmp/fake.kubeconfig --seed objects.yaml

``--seed`` takes a YAML (or JSON) file of objects: several documents, and/or ``kind: List``
documents with ``items``.  The server listens on 127.0.0.1 only and runs until interrupted.
Only this runner reads YAML (PyYAML is an lbctl dependency); the server itself is stdlib-only.
Errors in the arguments or the seed file end the program with a one-line message and status 2.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

from tests.kubefake.server import FakeKubeServer
from tests.kubefake.status import ApiError


def _objects(path: Path) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for document in yaml.safe_load_all(path.read_text()):
        if not document:
            continue
        if document.get("kind") == "List" or str(document.get("kind", "")).endswith("List"):
            objects.extend(document.get("items") or [])
        else:
            objects.append(document)
    return objects


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.kubefake", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument(
        "--kubeconfig", type=Path, required=True, help="where to write a kubeconfig"
    )
    parser.add_argument("--seed", type=Path, help="YAML/JSON file of objects to store first")
    parser.add_argument("--token", help="require this bearer token")
    args = parser.parse_args(argv)

    server = FakeKubeServer(port=args.port, token=args.token)
    try:
        for obj in _objects(args.seed) if args.seed else []:
            server.put_object(obj)
    except (OSError, ValueError, AttributeError, yaml.YAMLError, ApiError) as exc:
        print(f"kubefake: error: cannot seed from {args.seed}: {exc}", file=sys.stderr)
        return 2
    server.write_kubeconfig(args.kubeconfig)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        print(
            f"kubefake: serving {server.url}; kubeconfig {args.kubeconfig}",
            file=sys.stderr,
            flush=True,
        )
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
