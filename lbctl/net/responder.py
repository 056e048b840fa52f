"""RawResponder: the :class:`lbctl.nodeports.Responder` port on Linux AF_PACKET sockets.

Owns answering in userspace, as MetalLB's speaker does: the addresses are never configured on
the node, so a crashed speaker leaves nothing behind, and kube-proxy's ``kube-ipvs0`` copies
(``strictARP``) cannot answer in its place.  Per interface in use:

* one ARP socket with a classic BPF filter passing only ARP requests; a request for an owned
  address gets a unicast reply from the interface MAC (announcements, where the sender IP is
  the target, are not questions and get none);
* one IPv6 socket with a filter passing only ICMPv6 Neighbor Solicitations; an NS for an owned
  address gets a solicited NA (to all nodes when the NS came from ``::``), sourced from the
  interface's link-local address;
* one UDP socket holding the solicited-node multicast group of every owned IPv6 address
  (``IPV6_JOIN_GROUP``: the kernel sends the MLD reports snooping switches need and lets the
  frames in).

One daemon thread reads every socket; :meth:`serve` swaps the answer tables in one assignment,
so an address stops being answered as soon as it returns.  Sockets are opened by :meth:`serve`
(so a missing CAP_NET_RAW is an error there) and closed by the reader thread.

Error policy: only :mod:`lbctl.errors` classes escape :meth:`serve` (from
:mod:`lbctl.net.packet`); an address whose interface cannot be used is reported in the result.
A socket error in the reader (the interface vanished) retires that interface; the next
:meth:`serve` opens it again if it is back.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import threading
from collections.abc import Collection, Mapping, Sequence
from contextlib import suppress

from lbctl.errors import LbctlError
from lbctl.net import frames
from lbctl.net.links import Choice, Iface, Links
from lbctl.net.packet import PacketSocket
from lbctl.nodeports import Answering, Serving


def _packed(ip: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)


class _Port:
    """The sockets and answer tables of one interface."""

    def __init__(self, iface: Iface) -> None:
        self.name = iface.name
        self.mac = frames.mac_bytes(iface.mac)
        self.source6 = None if iface.link_local is None else _packed(iface.link_local)
        self.v4: frozenset[bytes] = frozenset()
        self.v6: frozenset[bytes] = frozenset()
        self.groups: set[bytes] = set()
        self.arp = PacketSocket(iface.name, frames.ETH_P_ARP)
        try:
            self.arp.attach_filter(frames.arp_request_filter())
            self.ns = PacketSocket(iface.name, frames.ETH_P_IPV6)
        except BaseException:
            self.arp.close()
            raise
        try:
            self.ns.attach_filter(frames.ns_filter())
            self.mld = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        except BaseException:
            self.arp.close()
            self.ns.close()
            raise
        self.index = socket.if_nametoindex(iface.name)

    def set_v6(self, wanted: frozenset[bytes]) -> None:
        """Answer for ``wanted`` and hold exactly their solicited-node groups."""
        groups = {frames.solicited_node(ip) for ip in wanted}
        self.v6 = wanted
        for group in groups - self.groups:
            with suppress(OSError):  # no IPv6 on this interface: nothing to answer anyway
                self.mld.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                                    group + struct.pack("@I", self.index))
                self.groups.add(group)
        for group in self.groups - groups:
            with suppress(OSError):
                self.mld.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_LEAVE_GROUP,
                                    group + struct.pack("@I", self.index))
            self.groups.discard(group)

    def close(self) -> None:
        self.v4 = self.v6 = frozenset()
        self.arp.close()
        self.ns.close()
        self.mld.close()  # leaves every group


class RawResponder:
    """Answers in the network namespace of the calling process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ports: dict[str, _Port] = {}
        self._retired: list[_Port] = []
        self._counts = {"arp": 0, "ndp": 0}
        self._wake_r, self._wake_w = os.pipe()
        self._closing = False
        self._thread: threading.Thread | None = None
        self.last_error: LbctlError | None = None

    # -- the port ---------------------------------------------------------------------------

    def serve(self, ips: Collection[str], interfaces: Sequence[str] = (), *,
              on: Mapping[str, Sequence[str]] | None = None) -> Serving:
        wanted: dict[str, tuple[Iface, list[str]]] = {}
        groups: dict[tuple[str, str], list[str]] = {}
        failed: dict[str, str] = {}
        if ips:
            links = Links.read()
            by_interfaces: dict[tuple[str, ...], list[str]] = {}
            for ip in ips:
                where = tuple((on or {}).get(ip) or ()) or tuple(interfaces)
                by_interfaces.setdefault(where, []).append(ip)
            chosen: dict[str, list[Choice]] = {}
            for where, some in by_interfaces.items():
                chosen.update(_choose(links, some, where, failed))
            for ip, choices in chosen.items():
                for choice in choices:
                    wanted.setdefault(choice.iface.name, (choice.iface, []))[1].append(ip)
                    groups.setdefault((choice.iface.name, choice.via), []).append(ip)
        with self._lock:
            for name, (iface, _) in wanted.items():
                port = self._ports.get(name)
                if port is None or port.mac != frames.mac_bytes(iface.mac):
                    if port is not None:
                        self._retire(port)
                    self._ports[name] = _Port(iface)
            for name in list(self._ports):
                if name not in wanted:
                    self._retire(self._ports.pop(name))
            for name, (_, addresses) in wanted.items():
                port = self._ports[name]
                port.v4 = frozenset(_packed(ip) for ip in addresses if ":" not in ip)
                port.set_v6(frozenset(_packed(ip) for ip in addresses if ":" in ip))
        self._start()
        self._wake()
        return Serving(
            answering=tuple(Answering(tuple(addresses), name, wanted[name][0].mac, via)
                            for (name, via), addresses in groups.items()),
            failed=failed,
        )

    def answered(self) -> Mapping[str, int]:
        return dict(self._counts)

    def macs(self, interfaces: Sequence[str] = (), *,
             extra: Sequence[str] = ()) -> Mapping[str, str]:
        return Links.read().macs(interfaces, extra=extra)

    def close(self) -> None:
        with self._lock:
            for port in self._ports.values():
                self._retire(port)
            self._ports.clear()
            self._closing = True
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        else:
            self._close_retired()
        for fd in (self._wake_r, self._wake_w):
            with suppress(OSError):
                os.close(fd)

    # -- the reader thread ------------------------------------------------------------------

    def _retire(self, port: _Port) -> None:
        port.v4 = port.v6 = frozenset()  # stop answering now; the reader closes the sockets
        self._retired.append(port)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._read, name="lbctl-responder",
                                            daemon=True)
            self._thread.start()

    def _wake(self) -> None:
        with suppress(OSError):
            os.write(self._wake_w, b"!")

    def _close_retired(self) -> None:
        with self._lock:
            retired, self._retired = self._retired, []
        for port in retired:
            port.close()

    def _read(self) -> None:
        while True:
            self._close_retired()
            with self._lock:
                if self._closing:
                    return
                handlers: dict[int, tuple[_Port, bool]] = {}
                for port in self._ports.values():
                    handlers[port.arp.fileno()] = (port, False)
                    handlers[port.ns.fileno()] = (port, True)
            readable, _, _ = select.select([self._wake_r, *handlers], [], [], 5.0)
            for fd in readable:
                if fd == self._wake_r:
                    os.read(self._wake_r, 4096)
                    continue
                port, v6 = handlers[fd]
                try:
                    if v6:
                        self._answer_ns(port)
                    else:
                        self._answer_arp(port)
                except LbctlError as exc:  # the interface went away: retire it
                    self.last_error = exc
                    with self._lock:
                        if self._ports.get(port.name) is port:
                            self._retire(self._ports.pop(port.name))

    def _answer_arp(self, port: _Port) -> None:
        for frame in port.arp.drain():
            question = frames.parse_arp_request(frame)
            if (question is None or question.target not in port.v4
                    or question.ip == question.target or question.mac == port.mac):
                continue
            port.arp.send(frames.arp_reply(port.mac, question.target, question.mac,
                                           question.ip))
            self._counts["arp"] += 1

    def _answer_ns(self, port: _Port) -> None:
        for frame in port.ns.drain():
            question = frames.parse_ns(frame)
            if question is None or question.target not in port.v6 or question.mac == port.mac:
                continue
            source = port.source6 or question.target
            if question.ip == frames.UNSPECIFIED_IP6:  # DAD: tell everybody, S=0
                answer = frames.neighbor_advertisement(
                    port.mac, source, frames.ALL_NODES_MAC, frames.ALL_NODES_IP6,
                    question.target, solicited=False)
            else:
                answer = frames.neighbor_advertisement(
                    port.mac, source, question.mac, question.ip, question.target,
                    solicited=True)
            port.ns.send(answer)
            self._counts["ndp"] += 1


def _choose(links: Links, ips: list[str], interfaces: Sequence[str],
            failed: dict[str, str]) -> dict[str, list[Choice]]:
    """Every address's interfaces: each of ``interfaces``, else the announcing rule's one.  An
    address whose interface is unusable goes to ``failed`` with the reason."""
    chosen: dict[str, list[Choice]] = {ip: [] for ip in ips}
    for name in interfaces or (None,):
        try:
            picked = links.choose_all(ips, name)
        except LbctlError:  # find out which addresses: one at a time
            picked = {}
            for ip in ips:
                try:
                    picked[ip] = links.choose(ip, name)
                except LbctlError as exc:
                    failed[ip] = exc.message
        for ip, choice in picked.items():
            chosen[ip].append(choice)
    return {ip: choices for ip, choices in chosen.items() if choices and ip not in failed}
