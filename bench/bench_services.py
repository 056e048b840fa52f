"""Service commands against the test API server (``python -m tests.kubefake``, its own process).

1. ``assign svc --all`` for N pending Services: API requests issued (target: at most N + 5) and
   wall time, next to a bare loop of the same N status PATCHes through the same client at the
   same concurrency (target: at most 1.5x).  Timed in-process from the first request to the
   last, so that both sides pay the same interpreter and import costs (zero); the whole
   command, as a process, is timed too.
2. ``svc list -A`` with N Services next to ``kubectl get svc -A``, both as processes against the
   same server in the same run (target: not slower than kubectl).
3. Where the time of ``svc list -A`` goes, measured phase by phase in a fresh interpreter.

Each measurement starts a fresh server seeded with N Services of type LoadBalancer in 20
namespaces and a state ConfigMap with one /20 pool.  Run:

    python bench/bench_services.py [--services 1000] [--runs 5]

and it prints markdown (what ``bench/results-services.md`` holds).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
STATE = ("schemaVersion: 1\npools:\n  default:\n    addresses: [10.20.0.0/20]\n"
         "    autoAssign: true\n    avoidBuggyIPs: false\nallocations: {}\nholds: {}\n")


def write_seed(path: Path, services: int) -> None:
    documents: list[dict[str, Any]] = [{
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "lbctl-state", "namespace": "kube-system"},
        "data": {"state.yaml": STATE},
    }]
    for i in range(services):
        documents.append({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"svc-{i:04}", "namespace": f"ns-{i % 20:02}",
                         "labels": {"app": f"app-{i}"}},
            "spec": {"type": "LoadBalancer", "selector": {"app": f"app-{i}"},
                     "ports": [{"name": "http", "port": 80}]},
        })
    path.write_text(yaml.safe_dump_all(documents))


@contextmanager
def fake_server(seed: Path, workdir: Path) -> Iterator[Path]:
    """A fresh ``python -m tests.kubefake`` process; yields its kubeconfig."""
    kubeconfig = workdir / f"kubeconfig-{time.monotonic_ns()}"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.kubefake", "--kubeconfig", str(kubeconfig),
         "--seed", str(seed)],
        cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        if "serving" not in line:
            raise SystemExit(f"the test API server did not start: {line}")
        threading.Thread(target=process.stderr.read, daemon=True).start()
        yield kubeconfig
    finally:
        process.terminate()
        process.wait(timeout=10)


def counting_client(kubeconfig: Path) -> tuple[Any, Counter[str]]:
    """lbctl's adapter, counting every request it sends (method and path kind)."""
    from lbctl import kube

    client = kube.connect(str(kubeconfig), None)
    counts: Counter[str] = Counter()
    send = client._send

    def counted(method: str, path: str, *args: Any) -> Any:
        parts = path.strip("/").split("/")
        at = parts.index("namespaces") + 2 if "namespaces" in parts else len(parts) - 1
        resource = parts[min(at, len(parts) - 1)]
        counts[f"{method} {resource}{'/status' if path.endswith('/status') else ''}"] += 1
        return send(method, path, *args)

    setattr(client, "_send", counted)  # noqa: B010 - wrap the bound method of this client
    return client, counts


def assign_all_run(kubeconfig: Path) -> tuple[float, Counter[str], int]:
    from lbctl.actions.services import assign_all
    from lbctl.state.configmap import ConfigMapBackend
    from lbctl.state.store import StateStore

    client, counts = counting_client(kubeconfig)
    store = StateStore(ConfigMapBackend(client))
    start = time.perf_counter()
    batch = assign_all(client, store, None, now=datetime.now(timezone.utc))
    elapsed = time.perf_counter() - start
    assert not batch.failed, batch.failed[:3]
    return elapsed, counts, len(batch.outcomes)


def bare_patch_run(kubeconfig: Path, workers: int) -> float:
    from lbctl.ports import SERVICES

    client, _ = counting_client(kubeconfig)
    services = client.list(SERVICES)

    def patch(index: int) -> None:
        meta = services[index]["metadata"]
        ip = f"10.20.{index // 256}.{index % 256}"
        client.patch(SERVICES, meta["name"], {"status": {"loadBalancer": {"ingress": [
            {"ip": ip}]}}}, meta["namespace"], subresource="status")

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(patch, range(len(services))))
    return time.perf_counter() - start


def process_seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


PHASES = r"""
import json, sys, time
t = [time.perf_counter()]
from lbctl.cli.main import app  # typer, rich, the command modules
t.append(time.perf_counter())
from lbctl import kube
client = kube.connect(sys.argv[1], None)  # imports kubernetes, reads the kubeconfig
t.append(time.perf_counter())
from lbctl.ports import SERVICES
services = client.list(SERVICES)  # one LIST (two pages of 500)
t.append(time.perf_counter())
from lbctl.state.configmap import ConfigMapBackend
from lbctl.state.store import StateStore
state = StateStore(ConfigMapBackend(client)).load()  # GET + YAML decode + validation
t.append(time.perf_counter())
import io
from lbctl.cli.main import run
sys.stdout = io.StringIO()  # the whole command again, warm: lbctl's own work + rendering
start = time.perf_counter()
run(["svc", "list", "-A", "--kubeconfig", sys.argv[1]])
total = time.perf_counter() - start
sys.stdout = sys.__stdout__
print(json.dumps({"import lbctl.cli.main": t[1] - t[0], "connect (kubernetes import, "
                  "kubeconfig)": t[2] - t[1], "LIST services": t[3] - t[2],
                  "state read": t[4] - t[3], "warm svc list -A, in-process": total}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    n = args.services
    kubectl = shutil.which("kubectl")
    lbctl = [sys.executable, "-m", "lbctl"]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        seed = workdir / "seed.yaml"
        write_seed(seed, n)

        assign_times, bare_times, process_times = [], [], []
        counts: Counter[str] = Counter()
        for _ in range(args.runs):
            with fake_server(seed, workdir) as kubeconfig:
                elapsed, counts, assigned = assign_all_run(kubeconfig)
                assert assigned == n
                assign_times.append(elapsed)
            with fake_server(seed, workdir) as kubeconfig:
                bare_times.append(bare_patch_run(kubeconfig, workers=16))
            with fake_server(seed, workdir) as kubeconfig:
                process_times.append(process_seconds(
                    [*lbctl, "assign", "svc", "--all", "-A", "--kubeconfig", str(kubeconfig)]))

        list_times, kubectl_times = [], []
        phases: list[dict[str, float]] = []
        with fake_server(seed, workdir) as kubeconfig:
            cache = workdir / "kubectl-cache"
            kubectl_cmd = [kubectl or "kubectl", "get", "svc", "-A", "--kubeconfig",
                           str(kubeconfig), "--cache-dir", str(cache)]
            list_cmd = [*lbctl, "svc", "list", "-A", "--kubeconfig", str(kubeconfig)]
            process_seconds([*lbctl, "assign", "svc", "--all", "-A", "--kubeconfig",
                             str(kubeconfig)])
            if kubectl:
                process_seconds(kubectl_cmd)  # warm kubectl's discovery cache
            process_seconds(list_cmd)  # warm the page cache and .pyc files
            for _ in range(args.runs):
                list_times.append(process_seconds(list_cmd))
                if kubectl:
                    kubectl_times.append(process_seconds(kubectl_cmd))
                out = subprocess.run([sys.executable, "-c", PHASES, str(kubeconfig)],
                                     check=True, cwd=ROOT, capture_output=True, text=True)
                phases.append(json.loads(out.stdout.splitlines()[-1]))
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        interpreter = time.perf_counter() - start

    med = statistics.median
    requests = sum(counts.values())
    print(f"N = {n} Services, median of {args.runs} runs; {os.cpu_count()} CPUs, "
          f"Python {sys.version.split()[0]}\n")
    print("## assign svc --all -A\n")
    print("| measurement | value | target |")
    print("| --- | ---: | --- |")
    print(f"| API requests issued | {requests} (N + {requests - n}) | at most N + 5 |")
    for kind, count in sorted(counts.items()):
        print(f"| &nbsp;&nbsp;{kind} | {count} | |")
    ratio = med(assign_times) / med(bare_times)
    print(f"| assign --all, first request to last (in-process) | {med(assign_times):.2f} s | |")
    print(f"| bare loop of N status PATCHes, 16 at a time | {med(bare_times):.2f} s | |")
    print(f"| ratio | {ratio:.2f}x | at most 1.5x |")
    print(f"| `lbctl assign svc --all -A`, whole process | {med(process_times):.2f} s | |\n")
    print("## svc list -A\n")
    print("| command | median | target |")
    print("| --- | ---: | --- |")
    print(f"| `lbctl svc list -A` | {med(list_times) * 1000:.0f} ms | not slower than kubectl |")
    if kubectl_times:
        print(f"| `kubectl get svc -A` | {med(kubectl_times) * 1000:.0f} ms | |")
        print(f"| ratio | {med(list_times) / med(kubectl_times):.2f}x | at most 1.0x |\n")
    print("Where the time of `svc list -A` goes (fresh interpreter, phase by phase):\n")
    print("| phase | median |")
    print("| --- | ---: |")
    print(f"| start the interpreter (`python -c pass`) | {interpreter * 1000:.0f} ms |")
    for phase in phases[0]:
        print(f"| {phase} | {med(p[phase] for p in phases) * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
