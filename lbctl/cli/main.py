"""The root command and the one error boundary.

:func:`run` parses the command line, runs one command, and turns every outcome into an exit code:
an :class:`~lbctl.errors.LbctlError` becomes ``lbctl: error: <message>`` and ``hint: <hint>`` on
stderr with its documented code; a usage error from the parser exits 2; anything else is a bug
in lbctl and exits 70 — with a traceback only under ``--debug`` (or ``LBCTL_DEBUG=1``).
"""

from __future__ import annotations

import gc
import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any

import typer
from typer._click import Command, Context, HelpFormatter  # typer 0.26-0.28 vendor click
from typer._click.shell_completion import CompletionItem
from typer._click.utils import make_default_short_help
from typer.core import TyperGroup
from typer.exceptions import TyperException

from lbctl.cli.context import GLOBAL_PARAMETERS, App, Options, hint_with_state, make_consoles
from lbctl.errors import ExitCode, LbctlError, OutputClosedError, redact

#: Every command under the root, in the order ``lbctl --help`` lists them: its module (a
#: ``register(root)`` function, or a group ``app``) and the first paragraph of its help, which
#: the root's help and ``lbctl <TAB>`` show.  A module is imported, and its commands built, only
#: when its command runs or completes: ``lbctl svc list`` never builds ``doctor``'s options nor
#: imports ``lbctl.cli.arp``.  tests/cli/test_main.py keeps each summary equal to its help.
COMMANDS: dict[str, tuple[str, str]] = {
    "assign": ("lbctl.cli.assign", "Give LoadBalancer Services their external addresses."),
    "adopt": ("lbctl.cli.adopt", "Record the addresses a Service's status already shows."),
    "release": ("lbctl.cli.release", "Take a Service's address back."),
    "reconcile": ("lbctl.cli.reconcile", "Make the state and the cluster agree, in one pass."),
    "doctor": ("lbctl.cli.doctor", "Check pools, Services, the state, kube-proxy, other load "
               "balancers, permissions."),
    "rbac": ("lbctl.cli.rbac", "Print the RBAC that every lbctl command needs, ready for "
             "kubectl apply -f -."),
    "install": ("lbctl.cli.install", "Print the manifests that run lbctl controller on the "
                "cluster."),
    "version": ("lbctl.cli.version", "Print the versions of lbctl and of the cluster's API "
                "server."),
    "pool": ("lbctl.cli.pool", "Manage address pools: the IPs lbctl may give to LoadBalancer "
             "Services."),
    "kube-proxy": ("lbctl.cli.kubeproxy", "kube-proxy's strictARP: without it, in IPVS mode "
                   "every node answers ARP for every LoadBalancer IP and layer-2 announcement "
                   "breaks."),
    "arp": ("lbctl.cli.arp", "Announce addresses with gratuitous ARP / unsolicited NA, and "
            "probe who answers for them. Needs CAP_NET_RAW (root)."),
    "svc": ("lbctl.cli.svc", "LoadBalancer Services: their external IPs, pool, and whether "
            "the state agrees."),
    "hold": ("lbctl.cli.hold", "Addresses held for released Services (release --hold): list "
             "them."),
    "speaker": ("lbctl.cli.speaker", "The layer 2 speaker: answers ARP/NDP for the "
                "LoadBalancer addresses this node owns, and moves them when a node fails."),
    "bgp": ("lbctl.cli.bgp", "BGP: the routers lbctl's speakers peer with, and the routers' "
            "configuration."),
    "controller": ("lbctl.cli.controller", "Run the allocator: Services of type LoadBalancer "
                   "get their address as they appear."),
}


#: The commands that run until they are stopped.  A one-shot command's process runs without the
#: cyclic garbage collector (:mod:`lbctl.cli.entry`); building one of these turns it back on.
LONG_RUNNING = frozenset({"controller", "speaker"})


def load_command(name: str, words: Sequence[str] | None = None) -> Command:
    """Import the module of the root's command ``name`` and build that command, as typer
    builds it under the root.  A group is built with the subcommands named in ``words`` (the
    rest of the command line) when there are any, else with all of them (its help, completion
    and "no such command" need every name): ``lbctl pool list`` does not build ``pool add``."""
    if name in LONG_RUNNING:
        gc.enable()
    module = importlib.import_module(COMMANDS[name][0])
    holder = typer.Typer(rich_markup_mode=None)
    register = getattr(module, "register", None)
    if register is not None:
        register(holder)
    else:
        holder.add_typer(_only(module.app, words or ()), name=name)
    return typer.main.get_group(holder).commands[name]


def _only(group: typer.Typer, words: Sequence[str]) -> typer.Typer:
    """``group`` with only the commands ``words`` name; itself when they name none, or when the
    word in the subcommand's place names none (a typo: the parser's "did you mean" needs every
    name, also when a later word names one: ``pool lst show``, ``pool --dry-run lst show``).
    The group's own options come first, the value of each that takes one with it (``pool -n
    show list`` runs ``list``)."""
    registered = group.registered_commands
    if any(info.name is None for info in registered):
        return group
    names = {info.name for info in registered}
    valued: frozenset[str] | None = None
    value_next = False
    for word in words:
        if value_next:
            value_next = False
        elif word.startswith("-") and word != "-":
            if valued is None:
                valued = _valued_options(group)
            value_next = _takes_next_word(word, valued)
        elif word in names:
            break
        else:
            return group  # the subcommand's place, and no subcommand's name
    named = [info for info in registered if info.name in set(words)]
    if not named:
        return group
    import copy

    narrowed = copy.copy(group)
    narrowed.registered_commands = named
    return narrowed


def _valued_options(group: typer.Typer) -> frozenset[str]:
    """The names of the options of ``group`` itself (its callback's) that take a value:
    ``-n``, ``--output``, ``--state``; not the flags (``--dry-run``, ``-A``: typer makes every
    bool option a flag)."""
    callback = group.registered_callback.callback if group.registered_callback else None
    if callback is None:
        return frozenset()
    from typer.models import OptionInfo
    from typer.utils import get_params_from_function

    return frozenset(
        name for meta in get_params_from_function(callback).values()
        if isinstance(meta.default, OptionInfo) and not meta.default.count
        and meta.annotation not in (bool, bool | None)
        for name in meta.default.param_decls or ())


def _takes_next_word(word: str, valued: frozenset[str]) -> bool:
    """Whether the option ``word`` takes the next word as its value, as the parser reads it:
    ``-n`` and ``--namespace`` do; ``--namespace=web``, ``-nweb`` and flags do not; in a
    cluster of short options (``-An``), the first that takes a value takes the rest of the
    word, else the next word."""
    if word.startswith("--"):
        return word in valued
    for index, letter in enumerate(word[1:], start=1):
        if f"-{letter}" in valued:
            return index == len(word) - 1
    return False


class _Commands(MutableMapping[str, Command]):
    """The root's commands: every name of :data:`COMMANDS`, each built on first use."""

    def __init__(self, given: MutableMapping[str, Command]) -> None:
        self.built: dict[str, Command] = dict(given)
        self.words: list[str] = []  # what follows the command's name on the command line

    def __getitem__(self, name: str) -> Command:
        if name not in self.built:
            if name not in COMMANDS:
                raise KeyError(name)
            self.built[name] = load_command(name, self.words)
        return self.built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self.built[name] = command

    def __delitem__(self, name: str) -> None:
        del self.built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*COMMANDS, *self.built]))

    def __len__(self) -> int:
        return len(dict.fromkeys([*COMMANDS, *self.built]))


class _Root(TyperGroup):
    """The root group: its commands are built lazily (:class:`_Commands`); its help and its
    completion of command names show the summaries without building any."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.commands)

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.commands)

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None,
                                                                       list[str]]:
        commands = self.commands
        assert isinstance(commands, _Commands)
        commands.words = args[1:]
        return super().resolve_command(ctx, args)

    def summary_of(self, name: str, limit: int = 45) -> str:
        commands = self.commands
        assert isinstance(commands, _Commands)
        if name in commands.built:
            return commands.built[name].get_short_help_str(limit)
        return make_default_short_help(COMMANDS[name][1], limit).strip()

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        with formatter.section("Commands"):
            formatter.write_dl([(name, self.summary_of(name, limit)) for name in names])

    def shell_complete(self, ctx: Context, incomplete: str) -> list[CompletionItem]:
        return [
            *(CompletionItem(name, help=self.summary_of(name))
              for name in self.list_commands(ctx) if name.startswith(incomplete)),
            *Command.shell_complete(self, ctx, incomplete),
        ]


app = typer.Typer(
    name="lbctl",
    cls=_Root,
    help="Bare-metal Kubernetes load balancing from the command line: address pools, "
    "LoadBalancer Service IPs, gratuitous ARP/NDP, kube-proxy strictARP, and doctor.\n\n"
    "Offline (no cluster): add --state ./lb.yaml to any command.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _root(ctx: typer.Context, **given: object) -> None:
    out, err = make_consoles()
    ctx.obj = App(Options(**given), out, err)  # type: ignore[arg-type]


_root.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
     *GLOBAL_PARAMETERS]
)
app.callback()(_root)


def _one_line(text: str) -> str:
    """Messages are one line each: the parser's multi-line ones ("Choose from:\n  a,\n  b")
    and any line break in user input are folded into spaces."""
    return " ".join(text.split())


def _fail(message: str, hint: str, code: int, prog_name: str = "lbctl") -> int:
    from lbctl.cli import render

    _, err = make_consoles()
    render.say(err, redact(f"{prog_name}: error: {_one_line(message)}"))
    if hint:
        render.say(err, redact(f"hint: {_one_line(hint)}"))
    return code


def _with_state(hint: str, args: Sequence[str]) -> str:
    """``hint`` naming the ``--state FILE`` given in ``args`` (:func:`hint_with_state`)."""
    path = next((a.split("=", 1)[1] for a in args if a.startswith("--state=")), None)
    if path is None and "--state" in args[:-1]:
        path = args[args.index("--state") + 1]
    return hint_with_state(hint, path)


def _traceback() -> None:
    """The current exception's traceback on stderr (``--debug``), with every secret redacted:
    a library's exception may quote a header or a file it read."""
    from lbctl.cli.streams import Messages

    Messages(sys.stderr).write(redact(traceback.format_exc()))


def run(argv: list[str] | None = None, *, prog_name: str = "lbctl") -> int:
    """Run one command line; return its exit code.  Never raises.  ``prog_name`` is the name
    shown in help and errors (``kubectl lb`` for the kubectl plugin)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("LBCTL_DEBUG") == "1"
    try:
        result = app(args=args, prog_name=prog_name, standalone_mode=False)
        return int(result or 0)
    except OutputClosedError:
        return ExitCode.PIPE  # nobody reads: nothing to say (lbctl.cli.streams)
    except LbctlError as exc:
        if debug:
            _traceback()
        return _fail(exc.message, _with_state(exc.hint, args), exc.exit_code, prog_name)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        return _fail("interrupted", "", 130, prog_name)
    except TyperException as exc:  # the parser's usage errors
        if type(exc).__name__ == "NoArgsIsHelpError":  # a group without a command: its help
            from lbctl.cli import render

            out, _ = make_consoles()
            render.say(out, exc.format_message())
            return ExitCode.OK
        ctx = getattr(exc, "ctx", None)
        command = ctx.command_path if ctx is not None else prog_name
        return _fail(exc.format_message(), f"see '{command} --help'",
                     getattr(exc, "exit_code", ExitCode.USAGE), prog_name)
    except Exception as exc:  # the boundary: any bug becomes one line and exit 70
        if debug:
            _traceback()
        from lbctl.cli.streams import DISK_FULL, output_failed

        if isinstance(exc, OSError) and exc.errno in DISK_FULL:  # stdout, not through
            full = output_failed(exc)  # the consoles (click writing help into > FILE)
            return _fail(full.message, full.hint, full.exit_code, prog_name)
        return _fail(
            f"internal error: {type(exc).__name__}: {exc}",
            "this is a bug in lbctl; rerun with --debug and report the traceback",
            ExitCode.INTERNAL,
            prog_name,
        )


def main() -> None:
    """``lbctl`` as scripts installed before :mod:`lbctl.cli.entry` existed call it."""
    from lbctl.cli.entry import main as entry

    entry()
