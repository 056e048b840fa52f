"""The processes: ``lbctl``, ``python -m lbctl``, ``kubectl-lb`` and ``kubectl_complete-lb``.

Each runs one command line (:func:`lbctl.cli.main.run`) in a process of its own, and spares it
two costs of the interpreter that a one-shot command does not need:

- The cyclic garbage collector is off from before the first import.  Importing the CLI, typer,
  ``http.client`` and PyYAML, then decoding a LIST of 1,000 Services and a state of 1,000
  allocations, allocate tens of thousands of containers that live until the process ends; the
  collector walked them over and over (some 80 passes for ``svc list -A``, about 5% of its
  CPU) and found next to no cycles.  Reference counting still frees everything else at once.
  The commands that run until stopped (``controller``, ``speaker``) turn it back on when they
  are built (:data:`lbctl.cli.main.LONG_RUNNING`).
- The interpreter's teardown: freeing every object one by one at exit.  A command that returned
  (or a completion that answered) with the collector still off, no other thread running and no
  debugger, profiler or coverage tool attached flushes its output and leaves at once with
  ``os._exit`` and its exit code, as mypy does.  When a flush fails (a closed pipe, a closed
  stdout), the ordinary exit takes over and says what it always said.
- A command whose output has no reader any more (``lbctl svc list | head -1``) ends killed by
  SIGPIPE, as coreutils and kubectl do.

This module imports nothing at its top but ``gc``, ``os`` and ``sys``: the collector must be
off before typer is imported.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from typing import NoReturn

#: The exit code of a command ended by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130
#: What :func:`~lbctl.cli.main.run` returns when the reader of its output went away
#: (:data:`lbctl.errors.ExitCode.PIPE`: 128 + SIGPIPE).
BROKEN_PIPE = 141


def main() -> NoReturn:
    """``lbctl`` and ``python -m lbctl``."""
    gc.disable()

    def command() -> int:
        from lbctl.cli.main import run

        return run()

    _leave(command)


def kubectl_lb() -> NoReturn:
    """``kubectl-lb``: ``kubectl lb ...`` (:mod:`lbctl.kubectl_plugin`)."""
    gc.disable()

    def command() -> int:
        from lbctl.cli.main import run
        from lbctl.kubectl_plugin import PROG_NAME

        return run(sys.argv[1:], prog_name=PROG_NAME)

    _leave(command)


def kubectl_complete_lb() -> NoReturn:
    """``kubectl_complete-lb``: kubectl's completion request for ``kubectl lb``."""
    gc.disable()

    def answer() -> int:
        from lbctl.kubectl_plugin import completions

        completions(sys.argv[1:], sys.stdout)
        return 0

    _leave(answer)


def _leave(command: Callable[[], int]) -> NoReturn:
    """Run ``command`` and end the process with its exit code (or with the code of the
    ``SystemExit`` it raised: shell completion exits so), the fast way when that is safe.
    Ctrl-C where :func:`~lbctl.cli.main.run` does not see it (while lbctl is imported, or in
    a completion) ends it with 130 too, without a traceback."""
    try:
        code = command()
    except SystemExit as exc:
        if not (exc.code is None or isinstance(exc.code, int)):
            raise  # a message to print: the ordinary exit prints it
        code = exc.code or 0
    except KeyboardInterrupt:
        code = INTERRUPTED
    if code == BROKEN_PIPE:
        _die_of_sigpipe()
    if gc.isenabled() or _threads_running() or _watched():
        sys.exit(code)  # a long-running command, work still going, a tool watching: ordinary
    try:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
    except (AttributeError, OSError, ValueError):  # None, a closed pipe, a closed file
        sys.exit(code)
    os._exit(code)


def _die_of_sigpipe() -> NoReturn:
    """End as coreutils and kubectl do when nobody reads their output: killed by SIGPIPE,
    silently (Python ignores the signal, so lbctl saw EPIPE instead).  Nothing is flushed:
    the output that was left has no reader."""
    import signal

    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGPIPE)
    os._exit(BROKEN_PIPE)  # (not reached)


def _watched() -> bool:
    """Whether a debugger, a profiler or a coverage tool follows this process: each writes its
    results when the interpreter exits (``python -m cProfile -m lbctl ...``)."""
    return sys.gettrace() is not None or sys.getprofile() is not None


def _threads_running() -> bool:
    """Whether a thread other than this one is alive and not a daemon (the ordinary exit
    would wait for it)."""
    threading = sys.modules.get("threading")
    if threading is None:
        return False
    return any(thread.is_alive() and not thread.daemon for thread in threading.enumerate()
               if thread is not threading.current_thread())
