"""Kubernetes label selectors as text: parse, normalise, match.

Grammar (as ``kubectl -l``): requirements separated by commas, all of which must hold:
``key=value``, ``key==value``, ``key!=value``, ``key in (a,b)``, ``key notin (a,b)``, ``key``
(exists) and ``!key`` (does not exist).  A pool stores selectors in their normalised text form,
so the state document stays readable and diffs stay small.

Pure: no I/O.  A malformed selector raises :class:`lbctl.errors.UsageError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from lbctl.errors import UsageError

_KEY = r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_KEY_RE = re.compile(_KEY + r"\Z")
_VALUE_RE = re.compile(_VALUE + r"\Z")
_SET_RE = re.compile(r"\s*(\S+)\s+(in|notin)\s*\(([^)]*)\)\s*\Z")


@dataclass(frozen=True)
class Requirement:
    """One requirement of a selector: ``key``, its operator and the values it names."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values  # "!=", "notin"

    def __str__(self) -> str:
        if self.op == "exists":
            return self.key
        if self.op == "!exists":
            return "!" + self.key
        if self.op in ("=", "!="):
            return f"{self.key}{self.op}{self.values[0]}"
        return f"{self.key} {self.op} ({','.join(self.values)})"


@dataclass(frozen=True)
class Selector:
    """A label selector: labels match it when they meet every requirement."""

    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def parse_selector(text: str) -> Selector:
    """Parse a selector; the result's ``str()`` is its normalised form."""
    parts = _split_top_level(text)
    if not parts or any(not p.strip() for p in parts):
        raise UsageError(f"empty requirement in selector {text!r}",
                         hint="example: app=web,tier!=db")
    return Selector(tuple(sorted((_parse_requirement(p, text) for p in parts), key=str)))


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside ``( )``."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _parse_requirement(part: str, whole: str) -> Requirement:
    part = part.strip()
    set_match = _SET_RE.match(part)
    if set_match:
        key, op, raw_values = set_match.groups()
        values = tuple(sorted({v.strip() for v in raw_values.split(",")}))
        for value in values:
            _check(_VALUE_RE, value, "value", whole)
        return Requirement(_check(_KEY_RE, key, "key", whole), op, values)
    for op_text, op in (("!=", "!="), ("==", "="), ("=", "=")):
        if op_text in part:
            key, _, value = part.partition(op_text)
            return Requirement(
                _check(_KEY_RE, key.strip(), "key", whole),
                op,
                (_check(_VALUE_RE, value.strip(), "value", whole),),
            )
    if part.startswith("!"):
        return Requirement(_check(_KEY_RE, part[1:].strip(), "key", whole), "!exists")
    return Requirement(_check(_KEY_RE, part, "key", whole), "exists")


def _check(pattern: re.Pattern[str], text: str, what: str, whole: str) -> str:
    if not pattern.match(text) or len(text.rpartition("/")[2]) > 63:
        raise UsageError(
            f"invalid label {what} {text!r} in selector {whole!r}",
            hint="example: app=web,tier in (frontend,api),!canary",
        )
    return text
