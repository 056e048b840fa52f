"""``python -m tests.hostile``: the size of the hostile-input corpus, by category."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from tests.hostile.harness import REGISTRY, Case


def corpus() -> dict[str, list[Case]]:
    """Every registered case, by category (importing every ``test_*.py`` here)."""
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        importlib.import_module(f"tests.hostile.{path.stem}")
    return REGISTRY


def main() -> int:
    cases = corpus()
    width = max((len(name) for name in cases), default=8)
    for name, found in sorted(cases.items()):
        print(f"{name:<{width}}  {len(found):>4}")
    print(f"{'total':<{width}}  {sum(len(c) for c in cases.values()):>4}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
