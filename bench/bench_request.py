"""The request half of ``svc list -A`` and ``pool list`` (issue 11): what each part costs after
start-up, against the test API server with N LoadBalancer Services, all assigned (the state then
holds N allocations); with ``--before CHECKOUT``, side by side with another checkout of lbctl.

Each sample is a fresh interpreter that first imports every module the two commands use (their
cost is start-up, measured by ``bench_startup.py --phases``), then runs the command in-process
with its output going to /dev/null (a table off a terminal), timing the parts it calls:

- ``svc list -A``: the command, and within it reading the kubeconfig and building the transport
  (``kube.connect``), the listing (``actions.listing.list_services``: the Services' LIST and the
  state read, at once since this round, one after the other before), and writing the table
  (``render.table``); the rest of the command is its rows and typer's dispatch;
- the same parts alone, one after the other in another fresh interpreter: the LIST, the state's
  GET, and decoding the state (YAML, building, checks);
- ``pool list``: the command, the state read (GET + decode), the pool views, the table.

CPU time (user + system of the process, which a queue for the CPU does not lengthen, so that
runs compare on a loaded machine) and wall time; medians of ``--runs`` alternating samples.  A
checkout with ``lbctl/cli/entry.py`` runs without the cyclic collector, as lbctl does.  Run:

    python bench/bench_request.py [--before CHECKOUT] [--runs 15] [--services 1000]

and it prints markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_services import fake_server, write_seed  # noqa: E402

#: argv: kubeconfig, "entry" or "", then the mode: "svc", "parts" or "pool".
SAMPLE = r"""
import gc, io, json, os, sys, time
if sys.argv[2] == "entry":
    gc.disable()
import lbctl.cli.main, lbctl.cli.svc, lbctl.cli.pool, lbctl.cli.render, lbctl.kube
import lbctl.kube.transport, lbctl.kube.kubeconfig, lbctl.kube.client
import lbctl.actions.listing, lbctl.actions.pools, lbctl.state.configmap, lbctl.state.store
import lbctl.core.holds, lbctl.core.state, lbctl.core.yamlkit
from lbctl import kube
from lbctl.cli import render
spent = {}
def clock():
    return time.process_time(), time.perf_counter()
def timed(owner, name, label):
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        cpu, wall = clock()
        try:
            return original(*args, **kwargs)
        finally:
            now_cpu, now_wall = clock()
            total = spent.setdefault(label, [0.0, 0.0])
            total[0] += now_cpu - cpu
            total[1] += now_wall - wall
    setattr(owner, name, wrapper)
def command(argv):
    from lbctl.cli.main import run
    out = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(1)
    os.dup2(out, 1)
    cpu, wall = clock()
    try:
        run(argv)
    except SystemExit:
        pass
    finally:
        sys.stdout.flush()
        now_cpu, now_wall = clock()
        os.dup2(saved, 1)
    spent["command"] = [now_cpu - cpu, now_wall - wall]
mode, kc = sys.argv[3], ["--kubeconfig", sys.argv[1]]
if mode == "svc":
    timed(kube, "connect", "connect")
    timed(lbctl.actions.listing, "list_services", "listing")
    timed(render, "table", "table")
    command(["svc", "list", "-A", *kc])
elif mode == "pool":
    timed(lbctl.state.store.StateStore, "load", "state read")
    timed(lbctl.actions.pools, "views", "views")
    timed(render, "table", "table")
    command(["pool", "list", *kc])
else:
    from lbctl.ports import SERVICES
    from lbctl.state.configmap import ConfigMapBackend
    from lbctl.state.store import StateStore
    client = kube.connect(sys.argv[1], None)
    backend = ConfigMapBackend(client)
    timed(client, "list", "LIST")
    timed(backend, "read", "state GET")
    client.list(SERVICES)
    text, _ = backend.read()
    cpu, wall = clock()
    StateStore(backend).decode(text)
    now_cpu, now_wall = clock()
    spent["state decode"] = [now_cpu - cpu, now_wall - wall]
print(json.dumps({k: [round(v[0] * 1000, 2), round(v[1] * 1000, 2)] for k, v in spent.items()}))
"""

ROWS = [("svc", "command", "`svc list -A`, the command (imports done)"),
        ("svc", "connect", "of which: kubeconfig + transport"),
        ("svc", "listing", "of which: the listing (LIST of the Services + state read)"),
        ("parts", "LIST", "the LIST alone (2 pages)"),
        ("parts", "state GET", "the state's GET alone"),
        ("parts", "state decode", "decoding the state alone (YAML, build, checks)"),
        ("svc", "table", "of which: the table (into /dev/null)"),
        ("pool", "command", "`pool list`, the command (imports done)"),
        ("pool", "state read", "of which: the state read (GET + decode)"),
        ("pool", "views", "of which: the pool views (usage per pool and family)"),
        ("pool", "table", "of which: the table")]


def sample(checkout: Path, kubeconfig: Path, mode: str) -> dict[str, list[float]]:
    entry = "entry" if (checkout / "lbctl" / "cli" / "entry.py").exists() else ""
    done = subprocess.run([sys.executable, "-c", SAMPLE, str(kubeconfig), entry, mode],
                          cwd=checkout, env={**os.environ, "PYTHONPATH": str(checkout)},
                          capture_output=True, text=True, check=True)
    result: dict[str, list[float]] = json.loads(done.stdout.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--before", type=Path, help="another checkout of lbctl")
    args = parser.parse_args()
    checkouts = {"this": ROOT}
    if args.before is not None:
        checkouts["before"] = args.before.resolve()
    for checkout in checkouts.values():
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(checkout / "lbctl")],
                       check=True)
    samples: dict[str, dict[str, list[dict[str, list[float]]]]] = {
        name: {"svc": [], "parts": [], "pool": []} for name in checkouts}
    with tempfile.TemporaryDirectory(prefix="lbctl-bench-") as tmp:
        workdir = Path(tmp)
        seed = workdir / "seed.yaml"
        write_seed(seed, args.services)
        with fake_server(seed, workdir) as kubeconfig:
            subprocess.run([sys.executable, "-m", "lbctl", "assign", "svc", "--all", "-A",
                            "--kubeconfig", str(kubeconfig)], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
            for _ in range(args.runs):
                for mode in ("svc", "parts", "pool"):
                    for name, checkout in checkouts.items():
                        samples[name][mode].append(sample(checkout, Path(kubeconfig), mode))

    def median(name: str, mode: str, key: str, index: int) -> float:
        return statistics.median(s[key][index] for s in samples[name][mode])

    names = list(checkouts)
    print(f"{args.services:,} LoadBalancer Services, all assigned; {args.runs} alternating "
          "samples each, medians in ms.\n")
    head = " | ".join(f"{n} CPU | {n} wall" for n in names)
    print(f"| part | {head} |" + (" CPU this/before |" if len(names) > 1 else ""))
    print("| --- |" + " --- |" * (2 * len(names) + (len(names) > 1)))
    for mode, key, label in ROWS:
        cells = [f"{median(n, mode, key, i):.1f}" for n in names for i in (0, 1)]
        ratio = ""
        if len(names) > 1:
            ratio = f" {median('this', mode, key, 0) / median('before', mode, key, 0):.2f} |"
        print(f"| {label} | {' | '.join(cells)} |{ratio}")


if __name__ == "__main__":
    main()
