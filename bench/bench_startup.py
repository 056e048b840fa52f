"""Start-up time: ``lbctl --help`` next to ``python -c "import typer, rich"``; with ``--phases``,
where the CPU time of ``lbctl svc list -A`` goes, phase by phase, now and in another checkout.

Target (issue 2): lbctl's help at most 2.5x the bare import of its CLI libraries, which holds
only while kubernetes, scapy, yaml, netaddr and the core stay out of the help path.

``--phases`` (issue 11) starts the test API server with ``--services`` LoadBalancer Services,
all assigned, and runs ``svc list -A`` in fresh interpreters: the CPU time (user + system, which
a queue for the CPU does not lengthen, so that it compares on a loaded machine) of Python's own
start-up, of importing typer, ``http.client`` and ``ssl``, PyYAML and lbctl's modules, of the
command itself, and of the interpreter's teardown after it; with the garbage collector's share.
A checkout with ``lbctl/cli/entry.py`` runs as that module makes lbctl's processes run (no
cyclic collector, no teardown); an older one as lbctl ran before.  ``--before CHECKOUT`` adds
the same for another checkout of lbctl (its bytecode compiled first, as an install does),
alternating run by run with this one.

Run: ``python bench/bench_startup.py [--runs N]`` or
``python bench/bench_startup.py --phases [--before CHECKOUT] [--runs N] [--services N]``;
prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: One ``svc list -A`` with CPU marks (``time.process_time``) after each phase; argv: the
#: kubeconfig, then ``entry`` when the checkout has lbctl/cli/entry.py.
PHASES = r"""
import gc, json, os, sys, time
marks = [time.process_time()]
entry = sys.argv[2] == "entry"
if entry:
    gc.disable()
collecting = [0.0, 0]
def count(phase, info, started=[0.0]):
    if phase == "start":
        started[0] = time.process_time()
    else:
        collecting[0] += time.process_time() - started[0]
        collecting[1] += 1
gc.callbacks.append(count)
import typer
marks.append(time.process_time())
import http.client, ssl
marks.append(time.process_time())
import yaml
marks.append(time.process_time())
import lbctl.cli.main, lbctl.cli.svc, lbctl.actions.listing, lbctl.kube, lbctl.state.configmap
# svc list imports these once its LIST is sent (lbctl.actions.listing); counted here as
# before, with lbctl's modules
import lbctl.core.service, lbctl.state.store, lbctl.state.configmap
marks.append(time.process_time())
from lbctl.cli.main import run
with open(os.devnull, "w") as sink:
    stdout, sys.stdout = sys.stdout, sink
    code = run(["svc", "list", "-A", "--kubeconfig", sys.argv[1]])
    sys.stdout = stdout
marks.append(time.process_time())
print(json.dumps({"marks": marks, "gc": collecting, "code": code}), flush=True)
if entry:
    os._exit(0)
"""
PHASE_NAMES = ["Python's start-up (interpreter, site)", "typer", "http.client + ssl", "yaml",
               "lbctl's modules for svc list", "the command (kubeconfig, LIST, state, render)",
               "teardown at exit"]


def _median_seconds(cmd: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _phase_run(checkout: Path, kubeconfig: Path) -> tuple[list[float], float, int]:
    """One ``svc list -A`` of ``checkout``: CPU seconds of each phase, of garbage collection,
    and the number of collections."""
    entry = "entry" if (checkout / "lbctl" / "cli" / "entry.py").exists() else "plain"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-c", PHASES, str(kubeconfig), entry],
                          cwd=tempfile.gettempdir(), capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(checkout)})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 or not done.stdout:
        raise SystemExit(f"svc list -A of {checkout} failed: {done.stderr}")
    report = json.loads(done.stdout.splitlines()[-1])
    if report["code"] != 0:
        raise SystemExit(f"svc list -A of {checkout} exited {report['code']}: {done.stderr}")
    marks = report["marks"]
    total = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    spent = [marks[0], *(b - a for a, b in zip(marks, marks[1:], strict=False)),
             max(0.0, total - marks[-1])]
    return spent, report["gc"][0], report["gc"][1]


def phases(args: argparse.Namespace) -> None:
    """The ``--phases`` table: this checkout, and ``--before`` when given."""
    sys.path.insert(0, str(ROOT))
    from bench.bench_services import fake_server, write_seed

    checkouts = [("now", ROOT)]
    if args.before:
        checkouts.append(("before", Path(args.before).resolve()))
    for _, checkout in checkouts:  # the bytecode an install writes
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(checkout / "lbctl")],
                       check=True)
    samples: dict[str, list[tuple[list[float], float, int]]] = {name: [] for name, _ in checkouts}
    with tempfile.TemporaryDirectory(prefix="lbctl-bench-") as tmp:
        seed = Path(tmp) / "seed.yaml"
        write_seed(seed, args.services)
        with fake_server(seed, Path(tmp)) as kubeconfig:
            subprocess.run([sys.executable, "-m", "lbctl", "assign", "svc", "--all", "-A",
                            "--kubeconfig", str(kubeconfig)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           cwd=tempfile.gettempdir(),
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
            for _, checkout in checkouts:  # warm-up
                _phase_run(checkout, kubeconfig)
            for _ in range(args.runs):
                for name, checkout in checkouts:
                    samples[name].append(_phase_run(checkout, kubeconfig))
    load = os.getloadavg()[0]
    print(f"`svc list -A` with {args.services:,} Services, {args.runs} alternating runs per "
          f"checkout, median CPU ms (user + system); load average {load:.1f} at the end.\n")
    names = [name for name, _ in checkouts]
    print("| phase | " + " | ".join(names) + " |")
    print("| --- |" + " ---: |" * len(names))
    for i, phase in enumerate(PHASE_NAMES):
        cells = [statistics.median(run[0][i] for run in samples[n]) * 1000 for n in names]
        print(f"| {phase} | " + " | ".join(f"{c:.0f}" for c in cells) + " |")
    totals = [statistics.median(sum(run[0]) for run in samples[n]) * 1000 for n in names]
    print("| **whole process** | " + " | ".join(f"**{t:.0f}**" for t in totals) + " |")
    collected = [statistics.median(run[1] for run in samples[n]) * 1000 for n in names]
    passes = [statistics.median(run[2] for run in samples[n]) for n in names]
    print("| of which garbage collection (passes) | "
          + " | ".join(f"{c:.0f} ({p:.0f})" for c, p in zip(collected, passes, strict=True))
          + " |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--phases", action="store_true",
                        help="where the CPU time of svc list -A goes, phase by phase")
    parser.add_argument("--before", help="with --phases: another checkout of lbctl, side by side")
    parser.add_argument("--services", type=int, default=1000, help="with --phases")
    args = parser.parse_args()
    if args.phases:
        phases(args)
        return
    lbctl = shutil.which("lbctl") or os.path.join(os.path.dirname(sys.executable), "lbctl")
    cases = [
        ("python -c 'import typer, rich'", [sys.executable, "-c", "import typer, rich"]),
        ("lbctl --help", [lbctl, "--help"]),
        ("lbctl pool add --help", [lbctl, "pool", "add", "--help"]),
        ("python -c 'import kubernetes'", [sys.executable, "-c", "import kubernetes"]),
    ]
    for _, cmd in cases:  # warm the page cache and .pyc files
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = [(name, _median_seconds(cmd, args.runs)) for name, cmd in cases]
    base = results[0][1]
    python = sys.version.split()[0]
    print(f"{args.runs} runs each, median; {os.cpu_count()} CPUs, Python {python}\n")
    print("| command | median | vs import typer, rich |")
    print("| --- | ---: | ---: |")
    for name, seconds in results:
        print(f"| `{name}` | {seconds * 1000:.0f} ms | {seconds / base:.2f}x |")


if __name__ == "__main__":
    main()
