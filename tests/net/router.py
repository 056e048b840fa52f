"""Real routers for the BGP tests: BIRD 2, or FRR's bgpd, in a network namespace the test
created.

:class:`Bird` runs ``bird -f`` inside the namespace with its configuration, control socket and
pid file in the test's temporary directory (never /etc/bird, /run/bird or the host's routing
table: the kernel protocol, when the configuration has one, writes the namespace's table).  It
reads the router's table with ``birdc`` and stops BIRD by its PID, even when the test failed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

#: What every lab router configuration starts with: its log, in the test's directory, and
#: protocol times to the millisecond (:meth:`Bird.since`).
PREAMBLE = 'log "{log}" all;\ntimeformat protocol iso long ms;\n'
#: How far the "since" BIRD shows for a session up all along may move between two readings
#: (a millisecond was seen: :meth:`Bird.since`).
JITTER = timedelta(milliseconds=100)



def _which(program: str) -> str | None:
    return shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")


def unavailable() -> str | None:
    """Why BIRD cannot run here, or None."""
    if _which("bird") is None or _which("birdc") is None:
        return "needs BIRD 2 (`apt-get install bird2`; .ci/run installs it)"
    return None


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    """Stop a router this module started, by its PID: SIGTERM, then SIGKILL after 5 s."""
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


class Bird:
    """BIRD running in ``namespace`` with ``config`` (the PREAMBLE is added in front)."""

    def __init__(self, namespace: str, tmp: Path, config: str) -> None:
        self.namespace = namespace
        self.dir = tmp / f"bird-{namespace}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket = self.dir / "bird.ctl"
        self.log = self.dir / "bird.log"
        self.config = self.dir / "bird.conf"
        self.config.write_text(PREAMBLE.format(log=self.log) + config)
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            ["ip", "netns", "exec", namespace, str(_which("bird")), "-f", "-c", str(self.config),
             "-s", str(self.socket), "-P", str(self.dir / "bird.pid")],
            stdout=subprocess.DEVNULL, stderr=(self.dir / "bird.stderr").open("w"))
        try:
            self._wait(self._started, 10, "BIRD did not start")
        except BaseException:
            self.close()
            raise

    def _started(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"BIRD exited: {(self.dir / 'bird.stderr').read_text()}")
        return "BIRD" in self.birdc("show", "status", check=False)

    def birdc(self, *args: str, check: bool = True) -> str:
        done = subprocess.run([str(_which("birdc")), "-s", str(self.socket), *args],
                              capture_output=True, text=True, check=False)
        if check and done.returncode != 0:
            raise RuntimeError(f"birdc {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def routes(self) -> dict[str, set[str]]:
        """Every route in BIRD's tables: prefix -> its next hops (one per path)."""
        found: dict[str, set[str]] = {}
        current = None
        for line in self.birdc("show", "route", check=False).splitlines():
            words = line.split()
            if not words or line.startswith(("BIRD ", "Table ")):
                continue
            if not line[0].isspace() and "/" in words[0]:
                current = words[0]
                found.setdefault(current, set())
            elif words[0] == "via" and current is not None:
                found[current].add(words[1])
        return found

    def kernel_next_hops(self, prefix: str) -> set[str]:
        """The next hops of ``prefix`` in the namespace's kernel table (ECMP: several)."""
        host = prefix.split("/")[0] if prefix.endswith(("/32", "/128")) else prefix
        family = "-6" if ":" in prefix else "-4"  # `ip route show` alone shows IPv4 only
        raw = subprocess.run(["ip", family, "-n", self.namespace, "-j", "route", "show", host],
                             capture_output=True, text=True, check=False).stdout
        hops: set[str] = set()
        for route in json.loads(raw or "[]"):
            if "gateway" in route:
                hops.add(route["gateway"])
            for hop in route.get("nexthops", []):
                hops.add(hop["gateway"])
        return hops

    def established(self) -> set[str]:
        """The BGP protocols whose session is up."""
        names = set()
        for line in self.birdc("show", "protocols", check=False).splitlines():
            words = line.split()
            if len(words) >= 6 and words[1] == "BGP" and words[-1] == "Established":
                names.add(words[0])
        return names

    def since(self, protocol: str) -> datetime:
        """When ``protocol``'s state last changed, as BIRD shows it (to the millisecond).  A
        session that stays up keeps it, give or take a millisecond: BIRD shows its own
        monotonic clock's time on the wall clock, and two readings of one session up all along
        were seen a millisecond apart."""
        for line in self.birdc("show", "protocols", protocol, check=False).splitlines():
            words = line.split()
            if words and words[0] == protocol:  # timeformat protocol iso long ms
                return datetime.strptime(" ".join(words[4:6]), "%Y-%m-%d %H:%M:%S.%f")
        raise AssertionError(f"no protocol {protocol}")

    def up_since(self, protocol: str, since: datetime) -> bool:
        """Is ``protocol`` up since ``since`` (an earlier :meth:`since`), never restarted?  A
        restart moves it by the time between the readings, far more than :data:`JITTER`."""
        return abs(self.since(protocol) - since) <= JITTER

    def imports(self, protocol: str) -> tuple[int, int]:
        """How many updates and withdraws ``protocol``'s channel received (since its session
        came up)."""
        counts = {}
        for line in self.birdc("show", "protocols", "all", protocol, check=False).splitlines():
            words = line.split()
            if words[:2] in (["Import", "updates:"], ["Import", "withdraws:"]):
                counts[words[1]] = int(words[2])
        return counts["updates:"], counts["withdraws:"]

    def wait_for(self, predicate: Callable[[dict[str, set[str]]], bool], within: float,
                 what: str) -> float:
        """Poll the table until ``predicate(routes)``; seconds it took."""
        return self._wait(lambda: predicate(self.routes()), within, what)

    def _wait(self, condition: Callable[[], bool], within: float, what: str) -> float:
        start = time.monotonic()
        while time.monotonic() - start < within:
            if condition():
                return time.monotonic() - start
            time.sleep(0.01)
        raise AssertionError(f"{what} within {within} s; routes: {self.routes()}\n"
                             f"protocols:\n{self.birdc('show', 'protocols', check=False)}")

    def close(self) -> None:
        proc, self.proc = self.proc, None
        _stop(proc)  # `ip netns exec` execs bird: this PID is BIRD's


def frr_unavailable() -> str | None:
    """Why FRR's bgpd cannot run here, or None."""
    if not os.path.exists(FRR_BGPD) or _which("vtysh") is None:
        return "needs FRR (`apt-get install frr`; .ci/run installs it)"
    return None


#: FRR's BGP daemon, run alone: no zebra (the test reads BGP's own table), no kernel routes.
FRR_BGPD = "/usr/lib/frr/bgpd"


class Frr:
    """FRR's ``bgpd`` running in ``namespace`` with ``config``, standalone (``--no_zebra``,
    ``--skip_runas``), its pid file, log and vty socket in the test's directory; read with
    ``vtysh --vty_socket``.  Stopped by its PID."""

    def __init__(self, namespace: str, tmp: Path, config: str) -> None:
        self.dir = tmp / f"frr-{namespace}"
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "frr.conf").write_text(config)
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            ["ip", "netns", "exec", namespace, FRR_BGPD, "--no_zebra", "--skip_runas",
             "--no_kernel", "-f", str(self.dir / "frr.conf"), "--vty_socket", str(self.dir),
             "-i", str(self.dir / "bgpd.pid"), "-P", "0", "--log",
             f"file:{self.dir / 'bgpd.log'}"],
            stdout=subprocess.DEVNULL, stderr=(self.dir / "bgpd.stderr").open("w"))

    def vtysh(self, command: str) -> str:
        done = subprocess.run([str(_which("vtysh")), "--vty_socket", str(self.dir), "-c",
                               command], capture_output=True, text=True, check=False)
        return done.stdout

    def next_hops(self, prefix: str) -> set[str]:
        """The next hops of the paths to ``prefix`` that are part of its multipath set."""
        raw = self.vtysh(f"show bgp ipv4 unicast {prefix} json")
        try:
            paths = json.loads(raw).get("paths", [])
        except ValueError:
            return set()
        return {hop["ip"] for path in paths if path.get("multipath") or path.get("bestpath")
                for hop in path.get("nexthops", [])}

    def close(self) -> None:
        proc, self.proc = self.proc, None
        _stop(proc)
