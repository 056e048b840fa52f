"""The fast path against kubectl: cluster commands side by side, as processes, in one run.

Against the test API server (``python -m tests.kubefake``, its own process) seeded with N
LoadBalancer Services (all assigned first, so the state holds N allocations), its kubeconfig
rewritten by ``kubectl config view --raw`` into the YAML a user's ``~/.kube/config`` holds; or
against a real cluster with ``--kubeconfig`` (read-only commands only; nothing is assigned
there):

- ``lbctl svc list -A``   vs ``kubectl get svc -A``                              (at most 1.2x)
- ``lbctl version``       vs ``kubectl version``                                 (at most 1.5x)
- ``lbctl pool list``     vs ``kubectl -n kube-system get configmap lbctl-state`` (at most 1.5x)
- ``lbctl --help``        vs ``python -c "import typer, rich"``                  (at most 2.0x)
- ``lbctl svc list -A`` with an exec-plugin kubeconfig, vs the same with
  ``LBCTL_KUBE_CLIENT=official`` (the code path every kubeconfig took before)    (at most 1.0x)
- for reference: ``lbctl svc list -A`` on the official client with a token kubeconfig.

The lbctl measured is what a user runs: this tree installed (``pip install --no-deps``, not
editable) into a throwaway environment that sees this one's dependencies.  A development
(editable) install pays for its import hook on every start (some 20-30 ms here) that no
installed lbctl pays; ``--in-place`` measures the lbctl of this environment as it is (its
modules compiled to bytecode first, as an install does).  Installing builds the package, which
needs setuptools and wheel from the package index (pip's build isolation).  lbctl's state cache
is kept in the run's temporary directory, not the user's.  Each command runs once to warm caches
(kubectl's discovery cache, lbctl's state cache), then the commands alternate for ``--runs``
rounds; the table shows medians.  Run:

    python bench/bench_fastpath.py [--services 1000] [--runs 7] [--kubeconfig PATH] [--in-place]

and it prints markdown (what ``bench/results-fastpath.md`` holds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_services import fake_server, write_seed  # noqa: E402


def in_place() -> list[str]:
    """The lbctl of this environment, its modules compiled to bytecode as an install does (an
    editable install run under PYTHONDONTWRITEBYTECODE would compile every module anew on every
    run, which no user pays)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "lbctl")], check=True)
    command = Path(sys.executable).parent / "lbctl"
    if not command.exists():
        return [sys.executable, "-m", "lbctl"]
    if "lbctl.cli.entry" not in command.read_text():
        print(f"warning: {command} predates lbctl.cli.entry: reinstall lbctl (pip install -e .) "
              "to measure what an install runs", file=sys.stderr)
    return [str(command)]


def installed(target: Path) -> list[str]:
    """This tree installed as a user installs it (not editable) in a new environment at
    ``target``, which finds its dependencies in this environment's site-packages (a path, so
    this environment's editable-install hook is not loaded there)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    ours = dict.fromkeys(sysconfig.get_path(kind) for kind in ("purelib", "platlib"))
    python = target / "bin" / "python"
    theirs = sysconfig.get_path("purelib", vars={"base": str(target), "platbase": str(target)})
    Path(theirs, "bench-dependencies.pth").write_text("".join(f"{path}\n" for path in ours))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", str(ROOT)], check=True, stdout=subprocess.DEVNULL)
    return [str(target / "bin" / "lbctl")]


def seconds(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          env={**os.environ, **(env or {})}, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr}")
    return elapsed


def as_kubectl_writes(kubectl: str, kubeconfig: Path, workdir: Path) -> Path:
    """The test server's kubeconfig (JSON) in the YAML layout kubectl writes, the form a
    user's ``~/.kube/config`` has, so both sides read what they read on a real machine."""
    target = workdir / "kubeconfig.yaml"
    target.write_text(subprocess.run([kubectl, "config", "view", "--raw", "--kubeconfig",
                                      str(kubeconfig)], check=True, capture_output=True,
                                     text=True).stdout)
    return target


def exec_kubeconfig(kubeconfig: Path, target: Path) -> Path:
    """The same cluster, with the user's token handed out by an exec credential plugin."""
    config = json.loads(kubeconfig.read_text()) if kubeconfig.read_text().lstrip().startswith(
        "{") else __import__("yaml").safe_load(kubeconfig.read_text())
    credential = json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1",
                             "kind": "ExecCredential", "status": {"token": "exec-token"}})
    for entry in config["users"]:
        entry["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                  "command": "sh", "args": ["-c", f"printf '%s' '{credential}'"],
                                  "interactiveMode": "Never"}}
    target.write_text(json.dumps(config))
    return target


# As in lbctl's own processes (lbctl/cli/entry.py), without the cyclic garbage collector.
PHASES = r"""
import gc, json, sys, time
gc.disable()
t = [time.perf_counter()]
import typer
t.append(time.perf_counter())
import http.client, ssl
t.append(time.perf_counter())
import lbctl.cli.main, lbctl.cli.svc, lbctl.actions.listing
# svc list imports these once its LIST is sent (lbctl.actions.listing); counted here as
# before, with lbctl's modules
import lbctl.core.service, lbctl.state.store, lbctl.state.configmap
t.append(time.perf_counter())
from lbctl import kube
from lbctl.ports import SERVICES
client = kube.connect(sys.argv[1], None)
t.append(time.perf_counter())
client.list(SERVICES)
t.append(time.perf_counter())
from lbctl.state.configmap import ConfigMapBackend
from lbctl.state.store import StateStore
StateStore(ConfigMapBackend(client)).load()
t.append(time.perf_counter())
print(json.dumps([b - a for a, b in zip(t, t[1:], strict=False)]))
"""
PHASE_NAMES = ["typer", "http.client + ssl", "lbctl's modules for svc list",
               "read the kubeconfig, build the transport", "LIST of the Services (2 pages)",
               "state read without lbctl's state cache (GET, PyYAML's import, decode, checks)"]


def phases(kubeconfig: Path, runs: int) -> list[float]:
    """Median seconds of each phase of ``svc list -A`` in a fresh interpreter."""
    samples = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", PHASES, str(kubeconfig)], cwd=ROOT,
                              capture_output=True, text=True, check=True)
        samples.append(json.loads(done.stdout.splitlines()[-1]))
    return [statistics.median(column) for column in zip(*samples, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--kubeconfig", type=Path, help="a real cluster (read-only commands)")
    parser.add_argument("--in-place", action="store_true",
                        help="measure the lbctl of this environment (e.g. an editable install)")
    args = parser.parse_args()
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise SystemExit("kubectl is not on PATH: the comparison needs it")
    with tempfile.TemporaryDirectory(prefix="lbctl-bench-") as tmp:
        workdir = Path(tmp)
        os.environ["LBCTL_CACHE_DIR"] = str(workdir / "lbctl-cache")  # (every command's)
        lbctl = in_place() if args.in_place else installed(workdir / "installed")
        if args.kubeconfig is None:
            seed = workdir / "seed.yaml"
            write_seed(seed, args.services)
            server: Any = fake_server(seed, workdir)
        else:
            server = nullcontext(args.kubeconfig)
        with server as written:
            kubeconfig = written if args.kubeconfig else as_kubectl_writes(kubectl, written,
                                                                           workdir)
            kc = ["--kubeconfig", str(kubeconfig)]
            if args.kubeconfig is None:
                seconds([*lbctl, "assign", "svc", "--all", "-A", *kc])
            cache = ["--cache-dir", str(workdir / "kubectl-cache")]
            plugin = exec_kubeconfig(Path(kubeconfig), workdir / "exec-kubeconfig")
            official = {"LBCTL_KUBE_CLIENT": "official"}
            pairs: list[tuple[str, list[str], dict[str, str], str, list[str], dict[str, str],
                              float]] = [
                ("`lbctl svc list -A` vs `kubectl get svc -A`",
                 [*lbctl, "svc", "list", "-A", *kc], {},
                 "kubectl", [kubectl, "get", "svc", "-A", *kc, *cache], {}, 1.2),
                ("`lbctl version` vs `kubectl version`",
                 [*lbctl, "version", *kc], {},
                 "kubectl", [kubectl, "version", *kc, *cache], {}, 1.5),
                ("`lbctl pool list` vs `kubectl -n kube-system get configmap lbctl-state`",
                 [*lbctl, "pool", "list", *kc], {},
                 "kubectl", [kubectl, "-n", "kube-system", "get", "configmap", "lbctl-state",
                             *kc, *cache], {}, 1.5),
                ("`lbctl --help` vs `python -c \"import typer, rich\"`",
                 [*lbctl, "--help"], {},
                 "python", [sys.executable, "-c", "import typer, rich"], {}, 2.0),
                ("`lbctl svc list -A`, exec-plugin kubeconfig, vs the same before the fast path "
                 "(`LBCTL_KUBE_CLIENT=official`)",
                 [*lbctl, "svc", "list", "-A", "--kubeconfig", str(plugin)], {},
                 "before", [*lbctl, "svc", "list", "-A", "--kubeconfig", str(plugin)], official,
                 1.0),
                ("`lbctl svc list -A`, token kubeconfig: fast path vs the official client "
                 "(for reference)",
                 [*lbctl, "svc", "list", "-A", *kc], {},
                 "official", [*lbctl, "svc", "list", "-A", *kc], official, 0.0),
            ]
            results = []
            for label, ours, our_env, _, theirs, their_env, target in pairs:
                seconds(ours, our_env)  # warm up
                seconds(theirs, their_env)
                mine, other = [], []
                for _ in range(args.runs):
                    mine.append(seconds(ours, our_env))
                    other.append(seconds(theirs, their_env))
                results.append((label, statistics.median(mine), statistics.median(other),
                                min(mine), max(mine), min(other), max(other), target))
            breakdown = phases(Path(kubeconfig), args.runs)

    where = (f"a real cluster ({args.kubeconfig})" if args.kubeconfig else
             f"the test API server with {args.services:,} LoadBalancer Services, all assigned "
             "(kubeconfig: YAML as `kubectl config view --raw` writes it)")
    print(f"# Fast path vs kubectl ({time.strftime('%Y-%m-%d')})\n")
    print(f"Against {where}; {args.runs} alternating runs per pair after one warm-up each, "
          f"medians (min-max). Python {platform.python_version()}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs. lbctl: "
          f"{'this environment as it is' if args.in_place else 'installed (not editable)'}.\n")
    print("| pair | lbctl | other | ratio | target | met |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, mine, other, mlo, mhi, olo, ohi, target in results:
        ratio = mine / other
        met = "—" if not target else ("yes" if ratio <= target + 0.005 else "**no**")
        shown = f"at most {target:.1f}x" if target else "—"
        print(f"| {label} | {mine * 1000:.0f} ms ({mlo * 1000:.0f}-{mhi * 1000:.0f}) | "
              f"{other * 1000:.0f} ms ({olo * 1000:.0f}-{ohi * 1000:.0f}) | {ratio:.2f}x | "
              f"{shown} | {met} |")
    print("\nWhere the time of `svc list -A` goes, phase by phase in a fresh interpreter "
          "(medians; rendering and lbctl's own work come on top):\n")
    print("| phase | ms |")
    print("| --- | --- |")
    for name, value in zip(PHASE_NAMES, breakdown, strict=True):
        print(f"| {name} | {value * 1000:.0f} |")


if __name__ == "__main__":
    main()
