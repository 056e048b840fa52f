"""The root command and the one error boundary.

:func:`run` parses the command line, runs one command, and turns every outcome into an exit code:
an :class:`~lbctl.errors.LbctlError` becomes ``lbctl: error: <message>`` and ``hint: <hint>`` on
stderr with its documented code; a usage error from the parser exits 2; anything else is a bug
in lbctl and exits 70 — with a traceback only under ``--debug`` (or ``LBCTL_DEBUG=1``).
"""

from __future__ import annotations

import inspect
import os
import sys
import traceback

import typer
from typer.exceptions import TyperException

from lbctl.cli import (
    adopt,
    arp,
    assign,
    controller,
    doctor,
    hold,
    install,
    kubeproxy,
    pool,
    rbac,
    reconcile,
    release,
    render,
    speaker,
    svc,
    version,
)
from lbctl.cli.context import GLOBAL_PARAMETERS, App, Options, make_consoles
from lbctl.errors import ExitCode, LbctlError, redact

app = typer.Typer(
    name="lbctl",
    help="Bare-metal Kubernetes load balancing from the command line: address pools, "
    "LoadBalancer Service IPs, gratuitous ARP/NDP, kube-proxy strictARP, and doctor.\n\n"
    "Offline (no cluster): add --state ./lb.yaml to any command.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(pool.app, name="pool")
app.add_typer(kubeproxy.app, name="kube-proxy")
app.add_typer(arp.app, name="arp")
app.add_typer(svc.app, name="svc")
app.add_typer(hold.app, name="hold")
app.add_typer(speaker.app, name="speaker")
assign.register(app)
adopt.register(app)
release.register(app)
reconcile.register(app)
doctor.register(app)
rbac.register(app)
install.register(app)
controller.register(app)
version.register(app)


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
    _, err = make_consoles()
    render.say(err, redact(f"{prog_name}: error: {_one_line(message)}"))
    if hint:
        render.say(err, redact(f"hint: {_one_line(hint)}"))
    return code


def _traceback() -> None:
    """The current exception's traceback on stderr (``--debug``), with every secret redacted:
    a library's exception may quote a header or a file it read."""
    sys.stderr.write(redact(traceback.format_exc()))


def run(argv: list[str] | None = None, *, prog_name: str = "lbctl") -> int:
    """Run one command line; return its exit code.  Never raises.  ``prog_name`` is the name
    shown in help and errors (``kubectl lb`` for the kubectl plugin)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("LBCTL_DEBUG") == "1"
    try:
        result = app(args=args, prog_name=prog_name, standalone_mode=False)
        return int(result or 0)
    except LbctlError as exc:
        if debug:
            _traceback()
        return _fail(exc.message, exc.hint, exc.exit_code, prog_name)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        return _fail("interrupted", "", 130, prog_name)
    except TyperException as exc:  # the parser's usage errors
        if type(exc).__name__ == "NoArgsIsHelpError":  # a group without a command: its help
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
        return _fail(
            f"internal error: {type(exc).__name__}: {exc}",
            "this is a bug in lbctl; rerun with --debug and report the traceback",
            ExitCode.INTERNAL,
            prog_name,
        )


def main() -> None:
    sys.exit(run())
