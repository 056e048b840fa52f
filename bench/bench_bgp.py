"""Benchmark: BGP announcement latency, withdrawal on SIGTERM, and a full table of 1,000 VIPs.

Everything runs in network namespaces this script creates (the BGP lab of
``tests/net/bgplab.py``: a bridge, the fake apiserver in ``cp``, ``lbctl speaker`` processes in
``n1``..``n3`` peering with BIRD 2 in ``rtr``, configured by ``lbctl bgp export --format
bird``) and removes at the end; nothing is sent on the machine's interfaces.  Needs root and
BIRD 2.

* ``assign``: per trial, a new Service and ``lbctl assign svc NAME --ip VIP`` run in the
  ``client`` namespace (a real CLI process against the fake apiserver); the time from the
  moment ``assign`` has done its work (the address recorded in the state and published in the
  Service's status: the fake apiserver holds it) until the router's table (``birdc show
  route``) holds the VIP, with its first path and with all three.  The CLI's own run time
  (start-up included) is reported beside it.  Target: p95 <= 1 s.
* ``sigterm``: a VIP announced by three nodes; per trial SIGTERM one speaker and time until
  the router has dropped its path; the speaker is started again before the next trial.
  Target: <= 1 s.
* ``full``: 1,000 VIPs recorded, published and with endpoints before a speaker starts; the time
  from its session coming up (BIRD's protocol Established) to 1,000 routes in the router's
  table.  Target: <= 10 s.

    sudo .venv/bin/python -m bench.bench_bgp [--trials 20] [--vips 1000]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from tests.net.bgplab import STATE, BGPLab
from tests.net.lab import endpoint_slice, service
from tests.net.netns import Lan, unavailable
from tests.net.router import unavailable as no_bird


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95),
            "max": max(values)}


def _lab() -> tuple[Lan, BGPLab]:
    lan = Lan()
    try:
        return lan, BGPLab(lan, Path(tempfile.mkdtemp(prefix="bench-bgp-")))
    except BaseException:
        lan.close()
        raise


def _wait(condition: Any, within: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < within:
        if condition():
            return time.monotonic()
        time.sleep(0.005)
    raise TimeoutError(f"not within {within} s")


def assign(trials: int) -> dict[str, Any]:
    lan, bgp = _lab()
    try:
        bgp.put_state(STATE)
        bird = bgp.start_router()
        bgp.lab.start()
        everyone = set(bgp.ip.values())
        first: list[float] = []
        all_paths: list[float] = []
        cli: list[float] = []
        for trial in range(trials):
            name, vip = f"s{trial}", f"192.168.197.{20 + trial}"
            prefix = f"{vip}/32"
            bgp.api.put_object(service(name, []))
            bgp.api.put_object(endpoint_slice(name, bgp.lab.nodes))
            time.sleep(0.5)  # the speakers have seen the Service (nothing to announce yet)
            command = ["ip", "netns", "exec", bgp.lab.client, sys.executable, "-m", "lbctl",
                       "--kubeconfig", str(bgp.lab.kubeconfig), "assign", "svc", name, "-n",
                       "shop", "--ip", vip]
            seen: dict[str, float] = {}

            def published(name: str = name, seen: dict[str, float] = seen) -> None:
                """Every millisecond: has the fake apiserver got the Service's address?"""
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    obj = bgp.api.get_object("services", name, "shop") or {}
                    if ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
                        seen["published"] = time.monotonic()
                        return
                    time.sleep(0.001)

            def watch(prefix: str = prefix, seen: dict[str, float] = seen) -> None:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    hops = bird.routes().get(prefix, set())
                    now = time.monotonic()
                    if hops and "one" not in seen:
                        seen["one"] = now
                    if hops == everyone:
                        seen["all"] = now
                        return
                    time.sleep(0.002)

            publisher = threading.Thread(target=published)
            publisher.start()
            watcher = threading.Thread(target=watch)
            watcher.start()
            start = time.monotonic()
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            returned = time.monotonic()
            watcher.join()
            publisher.join()
            if done.returncode != 0 or "all" not in seen or "published" not in seen:
                raise RuntimeError(f"trial {trial}: {done.stderr} {seen}")
            first.append(seen["one"] - seen["published"])
            all_paths.append(seen["all"] - seen["published"])
            cli.append(returned - start)
            print(f"assign {trial + 1}: published {seen['published'] - start:.3f} s after the "
                  f"CLI started; then first path {first[-1]:.3f} s, all three "
                  f"{all_paths[-1]:.3f} s (CLI ran {cli[-1]:.3f} s)", file=sys.stderr)
        return {"published_to_first_path": summary(first),
                "published_to_all_paths": summary(all_paths),
                "cli_run_time": summary(cli)}
    finally:
        bgp.close()
        lan.close()


def sigterm(trials: int) -> dict[str, Any]:
    lan, bgp = _lab()
    try:
        bgp.put_state(STATE)
        bgp.allocate({"web": ["192.168.197.10"]})
        bgp.api.put_object(service("web", ["192.168.197.10"]))
        bgp.api.put_object(endpoint_slice("web", bgp.lab.nodes))
        bgp.start_router()
        bgp.lab.start()
        prefix = "192.168.197.10/32"
        bgp.wait_paths(prefix, set(bgp.lab.nodes), within=30)
        times = []
        for trial in range(trials):
            victim = bgp.lab.nodes[trial % 3]
            rest = set(bgp.lab.nodes) - {victim}
            proc = bgp.lab.procs[victim]
            start = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            gone = _wait(lambda rest=rest: bgp.paths(prefix) == rest, 10)
            times.append(gone - start)
            proc.wait(timeout=15)
            bgp.lab.procs.pop(victim)
            print(f"sigterm {trial + 1}: {victim}'s path gone after {times[-1]:.3f} s",
                  file=sys.stderr)
            bgp.lab.start(victim)
            bgp.wait_paths(prefix, set(bgp.lab.nodes), within=60)
        return summary(times)
    finally:
        bgp.close()
        lan.close()


def full(count: int) -> dict[str, Any]:
    lan, bgp = _lab()
    try:
        document = yaml.safe_load(STATE)
        # a /22 of its own (192.168.200.0/24 holds the router and the nodes)
        vips = [f"192.168.{192 + i // 250}.{1 + i % 250}" for i in range(count)]
        document["pools"]["seed"]["addresses"] = ["192.168.192.0/22"]
        document["allocations"] = {"shop": {f"s{i}": {"ips": [ip], "pool": "seed"}
                                            for i, ip in enumerate(vips)}}
        bgp.put_state(yaml.safe_dump(document))
        for i, ip in enumerate(vips):
            bgp.api.put_object(service(f"s{i}", [ip]))
            bgp.api.put_object(endpoint_slice(f"s{i}", bgp.lab.nodes))
        bird = bgp.start_router()
        protocol = "lbctl_router_n1"
        events: dict[str, float] = {}

        def watch() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if "up" not in events and protocol in bird.established():
                    events["up"] = time.monotonic()
                if "up" in events:
                    text = bird.birdc("show", "route", "count", check=False)
                    if f"{count} of {count} routes" in text:
                        events["full"] = time.monotonic()
                        return
                time.sleep(0.01)

        watcher = threading.Thread(target=watch)
        watcher.start()
        started = time.monotonic()
        bgp.lab.start("n1")
        watcher.join()
        if "full" not in events:
            raise RuntimeError(f"no full table: {events}; {bird.birdc('show', 'route', 'count')}")
        result = {"vips": count, "session_to_full": events["full"] - events["up"],
                  "speaker_start_to_session": events["up"] - started}
        print(f"full: {result}", file=sys.stderr)
        return result
    finally:
        bgp.close()
        lan.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--vips", type=int, default=1000, choices=range(1, 1001),
                        metavar="1..1000")
    parser.add_argument("--only", choices=["assign", "sigterm", "full"])
    args = parser.parse_args()
    why = unavailable() or no_bird()
    if why:
        print(f"bench_bgp: {why}", file=sys.stderr)
        return 2
    report: dict[str, Any] = {}
    if args.only in (None, "assign"):
        report["assign"] = assign(args.trials)
    if args.only in (None, "sigterm"):
        report["sigterm"] = sigterm(max(3, args.trials // 2))
    if args.only in (None, "full"):
        report["full"] = full(args.vips)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
