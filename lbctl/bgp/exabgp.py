"""ExaBGP as the speaker's child: configuration, start, commands, session states, stop.

:class:`ExaBGP` implements :class:`lbctl.nodeports.BGPSpeaker`.  Per set of sessions it runs one
ExaBGP process (``python -m lbctl.bgp.child launch``: it dies with the speaker) whose
configuration (:func:`render`) lives in a private temporary directory (mode 0700; passwords
never appear on a command line or in the log).  ExaBGP starts the relay of :mod:`lbctl.bgp.child`
as its ``process``; the relay connects to a Unix socket in that directory, so the speaker
writes commands (:func:`command`) to ExaBGP and reads its JSON messages (session up/down) from
the same connection, in a reader thread.

Desired state, not a log of commands: when the sessions change, :meth:`ExaBGP.configure`
rewrites the configuration and asks the running ExaBGP to ``reload`` it (its API command, as
SIGUSR1): ExaBGP compares neighbour by neighbour, opens the new ones, closes the removed ones,
re-establishes the changed ones and leaves every other session up with its routes.  ExaBGP drops
a reload asked while it still sends updates, so each configuration carries a generation number
in its neighbours' descriptions and the reader asks ``show neighbor configuration`` until the
running configuration shows it, asking for the reload again when it shows an older one; a
configuration not taken in within :data:`RELOAD_TIMEOUT` seconds is applied by restarting
ExaBGP (every session drops once).  :meth:`ExaBGP.advertise` sends the difference from the
routes asked before, to the neighbours ExaBGP knows; every time a session comes up it gets every
route meant for it again (ExaBGP would otherwise forget what it was told while the session was
down, and a new neighbour may come up before its routes could be sent to it).

Stopping (:meth:`ExaBGP.close`): withdraw every route, then SIGTERM; ExaBGP closes its sessions
with a Cease notification, so the routers drop this node's routes at once.  After
:data:`GRACE` seconds it is killed.

Error policy: :class:`~lbctl.errors.NotFoundError` when ExaBGP is not installed; a process that
exits by itself is logged and started again at the next :meth:`ExaBGP.configure` or
:meth:`ExaBGP.advertise` (at most every :data:`RESTART_AFTER` seconds).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import replace

from lbctl.errors import NotFoundError
from lbctl.nodeports import BGPRoute, BGPSession, BGPStatus

#: Seconds ExaBGP gets to close its sessions after SIGTERM before it is killed.
GRACE = 2.0
#: A process that died is started again no sooner than this many seconds later.
RESTART_AFTER = 1.0
#: The name of lbctl's ``process`` in the ExaBGP configuration.
PROCESS = "lbctl"
#: Seconds between two checks that ExaBGP took a new configuration in.
RELOAD_CHECK = 0.5
#: Seconds a new configuration may take to be taken in before ExaBGP is restarted with it.
RELOAD_TIMEOUT = 10.0
#: A neighbour's description in ``show neighbor configuration``: generation and peer.
_DESCRIPTION = re.compile(r'\s*description "lbctl ([0-9]+) ([^"]*)";')

#: ExaBGP's settings (its environment): it runs as the speaker's own user (ExaBGP switches to
#: ``exabgp.daemon.user``, set to that user at start: in a container without CAP_SETUID a switch
#: to ``nobody`` would fail, and a change of user would cancel PR_SET_PDEATHSIG), no
#: acknowledgements and no CLI pipes (lbctl is the only client), log warnings only, to the
#: speaker's stderr.
ENVIRONMENT = {
    "exabgp.daemon.drop": "false",
    "exabgp.daemon.daemonize": "false",
    "exabgp.daemon.pid": "",
    "exabgp.api.ack": "false",
    "exabgp.api.cli": "false",
    "exabgp.api.respawn": "true",
    "exabgp.log.destination": "stderr",
    "exabgp.log.level": "WARNING",
    "exabgp.log.short": "true",
}

#: ExaBGP's neighbour states (``"state"`` messages) -> the port's words.
STATES = {"up": "established", "connected": "connecting", "down": "down"}


def _family(address: str) -> str:
    return "ipv6 unicast" if ":" in address else "ipv4 unicast"


def render(sessions: Iterable[BGPSession], relay: Sequence[str], generation: int = 0) -> str:
    """The ExaBGP configuration for ``sessions``, with ``relay`` (argv) as the API process.

    Every neighbour connects actively (``passive false``) from ``local_address``; the MD5
    password is written base64-encoded, so no character of it needs quoting.  A neighbour's
    description is ``lbctl GENERATION PEER``: ExaBGP does not compare descriptions when it
    reloads, so a new generation alone changes no session."""
    lines = [
        f"process {PROCESS} {{",
        f"  run {' '.join(relay)};",
        "  encoder json;",
        "}",
    ]
    for s in sessions:
        lines += [
            f"neighbor {s.address} {{",
            f'  description "lbctl {generation} {s.peer}";',
            f"  router-id {s.router_id};",
            f"  local-address {s.local_address};",
            f"  local-as {s.my_asn};",
            f"  peer-as {s.asn};",
            f"  hold-time {s.hold_time};",
            "  passive false;",
        ]
        if s.port != 179:
            lines.append(f"  connect {s.port};")
        if s.ebgp_multihop:
            lines.append("  outgoing-ttl 255;")
        if s.password:
            encoded = base64.b64encode(s.password.encode()).decode()
            lines += ["  md5-base64 true;", f"  md5-password {encoded};"]
        lines += [
            f"  family {{ {_family(s.address)}; }}",
            f"  api {{ processes [ {PROCESS} ]; neighbor-changes; }}",
            "}",
        ]
    return "\n".join(lines) + "\n"


def _communities(values: Iterable[str]) -> str:
    standard = [v for v in values if not v.startswith("large:")]
    large = [v[len("large:"):] for v in values if v.startswith("large:")]
    text = ""
    if standard:
        text += f" community [ {' '.join(standard)} ]"
    if large:
        text += f" large-community [ {' '.join(large)} ]"
    return text


def command(verb: str, route: BGPRoute, neighbour: str) -> str:
    """One API line: ``neighbor A announce route P next-hop self ...`` (``verb``: announce or
    withdraw)."""
    line = f"neighbor {neighbour} {verb} route {route.prefix} next-hop self"
    if verb == "announce":
        if route.local_pref is not None:
            line += f" local-preference {route.local_pref}"
        line += _communities(route.communities)
    return line + "\n"


class ExaBGP:
    """The :class:`~lbctl.nodeports.BGPSpeaker` port on a child ExaBGP process.

    ``configure`` and ``close`` must be called from one long-lived thread (the speaker's main
    loop): the kernel kills the child when the thread that started it ends."""

    def __init__(self, *, log: Callable[[str], None], python: str = sys.executable,
                 grace: float = GRACE) -> None:
        self.log = log
        self.python = python
        self.grace = grace
        self._lock = threading.Lock()
        self._sessions: tuple[BGPSession, ...] = ()
        self._states: dict[str, str] = {}
        self._routes: set[BGPRoute] = set()
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: str | None = None
        self._listener: socket.socket | None = None
        self._conn: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._died_at = 0.0
        # the configuration's generation; the newest one ExaBGP runs; when it was written and
        # last checked; whether ExaBGP answered with an older one since (the reload was lost)
        self._generation = 0
        self._loaded = 0
        self._written_at = 0.0
        self._checked_at = 0.0
        self._stale = False
        # the peers ExaBGP has a neighbour for (commands naming another one are refused)
        self._known: set[str] = set()

    # -- the port ---------------------------------------------------------------------------

    def configure(self, sessions: Sequence[BGPSession]) -> None:
        wanted = tuple(sorted(set(sessions), key=lambda s: (s.peer, s.address)))
        overdue = self._reload_overdue()
        if wanted == self._sessions and self._running() and not overdue:
            return
        if wanted != self._sessions:
            for s in wanted:
                if s not in self._sessions:
                    self.log(f"BGP peer {s.peer}: {s.address} AS {s.asn}, from "
                             f"{s.local_address} AS {s.my_asn}")
        if wanted and self._proc is not None and not overdue:
            self._reload(wanted)
            return
        if self._proc is not None:
            if overdue:
                self.log(f"ExaBGP did not take its new configuration in within "
                         f"{RELOAD_TIMEOUT:g} s: starting it again")
            self._stop(withdraw=False)
        self._sessions = wanted
        with self._lock:
            self._states = {s.peer: "down" for s in wanted}
        if wanted and time.monotonic() - self._died_at >= RESTART_AFTER:
            self._start()

    def advertise(self, routes: Collection[BGPRoute]) -> None:
        if self._sessions and not self._running():
            self.configure(self._sessions)
        wanted = set(routes)
        with self._lock:
            gone = sorted(self._routes - wanted, key=_order)
            new = sorted(wanted - self._routes, key=_order)
            self._routes = wanted
            self._send([("withdraw", r) for r in gone] + [("announce", r) for r in new])

    def status(self) -> BGPStatus:
        with self._lock:
            return BGPStatus(dict(self._states), len(self._routes))

    def close(self) -> None:
        if self._proc is not None:
            self._stop(withdraw=True)
        self._sessions = ()
        with self._lock:
            self._states = {}
            self._routes = set()

    # -- the process ------------------------------------------------------------------------

    def _running(self) -> bool:
        if self._proc is None:
            return False
        if self._proc.poll() is None:
            return True
        self.log(f"ExaBGP exited by itself (status {self._proc.returncode})")
        self._died_at = time.monotonic()
        self._stop(withdraw=False)
        return False

    def _reload_overdue(self) -> bool:
        with self._lock:
            return (self._loaded < self._generation
                    and time.monotonic() - self._written_at > RELOAD_TIMEOUT)

    def _write_config(self) -> None:
        """Write the configuration of this generation (a new file renamed over the old one:
        ExaBGP never reads half of it)."""
        assert self._dir is not None
        path = os.path.join(self._dir, "api.sock")
        relay = [self.python, "-m", "lbctl.bgp.child", "relay", path]
        config = os.path.join(self._dir, "exabgp.conf")
        fd = os.open(config + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(render(self._sessions, relay, self._generation))
        os.replace(config + ".new", config)

    def _reload(self, wanted: tuple[BGPSession, ...]) -> None:
        """Make the running ExaBGP peer with ``wanted``: the sessions no field of which changed
        keep their state (and ExaBGP keeps them up), the others start down."""
        with self._lock:
            before = {_neighbour(s): self._states.get(s.peer, "down") for s in self._sessions}
            self._sessions = wanted
            self._states = {s.peer: before.get(_neighbour(s), "down") for s in wanted}
            self._known &= {s.peer for s in wanted if _neighbour(s) in before}
            self._generation += 1
            self._write_config()
            self._written_at = self._checked_at = time.monotonic()
            self._stale = False
            self._write("reload\n")  # not connected yet: the reader sends it when it is

    def _start(self) -> None:
        if importlib.util.find_spec("exabgp") is None:
            raise NotFoundError("ExaBGP is not installed: lbctl speaks BGP through it",
                                hint="pip install exabgp (lbctl depends on it), or remove the "
                                     "BGP peers")
        self._dir = tempfile.mkdtemp(prefix="lbctl-bgp-")
        path = os.path.join(self._dir, "api.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        self._listener = listener
        with self._lock:
            self._write_config()
            self._loaded = self._generation  # read at start
            self._known = {s.peer for s in self._sessions}
        env = {**os.environ, **ENVIRONMENT, "exabgp.daemon.user": _user()}
        self._proc = subprocess.Popen(
            [self.python, "-m", "lbctl.bgp.child", "launch", str(os.getpid()), "server",
             os.path.join(self._dir, "exabgp.conf")],
            stdin=subprocess.DEVNULL, env=env, cwd=self._dir, start_new_session=True)
        self._reader = threading.Thread(target=self._read, args=(listener,),
                                        name="lbctl-bgp-reader", daemon=True)
        self._reader.start()
    def _stop(self, *, withdraw: bool) -> None:
        proc, self._proc = self._proc, None
        if withdraw:
            with self._lock:
                self._send([("withdraw", r) for r in sorted(self._routes, key=_order)])
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=self.grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with self._lock:
            conn, self._conn = self._conn, None
            self._states = {s.peer: "down" for s in self._sessions}
        for sock in (conn, self._listener):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the reader blocked on it
                except OSError:
                    pass
                sock.close()
        self._listener = None
        if self._reader is not None:
            self._reader.join(timeout=5)
            self._reader = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    # -- talking to ExaBGP ------------------------------------------------------------------

    def _write(self, text: str) -> None:
        """Write to ExaBGP's API (caller holds the lock); nothing when it is not connected."""
        if self._conn is None or not text:
            return
        try:
            self._conn.sendall(text.encode())
        except OSError as exc:
            self.log(f"cannot talk to ExaBGP: {exc.strerror or exc}")

    def _send(self, commands: Iterable[tuple[str, BGPRoute]], only: str | None = None) -> None:
        """Write route commands (caller holds the lock).  Announcements go to the neighbours
        ExaBGP knows (a session that comes up gets every route again); withdrawals to every
        session's address: a changed neighbour ExaBGP has not reloaded yet keeps the routes of
        the old one in its table, and would announce them again when its session comes back."""
        addresses = {s.peer: s.address for s in self._sessions}
        self._write("".join(
            command(verb, route, addresses[route.peer]) for verb, route in commands
            if route.peer in addresses and (only is None or route.peer == only)
            and (verb == "withdraw" or route.peer in self._known)))

    def _read(self, listener: socket.socket) -> None:
        """Accept the relay (again, when ExaBGP restarts it), follow the session states and
        see that ExaBGP takes each new configuration in."""
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed by _stop
            with self._lock:
                self._conn = conn
                if self._loaded < self._generation:
                    self._write("reload\n")
                for peer, state in self._states.items():
                    if state == "established":
                        self._send([("announce", r) for r in sorted(self._routes, key=_order)],
                                   only=peer)
            buffer = b""
            while True:
                try:
                    if not select.select([conn], [], [], RELOAD_CHECK)[0]:
                        self._check_reload()
                        continue
                    data = conn.recv(1 << 16)
                except (OSError, ValueError):  # ValueError: closed by _stop meanwhile
                    data = b""
                if not data:
                    break
                buffer += data
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    self._message(line)
            with self._lock:
                if self._conn is conn:
                    self._conn = None
            conn.close()

    def _check_reload(self) -> None:
        """While ExaBGP has not shown the newest configuration: ask it which one it runs, or
        (it answered with an older one: the reload was lost) to reload again."""
        with self._lock:
            now = time.monotonic()
            if self._loaded >= self._generation or now - self._checked_at < RELOAD_CHECK:
                return
            self._checked_at = now
            if self._stale:
                self.log("ExaBGP still runs an older configuration (it drops a reload asked "
                         "while it sends updates): asking again")
            self._write("reload\n" if self._stale else "show neighbor configuration\n")
            self._stale = False

    def _message(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            self._answer(line.decode(errors="replace"))
            return
        if not isinstance(message, dict) or message.get("type") != "state":
            return
        neighbor = message.get("neighbor") or {}
        address = str((neighbor.get("address") or {}).get("peer") or "")
        state = STATES.get(str(neighbor.get("state") or ""), "connecting")
        with self._lock:
            for s in self._sessions:
                if s.address != address:
                    continue
                self._known.add(s.peer)  # ExaBGP speaks of it: it has its neighbour
                if self._states.get(s.peer) == state:
                    continue
                self._states[s.peer] = state
                self.log(f"BGP session with {s.peer} ({s.address}): {state}")
                if state == "established":
                    self._send([("announce", r) for r in sorted(self._routes, key=_order)],
                               only=s.peer)

    def _answer(self, line: str) -> None:
        """A line of ``show neighbor configuration``: a neighbour's description names the
        generation of the configuration ExaBGP runs."""
        match = _DESCRIPTION.match(line)
        if match is None:
            return
        generation = int(match.group(1))
        with self._lock:
            if generation == self._generation and self._loaded < generation:
                self._loaded = generation
                self._known = {s.peer for s in self._sessions}
            elif generation < self._generation:
                self._stale = True


def _neighbour(session: BGPSession) -> BGPSession:
    """A session without its peer's name: ExaBGP's neighbour (a renamed peer is the same)."""
    return replace(session, peer="")


def _user() -> str:
    """The name of the user this process runs as (ExaBGP's ``daemon.user``)."""
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a UID without a passwd entry: ExaBGP only switches when it is root
        return "root" if os.getuid() == 0 else "nobody"


def _order(route: BGPRoute) -> tuple[str, str]:
    return (route.peer, route.prefix)
