"""``arp announce`` and ``arp probe``: which addresses, whether lbctl may announce them, and what
the answers to a probe mean.

Owns three decisions and nothing about frames or sockets (those belong to the
:class:`~lbctl.nodeports.Announcer` port):

* **targets**: an address, ``svc/NAME`` (the addresses allocated to that Service in the state),
  or every allocated address of a pool announced by layer 2 (optionally of one pool: a ``bgp``
  pool's addresses are routed, never answered by ARP/NDP); canonical, each once, in the order
  given;
* **safety**: an address in no pool is refused unless forced.  Gratuitous ARP for an address
  that another host owns redirects that host's traffic here: it is ARP spoofing;
* **verdicts**: a probe answers one of two questions.  "Is it free?" (the default) is yes when
  nobody answers.  "Does exactly one node answer?" (``expect_one``) is yes with one MAC; no MAC
  means nobody announces the address, two or more mean two announcers (split brain) or
  kube-proxy in IPVS mode answering from every node because ``strictARP`` is off.

The user-facing defaults (rounds, interval, forms, probe timeout) and why they were chosen live
with the command, :mod:`lbctl.cli.arp`.  The state is passed in (the command loads it); nothing
here prints.  Errors:
:class:`~lbctl.errors.UsageError` (malformed target), :class:`~lbctl.errors.NotFoundError`
(unknown pool or Service), :class:`~lbctl.errors.RefusedError` (address in no pool), plus
whatever the port raises.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lbctl.core.addresses import canonical_ip
from lbctl.core.probe import Question, Verdict, judge
from lbctl.core.state import State
from lbctl.errors import NotFoundError, RefusedError, UsageError
from lbctl.nodeports import Announcer, ArpMode, Sent

_SERVICE_PREFIXES = ("svc/", "service/", "services/")


def targets(
    state: State,
    args: Sequence[str],
    *,
    namespace: str,
    all_allocated: bool = False,
    pool: str | None = None,
) -> list[str]:
    """The addresses named by ``args`` (IPs and ``svc/NAME`` in ``namespace``), or with
    ``all_allocated`` every allocated address (of ``pool`` only, when given)."""
    if all_allocated and args:
        raise UsageError("give addresses or --all, not both",
                         hint="lbctl arp announce --all, or lbctl arp announce IP|svc/NAME...")
    if pool is not None and not all_allocated:
        raise UsageError("--pool selects addresses for --all", hint="add --all")
    if not all_allocated and not args:
        raise UsageError("nothing to announce", hint="name addresses or svc/NAME, or use --all")
    found: list[str] = []
    if all_allocated:
        if pool is not None and pool not in state.pools:
            raise NotFoundError(f"pool {pool} does not exist", hint="see lbctl pool list")
        if pool is not None and not state.by_layer2(pool):
            raise RefusedError(
                f"pool {pool} is announced over BGP only: no host answers ARP/NDP for its "
                "addresses, the routers route them to the nodes",
                hint=f"to answer ARP/NDP for them too: lbctl pool set {pool} --announce both")
        for key in sorted(state.allocations):
            allocated = state.allocations[key]
            if (pool is None or allocated.pool == pool) and state.by_layer2(allocated.pool):
                found.extend(allocated.ips)
    for arg in args:
        prefix = next((p for p in _SERVICE_PREFIXES if arg.startswith(p)), None)
        if prefix is None:
            found.append(canonical_ip(arg))
            continue
        name = arg[len(prefix):]
        if not name:
            raise UsageError(f"{arg} names no Service", hint="example: lbctl arp announce "
                             f"svc/web -n {namespace}")
        record = state.allocation(namespace, name)
        if record is None:
            raise NotFoundError(
                f"service {namespace}/{name} has no allocated address",
                hint=f"assign one with: lbctl assign svc {name} -n {namespace}",
            )
        found.extend(record.ips)
    return list(dict.fromkeys(found))


def check_managed(state: State, ips: Sequence[str]) -> None:
    """Refuse addresses outside every pool: lbctl announces only what it manages."""
    strays = [ip for ip in ips if state.pool_of(ip) is None]
    if strays:
        more = f" (and {len(strays) - 1} more)" if len(strays) > 1 else ""
        raise RefusedError(
            f"{strays[0]}{more} is in no pool: announcing an address lbctl does not manage "
            "is ARP spoofing",
            hint="add it to a pool, or pass --force if this host really owns it",
        )


@dataclass(frozen=True)
class Announced:
    """The addresses announced, in the order asked, and what the announcer reported."""

    ips: list[str]
    sent: list[Sent]

    def per_address(self) -> list[tuple[str, Sent]]:
        """Each address with the report of its group, in the order asked (none for a dry
        run); an address of a pool with several interfaces once per interface."""
        return [(ip, sent) for ip in self.ips for sent in self.sent if ip in sent.ips]

    @property
    def frames(self) -> int:
        return sum(s.frames * len(s.ips) for s in self.sent)


def announce_targets(
    state: State,
    args: Sequence[str],
    *,
    namespace: str,
    all_allocated: bool = False,
    pool: str | None = None,
    force: bool = False,
) -> list[str]:
    """The addresses an announcement of ``args`` would send for (see :func:`targets`), refused
    when one is in no pool unless ``force``.  All a dry run does: no socket is opened."""
    ips = targets(state, args, namespace=namespace, all_allocated=all_allocated, pool=pool)
    if not force:
        check_managed(state, ips)
    return ips


def interfaces_for(state: State, ips: Sequence[str],
                   interface: str | None) -> list[tuple[str | None, list[str]]]:
    """Where each address goes out, as ``(interface, addresses)`` groups: an address of a pool
    that names interfaces (``interfaces``, where the speakers answer for it) on each of them,
    any other on ``interface`` (None: the announcer's choice).  An ``interface`` outside such a
    pool's list is refused: frames there pull the address's traffic to where nobody answers
    for it."""
    groups: dict[str | None, list[str]] = {}
    for ip in ips:
        name = state.pool_of(ip)
        wanted = state.pools[name].interfaces if name is not None else ()
        if wanted and interface is not None and interface not in wanted:
            raise RefusedError(
                f"{ip} is of pool {name}, answered only on {', '.join(wanted)}: announcing it "
                f"on {interface} pulls its traffic where nobody answers for it",
                hint=f"leave out -i (lbctl announces it on {', '.join(wanted)}), or change the "
                     f"pool's interfaces: lbctl pool set {name} --interface {interface}")
        for where in (wanted if wanted and interface is None else (interface,)):
            groups.setdefault(where, []).append(ip)
    return list(groups.items())


def announce(
    announcer: Announcer,
    state: State,
    args: Sequence[str],
    *,
    namespace: str,
    all_allocated: bool = False,
    pool: str | None = None,
    force: bool = False,
    interface: str | None,
    count: int,
    interval: float,
    mode: ArpMode,
    progress: Callable[[int, int], None] | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> Announced:
    """Announce the addresses named by ``args`` (see :func:`announce_targets`) from this host,
    on the interfaces :func:`interfaces_for` gives.  A pool's interface this host lacks (or
    that is down) is passed over with a warning; an address none of whose pool's interfaces
    is here is an error (the others may have been announced by then)."""
    ips = announce_targets(state, args, namespace=namespace, all_allocated=all_allocated,
                           pool=pool, force=force)
    if not ips:
        return Announced(ips, [])
    groups = interfaces_for(state, ips, interface)
    total = count * sum(len(group) for _, group in groups)
    sent: list[Sent] = []
    done = 0
    for where, group in groups:
        step = None if progress is None else (
            lambda d, _total, base=done: progress(base + d, total))
        try:
            sent += announcer.announce(group, interface=where, count=count, interval=interval,
                                       mode=mode, progress=step)
        except (NotFoundError, RefusedError) as exc:
            if where is None or where == interface:
                raise
            warn(f"{', '.join(group)}: not announced on {where}: {exc.message}")
        done += count * len(group)
    unsent = [ip for ip in ips if not any(ip in s.ips for s in sent)]
    if unsent:
        name = state.pool_of(unsent[0])
        wanted = ", ".join(state.pools[name].interfaces) if name is not None else ""
        raise NotFoundError(
            f"{unsent[0]}: none of pool {name}'s interfaces ({wanted}) can announce it on this "
            "host", hint="run it on a node that has one of them up (lbctl pool show "
                         f"{name} lists them)")
    return Announced(ips, sent)


@dataclass(frozen=True)
class ProbeReport:
    question: Question
    verdicts: list[Verdict]

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verdicts)


def probe_targets(args: Sequence[str]) -> list[str]:
    """The addresses a probe of ``args`` asks about: canonical, each once, in the order given
    (a malformed one is a usage error).  All a dry run does: no socket is opened."""
    return list(dict.fromkeys(canonical_ip(arg) for arg in args))


def probe(
    announcer: Announcer,
    args: Sequence[str],
    *,
    interface: str | None,
    timeout: float,
    expect_one: bool = False,
) -> ProbeReport:
    """Probe each address and judge the answers (see the module docstring)."""
    ips = probe_targets(args)
    question: Question = "one" if expect_one else "free"
    probed = announcer.probe(ips, interface=interface, timeout=timeout)
    return ProbeReport(question, [judge(p, question) for p in probed])
