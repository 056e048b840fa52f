"""Start-up time: ``lbctl --help`` next to ``python -c "import typer, rich"``.

Target (issue 2): lbctl's help at most 2.5x the bare import of its CLI libraries, which holds
only while kubernetes, scapy, yaml, netaddr and the core stay out of the help path.

Run: ``python bench/bench_startup.py [--runs N]``; prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time


def _median_seconds(cmd: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
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
