"""A fork server for the hostile-input corpus: one clean process per test worker that has
imported lbctl (and the Kubernetes client) once, and forks a child per case.

Why not ``subprocess.run([python, "-m", "lbctl", ...])`` per case: start-up costs ~0.4 s
(~0.8 s with the Kubernetes client) on a loaded machine, and the corpus has hundreds of cases.
Why not in the test process: a hang cannot be stopped there, and state left behind by earlier
tests (caches, monkeypatches) would leak into the command.  The zygote runs no command itself, so
every child starts from the same clean, freshly imported state, as ``lbctl`` would.

Protocol (one JSON object per line on stdin/stdout): a request
``{"argv", "cwd", "env", "stdin", "stdout", "stderr", "unprivileged", "entry"}`` is answered by
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
    "lbctl.cli.assign",
    "lbctl.cli.doctor",
    "lbctl.cli.kubeproxy",
    "lbctl.cli.pool",
    "lbctl.cli.release",
    "lbctl.cli.svc",
    "lbctl.kube.transport",
    "lbctl.kube",
    "lbctl.state.store",
    "lbctl.state.file",
    "lbctl.state.configmap",
    "kubernetes.config",
    "kubernetes.client",
    "urllib3",
    "yaml",
)


#: Capabilities that let root ignore file permissions: CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH,
#: CAP_FOWNER.
_FILE_CAPABILITIES = (1, 2, 3)


def drop_file_capabilities() -> None:
    """Make this process obey file permission bits even as root (a mode-000 file cannot be
    read, a 0555 directory cannot be written), by dropping the capabilities that bypass them.
    Changing the user instead would lose access to a Python installed under /root.  They leave
    the bounding set too, so that an ``exec`` (the subprocess mode) does not give them back to
    root.  A no-op for a process that does not have them."""
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    libc = ctypes.CDLL(None, use_errno=True)
    for bit in _FILE_CAPABILITIES:
        libc.prctl(24, bit, 0, 0, 0)  # PR_CAPBSET_DROP; fails harmlessly without CAP_SETPCAP
    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    mask = ~sum(1 << bit for bit in _FILE_CAPABILITIES) & 0xFFFFFFFF
    data[0].effective &= mask
    data[0].permitted &= mask
    data[0].inheritable &= mask
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


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
        if request.get("unprivileged"):
            drop_file_capabilities()
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
