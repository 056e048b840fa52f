"""``kubectl lb``: lbctl as a kubectl plugin.

kubectl runs any executable named ``kubectl-<name>`` found on ``PATH`` for ``kubectl <name>``
(the convention krew installs plugins by), passing the remaining arguments.  Installing lbctl
puts the ``kubectl-lb`` script next to ``lbctl``, so ``kubectl lb pool list`` is ``lbctl pool
list``: the same commands, flags, output and exit codes, with ``kubectl lb`` as the program name
in help, usage errors and error messages.

Shell completion: for ``kubectl lb <TAB>``, kubectl (1.26 and newer) runs the executable
``kubectl_complete-lb`` from ``PATH`` with the words typed after ``lb``, the last one being the
word to complete, and reads cobra's ``__complete`` answer: one candidate per line (a tab, then
its description) and a last line ``:DIRECTIVE``.  Installing lbctl puts that script next to
``kubectl-lb``; :func:`complete` answers from the same command tree (and the same dynamic
completions) as ``lbctl``'s own shell completion.  It never prints an error: a failure is the
directive ``:1``.

This module only names the program and speaks kubectl's protocol; parsing, the error boundary
and everything else are :func:`lbctl.cli.main.run`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

import typer
from typer._click.shell_completion import ShellComplete  # typer 0.26-0.28 vendor click

from lbctl.cli import entry
from lbctl.cli.main import app

PROG_NAME = "kubectl lb"
#: cobra's ShellCompDirective values that kubectl understands.
ERROR, DEFAULT, NO_FILE = 1, 0, 4


class _Walk(ShellComplete):
    """Only the command-tree walk: kubectl, not a shell script, asks and formats."""

    source_vars = get_completion_args = format_completion = None  # type: ignore[assignment]


def main() -> None:
    """The ``kubectl-lb`` entry point (:func:`lbctl.cli.entry.kubectl_lb`, which the installed
    script calls)."""
    entry.kubectl_lb()


def completions(words: Sequence[str], out: TextIO) -> None:
    """Answer kubectl's completion request for ``kubectl lb WORDS...`` on ``out``: candidates
    for the last word, then the directive: none, and the shell completes file names (what -f,
    --state and --kubeconfig take)."""
    try:
        args, incomplete = list(words[:-1]), (words[-1] if words else "")
        items = _Walk(typer.main.get_command(app), {}, PROG_NAME,
                        "_KUBECTL_LB_COMPLETE").get_completions(args, incomplete)
    except Exception:  # completion runs on every TAB: never a traceback in the terminal
        out.write(f":{ERROR}\n")
        return
    if not items or any(item.type in ("file", "dir") for item in items):  # a path, maybe
        out.write(f":{DEFAULT}\n")
        return
    for item in items:
        help_text = " ".join(str(item.help or "").split())
        out.write(f"{item.value}\t{help_text}\n" if help_text else f"{item.value}\n")
    out.write(f":{NO_FILE}\n")


def complete() -> None:
    """The ``kubectl_complete-lb`` entry point (:func:`lbctl.cli.entry.kubectl_complete_lb`,
    which the installed script calls)."""
    entry.kubectl_complete_lb()
