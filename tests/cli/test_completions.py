"""Shell completion: the committed scripts match the CLI, and names complete from the state."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Cli

COMPLETIONS = Path(__file__).resolve().parents[2] / "completions"


def _lbctl(env: dict[str, str]) -> str:
    return subprocess.run([sys.executable, "-m", "lbctl"], env={**os.environ, **env},
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize(("shell", "name"),
                         [("bash", "lbctl.bash"), ("zsh", "_lbctl"), ("fish", "lbctl.fish")])
def test_committed_scripts_match_the_cli(shell: str, name: str) -> None:
    generated = _lbctl({"_LBCTL_COMPLETE": f"source_{shell}"})
    assert generated, f"no {shell} script generated"
    assert (COMPLETIONS / name).read_text() == generated, "run completions/generate"


def test_pool_names_complete_from_the_state_file(cli: Cli, tmp_path: Path) -> None:
    state = str(tmp_path / "lb.yaml")
    cli("pool", "add", "default", "10.0.0.0/24", "--state", state)
    cli("pool", "add", "dmz", "10.0.1.0/24", "--state", state)
    cli("pool", "add", "edge", "10.0.2.0/24", "--state", state)
    words = f"lbctl pool show --state {state} d"
    out = _lbctl({"_LBCTL_COMPLETE": "complete_bash", "COMP_WORDS": words,
                  "COMP_CWORD": str(len(words.split()) - 1)})
    assert out.split() == ["default", "dmz"]


def test_namespaces_complete_from_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "lb.yaml"
    state.write_text(
        "schemaVersion: 1\npools:\n  a: {addresses: [10.0.0.0/24]}\n"
        "allocations:\n  shop:\n    web: {ips: [10.0.0.1], pool: a}\n"
        "  staging:\n    web: {ips: [10.0.0.2], pool: a}\n"
        "holds:\n  search:\n    api: {ips: [10.0.0.3], pool: a}\n")
    words = f"lbctl svc list --state {state} -n s"
    out = _lbctl({"_LBCTL_COMPLETE": "complete_bash", "COMP_WORDS": words,
                  "COMP_CWORD": str(len(words.split()) - 1)})
    assert out.split() == ["search", "shop", "staging"]


def test_commands_complete() -> None:
    out = _lbctl({"_LBCTL_COMPLETE": "complete_bash", "COMP_WORDS": "lbctl pool re",
                  "COMP_CWORD": "2"})
    assert out.split() == ["remove", "reserve"]
