"""AF_PACKET sockets: put prebuilt Ethernet frames on one interface, read the frames that arrive.

Owns the socket calls and their failure modes, nothing about what the frames mean.  One socket
per interface sends every frame of a batch with plain ``send`` calls, as fast as a bare Python
loop can (``bench/results-arp.md``; scapy's ``sendp``, a socket per frame, manages ~41 frames/s).

Error policy: every ``OSError`` becomes an :mod:`lbctl.errors` class here, with the fix in the
hint: no CAP_NET_RAW -> :class:`~lbctl.errors.PermissionDeniedError`; the interface vanished ->
:class:`~lbctl.errors.NotFoundError`; it went down, its MTU is too small for a frame, or its
transmit queue stayed full -> :class:`~lbctl.errors.RefusedError`.  A full transmit queue
(ENOBUFS) is first waited out for up to :data:`QUEUE_FULL_PATIENCE` seconds: a burst of
thousands of frames can fill a small queue without anything being wrong.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterable
from types import TracebackType

from lbctl.errors import LbctlError, NotFoundError, PermissionDeniedError, RefusedError

#: Seconds a send may wait, in total, for a full transmit queue to drain.
QUEUE_FULL_PATIENCE = 2.0
_QUEUE_FULL_PAUSE = 0.001
_SO_ATTACH_FILTER = 26  # <asm-generic/socket.h>; not exported by the socket module


def _translate(exc: OSError, ifname: str, doing: str) -> LbctlError:
    if exc.errno in (errno.EPERM, errno.EACCES):
        python = os.path.realpath(sys.executable)
        return PermissionDeniedError(
            "sending raw ARP/NDP frames needs the CAP_NET_RAW capability",
            hint=f"run lbctl as root, or grant it: setcap cap_net_raw+ep {python}",
        )
    if exc.errno in (errno.ENODEV, errno.ENXIO) or (
            exc.errno == errno.ENETDOWN and not _exists(ifname)):  # deleting takes it down first
        return NotFoundError(f"interface {ifname} disappeared while {doing}",
                             hint="check `ip -br link` and run the command again")
    if exc.errno == errno.ENETDOWN:
        return RefusedError(f"interface {ifname} went down while {doing}",
                            hint=f"bring it up: ip link set {ifname} up")
    if exc.errno == errno.EMSGSIZE:  # an NDP frame on a link whose MTU is below IPv6's 1280
        return RefusedError(f"a frame is larger than the MTU of {ifname}",
                            hint=f"raise it: ip link set {ifname} mtu 1500 (IPv6 needs 1280 "
                                 "or more)")
    return RefusedError(f"{doing} on {ifname} failed: {exc.strerror or exc}",
                        hint="run with --debug for details")


def _exists(ifname: str) -> bool:
    try:
        socket.if_nametoindex(ifname)
    except OSError:
        return False
    return True


def send_frames(send: Callable[[bytes], object], frames: Iterable[bytes], ifname: str,
                patience: float = QUEUE_FULL_PATIENCE) -> None:
    """Send every frame with ``send``, waiting out a full transmit queue (ENOBUFS) for up to
    ``patience`` seconds in all; translate every other failure."""
    sent = 0
    waited = 0.0
    for frame in frames:
        while True:
            try:
                send(frame)
                break
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise _translate(exc, ifname, "sending") from exc
                if waited >= patience:
                    raise RefusedError(
                        f"the transmit queue of {ifname} stayed full for {patience:g} s after "
                        f"{sent} frames",
                        hint=f"send fewer addresses at once, or see what drops frames there: "
                             f"tc -s qdisc show dev {ifname}; ip -s link show {ifname}",
                    ) from exc
                time.sleep(_QUEUE_FULL_PAUSE)
                waited += _QUEUE_FULL_PAUSE
        sent += 1


class PacketSocket:
    """A raw socket bound to one interface.

    ``ethertype`` selects which arriving frames it receives; 0 makes a send-only socket that
    never queues anything.
    """

    def __init__(self, ifname: str, ethertype: int = 0) -> None:
        self.ifname = ifname
        try:
            self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ethertype))
        except OSError as exc:
            raise _translate(exc, ifname, "opening a raw socket") from exc
        try:
            self._sock.bind((ifname, ethertype))  # bind() converts to network order itself
        except OSError as exc:
            self._sock.close()
            raise _translate(exc, ifname, "binding a raw socket") from exc

    def __enter__(self) -> PacketSocket:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def attach_filter(self, program: bytes) -> None:
        """Let only the frames a classic BPF ``program`` accepts reach :meth:`drain` (the kernel
        drops the rest), then discard what queued before the filter took effect."""
        insns = len(program) // 8
        buffer = ctypes.create_string_buffer(program, len(program))
        fprog = struct.pack("HL", insns, ctypes.addressof(buffer))
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
        except OSError as exc:
            raise _translate(exc, self.ifname, "attaching a packet filter") from exc
        self.drain()

    def send(self, frame: bytes) -> None:
        """Send one frame (an answer: never waits for a full queue, which drops it instead,
        as a busy switch would)."""
        try:
            self._sock.send(frame)
        except OSError as exc:
            if exc.errno != errno.ENOBUFS:
                raise _translate(exc, self.ifname, "sending") from exc

    def fileno(self) -> int:
        return self._sock.fileno()

    def send_all(self, frames: Iterable[bytes]) -> None:
        """Send every frame, in order."""
        send_frames(self._sock.send, frames, self.ifname)

    def drain(self) -> list[bytes]:
        """Every frame waiting on the socket, without blocking, minus the ones this host sent.

        Wait for the socket with a selector first.
        """
        received: list[bytes] = []
        while True:
            try:
                frame, address = self._sock.recvfrom(65535, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return received
            except OSError as exc:
                raise _translate(exc, self.ifname, "receiving") from exc
            if address[2] != socket.PACKET_OUTGOING:
                received.append(frame)
