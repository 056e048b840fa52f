"""The processes (lbctl/cli/entry.py): a one-shot command runs without the cyclic garbage
collector and leaves without the interpreter's teardown, with its full output and its exit
code; a long-running command, a failed flush or a thread still running take the ordinary exit."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lbctl.cli import entry
from lbctl.cli.main import LONG_RUNNING, load_command

WATCHED = entry._watched

#: Runs the ``lbctl`` entry point on the command line after ``--``, with two witnesses on
#: stderr: a line per garbage collection that starts once lbctl is running, and a line from an
#: exit handler, which only the interpreter's ordinary exit runs.
PROCESS = (
    "import atexit, gc, sys\n"
    "from lbctl.cli.entry import main\n"
    "gc.callbacks.append(lambda phase, _: phase == 'start' and sys.stderr.write('collected\\n'))\n"
    "atexit.register(lambda: sys.stderr.write('torn down\\n'))\n"
    "sys.argv = ['lbctl', *sys.argv[1:]]\n"
    "main()\n"
)
#: ``PROCESS`` as a terminal's foreground command starts, with Ctrl-C raising
#: KeyboardInterrupt.  A child inherits an ignored SIGINT, and Python then leaves it ignored:
#: a suite started in the background by a script (``pytest ... &``: the shell ignores SIGINT in
#: its background jobs) had lbctl ignore the test's Ctrl-C, which ran into the client's
#: timeouts (30 s, read twice) and exited 7, unreachable, after a minute, as ``lbctl svc list &``
#: rightly does.
INTERRUPTIBLE = ("import signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
                 + PROCESS)


def _lbctl(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "LBCTL_STATE")}
    return subprocess.run([sys.executable, "-c", PROCESS, *args], capture_output=True,
                          text=True, env={**env, "NO_COLOR": "1"}, timeout=120)


def test_a_one_shot_command_collects_nothing_and_skips_the_teardown_with_all_its_output(
    kube_server: Any, kubeconfig: Path
) -> None:
    """300 Services as JSON through a pipe: every byte arrives (the output is flushed before
    the process leaves), no collection ran, no exit handler ran, exit 0."""
    for i in range(300):
        kube_server.put_object({"apiVersion": "v1", "kind": "Service",
                                "metadata": {"name": f"web-{i:03}", "namespace": "shop"},
                                "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})
    done = _lbctl("svc", "list", "-A", "-o", "json", "--kubeconfig", str(kubeconfig))
    assert (done.returncode, done.stderr) == (0, "")
    items = json.loads(done.stdout)["items"]
    assert [item["name"] for item in items] == [f"web-{i:03}" for i in range(300)]


#: Seconds the server keeps a request unanswered in the Ctrl-C test.
SILENT = 3600.0


@pytest.mark.parametrize("slow", [("services",), ("services", "configmaps")],
                         ids=["list", "list-and-state"])
def test_ctrl_c_ends_svc_list_at_once_with_130_and_no_traceback(
    kube_server: Any, kubeconfig: Path, slow: tuple[str, ...]
) -> None:
    """A server that does not answer (the LIST, or the LIST and the state's read): Ctrl-C ends
    ``svc list`` at once, whichever read it interrupts, with exit 130 and, as kubectl, nothing
    else (no traceback; the terminal shows the ^C).  "At once" is "before the server answers":
    it answers after an hour, so no wall-clock bound decides it (the ones below only keep a
    broken lbctl from hanging the suite, and leave room for a loaded machine)."""
    for plural in slow:
        kube_server.inject(SILENT, method="GET", path=f"/{plural}", times=None)
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "LBCTL_STATE")}
    process = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTIBLE, "svc", "list", "-A", "--kubeconfig",
         str(kubeconfig)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**env, "NO_COLOR": "1"})
    try:
        deadline = time.monotonic() + SILENT / 4
        while not all(any(r.path.endswith(f"/{plural}") or f"/{plural}/" in r.path
                          for r in kube_server.requests) for plural in slow):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "lbctl never asked"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=SILENT / 4)  # long before an answer
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert (process.returncode, stdout, stderr) == (130, "", "")


def test_a_failing_command_keeps_its_exit_code_and_its_message(tmp_path: Path) -> None:
    state = tmp_path / "lb.yaml"
    done = _lbctl("pool", "show", "nosuch", "--state", str(state))
    assert (done.returncode, done.stdout) == (3, "")
    assert done.stderr.splitlines() == [
        "lbctl: error: pool nosuch not found (pools: none)",
        f"hint: lbctl --state {state} pool list shows the pools",
    ]


def test_output_to_a_full_disk_is_refused_with_its_reason_not_called_a_bug(
    tmp_path: Path
) -> None:
    """``-o json > FILE`` on a full disk (``/dev/full``): one line saying so, exit 4; the
    state was written before the output (``pool add`` keeps its pool)."""
    state = tmp_path / "lb.yaml"
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "LBCTL_STATE")}
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-c", PROCESS, "pool", "add", "web", "192.0.2.0/28", "-o", "json",
             "--state", str(state)],
            stdout=full, stderr=subprocess.PIPE, text=True, env={**env, "NO_COLOR": "1"},
            timeout=120)
    assert done.returncode == 4
    assert done.stderr.splitlines() == [
        "lbctl: error: cannot write the output: No space left on device",
        "hint: free space where the output goes, or send it elsewhere",
    ]
    assert "web:" in state.read_text()


def _run(*args: str, **streams: Any) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "LBCTL_STATE")}
    return subprocess.run([sys.executable, "-c", PROCESS, *args], text=True, timeout=120,
                          env={**env, "NO_COLOR": "1"}, **streams)


def _pools(tmp_path: Path, count: int) -> str:
    """A state file with ``count`` pools: ``pool list`` prints a line for each."""
    state = tmp_path / "lb.yaml"
    state.write_text("schemaVersion: 1\npools:\n" + "".join(
        f"  p{i:04d}: {{addresses: [10.{i // 250}.{i % 250}.0/24]}}\n" for i in range(count)))
    return str(state)


def test_messages_that_cannot_be_written_are_dropped_and_the_exit_code_still_tells(
        tmp_path: Path) -> None:
    """``2>/dev/full``: a message lbctl cannot write does not change how the command ends (a
    success stays 0 with its output; an error keeps its code), as coreutils do."""
    state = _pools(tmp_path, 1)
    with open("/dev/full", "w") as full:
        listed = _run("pool", "list", "--state", state, "--no-headers", "--warn-me",
                      stdout=subprocess.PIPE, stderr=full)
        assert (listed.returncode, listed.stdout) == (2, "")  # the usage error, unsaid
        listed = _run("pool", "show", "nope", "--state", state,
                      stdout=subprocess.PIPE, stderr=full)
        assert (listed.returncode, listed.stdout) == (3, "")
        added = _run("pool", "add", "web", "192.0.2.0/28", "--state", state,
                     stdout=subprocess.PIPE, stderr=full)
    assert (added.returncode, added.stdout) == (0, "pool/web created\n")
    closed = _run("pool", "show", "nope", "--state", state, stdout=subprocess.PIPE,
                  stderr=subprocess.DEVNULL, preexec_fn=lambda: os.close(2))
    assert (closed.returncode, closed.stdout) == (3, "")


def test_a_closed_stdout_is_refused_with_its_reason_not_called_a_bug(tmp_path: Path) -> None:
    """``>&-``: nothing can be printed; one line on stderr says so, exit 4."""
    done = _run("pool", "list", "--state", _pools(tmp_path, 1), stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, preexec_fn=lambda: os.close(1))
    assert done.returncode == 4
    assert [line for line in done.stderr.splitlines() if line != "torn down"] == [
        "lbctl: error: cannot write the output: standard output is closed",
        "hint: send the output somewhere it can be written",
    ]


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_output_into_a_pipe_nobody_reads_ends_silently_by_sigpipe(tmp_path: Path,
                                                                  fmt: str) -> None:
    """``lbctl pool list | head -1`` once head has gone: lbctl stops at once and says
    nothing, killed by SIGPIPE as coreutils and kubectl are (a shell shows 141)."""
    read, write = os.pipe()
    os.close(read)  # the reader went away before lbctl wrote
    try:
        done = _run("pool", "list", "--state", _pools(tmp_path, 2000), "-o", fmt,
                    stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (-signal.SIGPIPE, "")


def test_a_long_running_command_gets_the_collector_back_and_exits_the_ordinary_way() -> None:
    """Building ``controller`` (here for its help) turns the collector on again: the process
    then exits as any Python program does, exit handlers included."""
    done = _lbctl("controller", "--help")
    assert done.returncode == 0
    assert "Usage: lbctl controller" in done.stdout
    assert "torn down" in done.stderr.splitlines()


def test_shell_completion_leaves_the_fast_way_with_its_answer() -> None:
    env = {**os.environ, "_LBCTL_COMPLETE": "complete_bash", "COMP_WORDS": "lbctl pool re",
           "COMP_CWORD": "2"}
    done = subprocess.run([sys.executable, "-c", PROCESS], capture_output=True, text=True,
                          env=env, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.split() == ["remove", "reserve"]


@pytest.mark.parametrize("name", sorted(LONG_RUNNING))
def test_building_a_long_running_command_turns_the_collector_on(name: str) -> None:
    gc.disable()
    try:
        load_command(name)
        assert gc.isenabled()
    finally:
        gc.enable()


# ------------------------------------------------------------------ how _leave chooses, in-process


class _Left(Exception):
    def __init__(self, how: str, code: object) -> None:
        super().__init__(how, code)
        self.how, self.code = how, code


@pytest.fixture
def leaving(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``os._exit`` and ``sys.exit`` raise :class:`_Left` naming which one ended the process;
    the collector is off, as the entry points leave it, and on again afterwards."""

    def hard(code: int) -> None:
        raise _Left("fast", code)

    def ordinary(code: object = None) -> None:
        raise _Left("ordinary", code)

    monkeypatch.setattr(entry.os, "_exit", hard)
    monkeypatch.setattr(entry.sys, "exit", ordinary)
    monkeypatch.setattr(entry, "_watched", lambda: False)  # pytest may run under coverage
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _left(command: Any) -> tuple[str, object]:
    with pytest.raises(_Left) as left:
        entry._leave(command)
    return left.value.how, left.value.code


def test_leave_takes_the_fast_way_with_the_command_s_code(leaving: None) -> None:
    assert _left(lambda: 4) == ("fast", 4)


def test_leave_takes_the_exit_code_of_a_systemexit(leaving: None) -> None:
    def completion() -> int:
        raise SystemExit(2)

    def plain() -> int:
        raise SystemExit()

    assert _left(completion) == ("fast", 2)
    assert _left(plain) == ("fast", 0)


def test_leave_ends_a_ctrl_c_it_sees_with_130(leaving: None) -> None:
    """Ctrl-C while lbctl is being imported (before ``run`` can catch it): exit 130, no
    traceback."""
    def importing() -> int:
        raise KeyboardInterrupt

    assert _left(importing) == ("fast", 130)


def test_leave_lets_a_systemexit_with_a_message_through(leaving: None) -> None:
    def message() -> int:
        raise SystemExit("no such thing")

    with pytest.raises(SystemExit, match="no such thing"):
        entry._leave(message)


def test_leave_takes_the_ordinary_way_with_the_collector_on(leaving: None) -> None:
    gc.enable()
    assert _left(lambda: 0) == ("ordinary", 0)


def test_leave_takes_the_ordinary_way_while_a_thread_runs(leaving: None) -> None:
    release = threading.Event()
    worker = threading.Thread(target=release.wait)
    worker.start()
    try:
        assert _left(lambda: 0) == ("ordinary", 0)
    finally:
        release.set()
        worker.join()
    assert _left(lambda: 0) == ("fast", 0)


def test_leave_takes_the_ordinary_way_when_the_output_cannot_be_flushed(
    leaving: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Closed:
        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(entry.sys, "stdout", Closed())
    assert _left(lambda: 0) == ("ordinary", 0)
    monkeypatch.setattr(entry.sys, "stdout", None)
    assert _left(lambda: 1) == ("ordinary", 1)



def test_leave_takes_the_ordinary_way_under_a_profiler_or_a_debugger(
    leaving: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m cProfile -m lbctl ...`` and coverage write their results at exit."""
    monkeypatch.setattr(entry, "_watched", WATCHED)
    previous = sys.getprofile()
    sys.setprofile(lambda *_: None)
    try:
        assert _left(lambda: 0) == ("ordinary", 0)
    finally:
        sys.setprofile(previous)
