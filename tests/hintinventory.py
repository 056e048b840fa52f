"""Every hint lbctl can print, read from its source, and the commands those hints name.

A hint is the text after ``hint:`` (:class:`lbctl.errors.LbctlError`'s second argument or
``hint=``, a doctor ``Finding``'s third, ``Implementation(hint=...)``, a name holding ``hint``).
Each is read from the syntax tree as *templates*: the texts it can be, with :data:`WILD` where a
value is interpolated (an f-string field, a ``.format`` field, a branch of ``x if c else y``
gives one template per branch).  A hint that only passes another error's hint on (``exc.hint``)
adds no text of its own and is no template.

:func:`commands` finds the ``lbctl ...`` and ``kubectl ...`` commands a template names, split
from the prose around them, so that a test can prove each one parses.
"""

from __future__ import annotations

import ast
import builtins
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[1]
WILD = "\0"


@dataclass(frozen=True)
class Template:
    path: str  # lbctl/core/pools.py
    line: int
    text: str  # with WILD where a value goes

    @property
    def shown(self) -> str:
        """The template as a person reads it: ``{}`` where a value goes."""
        return self.text.replace(WILD, "{}")

    def pattern(self) -> re.Pattern[str]:
        """Matches a hint this template printed (the whole text after ``hint: ``)."""
        return re.compile(".+?".join(re.escape(part) for part in self.text.split(WILD)) + "$",
                          re.S)


def _texts(node: ast.expr, consts: dict[str, ast.expr]) -> list[str] | None:
    """The texts ``node`` can evaluate to, or None when it passes a value through."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        parts: list[list[str]] = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append([str(value.value)])
                continue
            assert isinstance(value, ast.FormattedValue)
            inner = _texts(value.value, consts) if isinstance(value.value, ast.IfExp) else None
            parts.append(inner or [WILD])
        return ["".join(p) for p in itertools.product(*parts)]
    if isinstance(node, ast.IfExp):
        both = (_texts(node.body, consts) or [WILD]) + (_texts(node.orelse, consts) or [WILD])
        return both
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = _texts(node.left, consts) or [WILD]
        right = _texts(node.right, consts) or [WILD]
        return [a + b for a in left for b in right]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"):
        texts = _texts(node.func.value, consts)
        return [re.sub(r"\{[^}]*\}", WILD, t) for t in texts] if texts else None
    if isinstance(node, ast.BoolOp):  # exc.hint or "check the ConfigMap by hand"
        texts = [t for value in node.values for t in _texts(value, consts) or ()]
        return texts or None
    if isinstance(node, ast.Name) and node.id in consts:
        return _texts(consts[node.id], consts)
    return None


def _scopes(tree: ast.Module) -> Iterator[tuple[ast.AST, dict[str, ast.expr]]]:
    """The module and each function, with the names they assign (a function's own names
    first, then the module's): ``hint = ...; raise X(msg, hint=hint)`` and ``command += ...``
    are read as the texts they build."""
    module = {n.targets[0].id: n.value for n in tree.body
              if isinstance(n, ast.Assign) and len(n.targets) == 1
              and isinstance(n.targets[0], ast.Name)}
    yield tree, module
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        names = dict(module)
        for node in ast.walk(func):
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)):
                names[node.targets[0].id] = node.value
            elif (isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name)
                  and node.target.id in names):
                names[node.target.id] = ast.BinOp(names[node.target.id], ast.Add(),
                                                  ast.Constant(WILD))
        yield func, names


def _hint_expressions(scope: ast.AST) -> Iterator[ast.expr]:
    """The hint expressions of ``scope`` (a module: those outside functions too)."""
    for node in ast.walk(scope):
        if isinstance(node, ast.Call):
            func = node.func
            name = (func.id if isinstance(func, ast.Name)
                    else func.attr if isinstance(func, ast.Attribute) else "")
            given = [k.value for k in node.keywords if k.arg == "hint"]
            if given:
                yield from given
            elif (name.endswith("Error") and len(node.args) >= 2
                  and not hasattr(builtins, name)):  # OSError(errno, text): no hint
                yield node.args[1]
            elif name == "Finding" and len(node.args) >= 3:
                yield node.args[2]
            elif name == "_fail" and len(node.args) >= 2:  # the error boundary's own
                yield node.args[1]
        elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and "hint" in t.id.lower() for t in node.targets):
            yield node.value


def templates() -> list[Template]:
    """Every hint template in ``lbctl/``, in file and line order (one per text)."""
    found: dict[str, Template] = {}
    for path in sorted((ROOT / "lbctl").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for scope, names in _scopes(tree):
            for expr in _hint_expressions(scope):
                for text in _texts(expr, names) or ():
                    if text.replace(WILD, "").strip() and text not in found:
                        found[text] = Template(str(path.relative_to(ROOT)), expr.lineno, text)
    return list(found.values())


def asserted_in_tests(skip: Path | None = None) -> list[str]:
    """Every ``hint: ...`` line that a test (other than ``skip``) asserts, with WILD for an
    f-string field: the string constants of the test modules, implicit concatenation joined."""
    lines = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if skip is not None and path.resolve() == skip.resolve():
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
            elif isinstance(node, ast.JoinedStr):
                text = _text(node)
            elif isinstance(node, ast.Compare):  # caught.value.hint == "...", f["hint"] == f"..."
                sides = [node.left, *node.comparators]
                if any(_names_hint(x) for x in sides):
                    lines += [_text(x) for x in sides
                              if isinstance(x, ast.JoinedStr) or isinstance(x, ast.Constant)
                              and isinstance(x.value, str)]
                continue
            elif isinstance(node, ast.Dict):  # doctor's findings: {"hint": "..."}
                lines += [v.value for k, v in zip(node.keys, node.values, strict=True)
                          if isinstance(k, ast.Constant) and k.value == "hint"
                          and isinstance(v, ast.Constant) and isinstance(v.value, str)]
                continue
            else:
                continue
            lines += [m.group(1) for m in re.finditer(r"hint: ([^\n]*)", text)]
    return [bare(line) for line in lines]


def bare(line: str) -> str:
    """A hint line as its template reads: without the ``NS/NAME: `` a batch (``assign --all``,
    ``-f``, ``adopt --all``) puts before a Service's hint, nor the ``--state FILE`` lbctl adds
    to the lbctl commands a hint names when the command line had one (lbctl/cli/context.py,
    hint_with_state)."""
    from lbctl.cli.context import STATEFUL_COMMANDS

    line = re.sub(r"^[a-z0-9.-]+/[a-z0-9.-]+: ", "", line)
    return re.sub(rf"(?<![\w-])lbctl --state \S+ (?=(?:{'|'.join(STATEFUL_COMMANDS)}) )",
                  "lbctl ", line)


def _text(node: ast.Constant | ast.JoinedStr) -> str:
    """A string constant's text; an f-string's with WILD for each field."""
    if isinstance(node, ast.Constant):
        return str(node.value)
    return "".join(str(v.value) if isinstance(v, ast.Constant) else WILD for v in node.values)


def _names_hint(node: ast.expr) -> bool:
    """``x.hint`` or ``x["hint"]``."""
    if isinstance(node, ast.Attribute):
        return node.attr == "hint"
    return (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
            and node.slice.value == "hint")


# --------------------------------------------------------------------------- commands

#: What a placeholder of a hint stands for, to parse the command it names.
SAMPLES = {"NAME": "web", "NS": "shop", "ADDRESS": "192.0.2.10", "ADDR": "192.0.2.10",
           "IP": "192.0.2.10", "FILE": "k8s.yaml", "PATH": "k8s", "SELECTOR": "app=web",
           "N": "64501", "M": "64500", "A": "192.0.2.1", "IF": "eth1", WILD: "web"}
_SPLIT = re.compile(r";|&&| \| |\(|\)|, or |, |\bor\b: ?| then ")


def commands(text: str, program: str) -> list[list[str]]:
    """The argument lists of the ``program`` commands (``lbctl``, ``kubectl``) that a hint
    template names, placeholders replaced by :data:`SAMPLES`, prose after them kept (the
    caller drops trailing words that are not part of the command)."""
    found = []
    for piece in _SPLIT.split(text):
        starts = [m.end() for m in re.finditer(rf"(?<![\w-]){program} ", piece)]
        if not starts:
            continue
        for start, end in zip(starts, [*starts[1:], len(piece) + len(program) + 1],
                              strict=True):
            found += _command(piece[start:end - len(program) - 1])
    return found


def _command(text: str) -> list[list[str]]:
    args = []
    for word in text.replace("`", " ").split():
        word = word.rstrip(".") if word.endswith("...") else word
        if re.fullmatch(rf"[A-Za-z][\w-]*[a-z]{WILD}", word):  # `pool list{}`: the value is
            word = word[:-1]  # options the hint appends (" --state FILE"), not part of the word
        word = word.split("|")[0] if "|" in word and not word.startswith("'") else word
        for placeholder, sample in SAMPLES.items():
            if word == placeholder or (placeholder == WILD and WILD in word):
                word = word.replace(placeholder, sample) if placeholder == WILD else sample
        args.append(word.strip("'"))
    return [args] if args else []


# --------------------------------------------------------------------------- errors


def errors_without_hint() -> list[tuple[str, str]]:
    """Each error of :mod:`lbctl.errors` that the source raises or builds without a hint, as
    ``(path, its message with {} for a value)``: that error prints no ``hint:`` line unless a
    caller catches it and gives one."""
    from lbctl import errors

    names = {name for name, value in vars(errors).items()
             if isinstance(value, type) and issubclass(value, errors.LbctlError)}
    found = []
    for path in sorted((ROOT / "lbctl").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name not in names or len(node.args) > 1 or any(
                    k.arg in ("hint", None) for k in node.keywords):
                continue
            if node.args and isinstance(node.args[0], ast.Starred):
                continue  # UsageError(*found): the message and the hint together
            texts = _texts(node.args[0], {}) if node.args else [""]
            found.append((str(path.relative_to(ROOT)),
                          (texts or [WILD])[0].replace(WILD, "{}")))
    return found
