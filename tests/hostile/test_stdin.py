"""Hostile stdin, for every command that reads manifests from ``-f -``: bytes that are not
UTF-8, NUL characters, YAML that does not parse, documents that are not objects, and an endless
stream (``/dev/zero``).  Each is refused with the position or the reason (exit 2; an import
that finds nothing to import, 3), bounded in time, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tests.hostile.harness import Case, cases_test

STATE = """\
schemaVersion: 1
pools:
  web:
    addresses: [10.0.0.0/29]
"""

COMMANDS: dict[str, Sequence[str]] = {
    "assign": ["assign", "-f", "-", "--state", "{state}"],
    "assign-dry-run": ["assign", "-f", "-", "--state", "{state}", "--dry-run"],
    "doctor": ["doctor", "-f", "-", "--state", "{state}"],
    "kube-proxy-diff": ["kube-proxy", "diff", "-f", "-"],
    "import-metallb": ["pool", "import", "metallb", "-f", "-", "--state", "{state}"],
    "import-kube-vip": ["pool", "import", "kube-vip", "-f", "-", "--state", "{state}"],
}
MANIFEST_READERS = ("assign", "assign-dry-run", "doctor", "import-metallb", "import-kube-vip")


@dataclass(frozen=True)
class Input:
    name: str
    data: bytes | None  # None: /dev/zero
    error: str
    commands: Sequence[str] = tuple(COMMANDS)
    code: int = 2


INPUTS = [
    Input("not-utf8", b"\xff\xfekind: Service\n", "stdin is not UTF-8 text"),
    Input("latin1", "metadata: {name: caf\xe9}\n".encode("latin-1"), "stdin is not UTF-8 text"),
    Input("nul-character", b"kind: a\x00b\n", "stdin:1:8: not valid YAML"),
    Input("unclosed-flow", b"{a: [}\n", "stdin:1:6: not valid YAML"),
    Input("bad-indentation", b"a:\n  b: 1\n c: 2\n", "stdin:3:"),
    Input("tab-indentation", b"a:\n\tb: 1\n", "stdin:2:"),
    Input("endless", None, "stdin is longer than"),
    Input("a-list", b"[1, 2]\n", "stdin:1:1: document 1 is a list, not a Kubernetes object",
          commands=MANIFEST_READERS),
    Input("a-number", b"42\n", "stdin:1:1: document 1 is a number, not a Kubernetes object",
          commands=MANIFEST_READERS),
    Input("a-string", b"--- hello\n", "document 1 is a", commands=MANIFEST_READERS),
    Input("second-document-a-list", b"kind: ConfigMap\napiVersion: v1\nmetadata: {name: a}\n"
          b"---\n- x\n", "document 2 is a list", commands=MANIFEST_READERS),
    Input("no-kube-proxy-configuration", b"[1, 2]\n", "stdin holds no KubeProxyConfiguration",
          commands=("kube-proxy-diff",)),
    Input("empty-kube-proxy", b"", "stdin holds no KubeProxyConfiguration",
          commands=("kube-proxy-diff",)),
    Input("empty-import", b"", "address pools in stdin", code=3,
          commands=("import-metallb", "import-kube-vip")),
]


def _cases() -> list[Case]:
    found = []
    for given in INPUTS:
        for name in given.commands:
            found.append(Case(
                f"{given.name}-{name}", COMMANDS[name], code=given.code, error=given.error,
                state=STATE, stdin=given.data,
                stdin_path="/dev/zero" if given.data is None else None,
                timeout=30.0,
            ))
    return found


test_stdin = cases_test("stdin", _cases())
