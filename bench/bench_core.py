"""Benchmark of the pure core: allocation cost as a pool fills, state size, codec time.

1. Allocation: fill one pool with one :class:`~lbctl.core.allocator.Allocator` and time a window
   of 1,000 allocations around 1k and around 64k allocated (target: the 64k window at most 1.3x
   the 1k one).  Pools: an IPv4 /16 (exactly filled), the same with ``avoidBuggyIPs`` (filled to
   its 65,024 usable addresses), the /16 with releases and holds all along (every 50
   allocations: release one Service, release another with ``--hold`` and allocate it again), and
   an IPv6 /64.  Each fill runs ``REPEATS`` times, the pools in turn; each window reports its
   fastest run.  Times are CPU time of this process, so that other work on a shared machine
   counts as little as it can.
2. State size: ``encode()`` of N allocations with realistic names (``svc-00001`` in 8
   namespaces), per family; how many fit in one 1 MiB ConfigMap (target: at least 15,000),
   checked by encoding exactly that many.
3. Codec: ``encode``/``decode`` of the 64k state, and one ``assign`` as a command runs it
   (decode, allocator, allocate, encode) on a state of 15,000 allocations.

Run from the repository root: ``python bench/bench_core.py``.  It prints markdown (what
``bench/results-core.md`` holds) and writes nothing.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable

import yaml

from lbctl.core.addresses import IPV4, IPV6
from lbctl.core.allocator import Allocator, Request
from lbctl.core.pools import add_pool, make_pool
from lbctl.core.state import State, decode, encode
from lbctl.state.configmap import MAX_BYTES

FILL = 65_536
WINDOW = 1_000
POINTS = (1_000, 64_000)
REPEATS = 5
NAMESPACES = 8
CHURN_EVERY = 50


def request(i: int, families: tuple[int, ...] = (IPV4,)) -> Request:
    return Request(f"team-{i % NAMESPACES}", f"svc-{i:05d}", families=families)


def pool_state(*addresses: str, avoid: bool = False) -> State:
    return add_pool(State(), make_pool("default", addresses, avoid_buggy_ips=avoid))


def fill(state: State, count: int, families: tuple[int, ...], churn: bool) -> dict[int, float]:
    """Allocate ``count`` Services; seconds per allocation in the window around each point."""
    allocator = Allocator(state)
    starts = {point - WINDOW // 2: point for point in POINTS}
    ends = {point + WINDOW // 2: point for point in POINTS}
    began: dict[int, float] = {}
    calls: dict[int, int] = {}
    done = 0
    per_call = {point: 0.0 for point in POINTS}
    for i in range(count):
        if i in starts:
            began[starts[i]] = time.process_time()
            calls[starts[i]] = done
        allocator.allocate(request(i, families))
        done += 1
        if churn and i >= 2 * CHURN_EVERY and i % CHURN_EVERY == 0:
            gone, held = request(i - 37, families), request(i - 23, families)
            allocator.release(gone.namespace, gone.name)  # a hole the next Service fills
            allocator.release(held.namespace, held.name, hold=True)
            allocator.allocate(held)  # comes back to its held address
            allocator.allocate(gone)
            done += 2
        if i + 1 in ends:
            point = ends[i + 1]
            per_call[point] = (time.process_time() - began[point]) / (done - calls[point])
    assert sum(used for used, _ in allocator.usage("default").values()) == count
    return per_call


def allocation_rows() -> list[str]:
    cases = [
        ("IPv4 /16, exactly filled", pool_state("10.0.0.0/16"), FILL, (IPV4,), False),
        ("IPv4 /16, avoidBuggyIPs", pool_state("10.0.0.0/16", avoid=True), FILL - 512, (IPV4,),
         False),
        ("IPv4 /16, releases and holds", pool_state("10.0.0.0/16"), FILL, (IPV4,), True),
        ("IPv6 /64", pool_state("2001:db8::/64"), FILL, (IPV6,), False),
    ]
    # Round robin, so that a burst of other work on the machine cannot spoil every run of a case.
    runs = [[fill(state, count, families, churn) for _, state, count, families, churn in cases]
            for _ in range(REPEATS)]
    rows = ["| pool | allocations | µs/alloc at 1k | µs/alloc at 64k | ratio (target ≤ 1.3) |",
            "|---|---:|---:|---:|---:|"]
    for index, (label, _, count, _, _) in enumerate(cases):
        low, high = (min(run[index][point] for run in runs) for point in POINTS)
        rows.append(f"| {label} | {count:,} | {low * 1e6:.1f} | {high * 1e6:.1f} | "
                    f"{high / low:.2f} |")
    return rows


def filled(count: int, families: tuple[int, ...]) -> State:
    allocator = Allocator(pool_state("10.0.0.0/16", "2001:db8::/64"))
    for i in range(count):
        allocator.allocate(request(i, families))
    return allocator.state()


def first(state: State, count: int) -> State:
    """The state with only its first ``count`` allocations (in allocation order)."""
    keys = list(state.allocations)[:count]
    return State(pools=state.pools, allocations={k: state.allocations[k] for k in keys})


def size(state: State) -> int:
    return len(encode(state).encode("utf-8"))


def fits(families: tuple[int, ...]) -> tuple[float, int]:
    """Bytes per allocation, and exactly how many allocations one ConfigMap holds."""
    big = filled(30_000, families)
    base, at_10k, at_20k = (size(first(big, n)) for n in (0, 10_000, 20_000))
    per = (at_20k - at_10k) / 10_000  # what one more allocation costs around there
    most = 20_000 + int((MAX_BYTES - at_20k) / per)
    for _ in range(8):  # correct the estimate until one more would not fit
        room = MAX_BYTES - size(first(big, most))
        if 0 <= room < per and size(first(big, most + 1)) > MAX_BYTES:
            return (MAX_BYTES - room - base) / most, most
        most += int(room // per) or (1 if room > 0 else -1)
    raise AssertionError("did not converge")


def size_rows() -> list[str]:
    rows = ["| allocations of | bytes/allocation | fit in 1 MiB (target ≥ 15,000) |",
            "|---|---:|---:|"]
    for label, families in (("IPv4", (IPV4,)), ("IPv6", (IPV6,)),
                            ("dual-stack", (IPV4, IPV6))):
        per, most = fits(families)
        rows.append(f"| {label} | {per:.1f} | {most:,} |")
    return rows


def timed(run: Callable[[], object]) -> float:
    start = time.process_time()
    run()
    return time.process_time() - start


def assign_once(text: str) -> None:
    state = decode(text)
    allocator = Allocator(state)
    allocator.allocate(Request("team-0", "new-one"))
    encode(allocator.state())


def codec_rows() -> list[str]:
    big = filled(FILL, (IPV4,))
    text = encode(big)
    biggest = filled(15_000, (IPV4,))
    cm_text = encode(biggest)
    rows = ["| operation | state | seconds |", "|---|---|---:|"]
    rows.append(f"| `encode` | 65,536 allocations ({len(text.encode()) / 2**20:.2f} MiB) | "
                f"{min(timed(lambda: encode(big)) for _ in range(2)):.2f} |")
    rows.append(f"| `decode` (parse + validate) | 65,536 allocations | "
                f"{min(timed(lambda: decode(text)) for _ in range(2)):.2f} |")
    rows.append(f"| `Allocator(state)` | 65,536 allocations | "
                f"{min(timed(lambda: Allocator(big)) for _ in range(2)):.2f} |")
    rows.append(f"| one assign: decode, allocate, encode | 15,000 allocations "
                f"({len(cm_text.encode()) / 2**10:.0f} KiB) | "
                f"{min(timed(lambda: assign_once(cm_text)) for _ in range(2)):.2f} |")
    return rows


def main() -> None:
    print("# Core benchmark\n")
    print(f"Machine: {os.cpu_count()} CPUs (nproc), {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}, PyYAML {yaml.__version__} "
          f"({'libyaml' if yaml.__with_libyaml__ else 'pure Python'}).\n")
    print("## Allocation cost as the pool fills\n")
    print("\n".join(allocation_rows()) + "\n")
    print("## State size\n")
    print("\n".join(size_rows()) + "\n")
    print("## Codec\n")
    print("\n".join(codec_rows()))


if __name__ == "__main__":
    main()
