"""A fork server for the hostile-input corpus: one clean process per test worker that has
imported lbctl (and the Kubernetes client) once, and forks a child per case.

Why not ``subprocess.run([python, "-m", "lbctl", ...])`` per case: start-up costs ~0.4 s
(~0.8 s with the Kubernetes client) on a loaded machine, and the corpus has hundreds of cases.
Why not in the test process: a hang cannot be stopped there, and state left behind by earlier
tests (caches, monkeypatches) would leak into the command.  The zygote runs no command itself, so
every child starts from the same clean, freshly imported state, as ``lbctl`` would.

Protocol (one JSON object per line on stdin/stdout): a request
``{"argv", "cwd", "env", "stdin", "stdout", "stderr", "uid", "gid", "entry"}`` is answered by
``{"pid": N}`` as soon as the child exists (so that the caller can kill it on a timeout), then
``{"status": S}`` (the exit code; ``-signal`` when killed) when it ends.  Standard library only,
apart from the preloaded modules.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

#: Imported once in the zygote, so that children do not pay for them.  Behaviour is unchanged:
#: lbctl imports them lazily itself; a child only finds them already in ``sys.modules``.
PRELOAD = (
    "lbctl.cli.main",
    "lbctl.kube",
    "lbctl.state.store",
    "lbctl.state.file",
    "lbctl.state.configmap",
    "kubernetes.config",
    "kubernetes.client",
    "urllib3",
    "yaml",
)


def _child(request: dict[str, Any]) -> None:
    """In the forked child: become the command, run it, and exit.  Never returns."""
    code = 99
    try:
        os.setpgid(0, 0)
        for fd, (path, flags) in enumerate((
            (request["stdin"], os.O_RDONLY),
            (request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
            (request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        )):
            opened = os.open(path, flags, 0o600)
            os.dup2(opened, fd)
            os.close(opened)
        if request.get("gid") is not None:
            os.setgroups([])
            os.setgid(request["gid"])
        if request.get("uid") is not None:
            os.setuid(request["uid"])
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.stdin = open(0, encoding="utf-8", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace",
                          closefd=False)
        module, _, name = request.get("entry", "lbctl.cli.main:run").partition(":")
        entry = getattr(importlib.import_module(module), name)
        code = int(entry(list(request["argv"])) or 0)
    except SystemExit as exc:  # an entry point that exits instead of returning
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:
        try:
            sys.stderr.write(f"Traceback (zygote): {type(exc).__name__}: {exc}\n")
        except Exception:
            pass
        code = 98
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _reply(out: Any, message: dict[str, int]) -> None:
    out.write((json.dumps(message) + "\n").encode())
    out.flush()


def main() -> None:
    for module in PRELOAD:
        importlib.import_module(module)
    source, out = sys.stdin.buffer, sys.stdout.buffer
    _reply(out, {"ready": 1})
    for line in source:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        _reply(out, {"pid": pid})
        _, status = os.waitpid(pid, 0)
        _reply(out, {"status": os.waitstatus_to_exitcode(status)})


if __name__ == "__main__":
    main()
