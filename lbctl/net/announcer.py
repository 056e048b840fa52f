"""RawAnnouncer: the :class:`lbctl.nodeports.Announcer` port on Linux AF_PACKET sockets.

Owns the sequence of one announcement or probe: read the interfaces once, pick and check the
interface of every address, open every socket, and only then send; so a missing interface, a
down link or a missing CAP_NET_RAW is reported before a single frame leaves.  Frames come from
:mod:`lbctl.net.frames`, sockets from :mod:`lbctl.net.packet`, interfaces from
:mod:`lbctl.net.links`.

Announcing: all addresses of a round go out back to back on one socket per interface; rounds
start ``interval`` seconds apart (measured from the first, so sending time does not stretch
them).  IPv6 addresses get one unsolicited NA per round whatever the ARP mode, sourced from the
interface's link-local address (RFC 4861 section 7.2.4 wants an address of the sending
interface), or from the announced address itself when the interface has no link-local address.

Probing: every probe goes out at once, then every socket is read until ``timeout``; any ARP
packet whose sender IP is a probed address, and any Neighbor Advertisement for one, counts its
MAC as an owner.  IPv6 sends both the DAD solicitation (from ``::``) and, when the interface has
a link-local address, an ordinary one carrying a source link-layer option: some responders
answer only one form.  A host never answers its own probe, so run it from a machine that does
not hold the address.

Error policy: only :mod:`lbctl.errors` classes escape (from :mod:`lbctl.net.links` and
:mod:`lbctl.net.packet`); nothing prints.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass

from lbctl.net import frames
from lbctl.net.links import Choice, Links
from lbctl.net.packet import PacketSocket
from lbctl.nodeports import ArpMode, Probed, Sent

#: The ARP opcodes each mode sends per address and round, in order.
_OPCODES: dict[str, tuple[int, ...]] = {
    "request": (frames.ARP_REQUEST,),
    "reply": (frames.ARP_REPLY,),
    "both": (frames.ARP_REQUEST, frames.ARP_REPLY),
}


def _packed(ip: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)



#: Probes are sent this many times, evenly over the timeout (RFC 5227's PROBE_NUM): one lost
#: frame must not make an address in use look free.
PROBE_ROUNDS = 3

@dataclass(frozen=True)
class _Group:
    """Addresses of one family that share a choice of interface (and so a result)."""

    choice: Choice
    v6: bool
    ips: list[str]

    def announcements(self, mode: ArpMode) -> list[bytes]:
        """One round: gratuitous ARP for IPv4, an unsolicited NA for IPv6, per address."""
        iface = self.choice.iface
        mac = frames.mac_bytes(iface.mac)
        if not self.v6:
            return frames.gratuitous_arp(mac, map(socket.inet_aton, self.ips), _OPCODES[mode])
        source = None if iface.link_local is None else _packed(iface.link_local)
        return [frames.unsolicited_na(mac, source or target, target)
                for target in map(_packed, self.ips)]

    def probes(self) -> _Listener:
        """The probes for these addresses, and how to recognise an answer to them."""
        mac = frames.mac_bytes(self.choice.iface.mac)
        targets = {_packed(ip): ip for ip in self.ips}
        if not self.v6:
            probes = [frames.arp_probe(mac, target) for target in targets]
            return _Listener(frames.ETH_P_ARP, targets, probes, frames.parse_arp_claim)
        sources = [frames.UNSPECIFIED_IP6]
        if self.choice.iface.link_local is not None:
            sources.append(_packed(self.choice.iface.link_local))
        probes = [frames.neighbor_solicitation(mac, src, t) for t in targets for src in sources]
        return _Listener(frames.ETH_P_IPV6, targets, probes, frames.parse_na)


@dataclass(frozen=True)
class _Listener:
    """Probes of one address family on one interface, and how to read their answers."""

    ethertype: int
    targets: dict[bytes, str]  # packed address -> its text
    probes: list[bytes]
    parse: Callable[[bytes], frames.Answer | None]


def _groups(choices: dict[str, Choice]) -> list[_Group]:
    """Addresses grouped by choice and family, in their order.  Choices are shared objects
    within one :meth:`Links.choose_all`, so their identity is a cheap key."""
    groups: dict[tuple[int, bool], _Group] = {}
    for ip, choice in choices.items():
        key = (id(choice), ":" in ip)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(choice, key[1], [])
        group.ips.append(ip)
    return list(groups.values())


class RawAnnouncer:
    """Sends and listens in the network namespace of the calling process."""

    def announce(
        self,
        ips: Sequence[str],
        *,
        interface: str | None,
        count: int,
        interval: float,
        mode: ArpMode,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Sent]:
        groups = _groups(Links.read().choose_all(ips, interface))
        # One round per interface: its groups' frames back to back, built once for all rounds.
        batches: dict[str, list[bytes]] = {}
        addresses: dict[str, int] = {}
        for group in groups:
            name = group.choice.iface.name
            batches.setdefault(name, []).extend(group.announcements(mode))
            addresses[name] = addresses.get(name, 0) + len(group.ips)
        total = len(ips) * count
        done = 0
        with ExitStack() as stack:
            sockets = [(stack.enter_context(PacketSocket(name)), batch, addresses[name])
                       for name, batch in batches.items()]
            start = time.monotonic()
            for round_ in range(count):
                if round_:
                    time.sleep(max(0.0, start + round_ * interval - time.monotonic()))
                for sock, batch, size in sockets:
                    sock.send_all(batch)
                    done += size
                    if progress is not None:
                        progress(done, total)
        arp_frames = count * len(_OPCODES[mode])
        return [
            Sent(tuple(g.ips), g.choice.iface.name, g.choice.iface.mac,
                 count if g.v6 else arp_frames, g.choice.via)
            for g in groups
        ]

    def probe(self, ips: Sequence[str], *, interface: str | None, timeout: float) -> list[Probed]:
        choices = Links.read().choose_all(ips, interface)
        owners: dict[str, set[str]] = {ip: set() for ip in choices}
        with ExitStack() as stack, selectors.DefaultSelector() as selector:
            listening: list[tuple[PacketSocket, _Listener]] = []
            for group in _groups(choices):
                listener = group.probes()
                sock = stack.enter_context(PacketSocket(group.choice.iface.name,
                                                        listener.ethertype))
                selector.register(sock, selectors.EVENT_READ, (sock, listener))
                listening.append((sock, listener))
            start = time.monotonic()
            deadline = start + timeout
            rounds = [start + timeout * k / PROBE_ROUNDS for k in range(PROBE_ROUNDS)]
            # Every round goes out and every answer queued by the deadline is read, also when
            # the process was not scheduled for a while (a loaded machine): late rounds leave
            # back to back, and the queue is read once more after the deadline.
            while True:
                now = time.monotonic()
                while rounds and rounds[0] <= now:
                    rounds.pop(0)
                    for sock, listener in listening:
                        sock.send_all(listener.probes)
                wake = rounds[0] if rounds else deadline
                for key, _ in selector.select(max(0.0, wake - now)):
                    sock, listener = key.data
                    for frame in sock.drain():
                        answer = listener.parse(frame)
                        if answer is not None and answer.ip in listener.targets:
                            owners[listener.targets[answer.ip]].add(frames.mac_text(answer.mac))
                if now >= deadline:
                    break
        return [
            Probed(ip=ip, interface=c.iface.name, macs=tuple(sorted(owners[ip])), via=c.via)
            for ip, c in choices.items()
        ]
