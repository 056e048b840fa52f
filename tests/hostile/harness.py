"""The hostile-input corpus: declare a bad input as data, and the harness proves lbctl refuses it
cleanly.

Every case runs the real command line in its own process (forked from a clean pre-imported
process, :mod:`tests.hostile.zygote`; ``LBCTL_HOSTILE=subprocess`` runs ``python -m lbctl``
instead, which is slower and equivalent), in a fresh directory, with a hermetic environment
(no colour, a wide terminal, ``HOME`` inside the case directory, no ``KUBECONFIG`` or
``LBCTL_STATE`` from the machine), and asserts what a user relies on:

- the exit code is the documented one (``code``);
- stderr is exactly two lines: ``lbctl: error: ...`` containing ``error``, then ``hint: ...``
  containing ``hint``; each at most :data:`MAX_LINE` characters;
- stdout is empty (``stdout=None`` to skip; a string to require exact output);
- no ``Traceback`` anywhere, no ``internal error``;
- nothing changed: every file under the case directory (names, types, modes, bytes, symlink
  targets) is as it was, so no state was written, no temporary or lock file was left; and, when
  the case uses the fake kube-apiserver, its store's resourceVersion did not move (no object was
  created, changed or deleted);
- the command ended within ``timeout`` seconds: a hang is killed and fails the case;
- no string of ``secrets`` appears in stdout or stderr.

Adding cases
------------
Create ``tests/hostile/test_<area>.py``::

    from tests.hostile.harness import Case, File, Link, cases_test

    CASES = [
        Case("interval-nan", ["arp", "announce", "10.0.0.1", "--interval", "nan"],
             code=2, error="--interval", hint="a number"),
        Case("state-is-a-directory", ["pool", "list", "--state", "{tmp}/dir"],
             files={"dir": Dir()}, code=4, error="not a regular file"),
    ]

    test_numbers = cases_test("numbers", CASES)

The first argument of :func:`cases_test` is the category the case counts under (a case may
override it with ``category=``).  ``python -m tests.hostile`` prints the corpus size by category;
``pytest tests/hostile`` prints it at the end too.

In ``argv``, ``files`` (names, text contents, link targets), ``env``, ``stdin`` text, ``error``
and ``hint`` these placeholders are replaced: ``{tmp}`` the case directory (the command's
working directory), ``{state}`` ``{tmp}/lb.yaml`` (written from ``state=`` when given),
``{kubeconfig}`` ``{tmp}/kubeconfig`` and ``{server}`` the fake apiserver's URL (when the case
uses it).
Only these exact tokens are replaced, so YAML flow mappings (``{a: 1}``) are safe.

A case uses the fake apiserver when ``kube=True`` or it gives ``objects`` (stored first) or
``cluster_state`` (the text of the state ConfigMap ``kube-system/lbctl-state``).  The harness
writes a kubeconfig for it at ``{kubeconfig}`` (unless ``files`` has a ``kubeconfig`` of the
case's own, which may use ``{server}``) and sets ``KUBECONFIG`` to it (unless ``env`` does).
``setup`` receives the server before the command runs (``server.inject(...)``, ``deny(...)``).

A case that is accepted (``code=0``) may set ``error=None`` and ``unchanged=False`` and check the
result with ``check(tmp, server, result)``.  ``unprivileged=True`` makes the command obey file
permission bits even when the tests run as root (it drops CAP_DAC_OVERRIDE and friends), so a
``File(mode=0o000)`` cannot be read and a ``Dir(0o555)`` cannot be written.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.zygote import drop_file_capabilities
from tests.kubefake.server import FakeKubeServer

ROOT = Path(__file__).resolve().parents[2]
#: A message or hint line longer than this is not "one line" a person can read.
MAX_LINE = 500
#: Default bound on one command, generous for a loaded 2-core machine.
TIMEOUT = 10.0
STATE_NAME = "lb.yaml"
KUBECONFIG_NAME = "kubeconfig"
STATE_CONFIGMAP = ("kube-system", "lbctl-state", "state.yaml")


# --- what a case may create -------------------------------------------------------------------


@dataclass(frozen=True)
class File:
    """A regular file with ``content`` (text gets placeholders) and ``mode``."""

    content: str | bytes = ""
    mode: int = 0o644


@dataclass(frozen=True)
class Link:
    """A symbolic link to ``target`` (placeholders replaced; need not exist)."""

    target: str


@dataclass(frozen=True)
class Dir:
    """An (empty) directory with ``mode``."""

    mode: int = 0o755


@dataclass(frozen=True)
class Fifo:
    """A named pipe nobody writes to: reading it blocks forever."""


FileSpec = str | bytes | File | Link | Dir | Fifo


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str
    seconds: float
    #: The command did not end within the case's timeout and was killed.
    timed_out: bool = False


@dataclass(frozen=True)
class Case:
    """One hostile input and the refusal it must get.  See the module docstring."""

    id: str
    argv: Sequence[str]
    code: int
    error: str | None
    hint: str = ""
    category: str = ""
    files: Mapping[str, FileSpec] = field(default_factory=dict)
    state: str | bytes | None = None
    stdin: str | bytes | None = None
    stdin_path: str | None = None
    env: Mapping[str, str | None] = field(default_factory=dict)
    kube: bool = False
    objects: Sequence[Mapping[str, Any]] = ()
    cluster_state: str | None = None
    setup: Callable[[FakeKubeServer], None] | None = None
    timeout: float = TIMEOUT
    unchanged: bool = True
    stdout: str | None = ""
    secrets: Sequence[str] = ()
    unprivileged: bool = False
    check: Callable[[Path, FakeKubeServer | None, Result], None] | None = None
    entry: str = "lbctl.cli.main:run"
    #: A known defect, owned elsewhere: the case is expected to fail (strictly: when the defect
    #: is fixed the case passes, the run fails, and this field must be removed).
    xfail: str | None = None

    @property
    def uses_kube(self) -> bool:
        return self.kube or bool(self.objects) or self.cluster_state is not None


#: Every case of every test module, by category (filled as the modules are imported).
REGISTRY: dict[str, list[Case]] = {}


def cases_test(category: str, cases: Sequence[Case]) -> Callable[..., None]:
    """A pytest test function running each of ``cases`` (ids: the case ids), registered under
    ``category`` for the corpus count."""
    filled = [replace(c, category=c.category or category) for c in cases]
    ids = [c.id for c in filled]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"duplicate hostile case ids in {category}: {duplicates}"
    for case in filled:
        REGISTRY.setdefault(case.category, []).append(case)

    params = [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)]
                           if c.xfail else []) for c in filled]

    @pytest.mark.parametrize("case", params)
    def test(case: Case, hostile: Runner) -> None:
        hostile.check(case)

    test.__doc__ = f"Hostile inputs, {category}: refused cleanly, nothing changed, in time."
    return test


# --- running one command ----------------------------------------------------------------------


class Zygote:
    """The parent side of :mod:`tests.hostile.zygote`."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.hostile.zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
            env={**_base_env(), "PYTHONPATH": str(ROOT)},
        )
        self._buffer = b""
        message = self._read(time.monotonic() + 120)
        assert message == {"ready": 1}, message

    def _read(self, deadline: float | None) -> dict[str, int] | None:
        """The next message, or None when ``deadline`` passed first."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError("the hostile-case zygote died")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        message: dict[str, int] = json.loads(line)
        return message

    def run(self, request: dict[str, Any], timeout: float) -> tuple[int, bool]:
        """Exit status and whether the command was killed for taking longer than ``timeout``."""
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()
        started = self._read(None)
        assert started is not None
        pid = started["pid"]
        done = self._read(time.monotonic() + timeout)
        if done is not None:
            return done["status"], False
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        done = self._read(None)
        assert done is not None
        return done["status"], True

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


#: Runs ``module:function`` (argv[1], argv[2]) on the rest of argv, as the entry point does.
_RUN_ENTRY = ("import importlib, sys; "
              "sys.exit(getattr(importlib.import_module(sys.argv[1]), sys.argv[2])(sys.argv[3:]))")


def _subprocess_run(request: dict[str, Any], timeout: float) -> tuple[int, bool]:
    """The slow, obviously faithful way: ``python -m lbctl ARGV`` (another entry, as
    ``python -c``)."""
    command = [sys.executable, "-m", "lbctl", *request["argv"]]
    env = request["env"]
    if request["entry"] != "lbctl.cli.main:run":
        module, _, name = request["entry"].partition(":")
        command = [sys.executable, "-c", _RUN_ENTRY, module, name, *request["argv"]]
        env = {**env, "PYTHONPATH": str(ROOT)}
    with ExitStack() as files:
        stdin = files.enter_context(open(request["stdin"], "rb"))
        stdout = files.enter_context(open(request["stdout"], "wb"))
        stderr = files.enter_context(open(request["stderr"], "wb"))
        proc = subprocess.Popen(
            command, stdin=stdin, stdout=stdout, stderr=stderr, cwd=request["cwd"], env=env,
            preexec_fn=drop_file_capabilities if request["unprivileged"] else None,
            start_new_session=True,
        )
        try:
            return proc.wait(timeout=timeout), False
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(), True


def _base_env() -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "NO_COLOR": "1",
        "COLUMNS": "200",
        "TERM": "dumb",
    }


# --- what "unchanged" means -------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under ``root`` (not following links): type, permission bits, content hash or
    link target."""
    seen: dict[str, tuple[object, ...]] = {}
    for directory, dirs, names in os.walk(root):
        for name in sorted(dirs + names):
            path = os.path.join(directory, name)
            info = os.lstat(path)
            key = os.path.relpath(path, root)
            mode = stat.S_IMODE(info.st_mode)
            if stat.S_ISREG(info.st_mode):
                try:
                    with open(path, "rb") as handle:
                        digest = hashlib.sha256(handle.read()).hexdigest()
                except PermissionError:  # not running as root: compare by size and time
                    digest = f"unreadable, modified {info.st_mtime_ns}"
                seen[key] = ("file", mode, info.st_size, digest)
            elif stat.S_ISLNK(info.st_mode):
                seen[key] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                seen[key] = ("dir", mode)
            else:
                seen[key] = ("other", stat.S_IFMT(info.st_mode), mode)
    return seen


def _describe_changes(before: Mapping[str, object], after: Mapping[str, object]) -> str:
    lines = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            lines.append(f"  {key}: {before.get(key, 'absent')} -> {after.get(key, 'absent')}")
    return "\n".join(lines)


# --- the runner -------------------------------------------------------------------------------


class Runner:
    """Runs cases; one per test worker (the ``hostile`` fixture)."""

    def __init__(self, mode: str = "zygote") -> None:
        self.mode = mode
        self._zygote: Zygote | None = None

    def close(self) -> None:
        if self._zygote is not None:
            self._zygote.close()

    def _launch(self, request: dict[str, Any], timeout: float) -> tuple[int, bool]:
        if self.mode == "subprocess":
            return _subprocess_run(request, timeout)
        if self._zygote is None or self._zygote.proc.poll() is not None:
            self._zygote = Zygote()
        return self._zygote.run(request, timeout)

    def check(self, case: Case) -> Result:
        """Run ``case`` and assert everything the module docstring promises."""
        with _workspace(case) as (tmp, io_dir, server):
            before = snapshot(tmp)
            server_version = server.store.resource_version if server else None
            result = self._execute(case, tmp, io_dir, server)
            context = (
                f"\n$ lbctl {' '.join(_fill(a, tmp, server) for a in case.argv)}"
                f"\nexit {result.code} after {result.seconds:.2f}s"
                f"\n--- stdout\n{result.out}--- stderr\n{result.err}---"
            )
            assert not result.timed_out, f"hung: killed after {case.timeout}s{context}"
            _assert_clean(replace(case, error=case.error and _fill(case.error, tmp, server),
                                  hint=_fill(case.hint, tmp, server)), result, context)
            if case.unchanged:
                after = snapshot(tmp)
                assert after == before, (
                    f"files changed:\n{_describe_changes(before, after)}{context}"
                )
                if server is not None:
                    assert server.store.resource_version == server_version, (
                        f"the apiserver's objects changed{context}"
                    )
            if case.check is not None:
                case.check(tmp, server, result)
            return result

    def _execute(self, case: Case, tmp: Path, io_dir: Path,
                 server: FakeKubeServer | None) -> Result:
        stdin = str(io_dir / "stdin")
        if case.stdin_path is not None:
            stdin = _fill(case.stdin_path, tmp, server)
        else:
            data = case.stdin if case.stdin is not None else b""
            if isinstance(data, str):
                data = _fill(data, tmp, server).encode()
            (io_dir / "stdin").write_bytes(data)
        env = {**_base_env(), "HOME": str(tmp / "home")}
        if server is not None:
            env["KUBECONFIG"] = str(tmp / KUBECONFIG_NAME)
        for key, value in case.env.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = _fill(value, tmp, server)
        request = {
            "argv": [_fill(a, tmp, server) for a in case.argv],
            "cwd": str(tmp),
            "env": env,
            "stdin": stdin,
            "stdout": str(io_dir / "stdout"),
            "stderr": str(io_dir / "stderr"),
            "unprivileged": case.unprivileged,
            "entry": case.entry,
        }
        started = time.monotonic()
        code, killed = self._launch(request, case.timeout)
        seconds = time.monotonic() - started
        out = (io_dir / "stdout").read_bytes().decode("utf-8", "backslashreplace")
        err = (io_dir / "stderr").read_bytes().decode("utf-8", "backslashreplace")
        return Result(code, out, err, seconds, timed_out=killed)


def _assert_clean(case: Case, result: Result, context: str) -> None:
    for text in (result.out, result.err):
        assert "Traceback" not in text, f"a traceback was printed{context}"
    assert "internal error" not in result.err, f"an untranslated exception{context}"
    for secret in case.secrets:
        assert secret not in result.out and secret not in result.err, (
            f"a secret was printed: {secret!r}{context}"
        )
    assert result.code == case.code, f"exit {result.code}, expected {case.code}{context}"
    if case.stdout is not None:
        assert result.out == case.stdout, f"unexpected stdout{context}"
    if case.error is None:
        assert "error:" not in result.err, f"an error was reported{context}"
        return
    lines = result.err.splitlines()
    assert len(lines) == 2, f"stderr is not one error line and one hint line{context}"
    message, hint = lines
    assert message.startswith("lbctl: error: "), f"no 'lbctl: error:' line{context}"
    assert hint.startswith("hint: "), f"no 'hint:' line{context}"
    assert case.error in message, f"the error does not say {case.error!r}{context}"
    assert case.hint in hint, f"the hint does not say {case.hint!r}{context}"
    for line in lines:
        assert len(line) <= MAX_LINE, f"a line of {len(line)} characters{context}"


def _fill(text: str, tmp: Path, server: FakeKubeServer | None) -> str:
    text = text.replace("{tmp}", str(tmp)).replace("{state}", str(tmp / STATE_NAME))
    text = text.replace("{kubeconfig}", str(tmp / KUBECONFIG_NAME))
    if server is not None:
        text = text.replace("{server}", server.url)
    return text


@contextmanager
def _workspace(case: Case) -> Iterator[tuple[Path, Path, FakeKubeServer | None]]:
    """The case directory with its files, a directory for the harness's own files, and the fake
    apiserver when the case uses one; all removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="lbctl-hostile-"))
    server: FakeKubeServer | None = None
    try:
        tmp, io_dir = root / "case", root / "io"
        tmp.mkdir()
        io_dir.mkdir()
        (tmp / "home").mkdir()
        if case.uses_kube:
            server = FakeKubeServer().start()
            for obj in case.objects:
                server.put_object(dict(obj))
            if case.cluster_state is not None:
                namespace, name, key = STATE_CONFIGMAP
                server.put_object({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": namespace},
                    "data": {key: case.cluster_state},
                })
            if KUBECONFIG_NAME not in case.files:
                server.write_kubeconfig(tmp / KUBECONFIG_NAME)
            if case.setup is not None:
                case.setup(server)
        if case.state is not None:
            _create(tmp / STATE_NAME, File(case.state), tmp, server)
        for name, spec in case.files.items():
            _create(tmp / name, spec, tmp, server)
        yield tmp, io_dir, server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _create(path: Path, spec: FileSpec, tmp: Path, server: FakeKubeServer | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(spec, (str, bytes)):
        spec = File(spec)
    if isinstance(spec, File):
        content = spec.content
        if isinstance(content, str):
            content = _fill(content, tmp, server).encode()
        path.write_bytes(content)
        path.chmod(spec.mode)
    elif isinstance(spec, Link):
        path.symlink_to(_fill(spec.target, tmp, server))
    elif isinstance(spec, Dir):
        path.mkdir(exist_ok=True)
        path.chmod(spec.mode)
    elif isinstance(spec, Fifo):
        os.mkfifo(path)
    else:  # pragma: no cover - a typo in a case
        raise TypeError(f"not a file spec: {spec!r}")
