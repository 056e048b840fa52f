"""Unified diffs of text, as ``diff -u`` writes them (``patch -p1`` applies the output).

Used for every "what would change" display: the state document under ``--dry-run`` and the
kube-proxy configuration.  Lines keep their own breaks (a CRLF file diffs as CRLF); a last line
without a break gets GNU diff's ``\\ No newline at end of file`` marker.

Pure: no I/O.
"""

from __future__ import annotations

import difflib
import re

_NO_NEWLINE = "\n\\ No newline at end of file\n"
_LINE = re.compile(r"[^\n]*\n|[^\n]+\Z")


def unified_diff(before: str, after: str, label: str) -> str:
    """``diff -u`` of two texts, labelled ``a/<label>`` and ``b/<label>``; "" when equal."""
    out: list[str] = []
    for line in difflib.unified_diff(_LINE.findall(before), _LINE.findall(after),
                                     f"a/{label}", f"b/{label}"):
        out.append(line if line.endswith(("\n", "\r")) else line + _NO_NEWLINE)
    return "".join(out)
