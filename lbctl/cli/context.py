"""The composition root: global options, consoles, and the adapters built from them.

Nothing else in lbctl constructs an adapter.  Every command receives an :class:`App` through
:func:`app_of` and asks it for what it needs (``app.store()``, ``app.kube()``, ``app.out``),
so a command that never touches the cluster never imports the Kubernetes client.

Global options are kubectl's: they are accepted before the command (``lbctl -n web svc list``),
after a group's name (``lbctl svc -n web list``) and after the command (``lbctl svc list -n
web``); :func:`group` and :func:`command` add them to every group and command, shown under
"Global options" in its help.  The last one given wins.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, cast

import typer

from lbctl.cli import complete
from lbctl.errors import LbctlError, NoClusterConfigError, UsageError

if TYPE_CHECKING:
    from datetime import datetime

    from rich.console import Console

    from lbctl.cli.render import Cell
    from lbctl.core.state import State
    from lbctl.health import HealthServer
    from lbctl.nodeports import Announcer, BGPSpeaker, Prober, Responder
    from lbctl.ports import KubeAPI
    from lbctl.state.cache import StateCache
    from lbctl.state.store import StateStore

F = TypeVar("F", bound=Callable[..., Any])
PANEL = "Global options"


class Output(str, Enum):
    table = "table"
    wide = "wide"
    json = "json"
    yaml = "yaml"
    name = "name"


@dataclass
class Options:
    """The global options, as given (None/False when not given)."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    all_namespaces: bool = False
    output: Output | None = None
    dry_run: bool = False
    state: str | None = None
    debug: bool = False
    no_headers: bool = False

    def merge(self, other: Options) -> None:
        """Options given after the command win over the same options given before it."""
        for f in fields(self):
            value = getattr(other, f.name)
            if value not in (None, False):
                setattr(self, f.name, value)


def _not_empty(ctx: typer.Context, param: typer.CallbackParam, value: str | None) -> str | None:
    """An option given an empty value (``--state "$UNSET"``) is refused, not taken as "not
    given": falling back to the default would act on another state or cluster than meant."""
    if value is not None and not value.strip():
        flag = max(param.opts, key=len)
        raise UsageError(f"{flag} is empty",
                         hint=f"give {flag} a value, or leave it out (is a shell variable unset?)")
    return value


GLOBAL_PARAMETERS = [
    inspect.Parameter(
        "kubeconfig", inspect.Parameter.KEYWORD_ONLY, default=None,
        annotation=Annotated[str | None, typer.Option(
            "--kubeconfig", metavar="PATH", callback=_not_empty, rich_help_panel=PANEL,
            help="Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).")],
    ),
    inspect.Parameter(
        "context", inspect.Parameter.KEYWORD_ONLY, default=None,
        annotation=Annotated[str | None, typer.Option(
            "--context", metavar="NAME", callback=_not_empty, rich_help_panel=PANEL,
            help="The kubeconfig context to use.")],
    ),
    inspect.Parameter(
        "namespace", inspect.Parameter.KEYWORD_ONLY, default=None,
        annotation=Annotated[str | None, typer.Option(
            "-n", "--namespace", metavar="NS", callback=_not_empty, rich_help_panel=PANEL,
            autocompletion=complete.namespaces,
            help="Namespace (default: the context's namespace, else 'default').")],
    ),
    inspect.Parameter(
        "all_namespaces", inspect.Parameter.KEYWORD_ONLY, default=False,
        annotation=Annotated[bool, typer.Option(
            "-A", "--all-namespaces", rich_help_panel=PANEL,
            help="Act on every namespace.")],
    ),
    inspect.Parameter(
        "output", inspect.Parameter.KEYWORD_ONLY, default=None,
        annotation=Annotated[Output | None, typer.Option(
            "-o", "--output", rich_help_panel=PANEL, case_sensitive=False,
            help="Output format.")],
    ),
    inspect.Parameter(
        "dry_run", inspect.Parameter.KEYWORD_ONLY, default=False,
        annotation=Annotated[bool, typer.Option(
            "--dry-run", rich_help_panel=PANEL,
            help="Show what would change; change nothing.")],
    ),
    inspect.Parameter(
        "state", inspect.Parameter.KEYWORD_ONLY, default=None,
        annotation=Annotated[str | None, typer.Option(
            "--state", metavar="PATH", callback=_not_empty, rich_help_panel=PANEL,
            help="Keep the state in this local file instead of the ConfigMap "
                 "kube-system/lbctl-state (default: $LBCTL_STATE). Works with no cluster.")],
    ),
    inspect.Parameter(
        "debug", inspect.Parameter.KEYWORD_ONLY, default=False,
        annotation=Annotated[bool, typer.Option(
            "--debug", rich_help_panel=PANEL, help="Show tracebacks.")],
    ),
    inspect.Parameter(
        "no_headers", inspect.Parameter.KEYWORD_ONLY, default=False,
        annotation=Annotated[bool, typer.Option(
            "--no-headers", rich_help_panel=PANEL,
            help="Print tables without their header row.")],
    ),
]


class App:
    """Everything a command may use, built lazily from the global options."""

    def __init__(self, options: Options, out: Console, err: Console) -> None:
        self.options = options
        self.out = out
        self.err = err
        self._kube: KubeAPI | None = None
        self._kube_namespace = "default"
        self._cluster = ""  # the API server and the context, which name the state's cache
        self._caches: list[StateCache] = []

    @property
    def output(self) -> Output:
        return self.options.output or Output.table

    @property
    def offline(self) -> bool:
        return self.state_path is not None

    @property
    def state_path(self) -> str | None:
        """``--state`` (never empty: refused by the parser), else ``$LBCTL_STATE`` unless it is
        empty, else None: the ConfigMap."""
        return self.options.state or os.environ.get("LBCTL_STATE") or None

    def kube(self) -> KubeAPI:
        if self._kube is None:
            from lbctl import kube

            # LBCTL_KUBE_CLIENT=official: every request through the official client, as before
            # lbctl read kubeconfigs itself (a way out, and a baseline for benchmarks).
            cluster = kube.connect(
                self.options.kubeconfig,
                self.options.context,
                official=os.environ.get("LBCTL_KUBE_CLIENT") == "official",
                vet=_vet_kubeconfig,
            )
            self._kube, self._kube_namespace = cluster, cluster.default_namespace
            self._cluster = f"{cluster.server} {cluster.context}"
        return self._kube

    def kube_unless_offline(self) -> KubeAPI | None:
        """The cluster, or None when the state is a local file and there is no kubeconfig at
        all (GitOps: the repository is the whole world)."""
        try:
            return self.kube()
        except NoClusterConfigError:
            if self.offline:
                return None
            raise

    @property
    def namespace(self) -> str:
        """``-n``, else the kubeconfig context's namespace (only when on a cluster), else
        ``default``."""
        if self.options.namespace:
            return self.options.namespace
        if not self.offline:
            self.kube()
            return self._kube_namespace
        return "default"

    def announcer(self) -> Announcer:
        """Raw-socket ARP/NDP on this machine's interfaces."""
        from lbctl.net.announcer import RawAnnouncer

        return RawAnnouncer()

    def responder(self) -> Responder:
        """Userspace ARP/NDP answers on this machine's interfaces (``lbctl speaker``)."""
        from lbctl.net.responder import RawResponder

        return RawResponder()

    def bgp_speaker(self, log: Callable[[str], None]) -> BGPSpeaker:
        """BGP through a child ExaBGP process, started when there is a peer (``lbctl
        speaker``)."""
        from lbctl.bgp.exabgp import ExaBGP

        return ExaBGP(log=log)

    def prober(self) -> Prober:
        """TCP/HTTP checks from this machine (``svc check``, the speaker's health checks)."""
        from lbctl.net.prober import SocketProber

        return SocketProber()

    def arp_sysctls(self, proc_root: Path) -> Callable[[], dict[str, dict[str, int]]]:
        """A reader of this machine's ARP sysctls (arp_ignore, arp_announce per interface)."""
        from lbctl.net import sysctl

        return functools.partial(sysctl.read_arp_sysctls, proc_root)

    def health_server(self, address: str, registry: Any, *, live: Callable[[], str],
                      ready: Callable[[], str], log: Callable[[str], None]) -> HealthServer:
        """The /healthz, /readyz and /metrics endpoint of a long-running command, started;
        ``log`` gets one line per request that failed."""
        from lbctl.health import HealthServer

        return HealthServer(address, registry, live=live, ready=ready, log=log).start()

    def store(self, *, new_state: bool = False, cached: bool = True) -> StateStore:
        """The state store ``--state`` selects.  On the cluster, a write that would create the
        state is refused when Services show addresses of its pools that it would not record
        (:mod:`lbctl.core.lost`), unless ``new_state``.  ``cached``: the last document read is
        kept for the next command (:mod:`lbctl.state.cache`); a long-running command, which
        keeps it in memory, says False."""
        from lbctl.state.store import StateStore

        if self.state_path is not None:
            import shlex

            from lbctl.state.file import FileBackend

            return StateStore(FileBackend(self.state_path),
                              doctor=f"lbctl doctor --state {shlex.quote(self.state_path)}",
                              cache=self._state_cache(os.path.abspath(self.state_path), cached))
        from lbctl.state.configmap import ConfigMapBackend

        try:
            kube = self.kube()
        except NoClusterConfigError as exc:
            raise NoClusterConfigError(
                exc.message,
                hint="pass --kubeconfig or set KUBECONFIG; or keep the state in a local file "
                "with --state PATH (no cluster needed)",
            ) from exc
        backend = ConfigMapBackend(kube)

        def creating(new: State) -> None:
            from lbctl.core.lost import refuse_new_state
            from lbctl.ports import SERVICES

            refuse_new_state(backend.location, new, kube.list(SERVICES, None))

        return StateStore(backend, creating=None if new_state else creating,
                          cache=self._state_cache(f"{self._cluster} {backend.location}", cached))

    def _state_cache(self, slot: str, cached: bool) -> StateCache | None:
        from lbctl.state.cache import StateCache, directory_of

        directory = directory_of(os.environ) if cached else None
        if directory is None:
            return None
        cache = StateCache(directory, slot)
        self._caches.append(cache)
        return cache

    def succeeded(self) -> None:
        """The command returned: what its stores keep for the next command is written now (a
        command that fails changes no file)."""
        for cache in self._caches:
            cache.write()

    def now(self) -> datetime:
        """The commands' clock (ages, hold ends, Lease freshness, Event timestamps): aware UTC.
        Tests replace it on the class."""
        from datetime import datetime, timezone

        return datetime.now(timezone.utc)

    def warn(self, message: str) -> None:
        """``lbctl: warning: ...`` on stderr; also the ``warn`` callback the actions take."""
        from lbctl.cli import render

        render.warn(self.err, message)

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[Cell]], *,
              console: Console | None = None) -> None:
        """A table on stdout (or ``console``), without its header row under ``--no-headers``."""
        from lbctl.cli import render

        render.table(console or self.out, headers, rows, no_headers=self.options.no_headers)

    def require_output(self, *allowed: Output, default: Output = Output.table) -> Output:
        """The ``-o`` format (``default`` when none is given), refused unless this command can
        produce it."""
        output = self.options.output or default
        if output not in allowed:
            raise UsageError(
                f"-o {output.value} is not supported here",
                hint="choose one of: " + ", ".join(o.value for o in allowed),
            )
        return output


#: The commands that read or change the state: with ``--state FILE`` on the command line, a
#: hint naming one of them names the same file (without it, it would act on the cluster's).
STATEFUL_COMMANDS = ("pool", "assign", "adopt", "release", "reconcile", "svc", "arp", "hold",
                     "bgp", "doctor")


def hint_with_state(hint: str, path: str | None) -> str:
    """``hint`` with ``--state PATH`` in every lbctl command it names that works on the state,
    unless ``path`` is None (no --state on the command line: LBCTL_STATE, or the cluster) or
    the hint names a state already."""
    if not path or "--state" in hint:
        return hint
    import re
    import shlex

    return re.sub(rf"(?<![\w-])lbctl (?=(?:{'|'.join(STATEFUL_COMMANDS)}) )",
                  f"lbctl --state {shlex.quote(path)} ", hint)


def _vet_kubeconfig(text: str, path: str) -> dict[str, Any] | None:
    """A kubeconfig passes lbctl's one YAML reader (its size, depth and alias limits, keys that
    read the same refused) before any kubeconfig loader sees it.  In the layouts kubectl writes
    (and in plain JSON) that one reading is the kubeconfig's, returned as ``yaml.safe_load``
    reads it (a mapping; else None, and lbctl's kubeconfig reader reads the file itself)."""
    from lbctl.core import yamlkit

    read = yamlkit.vet(text, path, hint="fix the kubeconfig, or pass another one with "
                       "--kubeconfig")
    return read.data if read is not None and isinstance(read.data, dict) else None


def completion_kube(kubeconfig: str | None, context: str | None) -> tuple[KubeAPI, str] | None:
    """A client for shell completion and the context's namespace: lbctl's own transport only
    (never an exec plugin, never the official client's import), two seconds, no retries;
    ``None`` when there is no such client."""
    from lbctl import kube

    try:
        client = kube.connect(kubeconfig, context, fast_only=True, timeout=2.0, retries=0,
                              vet=_vet_kubeconfig)
    except LbctlError:
        return None
    return client, client.default_namespace


def group(help: str) -> typer.Typer:
    """A command group with lbctl's settings: plain, kubectl-like help (rich's help renderer
    costs ~100 ms of start-up), the group's help when no command is given, and the global
    options accepted after its name (``lbctl svc -n web list``)."""
    made = typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None)

    def options(ctx: typer.Context, **given: Any) -> None:
        app_of(ctx).options.merge(Options(**given))

    options.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                           annotation=typer.Context), *GLOBAL_PARAMETERS])
    made.callback(help=help)(options)
    return made


def make_consoles() -> tuple[Console, Console]:
    """stdout for data, stderr for messages (:class:`~lbctl.cli.render.LazyConsole`: rich's
    consoles, made when first needed).  Markup and highlighting are off: cluster- and
    user-provided strings ("[fd00::1]") are printed as they are.  Colour follows the terminal
    and NO_COLOR.  Their files handle write errors once for every command
    (:mod:`lbctl.cli.streams`)."""
    from lbctl.cli.render import LazyConsole
    from lbctl.cli.streams import Messages, Output

    return (cast("Console", LazyConsole(Output(sys.stdout))),
            cast("Console", LazyConsole(Messages(sys.stderr))))


def app_of(ctx: typer.Context) -> App:
    app = ctx.find_object(App)
    assert app is not None, "the root callback creates the App"
    return app


class _WithGlobals:
    # No docstring of its own: a command's help is its function's (inspect.getdoc).

    def __init__(self, func: Callable[..., Any], exclude: tuple[str, ...]) -> None:
        functools.update_wrapper(self, func)
        self._func = func
        self._added = [p for p in GLOBAL_PARAMETERS if p.name not in exclude]

    @functools.cached_property
    def __signature__(self) -> inspect.Signature:
        """Made when typer builds the command: the commands of a module that this command line
        does not run are never built, so their annotations are never evaluated."""
        signature = inspect.signature(self._func, eval_str=True)
        assert "ctx" in signature.parameters, (
            f"{self._func.__name__} must take ctx: typer.Context")
        return signature.replace(parameters=[*signature.parameters.values(), *self._added])

    def __call__(self, *args: Any, **params: Any) -> Any:
        given = Options(**{p.name: params.pop(p.name) for p in self._added})
        app = app_of(params["ctx"])
        app.options.merge(given)
        result = self._func(*args, **params)
        app.succeeded()
        return result


def _with_globals(func: F, exclude: tuple[str, ...]) -> Callable[..., Any]:
    """``func`` with the global options (but ``exclude``) added to its parameters; the ones
    given are merged into the :class:`App` before ``func`` runs."""
    return _WithGlobals(func, exclude)


def command(group: typer.Typer, name: str, *, exclude: tuple[str, ...] = (),
            **kwargs: Any) -> Callable[[F], F]:
    """Register ``func`` as ``group``'s command ``name`` with the global options added (except
    those in ``exclude``, which the command defines for itself); the options given here are
    merged into the :class:`App` before ``func`` runs."""

    def decorate(func: F) -> F:
        group.command(name, **kwargs)(_with_globals(func, exclude))
        return func

    return decorate


def group_callback(group: typer.Typer, *, exclude: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Register ``func`` as what ``group`` does when no command follows it (``lbctl speaker
    --node n1``), with the global options added, as :func:`command` does for commands."""

    def decorate(func: F) -> F:
        group.callback(invoke_without_command=True)(_with_globals(func, exclude))
        return func

    return decorate
