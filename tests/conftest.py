"""Shared test fixtures: a hermetic CLI runner, and the fake kube-apiserver's fixtures.

The runner calls :func:`lbctl.cli.main.run` in-process, through the real error boundary, with a
fixed environment: no colour, a wide terminal, no kubeconfig or state file leaking in from the
machine.  A command that hits the boundary's "internal error" path fails the test outright.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

pytest_plugins = ["tests.kubefake.fixtures"]


@pytest.fixture(autouse=True, scope="session")
def _state_cache_of_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The lbctl processes the tests start keep the state's cache (lbctl.state.cache) in a
    directory of the session, not in the home of whoever runs the tests."""
    before = os.environ.get("LBCTL_CACHE_DIR")
    os.environ["LBCTL_CACHE_DIR"] = str(tmp_path_factory.mktemp("lbctl-cache"))
    yield
    if before is None:
        del os.environ["LBCTL_CACHE_DIR"]
    else:
        os.environ["LBCTL_CACHE_DIR"] = before


@dataclass
class Result:
    code: int
    out: str
    err: str


Cli = Callable[..., Result]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """``cli("pool", "list", "--state", path)`` -> Result(code, out, err)."""
    from lbctl.cli.main import run

    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("TERM", "dumb")
    for name in ("KUBECONFIG", "LBCTL_STATE", "LBCTL_DEBUG", "LBCTL_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        code = run(list(args))
        captured = capsys.readouterr()
        assert "internal error" not in captured.err, captured.err
        return Result(code, captured.out, captured.err)

    return invoke
