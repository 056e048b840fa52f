"""Rendering: tables read the same on a terminal and in a pipe; progress only on a terminal."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from lbctl.cli import render

ROWS = [["default", "192.0.2.0/28", Text("[##--]", style="green")],
        ["v6", "2001:db8::/64", "[----]"]]
EXPECTED = ("NAME      ADDRESSES       BAR\n"
            "default   192.0.2.0/28    [##--]\n"
            "v6        2001:db8::/64   [----]\n")


@pytest.mark.parametrize("text", [
    "plain", "Client Version: 0.1.0", "[fd00::1] and [bold]not markup[/bold]", ":smile:",
    "trailing spaces   ", "wide 日本語 text", "", "a\ttab", "a\rreturn", "bell\x07", "esc\x1b[31m",
    "two\nlines", "x" * 300,
])
def test_lines_off_a_terminal_read_as_rich_prints_them(text: str) -> None:
    """Messages and names are written without rich off a terminal when rich would print them
    unchanged; the bytes are the same either way."""
    from lbctl.cli.render import LazyConsole

    ours, theirs = io.StringIO(), io.StringIO()
    lazy = LazyConsole(ours)
    render.say(lazy, text)  # type: ignore[arg-type]
    render.names(lazy, [text])  # type: ignore[arg-type]
    rich = Console(file=theirs, soft_wrap=True, markup=False, highlight=False, emoji=False)
    for _ in range(2):
        rich.print(Text(text), crop=False, overflow="ignore")
    assert ours.getvalue() == theirs.getvalue()


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
def test_table_text_is_the_same_on_a_terminal_and_in_a_pipe(terminal: bool) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, no_color=True, width=20)
    render.table(console, ["name", "addresses", "bar"], ROWS)
    assert out.getvalue() == EXPECTED


@pytest.mark.parametrize(("used", "capacity", "shown"), [
    (0, 16, "[----------]   0%"), (1, 1000, "[#---------]  <1%"), (4, 16, "[###-------]  25%"),
    (15, 16, "[#########-]  94%"), (16, 16, "[##########] 100%"),
])
def test_utilisation_bars_are_coloured_on_a_terminal_only(used: int, capacity: int,
                                                          shown: str) -> None:
    pipe, terminal = io.StringIO(), io.StringIO()
    render.table(Console(file=pipe), ["bar"], [[render.bar(used, capacity)]], no_headers=True)
    render.table(Console(file=terminal, force_terminal=True, color_system="standard"), ["bar"],
                 [[render.bar(used, capacity)]], no_headers=True)
    assert pipe.getvalue() == shown + "\n"
    colour = "\x1b[31m" if used / capacity >= 0.9 else "\x1b[32m"
    assert (colour in terminal.getvalue()) == bool(used)
    assert Text.from_ansi(terminal.getvalue()).plain == shown + "\n"


def test_table_keeps_colour_on_a_terminal_only() -> None:
    out = io.StringIO()
    render.table(Console(file=out, force_terminal=True, color_system="standard"), ["a"],
                 [[Text("x", style="green")]], no_headers=True)
    assert "\x1b[32mx" in out.getvalue()


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
def test_progress_and_spinner_only_on_a_terminal(terminal: bool) -> None:
    err = io.StringIO()
    console = Console(file=err, force_terminal=terminal, width=80)
    with render.progress(console, "assigning") as progress:
        assert (progress is not None) is terminal
        if progress is not None:
            progress(3, 4)
    with render.spinner(console, "connecting") as status:
        status("reading services")
    assert ("assigning" in err.getvalue()) is terminal
    assert ("reading services" in err.getvalue()) is terminal


def test_diff_is_exact_in_a_pipe_and_coloured_on_a_terminal() -> None:
    text = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
    pipe = io.StringIO()
    render.diff(Console(file=pipe), text)
    assert pipe.getvalue() == text
    tty = io.StringIO()
    render.diff(Console(file=tty, force_terminal=True, color_system="standard"), text)
    assert "\x1b[31m-a" in tty.getvalue() and "\x1b[32m+b" in tty.getvalue()


CELLS = st.one_of(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12),
                  st.sampled_from(["", " ", "日本", "é", "a\tb", "<pending>", "10.0.0.1,::1"]))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5).flatmap(lambda n: st.lists(st.lists(CELLS, min_size=n, max_size=n),
                                                    max_size=6)), st.booleans())
def test_a_plain_table_is_written_as_cell_by_cell(rows: list[list[str]], headers: bool) -> None:
    """Off a terminal, a table of printable ASCII is padded by str.format; the text is what the
    cell-by-cell writing (which measures wide characters) gives."""
    width = len(rows[0]) if rows else 2
    names = [f"h{i}" for i in range(width)]

    def written() -> str:
        out = io.StringIO()
        render.table(render.LazyConsole(out), names, rows,  # type: ignore[arg-type]
                     no_headers=not headers)
        return out.getvalue()

    quick = written()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(render, "_plain_ascii", lambda rows: False)
        assert quick == written()
