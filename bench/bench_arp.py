"""Benchmark: gratuitous ARP frames per second between two network namespaces.

Three senders put gratuitous ARP requests on the same veth segment (created here, removed at the
end, nothing sent anywhere else), in one run:

* ``raw``: a bare AF_PACKET loop sending one prebuilt frame; the ceiling for Python;
* ``lbctl``: :meth:`lbctl.net.announcer.RawAnnouncer.announce` for N distinct addresses, one
  round, request form: reads the interfaces, chooses, builds every frame, sends, reports.
  Target: at least 0.5x ``raw``;
* ``arping``: ``arping -U -c 1`` once per address (iputils), on a sample of addresses,
  extrapolated.  Target: lbctl at least 20x faster.

The raw and lbctl runs alternate, ``--repeat`` times each, and the medians are reported; the
receiving interface's counters confirm the frames arrived.  Needs root.  From the repository
root:

    sudo .venv/bin/python -m bench.bench_arp [--frames 10000] [--repeat 5] [--arping-sample 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from lbctl.net import frames
from lbctl.net.announcer import RawAnnouncer
from tests.net.netns import Lan, sh, unavailable


def addresses(n: int) -> list[str]:
    """n distinct addresses in 10.9.0.0/16, skipping the hosts' own."""
    return [f"10.9.{i // 250 + 1}.{i % 250 + 1}" for i in range(n)]


def raw_loop(n: int, mac: str) -> tuple[float, float]:
    """Seconds to send one prebuilt frame n times on one bound socket: the loop alone, and the
    loop with the socket's creation and close (closing an AF_PACKET socket waits for an RCU
    grace period, milliseconds that lbctl's figure includes)."""
    [frame] = frames.gratuitous_arp(frames.mac_bytes(mac), [socket.inet_aton("10.9.1.1")],
                                    [frames.ARP_REQUEST])
    opened = time.perf_counter()
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    sock.bind(("lan0", 0))
    send = sock.send
    start = time.perf_counter()
    for _ in range(n):
        send(frame)
    loop = time.perf_counter() - start
    sock.close()
    return loop, time.perf_counter() - opened


def lbctl_sender(ips: list[str]) -> float:
    """Seconds for one announcement of every address: interfaces read and chosen, frames
    built, socket opened, frames sent, socket closed, results made."""
    start = time.perf_counter()
    sent = RawAnnouncer().announce(ips, interface=None, count=1, interval=0.0, mode="request")
    elapsed = time.perf_counter() - start
    assert sum(s.frames * len(s.ips) for s in sent) == len(ips)
    return elapsed


def arping_loop(ips: list[str]) -> float:
    """Seconds for ``arping -U -c 1`` once per address."""
    start = time.perf_counter()
    for ip in ips:
        subprocess.run(["arping", "-q", "-U", "-c", "1", "-I", "lan0", ip], check=True)
    return time.perf_counter() - start


def received(namespace: str) -> int:
    raw = json.loads(sh("ip", "-n", namespace, "-s", "-j", "link", "show", "lan0"))
    return int(raw[0]["stats64"]["rx"]["packets"])


def counted(receiver: str, work: Callable[[], Any]) -> tuple[Any, int]:
    """``work()``'s result, and how many frames ``receiver`` got meanwhile."""
    before = received(receiver)
    result = work()
    time.sleep(0.05)
    return result, received(receiver) - before


def session(receiver: str, mac: str, ips: list[str], repeat: int,
            sample: list[str]) -> dict[str, list[tuple[float, int]]]:
    """Runs inside the sending namespace, in one warm process: every measurement, the raw
    and lbctl runs alternating so that both see the same load on a shared machine."""
    runs: dict[str, list[tuple[float, int]]] = {"raw": [], "raw+socket": [], "lbctl": [],
                                                 "arping": []}
    for _ in range(repeat):
        (loop, whole), arrived = counted(receiver, lambda: raw_loop(len(ips), mac))
        runs["raw"].append((loop, arrived))
        runs["raw+socket"].append((whole, arrived))
        runs["lbctl"].append(counted(receiver, lambda: lbctl_sender(ips)))
    if sample and shutil.which("arping"):
        runs["arping"].append(counted(receiver, lambda: arping_loop(sample)))
    return runs


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    return (f"{cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}, "
            f"Python {platform.python_version()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--arping-sample", type=int, default=10)
    options = parser.parse_args()
    why = unavailable()
    if why:
        print(f"bench_arp: {why}", file=sys.stderr)
        return 2
    ips = addresses(options.frames)
    lan = Lan()
    try:
        a = lan.host("a", "10.9.0.1/16")
        b = lan.host("b", "10.9.0.2/16")
        lan.sysctl(a, {"net/ipv4/ip_nonlocal_bind": "1"})  # arping -U binds to the address
        runs = lan.run(a, session, b, lan.mac(a), ips, options.repeat,
                       ips[: options.arping_sample])
    finally:
        lan.close()
    names = {
        "raw": "raw AF_PACKET loop, one prebuilt frame",
        "raw+socket": "same, counting socket creation and close",
        "lbctl": "lbctl RawAnnouncer.announce (everything)",
        "arping": f"arping -U -c 1 per address ({options.arping_sample} sampled)",
    }
    rate = {key: statistics.median(
        (len(ips) if key != "arping" else options.arping_sample) / s for s, _ in values)
        for key, values in runs.items() if values}
    # seconds of the raw loop / seconds of lbctl, run by run
    per_run = statistics.median(r / o for (r, _), (o, _) in zip(runs["raw"], runs["lbctl"],
                                                                  strict=True))
    print(f"Machine: {machine()}")
    print(f"Frames per run: {len(ips):,}; median of {options.repeat} alternating runs\n")
    print("| sender | frames/s | frames sent per run | fewest received per run |")
    print("|---|---:|---:|---:|")
    for key, value in rate.items():
        sent = len(ips) if key != "arping" else options.arping_sample
        print(f"| {names[key]} | {value:,.0f} | {sent:,} | {min(n for _, n in runs[key]):,} |")
    print(f"\nlbctl / raw loop = {rate['lbctl'] / rate['raw']:.2f} (median of per-run ratios "
          f"{per_run:.2f}; target >= 0.5)")
    print(f"lbctl / raw with socket = {rate['lbctl'] / rate['raw+socket']:.2f}")
    if "arping" in rate:
        print(f"lbctl / arping = {rate['lbctl'] / rate['arping']:,.0f}x (target >= 20x)")
    else:
        print("arping not installed (Debian: iputils-arping); comparison skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
