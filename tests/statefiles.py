"""Looking into a state file the way lbctl does, whatever its form (ConfigMap manifest or bare)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lbctl.core.statefile import unwrap


def document_text(path: str | Path) -> str:
    """The state document in the file at ``path``."""
    text, _ = unwrap(Path(path).read_text(), str(path))
    assert text is not None
    return text


def document(path: str | Path) -> Any:
    """The state document in the file at ``path``, parsed."""
    return yaml.safe_load(document_text(path))
