"""The three PATCH flavours the API server accepts for built-in types.

* JSON merge patch (RFC 7386): maps merge, ``null`` deletes, everything else replaces.
* Strategic merge patch: like merge patch, but lists that Kubernetes declares with a merge key
  (``ports`` by ``port``, ``containers`` by ``name``, ...) merge element-wise, and the
  ``$patch: delete`` / ``$patch: replace`` directives work.  This is the subset of Kubernetes'
  behaviour that lbctl can hit; ``$setElementOrder``/``$retainKeys`` directives are dropped.
* JSON patch (RFC 6902): ``add``, ``remove``, ``replace``, ``move``, ``copy``, ``test``.

Every function is pure: it returns a new document and never modifies its arguments.

Error policy: a patch that cannot be applied raises :class:`PatchError`; the caller decides the
status code (the API server answers 422 for a failed JSON patch, 400 for a malformed one).
"""

from __future__ import annotations

import copy
from typing import Any

#: Strategic-merge keys of the list fields lbctl can touch, by the trailing field names of
#: their path (``spec.template.spec.containers[].ports`` ends in ``("containers", "ports")``).
MERGE_KEYS: dict[tuple[str, ...], str] = {
    ("containers", "ports"): "containerPort",
    ("initContainers", "ports"): "containerPort",
    ("ports",): "port",
    ("containers",): "name",
    ("initContainers",): "name",
    ("env",): "name",
    ("volumes",): "name",
    ("volumeMounts",): "mountPath",
    ("imagePullSecrets",): "name",
    ("conditions",): "type",
    ("addresses",): "type",
    ("ownerReferences",): "uid",
}


class PatchError(Exception):
    """The patch cannot be applied; ``malformed`` says it was not even a valid patch."""

    def __init__(self, message: str, *, malformed: bool = False) -> None:
        super().__init__(message)
        self.malformed = malformed


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Kubernetes' strategic merge patch (the subset described in the module docstring)."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object", malformed=True)
    result = _smp_map(target if isinstance(target, dict) else {}, patch, ())
    if result is None:
        raise PatchError("$patch: delete cannot delete the whole object", malformed=True)
    return result


def _smp_map(target: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...]) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    patch = {
        k: v
        for k, v in patch.items()
        if k != "$patch" and not k.startswith(("$setElementOrder/", "$retainKeys"))
    }
    if directive == "replace":
        return copy.deepcopy(patch)
    if directive is not None:
        raise PatchError(f"unknown $patch directive {directive!r}", malformed=True)
    result = dict(target)
    for key, value in patch.items():
        field_path = (*path, key)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            old = result.get(key)
            merged = _smp_map(old if isinstance(old, dict) else {}, value, field_path)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            old = result.get(key)
            result[key] = _smp_list(old if isinstance(old, list) else [], value, field_path)
        else:
            result[key] = value
    return result


def _merge_key(path: tuple[str, ...]) -> str | None:
    for length in (2, 1):
        key = MERGE_KEYS.get(path[-length:]) if len(path) >= length else None
        if key is not None:
            return key
    return None


def _smp_list(target: list[Any], patch: list[Any], path: tuple[str, ...]) -> list[Any]:
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    key = _merge_key(path)
    if key is None:
        return copy.deepcopy(patch)
    result = [copy.deepcopy(item) for item in target]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise PatchError(f"map in list {'.'.join(path)} is missing its merge key {key!r}")
        index = next(
            (
                i
                for i, old in enumerate(result)
                if isinstance(old, dict) and old.get(key) == item[key]
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append(_smp_map({}, item, path))
        else:
            result[index] = _smp_map(result[index], item, path)
    return result


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902: apply ``operations`` in order, all or nothing."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations", malformed=True)
    doc = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise PatchError(f"invalid JSON patch operation {operation!r}", malformed=True)
        op, path = operation["op"], _pointer(operation["path"])
        if op == "test":
            actual = _get(doc, path)
            if not _json_equal(actual, operation.get("value")):
                raise PatchError(f"testing value {operation['path']} failed: test failed")
        elif op == "remove":
            doc = _remove(doc, path)
        elif op == "add":
            doc = _add(doc, path, copy.deepcopy(_value(operation)))
        elif op == "replace":
            value = copy.deepcopy(_value(operation))
            doc = _add(_remove(doc, path), path, value) if path else value
        elif op in ("move", "copy"):
            source = _pointer(operation.get("from", ""))
            value = copy.deepcopy(_get(doc, source))
            if op == "move":
                if path[: len(source)] == source and len(path) > len(source):
                    raise PatchError("cannot move a value into one of its children")
                doc = _remove(doc, source)
            doc = _add(doc, path, value)
        else:
            raise PatchError(f"unknown JSON patch operation {op!r}", malformed=True)
    return doc


def _value(operation: dict[str, Any]) -> Any:
    if "value" not in operation:
        raise PatchError(f"JSON patch operation {operation['op']!r} needs a value", malformed=True)
    return operation["value"]


def _pointer(text: Any) -> list[str]:
    """RFC 6901 JSON pointer to its unescaped reference tokens."""
    if not isinstance(text, str) or (text and not text.startswith("/")):
        raise PatchError(f"invalid JSON pointer {text!r}", malformed=True)
    return [part.replace("~1", "/").replace("~0", "~") for part in text.split("/")[1:]]


def _index(container: list[Any], token: str, *, for_add: bool) -> int:
    if for_add and token == "-":
        return len(container)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise PatchError(f"invalid array index {token!r}")
    index = int(token)
    if index > len(container) or (index == len(container) and not for_add):
        raise PatchError(f"array index {index} out of bounds")
    return index


def _get(doc: Any, path: list[str]) -> Any:
    for token in path:
        if isinstance(doc, dict):
            if token not in doc:
                raise PatchError(f"path /{'/'.join(path)} does not exist")
            doc = doc[token]
        elif isinstance(doc, list):
            doc = doc[_index(doc, token, for_add=False)]
        else:
            raise PatchError(f"path /{'/'.join(path)} does not exist")
    return doc


def _remove(doc: Any, path: list[str]) -> Any:
    if not path:
        raise PatchError("cannot remove the whole document")
    parent = _get(doc, path[:-1])
    last = path[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path /{'/'.join(path)} does not exist")
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(parent, last, for_add=False)]
    else:
        raise PatchError(f"path /{'/'.join(path[:-1])} is not a container")
    return doc


def _add(doc: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    parent = _get(doc, path[:-1])
    last = path[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, for_add=True), value)
    else:
        raise PatchError(f"path /{'/'.join(path[:-1])} is not a container")
    return doc


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1``, key order does not matter."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return False
    return bool(a == b)
