"""``python -m tests.hostile``: the size of the hostile-input corpus, by category."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from tests.hostile.harness import REGISTRY


def main() -> int:
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        importlib.import_module(f"tests.hostile.{path.stem}")
    width = max((len(name) for name in REGISTRY), default=8)
    for name, cases in sorted(REGISTRY.items()):
        print(f"{name:<{width}}  {len(cases):>4}")
    print(f"{'total':<{width}}  {sum(len(c) for c in REGISTRY.values()):>4}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
