"""The two small programs :mod:`lbctl.bgp.exabgp` runs (``python -m lbctl.bgp.child ...``).

``launch PARENT_PID ARG...``: become ExaBGP (``exabgp ARG...``) in this same process, after
asking the kernel to SIGKILL it when its parent dies (``PR_SET_PDEATHSIG``), and exiting at
once if the parent is already gone.  ExaBGP then drops root for ``nobody``, and the kernel
forgets that request when a process changes its user, so a watchdog thread also checks the
parent every :data:`WATCH_INTERVAL` seconds.  A speaker killed with SIGKILL thus takes its BGP
sessions down with it; the routers notice the closed connections and withdraw its routes.

``relay SOCKET``: ExaBGP's ``process`` (its API): copies bytes from the speaker's Unix socket
to stdout (commands for ExaBGP) and from stdin to the socket (ExaBGP's JSON messages), and
exits when either side closes.

Only the standard library is imported before ExaBGP takes over: this runs at every start.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import socket
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
#: Seconds between two checks that the parent still lives.
WATCH_INTERVAL = 0.1


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_INTERVAL)
    os.kill(os.getpid(), signal.SIGKILL)


def launch(parent: int, args: list[str]) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent:  # the parent died before the prctl: nobody will stop us
        sys.exit(1)
    threading.Thread(target=_watch, args=(parent,), name="lbctl-watch-parent",
                     daemon=True).start()
    from exabgp.application.main import main

    sys.argv = ["exabgp", *args]
    sys.exit(main())


def relay(path: str) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    source, sink = sys.stdin.fileno(), sys.stdout.fileno()
    while True:
        readable = select.select([source, sock], [], [])[0]
        if source in readable:
            data = os.read(source, 1 << 16)
            if not data:
                return
            sock.sendall(data)
        if sock in readable:
            data = sock.recv(1 << 16)
            if not data:
                return
            while data:
                data = data[os.write(sink, data):]


def main(argv: list[str]) -> None:
    if len(argv) >= 2 and argv[0] == "launch":
        launch(int(argv[1]), argv[2:])
    elif len(argv) == 2 and argv[0] == "relay":
        relay(argv[1])
    else:
        sys.exit("usage: python -m lbctl.bgp.child launch PARENT_PID ARG... | relay SOCKET")


if __name__ == "__main__":
    main(sys.argv[1:])
