"""``kubectl lb``: lbctl as a kubectl plugin.

kubectl runs any executable named ``kubectl-<name>`` found on ``PATH`` for ``kubectl <name>``
(the convention krew installs plugins by), passing the remaining arguments.  Installing lbctl
puts the ``kubectl-lb`` script next to ``lbctl``, so ``kubectl lb pool list`` is ``lbctl pool
list``: the same commands, flags, output and exit codes, with ``kubectl lb`` as the program name
in help, usage errors and error messages.

This module only names the program; parsing, the error boundary and everything else are
:func:`lbctl.cli.main.run`'s.
"""

from __future__ import annotations

import sys

from lbctl.cli.main import run

PROG_NAME = "kubectl lb"


def main() -> None:
    """The ``kubectl-lb`` entry point."""
    sys.exit(run(sys.argv[1:], prog_name=PROG_NAME))
