"""Benchmark: ``lbctl controller`` against the fake kube-apiserver.

Everything runs on this machine, on 127.0.0.1: the fake apiserver in this process, the
controller(s) as real ``python -m lbctl controller`` processes (as the Deployment runs them),
stopped by PID at the end.

* ``burst``: a controller is running and synced; N Services (default 1,000) are created as fast
  as 8 client threads can POST them.  A watch in this process notes when each Service's status
  first shows an address.  Reported: creation -> publication latency p50/p90/p99/max (from just
  before the POST to the watch event), the time until the last one, and the API requests the
  controller made per Service (every request the fake served, minus the benchmark's own POSTs
  and watch).  Targets: p50 <= 100 ms, p99 <= 1 s, <= 2 requests per Service.
* ``stages`` (``--stages``): where the time of a burst goes, the test API server's part
  separated from the controller's.  The server runs in a process of its own, the POSTs come
  from a third process, and the controller runs in this one with its steps timed: creation ->
  the ADDED event seen by the controller (the server's and the watch's part), -> taken from
  the queue (waiting for the worker), -> recorded in the state (the transaction), -> the status
  PATCH answered.  Also the controller's own CPU seconds per Service.
* ``failover``: two replicas with the default lease duration (15 s); SIGKILL the leader and time
  until the other holds the Lease (target: <= duration + 1 s); then SIGTERM the new leader with
  a third replica standing by, and time the handover.
* ``memory``: 10,000 Services stored, a controller started; once every one is assigned and the
  controller idles, its resident memory (VmRSS; target <= 150 MB) and its CPU use over 30 s
  of idling (target ~0).

From the repository root::

    .venv/bin/python -m bench.bench_controller [--services 1000] [--watched 10000]
        [--skip burst,burst-separate,failover,memory] [--stages] [--json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lbctl import kube as adapter
from lbctl.core.leases import record_of
from lbctl.core.pools import add_pool, make_pool
from lbctl.ports import SERVICES
from lbctl.state.configmap import ConfigMapBackend
from lbctl.state.store import StateStore
from tests.kubefake.server import FakeKubeServer

ROOT = Path(__file__).resolve().parents[1]


def start_controller(kubeconfig: Path, identity: str, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("POD_NAME", "LBCTL_STATE")}
    return subprocess.Popen(
        [sys.executable, "-m", "lbctl", "--kubeconfig", str(kubeconfig), "controller",
         "--id", identity, "--metrics-addr", "127.0.0.1:0", *extra],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


def holder(server: FakeKubeServer) -> str:
    lease = server.get_object("leases", "lbctl-controller", "kube-system")
    return record_of(lease).holder if lease else ""


def wait_for(check: Any, timeout: float, step: float = 0.01) -> float:
    """Seconds until ``check()`` held (raises after ``timeout``)."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"gave up after {timeout}s")
        time.sleep(step)
    return time.monotonic() - start


def seed_pool(kubeconfig: Path, cidr: str) -> None:
    store = StateStore(ConfigMapBackend(adapter.connect(str(kubeconfig), None)))
    store.update(lambda state: (add_pool(state, make_pool("default", [cidr])), None))


def service(name: str, namespace: str) -> dict[str, Any]:
    # No node ports: 10,000 Services would not fit in the node-port range (30000-32767).
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}],
                     "allocateLoadBalancerNodePorts": False}}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class _External:
    """The fake apiserver in a process of its own (``python -m tests.kubefake``): the
    benchmark's client threads and the server then do not share one interpreter lock."""

    def __init__(self, workdir: Path) -> None:
        self.kubeconfig = workdir / "external.kubeconfig"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.kubefake", "--kubeconfig", str(self.kubeconfig)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert self.process.stderr is not None
        line = self.process.stderr.readline()  # "kubefake: serving http://127.0.0.1:PORT; ..."
        self.port = int(line.split("http://127.0.0.1:")[1].split(";")[0])

    def stop(self) -> None:
        stop(self.process)


def burst(count: int, workdir: Path, *, separate: bool = False) -> dict[str, Any]:
    if separate:
        external = _External(workdir)
        try:
            return _burst(count, external.kubeconfig, external.port, None,
                          server_pid=external.process.pid)
        finally:
            external.stop()
    with FakeKubeServer() as server:
        return _burst(count, server.write_kubeconfig(workdir / "burst.kubeconfig"), server.port,
                      server)


def _lease_holder(kube: Any) -> str:
    from lbctl.ports import LEASES

    try:
        return record_of(kube.get(LEASES, "lbctl-controller", "kube-system")).holder
    except Exception:
        return ""


def _burst(count: int, kubeconfig: Path, port: int, server: FakeKubeServer | None, *,
           server_pid: int | None = None) -> dict[str, Any]:
    seed_pool(kubeconfig, "10.0.0.0/16")
    controller = start_controller(kubeconfig, "bench")
    try:
        kube = adapter.connect(str(kubeconfig), None)
        wait_for(lambda: _lease_holder(kube) == "bench", 30, step=0.05)
        time.sleep(1.0)  # both watches listed
        listing = kube.list_versioned(SERVICES)
        created: dict[str, float] = {}
        published: dict[str, float] = {}
        done = threading.Event()

        def watch() -> None:
            events = kube.watch(SERVICES, resource_version=listing.resource_version,
                                timeout_seconds=600)
            for event in events:
                meta = event.object.get("metadata") or {}
                ingress = ((event.object.get("status") or {}).get("loadBalancer") or {}
                           ).get("ingress")
                name = f"{meta.get('namespace')}/{meta.get('name')}"
                if ingress and name not in published:
                    published[name] = time.monotonic()
                    if len(published) == count:
                        done.set()
                        return

        before = len(server.requests) if server is not None else 0
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        local = threading.local()

        def create(i: int) -> None:
            if not hasattr(local, "conn"):
                local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            namespace = f"ns{i % 10}"
            name = f"svc-{i:05d}"
            body = json.dumps(service(name, namespace)).encode()
            created[f"{namespace}/{name}"] = time.monotonic()
            local.conn.request("POST", f"/api/v1/namespaces/{namespace}/services", body,
                               {"Content-Type": "application/json"})
            response = local.conn.getresponse()
            response.read()
            assert response.status == 201, response.status

        cpu_before = _cpu(controller.pid, server_pid)
        start = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, range(count)))
        creation = time.monotonic() - start
        if not done.wait(120):
            raise TimeoutError(f"only {len(published)} of {count} published")
        total = time.monotonic() - start
        cpu = {k: round((v - cpu_before[k]) / count * 1000, 2)
               for k, v in _cpu(controller.pid, server_pid).items()}
        time.sleep(0.5)  # the controller's last requests (state re-reads) land
        kinds: dict[str, int] = {}
        mine: list[Any] = []
        if server is not None:
            requests = list(server.requests)[before:]
            # The benchmark's own: its POSTs and its one watch of Services.
            mine = [r for r in requests if not (r.method == "POST" and r.path.endswith(
                "/services"))]
            ours = next(i for i, r in enumerate(mine) if r.path == "/api/v1/services"
                        and r.query.get("watch") == "true")
            del mine[ours]
            for r in mine:
                what = ("services/status" if r.path.endswith("/status")
                        else r.path.split("/")[-1])
                kind = f"{r.method} {what}" + (" (watch)" if r.query.get("watch") else "")
                kinds[kind] = kinds.get(kind, 0) + 1
        latencies = [published[k] - created[k] for k in created]
        shown = [ip for svc in kube.list(SERVICES)
                 for ip in (i["ip"] for i in svc["status"]["loadBalancer"]["ingress"])]
        return {
            "server": "separate process" if server is None else "in this process",
            "services": count,
            "creation_seconds": round(creation, 3),
            "all_published_seconds": round(total, 3),
            "latency_ms": {p: round(percentile(latencies, q) * 1000, 1) for p, q in
                           (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))},
            "mean_ms": round(statistics.mean(latencies) * 1000, 1),
            "controller_requests": len(mine) if server is not None else None,
            "requests_per_service": round(len(mine) / count, 3) if server else None,
            "requests_by_kind": dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
            "duplicates": len(shown) - len(set(shown)),
            "cpu_ms_per_service": cpu,
        }
    finally:
        stop(controller)


def _cpu(controller: int, server: int | None) -> dict[str, float]:
    """CPU seconds used so far: the controller's process, the benchmark's own (its POST
    threads, its watch and, unless ``server``, the test API server), the server's."""
    times = os.times()
    used = {"controller": proc_cpu_seconds(controller),
            "benchmark": times.user + times.system}
    if server is not None:
        used["server"] = proc_cpu_seconds(server)
    return used


def _post_burst(port: int, count: int, out: Any) -> None:
    """In a process of its own: POST ``count`` Services from 8 threads; send back when each
    POST started (``time.monotonic()``: one clock for every process of the machine)."""
    local = threading.local()
    created: dict[tuple[str, str], float] = {}

    def create(i: int) -> None:
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        namespace, name = f"ns{i % 10}", f"svc-{i:05d}"
        body = json.dumps(service(name, namespace)).encode()
        created[(namespace, name)] = time.monotonic()
        local.conn.request("POST", f"/api/v1/namespaces/{namespace}/services", body,
                           {"Content-Type": "application/json"})
        local.conn.getresponse().read()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(count)))
    out.put(created)


def stages(count: int, workdir: Path) -> dict[str, Any]:
    import multiprocessing

    from lbctl.actions import services as actions
    from lbctl.controller.reconciler import Reconciler
    from lbctl.controller.run import Controller, Settings

    seen: dict[str, dict[Any, float]] = {"seen": {}, "taken": {}, "recorded": {}, "patched": {}}
    lock = threading.Lock()

    def mark(stage: str, keys: Any) -> None:
        now = time.monotonic()
        with lock:
            for key in keys:
                seen[stage].setdefault(key, now)

    class Timed(Reconciler):
        def service_changed(self, event: Any) -> None:
            if event.type == "ADDED":
                meta = event.object["metadata"]
                mark("seen", [(meta["namespace"], meta["name"])])
            super().service_changed(event)

        def start(self, keys: Any) -> Any:
            keys = list(keys)
            mark("taken", keys)
            started = super().start(keys)
            if started is not None:
                mark("recorded", started.publication.recorded.keys)
            return started

    real_publish = actions._publish

    def publish(kube: Any, svc: Any, allocation: Any) -> Any:
        answer = real_publish(kube, svc, allocation)
        mark("patched", [(svc["metadata"]["namespace"], svc["metadata"]["name"])])
        return answer

    external = _External(workdir)
    try:
        seed_pool(external.kubeconfig, "10.0.0.0/16")
        kube = adapter.connect(str(external.kubeconfig), None)
        store = StateStore(ConfigMapBackend(kube))
        actions._publish = publish  # type: ignore[assignment]
        controller = Controller(kube, store, Settings(identity="stages"))
        controller.reconciler = Timed(kube, store, controller.queue, controller.metrics,
                                      clock=controller.clock, log=controller.log)
        controller.services_watch.on_list = controller.reconciler.services_listed
        controller.services_watch.on_event = controller.reconciler.service_changed
        controller.state_watch.on_list = controller.reconciler.state_listed
        controller.state_watch.on_event = controller.reconciler.state_changed
        worker = threading.Thread(target=controller.run, daemon=True)
        worker.start()
        wait_for(lambda: controller.leading and controller.ready() == "", 30, step=0.05)
        time.sleep(0.5)
        out: Any = multiprocessing.Queue()
        cpu = time.process_time()
        poster = multiprocessing.Process(target=_post_burst, args=(external.port, count, out))
        poster.start()
        created = out.get(timeout=120)
        poster.join()
        wait_for(lambda: len(seen["patched"]) >= count, 120, step=0.05)
        cpu = time.process_time() - cpu
        controller.stop()
        worker.join(timeout=30)
    finally:
        actions._publish = real_publish  # type: ignore[assignment]
        external.stop()
    report: dict[str, Any] = {"services": count, "controller_cpu_ms_per_service":
                              round(cpu / count * 1000, 2)}
    before = created
    for stage in ("seen", "taken", "recorded", "patched"):
        spans = [seen[stage][k] - before[k] for k in created]
        report[f"to_{stage}_ms"] = {"p50": round(percentile(spans, 50) * 1000, 1),
                                    "p90": round(percentile(spans, 90) * 1000, 1)}
        before = seen[stage]
    total = [seen["patched"][k] - created[k] for k in created]
    report["creation_to_patched_ms"] = {p: round(percentile(total, q) * 1000, 1) for p, q in
                                        (("p50", 50), ("p99", 99), ("max", 100))}
    report["creation_seconds"] = round(max(created.values()) - min(created.values()), 3)
    report["batches"] = controller.reconciler.batches
    return report


def failover(workdir: Path) -> dict[str, Any]:
    with FakeKubeServer() as server:
        kubeconfig = server.write_kubeconfig(workdir / "failover.kubeconfig")
        seed_pool(kubeconfig, "10.0.0.0/16")
        replicas = {name: start_controller(kubeconfig, name) for name in ("a", "b")}
        try:
            wait_for(lambda: holder(server) in replicas, 40)
            leader = holder(server)
            time.sleep(3)  # a few renewals: the follower has observed the record
            other = next(n for n in replicas if n != leader)
            replicas[leader].send_signal(signal.SIGKILL)
            killed = wait_for(lambda: holder(server) == other, 40)
            replicas["c"] = start_controller(kubeconfig, "c")
            time.sleep(3)
            replicas[other].send_signal(signal.SIGTERM)
            handed = wait_for(lambda: holder(server) == "c", 40)
            return {"lease_duration_seconds": 15, "sigkill_takeover_seconds": round(killed, 2),
                    "sigterm_handover_seconds": round(handed, 2)}
        finally:
            for process in replicas.values():
                stop(process)


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory(watched: int, workdir: Path, idle_seconds: float) -> dict[str, Any]:
    with FakeKubeServer() as server:
        kubeconfig = server.write_kubeconfig(workdir / "memory.kubeconfig")
        seed_pool(kubeconfig, "10.0.0.0/16")
        for i in range(watched):
            server.put_object(service(f"svc-{i:05d}", f"ns{i % 50}"))
        controller = start_controller(kubeconfig, "mem")
        try:
            def all_assigned() -> bool:
                return sum(1 for s in server.objects_of("services")
                           if (s.get("status") or {}).get("loadBalancer", {}).get("ingress")
                           ) == watched

            assign = wait_for(all_assigned, 600, step=1.0)
            time.sleep(5)  # settle: the last MODIFIED events handled
            rss = proc_rss_mb(controller.pid)
            cpu0, t0 = proc_cpu_seconds(controller.pid), time.monotonic()
            time.sleep(idle_seconds)
            cpu = (proc_cpu_seconds(controller.pid) - cpu0) / (time.monotonic() - t0)
            return {"services": watched, "assign_all_seconds": round(assign, 1),
                    "rss_mb": round(rss, 1), "rss_after_idle_mb":
                        round(proc_rss_mb(controller.pid), 1),
                    "idle_cpu_percent": round(cpu * 100, 2), "idle_seconds": idle_seconds}
        finally:
            stop(controller)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--watched", type=int, default=10_000)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--skip", default="")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--stages", action="store_true",
                        help="also time the controller's steps (controller in this process)")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    report: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if "burst" not in skip:
            report["burst"] = burst(args.services, workdir)
        if "burst-separate" not in skip:
            report["burst_separate_server"] = burst(args.services, workdir, separate=True)
        if args.stages:
            report["stages"] = stages(args.services, workdir)
        if "failover" not in skip:
            report["failover"] = failover(workdir)
        if "memory" not in skip:
            report["memory"] = memory(args.watched, workdir, args.idle)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
