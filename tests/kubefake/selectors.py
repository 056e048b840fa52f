"""Label and field selectors with the API server's grammar and semantics.

Owns parsing of ``labelSelector`` (``=``, ``==``, ``!=``, ``in``, ``notin``, ``key``, ``!key``,
comma-joined) and ``fieldSelector`` (``=``, ``==``, ``!=`` on the fields a resource supports)
into predicates over objects.  It does not know about HTTP or storage.

Error policy: a malformed selector or an unsupported field raises :class:`status.ApiError` 400
``BadRequest`` with the real server's wording (``field label not supported: spec.type``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any

from tests.kubefake.status import ApiError, bad_request

Predicate = Callable[[dict[str, Any]], bool]

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_KEY_RE = re.compile(rf"({_PREFIX}/)?{_NAME}")
_VALUE_RE = re.compile(rf"({_NAME})?")
_TOKEN_RE = re.compile(r"==|!=|=|!|\(|\)|,|[^\s=!(),]+")


def _tokens(text: str) -> list[str]:
    # Every non-blank character belongs to some token, so findall loses nothing but blanks.
    return _TOKEN_RE.findall(text)


def _parse_error(text: str, why: str) -> ApiError:
    return bad_request(f"unable to parse requirement: {why}: {text!r}")


def _check_key(key: str, text: str) -> str:
    name = key.rpartition("/")[2]
    if not _KEY_RE.fullmatch(key) or len(name) > 63:
        raise _parse_error(text, f"invalid label key {key!r}")
    return key


def _check_value(value: str, text: str) -> str:
    if not _VALUE_RE.fullmatch(value) or len(value) > 63:
        raise _parse_error(text, f"invalid label value {value!r}")
    return value


def parse_label_selector(text: str) -> Predicate:
    """A predicate on an object's ``metadata.labels``; the empty selector matches everything."""
    tokens = _tokens(text)
    requirements: list[tuple[str, str, frozenset[str]]] = []  # (key, operator, values)
    pos = 0

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise _parse_error(text, "unexpected end of selector")
        pos += 1
        return tokens[pos - 1]

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    while pos < len(tokens):
        token = take()
        if token == "!":
            requirements.append((_check_key(take(), text), "absent", frozenset()))
        else:
            key = _check_key(token, text)
            op = peek()
            if op in (None, ","):
                requirements.append((key, "present", frozenset()))
            elif op in ("=", "==", "!="):
                take()
                value = "" if peek() in (None, ",") else _check_value(take(), text)
                requirements.append((key, "notin" if op == "!=" else "in", frozenset([value])))
            elif op in ("in", "notin"):
                take()
                requirements.append((key, op, _value_set(take, peek, text)))
            else:
                raise _parse_error(text, f"unexpected {op!r} after {key!r}")
        if pos < len(tokens) and take() != ",":
            raise _parse_error(text, "expected ','")
        if pos == len(tokens) and tokens[-1] == ",":
            raise _parse_error(text, "trailing ','")

    def matches(obj: dict[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(_satisfied(labels, *requirement) for requirement in requirements)

    return matches


def _satisfied(labels: dict[str, str], key: str, operator: str, values: frozenset[str]) -> bool:
    if operator == "present":
        return key in labels
    if operator == "absent":
        return key not in labels
    if operator == "in":
        return labels.get(key) in values
    return labels.get(key) not in values  # notin and != also match objects without the label


def _value_set(
    take: Callable[[], str], peek: Callable[[], str | None], text: str
) -> frozenset[str]:
    if take() != "(":
        raise _parse_error(text, "expected '(' after in/notin")
    values: set[str] = set()
    while True:
        token = take()
        if token == ")":
            break
        if token == ",":
            continue
        values.add(_check_value(token, text))
        if peek() not in (",", ")"):
            raise _parse_error(text, "expected ',' or ')' in value set")
    if not values:
        raise _parse_error(text, "empty value set")
    return frozenset(values)


def parse_field_selector(text: str, supported: Collection[str]) -> Predicate:
    """A predicate on dotted field paths; only ``supported`` fields are accepted."""
    checks: list[tuple[list[str], str, bool]] = []
    for term in filter(None, (part.strip() for part in text.split(","))):
        match = re.fullmatch(r"([^=!]+?)\s*(==|!=|=)\s*(.*)", term)
        if match is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        field, op, value = match.groups()
        if field not in supported:
            raise bad_request(f"field label not supported: {field}")
        checks.append((field.split("."), value, op == "!="))

    def matches(obj: dict[str, Any]) -> bool:
        return all((_field(obj, path) == value) != negate for path, value, negate in checks)

    return matches


def _field(obj: dict[str, Any], path: list[str]) -> str:
    value: Any = obj
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
