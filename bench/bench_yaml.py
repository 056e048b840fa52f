"""Benchmark of the one YAML reader (:mod:`lbctl.core.yamlkit`) against the readers it replaced.

1. An 8 MB manifest (a ``kind: List`` of LoadBalancer Services, as ``kubectl get svc -A -o
   yaml`` prints them): PyYAML's pure-Python composer (what ``assign -f`` used, for positions),
   PyYAML's full loader on libyaml (``CSafeLoader``: what ``doctor -f`` and ``pool import -f``
   used), and the toolkit without and with node positions (what every ``-f`` reader and
   ``assign -f`` use now).  Target: the toolkit with positions well under the 8 s the issue
   measured for the pure-Python reader.
2. Hostile inputs: a 623-byte alias bomb (before: minutes and gigabytes), nesting 100,000 deep
   (before: RecursionError in the composer) -- the time until the refusal.
3. The state document of 15,000 allocations: ``decode`` (which now reads through the toolkit).

Times are CPU time of this process (the machine is shared), the best of ``REPEATS`` runs (one
run for the two old readers, which take long).  Run
from the repository root: ``python bench/bench_yaml.py``.  It prints markdown (what
``bench/results-yaml.md`` holds) and writes nothing.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from typing import Any

import yaml

from lbctl.core import yamlkit
from lbctl.core.addresses import IPV4
from lbctl.core.allocator import Allocator, Request
from lbctl.core.pools import add_pool, make_pool
from lbctl.core.state import State, decode, encode
from lbctl.errors import UsageError

REPEATS = 3
SERVICE = """\
- apiVersion: v1
  kind: Service
  metadata:
    annotations:
      metallb.io/allow-shared-ip: key-{i}
    creationTimestamp: "2026-01-01T00:00:00Z"
    labels: {{app: web-{i}, tier: frontend}}
    name: svc-{i:05d}
    namespace: ns-{ns}
    resourceVersion: "{i}"
    uid: 0b7c6d8e-{i:04x}-4c5d-9e0f-1a2b3c4d5e6f
  spec:
    allocateLoadBalancerNodePorts: true
    clusterIP: 10.96.{hi}.{lo}
    clusterIPs:
    - 10.96.{hi}.{lo}
    externalTrafficPolicy: Cluster
    internalTrafficPolicy: Cluster
    ipFamilies:
    - IPv4
    ipFamilyPolicy: SingleStack
    ports:
    - name: http
      nodePort: {port}
      port: 80
      protocol: TCP
      targetPort: 8080
    selector:
      app: web-{i}
    sessionAffinity: None
    type: LoadBalancer
  status:
    loadBalancer:
      ingress:
      - ip: 192.168.{hi}.{lo}
        ipMode: VIP
"""
BOMB = "".join(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9 if i else ['"lol"'] * 9) + "]\n"
               for i in range(9))


def manifest(target: int) -> str:
    parts = ["apiVersion: v1\nkind: List\nmetadata:\n  resourceVersion: \"\"\nitems:\n"]
    size, i = len(parts[0]), 0
    while size < target:
        part = SERVICE.format(i=i, ns=i % 8, hi=i // 250 % 250, lo=i % 250 + 1,
                              port=30000 + i % 2000)
        parts.append(part)
        size += len(part)
        i += 1
    return "".join(parts)


def best(run: Callable[[], Any], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    return min(times)


def refused_in(text: str) -> float:
    def run() -> None:
        try:
            yamlkit.load_all(text, "bench")
        except UsageError:
            return
        raise AssertionError("not refused")
    return best(run)


def state_of(count: int) -> State:
    state = add_pool(State(), make_pool("default", ["10.0.0.0/16"]))
    allocator = Allocator(state)
    for i in range(count):
        allocator.allocate(Request(f"ns-{i % 8}", f"svc-{i:05d}", families=(IPV4,)))
    return allocator.state()


def main() -> None:
    text = manifest(8 * 1024 * 1024)
    count = text.count("kind: Service")
    rows = [
        ("PyYAML pure-Python composer (`yaml.compose_all`, before: `assign -f`)",
         best(lambda: list(yaml.compose_all(text)), 1)),
        ("PyYAML full loader on libyaml (`CSafeLoader`, before: `doctor -f`, `pool import`)",
         best(lambda: list(yaml.load_all(text, Loader=yaml.CSafeLoader)), 1)),
        ("yamlkit, data (`doctor -f`, `pool import -f`, state)",
         best(lambda: yamlkit.load_all(text, "bench"))),
        ("yamlkit, data and node positions (`assign -f`, `kube-proxy diff -f`)",
         best(lambda: yamlkit.load_all(text, "bench", nodes=True))),
    ]
    print("# YAML reader benchmark\n")
    print(f"Machine: {platform.machine()}, Python {platform.python_version()}, PyYAML "
          f"{yaml.__version__} (libyaml: {yaml.__with_libyaml__}). CPU seconds, best of "
          f"{REPEATS} (one run for the two old readers).\n")
    print(f"## An 8 MB manifest ({len(text):,} characters, {count:,} Services)\n")
    print("| reader | seconds |\n|---|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} |")
    print("\n## Hostile inputs: time to the refusal\n")
    print("| input | seconds |\n|---|---:|")
    print(f"| alias bomb, {len(BOMB)} bytes (9^9 strings when expanded) | "
          f"{refused_in(BOMB):.4f} |")
    deep = "[" * 100_000 + "]" * 100_000
    print(f"| nesting 100,000 deep ({len(deep):,} bytes) | {refused_in(deep):.4f} |")
    print(f"| nesting 150 deep | {refused_in('[' * 150 + ']' * 150):.4f} |")
    state_text = encode(state_of(15_000))
    print("\n## The state document\n")
    print("| operation | seconds |\n|---|---:|")
    print(f"| `decode` of 15,000 allocations ({len(state_text):,} bytes) | "
          f"{best(lambda: decode(state_text)):.3f} |")


if __name__ == "__main__":
    main()
