"""Rendering: kubectl-style tables, JSON/YAML documents, diffs, bars — to the consoles.

Tables are aligned with plain spaces like kubectl's (no box drawing), never wrapped or cut to
the terminal width, so they survive ``grep``, ``awk`` and narrow terminals.  Cells are
:class:`rich.text.Text`, so colour appears only on a terminal (and never with NO_COLOR) and
text from the cluster is never interpreted as markup.  Machine formats (``-o json|yaml``) go
through :func:`document` and have the stable shapes documented in the README.

rich is imported only where it draws: a table written off a terminal (``svc list`` into a pipe)
is plain text, measured without it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from lbctl.core.state import State


class Styled:
    """A cell in colours that only a terminal shows: parts of text, each with a rich style (or
    ""), turned into rich's Text only when drawn on a terminal."""

    __slots__ = ("parts",)

    def __init__(self, *parts: tuple[str, str]) -> None:
        self.parts = parts

    @property
    def plain(self) -> str:
        return "".join(text for text, _ in self.parts)

    def text(self) -> Text:
        from rich.text import Text

        drawn = Text()
        for text, style in self.parts:
            drawn.append(text, style=style or None)
        return drawn


if TYPE_CHECKING:
    Cell = str | Text | Styled


class LazyConsole:
    """A rich :class:`~rich.console.Console` on ``file``, made (and rich imported) the first time
    more than ``file`` and ``is_terminal`` is asked of it: a command whose output goes off a
    terminal as a plain table never pays for rich."""

    def __init__(self, file: Any) -> None:
        self.file = file
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.file, soft_wrap=True, markup=False,
                                    highlight=False, emoji=False)
        return self._console

    @property
    def is_terminal(self) -> bool:
        """rich's answer; without asking rich when the file is no terminal and no variable
        (TTY_COMPATIBLE, FORCE_COLOR) tells rich otherwise."""
        if self._console is None and "TTY_COMPATIBLE" not in os.environ and (
                "FORCE_COLOR" not in os.environ):
            isatty = getattr(self.file, "isatty", None)
            try:
                if isatty is None or not isatty():
                    return False
            except ValueError:  # a closed file
                return False
        return bool(self.console.is_terminal)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)

    def __enter__(self) -> Console:  # rich's Live enters the console it draws on
        return self.console.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.console.__exit__(*exc)


def _rich(console: Console) -> Console:
    """The rich console itself, for rich's own machinery (progress bars, live status)."""
    return console.console if isinstance(console, LazyConsole) else console


def _plain(cell: Cell) -> str:
    return cell if isinstance(cell, str) else cell.plain


def cell_len(text: str) -> int:
    """How many terminal cells ``text`` takes (rich's measure; printable ASCII: its length)."""
    if text.isascii() and text.isprintable():
        return len(text)
    from rich.cells import cell_len as measure

    return measure(text)


def table(console: Console, headers: Sequence[str], rows: Iterable[Sequence[Cell]], *,
          no_headers: bool = False) -> None:
    """Print rows under upper-case headers, columns separated by three spaces.

    Off a terminal the table is written as plain text in one go (a thousand rows of rich Text
    cost ~40x more); on a terminal the cells keep their colours."""
    body: list[Sequence[Cell]] = list(rows)
    if not no_headers:
        body.insert(0, [h.upper() for h in headers])
    if not body:
        return
    plain = [[c if c.__class__ is str else _plain(c) for c in row] for row in body]
    if not console.is_terminal and _plain_ascii(plain):
        # Every cell printable ASCII (one terminal cell a character) and every row as long:
        # str.format pads each column, in C.
        widths = [max(map(len, column)) for column in zip(*plain, strict=True)]
        layout = "".join(f"{{:<{width + 3}}}" for width in widths[:-1]) + "{}\n"
        console.file.write("".join(layout.format(*row) for row in plain))
        console.file.flush()
        return
    widths = [max(cell_len(row[i]) for row in plain) for i in range(len(plain[0]))]
    last = len(widths) - 1
    if not console.is_terminal:
        console.file.write("".join(
            "".join(cell if i == last else cell + " " * (widths[i] - cell_len(cell) + 3)
                    for i, cell in enumerate(row)) + "\n"
            for row in plain))
        console.file.flush()
        return
    from rich.text import Text

    for row, texts in zip(body, plain, strict=True):
        line = Text()
        for i, (cell, text) in enumerate(zip(row, texts, strict=True)):
            line.append_text(Text(text) if isinstance(cell, str) else
                             cell.text() if isinstance(cell, Styled) else cell)
            if i < last:
                line.append(" " * (widths[i] - cell_len(text) + 3))
        console.print(line, crop=False, overflow="ignore", no_wrap=True)


def _plain_ascii(rows: list[list[str]]) -> bool:
    """Whether every cell is printable ASCII and every row has as many cells as the first."""
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        return False
    text = "".join(["".join(row) for row in rows])
    return text.isascii() and text.isprintable()


def document(console: Console, data: Any, fmt: str) -> None:
    """Print data as JSON (indented, keys in the given order) or YAML."""
    if fmt == "json":
        _line(console, json.dumps(data, indent=2))
    else:
        import yaml

        _line(console, yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
              .rstrip("\n"))


def manifests(console: Console, documents: Sequence[Any], fmt: str) -> None:
    """Manifests for ``kubectl apply -f -``: one ``List`` in JSON, a YAML stream, or with
    ``name`` their names."""
    if fmt == "name":
        names(console, object_names(documents))
        return
    if fmt == "json":
        document(console, {"apiVersion": "v1", "kind": "List", "items": list(documents)}, "json")
        return
    for index, item in enumerate(documents):
        if index:
            say(console, "---")
        document(console, item, "yaml")


def object_names(documents: Iterable[Any]) -> list[str]:
    """``kubectl -o name`` of manifests: ``kind[.group]/name``, the kind in lower case."""
    found = []
    for doc in documents:
        group = str(doc.get("apiVersion") or "").rpartition("/")[0]
        kind = str(doc.get("kind") or "").lower() + (f".{group}" if group else "")
        found.append(f"{kind}/{(doc.get('metadata') or {}).get('name')}")
    return found


def names(console: Console, items: Iterable[str]) -> None:
    for item in items:
        _line(console, item)


def _line(console: Console, text: str) -> None:
    """``text`` and a line break, as rich prints it; off a terminal printable lines (no
    control character, no tab: nothing rich would change) are written as they are, without
    rich (which costs more than making a JSON document of 1,000 Services)."""
    if text.replace("\n", "").isprintable() and not console.is_terminal:
        console.file.write(text + "\n")
        console.file.flush()
        return
    from rich.text import Text

    console.print(Text(text), crop=False, overflow="ignore")


def outcomes(console: Console, lines: Iterable[str], *, dry_run: bool) -> None:
    """kubectl-style outcome lines (``pool/web created``), each marked `` (dry run)`` when
    nothing was changed."""
    names(console, (f"{line} (dry run)" if dry_run else line for line in lines))


def facts(console: Console, pairs: Iterable[tuple[str, Cell]]) -> None:
    """``Name:  value`` lines with the values aligned, like ``kubectl describe``."""
    table(console, ["", ""], [[f"{key}:", value] for key, value in pairs], no_headers=True)


def diff(console: Console, text: str) -> None:
    """A unified diff (from :func:`lbctl.core.textdiff.unified_diff`): coloured on a terminal,
    the exact bytes otherwise, so that ``patch -p1`` applies what was piped."""
    if not console.is_terminal:
        console.file.write(text)
        console.file.flush()
        return
    from rich.text import Text

    for raw in text.splitlines():
        line = raw.rstrip("\r")
        style = ("bold" if line.startswith(("---", "+++")) else
                 "green" if line.startswith("+") else
                 "red" if line.startswith("-") else
                 "cyan" if line.startswith("@@") else "")
        console.print(Text(line, style=style), crop=False, overflow="ignore", no_wrap=True)


def bar(used: int, capacity: int, width: int = 10) -> Styled:
    """``[####------]  40%``: a utilisation bar, red at 90% and above."""
    fraction = used / capacity if capacity else 1.0
    filled = min(width, int(fraction * width + 0.5)) if used else 0
    if used and not filled:
        filled = 1
    style = "red" if fraction >= 0.9 else "yellow" if fraction >= 0.7 else "green"
    percent = fraction * 100
    shown = f"{percent:.0f}%" if percent >= 1 or not used else "<1%"
    return Styled(("[", ""), ("#" * filled, style), ("-" * (width - filled) + "]", ""),
                  (f" {shown:>4}", ""))


@contextmanager
def progress(console: Console, what: str) -> Iterator[Callable[[int, int], None] | None]:
    """A transient progress bar on ``console`` when it is a terminal, fed by the yielded
    ``update(done, total)``; ``None`` (nothing to call) otherwise."""
    if not console.is_terminal:
        yield None
        return
    from rich.progress import Progress

    with Progress(console=_rich(console), transient=True) as bar:
        task = bar.add_task(what, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@contextmanager
def spinner(console: Console, first: str) -> Iterator[Callable[[str], None]]:
    """A transient status line with a spinner on ``console`` when it is a terminal; the
    yielded function replaces its text (and does nothing elsewhere)."""
    if not console.is_terminal:
        yield lambda text: None
        return
    with _rich(console).status(first) as status:
        yield lambda text: status.update(text)


def warn(console: Console, message: str) -> None:
    """``lbctl: warning: ...``: something the person should know; the command goes on."""
    say(console, f"lbctl: warning: {message}")


def warn_unheard(console: Console, state: State, names: Iterable[str]) -> None:
    """Warn about each of the pools ``names`` announced over BGP whose addresses of a family no
    BGP peer is sent (:meth:`State.unheard <lbctl.core.state.State.unheard>`): they reach no
    router until a peer hears them."""
    for name, missing in state.unheard(names).items():
        families = " and ".join(f"IPv{v}" for v in missing)
        warn(console, f"pool {name} is announced over BGP, but no BGP peer is sent its "
                      f"{families} addresses: they reach no router until one is (lbctl bgp "
                      "peer add NAME --address A --asn N --my-asn M)")


def say(console: Console, message: str) -> None:
    """A message for the person (to stderr): what was done, what to do next."""
    _line(console, message)


def count(n: int) -> str:
    """Counts that may be astronomically large (IPv6) in a readable form: 20, 65,534, 2^64,
    2^64-1 (an IPv6 /64 less its Subnet-Router anycast address), 2^64-3."""
    if n >= 2**32:
        power = 1 << (n.bit_length() - 1)
        if n == power:
            return f"2^{power.bit_length() - 1}"
        if n + 16 >= 1 << n.bit_length():  # just under a power of two
            return f"2^{n.bit_length()}-{(1 << n.bit_length()) - n}"
    return f"{n:,}"
