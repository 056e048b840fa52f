"""Benchmark: ``lbctl speaker`` failover time, ARP reply latency, and API writes.

Everything runs in network namespaces this script creates (the lab of ``tests/net/lab.py``:
a bridge, the fake apiserver in ``cp``, speaker processes in ``n1``..``n3``, a ``client``) and
removes at the end; nothing is sent on the machine's interfaces.  Needs root.

* ``failover``: one VIP, three speakers.  Per trial: SIGKILL the owner's speaker, and from the
  client send an ARP request for the VIP every 10 ms; the time from the kill to the first reply
  from another MAC.  The killed speaker is restarted and the VIP settles before the next trial.
  Target: p95 <= 3 s over 20 trials.
* ``latency``: 1,000 VIPs owned by one speaker; the client asks for random VIPs at 1,000
  requests/s for ``--seconds`` and times each reply (client socket to client socket).  Target:
  p99 <= 5 ms.
* ``writes``: three speakers, 10 and then 1,000 VIPs; PUT/PATCH/POST requests the fake
  apiserver receives per second over ``--seconds``.  Target: equal.

    sudo .venv/bin/python -m bench.bench_speaker [--trials 20] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import signal
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lbctl.net import frames
from tests.net.lab import CLIENT_IP, Lab, endpoint_slice, service
from tests.net.netns import Child, Lan, unavailable


def vips(n: int) -> list[str]:
    return [f"10.9.{1 + i // 250}.{1 + i % 250}" for i in range(n)]


def populate(lab: Lab, count: int) -> list[str]:
    """``count`` Services with one VIP each (10.9.1.1 ...: on the lab's /16, see below)."""
    addresses = vips(count)
    lines = "".join(f"    s{i}: {{ips: ['{ip}'], pool: lan}}\n" for i, ip in enumerate(addresses))
    lab.api.put_object({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "lbctl-state", "namespace": "kube-system"},
        "data": {"state.yaml": "schemaVersion: 1\npools:\n  lan:\n    addresses: "
                               "[10.9.1.0-10.9.9.255]\nallocations:\n  shop:\n" + lines}})
    for i, ip in enumerate(addresses):
        lab.api.put_object(service(f"s{i}", [ip]))
        lab.api.put_object(endpoint_slice(f"s{i}", lab.nodes))
    return addresses


# --------------------------------------------------------------------------- in the client


def _arp_socket() -> tuple[socket.socket, bytes]:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(frames.ETH_P_ARP))
    sock.bind(("lan0", frames.ETH_P_ARP))
    return sock, sock.getsockname()[4]


def _request(mac: bytes, target: str) -> bytes:
    head = (frames.BROADCAST_MAC + mac + b"\x08\x06" + b"\x00\x01\x08\x00\x06\x04\x00\x01")
    return head + mac + socket.inet_aton(CLIENT_IP) + frames.ZERO_MAC + socket.inet_aton(target)


def _first_new_answer(vip: str, old_mac: str, ready: int, limit: float) -> tuple[float, str]:
    """Ask for ``vip`` every 10 ms until a MAC other than ``old_mac`` answers; (time, MAC)."""
    sock, mac = _arp_socket()
    request = _request(mac, vip)
    target = socket.inet_aton(vip)
    os.write(ready, b"!")
    deadline = time.monotonic() + limit
    next_send = 0.0
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_send:
            sock.send(request)
            next_send = now + 0.01
        if select.select([sock], [], [], max(0.0, next_send - time.monotonic()))[0]:
            frame = sock.recv(2048)
            answer = frames.parse_arp_claim(frame)
            if answer is not None and answer.ip == target and frame[20:22] == b"\x00\x02":
                who = frames.mac_text(answer.mac)
                if who != old_mac:
                    return time.monotonic(), who
    raise TimeoutError(f"no new owner answered for {vip} in {limit} s")


def _latencies(addresses: list[str], rate: float, seconds: float) -> dict[str, Any]:
    sock, mac = _arp_socket()
    requests = {ip: _request(mac, ip) for ip in addresses}
    packed = {socket.inet_aton(ip): ip for ip in addresses}
    sent_at: dict[str, float] = {}
    samples: list[float] = []
    sent = 0
    start = time.monotonic()
    end = start + seconds
    rng = random.Random(1)
    while True:
        now = time.monotonic()
        if now >= end:
            break
        due = start + sent / rate
        if now >= due:
            ip = rng.choice(addresses)
            sent_at[ip] = time.monotonic()
            sock.send(requests[ip])
            sent += 1
            continue
        while select.select([sock], [], [], max(0.0, due - time.monotonic()))[0]:
            frame, address = sock.recvfrom(2048)
            arrived = time.monotonic()
            if address[2] == socket.PACKET_OUTGOING or frame[20:22] != b"\x00\x02":
                continue
            ip = packed.get(frame[28:32])
            if ip is not None and ip in sent_at:
                samples.append(arrived - sent_at.pop(ip))
    time.sleep(0.2)
    while select.select([sock], [], [], 0)[0]:
        frame, address = sock.recvfrom(2048)
        ip = packed.get(frame[28:32])
        if frame[20:22] == b"\x00\x02" and ip in sent_at:
            samples.append(time.monotonic() - sent_at.pop(ip))
    return {"sent": sent, "answered": len(samples), "elapsed": seconds, "samples": samples}


def _bare_responder(addresses: list[str], ready: int, stop: int) -> int:
    """The baseline: one thread, one socket, a set lookup and a reply per request."""
    sock, mac = _arp_socket()
    owned = {socket.inet_aton(ip) for ip in addresses}
    os.write(ready, b"!")
    answered = 0
    while True:
        readable = select.select([sock, stop], [], [])[0]
        if stop in readable:
            return answered
        frame = sock.recv(2048)
        if frame[20:22] == b"\x00\x01" and frame[38:42] in owned:
            sock.send(frame[6:12] + mac + b"\x08\x06\x00\x01\x08\x00\x06\x04\x00\x02" + mac
                      + frame[38:42] + frame[22:32])
            answered += 1


def _measure(lab: Lab, addresses: list[str], rate: float, seconds: float) -> dict[str, Any]:
    result = lab.lan.run(lab.client, _latencies, addresses, rate, seconds)
    samples = result.pop("samples")
    result.update(p50_ms=statistics.median(samples) * 1000,
                  p99_ms=percentile(samples, 99) * 1000, max_ms=max(samples) * 1000,
                  rate=result["sent"] / seconds)
    return result


# --------------------------------------------------------------------------- the benchmarks


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def failover(trials: int) -> dict[str, Any]:
    lan = Lan()
    lab = None
    try:
        lab = Lab(lan, Path(tempfile.mkdtemp()))
        vip = "10.9.0.100"
        lab.set_state({"web": [vip]})
        lab.api.put_object(service("web", [vip]))
        lab.api.put_object(endpoint_slice("web", lab.nodes))
        lab.start()
        times = []
        for trial in range(trials):
            owner = lab.owner(vip)
            assert owner is not None
            lab.wait_for(vip, [owner], within=30)
            ready_r, ready_w = os.pipe()
            child = Child(lab.client, _first_new_answer, vip, lab.macs[owner], ready_w, 20.0,
                          close=(ready_r,))
            os.close(ready_w)
            select.select([ready_r], [], [], 10)
            os.close(ready_r)
            time.sleep(0.1)
            killed = time.monotonic()
            os.kill(lab.procs[owner].pid, signal.SIGKILL)
            answered, mac = child.result(timeout=30)
            lab.procs.pop(owner).wait()
            took = answered - killed
            times.append(took)
            print(f"trial {trial + 1}: {owner} killed, {lab.node_of_mac(mac)} answered after "
                  f"{took:.3f} s", file=sys.stderr)
            lab.start(owner)
        return {"trials": trials, "times": times, "p50": statistics.median(times),
                "p95": percentile(times, 95), "max": max(times)}
    finally:
        if lab is not None:
            lab.close()
        lan.close()


def latency(count: int, rate: float, seconds: float) -> dict[str, Any]:
    lan = Lan()
    lab = None
    try:
        lab = Lab(lan, Path(tempfile.mkdtemp()), nodes=1)
        # the VIPs live on 10.9.0.0/16 here: widen the node's and the client's subnets
        for ns in (lab.ns["n1"], lab.client):
            ip = lab.ip["n1"] if ns == lab.ns["n1"] else CLIENT_IP
            os.system(f"ip -n {ns} addr add {ip}/16 dev lan0 2>/dev/null")
        addresses = populate(lab, count)
        ready_r, ready_w = os.pipe()
        stop_r, stop_w = os.pipe()
        bare = Child(lab.ns["n1"], _bare_responder, addresses, ready_w, stop_r,
                     close=(ready_r, stop_w))
        os.close(ready_w)
        os.close(stop_r)
        select.select([ready_r], [], [], 10)
        baseline = _measure(lab, addresses, rate, seconds)
        os.write(stop_w, b"!")
        bare.result()
        lab.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and lab.log("n1").count("took over") < count:
            time.sleep(0.5)
        time.sleep(5)  # past the last gratuitous round
        return {"baseline": baseline, "lbctl": _measure(lab, addresses, rate, seconds)}
    finally:
        if lab is not None:
            lab.close()
        lan.close()


def writes(counts: list[int], seconds: float) -> dict[str, Any]:
    found = {}
    for count in counts:
        lan = Lan()
        lab = None
        try:
            lab = Lab(lan, Path(tempfile.mkdtemp()))
            for name in lab.nodes:
                os.system(f"ip -n {lab.ns[name]} addr add {lab.ip[name]}/16 dev lan0 2>/dev/null")
            populate(lab, count)
            lab.start()
            time.sleep(5)  # let every speaker list, take its addresses and settle
            before = len(lab.api.requests)
            time.sleep(seconds)
            window = list(lab.api.requests)[before:]
            written = [r for r in window if r[0] in ("PUT", "PATCH", "POST", "DELETE")]
            found[count] = {"writes": len(written), "per_second": len(written) / seconds,
                            "requests": len(window)}
        finally:
            if lab is not None:
                lab.close()
            lan.close()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--vips", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--only", choices=["failover", "latency", "writes"])
    args = parser.parse_args()
    why = unavailable()
    if why:
        print(f"bench_speaker: {why}", file=sys.stderr)
        return 2
    report: dict[str, Any] = {}
    if args.only in (None, "failover"):
        report["failover"] = failover(args.trials)
        print(json.dumps(report["failover"]), file=sys.stderr)
    if args.only in (None, "latency"):
        report["latency"] = latency(args.vips, args.rate, args.seconds)
        print(json.dumps(report["latency"]), file=sys.stderr)
    if args.only in (None, "writes"):
        report["writes"] = writes([10, args.vips], args.seconds)
        print(json.dumps(report["writes"]), file=sys.stderr)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
