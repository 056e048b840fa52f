"""Fixtures of the hostile-input corpus: one :class:`~tests.hostile.harness.Runner` per test
worker, and the corpus size by category at the end of a run that included hostile cases."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.hostile.harness import REGISTRY, Case, Runner


@pytest.fixture(scope="session")
def hostile() -> Iterator[Runner]:
    """Runs hostile cases: forked from a pre-imported process, or ``python -m lbctl`` per case
    with ``LBCTL_HOSTILE=subprocess``."""
    runner = Runner(os.environ.get("LBCTL_HOSTILE", "zygote"))
    yield runner
    runner.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tag each hostile case's reports with its category (``user_properties`` travel from
    xdist workers to the controller, unlike other attributes)."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("case") if callspec is not None else None
        if isinstance(case, Case) and case in REGISTRY.get(case.category, ()):
            item.user_properties.append(("hostile_category", case.category))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts: Counter[str] = Counter()
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", None) != "call" and outcome != "skipped":
                continue
            for key, value in getattr(report, "user_properties", ()):
                if key == "hostile_category":
                    counts[str(value)] += 1
    if counts:
        total = sum(counts.values())
        parts = ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))
        terminalreporter.write_line(f"hostile corpus: {total} cases run ({parts})")
