"""The network adapter: gratuitous ARP, unsolicited Neighbor Advertisements and probes.

This package implements the :class:`lbctl.nodeports.Announcer` port on Linux with AF_PACKET sockets.
It owns everything about frames on the wire and about the host's interfaces:

* :mod:`lbctl.net.frames` builds and parses the few fixed-format frames (pure, ``struct`` only);
* :mod:`lbctl.net.links` reads interface facts from iproute2 and picks the interface for an
  address;
* :mod:`lbctl.net.packet` wraps AF_PACKET sockets and translates ``OSError`` into
  :mod:`lbctl.errors`;
* :mod:`lbctl.net.announcer` puts them together as :class:`~lbctl.net.announcer.RawAnnouncer`.

(:mod:`lbctl.net.sysctl`, which reads the kernel's ARP sysctls, has its own owner
and contract.)

Nothing here imports scapy (frames are small enough to build with ``struct``, and a socket per
frame would cost four orders of magnitude in speed), nothing prints, and nothing reads the lbctl
state: which addresses may be announced is decided above, in :mod:`lbctl.actions.arp`.
Importing this package is cheap; ``socket`` and ``subprocess`` work happens only when called.
"""
