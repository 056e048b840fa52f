"""Throwaway Ethernet segments in network namespaces, for tests and benchmarks.

A :class:`Lan` is a Linux bridge inside a hub namespace, and hosts (one namespace each) plugged
into it with a veth pair: inside its namespace every host's interface is ``lan0``.  Everything
is created with unique names (pid + a counter) and removed by :meth:`Lan.close`, even after a
failure; nothing is ever created in, or sent on, the namespace the tests run in.

Code under test runs *inside* a host namespace in a forked child (:meth:`Lan.run`), which joins
the namespace with setns(2) and sends its return value (or exception) back through a pipe.
:meth:`Lan.capture` records every frame a host's ``lan0`` receives, with arrival times.

IPv6 duplicate address detection is off in every namespace, so addresses (link-local ones
included) are usable at once and two hosts may hold the same address on purpose.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import os
import pickle
import select
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
_counter = itertools.count()


def unavailable() -> str | None:
    """Why namespace tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces (CI runs as root)"
    if shutil.which("ip") is None:
        return "needs iproute2's `ip` command"
    probe = f"lbt{os.getpid()}-probe"
    try:
        subprocess.run(["ip", "netns", "add", probe], check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        return f"`ip netns add` fails here: {exc.stderr.decode().strip()}"
    subprocess.run(["ip", "netns", "del", probe], check=False, capture_output=True)
    return None


def sh(*args: str) -> str:
    """Run a command, fail loudly with its stderr, return its stdout."""
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def enter(namespace: str) -> None:
    """Move the calling (single-threaded, forked) process into a named network namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({namespace}): {os.strerror(err)}")
    finally:
        os.close(fd)


class Child:
    """``fn(*args, **kwargs)`` running in a forked child inside ``namespace``; ``close`` lists
    descriptors the child must close (the parent's ends of pipes it shares)."""

    def __init__(self, namespace: str, fn: Callable[..., Any], *args: Any,
                 close: tuple[int, ...] = (), kwargs: dict[str, Any] | None = None) -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            outcome: tuple[bool, Any]
            try:
                os.close(read_end)
                for fd in close:
                    os.close(fd)
                enter(namespace)
                outcome = (True, fn(*args, **(kwargs or {})))
            except BaseException as exc:  # noqa: BLE001 - shipped to the parent, re-raised there
                outcome = (False, exc)
            try:
                data = pickle.dumps(outcome)
            except Exception as exc:  # noqa: BLE001
                data = pickle.dumps((False, RuntimeError(f"unpicklable result: {exc}")))
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(data)
            os._exit(0)
        os.close(write_end)
        self.pid = pid
        self._pipe = read_end

    def result(self, timeout: float = 30.0) -> Any:
        chunks = []
        deadline = time.monotonic() + timeout
        with os.fdopen(self._pipe, "rb") as pipe:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([pipe], [], [], left)[0]:
                    os.kill(self.pid, 9)
                    os.waitpid(self.pid, 0)
                    raise TimeoutError(f"child {self.pid} did not finish in {timeout} s")
                chunk = os.read(pipe.fileno(), 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        os.waitpid(self.pid, 0)
        ok, value = pickle.loads(b"".join(chunks))
        if not ok:
            raise value
        return value


@dataclass
class Frame:
    at: float  # time.monotonic() on arrival
    data: bytes


def _capture(ifname: str, ready: int, stop: int) -> list[Frame]:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((ifname, ETH_P_ALL))
    os.write(ready, b"!")
    os.close(ready)
    frames: list[Frame] = []
    stopping = False
    while True:
        readable = select.select([sock.fileno(), stop], [], [], 0 if stopping else 10)[0]
        if sock.fileno() in readable:
            data, address = sock.recvfrom(65535)
            if address[2] != socket.PACKET_OUTGOING:
                frames.append(Frame(time.monotonic(), data))
        elif stopping or not readable:
            return frames
        if stop in readable:
            stopping = True  # drain what is queued, then return


class Lan:
    """One Ethernet segment (a bridge) and the hosts on it."""

    def __init__(self) -> None:
        self.tag = f"lbt{os.getpid()}x{next(_counter)}"
        self.namespaces: list[str] = []
        try:
            self.hub = self._namespace("hub")
            sh("ip", "-n", self.hub, "link", "add", "br0", "type", "bridge", "stp_state", "0",
               "forward_delay", "0", "mcast_snooping", "0")
            sh("ip", "-n", self.hub, "link", "set", "br0", "up")
        except BaseException:
            self.close()
            raise

    def _namespace(self, name: str) -> str:
        namespace = f"{self.tag}-{name}"
        self.namespaces.append(namespace)  # first, so that close() removes it whatever happens
        sh("ip", "netns", "add", namespace)
        self.sysctl(namespace, {"net/ipv6/conf/all/accept_dad": "0",
                                "net/ipv6/conf/default/accept_dad": "0"})
        return namespace

    def host(self, name: str, *addresses: str) -> str:
        """A new host on the segment with ``addresses`` (CIDR) on its ``lan0``; its namespace."""
        namespace = self._namespace(name)
        sh("ip", "link", "add", "lan0", "netns", namespace, "type", "veth",
           "peer", "name", f"p-{name}", "netns", self.hub)
        sh("ip", "-n", self.hub, "link", "set", f"p-{name}", "master", "br0", "up")
        for address in addresses:
            sh("ip", "-n", namespace, "addr", "add", address, "dev", "lan0")
        sh("ip", "-n", namespace, "link", "set", "lan0", "up")
        sh("ip", "-n", namespace, "link", "set", "lo", "up")
        return namespace

    def plug(self, name: str, ifname: str, *addresses: str) -> None:
        """Another interface ``ifname`` for host ``name``, on the same segment, up, with
        ``addresses`` (CIDR; none: only its IPv6 link-local one)."""
        namespace = f"{self.tag}-{name}"
        peer = f"p-{name}-{ifname}"
        sh("ip", "link", "add", ifname, "netns", namespace, "type", "veth",
           "peer", "name", peer, "netns", self.hub)
        sh("ip", "-n", self.hub, "link", "set", peer, "master", "br0", "up")
        for address in addresses:
            sh("ip", "-n", namespace, "addr", "add", address, "dev", ifname)
        sh("ip", "-n", namespace, "link", "set", ifname, "up")

    def close(self) -> None:
        for namespace in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", namespace], check=False, capture_output=True)
        self.namespaces.clear()

    # -- running things inside a host -------------------------------------------------------

    def run(self, namespace: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` inside ``namespace``; its result, or its exception
        re-raised."""
        return Child(namespace, fn, *args, kwargs=kwargs).result()

    @contextmanager
    def capture(self, namespace: str, ifname: str = "lan0") -> Iterator[list[Frame]]:
        """Every frame ``ifname`` in ``namespace`` receives during the block (filled at exit)."""
        ready_r, ready_w = os.pipe()
        stop_r, stop_w = os.pipe()
        child = Child(namespace, _capture, ifname, ready_w, stop_r, close=(ready_r, stop_w))
        os.close(ready_w)
        os.close(stop_r)
        frames: list[Frame] = []
        try:
            if not select.select([ready_r], [], [], 10)[0] or os.read(ready_r, 1) != b"!":
                raise RuntimeError(f"capture in {namespace} did not start")
            yield frames
            time.sleep(0.05)  # let frames in flight through the bridge arrive
        finally:
            os.close(ready_r)
            os.close(stop_w)
            frames.extend(child.result())

    # -- facts about a host -----------------------------------------------------------------

    def mac(self, namespace: str, ifname: str = "lan0") -> str:
        raw = json.loads(sh("ip", "-n", namespace, "-j", "link", "show", ifname))
        return str(raw[0]["address"])

    def link_local(self, namespace: str, ifname: str = "lan0") -> str:
        raw = json.loads(sh("ip", "-n", namespace, "-j", "-6", "addr", "show", ifname,
                            "scope", "link"))
        # iproute2 prints filtered-out addresses as empty objects
        return next(str(info["local"]) for info in raw[0]["addr_info"] if "local" in info)

    def sysctl(self, namespace: str, values: dict[str, str]) -> None:
        """Write sysctls inside ``namespace``; keys are paths under /proc/sys."""
        self.run(namespace, _write_sysctls, values)

    def neighbour(self, namespace: str, ip: str) -> dict[str, Any] | None:
        """The neighbour entry for ``ip`` on ``lan0`` (``lladdr``, ``state``), or None."""
        raw = json.loads(sh("ip", "-n", namespace, "-j", "neigh", "show", ip, "dev", "lan0"))
        return raw[0] if raw else None


def _write_sysctls(values: dict[str, str]) -> None:
    for key, value in values.items():
        with open(f"/proc/sys/{key}", "w") as f:
            f.write(value)

